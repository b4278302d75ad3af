"""The one DuckDB layer: a bounded in-memory database, named queries, and the vocabulary tables.

Every query lives in `queries/<name>.sql` and is run by name. The event vocabulary, the
output-delta kinds and the audio formats are not repeated in SQL: they are built from
`recorder.vocabulary` when a database is opened, as the macro `canonical_type(name)` (beta
and GA names -> the GA name, applied once as lines are loaded) and the tables
`output_deltas(type, is_audio)` and `audio_formats(name, bytes_per_ms, sample_width)`, so
beta and GA recordings go through one vocabulary in every query.

A user's own SQL (`rt sql`) runs through `user_query`, which turns DuckDB's errors into a
one-line `SQLError`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import duckdb

from recorder import object_store, vocabulary
from recorder.errors import RecorderError

DEFAULT_MEMORY_LIMIT = "2GB"

Params = Mapping[str, Any] | None


class QueryError(RecorderError):
    """DuckDB failed to run one of our queries (a bug, or a resource running out)."""

    def __init__(self, query: str, detail: str) -> None:
        self.query = query
        self.detail = detail
        super().__init__(query, detail)

    def __str__(self) -> str:
        first_line = self.detail.strip().splitlines()[0] if self.detail.strip() else "failed"
        return f"analytics query '{self.query}' failed: {first_line}"


class SQLError(RecorderError):
    """The user's SQL failed: DuckDB's message on one line (its position marker left out)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)

    def __str__(self) -> str:
        return f"query failed: {one_line_message(self.detail)}"


def split_statements(sql: str) -> list[str]:
    """The statements of `sql`, parsed but not run: a syntax error raises SQLError at once,
    before any file is read."""
    try:
        statements = [statement.query.strip() for statement in duckdb.extract_statements(sql)]
    except duckdb.Error as exc:
        raise SQLError(str(exc)) from exc
    return [statement for statement in statements if statement]


def one_line_message(detail: str) -> str:
    """DuckDB's message without the `LINE 1: ...` excerpt and its caret, on one line."""
    head = detail.split("\n\nLINE ", 1)[0]
    text = " ".join(line.strip() for line in head.splitlines() if line.strip())
    return text or "failed"


@dataclass(frozen=True)
class ResultColumn:
    name: str
    type: str  # DuckDB's name for the type: "BIGINT", "JSON", "TIMESTAMP WITH TIME ZONE", ...


@dataclass(frozen=True)
class QueryResult:
    """The columns and rows of a user's query (rows as DuckDB hands them to Python)."""

    columns: Sequence[ResultColumn]
    rows: Sequence[tuple[Any, ...]]


@cache
def query_text(name: str) -> str:
    """The SQL of `queries/<name>.sql`."""
    queries = resources.files("recorder.analytics").joinpath("queries")
    return queries.joinpath(f"{name}.sql").read_text(encoding="utf-8")


