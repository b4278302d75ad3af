"""The readers on CONTRACT §4: `rt show` marks preambles, final answers, out-of-band and
idle-timeout responses; the WAV mix leaves out-of-band audio out; sideband recordings say once
that they carry no audio; the translation endpoint is shown and exported; the report shows the
final answer's latency beside the first audio's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_fixtures import SessionBuilder, pcm16, sine
from click.testing import CliRunner
from rt_cli.main import cli
from stats_fixtures import SessionFile, ga_session_created, ga_usage
from test_costs_today import translation_session
from test_interpretation_today import parallel_session, preamble_session

from recorder.audio import assistant_track, collect_audio, mix_track, response_tracks
from recorder.session import decode_line


def show(path: Path) -> list[str]:
    result = CliRunner().invoke(cli, ["show", str(path)])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def line_of(lines: list[str], pattern: str) -> str:
    (found,) = [line for line in lines if re.search(pattern, line)]
    return found


# -- rt show ---------------------------------------------------------------------------------------


def test_show_marks_the_preamble_and_the_final_answer(tmp_path):
    lines = show(preamble_session("output_item").write(tmp_path))
    preamble = line_of(lines, r"response\.output_audio\.delta\s+preamble")
    final = line_of(lines, r"response\.output_audio\.delta\s+final answer")
    assert preamble.split()[0] == "3.200" and "0.400 s audio" in preamble
    assert final.split()[0] == "3.900" and "0.600 s audio" in final
    done = line_of(lines, r"response\.done")
    assert done.endswith("ttfb 200.0 ms · final answer 900.0 ms · preamble 0.400 s audio")


def test_show_marks_out_of_band_responses(tmp_path):
    lines = show(parallel_session().write(tmp_path))
    assert line_of(lines, r"resp_oob · metadata topic=classify").endswith("· out of band")
    assert line_of(lines, r"response\.done\s+resp_oob").endswith("· out of band")
    assert "out of band" not in line_of(lines, r"response\.created\s+resp_turn")
    # the deltas of each response stay with it although they interleave
    assert line_of(lines, r"output_text\.delta").split()[2] == "r1"
    assert line_of(lines, r"output_audio\.delta").split()[2] == "r2"


def test_show_marks_idle_timeout_responses(tmp_path):
    s = SessionFile("idle")
    s.server(0.0, "session.created", **ga_session_created(model="gpt-realtime-2"))
    s.server(5.0, "input_audio_buffer.timeout_triggered", audio_start_ms=0, audio_end_ms=5000)
    s.created(5.05, "resp_idle", conversation_id="conv_1")
    s.done(5.5, "resp_idle")
    lines = show(s.write(tmp_path))
    assert line_of(lines, r"response\.created").endswith("resp_idle · idle timeout")


# -- the WAV mix -----------------------------------------------------------------------------------------


def out_of_band_audio_session() -> SessionBuilder:
    """A turn's answer (440 Hz, from 3.3 s) and an out-of-band response whose audio (880 Hz)
    arrives first, from 3.1 s."""
    b = SessionBuilder()
    b.session_created()
    b.appends(0.5, [pcm16(sine(300, 40))] * 25, 0.04)
    b.frame(2.0, "client", {"type": "response.create", "response": {"conversation": "none"}})
    b.frame(2.9, "server", {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900})
    for t, response_id, conversation in ((3.0, "resp_oob", None), (3.05, "resp_turn", "conv_1")):
        response = {"id": response_id, "status": "in_progress", "conversation_id": conversation}
        b.frame(t, "server", {"type": "response.created", "response": response})
    b.deltas(3.1, "resp_oob", "item_oob", [pcm16(sine(880, 500))], 0.0)
    b.deltas(3.3, "resp_turn", "item_turn", [pcm16(sine(440, 1000))], 0.0)
    b.response_done(3.6, "resp_oob")
    b.response_done(4.5, "resp_turn")
    return b


def test_the_mix_leaves_out_of_band_audio_out_and_keeps_the_turn_in_place():
    records = [
        (n, decode_line(line)) for n, line in enumerate(out_of_band_audio_session().lines, 1)
    ]
    audio = collect_audio(records, "s.jsonl", lambda w: pytest.fail(str(w)))
    assert [(r.response_id, r.kind) for r in audio.responses] == [
        ("resp_oob", "out_of_band"),
        ("resp_turn", "turn"),
    ]
    mix = mix_track(audio)
    assert mix is not None and mix.rate == 24000
    right = mix.samples[:, 1]
    start = int(3.3 * 24000)
    # the turn plays at its own first delta, not after the out-of-band audio
    assert np.array_equal(right[start : start + 24000], sine(440, 1000))
    assert not right[:start].any()  # and the 880 Hz out-of-band audio is nowhere in the mix
    assert len(right) == start + 24000
    # the assistant track and the per-response tracks keep all the audio the server sent
    assistant = assistant_track(audio)
    assert assistant is not None and assistant.frames == 12000 + 24000
    assert [t.name for t in response_tracks(audio)] == [
        "assistant.resp_oob",
        "assistant.resp_turn",
    ]


def test_a_session_with_only_out_of_band_audio_has_no_mix():
    b = SessionBuilder()
    b.session_created()
    b.frame(1.0, "client", {"type": "response.create", "response": {"conversation": "none"}})
    response = {"id": "r", "status": "in_progress", "conversation_id": None}
    b.frame(1.1, "server", {"type": "response.created", "response": response})
    b.deltas(1.2, "r", "i", [pcm16(sine(880, 200))], 0.0)
    records = [(n, decode_line(line)) for n, line in enumerate(b.lines, 1)]
    audio = collect_audio(records, "s.jsonl")
    assert mix_track(audio) is None
    assert assistant_track(audio) is not None


# -- sideband recordings -----------------------------------------------------------------------------


def sideband_session(turns: int = 5) -> SessionFile:
    s = SessionFile("sideband", path="/v1/realtime?call_id=rtc_abc")
    s.server(0.0, "session.created", **ga_session_created(model="gpt-realtime-2"))
    for i in range(turns):
        t = 2.0 + i * 5
        s.server(
            t, "input_audio_buffer.speech_stopped", audio_end_ms=int(t * 1000), item_id=f"u{i}"
        )
        s.created(t + 0.05, f"resp_{i}", conversation_id="conv_1")
        s.transcript_delta(t + 0.3, f"resp_{i}", "Hello")
        s.server(t + 0.45, "output_audio_buffer.started", response_id=f"resp_{i}")
        s.done(t + 0.6, f"resp_{i}", usage=ga_usage(input_text=100, output_audio=40))
        s.server(t + 2.0, "output_audio_buffer.stopped", response_id=f"resp_{i}")
    return s


def test_a_sideband_recording_says_once_that_it_carries_no_audio(tmp_path):
    path = sideband_session().write(tmp_path)
    runner = CliRunner()
    shown = runner.invoke(cli, ["show", str(path)])
    assert shown.stderr == ""
    assert shown.stdout.count("audio travels outside this connection") == 1
    stats = runner.invoke(cli, ["stats", str(path)])
    assert stats.exit_code == 0 and stats.stderr == ""
    assert stats.stdout.count("1 sideband session (no audio on the connection") == 1
    data = json.loads(runner.invoke(cli, ["stats", str(path), "--format", "json"]).stdout)
    assert {r["ttfb_source"] for r in data["responses"]} == {"playback"}
    assert {r["ttfb_ms"] for r in data["responses"]} == {450.0}
    assert data["sessions"][0]["transport"] == "sideband"
    exported = runner.invoke(cli, ["export", "wav", str(path), "--out", str(tmp_path / "w")])
    assert exported.exit_code == 1
    assert exported.stderr.strip() == (
        f"Error: no audio in {path}: it is a sideband connection, which carries the control "
        "events of a WebRTC or SIP call (the call's audio travels outside it)"
    )
    report = runner.invoke(cli, ["report", str(path), "-o", str(tmp_path / "r.html")])
    assert report.exit_code == 0 and report.stderr == ""
    html = (tmp_path / "r.html").read_text()
    assert html.count("No audio on this connection: a sideband") == 1


# -- the translation endpoint ---------------------------------------------------------------------


def test_translation_is_shown_and_exported(tmp_path):
    path = translation_session().write(tmp_path)
    lines = show(path)
    assert "protocol    translation over websocket" in lines
    # the output track reads as GPT-Live's (the same event name): runs of speech and of silence
    # (this one's audio is digital silence), each ended by the next line of another kind
    audio = [line for line in lines if "session.output_audio.delta" in line]
    assert len(audio) == 2
    assert "silence 0.200 s · 1 delta " in audio[0]
    assert "silence 1.800 s · 9 deltas " in audio[1]
    assert '"hola hola' in line_of(lines, r"session\.output_transcript\.delta")
    result = CliRunner().invoke(cli, ["export", "wav", str(path), "--out", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    user = sf.info(str(tmp_path / "w" / "translation.user.wav"))
    assistant = sf.info(str(tmp_path / "w" / "translation.assistant.wav"))
    assert user.duration == pytest.approx(6.0) and user.samplerate == 24000
    assert assistant.duration == pytest.approx(2.0) and assistant.samplerate == 16000


# -- the report ---------------------------------------------------------------------------------------------


def test_the_report_shows_the_final_answer_latency_beside_the_first_audio(tmp_path):
    path = preamble_session("output_item").write(tmp_path)
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", str(path), "-o", str(out), "--no-audio"])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    # the first audio's latency, and the final answer's under it, in one cell
    assert (
        '<td class="num good" data-key="ttfb_ms">200.0<br>'
        '<span class="note" title="the final answer\'s first audio" '
        'data-key="ttfb_final_ms">900.0</span></td>'
    ) in html
    assert "TTFB final answer p50" in html
    assert "ttfb 200 ms · final answer 900 ms" in html  # the session timeline's tooltip


def test_the_report_without_preambles_is_unchanged(tmp_path):
    s = SessionFile("plain")
    s.server(0.0, "session.created", **ga_session_created())
    s.client(1.0, "response.create")
    s.created(1.05, "r1")
    s.audio_delta(1.3, "r1", 100)
    s.done(1.5, "r1")
    out = tmp_path / "r.html"
    CliRunner().invoke(cli, ["report", str(s.write(tmp_path)), "-o", str(out), "--no-audio"])
    html = out.read_text()
    assert "ttfb_final_ms" not in html and "final answer" not in html
