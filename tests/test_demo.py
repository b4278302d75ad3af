from pathlib import Path

import pytest
import soundfile as sf
from click.testing import CliRunner
from rt_cli.main import cli

pytestmark = pytest.mark.slow  # the whole rt demo loop

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


def test_demo_fast_says_why_replayed_ttfb_is_small_and_counts_in_words(tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    (one / "ga-push-to-talk.jsonl").write_bytes((SAMPLE_DIR / "ga-push-to-talk.jsonl").read_bytes())
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["demo", str(one), "--out", str(out), "--fast"])
    assert result.exit_code == 0, result.output
    assert f"rt demo: 1 recording from {one}/" in result.stderr
    assert "--fast: the mock API answered at once instead of after the recorded delays" in (
        result.stdout.replace("\n", " ")
    )
    for directory in (out, out / "sessions", out / "audio"):
        assert directory.stat().st_mode & 0o777 == 0o700  # recordings hold voices


def test_demo_defaults_to_the_installed_samples(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no sample_sessions/ here
    result = CliRunner().invoke(cli, ["demo", "--fast"])
    assert result.exit_code == 0, result.output
    assert "rt demo: 12 recordings from the samples installed with rt, in " in result.stderr
    assert len(list((tmp_path / "rt-demo" / "sessions").glob("*.jsonl"))) == len(SAMPLES)
