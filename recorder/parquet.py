"""Session files as a Parquet dataset that DuckDB, Spark, Trino, BigQuery or ClickHouse read as is.

    export_parquet(paths, "out/" | "s3://bucket/parquet/") -> ParquetExport

Layout (`rt-parquet/2`, documented in docs/parquet.md): one directory per view of `rt sql`,
each Hive-partitioned by the UTC day the session started and the session's model,

    <root>/_rt_dataset.json                               format marker
    <root>/events/date=2026-11-26/model=gpt-realtime/part-<run>-0.parquet
    <root>/sessions/…  <root>/responses/…  <root>/rate_limits/…  <root>/errors/…

Each table is a `COPY` of the view of the same name in `rt sql` (recorder/analytics/views.py),
on the same connection, so a query written for `rt sql` runs on the dataset unchanged and the
numbers are those of `rt stats` by construction. Base64 audio is left out of `events` unless
`with_audio` (its decoded size stays, in `audio_bytes`). Files are written with DuckDB's
`COPY … (FORMAT parquet, PARTITION_BY …)` into a private staging directory and then moved (or
uploaded) into place, so readers never see half a file; every file of one export carries the
export's run id in its name, and an upload that fails part-way removes what it had put.

An export adds to an existing dataset: session files already in it (same `file`) are skipped,
so the same command can run every night over a growing prefix. Reading a dataset back is
`recorder.analytics.datasets`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from recorder import __version__
from recorder.analytics.datasets import (
    DATASET_FORMAT,
    MARKER,
    PARTITION_COLUMNS,
    TABLES,
    ParquetDataset,
    find_dataset,
)
from recorder.analytics.db import DEFAULT_MEMORY_LIMIT, AnalyticsDB, QueryError
from recorder.analytics.report import StatsWarning
from recorder.analytics.sources import resolve_session_files
from recorder.analytics.views import open_views
from recorder.errors import InputError, RecorderError
from recorder.object_store import (
    StorageError,
    is_url,
    list_files,
    open_filesystem,
    put_verified,
)
from recorder.pricing import PriceTable

ProgressCallback = Callable[[str, int, int], None]  # (phase, done, total)


class ExportError(RecorderError):
    """The Parquet dataset could not be written (or is not one this rt can add to)."""

    def __init__(self, message: str, detail: str = "") -> None:
        self.message = message
        self.detail = detail
        super().__init__(message)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class TableWritten:
    name: str
    rows: int
    files: int
    bytes: int


@dataclass(frozen=True)
class ParquetExport:
    """What one export wrote."""

    destination: str
    run_id: str
    sessions: int
    tables: Sequence[TableWritten]
    already_exported: Sequence[str] = ()  # input files whose sessions the dataset already held
    warnings: Sequence[StatsWarning] = field(default_factory=list)


# -- writing -----------------------------------------------------------------------------------


def export_parquet(
    paths: Iterable[str | os.PathLike[str]],
    destination: str | os.PathLike[str],
    *,
    with_audio: bool = False,
    prices: PriceTable | None = None,
    on_progress: ProgressCallback | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> ParquetExport:
    """Export the session files named by `paths` into the dataset at `destination`.

    `paths` are files, directories, globs or object store URLs (a prefix or a glob).
    Raises InputError when a path names no session file, ExportError or StorageError when
    the dataset cannot be written. Bad lines are skipped, as by `rt stats`, and reported in
    the result's `warnings`.
    """
    target = os.fspath(destination)
    existing = _check_destination(target)
    inputs = resolve_inputs(paths)
    exported = _exported_files(existing, memory_limit) if existing is not None else set()
    skipped = [file for file in inputs if file in exported]
    files = [file for file in inputs if file not in exported]
    run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
    if not files:
        return ParquetExport(target, run_id, 0, [], skipped)
    with (
        open_views(
            files,
            prices,
            with_events=True,
            with_audio=with_audio,
            on_progress=None if on_progress is None else _phase(on_progress, "reading"),
            memory_limit=memory_limit,
        ) as views,
        _staging(target) as staging,
    ):
        written = [_copy(views.db, table, staging, run_id) for table in TABLES]
        _publish(staging, target, run_id, written)
        warnings = list(views.warnings)
    return ParquetExport(target, run_id, len(files), written, skipped, warnings)


def resolve_inputs(paths: Iterable[str | os.PathLike[str]]) -> dict[str, int]:
    """The session files named by `paths` with their sizes, each once, in argument order
    (objects in storage by their URL)."""
    found: dict[str, int] = {}
    for raw in paths:
        text = os.fspath(raw)
        if find_dataset(text) is not None:
            raise InputError(f"{text} is already a Parquet dataset; export session files")
        if is_url(text):
            matches = [(remote.url, remote.size) for remote in list_files(text)]
            if not matches:
                raise InputError(f"no session files match {text!r}")
        else:
            matches = [(str(path), _size(path)) for path in resolve_session_files([text])]
        for match, size in matches:
            found.setdefault(match, size)
    return found


def _size(path: str | os.PathLike[str]) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _check_destination(target: str) -> ParquetDataset | None:
    """The dataset already at `target`, None when there is none yet (ExportError if `target`
    holds something else)."""
    dataset = find_dataset(target)
    if dataset is not None:
        if dataset.format != DATASET_FORMAT:
            raise ExportError(
                f"{target} holds an {dataset.format} dataset; export into a new directory "
                f"({DATASET_FORMAT} has other columns)"
            )
        return dataset
    if is_url(target):
        fs, path = open_filesystem(target)
        try:
            fs.invalidate_cache()
            occupied = fs.exists(path) and bool(fs.ls(path))
        except Exception as exc:
            raise StorageError("list", target, str(exc).strip().splitlines()[0]) from None
    else:
        if os.path.exists(target) and not os.path.isdir(target):
            raise ExportError(f"{target} is a file; --out needs a directory or a URL")
        occupied = os.path.isdir(target) and bool(os.listdir(target))
    if occupied:
        raise ExportError(
            f"{target} is not empty and holds no {DATASET_FORMAT} dataset ({MARKER}); "
            "choose an empty or new directory"
        )
    return None


def _exported_files(dataset: ParquetDataset, memory_limit: str) -> set[str]:
    files = dataset.files("sessions")
    if not files:
        return set()
    with AnalyticsDB(memory_limit) as db:
        db.register_filesystems([dataset.root])
        db.load_parquet("dataset_rows", files)
        return {row["file"] for row in db.rows("dataset_files")}


def _copy(db: AnalyticsDB, table: str, staging: Path, run_id: str) -> TableWritten:
    """Write the view `table` as `<staging>/<table>/date=…/model=…/part-<run>-N.parquet`."""
    directory = staging / table
    try:
        rows = db.copy_partitioned(table, directory, PARTITION_COLUMNS, f"part-{run_id}-{{i}}")
    except QueryError as exc:
        raise ExportError(
            f"parquet export failed: {exc.detail.splitlines()[0]}", exc.detail
        ) from exc
    files = list(directory.rglob("*.parquet")) if directory.exists() else []
    return TableWritten(table, rows, len(files), sum(path.stat().st_size for path in files))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _phase(on_progress: ProgressCallback, phase: str) -> Callable[[int, int], None]:
    return lambda done, total: on_progress(phase, done, total)


# -- publishing --------------------------------------------------------------------------------


@contextlib.contextmanager
def _staging(target: str) -> Iterator[Path]:
    """A private directory to write into: beside a local dataset (so files move by rename),
    in the system temp directory for a remote one."""
    if is_url(target):
        parent = None
    else:
        os.makedirs(target, exist_ok=True)
        parent = target
    directory = tempfile.mkdtemp(prefix=".rt-staging-", dir=parent)
    try:
        yield Path(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _publish(staging: Path, target: str, run_id: str, written: Sequence[TableWritten]) -> None:
    """Move the staged files into the dataset, sessions last (a session is in the dataset once
    its `sessions` row is), then the marker."""
    order = [table.name for table in written if table.name != "sessions"] + ["sessions"]
    staged = [path for table in order for path in sorted((staging / table).rglob("*.parquet"))]
    marker = json.dumps(
        {
            "format": DATASET_FORMAT,
            "tables": list(TABLES),
            "partitioning": list(PARTITION_COLUMNS),
            "written_by": f"rt {__version__}",
        },
        indent=2,
    )
    if not is_url(target):
        for path in staged:
            final = Path(target) / path.relative_to(staging)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, final)
        Path(target, MARKER).write_text(marker + "\n", encoding="utf-8")
        return
    fs, root = open_filesystem(target)
    done: list[str] = []
    try:
        for path in staged:
            remote = f"{root.rstrip('/')}/{path.relative_to(staging).as_posix()}"
            done.append(remote)  # before the upload: a failed one may have left part of it
            put_verified(fs, path, remote)
        fs.pipe_file(f"{root.rstrip('/')}/{MARKER}", (marker + "\n").encode())
    except Exception as exc:
        for remote in done:  # an export lands whole or not at all
            with contextlib.suppress(Exception):
                fs.rm_file(remote)
        raise StorageError(
            "upload to", target, f"{_first_line(exc)} (run {run_id} removed; nothing was added)"
        ) from None
