"""A mock Realtime server that plays the server side of a recording back.

    playbook_from(session)   pure: the greeting, and for each recorded client frame (a *cue*)
                             the server frames that followed it, with their delays
    Cursor                   pure: which cues an incoming client frame matches
    MockRealtimeServer       the asyncio shell: accept, match, send replies on time

An incoming frame matches the next unmatched cue of the same canonical type, so beta and GA
names, event ids and field values may differ. Audio appends (Realtime's and GPT-Live's) match
by audio position instead of by count: a cue's replies (`speech_started`, …) go out once the client has appended as much
audio as the recorded client had when they came, however it chunks its audio.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from recorder.errors import InputError
from recorder.interpretation import base64_size
from recorder.interpretation.layout import INPUT_AUDIO
from recorder.replay import (
    RecordedClose,
    RecordedFrame,
    RecordedSession,
    event_type_of,
    sendable_close_code,
)

__all__ = [
    "ClientConnected",
    "ClientFinished",
    "Cue",
    "Cursor",
    "MockRealtimeServer",
    "Playbook",
    "Reply",
    "ServeEvent",
    "UnmatchedFrame",
    "incoming_key",
    "playbook_from",
]


# -- the playbook (pure) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A recorded server frame (or the server's close), `delay` s after what it answers."""

    delay: float
    payload: str | bytes | None
    close: RecordedClose | None = None


@dataclass(frozen=True)
class Cue:
    """A recorded client frame and what the server sent after it, until the next client frame."""

    key: str  # canonical event type, or `text` / `binary`
    line: int
    audio_end: int  # audio bytes appended up to and including this frame
    replies: tuple[Reply, ...]


@dataclass(frozen=True)
class Playbook:
    greeting: tuple[Reply, ...]  # server frames before the first client frame
    cues: tuple[Cue, ...]
    subprotocol: str | None
    source: str

    @property
    def server_frames(self) -> int:
        replies = [*self.greeting, *(r for cue in self.cues for r in cue.replies)]
        return sum(1 for r in replies if r.close is None)


def playbook_from(session: RecordedSession) -> Playbook:
    """Split a recording into the greeting and one cue per client frame."""
    start = session.start_t
    greeting: list[Reply] = []
    cues: list[tuple[RecordedFrame, int, list[Reply]]] = []
    audio = 0
    for frame in session.frames:
        if frame.direction == "client":
            audio += frame.audio_bytes
            cues.append((frame, audio, []))
            continue
        if frame.payload is None:
            raise InputError(f"{session.path}: the server payloads were not loaded")
        anchor = cues[-1][0].t if cues else start
        replies = cues[-1][2] if cues else greeting
        replies.append(Reply(max(0.0, frame.t - anchor), frame.payload))
    close = session.close
    if close is not None and close.by == "server":
        anchor = cues[-1][0].t if cues else start
        (cues[-1][2] if cues else greeting).append(Reply(max(0.0, close.t - anchor), None, close))
    return Playbook(
        greeting=tuple(greeting),
        cues=tuple(Cue(_key(f), f.line, end, tuple(replies)) for f, end, replies in cues),
        subprotocol=session.subprotocol,
        source=str(session.path),
    )


def _key(frame: RecordedFrame) -> str:
    return frame.event_type or frame.kind


class Cursor:
    """One client's progress through a playbook (pure: no clock, no I/O)."""

    def __init__(self, playbook: Playbook) -> None:
        self._by_key: dict[str, list[int]] = defaultdict(list)
        for index, cue in enumerate(playbook.cues):
            self._by_key[cue.key].append(index)
        self._next: dict[str, int] = defaultdict(int)
        self._cues = playbook.cues
        self.audio = 0

    def match(self, key: str, audio_bytes: int = 0) -> list[int] | None:
        """The cues an incoming frame reaches (maybe none yet); None if it matches nothing."""
        indices = self._by_key.get(key, [])
        position = self._next[key]
        if position >= len(indices):
            return None
        if key not in INPUT_AUDIO:
            self._next[key] = position + 1
            return [indices[position]]
        self.audio += audio_bytes
        end = position
        while end < len(indices) and self._cues[indices[end]].audio_end <= self.audio:
            end += 1
        self._next[key] = end
        return indices[position:end]


def incoming_key(message: str | bytes) -> tuple[str, int]:
    """The match key of a frame a client sent, and the audio it appends."""
    if isinstance(message, bytes):
        return "binary", 0
    kind = event_type_of(message)
    if kind is None:
        return "text", 0
    if kind not in INPUT_AUDIO:
        return kind, 0
    try:
        event = json.loads(message)
    except ValueError:
        return kind, 0
    return kind, base64_size(event.get("audio")) if isinstance(event, dict) else 0


# -- what the server reports ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClientConnected:
    client: str  # host:port of the peer
    path: str
    subprotocol: str | None


@dataclass(frozen=True)
class UnmatchedFrame:
    client: str
    key: str
    index: int  # 1-based position among the frames this client sent


