"""Analytics over many session files with DuckDB: latency, tokens, cost, rate limits, errors.

    collect_stats(paths, prices) -> StatsReport      the whole of `rt stats`, minus rendering
    list_sessions(paths, prices, sort=...)            `rt ls`: one row per session
    run_sql(sql, paths, prices) -> SQLResult          `rt sql`: the user's SQL over the views
    open_views(paths, prices)                         the database all three start from

Modules: `sources` (which files), `db` (the one DuckDB layer, `queries/*.sql`), `views` (loads
the files and builds the views `events`, `sessions`, `responses`, `rate_limits`, `errors`),
`stats`, `listing` and `sql` (the three commands), `skipped` (counts bad lines), `report`
(results and the JSON shape of `rt stats`).
"""

from recorder.analytics.db import QueryError, QueryResult, ResultColumn, SQLError
from recorder.analytics.listing import SESSION_LIST_KEYS, SessionList, list_sessions
from recorder.analytics.report import (
    RateLimitTrend,
    StatsReport,
    StatsWarning,
    UnknownModel,
)
from recorder.analytics.sources import Sources, resolve_session_files, resolve_sources
from recorder.analytics.sql import SQLResult, run_sql
from recorder.analytics.stats import collect_stats
from recorder.analytics.views import VIEW_NAMES, ProgressCallback, Views, open_sessions, open_views

__all__ = [
    "SESSION_LIST_KEYS",
    "VIEW_NAMES",
    "ProgressCallback",
    "QueryError",
    "QueryResult",
    "RateLimitTrend",
    "ResultColumn",
    "SQLError",
    "SQLResult",
    "SessionList",
    "Sources",
    "StatsReport",
    "StatsWarning",
    "UnknownModel",
    "Views",
    "collect_stats",
    "list_sessions",
    "open_sessions",
    "open_views",
    "resolve_session_files",
    "resolve_sources",
    "run_sql",
]
