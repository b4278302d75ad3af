"""Session files as a Parquet dataset that DuckDB, Spark, Trino, BigQuery or ClickHouse read as is.

    export_parquet(paths, "out/" | "s3://bucket/parquet/") -> ParquetExport
    find_dataset("out/") -> ParquetDataset | None      (a directory or URL holding one)

Layout (`rt-parquet/1`, documented in docs/parquet.md): one directory per table, each
Hive-partitioned by the UTC day the session started and the session's model,

    <root>/_rt_dataset.json                               format marker
    <root>/events/date=2026-11-26/model=gpt-realtime/part-<run>-0.parquet
    <root>/sessions/…  <root>/responses/…  <root>/rate_limits/…  <root>/errors/…

`responses`, `sessions`, `rate_limits` and `errors` are the rows `rt stats` computes (the
analytics layer's public `collect_stats`, so the numbers are the same by construction).
`events` is one row per frame with the event types in the GA vocabulary, built here by one
`read_ndjson` scan; base64 audio is left out unless `with_audio` (its decoded size stays, in
`audio_bytes`). Files are written with DuckDB's `COPY … (FORMAT parquet, PARTITION_BY …)`
into a private staging directory and then moved (or uploaded) into place, so readers never
see half a file; every file of one export carries the export's run id in its name, and an
upload that fails part-way removes what it had put.

An export adds to an existing dataset: session files already in it (same `file`) are skipped,
so the same command can run every night over a growing prefix.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from recorder import __version__, vocabulary
from recorder.duckdb_inputs import MAX_OBJECT_SIZE, MAX_OBJECT_SIZE_CEILING, batches, literal_paths
from recorder.errors import InputError, RecorderError
from recorder.object_store import (
    StorageError,
    is_url,
    join_url,
    list_files,
    open_filesystem,
    put_verified,
    register_filesystems,
)

if TYPE_CHECKING:
    from recorder.analytics import StatsReport, StatsWarning
    from recorder.pricing import PriceTable

DATASET_FORMAT = "rt-parquet/1"
MARKER = "_rt_dataset.json"
TABLES = ("events", "sessions", "responses", "rate_limits", "errors")
PARTITION_COLUMNS = ("date", "model")
DEFAULT_MEMORY_LIMIT = "2GB"

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


# -- reading a dataset back --------------------------------------------------------------------


@dataclass(frozen=True)
class ParquetDataset:
    """An `rt-parquet/1` dataset at `root` (a local directory or a URL)."""

    root: str

    def table_root(self, table: str) -> str:
        return join_url(self.root, table) if is_url(self.root) else os.path.join(self.root, table)

    def files(self, table: str) -> list[str]:
        """The Parquet files of `table` (none when it has no rows yet), sorted."""
        root = self.table_root(table)
        if is_url(root):
            return [found.url for found in list_files(root, ".parquet")]
        if not os.path.isdir(root):
            return []
        return sorted(str(path) for path in Path(root).rglob("*.parquet") if path.is_file())


def find_dataset(path: str | os.PathLike[str]) -> ParquetDataset | None:
    """The dataset whose root is `path`, or None when `path` holds none.

    Raises ExportError when the marker names a format this rt cannot read.
    """
    text = os.fspath(path)
    marker = join_url(text, MARKER) if is_url(text) else os.path.join(text, MARKER)
    content = _read_marker(marker)
    if content is None:
        return None
    try:
        found = json.loads(content).get("format")
    except (ValueError, AttributeError):
        found = None
    if found != DATASET_FORMAT:
        raise ExportError(f"{marker}: not an {DATASET_FORMAT} dataset (format {found!r})")
    return ParquetDataset(text.rstrip("/") if is_url(text) else os.path.normpath(text))


def _read_marker(marker: str) -> bytes | None:
    if not is_url(marker):
        try:
            return Path(marker).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise ExportError(f"cannot read {marker}: {exc}") from None
    fs, path = open_filesystem(marker)
    try:
        fs.invalidate_cache()
        if not fs.exists(path):
            return None
        return bytes(fs.cat_file(path))
    except Exception as exc:
        raise StorageError("read", marker, str(exc).strip().splitlines()[0]) from None


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
    # imported here: the analytics layer reads datasets through this module
    from recorder.analytics import collect_stats

    target = os.fspath(destination)
    existing = _check_destination(target)
    inputs = resolve_inputs(paths)
    exported = _exported_files(existing, memory_limit) if existing is not None else set()
    skipped = [file for file in inputs if file in exported]
    files = [file for file in inputs if file not in exported]
    run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
    if not files:
        return ParquetExport(target, run_id, 0, [], skipped)

    report = collect_stats(
        files,
        prices,
        on_progress=None if on_progress is None else _phase(on_progress, "analysing"),
        memory_limit=memory_limit,
    )
    with _Database(memory_limit, files) as db:
        db.insert_rows("inputs", _INPUT_COLUMNS, list(enumerate(files)))
        db.insert_rows("stats_sessions", _STATS_SESSION_COLUMNS, _stats_session_rows(report, files))
        db.insert_rows(
            "stats_responses", _RESPONSE_COLUMNS, _rows(report.responses, _RESPONSE_COLUMNS)
        )
        db.insert_rows(
            "stats_rate_limits", _RATE_LIMIT_COLUMNS, _rows(report.rate_limits, _RATE_LIMIT_COLUMNS)
        )
        db.insert_rows("stats_errors", _ERROR_COLUMNS, _rows(report.errors, _ERROR_COLUMNS))
        _scan(db, files, [inputs[file] for file in files], with_audio, on_progress)
        db.execute(_NUMBER_FRAMES)
        db.execute(_FILE_SESSIONS)
        with _staging(target) as staging:
            written = [db.copy(table, _TABLE_QUERIES[table], staging, run_id) for table in TABLES]
            _publish(staging, target, run_id, written)
    return ParquetExport(target, run_id, len(files), written, skipped, list(report.warnings))


def resolve_inputs(paths: Iterable[str | os.PathLike[str]]) -> dict[str, int]:
    """The session files named by `paths` with their sizes, each once, in argument order
    (objects in storage by their URL)."""
    from recorder.analytics import resolve_session_files

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
    with _Database(memory_limit, files) as db:
        return {row[0] for row in db.fetch(_EXPORTED_FILES, {"files": files})}


def _phase(on_progress: ProgressCallback, phase: str) -> Callable[[int, int], None]:
    return lambda done, total: on_progress(phase, done, total)


# -- the rows rt stats computed ----------------------------------------------------------------

_INPUT_COLUMNS = "ordinal INTEGER, file VARCHAR"
_STATS_SESSION_COLUMNS = (
    "ordinal INTEGER, session VARCHAR, started_at VARCHAR, duration_s DOUBLE, responses BIGINT, "
    "input_tokens BIGINT, output_tokens BIGINT, cost_usd DOUBLE, model VARCHAR"
)
_RESPONSE_COLUMNS = (
    "session VARCHAR, file VARCHAR, response_id VARCHAR, model VARCHAR, status VARCHAR, "
    "trigger VARCHAR, trigger_t DOUBLE, ttfb_ms DOUBLE, ttft_ms DOUBLE, duration_ms DOUBLE, "
    "voice_to_voice_ms DOUBLE, audio_out_ms DOUBLE, input_tokens BIGINT, output_tokens BIGINT, "
    "input_text_tokens BIGINT, input_audio_tokens BIGINT, input_cached_tokens BIGINT, "
    "output_text_tokens BIGINT, output_audio_tokens BIGINT, cost_usd DOUBLE"
)
_RATE_LIMIT_COLUMNS = (
    'session VARCHAR, t DOUBLE, "at" VARCHAR, name VARCHAR, "limit" BIGINT, remaining BIGINT, '
    "reset_seconds DOUBLE"
)
_ERROR_COLUMNS = (
    "session VARCHAR, t DOUBLE, type VARCHAR, code VARCHAR, message VARCHAR, file VARCHAR, "
    "source VARCHAR, response_id VARCHAR"
)


def _column_names(columns: str) -> list[str]:
    return [part.strip().split(" ")[0].strip('"') for part in columns.split(",")]


def _rows(rows: Sequence[Mapping[str, Any]], columns: str) -> list[tuple[Any, ...]]:
    names = _column_names(columns)
    return [tuple(row.get(name) for name in names) for row in rows]


def _stats_session_rows(report: StatsReport, files: Sequence[str]) -> list[tuple[Any, ...]]:
    """The report's session rows, keyed by input ordinal (they come in input order)."""
    # the session rows name their model today; the responses do by contract
    models: dict[Any, Any] = {}
    for response in report.responses:
        models.setdefault(response.get("session"), response.get("model"))
    ordinals: dict[Any, int] = {file: index for index, file in enumerate(files)}
    rows = []
    for row in report.sessions:
        model = row["model"] if "model" in row else models.get(row.get("session"))
        rows.append(
            (
                ordinals.get(row.get("file")),
                row.get("session"),
                row.get("started_at"),
                row.get("duration_s"),
                row.get("responses"),
                row.get("input_tokens"),
                row.get("output_tokens"),
                row.get("cost_usd"),
                model,
            )
        )
    return rows


