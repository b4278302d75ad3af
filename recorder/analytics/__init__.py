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

from __future__ import annotations

from typing import TYPE_CHECKING

from recorder.lazy_names import lazy_names

if TYPE_CHECKING:
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
    from recorder.analytics.views import (
        VIEW_NAMES,
        ProgressCallback,
        Views,
        open_sessions,
        open_views,
    )

# Each name from its module on first use: worker processes that read files import
# `recorder.analytics.loading`, which would otherwise load DuckDB and every query module first.
_MODULES = {
    "ProgressCallback": "recorder.analytics.views",
    "QueryError": "recorder.analytics.db",
    "QueryResult": "recorder.analytics.db",
    "RateLimitTrend": "recorder.analytics.report",
    "ResultColumn": "recorder.analytics.db",
    "SESSION_LIST_KEYS": "recorder.analytics.listing",
    "SQLError": "recorder.analytics.db",
    "SQLResult": "recorder.analytics.sql",
    "SessionList": "recorder.analytics.listing",
    "Sources": "recorder.analytics.sources",
    "StatsReport": "recorder.analytics.report",
    "StatsWarning": "recorder.analytics.report",
    "UnknownModel": "recorder.analytics.report",
    "VIEW_NAMES": "recorder.analytics.views",
    "Views": "recorder.analytics.views",
    "collect_stats": "recorder.analytics.stats",
    "list_sessions": "recorder.analytics.listing",
    "open_sessions": "recorder.analytics.views",
    "open_views": "recorder.analytics.views",
    "resolve_session_files": "recorder.analytics.sources",
    "resolve_sources": "recorder.analytics.sources",
    "run_sql": "recorder.analytics.sql",
}


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


__getattr__, __dir__ = lazy_names(__name__, _MODULES, __all__)
