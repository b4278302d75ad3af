"""`rt diff`: the pure comparison (recorder/diff.py) and the command, on hand-built sessions,
the samples, and a recording compared with its replay against a slower server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import scaled
from rt_cli.main import cli
from scripted_server import Script, ScriptedRealtimeServer
from stats_fixtures import SessionFile, ga_session_created, ga_usage
from test_replay_support import QUICK, push_to_talk, record_through

from recorder.diff import (
    ALIGN_WINDOW,
    EventStep,
    align_events,
    diff_session_files,
    difference,
    pair_responses,
    said,
)
from recorder.errors import InputError
from recorder.interpretation import interpret
from recorder.replay import connection_plan, load_session, replay_schedule, run_replay

SAMPLES = Path(__file__).resolve().parent.parent / "sample_sessions"
ANSI = re.compile(r"\x1b\[")


def step(kind: str, source: str = "server", frames: int = 1) -> EventStep:
    return EventStep(0.0, source, kind, frames)


# -- pure ----------------------------------------------------------------------------------------


def test_events_line_up_by_direction_and_type():
    a = [step("session.created"), step("x"), step("response.done"), step("gone")]
    b = [step("session.created", frames=1), step("y"), step("z"), step("response.done")]
    rows = align_events(a, b)
    assert [(r.op, r.a and r.a.type, r.b and r.b.type) for r in rows] == [
        ("equal", "session.created", "session.created"),
        ("changed", "x", "y"),
        ("added", None, "z"),
        ("equal", "response.done", "response.done"),
        ("removed", "gone", None),
    ]
    # the direction counts: a client event never lines up with a server one of the same name
    assert align_events([step("e", "client")], [step("e", "server")])[0].op == "changed"


def test_events_line_up_response_by_response():
    """Each side is cut where a response starts; the n-th responses line up with each other,
    as responses pair everywhere in a diff (a replay's second response is the original's
    second, however alike the first ones look)."""

    def turn(response: int, *extra: str) -> list[EventStep]:
        kinds = ["response.created", *extra, "response.done"]
        return [EventStep(0.0, "server", kind, 1, response) for kind in kinds]

    head = [step("session.created")]
    a = head + turn(1, "x") + turn(2) + turn(3)
    b = head + turn(1) + turn(2, "y")
    ops = [(r.op, r.a and (r.a.response, r.a.type), r.b and (r.b.response, r.b.type)) for r in align_events(a, b)]  # fmt: skip
    assert ops == [
        ("equal", (None, "session.created"), (None, "session.created")),
        ("equal", (1, "response.created"), (1, "response.created")),
        ("removed", (1, "x"), None),
        ("equal", (1, "response.done"), (1, "response.done")),
        ("equal", (2, "response.created"), (2, "response.created")),
        ("added", None, (2, "y")),
        ("equal", (2, "response.done"), (2, "response.done")),
        ("removed", (3, "response.created"), None),
        ("removed", (3, "response.done"), None),
    ]


def test_a_long_stretch_is_lined_up_window_by_window():
    """Thousands of steps with no response between them (a long run of client events):
    common ends first, then windows of ALIGN_WINDOW steps, each lined up by difflib and
    starting where the previous one's last match ended."""
    kinds = ("input_audio_buffer.append", "input_audio_buffer.commit", "conversation.item.create")
    a = [step(kinds[i % 3], "client") for i in range(ALIGN_WINDOW * 10)]
    b = list(a)
    b.insert(ALIGN_WINDOW * 5 + 1, step("session.update", "client"))  # one extra in the middle
    del b[-(ALIGN_WINDOW * 2)]  # and one missing near the end
    rows = align_events(a, b)
    assert [r.a for r in rows if r.a is not None] == a  # every step once, in order
    assert [r.b for r in rows if r.b is not None] == b
    changes = [(r.op, (r.a or r.b).type) for r in rows if r.op != "equal"]  # type: ignore[union-attr]
    assert changes == [("added", "session.update"), ("removed", "conversation.item.create")]
    # a step inserted at the start shifts all the rest: each window starts where the last
    # one's match ended, so the shift costs nothing further on
    shifted = [step("session.update", "client"), *a]
    assert [r.op for r in align_events(a, shifted)].count("equal") == len(a)


def test_responses_pair_by_order_with_deltas():
    a = [{"response_id": "r1", "ttfb_ms": 300.0, "input_tokens": 10, "cost_usd": 0.001}]
    b = [
        {"response_id": "q1", "ttfb_ms": 412.5, "input_tokens": 7, "cost_usd": None},
        {"response_id": "q2", "ttfb_ms": 1.0},
    ]
    first, second = pair_responses(a, b)
    assert (first.delta("ttfb_ms"), first.delta("input_tokens"), first.delta("cost_usd")) == (
        112.5,
        -3,
        None,
    )
    assert (second.index, second.a, second.delta("ttfb_ms")) == (2, None, None)
    assert difference(0.1, 0.3, 3) == 0.2 and difference(1, 2.5, 0) == 2.0


