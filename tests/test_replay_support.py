"""Helpers for the replay and serve tests: real exchanges recorded through the recording proxy.

A scripted client (`Client`) talks to the scripted Realtime server through `RecordingProxy`
(the `proxied` fixture of conftest.py); the proxy's session file is the recording the tests
replay or serve. The scenarios are short (well under a second) but keep real-time audio pacing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import ProxyStack, scaled
from scripted_server import Script, sine_pcm16
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from recorder.reading import iter_records
from recorder.vocabulary import canonical

GA_PATH = "/v1/realtime?model=gpt-realtime"
BETA_PATH = "/v1/realtime?model=gpt-4o-realtime-preview-2024-10-01"
AZURE_PATH = "/openai/realtime?api-version=2024-10-01-preview&deployment=gpt-4o-realtime-preview"
QUICK = Script(created_delay=0.005, first_delta_delay=0.02, response_audio_ms=200, delta_ms=100)


@dataclass
class Client:
    """A scripted Realtime client: sends events, paces audio in real time, waits for events."""

    ws: ClientConnection
    seen: list[dict[str, Any]] = field(default_factory=list)
    _queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)

    async def read_forever(self) -> None:
        with contextlib.suppress(Exception):
            async for message in self.ws:
                try:
                    event = json.loads(message)
                except ValueError:
                    continue  # an echoed text or binary frame
                if isinstance(event, dict):
                    self.seen.append(event)
                    self._queue.put_nowait(event)

    async def send(self, type_: str, **fields: Any) -> None:
        await self.ws.send(json.dumps({"type": type_, **fields}))

    async def send_text(self, text: str) -> None:
        await self.ws.send(text)

    async def until(self, type_: str, timeout: float = 5.0) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while True:
                event = await self._queue.get()
                if canonical(event["type"]) == canonical(type_):
                    return event

        return await asyncio.wait_for(wait(), scaled(timeout))

    async def speak(self, pcm16: bytes, chunk_ms: int = 20) -> None:
        """Append audio in `chunk_ms` chunks at the pace a microphone produces it."""
        step = chunk_ms * 48
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, offset in enumerate(range(0, len(pcm16), step)):
            chunk = base64.b64encode(pcm16[offset : offset + step]).decode()
            await self.send("input_audio_buffer.append", audio=chunk)
            await asyncio.sleep(max(0.0, start + (n + 1) * chunk_ms / 1000 - loop.time()))


Scenario = Callable[[Client], Awaitable[None]]


async def record_through(
    stack: ProxyStack,
    scenario: Scenario,
    path: str = GA_PATH,
    headers: Sequence[tuple[str, str]] = (),
    subprotocols: Sequence[str] = (),
) -> Path:
    """Run `scenario` through the stack's proxy; return the session file it wrote."""
    before = len(stack.proxy.finished)
    async with connect(
        stack.proxy.url + path,
        additional_headers=list(headers),
        subprotocols=[Subprotocol(s) for s in subprotocols] or None,
        max_size=None,
        compression=None,
    ) as ws:
        client = Client(ws)
        reader = asyncio.create_task(client.read_forever())
        await scenario(client)
        await ws.close(1000, "")
        await reader
    summaries = await stack.proxy.wait_for_sessions(before + 1, timeout=scaled(5))
    return summaries[-1].path


GA_NO_VAD = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
BETA_NO_VAD = {"turn_detection": None}


def push_to_talk(turns: int = 2, pause: float = 0.05, beta: bool = False) -> Scenario:
    """Audio appended and committed, then `response.create`; waits for `response.done`."""

    async def scenario(c: Client) -> None:
        await c.until("session.created")
        await c.send("session.update", session=BETA_NO_VAD if beta else GA_NO_VAD)
        await c.until("session.updated")
        for _ in range(turns):
            await asyncio.sleep(pause)
            await c.speak(sine_pcm16(100))
            await c.send("input_audio_buffer.commit")
            await c.send("response.create")
            await c.until("response.done")
        await asyncio.sleep(pause)

    return scenario


def server_vad(turns: int = 1) -> Scenario:
    """Speech then silence; the server's VAD detects the turn and answers by itself."""

    async def scenario(c: Client) -> None:
        await c.until("session.created")
        for _ in range(turns):
            await c.speak(bytes(48 * 60) + sine_pcm16(200) + bytes(48 * 300))
            await c.until("response.done")
        await asyncio.sleep(0.03)

    return scenario


def records(path: Path) -> list[dict[str, Any]]:
    return [record for _, record in iter_records(path)]


def events(path: Path, direction: str) -> list[dict[str, Any]]:
    """The JSON events of one direction of a session file, in order."""
    return [r["event"] for r in records(path) if r["kind"] == "frame" and r["from"] == direction]


def frame_times(path: Path, direction: str) -> list[float]:
    return [r["t"] for r in records(path) if r["kind"] == "frame" and r["from"] == direction]


def server_types(path: Path) -> list[str]:
    return [canonical(e["type"]) for e in events(path, "server")]


def without_event_id(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "event_id"}
