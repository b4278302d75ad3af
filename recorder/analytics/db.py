"""The one DuckDB layer: a bounded in-memory database, tables loaded from Python, named queries.

Every query lives in `queries/<name>.sql` and is run by name. No query interprets events: the
tables hold what `recorder.interpretation` says about each session (`tables.py` builds them),
and the queries only join, order and aggregate them. Parquet files (a dataset written by
`rt export parquet`) load into the same tables, and the export is a `COPY` of the views.

A user's own SQL (`rt sql`) runs through `user_query`, which turns DuckDB's errors into a
one-line `SQLError`, after `restrict()` has taken away everything but the tables and views:
no file, URL, other database or extension, and no setting can be changed back. No database
rt opens ever downloads an extension by itself.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import duckdb

from recorder import object_store
from recorder.analytics.tables import Columns, select_cast
from recorder.errors import RecorderError

DEFAULT_MEMORY_LIMIT = "2GB"
_LIST_ROWS = 20_000  # up to this many rows a table is loaded from lists, above from numpy

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

    def __init__(self, detail: str, *, refused: bool = False) -> None:
        self.detail = detail
        self.refused = refused  # it needed a file, a URL, an extension or a setting
        super().__init__(detail)

    def __str__(self) -> str:
        message = f"query failed: {one_line_message(self.detail)}"
        if self.refused:
            message += (
                " (rt sql reads only its views; --allow-files lets the SQL use files, URLs "
                "and extensions)"
            )
        return message


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
    """An in-memory DuckDB database with a memory limit, spilling to a private temp directory."""

    def __init__(
        self, memory_limit: str = DEFAULT_MEMORY_LIMIT, threads: int | None = None
    ) -> None:
        self._spill_dir = tempfile.mkdtemp(prefix="rt-stats-")
        self._con = duckdb.connect(":memory:")
        try:
            self._set("memory_limit", memory_limit)
            self._set("temp_directory", self._spill_dir)
            self._set("TimeZone", "UTC")
            # the views are ordered (files as given, then frames); results keep that order
            self._set("preserve_insertion_order", True)
            if threads is not None:
                self._set("threads", threads)
            # a query never fetches or loads an extension by itself (an explicit INSTALL or
            # LOAD may, where the database is not restricted)
            self._set("autoinstall_known_extensions", False)
            self._set("autoload_known_extensions", False)
            self.execute("macros")
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

    def restrict(self) -> None:
        """From now on, only the tables and views: no file or URL is read or written (the
        spill directory excepted), no database attached, no extension installed or loaded,
        and no setting changed, this one included. Call it once the views exist."""
        self._set("python_enable_replacements", False)  # no Python variable as a table
        self._set("enable_external_access", False)
        self._set("lock_configuration", True)

    def user_query(self, sql: str) -> QueryResult:
        """Run the user's SQL (several statements allowed: the last one's rows are returned).

        Results keep the order of what they select from, so the views' own order (files in
        argument order, then time) shows without an ORDER BY."""
        try:
            cursor = self._con.execute(sql)
            description = cursor.description or ()
            rows = cursor.fetchall() if description else []
        except duckdb.Error as exc:
            raise SQLError(str(exc), refused=_is_refusal(exc)) from exc
        columns = [ResultColumn(d[0], str(d[1])) for d in description]
        return QueryResult(columns, rows)

    def relation(self, sql: str) -> duckdb.DuckDBPyRelation:
        """The user's SQL as a DuckDB relation (lazy; valid while the database is open)."""
        try:
            return self._con.sql(sql)
        except duckdb.Error as exc:
            raise SQLError(str(exc)) from exc

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

    # -- tables from Python data and from Parquet -----------------------------------------------

    def create_table(self, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> None:
        """Create (or replace) a small table `table(columns)` holding `rows`."""
        self._con.execute(f"CREATE OR REPLACE TABLE {table} ({columns})")
        self.append_rows(table, rows)

    def append_rows(self, table: str, rows: Iterable[Sequence[Any]]) -> None:
        """Append `rows` (tuples in the table's column order) to `table`."""
        values = [tuple(row) for row in rows]
        if values:
            # one statement for all rows: the columns as lists, unnested side by side
            # (executemany costs a statement per row, which shows with thousands of files)
            lists = [list(column) for column in zip(*values, strict=True)]
            unnests = ", ".join(f"unnest(${i + 1})" for i in range(len(lists)))
            self._con.execute(f"INSERT INTO {table} SELECT {unnests}", lists)

    def load_columns(self, table: str, columns: Columns, values: Mapping[str, list[Any]]) -> None:
        """Create (or replace) `table` from `values` (column name -> equally long lists), each
        column cast to its type. Small tables go in as list parameters; large ones as numpy
        arrays, which DuckDB scans in place (numpy is only imported then: it costs a tenth of
        a second, the whole of `rt stats` on a small file)."""
        rows = len(next(iter(values.values()), []))
        try:
            if rows <= _LIST_ROWS:
                parts = ", ".join(
                    f'CAST(unnest(${i + 1}) AS {kind}) AS "{name}"'
                    for i, (name, kind) in enumerate(columns)
                )
                lists = [values[name] for name, _ in columns]
                if rows:
                    self._con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {parts}", lists)
                else:
                    self._con.execute(
                        f"CREATE OR REPLACE TABLE {table} AS SELECT {parts} LIMIT 0",
                        [[None]] * len(columns),
                    )
                return
            import numpy as np

            frame = {name: np.array(values[name], dtype=object) for name, _ in columns}  # noqa: F841
            self._con.execute(
                f"CREATE OR REPLACE TABLE {table} AS " + select_cast(columns, "frame")
            )
        except duckdb.Error as exc:
            raise QueryError(f"load {table}", str(exc)) from exc

    def load_parquet(self, table: str, files: Sequence[str]) -> None:
        """Create (or replace) the temporary `table` holding the rows of Parquet `files`."""
        try:
            self._con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_parquet("
                "$files, hive_partitioning = true, union_by_name = true)",
                {"files": list(files)},
            )
        except duckdb.Error as exc:
            raise QueryError(f"read {files[0]}", str(exc)) from exc

    def insert_base_rows(self, table: str, columns: Columns, source: str) -> None:
        """Append the rows of `source` (a dataset's view rows) to the base `table`: `ordinal`
        from `inputs` by file, the other columns by name (NULL where `source` has none)."""
        have = {row[0] for row in self._con.execute(f"DESCRIBE {source}").fetchall()}
        parts = []
        for name, kind in columns:
            if name == "ordinal":
                parts.append("i.ordinal")
            elif name not in have:
                parts.append(f"CAST(NULL AS {kind})")
            elif name == "binary":
                parts.append('to_base64(CAST(d."binary" AS BLOB))')
            else:
                parts.append(f'CAST(d."{name}" AS {kind})')
        try:
            self._con.execute(
                f"INSERT INTO {table} SELECT {', '.join(parts)} FROM {source} AS d "
                "JOIN inputs AS i ON i.file = d.file"
            )
        except duckdb.Error as exc:
            raise QueryError(f"load {table}", str(exc)) from exc

    def copy_partitioned(
        self, view: str, directory: os.PathLike[str], partitions: Sequence[str], pattern: str
    ) -> int:
        """`COPY` the rows of `view` to Parquet files under `directory`, Hive-partitioned by
        `partitions`; returns how many rows it wrote."""
        target = str(directory).replace("'", "''")
        try:
            result = self._con.execute(
                f"COPY (SELECT * FROM {view}) TO '{target}' (FORMAT parquet, COMPRESSION zstd, "
                f"PARTITION_BY ({', '.join(partitions)}), FILENAME_PATTERN '{pattern}')"
            ).fetchall()
        except duckdb.Error as exc:
            raise QueryError(f"copy {view}", str(exc)) from exc
        return int(result[0][0]) if result else 0

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


def _is_refusal(exc: duckdb.Error) -> bool:
    """Whether DuckDB refused the SQL for what `restrict` took away."""
    if isinstance(exc, duckdb.PermissionException):
        return True
    text = str(exc)
    return "the configuration has been locked" in text or (
        isinstance(exc, duckdb.CatalogException) and "exists in the" in text
    )


def _literal(value: str | int | bool) -> str:
    """A SQL literal (for the few statements built from our own constants)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"
