"""One direction of a proxied connection: forward bytes, record messages (the hot path).

After the upgrade the proxy relays bytes, not messages: what one read brings is written to the
other leg as it came, the client's masks and fragmentation included, and only then are the
frames in it read for the recording (recorder/wire.py finds them, recording.py records them).
`t` is taken when the read arrives, before forwarding. A frame whose end has not arrived yet is
held back until it is whole (the receiver could not use it sooner), so that the proxy can always
put a close frame of its own between two frames; a frame above 1 MiB goes on in pieces as they
come, so that memory stays bounded.

A message is recorded when its last frame arrives. Its size is taken from the write budget as
each of its frames starts, before the frame is forwarded, so that --strict can refuse a frame
that would go unrecorded before any of it reaches the other side; a message above the largest
recorded size (`max_frame_bytes`) is forwarded but not recorded, and the file says so.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from recorder.recording import Recording
from recorder.session import Direction
from recorder.store import FELL_BEHIND
from recorder.wire import (
    CLOSE,
    DEFAULT_STREAM_ABOVE,
    STREAM_FIRST,
    STREAM_LAST,
    TEXT,
    WHOLE,
    FrameCutter,
    close_frame,
    close_payload,
    unmask,
)


def too_large_reason(limit: int) -> str:
    return f"larger than the largest recorded frame ({limit / 2**20:g} MiB)"


class Leg(Protocol):
    """Where a relay writes: one side's connection."""

    lost: bool

    def write(self, data: bytes | bytearray | memoryview) -> None: ...


class Owner(Protocol):
    """What a relay tells the connection it belongs to."""

    def close_frame(
        self, direction: Direction, code: int, reason: str, *, forwarded: bool
    ) -> None: ...

    def close_sent_to(self, leg: Any) -> None: ...

    def strict_stop(self, why: str) -> None: ...

    def violation(self, direction: Direction, problem: str) -> None: ...


