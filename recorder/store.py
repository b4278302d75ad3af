"""Session files on disk: the batching writer (reading is `recorder.reading`).

The writer is made for the proxy's hot path. A frame's line is built on the event loop as a few
pieces (`session.frame_pieces`: a head, the payload bytes as received, a tail), never joined or
copied; one background thread for all sessions writes each file's pending pieces with
`os.writev`, at least every `flush_interval` seconds and on close, so a crash loses at most the
last partial line. The thread holds the GIL only to swap lists: the system calls release it, so
writing never competes with forwarding.

Forwarding never waits for the disk. What waits in memory instead is bounded by one rule, a
`WriteBudget` (one per proxy process, shared by all its sessions): a frame is recorded only if
its bytes fit in the budget when it arrives (`SessionWriter.reserve`); one that does not is not
recorded, and the file says so with an `error` line holding the count and the reason, instead of
the process growing without bound while a disk stalls. `--strict` closes the call instead.

At every flush the writer also checks that the file still exists (its link count: a deleted file
or output folder would otherwise swallow the rest of the call silently); a write error or a
deleted file is reported once (`on_error`) and nothing more is written.
"""

from __future__ import annotations

import errno
import io
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from recorder.redaction import NO_SECRETS, SecretScrubber
from recorder.session import Direction, _as_bytes, encode_record, error_record, frame_pieces

FILE_MODE = 0o600
DIR_MODE = 0o700
DEFAULT_FLUSH_INTERVAL = 0.05
DEFAULT_MAX_PENDING_BYTES = 256 * 2**20
WRITE_CHUNK_BYTES = 256 * 1024
_IOV_MAX = 1024  # the most pieces one os.writev takes (Linux, macOS)
_WAKE_BYTES = 4 * 2**20  # write before the flush interval once this much is waiting

_HAS_WRITEV = hasattr(os, "writev")  # not on Windows: a joined write there
FELL_BEHIND = "the writer fell behind the disk"
DELETED = "the session file was deleted while it was being written"


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

    A writer takes a frame's size when the frame arrives and gives it back once the frame is
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
        if size:
            with self._lock:
                self._used -= size


@dataclass(frozen=True)
class _LostFrames:
    """A note, queued in place of frames that were not recorded, that becomes an `error` line."""

    t: float
    count: int
    reason: str

    def record(self) -> dict[str, Any]:
        return error_record(self.t, f"{self.count} frames were not recorded: {self.reason}")


