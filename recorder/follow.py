"""Following session files while `rt record` writes them (files only: polling, no threads).

    for event in follow_sessions("sessions/", interval=0.15):
        if isinstance(event, Switched):
            ...                     # now following event.path (the first file, or a newer one)
        else:
            ...                     # a NewLine: one complete, newline-terminated line

The session followed in a directory is the most recently modified `*.jsonl` in it. When a file
that was not there before appears, the follower reads what is left of the current file and
moves to the new one. A line is only handed out once its newline has been written, so a line
the recorder is half-way through writing is never mistaken for a corrupt one. Lines end and are
numbered as `recorder.reading` ends and numbers them (`line_ending`), so `rt tail` names the
same lines as every other reader.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

from recorder.errors import InputError
from recorder.reading import line_ending

DEFAULT_INTERVAL = 0.15
RESCAN_EVERY = 1.0  # seconds; a directory's mtime may not change within one tick of its clock
_CHUNK = 4 * 2**20


@dataclass(frozen=True)
class NewLine:
    """A complete line of a followed file, with its 1-based line number."""

    path: Path
    number: int
    data: bytes


@dataclass(frozen=True)
class Switched:
    """The follower now reads `path` from its start (`previous` is None for the first file)."""

    path: Path
    previous: Path | None


class GrowingFile:
    """Reads the complete lines appended to a file since the last call."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file = open(self.path, "rb")  # noqa: SIM115 -- kept open while the file grows
        self._partial = b""
        self._line = 0
        self._ending: bytes | None = None  # known once enough of the file is read
        self.caught_up = False  # the last read reached the end of the file

    def read_lines(self, limit: int = _CHUNK) -> list[NewLine]:
        """The lines completed since the last call (reads at most about `limit` bytes)."""
        chunk = self._file.read(limit)
        self.caught_up = len(chunk) < limit
        if not chunk:
            return []
        data = self._partial + chunk if self._partial else chunk
        if self._ending is None:  # a recorder writes no `\r` outside a line ending
            self._ending = line_ending(data)
        end = data.rfind(self._ending)
        if end < 0:
            self._partial = data
            return []
        self._partial = data[end + 1 :]
        lines = []
        for raw in data[:end].split(self._ending):
            self._line += 1
            if raw.strip():
                lines.append(NewLine(self.path, self._line, raw + self._ending))
        return lines

    def drain(self) -> Iterator[NewLine]:
        """Every complete line written so far (not those written while draining)."""
        size = os.fstat(self._file.fileno()).st_size
        while self._file.tell() < size:
            yield from self.read_lines(size - self._file.tell())

    @property
    def partial_bytes(self) -> int:
        """Bytes of a last line whose newline has not been written yet."""
        return len(self._partial)

    @property
    def next_line_number(self) -> int:
        return self._line + 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> GrowingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def session_files(directory: str | os.PathLike[str]) -> list[os.DirEntry[str]]:
    """The `*.jsonl` files directly inside `directory`."""
    with os.scandir(directory) as entries:
        return [e for e in entries if e.name.endswith(".jsonl") and e.is_file()]


def _newest(entries: list[os.DirEntry[str]]) -> Path | None:
    def age(entry: os.DirEntry[str]) -> tuple[int, str]:
        try:
            return entry.stat().st_mtime_ns, entry.name
        except FileNotFoundError:
            return -1, entry.name

    return Path(max(entries, key=age).path) if entries else None


def newest_session(directory: str | os.PathLike[str]) -> Path | None:
    """The most recently modified session file in `directory` (None if there is none)."""
    return _newest(session_files(directory))


class _DirectoryWatch:
    """Notices session files that appear in a directory."""

    def __init__(self, directory: Path, clock: Callable[[], float]) -> None:
        self.directory = directory
        self._clock = clock
        entries = session_files(directory)
        self.newest = _newest(entries)
        self._known = {e.name for e in entries}
        self._mtime = self._dir_mtime()
        self._scanned = clock()

    def _dir_mtime(self) -> int:
        try:
            return os.stat(self.directory).st_mtime_ns
        except FileNotFoundError:
            return -1

    def appeared(self) -> Path | None:
        """The newest of the files that appeared since the last call, if any."""
        mtime = self._dir_mtime()
        now = self._clock()
        if mtime == self._mtime and now - self._scanned < RESCAN_EVERY:
            return None
        self._mtime, self._scanned = mtime, now
        try:
            entries = session_files(self.directory)
        except FileNotFoundError:
            return None
        fresh = [e for e in entries if e.name not in self._known]
        self._known.update(e.name for e in fresh)
        return _newest(fresh)


def follow_sessions(
    target: str | os.PathLike[str],
    *,
    interval: float = DEFAULT_INTERVAL,
    max_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Generator[NewLine | Switched, None, None]:
    """Follow the newest session in a directory (or one file), forever or for `max_seconds`.

    Raises InputError if `target` does not exist. Stop early by leaving the loop.
    """
    path = Path(target)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    deadline = None if max_seconds is None else clock() + max_seconds
    watch = _DirectoryWatch(path, clock) if path.is_dir() else None
    current: GrowingFile | None = None
    try:
        first = watch.newest if watch is not None else path
        if first is not None:
            current = GrowingFile(first)
            yield Switched(first, None)
        while True:
            busy = False
            if current is not None:
                lines = current.read_lines()
                busy = bool(lines) or not current.caught_up
                yield from lines
            newer = watch.appeared() if watch is not None else None
            if newer is not None:
                previous = None
                if current is not None:
                    yield from current.drain()
                    current.close()
                    previous = current.path
                current = GrowingFile(newer)
                yield Switched(newer, previous)
                continue
            if deadline is not None and clock() >= deadline:
                return
            if not busy:
                sleep(interval if deadline is None else max(0.0, min(interval, deadline - clock())))
    finally:
        if current is not None:
            current.close()