class Relay:
    """One direction of a session: forwards what `src` sends to `dst` as it came and records
    each message it holds (see the module docstring). A message is recorded when its last frame
    arrives, with the `t` of that read; its size is taken from the write budget as each of its
    frames starts, before the frame is forwarded, so that --strict can refuse a frame that
    would go unrecorded before any of it reaches the other side."""

    def __init__(
        self,
        session: Owner,
        recording: Recording,
        direction: Direction,
        src: Leg,
        dst: Leg,
        *,
        max_frame_bytes: int,
        strict: bool,
        later: RecordingQueue | None = None,
    ) -> None:
        self.session = session
        self.later = later if later is not None else RecordingQueue(None)
        self.recording = recording
        self.direction: Direction = direction
        self.src = src
        self.dst = dst
        self.cutter = FrameCutter(masked=direction == "client", stream_above=DEFAULT_STREAM_ABOVE)
        self.max_frame_bytes = max_frame_bytes
        self.strict = strict
        self.forwarding = True
        self.pending_close: bytes | None = None  # to send once a streamed frame has gone on
        # the message being received: text or binary, its payload parts (positions in the reads
        # they came in), bytes so far, bytes reserved, and why it will not be recorded
        self.open = False
        self.text = False
        self.parts: list[tuple[bytes | bytearray, int, int, bytes | None, int]] = []
        self.size = 0
        self.reserved = 0
        self.dropped: str | None = None

    def feed(self, data: bytes) -> None:
        t = self.recording.now()
        cut = self.cutter.cut(data)
        buf = cut.buffer
        limit = cut.forward  # forward buf[:limit]
        stop: str | None = None  # --strict: why forwarding stops at `limit`
        complete: list[tuple[Any, ...]] = []  # messages to record, after forwarding
        closes: list[tuple[int, str, int]] = []
        violation = cut.violation
        pending_close = self.pending_close
        for frame in cut.frames:
            first, head_start, start, end, mask, offset, piece, length = frame
            opcode = first & 0x0F
            if opcode >= 8:
                if opcode == CLOSE:
                    payload = bytes(buf[start:end])
                    code, reason = close_payload(payload if mask is None else unmask(payload, mask))
                    closes.append((code, reason, head_start))
                continue
            if piece <= STREAM_FIRST:  # a data frame starts
                problem = self._start(opcode, length)
                if problem is not None:
                    violation = violation or problem
                    limit = min(limit, head_start)
                    break
                if self.dropped is not None and self.strict and stop is None:
                    stop = self.dropped
                    limit = min(limit, head_start)
            if self.dropped is None:
                self.parts.append((buf, start, end, mask, offset))
            if piece == STREAM_LAST and pending_close is not None:
                limit = min(limit, end)
            if piece in (WHOLE, STREAM_LAST) and first & 0x80:
                if self.dropped is None:
                    complete.append((self.text, self.parts, self.reserved))
                else:
                    complete.append((None, self.size, self.dropped))
                self.open = False
                self.parts = []
                self.reserved = 0
        if self.forwarding and limit:
            self.dst.write(buf if limit == len(buf) else memoryview(buf)[:limit])
        if complete:
            self.later.add(self.recording, self.direction, t, complete)
        for code, reason, head_start in closes:
            forwarded = self.forwarding and head_start < limit
            self.session.close_frame(self.direction, code, reason, forwarded=forwarded)
        if pending_close is not None and self.cutter.at_boundary:
            self._send_now(pending_close)
        if stop is not None:
            self.session.strict_stop(stop)
        if violation is not None:
            self.session.violation(self.direction, violation)

    def _start(self, opcode: int, length: int) -> str | None:
        """Account for a data frame that starts (of `length` bytes); a protocol problem or None."""
        if opcode:  # TEXT or BINARY: a new message
            if self.open:
                return "a new message started inside a fragmented one"
            self.open, self.text = True, opcode == TEXT
            self.size = self.reserved = 0
            self.dropped = None
            self.parts = []
        elif not self.open:
            return "a continuation frame with no message to continue"
        self.size += length
        if self.dropped is not None:
            return None
        if self.size > self.max_frame_bytes:
            self.dropped = too_large_reason(self.max_frame_bytes)
        elif self.recording.reserve(length):
            self.reserved += length
            return None
        else:
            self.dropped = FELL_BEHIND
        self.recording.release(self.reserved)
        self.reserved = 0
        self.parts = []
        return None

    def send_close(self, code: int | None, reason: str) -> None:
        """Send `dst` a close frame of the proxy's own as soon as the frames before it are whole,
        and forward nothing after it."""
        frame = close_frame(code, reason, masked=self.direction == "client")
        if self.cutter.at_boundary:
            self._send_now(frame)
        else:
            self.pending_close = frame

    def _send_now(self, frame: bytes) -> None:
        if self.forwarding:
            self.dst.write(frame)
            self.forwarding = False
            self.session.close_sent_to(self.dst)
        self.pending_close = None

    def release(self) -> None:
        """The session ended: give back what an unfinished message held."""
        self.recording.release(self.reserved)
        self.reserved = 0
        self.parts = []


class RecordingQueue:
    """Messages forwarded but not yet recorded: their recording (unmasking, the JSON check,
    redaction, the line) waits until the event loop has nothing to forward, at most `delay`
    seconds, so that a frame arriving on the other leg meanwhile (a reply) is forwarded first.
    Each message keeps the `t` of its arrival and its place in order; `drain()` records them
    all at once (before a session's `error` or `close` line, so that it stays after them).
    With no event loop (`loop` None) every message is recorded at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None, delay: float = 0.001) -> None:
        self.loop = loop
        self.delay = delay
        self.items: list[tuple[Recording, Direction, float, list[tuple[Any, ...]]]] = []
        self.timer: asyncio.TimerHandle | None = None

    def add(
        self, recording: Recording, direction: Direction, t: float, messages: list[tuple[Any, ...]]
    ) -> None:
        self.items.append((recording, direction, t, messages))
        if self.loop is None:
            self.drain()
        elif self.timer is None:
            self.timer = self.loop.call_later(self.delay, self.drain)

    def drain(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        items, self.items = self.items, []
        for recording, direction, t, messages in items:
            for text, parts, reserved in messages:
                if text is None:  # not recorded: parts is its size, reserved the reason
                    recording.lost(direction, parts, t, reserved)
                else:
                    recording.message(direction, _payload(parts), text=text, t=t, reserved=reserved)


def _payload(
    parts: list[tuple[bytes | bytearray, int, int, bytes | None, int]],
) -> bytes | bytearray:
    if len(parts) == 1:
        buf, start, end, mask, offset = parts[0]
        data = memoryview(buf)[start:end]
        return bytes(data) if mask is None else unmask(data, mask, offset)
    return b"".join(
        memoryview(buf)[start:end]
        if mask is None
        else unmask(memoryview(buf)[start:end], mask, offset)
        for buf, start, end, mask, offset in parts
    )