# A frame's line as pieces, the budget it holds until written, and its t: a plain tuple, made
# once per frame on the event loop.
Piece = bytes | bytearray | memoryview
_Frame = tuple[list[bytes | bytearray], int, float]
_Pending = _Frame | dict[str, Any] | _LostFrames
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

    On the event loop, nothing blocks and nothing raises: `reserve(size)` takes a frame's size
    from the `WriteBudget` (`max_pending_bytes`, or one shared by many writers) when it arrives;
    `message(...)` queues a reserved frame's line; `lost(t, reason)` counts a frame that is not
    recorded (refused by the budget, too large, or after a failure) and notes it in the file
    with an `error` line "N frames were not recorded: REASON" where the gap is. `frame()` does
    all three for a frame that is whole already (replay, tests).

    A write failure (full disk, I/O error, a deleted file) is reported once through `on_error`;
    from then on nothing more is written except, when the file is closed, a last try at an
    `error` line with the count of frames not recorded, followed by the records that were due
    (the `close` line), in case the disk has room again.
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
        scrubber: SecretScrubber = NO_SECRETS,
    ) -> None:
        self.path = path
        self.scrubber = scrubber
        self._file = file
        # os.writev on a real file; a wrapped one (a test's slow or failing disk) gets write()
        self._fd = file.fileno() if isinstance(file, io.FileIO) and _HAS_WRITEV else None
        self._flush_interval = flush_interval
        self._budget = budget if budget is not None else WriteBudget(max_pending_bytes)
        self._on_error = on_error
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._pending_bytes = 0
        self._closing = False
        self._closed = threading.Event()
        self._next_seq = 0
        # Counters each owned by one thread: the loop's side and the writer thread.
        self._dropped = 0
        self._unnoted: tuple[str, int, float] | None = (
            None  # (reason, count, t) not yet in the file
        )
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

    def reserve(self, size: int) -> bool:
        """Take `size` bytes of the budget for a frame that is arriving; False if it does not
        fit (or the file failed): then the frame is not recorded (`lost`)."""
        return self.failed is None and self._budget.take(size)

    def release(self, size: int) -> None:
        """Give back a reservation that no frame will use."""
        self._budget.give_back(size)

    def message(
        self,
        direction: Direction,
        payload: bytes | bytearray,
        *,
        text: bool,
        t: float,
        reserved: int,
    ) -> int:
        """Queue a frame whose `reserved` bytes were reserved; returns its `seq`."""
        seq = self._next_seq
        self._next_seq = seq + 1
        if self.failed is not None:
            self._budget.give_back(reserved)
            self._count_lost(t, "")
            return seq
        try:
            pieces = frame_pieces(seq, t, direction, payload, text=text, scrubber=self.scrubber)
        except Exception as exc:  # a bug must not break the relay; the file says what happened
            self._budget.give_back(reserved)
            self._count_lost(t, f"could not be encoded ({type(exc).__name__}: {exc})")
            return seq
        with self._lock:
            if self._unnoted is not None:
                self._note_lost()
            self._pending.append((pieces, reserved, t))
            self._pending_bytes += reserved
        if self._pending_bytes > _WAKE_BYTES:
            self._thread.wake()
        return seq

    def lost(self, t: float, reason: str) -> int:
        """A frame that is not recorded (its reservation, if any, already released)."""
        seq = self._next_seq
        self._next_seq = seq + 1
        self._count_lost(t, reason)
        return seq

    def frame(self, direction: Direction, payload: str | bytes, t: float) -> int:
        """Queue a whole frame (a `str` is a text frame); returns its `seq`."""
        data, text = _as_bytes(payload)
        if not self.reserve(len(data)):
            return self.lost(t, FELL_BEHIND)
        return self.message(direction, data, text=text, t=t, reserved=len(data))

    def _count_lost(self, t: float, reason: str) -> None:
        self._dropped += 1
        if self.failed is not None:
            return  # the epilogue accounts for frames lost after a failure
        with self._lock:
            if self._unnoted is not None and self._unnoted[0] != reason:
                self._note_lost()
            count = 0 if self._unnoted is None else self._unnoted[1]
            self._unnoted = (reason, count + 1, t if self._unnoted is None else self._unnoted[2])

    def _note_lost(self) -> None:
        """Queue the note for frames lost since the last one (holding `_lock`)."""
        assert self._unnoted is not None
        reason, count, t = self._unnoted
        self._pending.append(_LostFrames(t, count, reason))
        self._unnoted = None

    def record(self, record: Mapping[str, Any]) -> None:
        """Queue a non-frame record (`session`, `open`, `close`, `error`).

        Frames lost and not yet noted are noted before a `close`, which stays the last line.
        """
        with self._lock:
            if self._unnoted is not None and record.get("kind") == "close":
                self._note_lost()
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
            if self._unnoted is not None:
                self._note_lost()
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
        self._check_still_there()
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

    def _check_still_there(self) -> None:
        """A deleted file (or output folder) takes every write without a word: fail instead."""
        if self._fd is None or self.failed is not None:
            return
        try:
            deleted = os.fstat(self._fd).st_nlink == 0
        except OSError as exc:
            self._fail(exc)
            return
        if deleted:
            self._fail(FileNotFoundError(errno.ENOENT, DELETED))

    def _write(self, batch: list[_Pending]) -> None:
        # In pieces of WRITE_CHUNK_BYTES, so that one write call never holds megabytes.
        start, size = 0, 0
        for end, item in enumerate(batch, start=1):
            size += item[1] if isinstance(item, tuple) else 256
            if size >= WRITE_CHUNK_BYTES or end - start >= _IOV_MAX // 4:
                self._write_piece(batch[start:end])
                start, size = end, 0
        if start < len(batch):
            self._write_piece(batch[start:])

    def _write_piece(self, piece: list[_Pending]) -> None:
        iov: list[Piece] = []
        reserved = noted = 0
        try:
            if self.failed is not None:
                self._set_aside(piece)
                return
            for item in piece:
                if isinstance(item, tuple):
                    iov += item[0]
                    reserved += item[1]
                else:
                    iov.append(_encode(item))
                    if isinstance(item, _LostFrames):
                        noted += item.count
            written = self._write_all(iov)
            self._last_t = _last_t(piece, self._last_t)
            if self.failed is None:
                self._lost_in_file += noted
                return
            # The disk failed partway: lines written whole stay, the rest is lost or held.
            end = 0
            for index, item in enumerate(piece):
                end += sum(len(p) for p in _pieces(item))
                if end > written:
                    self._set_aside(piece[index:])
                    break
                if isinstance(item, _LostFrames):
                    self._lost_in_file += item.count
            # the disk may have room again for one short line
            self._try_write([error_record(self._last_t, f"write failed: {self.failed}")])
        except Exception as exc:  # a bug must not end the recording silently
            self._fail(exc)
            self._set_aside(piece)
        finally:
            if not reserved:
                reserved = sum(i[1] for i in piece if isinstance(i, tuple))
            self._budget.give_back(reserved)

    def _set_aside(self, items: list[_Pending]) -> None:
        """Items that will not be written now: frames are lost, records wait for the epilogue."""
        for item in items:
            if isinstance(item, tuple):
                self._unwritten += 1
            elif isinstance(item, dict) and len(self._held) < _MAX_HELD_RECORDS:
                self._held.append(item)

    def _write_all(self, pieces: list[Piece]) -> int:
        """Write `pieces`, in order; returns how much was written. A failure goes to `failed`."""
        written = 0
        last = pieces[-1] if pieces else b"\n"
        try:
            if self._fd is not None:
                written = _writev_all(self._fd, pieces)
            else:
                data = b"".join(pieces)
                view = memoryview(data)
                while written < len(data):  # a raw write stops short at a full disk or limit
                    count = self._file.write(view[written:])
                    if not count:
                        raise OSError(errno.EIO, "short write")
                    written += count
                self._file.flush()
        except _ShortWrite as short:
            written = short.written
            self._fail(short.error)
        except OSError as exc:
            self._fail(exc)
        self.bytes_written += written
        if written:
            total = sum(len(p) for p in pieces)
            self._mid_line = written < total or last[-1:] != b"\n"
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


