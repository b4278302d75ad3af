from pathlib import Path

import soundfile as sf
from click.testing import CliRunner
from rt_cli.main import cli

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_sessions"
SAMPLES = sorted(SAMPLE_DIR.glob("*.jsonl"))


def test_demo_runs_the_whole_loop_on_the_samples(tmp_path):
    result = CliRunner().invoke(cli, ["demo", str(SAMPLE_DIR), "--out", str(tmp_path), "--fast"])
    assert result.exit_code == 0, result.output
    for sample in SAMPLES:
        assert sample.stem in result.stdout
    assert len(list((tmp_path / "sessions").glob("*.jsonl"))) == len(SAMPLES)
    mixes = list((tmp_path / "audio").glob("*.mix.wav"))
    assert len(mixes) == 1 and sf.info(str(mixes[0])).channels == 2
    assert "rt record --proxy" in result.stdout


def test_demo_without_recordings_says_where_to_run_it(tmp_path):
    result = CliRunner().invoke(cli, ["demo", str(tmp_path)])
    assert result.exit_code == 1
    assert "no session files" in result.output and "Traceback" not in result.output
