"""The one DuckDB layer: a bounded in-memory database, named queries, and the vocabulary tables.

Every query lives in `queries/<name>.sql` and is run by name. The event vocabulary, the
output-delta kinds and the audio formats are not repeated in SQL: they are built from
`recorder.vocabulary` when a database is opened, as the macro `canonical_type(name)` (beta
and GA names -> the GA name, applied once as lines are loaded) and the tables
`output_deltas(type, is_audio)` and `audio_formats(name, bytes_per_ms, sample_width)`, so
beta and GA recordings go through one vocabulary in every query.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

import duckdb

from recorder import vocabulary
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
        return f"stats query '{self.query}' failed: {first_line}"


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
            # frames are ordered by their `seq`, so rows need not keep file order (that costs
            # a third of the load time)
            self._set("preserve_insertion_order", False)
            if threads is not None:
                self._set("threads", threads)
            self._install_vocabulary()
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

    def _run(self, name: str, params: Params) -> duckdb.DuckDBPyConnection:
        sql = query_text(name)
        try:
            if params is None:
                return self._con.execute(sql)
            return self._con.execute(sql, dict(params))
        except duckdb.Error as exc:
            raise QueryError(name, str(exc)) from exc

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