class _ShortWrite(Exception):
    def __init__(self, written: int, error: OSError) -> None:
        self.written = written
        self.error = error


def _writev_all(fd: int, pieces: list[Piece]) -> int:
    """os.writev until every piece is written (a regular file may take part of a call)."""
    written = 0
    index = 0
    pending: list[Piece] = list(pieces)
    while index < len(pending):
        batch = pending[index : index + _IOV_MAX]
        try:
            count = os.writev(fd, batch)
        except OSError as exc:
            raise _ShortWrite(written, exc) from None
        if count == 0:
            raise _ShortWrite(written, OSError(errno.EIO, "short write"))
        written += count
        for item in batch:  # skip what was written; the piece cut in two keeps its tail
            if count >= len(item):
                count -= len(item)
                index += 1
            else:
                pending[index] = memoryview(item)[count:]
                break
    return written


def _pieces(item: _Pending) -> list[bytes | bytearray]:
    if isinstance(item, tuple):
        return item[0]
    return [_encode(item)]


def _encode(item: dict[str, Any] | _LostFrames) -> bytes:
    record = item.record() if isinstance(item, _LostFrames) else item
    return encode_record(record).encode("utf-8", "surrogatepass")


def _last_t(batch: list[_Pending], default: float) -> float:
    for item in reversed(batch):
        if isinstance(item, tuple):
            return item[2]
        if isinstance(item, _LostFrames):
            return item.t
        t = item.get("t")
        if isinstance(t, (int, float)) and not isinstance(t, bool):
            return float(t)
    return default