# -- SQL ---------------------------------------------------------------------------------------

_CREATE_LINES = """
CREATE TABLE lines (
    ordinal INTEGER, kind VARCHAR, session_id VARCHAR, started_at VARCHAR, upstream VARCHAR,
    request_path VARCHAR, recorder_version VARCHAR, subprotocol VARCHAR, closed_by VARCHAR,
    close_code BIGINT, close_reason VARCHAR, message VARCHAR, detail VARCHAR,
    seq BIGINT, t DOUBLE, direction VARCHAR, type VARCHAR, raw_type VARCHAR,
    response_id VARCHAR, audio_bytes BIGINT, event JSON, text VARCHAR, "binary" BLOB
)
"""

# One pass over the lines of $files (input $first_ordinal + i): every header line, and every
# frame a reader accepts (exactly one payload, a time and a direction). The event is parsed
# once for the fields kept as columns (one json_extract_string with a list of paths).
_LOAD_LINES = """
INSERT INTO lines
WITH parsed AS (
    SELECT
        *,
        file_index,
        json_extract_string(event, ['$.type', '$.response_id', '$.response.id', '$.delta', '$.audio']) AS f
    FROM read_ndjson(
        $files,
        columns = {
            'kind': 'VARCHAR', 'id': 'VARCHAR', 'started_at': 'VARCHAR', 'upstream': 'VARCHAR',
            'request': 'STRUCT(path VARCHAR)', 'recorder': 'STRUCT(version VARCHAR)',
            'subprotocol': 'VARCHAR', 'by': 'VARCHAR', 'code': 'BIGINT', 'reason': 'VARCHAR',
            'message': 'VARCHAR', 'detail': 'VARCHAR', 'seq': 'BIGINT', 't': 'DOUBLE',
            'from': 'VARCHAR', 'event': 'JSON', 'text': 'VARCHAR', 'binary': 'VARCHAR'
        },
        ignore_errors = true,
        maximum_object_size = $max_object_size
    )
    WHERE kind IN ('session', 'open', 'close', 'error')
       OR (kind = 'frame' AND t IS NOT NULL AND "from" IN ('client', 'server')
           AND (event IS NOT NULL)::INTEGER + (text IS NOT NULL)::INTEGER + ("binary" IS NOT NULL)::INTEGER = 1)
),
typed AS (SELECT *, canonical_type(f[1]) AS canonical FROM parsed)
SELECT
    $first_ordinal + file_index,
    kind, id, started_at, upstream, request.path, recorder.version, subprotocol, "by", code,
    reason, message, detail, seq, t, "from",
    canonical,
    f[1],
    coalesce(f[2], CASE WHEN "from" = 'server' THEN f[3] END),
    CASE WHEN canonical IN ('__APPEND__', '__AUDIO_DELTA__') THEN base64_decoded_length(coalesce(f[4], f[5])) END,
    __EVENT__,
    text,
    TRY(from_base64("binary"))
FROM typed
"""