@dataclass(frozen=True)
class ClientFinished:
    client: str
    path: str
    frames_in: int
    frames_out: int
    unmatched: int
    closed_by: str  # "client" or "server"
    code: int | None
    reason: str
    duration_s: float


ServeEvent = ClientConnected | UnmatchedFrame | ClientFinished


# -- the asyncio shell ----------------------------------------------------------------------------


@dataclass
class _Client:
    name: str
    path: str
    started: float
    frames_in: int = 0
    frames_out: int = 0
    unmatched: int = 0
    closed_by_server: bool = False
    queue: asyncio.Queue[tuple[float, Reply]] = field(default_factory=asyncio.Queue)


class MockRealtimeServer:
    """`async with MockRealtimeServer(playbook) as server:` then point a client at `server.url`.

    Every connection gets its own cursor, at any path. `events` receives a `ServeEvent` for each
    client that connects, each frame that matches nothing, and each client that leaves.
    """

    def __init__(
        self,
        playbook: Playbook,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        speed: float = 1.0,
        fast: bool = False,
        on_event: Callable[[ServeEvent], None] | None = None,
    ) -> None:
        if not speed > 0:
            raise InputError(f"speed must be greater than 0, not {speed:g}")
        self.playbook = playbook
        self.host = host
        self.port = port
        self.scale = 0.0 if fast else 1.0 / speed
        self.events: asyncio.Queue[ServeEvent] = asyncio.Queue()
        self._on_event = on_event
        self._server: Server | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    async def __aenter__(self) -> MockRealtimeServer:
        try:
            self._server = await serve(
                self._handle,
                self.host,
                self.port,
                max_size=None,
                compression=None,
                select_subprotocol=self._select_subprotocol,
            )
        except OSError as exc:
            raise InputError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening and close every connection (1001, going away)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def next_finished(self) -> ClientFinished:
        """Wait for the next client to leave (the other events are skipped)."""
        while True:
            event = await self.events.get()
            if isinstance(event, ClientFinished):
                return event

    def _emit(self, event: ServeEvent) -> None:
        self.events.put_nowait(event)
        if self._on_event is not None:
            self._on_event(event)

    def _select_subprotocol(
        self, conn: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        chosen = self.playbook.subprotocol
        return Subprotocol(chosen) if chosen is not None and chosen in offered else None

    async def _handle(self, ws: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        path = ws.request.path if ws.request is not None else "/"
        peer = ws.remote_address
        name = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        client = _Client(name, path, time.monotonic())
        self._emit(ClientConnected(name, path, ws.subprotocol))
        opened = loop.time()
        for reply in self.playbook.greeting:
            client.queue.put_nowait((opened, reply))
        sender = asyncio.create_task(self._send_replies(ws, client))
        try:
            await self._receive(ws, client, loop)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            self._emit(_finished(ws, client))

    async def _receive(
        self, ws: ServerConnection, client: _Client, loop: asyncio.AbstractEventLoop
    ) -> None:
        cursor = Cursor(self.playbook)
        cues = self.playbook.cues
        try:
            async for message in ws:
                arrived = loop.time()
                client.frames_in += 1
                key, audio = incoming_key(message)
                matched = cursor.match(key, audio)
                if matched is None:
                    client.unmatched += 1
                    self._emit(UnmatchedFrame(client.name, key, client.frames_in))
                    continue
                for index in matched:
                    for reply in cues[index].replies:
                        client.queue.put_nowait((arrived, reply))
        except ConnectionClosed:
            pass

    async def _send_replies(self, ws: ServerConnection, client: _Client) -> None:
        loop = asyncio.get_running_loop()
        while True:
            anchor, reply = await client.queue.get()
            delay = anchor + reply.delay * self.scale - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if reply.close is not None:
                client.closed_by_server = True
                await _close_like(ws, reply.close)
                return
            assert reply.payload is not None
            try:
                await ws.send(reply.payload)
            except ConnectionClosed:
                return
            client.frames_out += 1


async def _close_like(ws: ServerConnection, close: RecordedClose) -> None:
    """Close the way the recorded server did: with its code and reason, or by dropping."""
    if close.code is None or close.code == 1006:
        ws.transport.abort()
        return
    await ws.close(sendable_close_code(close.code), close.reason)


def _finished(ws: ServerConnection, client: _Client) -> ClientFinished:
    received = ws.protocol.close_rcvd
    sent = ws.protocol.close_sent
    by_server = client.closed_by_server or (
        sent is not None and (received is None or not ws.protocol.close_rcvd_then_sent)
    )
    close = sent if by_server else received
    return ClientFinished(
        client=client.name,
        path=client.path,
        frames_in=client.frames_in,
        frames_out=client.frames_out,
        unmatched=client.unmatched,
        closed_by="server" if by_server else "client",
        code=None if close is None else close.code,
        reason="" if close is None else close.reason,
        duration_s=time.monotonic() - client.started,
    )