def test_transcripts_are_assembled_per_response_and_part():
    records = [
        ("response.audio_transcript.delta", {"response_id": "r1", "item_id": "i1", "content_index": 0, "delta": "Hel"}),
        ("response.output_audio_transcript.delta", {"response_id": "r1", "item_id": "i1", "content_index": 0, "delta": "lo"}),
        ("response.output_text.delta", {"response_id": "r2", "item_id": "i2", "content_index": 0, "delta": "draft"}),
        ("response.output_text.done", {"response_id": "r2", "item_id": "i2", "content_index": 0, "text": "final"}),
        ("response.output_item.done", {"response_id": "r3", "item": {"id": "i3", "type": "function_call", "name": "get_weather", "arguments": '{"city":"Paris"}'}}),
        ("response.done", {"response": {"id": "r4", "output": [{"id": "i4", "type": "message", "content": [{"type": "output_audio", "transcript": "Only in done."}]}]}}),
        ("response.done", {"response": {"id": "r1", "output": [{"id": "i1", "type": "message", "content": [{"type": "audio", "transcript": "Hello (done)"}]}]}}),
    ]  # fmt: skip
    frames = [{"kind": "frame", "t": 0.0, "from": "client", "event": {"type": "response.output_text.delta", "response_id": "r9", "delta": "x"}}]  # fmt: skip
    frames += [
        {"kind": "frame", "t": 0.0, "from": "server", "event": {"type": kind, **fields}}
        for kind, fields in records
    ]
    facts = interpret(enumerate(frames, start=1))
    assert {response.response_id: said(response) for response in facts.responses} == {
        "r1": ["Hello (done)"],  # a part's full text (here in response.done) replaces its deltas
        "r2": ["final"],  # the .done text replaces the deltas
        "r3": ['get_weather({"city":"Paris"})'],
        "r4": ["Only in done."],
    }


def test_a_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such session file"):
        diff_session_files(tmp_path / "a.jsonl", tmp_path / "b.jsonl")


# -- the command ---------------------------------------------------------------------------------


def session(name: str, ttfbs: tuple[float, ...], words: tuple[str, ...]) -> SessionFile:
    s = SessionFile(name)
    s.server(0.0, "session.created", **ga_session_created())
    for i, (ttfb, text) in enumerate(zip(ttfbs, words, strict=True)):
        start = 1.0 + 3 * i
        s.client(start, "response.create")
        s.created(start + 0.01, f"{name}_{i}")
        s.audio_delta(start + ttfb, f"{name}_{i}", 100)
        s.audio_delta(start + ttfb + 0.05, f"{name}_{i}", 100)
        s.transcript_delta(start + ttfb + 0.06, f"{name}_{i}", text)
        s.done(start + 1.0, f"{name}_{i}", usage=ga_usage(input_text=10 * (i + 1), output_audio=5))
    return s


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    a = session("original", (0.3, 0.4), ("Hello there.", "Goodbye."))
    b = session("replay", (0.35, 0.2, 0.5), ("Hello there.", "Bye now.", "Anything else?"))
    return a.write(tmp_path), b.write(tmp_path)