class AnalyticsDB:
    """An in-memory DuckDB database with a memory limit, spilling to a private temp directory.

    With `keep_events`, loading keeps each event whole (`records.event_json`, the `event`
    column of the `events` view) and rows keep file order, so a plain `SELECT ... FROM events`
    lists frames as they were recorded; loading is then several times slower.
    """

    def __init__(
        self,
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
        threads: int | None = None,
        *,
        keep_events: bool = False,
    ) -> None:
        self.keep_events = keep_events
        self._spill_dir = tempfile.mkdtemp(prefix="rt-stats-")
        self._con = duckdb.connect(":memory:")
        try:
            self._set("memory_limit", memory_limit)
            self._set("temp_directory", self._spill_dir)
            self._set("TimeZone", "UTC")
            # the metrics order frames by their `seq`, so rows need not keep file order (that
            # costs a third of the load time)
            self._set("preserve_insertion_order", keep_events)
            if threads is not None:
                self._set("threads", threads)
            self._install_vocabulary()
            self.execute("macros")
            self.execute("session_lines_with_events" if keep_events else "session_lines")
        except BaseException:
            self.close()
            raise

    def _set(self, key: str, value: str | int | bool) -> None:
        self._con.execute(f"SET {key} = {_literal(value)}")

    # -- running named queries -----------------------------------------------------------------

    def execute(self, name: str, params: Params = None) -> None:
        """Run `queries/<name>.sql` (DDL or DML; several statements allowed without parameters)."""
        self._run(name, params)

    def rows(self, name: str, params: Params = None) -> list[dict[str, Any]]:
        """Run `queries/<name>.sql` and return its rows as dicts keyed by column name."""
        cursor = self._run(name, params)
        columns = [d[0] for d in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def user_query(self, sql: str) -> QueryResult:
        """Run the user's SQL (several statements allowed: the last one's rows are returned).

        Results keep the order of what they select from, so the views' own order (files in
        argument order, then time) shows without an ORDER BY."""
        try:
            self._set("preserve_insertion_order", True)
            cursor = self._con.execute(sql)
            description = cursor.description or ()
            rows = cursor.fetchall() if description else []
        except duckdb.Error as exc:
            raise SQLError(str(exc)) from exc
        columns = [ResultColumn(d[0], str(d[1])) for d in description]
        return QueryResult(columns, rows)

    def _run(self, name: str, params: Params) -> duckdb.DuckDBPyConnection:
        sql = query_text(name)
        try:
            if params is None:
                return self._con.execute(sql)
            return self._con.execute(sql, dict(params))
        except duckdb.Error as exc:
            raise QueryError(name, str(exc)) from exc

    def register_filesystems(self, urls: Iterable[str]) -> None:
        """Let the queries open these object store URLs (s3://…), through fsspec."""
        object_store.register_filesystems(self._con, urls)

    # -- constant tables from Python data ------------------------------------------------------

    def create_table(self, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> None:
        """Create (or replace) a small table `table(columns)` holding `rows`."""
        values = [tuple(row) for row in rows]
        self._con.execute(f"CREATE OR REPLACE TABLE {table} ({columns})")
        if values:
            # one statement for all rows: the columns as lists, unnested side by side
            # (executemany costs a statement per row, which shows with thousands of files)
            lists = [list(column) for column in zip(*values, strict=True)]
            unnests = ", ".join(f"unnest(${i + 1})" for i in range(len(lists)))
            self._con.execute(f"INSERT INTO {table} SELECT {unnests}", lists)

    def _install_vocabulary(self) -> None:
        # canonical_type(name): the GA name of a beta or GA event type, as a CASE (no join)
        cases = "".join(
            f" WHEN {_literal(alias)} THEN {_literal(name)}"
            for alias, name in sorted(vocabulary.ALIASES.items())
        )
        self._con.execute(
            f"CREATE OR REPLACE MACRO canonical_type(name) AS CASE name{cases} ELSE name END"
        )
        # a constant, not a look-up: it sits in the per-append hot path
        default = float(vocabulary.PCM16.bytes_per_ms)
        self._con.execute(f"CREATE OR REPLACE MACRO default_bytes_per_ms() AS {default!r}")
        self.create_table(
            "output_deltas",
            "type VARCHAR PRIMARY KEY, is_audio BOOLEAN NOT NULL",
            sorted((t, t == vocabulary.AUDIO_DELTA) for t in vocabulary.OUTPUT_DELTAS),
        )
        self.create_table(
            "audio_formats",
            "name VARCHAR PRIMARY KEY, bytes_per_ms DOUBLE NOT NULL, sample_width INTEGER NOT NULL",
            sorted(
                (name, fmt.bytes_per_ms, fmt.sample_width)
                for name, fmt in vocabulary.FORMAT_NAMES.items()
            ),
        )

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        try:
            self._con.close()
        finally:
            shutil.rmtree(self._spill_dir, ignore_errors=True)

    def __enter__(self) -> AnalyticsDB:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _literal(value: str | int | bool) -> str:
    """A SQL literal (for the few statements built from our own constants)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"
