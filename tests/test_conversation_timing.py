"""Conversation timing (CONTRACT §4.6): talk, talk-over, barge-ins, dead air, turns, measured on
the timeline the WAV mix plays (recorder/interpretation/conversation.py)."""

from __future__ import annotations

import base64
import csv
import io
import json

import numpy as np
import pytest
from audio_fixtures import SessionBuilder, pcm16, sine, split
from click.testing import CliRunner
from rt_cli.main import cli
from scripted_server import Script, sine_pcm16
from websockets.asyncio.client import connect

from recorder.audio import collect_audio, mix_track
from recorder.interpretation import interpret
from recorder.interpretation.conversation import conversation_timing, talk_spurts
from recorder.interpretation.energy import audible_windows
from recorder.session import decode_line

RATE = 24000


def ms(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def test_spurts_bridge_pauses_shorter_than_300_ms():
    # pauses: 300 ms (a new spurt), 100 ms (bridged), 1000 ms
    starts, ends = talk_spurts(ms(0, 1300, 1500, 3000), ms(1000, 1400, 2000, 3100))
    assert starts.tolist() == [0, 1300, 3000]
    assert ends.tolist() == [1000, 2000, 3100]


def test_figures_from_spans():
    user = (ms(0, 4200, 9000), ms(2000, 5000, 9500))
    assistant = (ms(3000, 10000), ms(6000, 10500))
    timing = conversation_timing(user, assistant)
    assert timing.user_talk_ms == 2000 + 800 + 500
    assert timing.assistant_talk_ms == 3000 + 500
    assert timing.talk_over_ms == 800
    assert timing.barge_ins == 1 and timing.barge_in_stop_ms == 1800  # 4.2 s -> 6.0 s
    assert timing.dead_air_ms == 3000  # 6.0 -> 9.0 s; 2.0 -> 3.0 s and 9.5 -> 10.0 s are short
    assert timing.dead_air == ((6.0, 9.0),)
    # spurts in start order: user, assistant, user (the barge-in), user, assistant: the two user
    # spurts in a row make one turn
    assert timing.turns == 4


def test_no_audio_no_figures():
    timing = conversation_timing((ms(), ms()), (ms(), ms()))
    assert (timing.user_talk_ms, timing.turns, timing.barge_in_stop_ms) == (0, 0, None)


def stream(b: SessionBuilder, t0: float, samples: np.ndarray, chunk_ms: int = 20) -> None:
    """The microphone: `samples` in `chunk_ms` appends, in real time from `t0`."""
    pieces = split(pcm16(samples), [chunk_ms * 48])
    b.appends(t0, pieces, chunk_ms / 1000)


def silence(ms_: int) -> np.ndarray:
    return np.zeros(RATE * ms_ // 1000, dtype=np.int16)


def barge_in_call() -> SessionBuilder:
    """User asks (0.5-2.0 s), the answer (3 s of audio) starts at 2.6 s, the user talks over it
    1.2 s in (3.8 s), the client truncates 180 ms later (audio_end_ms 1380), then 2.5 s of
    silence on both sides and the user speaks again (7.7-8.5 s)."""
    b = SessionBuilder()
    b.session_created()
    mic = np.concatenate(
        [
            silence(500),
            sine(300, 1500),  # 0.5 - 2.0 s
            silence(1800),
            sine(350, 1000),  # 3.8 - 4.8 s
            silence(2900),
            sine(300, 800),  # 7.7 - 8.5 s
            silence(500),
        ]
    )
    stream(b, 0.0, mic)
    b.response_created(2.3, "resp_1")
    answer = split(pcm16(sine(500, 3000)), [4800])  # 100 ms deltas, 4x real time
    b.deltas(2.6, "resp_1", "item_1", answer, 0.025)
    b.truncate(3.99, "item_1", 1380)
    b.truncated(3.995, "item_1", 1380)
    b.response_done(4.0, "resp_1", "cancelled", "turn_detected")
    return in_time_order(b)


def in_time_order(b: SessionBuilder) -> SessionBuilder:
    """The same frames, written in the order of their `t` (as the proxy would have)."""
    frames = [decode_line(line) for line in b.lines[1:]]
    ordered = SessionBuilder()
    for frame in sorted(frames, key=lambda record: record["t"]):
        ordered.frame(frame["t"], frame["from"], frame["event"])
    return ordered


def records(b: SessionBuilder) -> list[tuple[int, dict]]:
    return [(n, decode_line(line)) for n, line in enumerate(b.lines, start=1)]


def test_a_barge_in_call_measured_on_the_mix_timeline():
    timing = interpret(records(barge_in_call())).conversation
    assert timing is not None
    assert timing.user_talk_ms == pytest.approx(1500 + 1000 + 800, abs=20)
    assert timing.assistant_talk_ms == pytest.approx(1380, abs=20)  # cut where truncated
    assert timing.talk_over_ms == pytest.approx(180, abs=20)
    assert timing.barge_ins == 1
    assert timing.barge_in_stop_ms == pytest.approx(180, abs=20)
    assert timing.dead_air_ms == pytest.approx(7700 - 4800, abs=20)  # silence 4.8 s to 7.7 s
    assert timing.turns == 3  # user, assistant, user (the barge-in, then again after silence)
    assert [round(t, 2) for t, _ in timing.user] == [0.5, 3.8, 7.7]
    assert [(round(a, 2), round(b, 2)) for a, b in timing.assistant] == [(2.6, 3.98)]


def test_the_figures_are_those_of_the_exported_mix():
    """Both sides of the stereo mix, measured with the same detector, give the same spans."""
    b = barge_in_call()
    timing = interpret(records(b)).conversation
    mix = mix_track(collect_audio(records(b)))
    assert timing is not None and mix is not None and mix.rate == RATE
    for channel, spans in ((0, timing.user), (1, timing.assistant)):
        audible = audible_windows(np.ascontiguousarray(mix.samples[:, channel]), RATE)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], audible.astype(int), [0]])))
        found = [(edges[i] * 0.02, edges[i + 1] * 0.02) for i in range(0, len(edges), 2)]
        assert len(found) == len(spans)
        for (start, end), (expected_start, expected_end) in zip(found, spans, strict=True):
            assert start == pytest.approx(expected_start, abs=0.02)
            assert end == pytest.approx(expected_end, abs=0.02)


