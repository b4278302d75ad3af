"""The one way rt reads a session file: lines in, checked records out, streaming.

    for line, record in iter_records(path, on_warning):    every usable record, in file order
    for line, offset, raw, record in iter_raw_records(path, …):
                                                           with each line's bytes and where they
                                                           start in the file (to re-send)
    checker = RecordChecker(path, on_warning)              the same checks, one line at a time
                                                           (for `rt tail`, which reads a growing file)

Every reader of session files (show, tail, stats, sql, export, report, diff, replay, serve,
check) goes through here, so they keep and skip the same lines:

- each line is decoded and checked by `session.decode_line` (a JSON object with a `kind`; a
  frame with a usable `t`, a direction and exactly one payload); a line that fails is skipped
  with one `FileWarning` naming the file and line, and reading goes on;
- the `session` header is checked for its `format`: `rt-session/1` (or none: a hand-written
  header) is read as it is, an older format that rt knows is migrated record by record
  (`MIGRATIONS`, a chain of `convert_N_M` steps in the manner of mitmproxy's flow compat), and a
  newer `rt-session/N` (or an older one rt cannot migrate) is an error naming the file, never a
  silent misread; a header whose format is not `rt-session/N` at all is a damaged line: skipped
  with a warning, the rest read as a file without a header;
- a `session` line that is not the first record (a second header, or one after frames) is
  skipped with a warning;
- a file with no usable record at all is named as empty or as not a session file.

Line endings: `\\n` (a `\\r` before it is ignored); a file with no `\\n` in its first 64 KiB
but with `\\r` in it is read with `\\r` as its line ending (old Mac style).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterator
from typing import IO, Any

from recorder.errors import InputError, SessionFormatError
from recorder.session import FORMAT, check_record, parse_line
from recorder.warning_log import FileWarning, SessionWarning

OnWarning = Callable[[FileWarning], None]
Record = dict[str, Any]
Migration = Callable[[Record], Record]

CHUNK_BYTES = 8 * 2**20
_BUFFER_BYTES = 2**20
_SNIFF_BYTES = 64 * 1024
_BLANK = b" \t\r\n\f\v"
_FORMAT_NAME = re.compile(r"^rt-session/(\d+)$")
CURRENT_VERSION = int(FORMAT.rpartition("/")[2])

# format of an older file -> (the next format, the step that converts one record to it).
# Empty while rt-session/1 is the only format; a test registers a step to prove the chain.
MIGRATIONS: dict[str, tuple[str, Migration]] = {}


class UnsupportedFormat(InputError):
    """A session file in a format this rt cannot read (newer, or not rt's)."""

    def __init__(self, path: str, found: object) -> None:
        self.path = path
        self.found = found
        super().__init__(path, found)

    def __str__(self) -> str:
        version = _FORMAT_NAME.match(self.found) if isinstance(self.found, str) else None
        if version is not None and int(version.group(1)) > CURRENT_VERSION:
            return (
                f"{self.path}: format {self.found} is newer than this rt reads ({FORMAT}); "
                "upgrade rt"
            )
        return f"{self.path}: format {self.found!r} is not a session format rt knows ({FORMAT})"


def _python_warning(warning: FileWarning) -> None:
    """Without a handler, a warning still reaches someone: Python's `warnings` (the library
    never prints)."""
    warnings.warn(str(warning), SessionWarning, stacklevel=4)


class RecordChecker:
    """Checks the lines of one session file, one at a time, in order (pure).

    `check(number, line)` returns the record, or None when the line is skipped (reported
    through `on_warning`). Call `end()` after the last line: a file that gave no record is
    reported as empty or as not a session file.
    """

    def __init__(self, path: str | os.PathLike[str], on_warning: OnWarning | None = None) -> None:
        self.path = os.fspath(path)
        self._warn = on_warning or _python_warning
        self.records = 0
        self.skipped = 0
        self.lines = 0
        self._migrations: list[Migration] = []

    def warn(self, line: int | None, reason: str) -> None:
        self._warn(FileWarning(self.path, line, reason))

    def check(self, number: int, line: bytes | memoryview, last: bool = False) -> Record | None:
        """The record on line `number`, or None. `last`: the line had no line ending."""
        self.lines += 1
        try:
            record = parse_line(line)
            if record.get("kind") == "session" and not self.records:
                chain = self._header(number, record)
                if chain is None:
                    return None
                self._migrations = chain
            for migrate in self._migrations:  # an older format becomes the current one first
                record = migrate(record)
            record = check_record(record)
        except SessionFormatError as exc:
            self.skipped += 1
            self.warn(number, "incomplete last line (cut off)" if last else exc.reason)
            return None
        if record["kind"] == "session" and self.records:
            self.skipped += 1
            self.warn(number, "a session line that is not the first record; ignored")
            return None
        self.records += 1
        return record

    def _header(self, number: int, record: Record) -> list[Migration] | None:
        """The migrations a file whose header is `record` needs; None: a damaged header."""
        found = record.get("format", FORMAT)
        if not (isinstance(found, str) and _FORMAT_NAME.match(found)):
            self.skipped += 1
            self.warn(number, f"a session line whose format {found!r} is not rt's; ignored")
            return None
        return self._migration_chain(found)

    def end(self) -> None:
        if self.records:
            return
        if not self.lines:
            self.warn(None, "empty file: no session records")
        else:
            self.warn(None, "not an rt session file: no line is a session record")

    def _migration_chain(self, found: object) -> list[Migration]:
        chain: list[Migration] = []
        current = found
        while current != FORMAT:
            step = MIGRATIONS.get(current) if isinstance(current, str) else None
            if step is None:
                raise UnsupportedFormat(self.path, found)
            current, migrate = step
            chain.append(migrate)
        return chain


def open_session_file(path: str | os.PathLike[str]) -> IO[bytes]:
    """A session file opened for reading: a local path, or an object store URL (fsspec)."""
    from recorder.object_store import is_url, open_filesystem

    name = os.fspath(path)
    if is_url(name):
        fs, inner = open_filesystem(name)
        return fs.open(inner, "rb")  # type: ignore[no-any-return]
    try:
        return open(name, "rb", buffering=_BUFFER_BYTES)  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise InputError(f"{name}: no such session file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not a session file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from None


def line_ending(head: bytes) -> bytes:
    """What ends the lines of a file that starts with `head`: `\\n`, or `\\r` when its first
    64 KiB hold a `\\r` and no `\\n` (old Mac style)."""
    sniff = head[:_SNIFF_BYTES]
    return b"\r" if b"\n" not in sniff and b"\r" in sniff else b"\n"


def iter_lines(file: IO[bytes]) -> Iterator[tuple[int, bytes | memoryview, bool]]:
    """`(line number, line, whether it lacked a line ending)` for each non-blank line. A line
    may keep its `\n` (JSON readers ignore it)."""
    peek = getattr(file, "peek", None)
    sniff = peek(_SNIFF_BYTES)[:_SNIFF_BYTES] if peek is not None else None
    if sniff is None or line_ending(sniff) == b"\r":
        for number, _, line, last in _split_lines(file):
            yield number, line, last
        return
    number = 0
    for line in file:  # the C line iterator: several times faster than splitting by hand
        number += 1
        if line[0] in _BLANK and not line.strip():
            continue
        yield number, line, line[-1] != 0x0A


def iter_located_lines(file: IO[bytes]) -> Iterator[tuple[int, int, bytes | memoryview, bool]]:
    """`iter_lines` with where each line starts in the file (a byte offset)."""
    peek = getattr(file, "peek", None)
    sniff = peek(_SNIFF_BYTES)[:_SNIFF_BYTES] if peek is not None else None
    if sniff is None or line_ending(sniff) == b"\r":
        yield from _split_lines(file)
        return
    number = offset = 0
    for line in file:
        number += 1
        start, offset = offset, offset + len(line)
        if line[0] in _BLANK and not line.strip():
            continue
        yield number, start, line, line[-1] != 0x0A


def _split_lines(file: IO[bytes]) -> Iterator[tuple[int, int, bytes | memoryview, bool]]:
    """`iter_located_lines` for files that cannot peek (object storage) or end lines with `\r`
    alone."""
    buffer = b""
    consumed = 0  # bytes of the file before `data`
    number = 0
    separator: bytes | None = None
    while True:
        chunk = file.read(CHUNK_BYTES)
        if separator is None:
            separator = line_ending(chunk)
        data = buffer + chunk if buffer else chunk
        if not chunk:
            if data.strip():
                number += 1
                yield number, consumed, memoryview(data), True
            return
        view = memoryview(data)
        find = data.find
        start = 0
        while True:
            end = find(separator, start)
            if end < 0:
                break
            number += 1
            if end > start and (data[start] not in _BLANK or data[start:end].strip()):
                yield number, consumed + start, view[start:end], False
            start = end + 1
        buffer = data[start:]
        consumed += start


def iter_raw_records(
    path: str | os.PathLike[str],
    on_warning: OnWarning | None = None,
    checker: RecordChecker | None = None,
) -> Iterator[tuple[int, int, bytes, Record]]:
    """`(line number, offset, line bytes, record)` for every usable record of a session file:
    `offset` is where the line starts in the file (pass a `checker` to see afterwards how many
    records and skipped lines there were)."""
    checker = checker or RecordChecker(path, on_warning)
    with open_session_file(path) as file:
        for number, offset, line, last in iter_located_lines(file):
            record = checker.check(number, line, last)
            if record is not None:
                yield number, offset, bytes(line), record
    checker.end()


def iter_records(
    path: str | os.PathLike[str],
    on_warning: OnWarning | None = None,
    checker: RecordChecker | None = None,
) -> Iterator[tuple[int, Record]]:
    """`(line number, record)` for every usable record of a session file, streaming (pass a
    `checker` to see afterwards how many records and skipped lines there were)."""
    checker = checker or RecordChecker(path, on_warning)
    with open_session_file(path) as file:
        for number, line, last in iter_lines(file):
            record = checker.check(number, line, last)
            if record is not None:
                yield number, record
    checker.end()
