"""The pure parts of replay: reading a recording, the schedule, the dial plan, the summary."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from recorder.errors import InputError, SessionFormatError
from recorder.interpretation import base64_size
from recorder.replay import (
    compare_responses,
    connection_plan,
    event_type_of,
    load_session,
    parse_header,
    replay_schedule,
    summarise_records,
)
from recorder.session import (
    close_record,
    encode_record,
    frame_line,
    open_record,
    session_record,
)

STARTED = dt.datetime(2026, 11, 26, 2, 15, tzinfo=dt.timezone.utc)


def write_session(
    path: Path,
    frames: list[tuple[float, str, Any]],
    *,
    upstream: str = "wss://api.openai.com/v1/realtime?model=gpt-realtime",
    request_path: str = "/v1/realtime?model=gpt-realtime",
    headers: list[tuple[str, str]] | None = None,
    subprotocols: list[str] | None = None,
    close: tuple[float, str, int | None, str] | None = None,
    opened_at: float = 0.01,
) -> Path:
    """A session file: header, open, frames (t, from, event dict or raw payload), close."""
    lines = [
        encode_record(
            session_record(
                "s1",
                STARTED,
                upstream,
                request_path,
                headers or [("Authorization", "Bearer sk-secret")],
                subprotocols or [],
            )
        ),
        encode_record(open_record(opened_at, None, [])),
    ]
    for seq, (t, direction, payload) in enumerate(frames):
        data = json.dumps(payload) if isinstance(payload, dict) else payload
        lines.append(frame_line(seq, t, direction, data))  # type: ignore[arg-type]
    if close is not None:
        lines.append(encode_record(close_record(*close)))  # type: ignore[arg-type]
    path.write_text("".join(lines))
    return path


def ev(type_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, **fields}


APPEND = ev("input_audio_buffer.append", audio="AAAA" * 240)  # 720 bytes, 15 ms

# A push-to-talk turn, then a second one that the client started 0.5 s after response.done.
CONVERSATION = [
    (0.02, "server", ev("session.created")),
    (0.05, "client", ev("session.update", session={})),
    (0.06, "server", ev("session.updated")),
    (0.10, "client", APPEND),
    (0.12, "client", APPEND),
    (0.13, "server", ev("input_audio_buffer.speech_started")),
    (0.14, "client", APPEND),
    (0.15, "client", ev("input_audio_buffer.commit")),
    (0.16, "server", ev("input_audio_buffer.committed")),
    (0.17, "client", ev("response.create")),
    (0.20, "server", ev("response.created", response={"id": "r1"})),
    (0.30, "server", ev("response.output_audio.delta", response_id="r1", delta="AA==")),
    (0.40, "server", ev("response.done", response={"id": "r1", "status": "completed"})),
    (0.41, "server", ev("rate_limits.updated")),
    (0.90, "client", ev("response.create")),
    (1.00, "server", ev("response.created", response={"id": "r2"})),
    (1.10, "server", ev("response.done", response={"id": "r2", "status": "completed"})),
]


def test_reactive_schedule_waits_for_milestones_and_keeps_gaps(tmp_path):
    path = write_session(tmp_path / "s.jsonl", CONVERSATION, close=(1.30, "client", 1000, ""))
    schedule = replay_schedule(load_session(path))
    steps = [(s.frame.event_type, dict(s.wait_for), s.gap, s.delay) for s in schedule.sends]
    assert steps == [
        ("session.update", {"session.created": 1}, pytest.approx(0.04), pytest.approx(0.03)),
        (
            "input_audio_buffer.append",
            {"session.updated": 1},
            pytest.approx(0.05),
            pytest.approx(0.04),
        ),
        # inside a burst of audio nothing is awaited: VAD answers the audio it already has
        ("input_audio_buffer.append", {}, pytest.approx(0.02), 0.0),
        ("input_audio_buffer.append", {}, pytest.approx(0.02), 0.0),
        (
            "input_audio_buffer.commit",
            {"input_audio_buffer.speech_started": 1},
            pytest.approx(0.01),
            pytest.approx(0.02),
        ),
        (
            "response.create",
            {"input_audio_buffer.committed": 1},
            pytest.approx(0.02),
            pytest.approx(0.01),
        ),
        (
            "response.create",
            {"response.created": 1, "response.done": 1},
            pytest.approx(0.73),
            pytest.approx(0.50),
        ),
    ]
    finish = schedule.finish
    assert dict(finish.wait_for) == {"response.created": 2, "response.done": 2}
    assert finish.delay == pytest.approx(0.20) and finish.gap == pytest.approx(0.40)
    assert (finish.code, finish.reason, finish.server_closes) == (1000, "", False)


def test_speed_scales_gaps_but_audio_keeps_real_time(tmp_path):
    path = write_session(tmp_path / "s.jsonl", CONVERSATION)
    schedule = replay_schedule(load_session(path), pace="timed", speed=2.0)
    by_type = [(s.frame.event_type, s.gap, dict(s.wait_for)) for s in schedule.sends]
    assert by_type[0] == ("session.update", pytest.approx(0.02), {})
    assert by_type[2] == ("input_audio_buffer.append", pytest.approx(0.02), {})
    assert by_type[-1] == ("response.create", pytest.approx(0.365), {})
    fast = replay_schedule(load_session(path), fast=True)
    assert all(s.gap == 0 and s.delay == 0 for s in fast.sends)
    assert dict(fast.sends[-1].wait_for) == {"response.created": 1, "response.done": 1}


def test_beta_names_are_awaited_as_their_ga_names(tmp_path):
    frames = [
        (0.01, "server", ev("transcription_session.updated")),
        (0.02, "server", ev("conversation.item.created")),
        (0.03, "client", ev("response.create")),
    ]
    path = write_session(tmp_path / "s.jsonl", frames)
    (step,) = replay_schedule(load_session(path)).sends
    assert dict(step.wait_for) == {"session.updated": 1}


def test_a_server_close_is_expected_again_and_odd_close_codes_become_1000(tmp_path):
    path = write_session(tmp_path / "a.jsonl", CONVERSATION[:2], close=(0.5, "server", 4000, "bye"))
    assert replay_schedule(load_session(path)).finish.server_closes
    path = write_session(tmp_path / "b.jsonl", CONVERSATION[:2], close=(0.5, "client", 1006, ""))
    assert replay_schedule(load_session(path)).finish.code == 1000
    path = write_session(tmp_path / "c.jsonl", CONVERSATION[:2], close=(0.5, "proxy", 1001, "x"))
    finish = replay_schedule(load_session(path)).finish
    assert (finish.code, finish.reason) == (1001, "x")


def test_schedule_rejects_what_cannot_be_replayed(tmp_path):
    only_server = write_session(tmp_path / "s.jsonl", CONVERSATION[:1])
    with pytest.raises(InputError, match="nothing to replay"):
        replay_schedule(load_session(only_server))
    path = write_session(tmp_path / "t.jsonl", CONVERSATION)
    with pytest.raises(InputError, match="speed must be greater than 0"):
        replay_schedule(load_session(path), speed=0)
    with pytest.raises(InputError, match="unknown pace"):
        replay_schedule(load_session(path), pace="eager")  # type: ignore[arg-type]


def test_load_session_keeps_exact_text_and_skips_bad_lines(tmp_path):
    raw = '{ "type": "response.create",  "x": 1.50, "s": "caf\\u00e9" }'
    path = write_session(tmp_path / "s.jsonl", [(0.1, "client", raw), (0.2, "client", b"\x00")])
    with open(path, "a") as fh:
        fh.write("not json\n")
        fh.write(frame_line(2, 0.3, "client", "plain"))
        fh.write('{"kind":"frame","seq":3,"t":0.4,"from":"cli')
    problems: list[SessionFormatError] = []
    session = load_session(path, on_warning=problems.append)
    assert [f.payload for f in session.frames] == [raw, b"\x00", "plain"]
    assert [f.kind for f in session.frames] == ["event", "binary", "text"]
    assert [(p.line, p.reason) for p in problems] == [
        (5, problems[0].reason),
        (7, "incomplete last line (cut off)"),
    ]
    assert str(problems[0]).startswith(f"{path}:5: ")
    without = load_session(path, keep_payloads=(), on_warning=problems.append)
    assert [f.payload for f in without.frames] == [None, None, None]


def test_hand_written_frames_are_re_serialised(tmp_path):
    path = tmp_path / "hand.jsonl"
    path.write_text(
        '{"from": "client", "kind": "frame", "t": 2.5, "event": {"type": "response.create"}}\n'
    )
    session = load_session(path)
    assert session.frames[0].payload == '{"type":"response.create"}'
    assert session.start_t == 2.5 and session.header is None
    with pytest.raises(InputError, match="names no upstream and path; give --target"):
        connection_plan(session)
    with pytest.raises(InputError, match="has no request path; give --target a full URL"):
        connection_plan(session, "ws://127.0.0.1:9")
    plan = connection_plan(session, "ws://127.0.0.1:9/v1/realtime?model=m")
    assert plan.url == "ws://127.0.0.1:9/v1/realtime?model=m"


def test_connection_plan_dials_like_the_recorded_client(tmp_path):
    path = write_session(
        tmp_path / "s.jsonl",
        CONVERSATION[:2],
        upstream="wss://res.openai.azure.com/openai/realtime?api-version=2024-10-01-preview&deployment=d&api-key=k",
        request_path="/openai/realtime?api-version=2024-10-01-preview&deployment=d&api-key=k",
        headers=[
            ("Host", "127.0.0.1:8765"),
            ("Sec-WebSocket-Key", "abc"),
            ("Sec-WebSocket-Protocol", "realtime"),
            ("api-key", "k"),
            ("OpenAI-Beta", "realtime=v1"),
            ("User-Agent", "my-app/1.0"),
        ],
        subprotocols=["realtime", "openai-insecure-api-key.sk-x", "openai-beta.realtime-v1"],
    )
    session = load_session(path)
    plan = connection_plan(session, environ={"AZURE_OPENAI_API_KEY": "az", "OPENAI_API_KEY": "o"})
    assert plan.url == (
        "wss://res.openai.azure.com/openai/realtime?api-version=2024-10-01-preview&deployment=d"
    )
    assert plan.upstream == "wss://res.openai.azure.com"
    assert plan.headers == (
        ("OpenAI-Beta", "realtime=v1"),
        ("User-Agent", "my-app/1.0"),
        ("api-key", "az"),
    )
    assert plan.subprotocols == ("realtime", "openai-beta.realtime-v1")
    # a bare host keeps the recorded path; a full URL is used as given
    other = connection_plan(session, "https://example.test", environ={})
    assert other.url == (
        "wss://example.test/openai/realtime?api-version=2024-10-01-preview&deployment=d"
    )
    assert other.headers == (("OpenAI-Beta", "realtime=v1"), ("User-Agent", "my-app/1.0"))
    full = connection_plan(session, "ws://127.0.0.1:1/v1/realtime?model=gpt-realtime-2")
    assert full.path == "/v1/realtime?model=gpt-realtime-2"
    with pytest.raises(InputError, match="target must be a ws://"):
        connection_plan(session, "ftp://example.test")


def test_header_options_replace_recorded_ones_and_secrets_stay_off_disk(tmp_path):
    path = write_session(
        tmp_path / "s.jsonl", CONVERSATION[:2], headers=[("X-Trace", "1"), ("OpenAI-Beta", "v")]
    )
    plan = connection_plan(
        load_session(path),
        extra_headers=[("openai-beta", "realtime=v1"), ("X-Custom-Key", "hush"), ("X-Team", "a")],
        environ={"OPENAI_API_KEY": "sk-env"},
    )
    assert plan.headers == (
        ("X-Trace", "1"),
        ("openai-beta", "realtime=v1"),
        ("X-Custom-Key", "hush"),
        ("X-Team", "a"),
        ("Authorization", "Bearer sk-env"),
    )
    assert ("X-Custom-Key", "<redacted>") in plan.recorded_headers
    assert ("X-Team", "a") in plan.recorded_headers
    with_auth = connection_plan(load_session(path), extra_headers=[("Authorization", "Bearer x")])
    assert [v for n, v in with_auth.headers if n == "Authorization"] == ["Bearer x"]


def test_proxy_upstream_with_a_path_prefix(tmp_path):
    path = write_session(
        tmp_path / "s.jsonl",
        CONVERSATION[:2],
        upstream="wss://gateway.test/openai-proxy/v1/realtime?model=gpt-realtime",
    )
    plan = connection_plan(load_session(path))
    assert plan.url == "wss://gateway.test/openai-proxy/v1/realtime?model=gpt-realtime"


def test_parse_header():
    assert parse_header("Authorization:  Bearer x ") == ("Authorization", "Bearer x")
    assert parse_header("X-Empty:") == ("X-Empty", "")
    for bad in ("no colon", ": value", "Two Words: x"):
        with pytest.raises(InputError, match="header must look like 'Name: value'"):
            parse_header(bad)


def test_event_type_and_base64_size():
    assert event_type_of('{"type":"response.audio.delta","delta":""}') == (
        "response.output_audio.delta"
    )
    assert event_type_of('{"event_id":"e","type":"response.done"}') == "response.done"
    assert event_type_of("[1]") is None and event_type_of(b"{}") is None
    assert event_type_of('{"x":1}') is None and event_type_of("{broken") is None
    assert [base64_size(s) for s in ("", "AA==", "AAA=", "AAAA", None)] == [0, 1, 2, 3, 0]


def frame(t: float, direction: str, event: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "frame", "t": t, "from": direction, "event": event}


def test_summarise_claims_triggers_like_the_contract():
    facts = summarise_records(
        [
            {"kind": "session"},
            frame(1.0, "server", ev("input_audio_buffer.speech_stopped")),
            frame(1.1, "server", ev("response.created", response={"id": "r1"})),
            frame(1.4, "server", ev("response.audio.delta", response_id="r1")),
            frame(1.5, "server", ev("response.output_audio.delta", response_id="r1")),
            frame(1.9, "server", ev("response.done", response={"id": "r1", "status": "cancelled"})),
            frame(2.0, "client", ev("response.create")),
            frame(2.1, "server", ev("response.created", response={"id": "r2"})),
            frame(2.2, "server", ev("response.output_text.delta", response_id="r2")),
            frame(2.3, "server", ev("error", error={"type": "t", "code": "c", "message": "m"})),
            frame(2.4, "server", ev("response.created", response={"id": "r3"})),
            {"kind": "frame", "t": 2.5, "from": "server", "text": "not json"},
        ]
    )
    assert (facts.frames_from_client, facts.frames_from_server) == (1, 10)
    assert [
        (r.response_id, r.trigger, r.trigger_t, r.ttfb_ms, r.status) for r in facts.responses
    ] == [
        ("r1", "input_audio_buffer.speech_stopped", 1.0, 400.0, "cancelled"),
        ("r2", "response.create", 2.0, None, None),
        ("r3", None, None, None, None),
    ]
    assert [(e.type, e.code, e.message) for e in facts.errors] == [("t", "c", "m")]
    shorter = summarise_records([frame(0.0, "client", ev("response.create"))])
    rows = compare_responses(facts, shorter)
    assert [(r.index, r.replayed) for r in rows] == [(1, None), (2, None), (3, None)]
    assert rows[0].change_ms is None


# -- a long recording in little memory ----------------------------------------------------------


def test_a_loaded_recording_holds_an_index_not_its_payloads(tmp_path):
    """Each payload stays in the file until it is asked for: loading 40 MB of frames keeps a
    few bytes a frame (the old loader kept every payload, which took 1.3 GB for 1M frames)."""
    import tracemalloc

    audio = "A" * 2000
    frames = [
        (0.02 + i * 0.02, "client", {"type": "input_audio_buffer.append", "audio": audio})
        for i in range(20_000)
    ]
    path = write_session(tmp_path / "long.jsonl", frames)
    assert path.stat().st_size > 40e6
    tracemalloc.start()
    try:
        session = load_session(path, keep_payloads=("client",))
        schedule = replay_schedule(session, pace="timed", fast=True)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 100 * len(frames)  # bytes a frame: index and schedule, no payload
    assert len(schedule.sends) == len(frames)
    last = schedule.sends[-1]
    assert json.loads(last.frame.payload) == frames[-1][2]  # type: ignore[arg-type]
    assert base64_size(audio) * len(frames) == session.facts.input_audio_bytes  # type: ignore[union-attr]


def test_a_recording_changed_after_loading_is_an_input_error(tmp_path):
    path = write_session(tmp_path / "s.jsonl", [(0.1, "client", {"type": "response.create"})])
    session = load_session(path)
    path.write_text(path.read_text().replace('"kind":"frame"', '"kind":"frame" '))
    with pytest.raises(InputError, match=rf"{path}:3: the file changed since it was read"):
        session.frames[0].payload  # noqa: B018


def test_frames_of_a_recording_as_a_sequence(tmp_path):
    path = write_session(tmp_path / "s.jsonl", CONVERSATION)
    session = load_session(path, keep_payloads=("client",))
    frames = session.frames
    assert len(frames) == len(CONVERSATION) == len(list(frames))
    assert frames[-1] == frames[len(frames) - 1] and frames[1:3] == [frames[1], frames[2]]
    assert [f.t for f in frames] == [t for t, _, _ in CONVERSATION]
    assert {f.payload is None for f in frames if f.direction == "server"} == {True}
    assert frames.client_count == sum(1 for _, d, _ in CONVERSATION if d == "client")
    with pytest.raises(IndexError):
        frames[len(frames)]
