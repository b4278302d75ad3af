"""`rt ls` as a library call: one row per session, sorted by any column."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recorder.analytics.db import DEFAULT_MEMORY_LIMIT
from recorder.analytics.report import StatsWarning
from recorder.analytics.views import ProgressCallback, open_views
from recorder.errors import InputError
from recorder.pricing import PriceTable

# the columns of `queries/session_list.sql`, in order
SESSION_LIST_KEYS = (
    "file",
    "session",
    "started_at",
    "model",
    "duration_s",
    "turns",
    "ttfb_p50_ms",
    "tokens",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "errors",
    "frames",
)
DEFAULT_SORT = "started_at"


@dataclass(frozen=True)
class SessionList:
    rows: Sequence[Mapping[str, Any]]
    warnings: Sequence[StatsWarning]


def list_sessions(
    paths: Iterable[str | os.PathLike[str]],
    prices: PriceTable | None = None,
    *,
    sort: str = DEFAULT_SORT,
    reverse: bool = False,
    on_progress: ProgressCallback | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> SessionList:
    """The sessions named by `paths`, sorted by `sort` (ascending unless `reverse`); rows
    without a value for that column come last either way, ties keep the order of the files."""
    if sort not in SESSION_LIST_KEYS:
        raise InputError(f"cannot sort by {sort!r}: choose one of {', '.join(SESSION_LIST_KEYS)}")
    with open_views(paths, prices, on_progress=on_progress, memory_limit=memory_limit) as views:
        rows = views.db.rows("session_list")
        return SessionList(sort_rows(rows, sort, reverse=reverse), views.warnings)


def sort_rows(
    rows: Sequence[Mapping[str, Any]], key: str, *, reverse: bool = False
) -> list[Mapping[str, Any]]:
    """Rows sorted by one key, missing values last, equal values in their given order."""
    present = [row for row in rows if row.get(key) is not None]
    missing = [row for row in rows if row.get(key) is None]
    return sorted(present, key=lambda row: row[key], reverse=reverse) + missing
