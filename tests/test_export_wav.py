"""`rt export wav`: real session files in, real WAV files out, read back with soundfile."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_fixtures import G711_RATE, SessionBuilder, g711, g711_decoded, pcm16, sine, split
from click.testing import CliRunner
from rt_cli.export import format_duration
from rt_cli.main import cli

from recorder.audio import AudioWarning
from recorder.errors import InputError
from recorder.wav import export_wav

SAID = sine(440, 1000)
FIRST = sine(880, 1500)
SECOND = sine(660, 500)


def conversation(path: Path, ga: bool = True) -> Path:
    """User speaks 1 s from t=0.5; two responses at t=2.0 and t=3.0 (the second waits)."""
    b = SessionBuilder(ga=ga)
    b.session_created()
    b.appends(0.5, split(pcm16(SAID), [1920]), 0.04)
    b.response_created(1.9, "resp_A1")
    b.deltas(2.0, "resp_A1", "item_1", split(pcm16(FIRST), [4800]), 0.02)
    b.response_done(2.5, "resp_A1")
    b.response_created(2.9, "resp_B2")
    b.deltas(3.0, "resp_B2", "item_2", split(pcm16(SECOND), [4800]), 0.02)
    b.response_done(3.2, "resp_B2")
    return b.write(path)


def read(path: Path) -> tuple[np.ndarray, sf._SoundFileInfo]:
    samples, _ = sf.read(path, dtype="int16", always_2d=False)
    return samples, sf.info(str(path))


def test_export_writes_three_exact_16_bit_files(tmp_path):
    session = conversation(tmp_path / "call.jsonl")
    result = export_wav(session, tmp_path / "out" / "audio")
    names = [w.path.name for w in result.written]
    assert names == ["call.user.wav", "call.assistant.wav", "call.mix.wav"]
    user, info = read(tmp_path / "out/audio/call.user.wav")
    assert (info.samplerate, info.channels, info.subtype, info.format) == (
        24000,
        1,
        "PCM_16",
        "WAV",
    )
    np.testing.assert_array_equal(user, SAID)
    assistant, _ = read(tmp_path / "out/audio/call.assistant.wav")
    np.testing.assert_array_equal(assistant, np.concatenate([FIRST, SECOND]))
    mix, info = read(tmp_path / "out/audio/call.mix.wav")
    assert info.channels == 2
    np.testing.assert_array_equal(mix[12000:36000, 0], SAID)
    np.testing.assert_array_equal(mix[48000:84000, 1], FIRST)
    np.testing.assert_array_equal(mix[84000:, 1], SECOND)  # waits for the first to end
    assert result.written[2].duration_s == pytest.approx(3.5 + 0.5)
    for written in result.written:
        assert stat.S_IMODE(os.stat(written.path).st_mode) == 0o600
    assert [p.name for p in (tmp_path / "out/audio").iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_g711_round_trip_through_files(tmp_path, law):
    said = g711(sine(300, 800, rate=G711_RATE), law)
    answer = g711(sine(500, 600, rate=G711_RATE), law)
    b = SessionBuilder(ga=law == "ulaw")
    b.session_created(input=law, output=law)
    b.appends(0.1, split(said, [160]), 0.02)
    b.response_created(1.0, "resp_1")
    b.deltas(1.1, "resp_1", "item_1", split(answer, [320]), 0.01)
    session = b.write(tmp_path / "phone.jsonl")
    export_wav(session, tmp_path)
    user, info = read(tmp_path / "phone.user.wav")
    assert (info.samplerate, info.subtype) == (8000, "PCM_16")
    np.testing.assert_array_equal(user, g711_decoded(said, law))
    assistant, _ = read(tmp_path / "phone.assistant.wav")
    np.testing.assert_array_equal(assistant, g711_decoded(answer, law))


def test_split_writes_one_file_per_response_and_overwrites(tmp_path):
    session = conversation(tmp_path / "call.jsonl")
    (tmp_path / "call.assistant.resp_A1.wav").write_bytes(b"old")
    result = export_wav(session, tmp_path, tracks=("assistant",), split=True)
    assert [w.path.name for w in result.written] == [
        "call.assistant.resp_A1.wav",
        "call.assistant.resp_B2.wav",
    ]
    np.testing.assert_array_equal(read(tmp_path / "call.assistant.resp_A1.wav")[0], FIRST)
    np.testing.assert_array_equal(read(tmp_path / "call.assistant.resp_B2.wav")[0], SECOND)
    assert not (tmp_path / "call.assistant.wav").exists()


def test_corrupt_lines_are_skipped_with_a_warning(tmp_path):
    session = conversation(tmp_path / "call.jsonl")
    lines = session.read_text().splitlines(keepends=True)
    lines.insert(5, "not json at all\n")
    session.write_text("".join(lines) + '{"kind":"frame","seq":1000,"t":9.0,"fr')
    warnings: list[AudioWarning] = []
    export_wav(session, tmp_path, tracks=("user",), on_warning=warnings.append)
    assert [(w.line, w.reason.split(" (")[0]) for w in warnings] == [
        (6, "not valid JSON"),
        (len(lines) + 1, "incomplete last line"),
    ]
    np.testing.assert_array_equal(read(tmp_path / "call.user.wav")[0], SAID)


def test_warnings_come_in_line_order(tmp_path):
    """Payloads are decoded a block at a time, after they are fed: a damaged one is still
    reported before the warnings of later lines (the reader's, the interpretation's and the
    audio's own), and both sides' in the order their lines came."""
    b = SessionBuilder()
    b.session_created()
    b.appends(0.1, split(pcm16(SAID), [1920]), 0.04)
    bad_append = b.append(1.2, "QUJD!")
    b.response_created(1.9, "resp_A1")
    odd_delta = b.delta(2.0, "resp_A1", "item_1", pcm16(FIRST) + b"\x01")
    bad_delta = b.delta(2.1, "resp_A1", "item_1", "@@@@")
    corrupt = b.raw("not json at all")
    later_append = b.append(2.2, "QUJD")  # three bytes: an odd pcm16 count
    no_item = b.frame(2.3, "client", {"type": "conversation.item.truncate", "audio_end_ms": 5})
    b.append(2.4, pcm16(SAID))
    warnings: list[AudioWarning] = []
    export_wav(b.write(tmp_path / "s.jsonl"), tmp_path, on_warning=warnings.append)
    assert [w.line for w in warnings] == [
        bad_append,
        odd_delta,
        bad_delta,
        corrupt,
        later_append,
        no_item,
    ]
    assert "not valid base64" in warnings[0].reason and "odd number" in warnings[1].reason


def test_no_audio_is_an_error_and_writes_nothing(tmp_path):
    b = SessionBuilder()
    b.session_created()
    session = b.write(tmp_path / "quiet.jsonl")
    with pytest.raises(InputError, match=f"^no audio in {session}$"):
        export_wav(session, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- the command line ----------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["export", "wav", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_prints_each_file_with_its_duration(tmp_path):
    session = conversation(tmp_path / "call.jsonl")
    code, out, err = run(str(session), "--out", str(tmp_path / "wav"))
    assert code == 0, err
    d = tmp_path / "wav"
    width = len(str(d / "call.assistant.wav"))
    assert out == (
        f"{str(d / 'call.user.wav').ljust(width)}  0:01.000  24000 Hz  mono\n"
        f"{str(d / 'call.assistant.wav').ljust(width)}  0:02.000  24000 Hz  mono\n"
        f"{str(d / 'call.mix.wav').ljust(width)}  0:04.000  24000 Hz  stereo (user left, assistant right)\n"
    )
    assert err == ""


def test_cli_defaults_to_the_current_directory(tmp_path, monkeypatch):
    session = conversation(tmp_path / "call.jsonl")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code, out, _ = run(str(session), "--track", "mix")
    assert code == 0
    assert out == "call.mix.wav  0:04.000  24000 Hz  stereo (user left, assistant right)\n"
    assert sorted(p.name for p in work.iterdir()) == ["call.mix.wav"]


def test_cli_notes_a_missing_side_and_warns_on_stderr(tmp_path):
    b = SessionBuilder()
    b.session_created()
    b.response_created(1.0, "resp_1")
    bad = b.delta(1.05, "resp_1", "item_1", "%%%")
    b.deltas(1.1, "resp_1", "item_1", split(pcm16(FIRST), [4800]), 0.01)
    session = b.write(tmp_path / "a.jsonl")
    code, out, err = run(str(session), "--out", str(tmp_path))
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == [
        str(tmp_path / "a.assistant.wav"),
        str(tmp_path / "a.mix.wav"),
    ]
    assert err.splitlines() == [
        f"warning: {session}:{bad}: response.output_audio.delta 'delta' is not valid base64 "
        "(Non-base64 digit found); skipped",
        f"note: no user audio in {session}",
    ]


def test_cli_exits_1_with_one_line_when_there_is_nothing_to_export(tmp_path):
    b = SessionBuilder()
    b.session_created()
    b.response_created(1.0, "resp_1")
    b.deltas(1.1, "resp_1", "item_1", [pcm16(FIRST)], 0.01)
    session = b.write(tmp_path / "a.jsonl")
    code, out, err = run(str(session), "--track", "user", "--out", str(tmp_path))
    assert (code, out, err) == (1, "", f"Error: no user audio in {session}\n")
    empty = SessionBuilder().write(tmp_path / "empty.jsonl")
    code, out, err = run(str(empty), "--out", str(tmp_path))
    assert (code, out, err) == (1, "", f"Error: no audio in {empty}\n")
    assert list(tmp_path.glob("*.wav")) == []


def test_cli_reports_an_unusable_output_directory(tmp_path):
    session = conversation(tmp_path / "call.jsonl")
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a directory")
    code, _, err = run(str(session), "--out", str(blocker / "sub"))
    assert code == 1
    assert err.startswith(f"Error: cannot create {blocker / 'sub'}: ")
    assert len(err.splitlines()) == 1


def test_cli_help_has_examples():
    runner = CliRunner()
    for args in (["export", "--help"], ["export", "wav", "--help"]):
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0
        assert "Example:\n  " in result.output
    wav_help = runner.invoke(cli, ["export", "wav", "--help"]).output
    for option in ("--out", "--track [assistant|user|mix|all]", "--split"):
        assert option in wav_help


def test_format_duration():
    assert format_duration(0) == "0:00.000"
    assert format_duration(7.25) == "0:07.250"
    assert format_duration(723.0) == "12:03.000"
    assert format_duration(3600.0) == "1:00:00.000"
    assert format_duration(59.9996) == "1:00.000"


SAMPLES = sorted((Path(__file__).resolve().parent.parent / "sample_sessions").glob("*.jsonl"))


@pytest.mark.skipif(not SAMPLES, reason="sample_sessions/*.jsonl not generated")
@pytest.mark.parametrize("session", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_cli_on_the_sample_sessions(tmp_path, session):
    code, out, err = run(str(session), "--out", str(tmp_path))
    if code == 1:  # the text-only sample, and the sideband (which says why)
        assert err.startswith(f"Error: no audio in {session}") and err.count("\n") == 1
        return
    assert code == 0
    for line in out.splitlines():
        path = Path(line.split()[0])
        info = sf.info(str(path))
        assert (
            info.subtype == "PCM_16" and info.samplerate in (8000, 16000, 24000) and info.frames > 0
        )
        assert f"{info.samplerate} Hz" in line