# the audio payloads left out by default: the field itself for the two audio events, and any
# base64 `audio` string inside other events (input_audio parts of conversation items)
_EVENT_WITHOUT_AUDIO = """CASE
        WHEN canonical = '__APPEND__' THEN json_merge_patch(event, '{"audio": null}')
        WHEN canonical = '__AUDIO_DELTA__' THEN json_merge_patch(event, '{"delta": null}')
        WHEN canonical LIKE 'conversation.item.%'
            THEN regexp_replace(event, '"audio":"[^"]*"', '"audio":null', 'g')::JSON
        ELSE event
    END"""

# Frames of hand-written files may have no `seq`: number every frame of such a file by time.
_NUMBER_FRAMES = """
UPDATE lines
SET seq = numbered.seq
FROM (
    SELECT rowid AS row_id, row_number() OVER (PARTITION BY ordinal ORDER BY t, seq) - 1 AS seq
    FROM lines
    WHERE kind = 'frame'
      AND ordinal IN (SELECT ordinal FROM lines WHERE kind = 'frame' AND seq IS NULL)
) AS numbered
WHERE lines.rowid = numbered.row_id
"""

# One row per input file: what rt stats said about it, and its partition.
_FILE_SESSIONS = """
CREATE TABLE file_sessions AS
SELECT
    i.ordinal,
    i.file,
    s.session,
    CAST(s.started_at AS TIMESTAMPTZ) AS started_at,
    CAST(CAST(s.started_at AS TIMESTAMPTZ) AS DATE) AS date,
    s.model
FROM inputs AS i
JOIN stats_sessions AS s USING (ordinal)
"""

