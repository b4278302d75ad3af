"""`recorder.replay` end to end: recordings made through the proxy, replayed to real servers."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from conftest import scaled
from scripted_server import Script, ScriptedRealtimeServer
from test_replay_support import (
    AZURE_PATH,
    QUICK,
    Client,
    events,
    frame_times,
    push_to_talk,
    record_through,
    records,
    server_types,
    without_event_id,
)
from websockets.asyncio.server import ServerConnection, serve

from recorder.errors import UpstreamError
from recorder.replay import (
    ReplayResult,
    ReplayStopped,
    ReplayTimeout,
    connection_plan,
    load_session,
    replay_schedule,
    run_replay,
)

pytestmark = pytest.mark.slow  # rt replay against real servers

SLOW = Script(created_delay=0.005, first_delta_delay=0.4, response_audio_ms=200, delta_ms=100)


async def replay_to(
    original: Path,
    target: str | None,
    out: Path,
    *,
    pace: str = "reactive",
    fast: bool = False,
    timeout: float = 5.0,
    environ: dict[str, str] | None = None,
) -> ReplayResult:
    session = load_session(original, keep_payloads=("client",))
    schedule = replay_schedule(session, pace=pace, fast=fast)  # type: ignore[arg-type]
    plan = connection_plan(session, target, environ=environ or {})
    return await run_replay(schedule, plan, out, source=original, timeout=scaled(timeout))


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_replay_resends_every_client_frame_byte_for_byte(run, proxied, tmp_path):
    async def scenario() -> tuple[Path, ReplayResult, list[Any], list[Any]]:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk())
            # no --target: the recorded upstream (the scripted server behind the proxy)
            result = await replay_to(original, None, tmp_path / "replays")
            first, second = stack.server.connections
            return original, result, first.received, second.received

    original, result, sent_by_client, sent_by_replay = run(scenario())
    assert result.stopped is None
    assert sent_by_replay == sent_by_client
    replayed = result.recording.path
    assert replayed.parent == tmp_path / "replays"
    assert [without_event_id(e) for e in events(replayed, "client")] == [
        without_event_id(e) for e in events(original, "client")
    ]
    assert server_types(replayed) == server_types(original)
    assert result.frames_sent == result.frames_planned == len(sent_by_client)
    kinds = [r["kind"] for r in records(replayed)]
    assert kinds[:2] == ["session", "open"] and kinds[-1] == "close"
    assert records(replayed)[-1]["by"] == "client" and records(replayed)[-1]["code"] == 1000


def test_timed_replay_keeps_client_gaps_within_20_ms(run, proxied, tmp_path):
    async def scenario() -> tuple[Path, ReplayResult]:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk(pause=0.08))
            return original, await replay_to(original, None, tmp_path, pace="timed")

    original, result = run(scenario())
    assert result.stopped is None
    recorded = gaps(frame_times(original, "client"))
    replayed = gaps(frame_times(result.recording.path, "client"))
    assert len(recorded) == len(replayed) > 10
    worst = max(abs(a - b) for a, b in zip(recorded, replayed, strict=True))
    assert worst < 0.020, f"worst gap error {worst * 1000:.1f} ms"


def test_reactive_replay_waits_for_response_done_of_a_slower_server(run, proxied, tmp_path):
    async def scenario() -> tuple[Path, ReplayResult, ReplayResult]:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk(turns=2))
        async with ScriptedRealtimeServer(SLOW) as slow:
            reactive = await replay_to(original, slow.url, tmp_path / "reactive")
            timed = await replay_to(original, slow.url, tmp_path / "timed", pace="timed")
        return original, reactive, timed

    original, reactive, timed = run(scenario())
    assert reactive.stopped is None
    path = reactive.recording.path
    frames = [r for r in records(path) if r["kind"] == "frame"]
    done_at = [r["t"] for r in frames if r.get("event", {}).get("type") == "response.done"]
    assert len(done_at) == 2
    after_first = [r for r in frames if r["from"] == "client" and r["t"] > done_at[0]]
    # the second turn (its audio, commit and response.create) went out after the slow answer
    assert [r["event"]["type"] for r in after_first].count("response.create") == 1
    # ...and no earlier than the recorded pause after it
    recorded_frames = [r for r in records(original) if r["kind"] == "frame"]
    recorded_done = next(
        r["t"] for r in recorded_frames if r.get("event", {}).get("type") == "response.done"
    )
    recorded_next = next(
        r["t"] for r in recorded_frames if r["from"] == "client" and r["t"] > recorded_done
    )
    assert after_first[0]["t"] - done_at[0] >= recorded_next - recorded_done - 0.002
    assert not [e for e in events(path, "server") if e["type"] == "error"]
    # without waiting, the second response.create reaches the slow server mid-answer
    timed_errors = [e for e in events(timed.recording.path, "server") if e["type"] == "error"]
    assert [e["error"]["code"] for e in timed_errors] == [
        "conversation_already_has_active_response"
    ]


async def _silent_after_greeting(ws: ServerConnection) -> None:
    await ws.send(json.dumps({"type": "session.created", "event_id": "e1", "session": {}}))
    async for _ in ws:
        pass  # never answers


def test_a_server_that_never_answers_times_out_with_a_complete_file(run, proxied, tmp_path):
    async def scenario() -> tuple[Path, ReplayResult]:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk(turns=1))
        async with serve(_silent_after_greeting, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            result = await replay_to(original, f"ws://127.0.0.1:{port}", tmp_path, timeout=0.3)
        return original, result

    original, result = run(scenario())
    assert isinstance(result.stopped, ReplayTimeout)
    message = str(result.stopped)
    assert message.startswith("replay timed out after 0.3 s before client frame 2 of ")
    assert "(input_audio_buffer.append, " in message and f"{original}:" in message
    assert "the server sent 0 of 1 session.updated" in message
    assert "--pace timed" in message
    lines = records(result.recording.path)  # every line parses: the file is complete
    assert [r["kind"] for r in lines[-2:]] == ["error", "close"]
    assert lines[-2]["message"] == message
    assert lines[-1]["by"] == "client"
    assert result.frames_sent == 1  # session.update went out, then the replay stopped


async def _close_on_first_frame(ws: ServerConnection) -> None:
    await ws.send(json.dumps({"type": "session.created", "event_id": "e1", "session": {}}))
    await ws.recv()
    await ws.close(1011, "boom")


def test_a_server_closing_early_stops_the_replay(run, proxied, tmp_path):
    async def scenario() -> ReplayResult:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk(turns=1))
        async with serve(_close_on_first_frame, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            return await replay_to(original, f"ws://127.0.0.1:{port}", tmp_path, pace="timed")

    result = run(scenario())
    assert isinstance(result.stopped, ReplayStopped)
    assert "the server closed with 1011 'boom' before client frame 2 of" in str(result.stopped)
    # in the order it happened: the server closed, then the replay noticed
    close, error = records(result.recording.path)[-2:]
    assert close == {**close, "kind": "close", "by": "server", "code": 1011, "reason": "boom"}
    assert error == {**error, "kind": "error", "message": str(result.stopped)}


def test_a_refused_handshake_raises_and_writes_no_file(run, proxied, tmp_path):
    out = tmp_path / "replays"

    async def scenario() -> None:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk(turns=1))
        async with ScriptedRealtimeServer(Script(refuse_status=401)) as refusing:
            await replay_to(original, refusing.url, out)

    with pytest.raises(UpstreamError, match="refused the connection: HTTP 401$"):
        run(scenario())
    assert not out.exists() or list(out.iterdir()) == []


def test_nothing_listening_writes_no_file(run, proxied, tmp_path):
    out = tmp_path / "replays"

    async def scenario() -> None:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk(turns=1))
        with socket.socket() as closed:  # a port that was free a moment ago
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        await replay_to(original, f"ws://127.0.0.1:{port}", out)

    with pytest.raises(UpstreamError, match="cannot connect to ws://127.0.0.1:"):
        run(scenario())
    assert not out.exists() or list(out.iterdir()) == []


def test_the_open_line_keeps_the_time_the_handshake_took(run, proxied, tmp_path):
    async def scenario() -> ReplayResult:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk(turns=1))
            return await replay_to(original, None, tmp_path / "replays")

    result = run(scenario())
    opened = records(result.recording.path)[1]
    assert opened["kind"] == "open" and opened["t"] > 0  # t = 0 is when the replay dialled


def test_azure_beta_recording_replays_without_its_secrets(run, proxied, tmp_path):
    secrets = ("azure-header-secret", "query-secret", "sk-from-env")

    async def scenario() -> tuple[Path, ReplayResult, list[tuple[str, str]], str]:
        script = Script(**{**QUICK.__dict__, "require_credentials": True})
        async with proxied(script) as stack:
            original = await record_through(
                stack,
                push_to_talk(turns=1, beta=True),
                path=AZURE_PATH + "&api-key=query-secret",
                headers=[("api-key", "azure-header-secret")],
            )
            result = await replay_to(
                original, None, tmp_path, environ={"OPENAI_API_KEY": "sk-from-env"}
            )
            upstream = stack.server.connections[-1]
            return original, result, upstream.headers, upstream.path

    original, result, headers, path = run(scenario())
    assert result.stopped is None
    assert path == AZURE_PATH  # the redacted api-key parameter is not re-sent
    names = {name.lower(): value for name, value in headers}
    assert names["authorization"] == "Bearer sk-from-env" and "api-key" not in names
    assert "response.audio.delta" in {e["type"] for e in events(result.recording.path, "server")}
    assert [without_event_id(e) for e in events(result.recording.path, "client")] == [
        without_event_id(e) for e in events(original, "client")
    ]
    for path_ in (original, result.recording.path):
        text = path_.read_text()
        assert not [s for s in secrets if s in text]


def test_browser_subprotocols_are_offered_again_without_the_key(run, proxied, tmp_path):
    offered = ["realtime", "openai-insecure-api-key.sk-browser-key", "openai-beta.realtime-v1"]

    async def scenario() -> tuple[ReplayResult, list[tuple[str, str]]]:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk(turns=1), subprotocols=offered)
            result = await replay_to(original, None, tmp_path, environ={"OPENAI_API_KEY": "k"})
            return result, stack.server.connections[-1].headers

    result, headers = run(scenario())
    assert result.stopped is None
    sent = [v for n, v in headers if n.lower() == "sec-websocket-protocol"]
    assert sent == ["realtime, openai-beta.realtime-v1"]
    opened = next(r for r in records(result.recording.path) if r["kind"] == "open")
    assert opened["subprotocol"] == "realtime"
    assert "sk-browser-key" not in result.recording.path.read_text()


def test_text_binary_and_unusual_json_go_out_exactly_as_recorded(run, proxied, tmp_path):
    unusual = '{ "type" : "fake.echo",  "note": "caf\\u00e9 \\ud83d\\ude00", "n": 1.50 }'

    async def exotic(c: Client) -> None:
        await c.until("session.created")
        await c.send_text(unusual)
        await c.send_text("plain text, not JSON")
        await c.ws.send(b"\x00\x01binary\xff")
        await c.send_text('{"type":"fake.echo"}')
        await c.until("fake.echo")
        await asyncio.sleep(0.05)

    async def scenario() -> tuple[list[Any], list[Any]]:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, exotic)
            result = await replay_to(original, None, tmp_path)
            assert result.stopped is None
            first, second = stack.server.connections
            return first.received, second.received

    recorded, replayed = run(scenario())
    assert replayed == recorded
    assert replayed[0] == unusual and replayed[2] == b"\x00\x01binary\xff"


@pytest.mark.parametrize("pace", ["reactive", "timed"])
def test_fast_replay_sends_everything_without_gaps(run, proxied, tmp_path, pace):
    async def scenario() -> tuple[Path, ReplayResult]:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk(turns=1, pause=0.1))
            return original, await replay_to(original, None, tmp_path, pace=pace, fast=True)

    original, result = run(scenario())
    assert result.stopped is None
    recorded = frame_times(original, "client")
    replayed = frame_times(result.recording.path, "client")
    assert len(replayed) == len(recorded)
    assert replayed[-1] - replayed[0] < (recorded[-1] - recorded[0]) / 2


def test_a_recording_the_server_ended_ends_the_same_way_without_error(run, proxied, tmp_path):
    async def dropped(c: Client) -> None:
        await c.until("session.created")
        await c.send("session.update", session={})
        await c.until("session.updated")
        await c.send("fake.drop")
        await asyncio.sleep(0.05)

    async def scenario() -> tuple[Path, ReplayResult]:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, dropped)
            return original, await replay_to(original, None, tmp_path)

    original, result = run(scenario())
    assert result.stopped is None
    assert records(original)[-1] == {**records(original)[-1], "by": "server", "code": 1006}
    close = records(result.recording.path)[-1]
    assert close == {**close, "kind": "close", "by": "server", "code": 1006, "reason": ""}
