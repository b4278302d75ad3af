"""One session being recorded: the clock, the file and its records (used by proxy and replay)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from recorder.session import (
    Closer,
    Direction,
    close_record,
    error_record,
    new_session_id,
    open_record,
    session_record,
)
from recorder.store import SessionWriter, WriteBudget, create_session_file

FileOpener = Callable[[Path, str], tuple[Path, BinaryIO]]


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


class Recording:
    """Writes one connection to `<out_dir>/<session id>.jsonl`.

    `frame()` stamps the time and queues the record; it never blocks and never raises, so the
    caller can call it between receiving a frame and forwarding it. `budget` bounds the memory
    frames may hold while they wait for the disk (shared by all of a proxy's sessions);
    `open_file(out_dir, session_id)` creates the file (`store.create_session_file`).
    `began` is when the session began (`clock()` reading, UTC wall clock) if that was before
    the file was made: a replay dials first and makes a file only once it is connected.
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
        began: tuple[float, dt.datetime] | None = None,
    ) -> None:
        self._clock = clock
        self._t0, started_at = began or (clock(), dt.datetime.now(dt.timezone.utc))
        self.session_id = new_session_id(started_at)
        self.path, file = open_file(Path(out_dir), self.session_id)
        self.writer = SessionWriter(file, path=self.path, on_error=on_write_error, budget=budget)
        self.writer.record(
            session_record(self.session_id, started_at, upstream, path, headers, subprotocols)
        )
        self._frames = {"client": 0, "server": 0}
        self._bytes = {"client": 0, "server": 0}
        self._closed = False

    def now(self) -> float:
        """Seconds since the session started (monotonic)."""
        return self._clock() - self._t0

    def opened(self, subprotocol: str | None, response_headers: Iterable[tuple[str, str]]) -> None:
        self.writer.record(open_record(self.now(), subprotocol, response_headers))

    def frame(self, direction: Direction, payload: str | bytes) -> None:
        self.writer.frame(direction, payload, self.now())
        self._frames[direction] += 1
        self._bytes[direction] += len(payload)

    def error(self, message: str, detail: str | None = None) -> None:
        self.writer.record(error_record(self.now(), message, detail))

    def closed(self, by: Closer, code: int | None, reason: str) -> None:
        """Record how the connection ended (only the first call counts)."""
        if not self._closed:
            self._closed = True
            self.writer.record(close_record(self.now(), by, code, reason))

    @property
    def write_failed(self) -> bool:
        return self.writer.failed is not None

    def finish(self) -> RecordingSummary:
        """Flush and close the file (blocks until written; see `afinish`)."""
        duration = self.now()
        self.writer.close(duration)
        failed = self.writer.failed
        return RecordingSummary(
            path=self.path,
            session_id=self.session_id,
            duration_s=duration,
            frames_from_client=self._frames["client"],
            frames_from_server=self._frames["server"],
            bytes_from_client=self._bytes["client"],
            bytes_from_server=self._bytes["server"],
            frames_lost=self.writer.frames_lost,
            write_error=None if failed is None else str(failed),
        )

    async def afinish(self) -> RecordingSummary:
        """`finish()` without blocking the event loop."""
        return await asyncio.to_thread(self.finish)
