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
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
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
    RecordedFrames,
    RecordedSession,
    event_type_of,
    sendable_close_code,
)
from recorder.replay.recording import IndexedSequence

__all__ = [
    "ClientConnected",
    "ClientFinished",
    "Cue",
    "Cues",
    "Cursor",
    "MockRealtimeServer",
    "Playbook",
    "Replies",
    "Reply",
    "ServeEvent",
    "UnmatchedFrame",
    "incoming_key",
    "playbook_from",
]


# -- the playbook (pure) ------------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: one is made per frame sent, three times as fast
class Reply:
    """A recorded server frame (or the server's close), `delay` s after what it answers."""

    delay: float
    payload: str | bytes | None
    close: RecordedClose | None = None


class Replies(IndexedSequence[Reply]):
    """The server frames of a recording from `start` to `stop` (and then the server's close,
    if given), as replies `delay` s after `anchor`; each payload read when its reply is made."""

    def __init__(
        self,
        frames: RecordedFrames,
        start: int,
        stop: int,
        anchor: float,
        close: RecordedClose | None = None,
    ) -> None:
        self._frames = frames
        self._start = start
        self._stop = stop
        self._anchor = anchor
        self._close = close

    def __len__(self) -> int:
        return self._stop - self._start + (self._close is not None)

    def _item(self, index: int) -> Reply:
        position = self._start + index
        if position == self._stop:
            assert self._close is not None
            return Reply(max(0.0, self._close.t - self._anchor), None, self._close)
        delay = max(0.0, self._frames.t(position) - self._anchor)
        return Reply(delay, self._frames.payload(position))

    def __iter__(self) -> Iterator[Reply]:
        """Each reply, read in file order while the file stays open."""
        frames, anchor = self._frames, self._anchor
        if self._stop > self._start:
            with frames.reading() as read:
                for position in range(self._start, self._stop):
                    yield Reply(max(0.0, frames.t(position) - anchor), read(position))
        if self._close is not None:
            yield Reply(max(0.0, self._close.t - anchor), None, self._close)


@dataclass(frozen=True)
class Cue:
    """A recorded client frame and what the server sent after it, until the next client frame."""

    key: str  # canonical event type, or `text` / `binary`
    line: int
    audio_end: int  # audio bytes appended up to and including this frame
    replies: Sequence[Reply]


class Cues(IndexedSequence[Cue]):
    """The cues of a playbook, in order: a few numbers each in memory, a `Cue` made (and its
    replies read from the recording) when it is needed."""

    def __init__(self, session: RecordedSession) -> None:
        self._frames = session.frames
        self._close = session.close if session.close and session.close.by == "server" else None
        self.frame = array("q")  # the client frame of each cue, in the recording
        self.audio_end = array("q")
        self.by_key: dict[str, array[int]] = {}  # cue indices, in order, per key

    def add(self, frame_index: int, key: str, audio_end: int) -> None:
        self.by_key.setdefault(key, array("q")).append(len(self.frame))
        self.frame.append(frame_index)
        self.audio_end.append(audio_end)

    def __len__(self) -> int:
        return len(self.frame)

    def _item(self, index: int) -> Cue:
        frame = self._frames[self.frame[index]]
        last = index == len(self) - 1
        stop = len(self._frames) if last else self.frame[index + 1]
        replies = Replies(
            self._frames, self.frame[index] + 1, stop, frame.t, self._close if last else None
        )
        return Cue(_key(frame), frame.line, self.audio_end[index], replies)

    def __iter__(self) -> Iterator[Cue]:
        return (self[index] for index in range(len(self)))


@dataclass(frozen=True)
class Playbook:
    greeting: Sequence[Reply]  # server frames before the first client frame
    cues: Sequence[Cue]
    subprotocol: str | None
    source: str
    server_frames: int = 0

    def cue_keys(self) -> Mapping[str, Sequence[int]]:
        """The indices of the cues of each key, in order."""
        if isinstance(self.cues, Cues):
            return self.cues.by_key
        by_key: dict[str, list[int]] = defaultdict(list)
        for index, cue in enumerate(self.cues):
            by_key[cue.key].append(index)
        return by_key

    def audio_ends(self) -> Sequence[int]:
        if isinstance(self.cues, Cues):
            return self.cues.audio_end
        return [cue.audio_end for cue in self.cues]


def playbook_from(session: RecordedSession) -> Playbook:
    """Split a recording into the greeting and one cue per client frame (a few numbers each:
    replies are read from the recording as they are sent)."""
    if "server" not in session.frames.keep and session.frames.client_count < len(session.frames):
        raise InputError(f"{session.path}: the server payloads were not loaded")
    cues = Cues(session)
    audio = 0
    for index, _, from_client, event_type, audio_bytes in session.frames.outline():
        if from_client:
            audio += audio_bytes
            key = event_type if event_type is not None else session.frames[index].kind
            cues.add(index, key, audio)
    first_cue = cues.frame[0] if len(cues) else len(session.frames)
    close = session.close if session.close and session.close.by == "server" else None
    greeting = Replies(
        session.frames, 0, first_cue, session.start_t, close if not len(cues) else None
    )
    return Playbook(
        greeting=greeting,
        cues=cues,
        subprotocol=session.subprotocol,
        source=str(session.path),
        server_frames=len(session.frames) - session.frames.client_count,
    )


def _key(frame: RecordedFrame) -> str:
    return frame.event_type or frame.kind


class Cursor:
    """One client's progress through a playbook (pure: no clock, no I/O)."""

    def __init__(self, playbook: Playbook) -> None:
        self._by_key = playbook.cue_keys()
        self._audio_end = playbook.audio_ends()
        self._next: dict[str, int] = defaultdict(int)
        self.audio = 0

    def match(self, key: str, audio_bytes: int = 0) -> list[int] | None:
        """The cues an incoming frame reaches (maybe none yet); None if it matches nothing."""
        indices = self._by_key.get(key, ())
        position = self._next[key]
        if position >= len(indices):
            return None
        if key not in INPUT_AUDIO:
            self._next[key] = position + 1
            return [indices[position]]
        self.audio += audio_bytes
        end = position
        while end < len(indices) and self._audio_end[indices[end]] <= self.audio:
            end += 1
        self._next[key] = end
        return list(indices[position:end])


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
    # what to send: replies and when they are due from (read from the recording one by one)
    queue: asyncio.Queue[tuple[float, Sequence[Reply]]] = field(default_factory=asyncio.Queue)


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
        client.queue.put_nowait((loop.time(), self.playbook.greeting))
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
                    client.queue.put_nowait((arrived, cues[index].replies))
        except ConnectionClosed:
            pass

    async def _send_replies(self, ws: ServerConnection, client: _Client) -> None:
        loop = asyncio.get_running_loop()
        while True:
            anchor, replies = await client.queue.get()
            for reply in replies:
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
