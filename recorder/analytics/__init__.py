"""Analytics over many session files with DuckDB: latency, tokens, cost, rate limits, errors.

    collect_stats(paths, prices) -> StatsReport      the whole of `rt stats`, minus rendering

Modules: `sources` (which files), `db` (the one DuckDB layer, `queries/*.sql`), `stats` (runs
the queries in order), `skipped` (counts bad lines), `report` (results and the JSON shape).
"""

from recorder.analytics.db import QueryError
from recorder.analytics.report import (
    RateLimitTrend,
    SkippedLines,
    StatsReport,
    StatsWarning,
    UnknownModel,
)
from recorder.analytics.sources import resolve_session_files
from recorder.analytics.stats import ProgressCallback, collect_stats

__all__ = [
    "ProgressCallback",
    "QueryError",
    "RateLimitTrend",
    "SkippedLines",
    "StatsReport",
    "StatsWarning",
    "UnknownModel",
    "collect_stats",
    "resolve_session_files",
]
