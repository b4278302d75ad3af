"""Session files in, a DuckDB database with the ready views out: what `rt stats`, `rt ls` and
`rt sql` all start from.

    with open_views(paths, prices) as views:     # views.db is the AnalyticsDB
        views.db.rows("session_rows")
        views.warnings                           # skipped lines, models without a price

The views, each defined once in `queries/<name>.sql`:

    events       one row per frame (with `keep_events`, the whole event as JSON)
    sessions     one row per session file
    responses    one row per response, with the metrics of CONTRACT section 3
    rate_limits  one row per entry of every rate_limits.updated
    errors       server errors, failed responses, faults of the proxy

They read internal tables built in this order:

    create_records, load_records (per batch of files)   every line -> `records`
    damaged_files                                        files needing a second pass
    drop_unusable_records                                what every other reader skips
    number_frames, frames                                frames in order (a view)
    session_files, session_configs, models               one row per file, formats, models
    response_metrics                                     the per-response metrics
    error_rows, rate_limit_updates                       errors and rate-limit entries
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from recorder.analytics.db import DEFAULT_MEMORY_LIMIT, AnalyticsDB, QueryError
from recorder.analytics.report import StatsWarning, UnknownModel
from recorder.analytics.skipped import skipped_lines
from recorder.analytics.sources import resolve_sources
from recorder.duckdb_inputs import (
    MAX_OBJECT_SIZE,
    MAX_OBJECT_SIZE_CEILING,
    batches,
    literal_paths,
)
from recorder.parquet import ParquetDataset
from recorder.pricing import PriceTable, builtin_prices

VIEW_NAMES = ("events", "sessions", "responses", "rate_limits", "errors")
_VIEW_ORDER = ("events", "responses", "errors", "rate_limits", "sessions")  # sessions uses the rest


ProgressCallback = Callable[[int, int], None]  # (bytes read, total bytes)


@dataclass
class Views:
    """An open database holding the views over some session files."""

    db: AnalyticsDB
    files: Sequence[str]
    prices: PriceTable
    warnings: list[StatsWarning] = field(default_factory=list)


@contextmanager
def open_views(
    paths: Iterable[str | os.PathLike[str]],
    prices: PriceTable | None = None,
    *,
    keep_events: bool = False,
    on_progress: ProgressCallback | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> Iterator[Views]:
    """Load the session files named by `paths` (files, directories, globs, object store URLs,
    Parquet datasets written by `rt export parquet`) and build the views.

    Raises InputError when a path names no session file. Bad lines never raise: they are
    skipped and reported in `Views.warnings`, with the models that have no price.
    """
    sources = resolve_sources(paths)
    files = sources.files
    table = prices or builtin_prices()
    with AnalyticsDB(memory_limit=memory_limit, keep_events=keep_events) as db:
        views = Views(db, files, table)
        db.register_filesystems(sources.urls)
        db.create_table("inputs", "ordinal INTEGER, file VARCHAR", enumerate(files))
        _load(db, files, sources.sizes, on_progress)
        first_ordinal = len(files)
        for dataset in sources.datasets:
            first_ordinal += _load_dataset(db, dataset, first_ordinal, keep_events)
        for damaged in db.rows("damaged_files"):
            found = skipped_lines(damaged["file"])
            if found is not None:
                views.warnings.append(found)
        db.execute("drop_unusable_records")
        db.execute("number_frames")
        db.execute("frames")
        db.execute("session_files")
        db.execute("session_configs")
        views.warnings.extend(_install_prices(db, table))
        db.execute("response_metrics")
        db.execute("error_rows")
        db.execute("rate_limit_updates")
        for view in _VIEW_ORDER:
            db.execute(view)
        yield views


def _load(
    db: AnalyticsDB,
    files: Sequence[str],
    sizes: Sequence[int],
    on_progress: ProgressCallback | None,
) -> None:
    total, done = sum(sizes), 0
    db.execute("create_records")
    if on_progress is not None:
        on_progress(0, total)
    with literal_paths(files) as readable:
        for start, stop in batches(sizes):
            _load_batch(db, readable[start:stop], start)
            done += sum(sizes[start:stop])
            if on_progress is not None:
                on_progress(done, total)


def _load_dataset(
    db: AnalyticsDB, dataset: ParquetDataset, first_ordinal: int, keep_events: bool
) -> int:
    """Add the session files of an `rt export parquet` dataset as inputs numbered from
    `first_ordinal` (in file order) and their records; returns how many inputs it added."""
    sessions = dataset.files("sessions")
    if not sessions:
        return 0
    params: dict[str, Any] = {"first_ordinal": first_ordinal}
    added = int(db.rows("dataset_inputs", {**params, "sessions": sessions})[0]["Count"])
    db.execute("load_dataset_sessions", {**params, "sessions": sessions})
    events = dataset.files("events")
    if events:
        db.execute("load_dataset_events", {**params, "events": events, "keep_events": keep_events})
    errors = dataset.files("errors")
    if errors:
        db.execute("load_dataset_errors", {**params, "errors": errors})
    return added


def _load_batch(db: AnalyticsDB, files: Sequence[str], first_ordinal: int) -> None:
    limit = MAX_OBJECT_SIZE
    while True:
        params = {"files": list(files), "first_ordinal": first_ordinal, "max_object_size": limit}
        try:
            db.execute("load_records", params)
            return
        except QueryError as exc:
            # the failed INSERT added nothing, so the batch can be read again
            if "maximum_object_size" not in exc.detail or limit >= MAX_OBJECT_SIZE_CEILING:
                raise
            limit *= 4


def _install_prices(db: AnalyticsDB, table: PriceTable) -> list[StatsWarning]:
    """Price each model the sessions use (longest-prefix match); warn about the rest."""
    rows: list[tuple[Any, ...]] = []
    warnings: list[StatsWarning] = []
    for used in db.rows("models"):
        model, sessions = used["model"], used["sessions"]
        found = None if model is None else table.lookup(model)
        if found is None:
            warnings.append(UnknownModel(model, sessions))
            continue
        _, p = found
        rows.append(
            (model, p.text.input, p.text.cached, p.text.output)
            + (p.audio.input, p.audio.cached, p.audio.output)
        )
    db.create_table(
        "model_prices",
        "model VARCHAR PRIMARY KEY, text_input DOUBLE, text_cached DOUBLE, text_output DOUBLE, "
        "audio_input DOUBLE, audio_cached DOUBLE, audio_output DOUBLE",
        rows,
    )
    return warnings