def test_stats_by_session_shows_the_timing_in_every_format(tmp_path):
    path = barge_in_call().write(tmp_path / "call.jsonl")
    runner = CliRunner()
    data = json.loads(runner.invoke(cli, ["stats", str(path), "--format", "json"]).stdout)
    (session,) = data["sessions"]
    assert session["barge_ins"] == 1 and session["turns"] == 3
    assert session["talk_over_ms"] == pytest.approx(180, abs=20)
    csv_out = runner.invoke(cli, ["stats", str(path), "--by", "session", "--format", "csv"])
    (row,) = list(csv.DictReader(io.StringIO(csv_out.stdout)))
    assert float(row["barge_in_stop_ms"]) == pytest.approx(180, abs=20)
    assert float(row["dead_air_ms"]) == pytest.approx(2900, abs=20)
    for fmt in ("table", "markdown"):
        shown = runner.invoke(cli, ["stats", str(path), "--by", "session", "--format", fmt])
        assert shown.exit_code == 0, shown.output
        assert "talk-over ms" in shown.stdout and "barge-ins" in shown.stdout


def test_rt_check_gates_on_the_timing(tmp_path):
    path = barge_in_call().write(tmp_path / "call.jsonl")
    config = tmp_path / "rt-check.toml"
    config.write_text(
        '[[checks]]\nname = "yield"\nexpect = ["barge_in_stop_ms.per_session.max <= 300"]\n'
        '[[checks]]\nname = "silence"\nexpect = ["dead_air_ms.per_session.max <= 2000"]\n'
    )
    result = CliRunner().invoke(cli, ["check", str(path), "--config", str(config)])
    assert result.exit_code == 1, result.output
    failed = [line for line in result.stdout.splitlines() if "FAIL" in line]
    assert any("dead_air_ms" in line for line in failed)
    assert not any("barge_in_stop_ms" in line for line in failed)


def test_the_report_draws_the_strip(tmp_path):
    path = barge_in_call().write(tmp_path / "call.jsonl")
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    strip = page[
        page.index('class="chart strip"') : page.index("</svg>", page.index('class="chart strip"'))
    ]
    assert strip.count('class="talk talk-user"') == 3
    assert strip.count('class="talk talk-assistant"') == 1
    assert strip.count('class="talk-over"') == 1 and strip.count('class="barge-in"') == 1
    assert strip.count('class="dead-air"') == 1 and ">2.90 s</text>" in strip
    assert 'data-t="3.800"' in strip  # the barge-in, and the user's spurt: a click plays it
    assert "1 barge-in, the assistant stopped after 180 ms (median)" in page


