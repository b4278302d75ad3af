"""Session files on disk: the batching writer (reading is `recorder.reading`).

The writer is made for the proxy's hot path: `frame()` encodes nothing and never touches the
disk; it appends a tuple to a list. One background thread for all sessions turns each file's
pending records into lines and writes them in one call, at least every `flush_interval` seconds
and on close, so a crash loses at most the last partial line. Making the lines there, not on
the event loop, lets that work overlap the loop's system calls (the GIL is free during them).

Forwarding never waits for the disk. What waits in memory instead is bounded by a
`WriteBudget` (one per proxy, shared by all its sessions): a frame that does not fit is not
recorded, and the file says so with an `error` line holding the count, instead of the process
growing without bound while a disk stalls.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from recorder.session import Direction, encode_record, error_record, frame_line

FILE_MODE = 0o600
DIR_MODE = 0o700
DEFAULT_FLUSH_INTERVAL = 0.05
DEFAULT_MAX_PENDING_BYTES = 256 * 2**20
WRITE_CHUNK_BYTES = 128 * 1024
_RECORD_SIZE = 256  # a rough size for non-frame records when cutting a batch into pieces
_WAKE_BYTES = 4 * 2**20  # write before the flush interval once this much is waiting


def ensure_directory(directory: str | os.PathLike[str]) -> Path:
    """Create `directory` (owner-only) if missing and return it."""
    path = Path(directory)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return path


def create_session_file(
    directory: str | os.PathLike[str], session_id: str
) -> tuple[Path, BinaryIO]:
    """Create `<directory>/<session_id>.jsonl`, readable by its owner only; never overwrite."""
    safe_id = "".join(c if c.isalnum() or c in "-_.T" else "_" for c in session_id).lstrip(".")
    path = ensure_directory(directory) / f"{safe_id or 'session'}.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), FILE_MODE)
    return path, os.fdopen(fd, "wb", buffering=0)


class WriteBudget:
    """The bytes of frames that may wait in memory for the disk, shared by many writers.

    A writer takes a frame's size when it queues the frame and gives it back once the frame is
    written (or dropped), so the memory held for recordings stays bounded even while the disk
    stalls, however many sessions are open. Thread-safe.
    """

    def __init__(self, limit: int = DEFAULT_MAX_PENDING_BYTES) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        return self._used

    def take(self, size: int) -> bool:
        """Reserve `size` bytes; False (and nothing reserved) if that would pass the limit."""
        with self._lock:
            if self._used + size > self.limit:
                return False
            self._used += size
            return True

    def give_back(self, size: int) -> None:
        with self._lock:
            self._used -= size


@dataclass(frozen=True)
class _LostFrames:
    """A note, queued in place of frames the writer had to drop, that becomes an `error` line."""

    t: float
    count: int
    reason: str

    def record(self) -> dict[str, Any]:
        return error_record(self.t, f"{self.count} frames were not recorded: {self.reason}")


_Frame = tuple[int, float, Direction, "str | bytes"]  # frame_line's arguments
_Pending = _Frame | dict[str, Any] | _LostFrames
FELL_BEHIND = "the writer fell behind the disk"
_MAX_HELD_RECORDS = 1000


class _WriterThread:
    """One thread writing for many `SessionWriter`s, every `flush_interval` or when woken.

    One thread, not one per session: with a hundred calls, a hundred threads waking twenty
    times a second each cost more CPU than the writing, and each wake-up takes the GIL from
    the event loop that forwards frames (bench/load.py). The thread ends when its last writer
    is closed and starts again with the next.
    """

    _threads: dict[float, _WriterThread] = {}
    _threads_lock = threading.Lock()

    def __init__(self, flush_interval: float) -> None:
        self.flush_interval = flush_interval
        self._writers: list[SessionWriter] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def serving(cls, flush_interval: float) -> _WriterThread:
        with cls._threads_lock:
            thread = cls._threads.get(flush_interval)
            if thread is None:
                thread = cls._threads[flush_interval] = cls(flush_interval)
            return thread

    def add(self, writer: SessionWriter) -> None:
        with self._threads_lock:
            self._writers.append(writer)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"rt-writer-{self.flush_interval:g}s", daemon=True
                )
                self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            with self._threads_lock:
                writers = list(self._writers)
            for writer in writers:
                try:
                    closed = writer._service()
                except BaseException as exc:  # never leave a writer's close() waiting
                    writer._fail(exc)
                    writer._closed.set()
                    closed = True
                if closed:
                    with self._threads_lock:
                        self._writers.remove(writer)
            with self._threads_lock:
                if not self._writers:
                    self._thread = None
                    return


def _forget_writer_threads() -> None:
    # A forked child has none of its parent's threads: its writers need threads of their own.
    _WriterThread._threads = {}
    _WriterThread._threads_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_writer_threads)


class SessionWriter:
    """Writes the records of one session file from a background thread (`_WriterThread`,
    shared by every writer with the same `flush_interval`).

    `frame()` and `record()` never block and never raise. Frames wait in memory within a
    `WriteBudget` (`max_pending_bytes`, or one shared by many writers); a frame that does not
    fit is dropped, counted in `frames_lost` and noted in the file by an `error` line
    "N frames were not recorded: the writer fell behind the disk" where the gap is.

    A write failure (full disk, I/O error) is reported once through `on_error`; from then on
    nothing more is written except, when the file is closed, a last try at an `error` line
    with the count of frames not recorded, followed by the records that were due (the `close`
    line), in case the disk has room again.
    """

    def __init__(
        self,
        file: BinaryIO,
        *,
        path: Path | None = None,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        budget: WriteBudget | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.path = path
        self._file = file
        self._flush_interval = flush_interval
        self._budget = budget if budget is not None else WriteBudget(max_pending_bytes)
        self._on_error = on_error
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._pending_bytes = 0
        self._closing = False
        self._closed = threading.Event()
        self._next_seq = 0
        # Counters each owned by one thread: the loop's frame() and the writer thread.
        self._dropped = 0
        self._dropped_unnoted = 0
        self._unwritten = 0
        self._lost_in_file = 0  # lost frames that an `error` line in the file accounts for
        self._held: list[dict[str, Any]] = []  # records due after a failure, for the epilogue
        self._mid_line = False  # the file ends with part of a line (a write stopped short)
        self._last_t = 0.0
        self.bytes_written = 0
        self.failed: BaseException | None = None
        self._thread = _WriterThread.serving(flush_interval)
        self._thread.add(self)

    # -- called from the event loop ------------------------------------------------------------

    def frame(self, direction: Direction, payload: str | bytes, t: float) -> int:
        """Queue a frame record; returns its `seq`."""
        seq = self._next_seq
        self._next_seq = seq + 1
        size = len(payload)
        if self.failed is not None or not self._budget.take(size):
            self._dropped += 1
            self._dropped_unnoted += 1
            return seq
        with self._lock:
            if self._dropped_unnoted:
                self._pending.append(_LostFrames(t, self._dropped_unnoted, FELL_BEHIND))
                self._dropped_unnoted = 0
            self._pending.append((seq, t, direction, payload))
            self._pending_bytes += size
        if self._pending_bytes > _WAKE_BYTES:
            self._thread.wake()
        return seq

    def record(self, record: Mapping[str, Any]) -> None:
        """Queue a non-frame record (`session`, `open`, `close`, `error`).

        Frames dropped and not yet noted are noted before a `close`, which stays the last line.
        """
        with self._lock:
            if self._dropped_unnoted and record.get("kind") == "close":
                t = record.get("t")
                note_t = float(t) if isinstance(t, (int, float)) else self._last_t
                self._pending.append(_LostFrames(note_t, self._dropped_unnoted, FELL_BEHIND))
                self._dropped_unnoted = 0
            self._pending.append(dict(record))

    @property
    def frames_lost(self) -> int:
        """Frames given to `frame()` that are not in the file."""
        return self._dropped + self._unwritten

    @property
    def frames_written(self) -> int:
        return self._next_seq - self.frames_lost

    def close(self, t: float | None = None) -> None:
        """Write everything still pending and close the file (blocks; call it off the loop)."""
        with self._lock:
            if self._dropped_unnoted and t is not None:
                self._pending.append(_LostFrames(t, self._dropped_unnoted, FELL_BEHIND))
                self._dropped_unnoted = 0
            self._closing = True
        self._thread.wake()
        self._closed.wait()

    # -- on the writer thread ------------------------------------------------------------------

    def _service(self) -> bool:
        """Write what is pending; once closing, finish the file. Returns whether it is closed."""
        with self._lock:
            batch, self._pending = self._pending, []
            self._pending_bytes = 0
            closing = self._closing
        if batch:
            self._write(batch)
        if not closing:
            return False
        if self.failed is not None:
            self._write_epilogue()
        try:
            self._file.close()
        except OSError as exc:
            self._fail(exc)
        self._closed.set()
        return True

    def _write(self, batch: list[_Pending]) -> None:
        # In pieces: joining and encoding a whole batch (megabytes under load) is one C call
        # that holds the GIL for milliseconds, stalling the event loop that forwards frames.
        start, size = 0, 0
        for end, item in enumerate(batch, start=1):
            size += len(item[3]) if isinstance(item, tuple) else _RECORD_SIZE
            if size >= WRITE_CHUNK_BYTES:
                self._write_piece(batch[start:end])
                start, size = end, 0
        if start < len(batch):
            self._write_piece(batch[start:])

    def _write_piece(self, piece: list[_Pending]) -> None:
        try:
            if self.failed is not None:
                self._set_aside(piece)
                return
            try:
                lines = [_encode(item) for item in piece]
            except Exception as exc:  # a bug must not end the recording silently
                self._fail(exc)
                self._set_aside(piece)
                return
            data = b"".join(lines)
            written = self._write_all(data)
            self._last_t = _last_t(piece, self._last_t)
            if self.failed is None:
                self._lost_in_file += sum(i.count for i in piece if isinstance(i, _LostFrames))
                return
            # The disk failed partway: lines written whole stay, the rest is lost or held.
            end = 0
            for index, (item, line) in enumerate(zip(piece, lines, strict=True)):
                end += len(line)
                if end > written:
                    self._set_aside(piece[index:])
                    break
                if isinstance(item, _LostFrames):
                    self._lost_in_file += item.count
            # the disk may have room again for one short line
            self._try_write([error_record(self._last_t, f"write failed: {self.failed}")])
        finally:
            self._budget.give_back(sum(len(i[3]) for i in piece if isinstance(i, tuple)))

    def _set_aside(self, items: list[_Pending]) -> None:
        """Items that will not be written now: frames are lost, records wait for the epilogue."""
        for item in items:
            if isinstance(item, tuple):
                self._unwritten += 1
            elif isinstance(item, dict) and len(self._held) < _MAX_HELD_RECORDS:
                self._held.append(item)

    def _write_all(self, data: bytes) -> int:
        """Write `data`; returns how much was written. A failure is recorded in `failed`."""
        view, written = memoryview(data), 0
        try:
            while written < len(data):  # a raw write stops short at a full disk or size limit
                count = self._file.write(view[written:])
                if not count:
                    raise OSError(errno.EIO, "short write")
                written += count
            self._file.flush()
        except OSError as exc:
            self._fail(exc)
        finally:
            self.bytes_written += written
            if written:
                self._mid_line = data[written - 1] != 0x0A
        return written

    def _try_write(self, records: list[dict[str, Any]]) -> None:
        """One attempt, after a failure, to append whole lines (ignored if it fails too)."""
        data = "".join(encode_record(r) for r in records).encode("utf-8", "surrogatepass")
        if self._mid_line:
            data = b"\n" + data
        view, written = memoryview(data), 0
        try:
            while written < len(data):
                count = self._file.write(view[written:])
                if not count:
                    break
                written += count
        except OSError:
            pass
        self.bytes_written += written
        if written:
            self._mid_line = data[written - 1] != 0x0A

    def _write_epilogue(self) -> None:
        """After a failure: how many frames are missing, then the records that were due."""
        records = list(self._held)
        missing = self.frames_lost - self._lost_in_file
        if missing:
            note = error_record(
                self._last_t, f"{missing} frames were not recorded: write failed: {self.failed}"
            )
            closing = next((i for i, r in enumerate(records) if r.get("kind") == "close"), None)
            records.insert(len(records) if closing is None else closing, note)
        if records:
            self._try_write(records)

    def _fail(self, exc: BaseException) -> None:
        if self.failed is None:
            self.failed = exc
            if self._on_error is not None:
                self._on_error(exc)


def _encode(item: _Pending) -> bytes:
    if isinstance(item, tuple):
        return frame_line(*item).encode("utf-8", "surrogatepass")
    record = item.record() if isinstance(item, _LostFrames) else item
    return encode_record(record).encode("utf-8", "surrogatepass")


def _last_t(batch: list[_Pending], default: float) -> float:
    for item in reversed(batch):
        if isinstance(item, tuple):
            return item[1]
        t = item.t if isinstance(item, _LostFrames) else item.get("t")
        if isinstance(t, (int, float)) and not isinstance(t, bool):
            return float(t)
    return default
