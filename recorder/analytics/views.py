"""Session files in, a DuckDB database with the ready views out: what `rt stats`, `rt ls`,
`rt sql`, `rt diff` and `rt export parquet` all start from.

    with open_views(paths, prices) as views:     # views.db is the AnalyticsDB
        views.db.rows("session_rows")
        views.warnings                           # skipped lines, models without a price

Each file is read and interpreted once (`loading.interpret_files`, the same interpretation
every other reader uses); its facts become the base tables (`tables.BASE_TABLES`); Parquet
datasets load into the same tables. The views, each defined once in `queries/<name>.sql`:

    events       one row per frame (with `with_events`, the whole event as JSON)
    sessions     one row per session file
    responses    one row per response, with the metrics of CONTRACT §3 and §4
    rate_limits  one row per entry of every rate_limits.updated
    errors       server errors, failed responses, faults of the proxy
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb

from recorder.analytics.datasets import load_dataset
from recorder.analytics.db import DEFAULT_MEMORY_LIMIT, AnalyticsDB
from recorder.analytics.loading import ProgressCallback, interpret_files
from recorder.analytics.report import StatsWarning, UnknownModel
from recorder.analytics.sources import resolve_sources
from recorder.analytics.tables import BASE_TABLES, TableBuilder
from recorder.errors import InputError
from recorder.interpretation import SessionFacts
from recorder.pricing import PriceTable, builtin_prices
from recorder.warning_log import FileWarning

VIEW_NAMES = ("events", "sessions", "responses", "rate_limits", "errors")

__all__ = ["VIEW_NAMES", "ProgressCallback", "Views", "open_sessions", "open_views"]


@dataclass
class Views:
    """An open database holding the views over some session files."""

    db: AnalyticsDB
    files: Sequence[str]
    prices: PriceTable
    warnings: list[StatsWarning] = field(default_factory=list)
    facts: list[SessionFacts] = field(default_factory=list)  # each file's, in `files` order

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """The user's SQL over the views, as a DuckDB relation (`.df()`, `.arrow()`,
        `.fetchall()`, …) valid while the views are open. Raises SQLError."""
        return self.db.relation(query)


@contextmanager
def open_views(
    paths: Iterable[str | os.PathLike[str]],
    prices: PriceTable | None = None,
    *,
    with_events: bool = False,
    with_audio: bool = False,
    on_progress: ProgressCallback | None = None,
    on_warning: Callable[[StatsWarning], None] | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> Iterator[Views]:
    """Read the session files named by `paths` (files, directories, globs, object store URLs,
    Parquet datasets written by `rt export parquet`) and build the views.

    Raises InputError when a path names no session file, or when none of the files holds a
    session record (all empty, or not session files). Bad lines never raise: they are
    skipped and reported in `Views.warnings` (and to `on_warning` as they are found), with the
    models that have no price. `with_events` fills the `event` column of `events` (without
    base64 audio unless `with_audio`).
    """
    sources = resolve_sources(paths)
    table = prices or builtin_prices()
    warnings: list[StatsWarning] = []

    def warn(warning: StatsWarning) -> None:
        warnings.append(warning)
        if on_warning is not None:
            on_warning(warning)

    builder = TableBuilder(table)
    facts: list[SessionFacts] = []
    loaded = interpret_files(
        sources.files,
        sources.sizes,
        with_events=with_events,
        with_audio=with_audio,
        on_progress=on_progress,
    )
    readable = 0
    for ordinal, session in enumerate(loaded):
        for problem in session.warnings:
            warn(problem)
        facts.append(session.facts)
        if session.records:  # an empty or foreign file is named in a warning, not a session
            builder.add(ordinal, session)
            readable += 1
    if sources.files and not readable and not sources.datasets:
        raise InputError(_nothing_readable(sources.files, warnings))
    for model, sessions in sorted(
        builder.sessions_by_model.items(), key=lambda item: (item[0] is None, item[0] or "")
    ):
        if model is None or table.lookup(model) is None:
            warn(UnknownModel(model, sessions))
    for model, sessions in sorted(
        builder.unpriced_transcription.items(), key=lambda item: (item[0] is None, item[0] or "")
    ):
        warn(UnknownModel(model, sessions, transcription=True))
    for model, sessions in sorted(
        builder.unpriced_delegations.items(), key=lambda item: (item[0] is None, item[0] or "")
    ):
        warn(UnknownModel(model, sessions, delegation=True))
    frames = builder.columns
    with AnalyticsDB(memory_limit=memory_limit) as db:
        db.register_filesystems([dataset.root for dataset in sources.datasets])
        db.create_table("inputs", "ordinal INTEGER, file VARCHAR", enumerate(sources.files))
        for name, columns in BASE_TABLES.items():
            db.load_columns(name, columns, frames[name])
        del frames
        first_ordinal = len(sources.files)
        for dataset in sources.datasets:
            first_ordinal += load_dataset(db, dataset, first_ordinal)
        for view in VIEW_NAMES:
            db.execute(view)
        yield Views(db, sources.files, table, warnings, facts)


def _nothing_readable(files: Sequence[str], warnings: Sequence[StatsWarning]) -> str:
    """The error for inputs of which none holds a session record."""
    if len(files) == 1:
        said = [w for w in warnings if isinstance(w, FileWarning) and w.line is None]
        return str(said[-1]) if said else f"{files[0]}: no session records"
    return f"none of the {len(files)} files holds a session record (empty, or not session files)"


open_sessions = open_views  # the public name (recorder.open_sessions)
