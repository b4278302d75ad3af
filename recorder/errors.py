"""One error tree for the library.

    RecorderError                 anything the user can act on; `str()` is the one-line message
    ├── SessionFormatError        a line of a session file is not a valid record (file, line);
    │                             readers skip such a line with a warning (warning_log.py)
    ├── InputError                a path, option value or file the user gave is unusable
    │   ├── UnsupportedFormat     a session file in a format this rt cannot read (reading.py)
    │   ├── DatasetError          a directory that claims to be a Parquet dataset but is not one
    │   │                         rt reads (analytics/datasets.py)
    │   ├── MixTooLong            a stereo mix longer than 4 h: some frame's `t` is wrong (audio.py)
    │   └── CheckConfigError      an rt check config with a mistake, at FILE:LINE (check/config.py)
    ├── UpstreamError             the upstream refused or broke the connection
    ├── StorageError              an object store operation failed (object_store.py)
    ├── ExportError               a Parquet dataset could not be written (parquet.py)
    ├── ReplayTimeout             the server did not send what a replay waited for (replay/run.py)
    ├── ReplayStopped             the connection ended before the replay was done (replay/run.py)
    ├── QueryError                DuckDB failed to run one of our queries (analytics/db.py)
    └── SQLError                  the user's SQL failed (rt sql; analytics/db.py)

Each subclass lives beside the code that raises it; this drawing is the list. Messages are
lowercase "what: detail" and name the file and line where there is one. The CLI turns a
RecorderError into a one-line error and exit status 1, in one place (cli/main.py). Problems
that do not stop the work (a skipped line, a model without a price) are warnings, not errors:
`warning_log.FileWarning`, printed as `warning: FILE:LINE: reason`.
"""

from __future__ import annotations


class RecorderError(Exception):
    """Base class: an error the user can act on, with a one-line message."""


class SessionFormatError(RecorderError):
    """A line of a session file that is not a valid rt-session/1 record."""

    def __init__(self, reason: str, path: str | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        super().__init__(reason)

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        elif self.line is not None:
            where = f"line {self.line}: "
        return f"{where}{self.reason}"


class InputError(RecorderError):
    """A path, option value or file the user gave that cannot be used."""


class UpstreamError(RecorderError):
    """The upstream refused the handshake or the connection failed."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)
