"""`rt sql` as a library call: the user's SQL over the views of some session files.

    result = run_sql("SELECT model, count(*) FROM sessions GROUP BY ALL", ["sessions/"])
    result.columns, result.rows, result.warnings

The SQL is parsed before any file is read, so a typo fails at once. Queries that name the
`events` view load each event whole (slower); the others load what the metrics need.

The SQL sees the views and nothing else: once they exist the database is restricted
(`AnalyticsDB.restrict`: no file, URL, extension or setting), unless `allow_files`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from recorder.analytics.db import (
    DEFAULT_MEMORY_LIMIT,
    ResultColumn,
    split_statements,
)
from recorder.analytics.report import StatsWarning
from recorder.analytics.views import ProgressCallback, open_views
from recorder.errors import InputError
from recorder.pricing import PriceTable

_NAMES_EVENTS = re.compile(r"\bevents\b", re.IGNORECASE)


@dataclass(frozen=True)
class SQLResult:
    columns: Sequence[ResultColumn]
    rows: Sequence[tuple[Any, ...]]
    warnings: Sequence[StatsWarning]


def run_sql(
    sql: str,
    paths: Iterable[str | os.PathLike[str]],
    prices: PriceTable | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    allow_files: bool = False,
    with_audio: bool = False,
) -> SQLResult:
    """Run `sql` (one or more statements; the last one's rows are the result) over the views
    of the session files named by `paths`. `events.event` leaves the base64 audio of appends and
    audio deltas out (their size is in `audio_bytes`) unless `with_audio`.

    The SQL may read and write files, URLs and other databases, and install or load
    extensions, only with `allow_files`; without it, it may only query (and create temporary
    tables, views and macros).

    Raises SQLError when DuckDB rejects the SQL, InputError when there is no SQL or a path
    names no session file.
    """
    if not split_statements(sql):
        raise InputError("no SQL statement given")
    with open_views(
        paths,
        prices,
        with_events=uses_events(sql),
        with_audio=with_audio,
        on_progress=on_progress,
        memory_limit=memory_limit,
    ) as views:
        if not allow_files:
            views.db.restrict()
        result = views.db.user_query(sql)
        return SQLResult(result.columns, result.rows, views.warnings)


def uses_events(sql: str) -> bool:
    """Whether `sql` may read the `events` view (a word test: a false yes only costs time)."""
    return _NAMES_EVENTS.search(sql) is not None
