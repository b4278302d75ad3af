"""One session being recorded: the clock, the file and its records (used by proxy and replay)."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from recorder.redaction import NO_SECRETS, SecretScrubber
from recorder.session import (
    Closer,
    Direction,
    _as_bytes,
    close_record,
    error_record,
    new_session_id,
    open_record,
    session_record,
)
from recorder.store import FELL_BEHIND, SessionWriter, WriteBudget, create_session_file

FileOpener = Callable[[Path, str], tuple[Path, BinaryIO]]


class RecordTap(Protocol):
    """Something that sees a session's records as its file gets them, such as live telemetry
    (`recorder.telemetry.SessionTap`); it must never block or raise. A text frame's payload may
    come as bytes (`text=True`): decoding it is the tap's work, off the forwarding path."""

    def record(self, record: Mapping[str, Any]) -> None: ...

    def frame(
        self, direction: Direction, payload: str | bytes, t: float, text: bool | None = None
    ) -> None: ...

    def ended(self) -> None: ...


@dataclass(frozen=True)
class RecordingSummary:
    """What one finished recording holds, for the line the CLI prints."""

    path: Path
    session_id: str
    duration_s: float
    frames_from_client: int
    frames_from_server: int
    bytes_from_client: int
    bytes_from_server: int
    frames_lost: int
    write_error: str | None
    # False when no file could be created: the call went through unrecorded (`write_error` says
    # why) and `path` names the file that was not written.
    recorded: bool = True