def invoke(*args: Any) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["diff", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_json_has_every_section_with_exact_deltas(pair):
    a, b = pair
    code, out, err = invoke(a, b, "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert list(data) == ["a", "b", "delta", "responses", "transcripts", "events"]
    assert (data["a"]["session"], data["b"]["session"]) == ("original", "replay")
    assert data["delta"] == {
        "frames": 6,
        "responses": 1,
        "errors": 0,
        "ttfb_p50_ms": 0.0,  # 350 vs the median of 350, 200, 500
        "ttft_p50_ms": 0.0,
        "input_tokens": 30,  # 10 + 20 + 30 vs 10 + 20
        "output_tokens": 5,
        "cost_usd": pytest.approx((30 * 4 + 5 * 64) / 1e6),
    }
    first, second, third = data["responses"]
    assert (first["a"]["response_id"], first["b"]["response_id"]) == ("original_0", "replay_0")
    assert first["delta"]["ttfb_ms"] == 50.0
    assert second["delta"]["ttfb_ms"] == -200.0
    assert (third["a"], third["delta"]["ttfb_ms"], third["b"]["ttfb_ms"]) == (None, None, 500.0)
    assert data["transcripts"]["a"] == ["[r1] Hello there.", "[r2] Goodbye."]
    assert data["transcripts"]["diff"] == [
        f"--- {a}",
        f"+++ {b}",
        "@@ -1,2 +1,3 @@",
        " [r1] Hello there.",
        "-[r2] Goodbye.",
        "+[r2] Bye now.",
        "+[r3] Anything else?",
    ]
    ops = [row["op"] for row in data["events"]]
    assert ops.count("added") == 5 and set(ops) == {"equal", "added"}  # r3: 5 timeline lines
    delta_row = next(row for row in data["events"] if row["a"] and row["a"]["frames"] == 2)
    assert delta_row["a"]["type"] == "response.output_audio.delta"
    assert delta_row["b"] == {**delta_row["a"], "t": 1.35}


def test_table_view(pair):
    a, b = pair
    code, out, _ = invoke(a, b)
    assert code == 0 and not ANSI.search(out)
    lines = out.splitlines()
    assert lines[0].startswith(f"A  {a}  original")
    for title in (
        "Summary (Δ = B − A)",
        "Responses: latency (ms; Δ = B − A)",
        "Responses: tokens and cost",
        "Transcripts",
        "Events (as rt show lists them)",
    ):
        assert title in lines
    delta = next(line for line in lines if line.startswith(" Δ"))
    assert delta.split() == ["Δ", "+6", "+1", "0", "0.0", "0.0", "+30", "+5", "+0.000440"]
    second = next(line for line in lines if line.startswith(" 2 "))
    assert second.split()[:5] == ["2", "completed", "400.0", "200.0", "-200.0"]
    assert "-[r2] Goodbye." in lines and "+[r3] Anything else?" in lines
    assert lines[-1] == "11 lines alike, 0 changed (|), 0 only in A (<), 5 only in B (>)"
    added = [line for line in lines if re.search(r"\s>\s", line)]
    assert len(added) == 5 and added[2].endswith("← r3 response.output_audio.delta ×2")


def test_markdown(pair):
    code, out, _ = invoke(*pair, "--format", "markdown")
    assert code == 0
    assert "### Summary (Δ = B − A)" in out and "### Events (as rt show lists them)" in out
    assert "```diff\n" in out and "\n+[r3] Anything else?\n```\n" in out


def test_a_session_against_itself_is_all_alike():
    sample = SAMPLES / "ga-function-call.jsonl"
    code, out, _ = invoke(sample, sample, "--format", "json")
    data = json.loads(out)
    assert {row["op"] for row in data["events"]} == {"equal"}
    assert data["transcripts"]["same"] and data["transcripts"]["diff"] == []
    assert all(value == 0 for value in data["delta"].values())
    assert any("get_weather(" in line for line in data["transcripts"]["a"])
    code, out, _ = invoke(sample, sample)
    assert "the same in both (2 responses)" in out


def test_two_samples():
    code, out, _ = invoke(
        SAMPLES / "ga-push-to-talk.jsonl", SAMPLES / "beta-2024-10-01.jsonl", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert (data["a"]["model"], data["b"]["model"]) == (
        "gpt-realtime",
        "gpt-4o-realtime-preview-2024-10-01",
    )
    # beta names read as GA names, so the two line up where the conversations agree
    assert sum(row["op"] == "equal" for row in data["events"]) > 10


def test_missing_file_is_a_usage_error(tmp_path):
    code, _, err = invoke(tmp_path / "nope.jsonl", SAMPLES / "ga-text-only.jsonl")
    assert code == 2 and "does not exist" in err


def test_help_has_an_example():
    result = CliRunner().invoke(cli, ["diff", "--help"])
    assert result.exit_code == 0
    assert "Example:\n    $ rt replay sessions/call.jsonl" in result.stdout


def test_a_recording_against_its_replay_to_a_slower_server(run, proxied, tmp_path):
    slower = Script(
        created_delay=0.005, first_delta_delay=0.25, response_audio_ms=200, delta_ms=100
    )

    async def scenario() -> tuple[Path, Path]:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk(turns=2))
        async with ScriptedRealtimeServer(slower) as server:
            recorded = load_session(original, keep_payloads=("client",))
            schedule = replay_schedule(recorded, pace="reactive")
            plan = connection_plan(recorded, server.url, environ={})
            result = await run_replay(
                schedule, plan, tmp_path / "replays", source=original, timeout=scaled(5)
            )
        assert result.stopped is None
        return original, result.recording.path

    original, replayed = run(scenario())
    code, out, err = invoke(original, replayed, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["delta"]["responses"] == 0 and data["delta"]["errors"] == 0
    for response in data["responses"]:
        assert response["a"]["response_id"] != response["b"]["response_id"]
        assert response["a"]["status"] == response["b"]["status"] == "completed"
        assert response["delta"]["ttfb_ms"] > 150  # the server took 0.23 s longer to speak
        assert response["delta"]["input_tokens"] == 0
    assert data["transcripts"]["same"]
    lined_up = [row for row in data["events"] if row["op"] == "equal"]
    assert len(lined_up) >= 0.9 * len(data["events"])
