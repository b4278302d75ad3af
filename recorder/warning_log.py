"""One warning shape for everything rt reads: `FILE:LINE: reason` (pure, no I/O).

    FileWarning(path, line, reason)     something in one input that was skipped or worked around
    WarningLog(emit, per_file=3)        an `on_warning` callback that passes the first few warnings
                                        of each file to `emit` and, on `close()`, one summary line
                                        per file for the rest

Every reader reports through an `on_warning` callback taking a `FileWarning` (or another object
whose `str()` is one line, such as a model without a price): the library never prints. The
command line prints `warning: <str(warning)>` on stderr through a `WarningLog`, so a damaged
file gives a handful of lines and a count, not one line per bad line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_PER_FILE = 3


@dataclass(frozen=True)
class FileWarning:
    """A problem in one input file, at one line when there is one."""

    path: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.reason}"


WarningHandler = Callable[[object], None]


class SessionWarning(UserWarning):
    """A `FileWarning` raised through Python's `warnings` when a reader was given no handler."""


@dataclass
class _FileCount:
    shown: int = 0
    held: int = 0
    first_held: int | None = None
    last_held: int | None = None


@dataclass
class WarningLog:
    """Passes at most `per_file` warnings of each file to `emit`; counts the rest.

    Use it as the `on_warning` callback of any reader, then call `close()` once the reading is
    done: each file with warnings held back gets one line saying how many and where.
    Warnings that name no file (a model without a price) always pass.
    """

    emit: Callable[[object], None]
    per_file: int = DEFAULT_PER_FILE
    _files: dict[str, _FileCount] = field(default_factory=dict)
    count: int = 0

    def __call__(self, warning: object) -> None:
        self.count += 1
        if not isinstance(warning, FileWarning):
            self.emit(warning)
            return
        state = self._files.setdefault(warning.path, _FileCount())
        if state.shown < self.per_file:
            state.shown += 1
            self.emit(warning)
            return
        state.held += 1
        if warning.line is not None:
            if state.first_held is None:
                state.first_held = warning.line
            state.last_held = warning.line

    def close(self) -> None:
        """One summary line per file whose warnings were held back."""
        for path, state in self._files.items():
            if not state.held:
                continue
            noun = "warning" if state.held == 1 else "warnings"
            where = ""
            if state.first_held is not None:
                where = f" (lines {state.first_held}-{state.last_held})"
                if state.first_held == state.last_held:
                    where = f" (line {state.first_held})"
            self.emit(FileWarning(path, None, f"{state.held} more {noun} not shown{where}"))
        self._files.clear()
