"""The second pass over a damaged file: how many lines were skipped, and the first one."""

from __future__ import annotations

import contextlib

from recorder.analytics.report import SkippedLines
from recorder.errors import SessionFormatError
from recorder.object_store import is_url, local_copy
from recorder.store import iter_records


def skipped_lines(file: str) -> SkippedLines | None:
    """Count the lines of `file` that every reader skips (None if there are none).

    Uses the same tolerant reader as every other command, so the count and the line number
    agree with what `rt export` or `rt replay` report for the same file.
    """
    problems: list[SessionFormatError] = []
    readable = local_copy(file) if is_url(file) else contextlib.nullcontext(file)
    with readable as path:
        for _ in iter_records(path, problems.append):
            pass
    if not problems:
        return None
    first = problems[0]
    return SkippedLines(file, len(problems), first.line or 0, first.reason)
