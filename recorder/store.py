"""Session files on disk: the batching writer and the tolerant streaming reader.

The writer is made for the proxy's hot path: `frame()` encodes nothing and never touches
the disk; it appends a tuple to a list. A background thread turns
pending records into lines, writes them in one call and flushes at least every
`flush_interval` seconds and on close, so a crash loses at most the last partial line.
"""

from __future__ import annotations

import errno
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from recorder.errors import SessionFormatError
from recorder.session import Direction, decode_line, encode_record, error_record, frame_line

FILE_MODE = 0o600
DIR_MODE = 0o700
DEFAULT_FLUSH_INTERVAL = 0.05
DEFAULT_MAX_PENDING_BYTES = 256 * 2**20
WRITE_CHUNK_BYTES = 128 * 1024
_RECORD_SIZE = 256  # a rough size for non-frame records when cutting a batch into pieces


class SessionWarning(UserWarning):
    """A line of a session file was skipped."""


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


_Pending = tuple[int, float, Direction, "str | bytes"] | dict[str, Any]


class SessionWriter:
    """Writes the records of one session file from a background thread.

    `frame()` and `record()` never block and never raise. A write failure is reported once
    through `on_error` and the writer stops writing (see `failed`); frames that cannot be
    recorded are counted in `frames_lost` and written as an `error` record where possible.
    """

    def __init__(
        self,
        file: BinaryIO,
        *,
        path: Path | None = None,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.path = path
        self._file = file
        self._flush_interval = flush_interval
        self._max_pending = max_pending_bytes
        self._on_error = on_error
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._pending_bytes = 0
        self._wake = threading.Event()
        self._closing = False
        self._next_seq = 0
        self._lost_unreported = 0
        self.frames_lost = 0
        self.bytes_written = 0
        self.failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"rt-writer-{path}", daemon=True)
        self._thread.start()

    # -- called from the event loop ------------------------------------------------------------

    def frame(self, direction: Direction, payload: str | bytes, t: float) -> int:
        """Queue a frame record; returns its `seq`."""
        seq = self._next_seq
        self._next_seq = seq + 1
        size = len(payload)
        if self.failed is not None or self._pending_bytes + size > self._max_pending:
            self.frames_lost += 1
            self._lost_unreported += 1
            return seq
        with self._lock:
            if self._lost_unreported:
                self._pending.append(self._lost_record(t))
            self._pending.append((seq, t, direction, payload))
            self._pending_bytes += size
        if self._pending_bytes > 4 * 2**20:
            self._wake.set()
        return seq

    def record(self, record: Mapping[str, Any]) -> None:
        """Queue a non-frame record (`session`, `open`, `close`, `error`)."""
        with self._lock:
            self._pending.append(dict(record))

    @property
    def frames_written(self) -> int:
        return self._next_seq - self.frames_lost

    def close(self, t: float | None = None) -> None:
        """Write everything still pending and close the file (blocks; call it off the loop)."""
        with self._lock:
            if self._lost_unreported and t is not None:
                self._pending.append(self._lost_record(t))
            self._closing = True
        self._wake.set()
        self._thread.join()

    def _lost_record(self, t: float) -> dict[str, Any]:
        count, self._lost_unreported = self._lost_unreported, 0
        reason = "write failed" if self.failed is not None else "the writer fell behind"
        return error_record(t, f"{count} frames were not recorded: {reason}")

    # -- the writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            with self._lock:
                batch, self._pending = self._pending, []
                self._pending_bytes = 0
                closing = self._closing
            if batch:
                self._write(batch)
            if closing:
                break
        try:
            self._file.close()
        except OSError as exc:
            self._fail(exc)

    def _write(self, batch: list[_Pending]) -> None:
        # In pieces: joining and encoding a whole batch (megabytes under load) is one C call
        # that holds the GIL for milliseconds, stalling the event loop that forwards frames.
        start, size = 0, 0
        for end, item in enumerate(batch, start=1):
            size += _RECORD_SIZE if isinstance(item, dict) else len(item[3])
            if size >= WRITE_CHUNK_BYTES:
                self._write_piece(batch[start:end])
                start, size = end, 0
        if start < len(batch):
            self._write_piece(batch[start:])

    def _write_piece(self, batch: list[_Pending]) -> None:
        lines = [
            encode_record(item) if isinstance(item, dict) else frame_line(*item) for item in batch
        ]
        data = "".join(lines).encode("utf-8", "surrogatepass")
        if self.failed is not None:
            self._count_lost(batch)
            return
        view, written = memoryview(data), 0
        try:
            while written < len(data):  # a raw write stops short at a full disk or size limit
                count = self._file.write(view[written:])
                if not count:
                    raise OSError(errno.EIO, "short write")
                written += count
            self._file.flush()
            self.bytes_written += written
        except OSError as exc:
            self.bytes_written += written
            self._fail(exc)
            self._count_lost(batch, lines, written)
            try:  # the disk may have recovered enough for one short line
                note = error_record(_last_t(batch), f"write failed: {exc}")
                cut = b"\n" if written and data[written - 1] != 0x0A else b""
                self._file.write(cut + encode_record(note).encode())
            except OSError:
                pass

    def _count_lost(
        self, batch: list[_Pending], lines: list[str] | None = None, written: int = 0
    ) -> None:
        """Count the batch's frames as lost, except those whose whole line was written."""
        lost = sum(1 for item in batch if not isinstance(item, dict))
        end = 0
        for item, line in zip(batch, lines or [], strict=False):
            end += len(line.encode("utf-8", "surrogatepass"))
            if end > written:
                break
            lost -= not isinstance(item, dict)
        self.frames_lost += lost

    def _fail(self, exc: BaseException) -> None:
        if self.failed is None:
            self.failed = exc
            if self._on_error is not None:
                self._on_error(exc)


def _last_t(batch: list[_Pending]) -> float:
    for item in reversed(batch):
        if isinstance(item, dict):
            t = item.get("t")
            if isinstance(t, (int, float)):
                return float(t)
        else:
            return item[1]
    return 0.0


# -- reading -----------------------------------------------------------------------------------

WarningHandler = Callable[[SessionFormatError], None]


def _default_warning(error: SessionFormatError) -> None:
    warnings.warn(str(error), SessionWarning, stacklevel=4)


def iter_records(
    path: str | os.PathLike[str], on_warning: WarningHandler | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield `(line_number, record)` for every valid line of a session file, streaming.

    An invalid or cut-off line is skipped and reported once through `on_warning` (by default
    a `SessionWarning`) with the file and line number; reading goes on with the next line.
    """
    for number, _raw, record in iter_raw_records(path, on_warning):
        yield number, record


def iter_raw_records(
    path: str | os.PathLike[str], on_warning: WarningHandler | None = None
) -> Iterator[tuple[int, bytes, dict[str, Any]]]:
    """`iter_records` with each line's bytes as well (to re-send an event exactly as recorded)."""
    warn = on_warning or _default_warning
    name = os.fspath(path)
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                record = decode_line(raw)
            except SessionFormatError as exc:
                problem = exc
                if not raw.endswith(b"\n"):
                    problem = SessionFormatError("incomplete last line (cut off)")
                problem.path, problem.line = name, number
                warn(problem)
                continue
            yield number, raw, record