class Recording:
    """Writes one connection to `<out_dir>/<session id>.jsonl`.

    `frame()` stamps the time and queues the record; it never blocks and never raises, so the
    caller can call it between receiving a frame and forwarding it. The proxy, which reads
    frames before they are whole, uses `reserve` (when a frame starts: does it fit in the write
    budget?), `message` (when it is whole) and `lost` (when it will not be recorded).

    `budget` bounds the memory frames may hold while they wait for the disk (shared by all of a
    proxy's sessions); `scrubber` redacts the session's own secrets and key-shaped strings in
    the recorded copy; `open_file(out_dir, session_id)` creates the file
    (`store.create_session_file`; OSError if it cannot). `tap` sees every record the file gets,
    and `ended()` when it is complete. `began` is when the session began (`clock()` reading, UTC
    wall clock) if that was before the file was made: a replay dials first and makes a file only
    once it is connected.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        upstream: str,
        path: str,
        headers: Iterable[tuple[str, str]],
        subprotocols: Sequence[str],
        on_write_error: Callable[[BaseException], None] | None = None,
        budget: WriteBudget | None = None,
        open_file: FileOpener = create_session_file,
        clock: Callable[[], float] = time.monotonic,
        scrubber: SecretScrubber = NO_SECRETS,
        began: tuple[float, dt.datetime] | None = None,
        tap: RecordTap | None = None,
    ) -> None:
        self._clock = clock
        self._t0, started_at = began or (clock(), dt.datetime.now(dt.timezone.utc))
        self.session_id = new_session_id(started_at)
        self.scrubber = scrubber
        self.path, file = open_file(Path(out_dir), self.session_id)
        self.writer = SessionWriter(
            file, path=self.path, on_error=on_write_error, budget=budget, scrubber=scrubber
        )
        self.tap = tap
        self._record(
            session_record(self.session_id, started_at, upstream, path, headers, subprotocols)
        )
        self.frames = {"client": 0, "server": 0}
        self.bytes = {"client": 0, "server": 0}
        self._closed = False
        self.recorded = True

    @property
    def t0(self) -> float:
        """The clock's reading at t = 0."""
        return self._t0

    def now(self) -> float:
        """Seconds since the session started (monotonic)."""
        return self._clock() - self._t0

    def opened(self, subprotocol: str | None, response_headers: Iterable[tuple[str, str]]) -> None:
        self._record(open_record(self.now(), subprotocol, response_headers))

    def frame(self, direction: Direction, payload: str | bytes) -> None:
        """Record a whole frame received now (a `str` is a text frame)."""
        data, text = _as_bytes(payload)
        t = self.now()
        if self.reserve(len(data)):
            self.message(direction, data, text=text, t=t, reserved=len(data))
        else:
            self.lost(direction, len(data), t, FELL_BEHIND)

    def reserve(self, size: int) -> bool:
        return self.writer.reserve(size)

    def release(self, size: int) -> None:
        self.writer.release(size)

    def message(
        self,
        direction: Direction,
        payload: bytes | bytearray,
        *,
        text: bool,
        t: float,
        reserved: int,
    ) -> None:
        """A whole message received at `t` whose `reserved` bytes fit the budget."""
        self.frames[direction] += 1
        self.bytes[direction] += len(payload)
        self.writer.message(direction, payload, text=text, t=t, reserved=reserved)
        if self.tap is not None:
            self.tap.frame(direction, bytes(payload), t, text=text)

    def lost(self, direction: Direction, size: int, t: float, reason: str) -> None:
        """A message of `size` bytes received at `t` that is not recorded, and why."""
        self.frames[direction] += 1
        self.bytes[direction] += size
        self.writer.lost(t, reason)

    def error(self, message: str, detail: str | None = None) -> None:
        self._record(
            error_record(
                self.now(),
                self.scrubber.text(message),
                None if detail is None else self.scrubber.text(detail),
            )
        )

    def closed(self, by: Closer, code: int | None, reason: str) -> None:
        """Record how the connection ended (only the first call counts)."""
        if not self._closed:
            self._closed = True
            self._record(close_record(self.now(), by, code, self.scrubber.text(reason)))

    def _record(self, record: dict[str, Any]) -> None:
        self.writer.record(record)
        if self.tap is not None:
            self.tap.record(record)

    @property
    def write_failed(self) -> bool:
        return self.writer.failed is not None

    def finish(self) -> RecordingSummary:
        """Flush and close the file (blocks until written; see `afinish`)."""
        duration = self.now()
        self.writer.close(duration)
        if self.tap is not None:
            self.tap.ended()
        failed = self.writer.failed
        return RecordingSummary(
            path=self.path,
            session_id=self.session_id,
            duration_s=duration,
            frames_from_client=self.frames["client"],
            frames_from_server=self.frames["server"],
            bytes_from_client=self.bytes["client"],
            bytes_from_server=self.bytes["server"],
            frames_lost=self.writer.frames_lost,
            write_error=None if failed is None else str(failed),
            recorded=self.recorded,
        )

    async def afinish(self) -> RecordingSummary:
        """`finish()` without blocking the event loop."""
        return await asyncio.to_thread(self.finish)


class Unrecorded(Recording):
    """A call that goes through without a file (none could be created, outside --strict): it
    counts frames like a recording, and its summary says why nothing was written."""

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        reason: BaseException,
        *,
        clock: Callable[[], float] = time.monotonic,
        scrubber: SecretScrubber = NO_SECRETS,
    ) -> None:
        def nowhere(directory: Path, session_id: str) -> tuple[Path, BinaryIO]:
            return directory / f"{session_id}.jsonl", cast(BinaryIO, _Discard())

        super().__init__(
            out_dir,
            upstream="",
            path="",
            headers=[],
            subprotocols=[],
            open_file=nowhere,
            clock=clock,
            scrubber=scrubber,
        )
        self.recorded = False
        self.reason = reason

    def reserve(self, size: int) -> bool:
        return False

    def message(
        self,
        direction: Direction,
        payload: bytes | bytearray,
        *,
        text: bool,
        t: float,
        reserved: int,
    ) -> None:
        self.lost(direction, len(payload), t, "")

    def finish(self) -> RecordingSummary:
        summary = super().finish()
        return RecordingSummary(
            **{
                **summary.__dict__,
                "write_error": f"not recorded: cannot create a session file: {self.reason}",
                "recorded": False,
            }
        )


class _Discard(io.RawIOBase):
    """Where an unrecorded call's writer writes: nowhere."""

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        return len(data)  # type: ignore[arg-type]