_EVENTS = """
SELECT
    s.session, s.file, l.seq, l.t,
    s.started_at + to_microseconds(CAST(round(l.t * 1e6) AS BIGINT)) AS "at",
    l.direction, l.type, l.raw_type, l.response_id, l.audio_bytes, l.event, l.text, l."binary",
    s.date, s.model
FROM lines AS l
JOIN file_sessions AS s USING (ordinal)
WHERE l.kind = 'frame'
ORDER BY s.ordinal, l.seq
"""

_SESSIONS = """
WITH headers AS (
    SELECT
        ordinal,
        any_value(upstream) FILTER (WHERE kind = 'session') AS upstream,
        any_value(request_path) FILTER (WHERE kind = 'session') AS request_path,
        any_value(recorder_version) FILTER (WHERE kind = 'session') AS recorder_version,
        any_value(subprotocol) FILTER (WHERE kind = 'open') AS subprotocol,
        any_value(closed_by) FILTER (WHERE kind = 'close') AS closed_by,
        any_value(close_code) FILTER (WHERE kind = 'close') AS close_code,
        any_value(close_reason) FILTER (WHERE kind = 'close') AS close_reason,
        count(*) FILTER (WHERE kind = 'frame' AND direction = 'client') AS client_frames,
        count(*) FILTER (WHERE kind = 'frame' AND direction = 'server') AS server_frames,
        coalesce(sum(audio_bytes) FILTER (WHERE type = '__APPEND__'), 0)::BIGINT AS input_audio_bytes,
        coalesce(sum(audio_bytes) FILTER (WHERE type = '__AUDIO_DELTA__'), 0)::BIGINT AS output_audio_bytes,
        count(*) FILTER (WHERE kind = 'error') AS proxy_errors
    FROM lines
    GROUP BY ordinal
)
SELECT
    f.session, f.file, f.started_at, s.duration_s, s.responses, s.input_tokens, s.output_tokens,
    s.cost_usd, h.upstream, h.request_path, h.subprotocol, h.closed_by, h.close_code,
    h.close_reason, coalesce(h.client_frames, 0) AS client_frames,
    coalesce(h.server_frames, 0) AS server_frames,
    coalesce(h.input_audio_bytes, 0) AS input_audio_bytes,
    coalesce(h.output_audio_bytes, 0) AS output_audio_bytes,
    coalesce(h.proxy_errors, 0) AS proxy_errors,
    h.recorder_version,
    f.date, f.model
FROM file_sessions AS f
JOIN stats_sessions AS s USING (ordinal)
LEFT JOIN headers AS h USING (ordinal)
ORDER BY f.ordinal
"""

_RESPONSES = """
SELECT
    r.session, r.file, r.response_id, r.status, r.trigger, r.trigger_t,
    f.started_at + to_microseconds(CAST(round(r.trigger_t * 1e6) AS BIGINT)) AS trigger_at,
    r.ttfb_ms, r.ttft_ms, r.duration_ms, r.voice_to_voice_ms, r.audio_out_ms,
    r.input_tokens, r.output_tokens, r.input_text_tokens, r.input_audio_tokens,
    r.input_cached_tokens, r.output_text_tokens, r.output_audio_tokens, r.cost_usd,
    f.date, f.model
FROM stats_responses AS r
JOIN file_sessions AS f USING (file)
ORDER BY f.ordinal
"""

# rate-limit rows name their session, not their file: a session id is unique to its file
_RATE_LIMITS = """
WITH by_session AS (
    SELECT session, arg_min(ordinal, ordinal) AS ordinal FROM file_sessions GROUP BY session
)
SELECT
    r.session, f.file, r.t, CAST(r."at" AS TIMESTAMPTZ) AS "at", r.name, r."limit",
    r.remaining, r.reset_seconds, f.date, f.model
FROM stats_rate_limits AS r
JOIN by_session AS b USING (session)
JOIN file_sessions AS f ON f.ordinal = b.ordinal
ORDER BY f.ordinal
"""

_ERRORS = """
SELECT
    e.session, e.file, e.t,
    f.started_at + to_microseconds(CAST(round(e.t * 1e6) AS BIGINT)) AS "at",
    e.source, e.type, e.code, e.message, e.response_id, f.date, f.model
FROM stats_errors AS e
JOIN file_sessions AS f USING (file)
ORDER BY f.ordinal
"""

_TABLE_QUERIES: Mapping[str, str] = {
    "events": _EVENTS,
    "sessions": _SESSIONS.replace("__APPEND__", vocabulary.AUDIO_APPEND).replace(
        "__AUDIO_DELTA__", vocabulary.AUDIO_DELTA
    ),
    "responses": _RESPONSES,
    "rate_limits": _RATE_LIMITS,
    "errors": _ERRORS,
}

