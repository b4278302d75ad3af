"""`rt stats` as a library call: session files in, a StatsReport out.

The report reads the views (`views.py`) through the queries `response_rows`, `session_rows`,
`summary`, `totals`, `rate_limit_rows`, `rate_limit_trend`, `error_list` and
`unfinished_responses`, so `rt stats` and `rt sql` give the same numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from recorder.analytics.db import DEFAULT_MEMORY_LIMIT
from recorder.analytics.report import RateLimitTrend, StatsReport, StatsWarning
from recorder.analytics.views import ProgressCallback, open_views
from recorder.pricing import PriceTable

TREND_BUCKETS = 24


def collect_stats(
    paths: Iterable[str | os.PathLike[str]],
    prices: PriceTable | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    trend_buckets: int = TREND_BUCKETS,
    on_warning: Callable[[StatsWarning], None] | None = None,
) -> StatsReport:
    """Analyse the session files named by `paths` (files, directories, globs).

    Raises InputError when a path names no session file. Bad lines never raise: they are
    skipped and reported in `StatsReport.warnings`, with unknown models.
    """
    with open_views(
        paths, prices, on_progress=on_progress, on_warning=on_warning, memory_limit=memory_limit
    ) as views:
        db = views.db
        summary = {row["metric"]: row for row in db.rows("summary")}
        summary.update(db.rows("totals")[0])
        trends = [
            RateLimitTrend(**row) for row in db.rows("rate_limit_trend", {"buckets": trend_buckets})
        ]
        return StatsReport(
            responses=db.rows("response_rows"),
            sessions=db.rows("session_rows"),
            summary=summary,
            rate_limits=db.rows("rate_limit_rows"),
            errors=db.rows("error_list"),
            trends=trends,
            unfinished=db.rows("unfinished_responses"),
            by_kind={row["kind"]: row["responses"] for row in db.rows("by_kind")},
            warnings=views.warnings,
            prices_as_of=views.prices.as_of,
            facts=list(views.facts),
        )