def test_a_call_through_the_proxy_to_the_scripted_server(run, proxied):
    """The scripted server answers with 3 s of audio; 1.2 s into it the user talks over it, the
    client truncates the answer 180 ms later (audio_end_ms 1380), then both sides are silent for
    2.5 s and the user speaks again. The user's audio goes out in one burst when the answer's
    first delta arrives, so each figure depends only on the recorded times of those two."""
    script = Script(
        assistant_audio=lambda index: sine_pcm16(3000, 500.0),
        delta_ms=100,
        first_delta_delay=0.9,  # the question (0.7 s, sent in a burst) has played by then
        created_delay=0.005,
    )
    question = np.concatenate([silence(100), sine(300, 500), silence(100)])
    answer_over = np.concatenate(
        [silence(1200), sine(350, 1000), silence(2500), sine(300, 800), silence(300)]
    )

    async def append_all(ws, samples: np.ndarray) -> None:
        for piece in split(pcm16(samples), [960]):
            event = {"type": "input_audio_buffer.append", "audio": base64.b64encode(piece).decode()}
            await ws.send(json.dumps(event))

    async def call() -> list[dict]:
        async with proxied(script) as stack:
            url = stack.proxy.url + "/v1/realtime?model=gpt-realtime"
            async with connect(url, max_size=None) as ws:
                await ws.send(json.dumps(NO_VAD))
                await until(ws, "session.updated")
                await append_all(ws, question)
                await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
                await ws.send(json.dumps({"type": "response.create"}))
                first = await until(ws, "response.output_audio.delta")
                await append_all(ws, answer_over)
                truncate = {
                    "type": "conversation.item.truncate",
                    "item_id": first["item_id"],
                    "content_index": 0,
                    "audio_end_ms": 1380,
                }
                await ws.send(json.dumps(truncate))
                await until(ws, "response.done")
            await stack.proxy.wait_for_sessions(1)
            return stack.records()

    records = run(call())
    frames = [r for r in records if r["kind"] == "frame"]
    first_audio = next(
        f["t"] for f in frames if f["event"].get("type") == "response.output_audio.delta"
    )
    appends = [f["t"] for f in frames if f["event"].get("type") == "input_audio_buffer.append"]
    burst = appends[len(split(pcm16(question), [960]))]  # the first append of the second burst
    assert 0 <= burst - first_audio < 0.1  # the client answered the first delta at once
    talk_over = (first_audio + 1.380) - (burst + 1.200)  # the truth, on the recorder's clock
    timing = interpret(enumerate(records)).conversation
    assert timing is not None
    assert timing.user_talk_ms == pytest.approx(500 + 1000 + 800, abs=20)
    assert timing.assistant_talk_ms == pytest.approx(1380, abs=20)
    assert timing.talk_over_ms == pytest.approx(talk_over * 1000, abs=20)
    assert timing.barge_ins == 1
    assert timing.barge_in_stop_ms == pytest.approx(talk_over * 1000, abs=20)
    assert timing.dead_air_ms == pytest.approx(2500, abs=20)
    assert timing.turns == 3


NO_VAD = {
    "type": "session.update",
    "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
}


async def until(ws, kind: str) -> dict:
    async for message in ws:
        event = json.loads(message)
        if event.get("type") == kind:
            return event
    raise AssertionError(f"the connection closed before {kind}")


def test_each_chunk_is_timed_in_its_own_format():
    """A side whose format changes mid-call (pcm16 24 kHz, then G.711 at 8 kHz, then pcm16 again
    as an equal but distinct object): each chunk's length in its own format, as with one format
    throughout."""
    from recorder.interpretation.conversation import CallAudio
    from recorder.vocabulary import PCM16, ULAW, AudioFormat

    def b64(size: int) -> str:
        return base64.b64encode(bytes(size)).decode()

    chunks = [(PCM16, 4800), (ULAW, 800), (AudioFormat("pcm16", 24000), 960)]
    mixed = CallAudio()
    for n, (fmt, size) in enumerate(chunks):
        mixed.user(n * 0.1, b64(size), fmt)
    assert mixed.lay_out().user_lengths.tolist() == [100.0, 100.0, 20.0]
    one = CallAudio()
    for n in range(3):
        one.user(n * 0.1, b64(480), PCM16)
    assert one.lay_out().user_lengths.tolist() == [10.0, 10.0, 10.0]