_EXPORTED_FILES = "SELECT DISTINCT file FROM read_parquet($files, hive_partitioning = false)"

_MACROS = """
CREATE MACRO base64_decoded_length(b64) AS
    (strlen(b64) * 3) // 4
    - CASE WHEN suffix(b64, '==') THEN 2 WHEN suffix(b64, '=') THEN 1 ELSE 0 END;
"""


class _Database:
    """A private DuckDB database for one export: memory-bounded, spilling to a temp dir."""

    def __init__(self, memory_limit: str, urls: Sequence[str]) -> None:
        self._spill = tempfile.mkdtemp(prefix="rt-parquet-")
        self._con = duckdb.connect(":memory:")
        try:
            self._con.execute(f"SET memory_limit = '{memory_limit}'")
            self._con.execute(f"SET temp_directory = '{self._spill}'")
            self._con.execute("SET TimeZone = 'UTC'")
            register_filesystems(self._con, urls)
            cases = "".join(
                f" WHEN '{alias}' THEN '{name}'"
                for alias, name in sorted(vocabulary.ALIASES.items())
            )
            self._con.execute(
                f"CREATE MACRO canonical_type(name) AS CASE name{cases} ELSE name END"
            )
            self._con.execute(_MACROS)
            self._con.execute(_CREATE_LINES)
        except BaseException:
            self.close()
            raise

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        try:
            return self._con.execute(sql, dict(params) if params else None).fetchall()
        except duckdb.Error as exc:
            raise ExportError(f"parquet export failed: {_first_line(exc)}", str(exc)) from exc

    def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            return self._con.execute(sql, dict(params) if params else None).fetchall()
        except duckdb.Error as exc:
            raise ExportError(
                f"cannot read the Parquet dataset: {_first_line(exc)}", str(exc)
            ) from exc

    def insert_rows(self, table: str, columns: str, rows: Sequence[Sequence[Any]]) -> None:
        """Create `table(columns)` holding `rows` (one statement: the columns as lists)."""
        self._con.execute(f"CREATE TABLE {table} ({columns})")
        if rows:
            lists = [list(column) for column in zip(*rows, strict=True)]
            unnests = ", ".join(f"unnest(${i + 1})" for i in range(len(lists)))
            self._con.execute(f"INSERT INTO {table} SELECT {unnests}", lists)

    def copy(self, table: str, query: str, staging: Path, run_id: str) -> TableWritten:
        """Write the rows of `query` as `<staging>/<table>/date=…/model=…/part-<run>-N.parquet`."""
        directory = staging / table
        partitions = ", ".join(PARTITION_COLUMNS)
        result = self.execute(
            f"COPY ({query}) TO '{directory}' (FORMAT parquet, COMPRESSION zstd, "
            f"PARTITION_BY ({partitions}), FILENAME_PATTERN 'part-{run_id}-{{i}}')"
        )
        rows = int(result[0][0]) if result else 0
        files = list(directory.rglob("*.parquet")) if directory.exists() else []
        return TableWritten(table, rows, len(files), sum(path.stat().st_size for path in files))

    def close(self) -> None:
        try:
            self._con.close()
        finally:
            shutil.rmtree(self._spill, ignore_errors=True)

    def __enter__(self) -> _Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- scanning ----------------------------------------------------------------------------------


def _scan(
    db: _Database,
    files: Sequence[str],
    sizes: Sequence[int],
    with_audio: bool,
    on_progress: ProgressCallback | None,
) -> None:
    total, done = sum(sizes), 0
    sql = (
        _LOAD_LINES.replace("__EVENT__", "event" if with_audio else _EVENT_WITHOUT_AUDIO)
        .replace("__APPEND__", vocabulary.AUDIO_APPEND)
        .replace("__AUDIO_DELTA__", vocabulary.AUDIO_DELTA)
    )
    if on_progress is not None:
        on_progress("writing events", 0, total)
    with literal_paths(files) as readable:
        for start, stop in batches(sizes):
            limit = MAX_OBJECT_SIZE
            while True:
                params = {
                    "files": readable[start:stop],
                    "first_ordinal": start,
                    "max_object_size": limit,
                }
                try:
                    db.execute(sql, params)
                    break
                except ExportError as exc:
                    # the failed INSERT added nothing, so the batch can be read again
                    if "maximum_object_size" not in exc.detail or limit >= MAX_OBJECT_SIZE_CEILING:
                        raise
                    limit *= 4
            done += sum(sizes[start:stop])
            if on_progress is not None:
                on_progress("writing events", done, total)


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
