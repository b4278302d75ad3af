"""`recorder.serve`: recordings made through the proxy, played back to real clients."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import scaled
from openai import AsyncOpenAI
from scripted_server import sine_pcm16
from test_replay import replay_to
from test_replay_support import (
    BETA_PATH,
    QUICK,
    Client,
    events,
    push_to_talk,
    record_through,
    server_types,
    server_vad,
    without_event_id,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from recorder.errors import InputError
from recorder.replay import load_session
from recorder.serve import (
    ClientConnected,
    ClientFinished,
    Cursor,
    MockRealtimeServer,
    Playbook,
    UnmatchedFrame,
    playbook_from,
)
from recorder.vocabulary import canonical

pytestmark = pytest.mark.slow  # rt serve with real clients


def playbook(path: Path) -> Playbook:
    return playbook_from(load_session(path, keep_payloads=("server",)))


def client_texts(path: Path) -> list[str | bytes]:
    return [f.payload for f in load_session(path, keep_payloads=("client",)).client_frames]  # type: ignore[misc]


async def collect(ws: ClientConnection, count: int, timeout: float = 5.0) -> list[str]:
    """The types of the next `count` events the server sends."""
    types: list[str] = []

    async def read() -> None:
        while len(types) < count:
            types.append(canonical(json.loads(await ws.recv())["type"]))

    await asyncio.wait_for(read(), scaled(timeout))
    return types


async def drain(ws: ClientConnection, quiet: float = 0.03) -> list[str]:
    """The types of what the server sends until it is quiet for `quiet` s."""
    types: list[str] = []
    while True:
        try:
            message = await asyncio.wait_for(ws.recv(), quiet)
        except asyncio.TimeoutError:
            return types
        types.append(canonical(json.loads(message)["type"]))


def test_openai_sdk_client_receives_the_recorded_server_events(run, proxied):
    async def scenario() -> tuple[list[str], list[str], list[Any]]:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk())
        expected = server_types(original)
        async with MockRealtimeServer(playbook(original), fast=True) as server:
            client = AsyncOpenAI(api_key="sk-test", websocket_base_url=server.url + "/v1")
            got: list[str] = []
            async with client.realtime.connect(model="gpt-realtime") as conn:
                for event in events(original, "client"):
                    await conn.send(event)  # type: ignore[arg-type]

                async def read() -> None:
                    async for event in conn:
                        got.append(event.type)
                        if len(got) == len(expected):
                            return

                await asyncio.wait_for(read(), scaled(5))
            finished = await asyncio.wait_for(server.next_finished(), scaled(5))
            reported = [finished]
        return got, expected, reported

    got, expected, (finished,) = run(scenario())
    assert [canonical(t) for t in got] == expected
    assert finished.path == "/v1/realtime?model=gpt-realtime"
    assert finished.unmatched == 0 and finished.closed_by == "client"
    assert finished.frames_out == len(expected)


def test_replies_keep_their_recorded_delays(run, proxied):
    async def scenario() -> tuple[list[float], list[float]]:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk(turns=1))
        book = playbook(original)
        create = next(c for c in book.cues if c.key == "response.create")
        recorded = [r.delay for r in create.replies]
        measured: list[float] = []
        async with MockRealtimeServer(book) as server, connect(server.url) as ws:
            loop = asyncio.get_running_loop()
            for text in client_texts(original):
                await ws.send(text)
                sent = loop.time()
            while len(measured) < book.server_frames:
                await asyncio.wait_for(ws.recv(), scaled(5))
                measured.append(loop.time() - sent)
        return recorded, measured[-len(recorded) :]

    recorded, measured = run(scenario())
    assert len(recorded) > 10
    worst = max(abs(a - b) for a, b in zip(recorded, measured, strict=True))
    assert worst < 0.015, f"worst delay error {worst * 1000:.1f} ms"


@pytest.mark.parametrize("chunk_ms", [40, 560])
def test_audio_appends_match_by_audio_position_whatever_the_chunking(run, proxied, chunk_ms):
    """The recording appended 20 ms chunks; VAD events follow the same amount of audio."""
    audio = bytes(48 * 60) + sine_pcm16(200) + bytes(48 * 300)

    async def scenario() -> tuple[list[str], list[list[str]], int]:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, server_vad())
        book = playbook(original)
        started_after = next(
            cue.audio_end
            for cue in book.cues
            if any(r.payload and "speech_started" in str(r.payload) for r in cue.replies)
        )
        after_each: list[list[str]] = []
        async with MockRealtimeServer(book, fast=True) as server, connect(server.url) as ws:
            await collect(ws, len(book.greeting))
            step = chunk_ms * 48
            for offset in range(0, len(audio), step):
                chunk = base64.b64encode(audio[offset : offset + step]).decode()
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
                after_each.append(await drain(ws))
        return server_types(original), after_each, started_after

    recorded, after_each, started_after = run(scenario())
    step = chunk_ms * 48
    reaching = next(i for i in range(len(after_each)) if (i + 1) * step >= started_after)
    assert not any("input_audio_buffer.speech_started" in got for got in after_each[:reaching])
    assert "input_audio_buffer.speech_started" in after_each[reaching]
    greeting = recorded[: recorded.index("input_audio_buffer.speech_started")]
    assert greeting + [t for got in after_each for t in got] == recorded


def test_unmatched_frames_are_reported_and_answered_by_nothing(run, proxied):
    async def scenario() -> tuple[list[Any], list[str]]:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk(turns=1))
        reported: list[Any] = []
        book = playbook(original)
        async with MockRealtimeServer(book, fast=True, on_event=reported.append) as server:
            async with connect(server.url + "/anything/at/all?x=1") as ws:
                await collect(ws, len(book.greeting))
                await ws.send(json.dumps({"type": "conversation.item.delete", "item_id": "i"}))
                await ws.send("free text")
                await ws.send(json.dumps({"type": "session.update", "session": {}}))
                answered = await drain(ws, quiet=0.1)
            await asyncio.wait_for(server.next_finished(), scaled(5))
        return reported, answered

    reported, answered = run(scenario())
    assert answered == ["session.updated"]
    connected, delete, text, finished = reported
    assert isinstance(connected, ClientConnected) and connected.path == "/anything/at/all?x=1"
    assert (delete, text) == (
        UnmatchedFrame(connected.client, "conversation.item.delete", 1),
        UnmatchedFrame(connected.client, "text", 2),
    )
    assert isinstance(finished, ClientFinished) and finished.unmatched == 2
    assert (finished.frames_in, finished.frames_out) == (3, len(answered) + 1)


def test_many_clients_each_get_their_own_cursor(run, proxied):
    async def scenario() -> tuple[list[str], list[list[str]]]:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk())
        expected = server_types(original)
        texts = client_texts(original)

        async def one_client(url: str) -> list[str]:
            async with connect(url) as ws:
                for text in texts:
                    await ws.send(text)
                return await collect(ws, len(expected))

        async with MockRealtimeServer(playbook(original), speed=4) as server:
            got = await asyncio.gather(*(one_client(server.url) for _ in range(3)))
        return expected, list(got)

    expected, got = run(scenario())
    assert got == [expected] * 3


def test_closes_the_way_the_recorded_server_closed(run, proxied):
    async def closing(c: Client) -> None:
        await c.until("session.created")
        await c.send("session.update", session={})
        await c.until("session.updated")
        await c.send("fake.close", code=4001, reason="bye")
        await asyncio.sleep(0.05)

    async def dropping(c: Client) -> None:
        await c.until("session.created")
        await c.send("fake.drop")
        await asyncio.sleep(0.05)

    async def played(book: Playbook) -> tuple[int | None, str, ClientFinished]:
        async with MockRealtimeServer(book, fast=True) as server:
            async with connect(server.url) as ws:
                await ws.send(json.dumps({"type": "session.update", "session": {}}))
                await ws.send(json.dumps({"type": "fake.close"}))
                await ws.send(json.dumps({"type": "fake.drop"}))
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), scaled(5))
                except ConnectionClosed:
                    pass
                code, reason = ws.close_code, ws.close_reason or ""
            finished = await asyncio.wait_for(server.next_finished(), scaled(5))
        return code, reason, finished

    async def scenario() -> list[tuple[int | None, str, ClientFinished]]:
        async with proxied(QUICK) as stack:
            closed = await record_through(stack, closing)
            dropped = await record_through(stack, dropping)
        return [await played(playbook(closed)), await played(playbook(dropped))]

    (code, reason, finished), (drop_code, _, drop_finished) = run(scenario())
    assert (code, reason) == (4001, "bye")
    assert (finished.closed_by, finished.code, finished.reason) == ("server", 4001, "bye")
    assert drop_code == 1006 and drop_finished.closed_by == "server"


def test_picks_the_recorded_subprotocol_when_offered(run, proxied):
    async def scenario() -> tuple[str | None, str | None]:
        async with proxied(QUICK) as stack:
            original = await record_through(
                stack, push_to_talk(turns=1), subprotocols=["realtime", "openai-beta.realtime-v1"]
            )
        async with MockRealtimeServer(playbook(original), fast=True) as server:
            offered = [Subprotocol("openai-beta.realtime-v1"), Subprotocol("realtime")]
            async with connect(server.url, subprotocols=offered) as ws:
                chosen = ws.subprotocol
            async with connect(server.url) as ws:
                none = ws.subprotocol
        return chosen, none

    assert run(scenario()) == ("realtime", None)


def test_beta_recording_plays_back_with_beta_names(run, proxied):
    async def scenario() -> tuple[Path, list[str]]:
        async with proxied(QUICK) as stack:
            original = await record_through(
                stack,
                push_to_talk(turns=1, beta=True),
                path=BETA_PATH,
                headers=[("OpenAI-Beta", "realtime=v1")],
            )
        recorded = [e["type"] for e in events(original, "server")]
        server = MockRealtimeServer(playbook(original), fast=True)
        async with server, connect(server.url + BETA_PATH) as ws:
            for text in client_texts(original):
                await ws.send(text)
            raw: list[str] = []
            while len(raw) < len(recorded):
                raw.append(json.loads(await asyncio.wait_for(ws.recv(), scaled(5)))["type"])
        return original, raw

    original, got = run(scenario())
    assert got == [e["type"] for e in events(original, "server")]
    assert "response.audio.delta" in got and "conversation.created" in got


@pytest.mark.parametrize("pace", ["reactive", "timed"])
def test_rt_replay_against_rt_serve_reproduces_the_conversation(run, proxied, tmp_path, pace):
    async def scenario() -> tuple[Path, Path]:
        async with proxied(QUICK) as stack:
            original = await record_through(stack, push_to_talk())
        async with MockRealtimeServer(playbook(original)) as server:
            result = await replay_to(original, server.url, tmp_path, pace=pace)
            assert result.stopped is None, result.stopped
        return original, result.recording.path

    original, replayed = run(scenario())
    assert [without_event_id(e) for e in events(replayed, "client")] == [
        without_event_id(e) for e in events(original, "client")
    ]
    assert events(replayed, "server") == events(original, "server")


def test_playbook_and_cursor(tmp_path):
    from test_replay_schedule import APPEND, CONVERSATION, write_session

    path = write_session(tmp_path / "s.jsonl", CONVERSATION, close=(1.3, "server", 4000, "x"))
    book = playbook(path)
    assert len(book.greeting) == 1 and book.greeting[0].delay == pytest.approx(0.01)
    assert [c.key for c in book.cues] == [
        "session.update",
        *["input_audio_buffer.append"] * 3,
        "input_audio_buffer.commit",
        "response.create",
        "response.create",
    ]
    assert [c.audio_end for c in book.cues] == [0, 720, 1440, 2160, 2160, 2160, 2160]
    last = book.cues[-1].replies
    assert last[-1].close is not None and last[-1].delay == pytest.approx(0.4)
    assert book.server_frames == 10
    cursor = Cursor(book)
    assert cursor.match("response.create") == [5]
    assert cursor.match("session.update") == [0]
    assert cursor.match("input_audio_buffer.append", 700) == []
    assert cursor.match("input_audio_buffer.append", 800) == [1, 2]
    assert cursor.match("input_audio_buffer.append", 10_000) == [3]
    assert cursor.match("input_audio_buffer.append", 720) is None
    assert cursor.match("response.create") == [6]
    assert cursor.match("response.create") is None
    assert cursor.match("conversation.item.delete") is None
    assert APPEND["type"] == "input_audio_buffer.append"


def test_server_option_errors(run, tmp_path):
    from test_replay_schedule import CONVERSATION, write_session

    book = playbook(write_session(tmp_path / "s.jsonl", CONVERSATION))
    with pytest.raises(InputError, match="speed must be greater than 0"):
        MockRealtimeServer(book, speed=0)

    async def twice() -> None:
        async with MockRealtimeServer(book) as first, MockRealtimeServer(book, port=first.port):
            pass

    with pytest.raises(InputError, match=r"cannot listen on 127\.0\.0\.1:\d+: "):
        run(twice())


def test_a_long_recording_is_served_from_the_file(run, tmp_path):
    """The playbook of 40 MB of frames holds a few numbers a frame; each reply is read from
    the file as it is sent, and arrives exactly as recorded."""
    import tracemalloc

    from test_replay_schedule import write_session

    delta = {"type": "response.output_audio.delta", "response_id": "r", "delta": "A" * 2000}
    frames: list[tuple[float, str, Any]] = [(0.02, "server", {"type": "session.created"})]
    frames.append((0.03, "client", {"type": "response.create"}))
    frames += [(0.04 + i * 1e-4, "server", {**delta, "n": i}) for i in range(20_000)]
    path = write_session(tmp_path / "long.jsonl", frames, close=(3.0, "server", 1000, "bye"))
    tracemalloc.start()
    try:
        book = playbook(path)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 100 * len(frames)
    assert len(book.greeting) == 1 and len(book.cues[0].replies) == 20_000 + 1  # and the close

    async def converse() -> list[str]:
        async with (
            MockRealtimeServer(book, fast=True) as server,
            connect(server.url, max_size=None) as ws,
        ):
            received = [await ws.recv()]
            await ws.send(json.dumps({"type": "response.create"}))
            received += [message async for message in ws]  # until the recorded close
            assert ws.close_code == 1000 and ws.close_reason == "bye"
        return [str(message) for message in received]

    received = run(converse())
    assert [json.loads(m) for m in received] == [event for _, d, event in frames if d == "server"]
