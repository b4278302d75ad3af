"""`rt sql`: the user's SQL over ready views of recorded sessions."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click
import orjson

from recorder.analytics import ResultColumn, SQLResult, run_sql
from recorder.escaping import json_line_safe
from recorder.wording import counted

from .options import format_option, prices_with, pricing_option
from .output import (
    Column,
    Table,
    echo_warnings,
    json_value,
    make_console,
    print_tables,
    reading_progress,
    write_csv,
    write_json,
    write_markdown,
)

DEFAULT_PATH = "sessions/"
TABLE_CELL_WIDTH = 60  # the table view cuts longer cells; csv, json and markdown keep them
_NUMERIC_TYPES = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
    "UBIGINT", "UHUGEINT", "FLOAT", "REAL", "DOUBLE", "DECIMAL",
)  # fmt: skip


@click.command("sql")
@click.argument("query", metavar="SQL")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@format_option(
    help="table (plain text when not on a terminal; long cells cut), json (an array of "
    "objects; JSON columns as objects), csv, markdown."
)
@pricing_option
@click.option(
    "--allow-files",
    is_flag=True,
    help="Let the SQL read and write files and URLs (read_csv, COPY … TO, ATTACH) and install "
    "or load DuckDB extensions. Off by default: the SQL sees only the views, and the "
    'settings are locked. Only for SQL you trust. Example: rt sql "COPY (SELECT * FROM '
    "responses) TO 'responses.parquet'\" --allow-files",
)
@click.option(
    "--with-audio",
    is_flag=True,
    help="Keep the base64 audio of appends and audio deltas in events.event (left out by "
    "default: their size is in audio_bytes; keeping it reads several times slower).",
)
def sql(
    query: str,
    paths: tuple[str, ...],
    fmt: str,
    pricing: str | None,
    allow_files: bool,
    with_audio: bool,
) -> None:
    """Run SQL (DuckDB's dialect) over recorded sessions, through ready views.

    PATH is a session file, a directory (every *.jsonl under it) or a glob;
    the default is sessions/. The views hold the same numbers as rt stats
    (docs/sql.md lists every column with its meaning):

    \b
      events       one row per frame: session, file, seq, t, "at", direction,
                   type (GA name), raw_type (as recorded), response_id, item_id,
                   audio_bytes, audio_ms, event (JSON), text, binary
      sessions     session, file, started_at, duration_s, responses,
                   input_tokens, output_tokens, cost_usd, model, frames, errors,
                   ttfb_p50_ms, ttft_p50_ms, protocol, transport, client_frames,
                   server_frames, input_audio_ms, output_audio_ms, input_audio_bytes,
                   output_audio_bytes, proxy_errors, upstream, request_path,
                   subprotocol, closed_by, close_code, close_reason, recorder_version,
                   transcription_model, transcription_seconds, transcription_tokens,
                   transcription_cost_usd, translation_seconds, translation_cost_usd,
                   user_talk_ms, assistant_talk_ms, talk_over_ms, barge_ins,
                   barge_in_stop_ms, dead_air_ms, turns, live_seconds,
                   live_cost_usd, live_close_reason, live_delegations,
                   live_delegated_tokens, live_muted_ms
      responses    session, file, response_id, model, status, trigger, trigger_t,
                   ttfb_ms, ttft_ms, duration_ms, voice_to_voice_ms, audio_out_ms,
                   input_tokens, output_tokens, input_text_tokens, input_audio_tokens,
                   input_cached_tokens, output_text_tokens, output_audio_tokens,
                   cost_usd, kind, ttfb_source, ttfb_final_ms, voice_to_voice_final_ms,
                   preamble_audio_ms, input_image_tokens, cached_text_tokens,
                   cached_audio_tokens, cached_image_tokens, output_reasoning_tokens,
                   seq, number, created_t, done_t, reason, trigger_at
      rate_limits  session, file, t, "at", name, "limit", remaining, reset_seconds, seq
      errors       session, file, t, "at", type, code, message, source, response_id,
                   seq
    Every view ends with date and model (the partitions of rt export parquet).

    Times: t in seconds since the session started, *_ms in milliseconds, "at"
    and started_at UTC timestamps. `at` and `limit` are SQL keywords: quote
    them. Every view lists files in argument order, then in time order. A
    query naming events keeps every event whole (more memory and time). A SQL error is one line on stderr
    and exit status 1.

    The SQL reads only the views (it may create temporary tables, views and
    macros): no file, URL, other database or extension, and the settings are
    locked (docs/sql.md, "What the SQL may touch"). --allow-files lifts that.

    \b
    Example:
      $ rt sql "SELECT model, count(*) AS turns, round(quantile_cont(ttfb_ms, 0.95)) AS p95
                FROM responses GROUP BY model ORDER BY p95 DESC"
      model                                turns     p95
      ──────────────────────────────────────────────────
      gpt-live-1.1                             2   739.0
      gpt-live-1                               2   726.0
      gpt-4o-realtime-preview                  1   603.0
      gpt-4o-realtime-preview-2024-10-01       2   553.0
      gpt-realtime-mini                        6   507.0
      gpt-realtime-2                           5   452.0
      gpt-realtime                             6   449.0
      7 rows
      $ rt sql "SELECT type, count(*) FROM events GROUP BY ALL ORDER BY 2 DESC" --format csv
      $ rt sql "SELECT event->>'$.error.message' FROM events WHERE type = 'error'"
      $ rt sql "SELECT * FROM sessions WHERE cost_usd > 0.05" --format json | jq '.[].file'
      $ rt sql "COPY (SELECT * FROM responses) TO 'responses.parquet'" sessions/ --allow-files
    """
    with reading_progress() as on_progress:
        result = run_sql(
            query,
            paths or (DEFAULT_PATH,),
            prices_with(pricing),
            on_progress=on_progress,
            allow_files=allow_files,
            with_audio=with_audio,
        )
    echo_warnings(result.warnings)
    render(result, fmt)


def render(result: SQLResult, fmt: str) -> None:
    out = sys.stdout
    keys = unique_keys([column.name for column in result.columns])
    if fmt == "json":
        write_json(json_rows(result, keys), out, indent=2 if out.isatty() else None)
        return
    if not result.columns:  # a statement without rows (CREATE, SET, ...)
        return
    rows = [dict(zip(keys, row, strict=True)) for row in result.rows]
    if fmt == "csv":
        write_csv(result_table(result, keys, rows), out)
    elif fmt == "markdown":
        write_markdown([result_table(result, keys, rows)], out)
    else:
        table = result_table(result, keys, rows, cell_width=TABLE_CELL_WIDTH)
        print_tables([table], make_console(out))


def result_table(
    result: SQLResult,
    keys: Sequence[str],
    rows: Sequence[dict[str, Any]],
    *,
    cell_width: int | None = None,
) -> Table:
    columns = [
        Column(
            key,
            column.name,
            justify="right" if is_numeric(column) else "left",
            max_width=None if is_numeric(column) else cell_width,
            text=_json_cell if column.type == "JSON" else None,
        )
        for key, column in zip(keys, result.columns, strict=True)
    ]
    count = len(rows)
    return Table("", columns, rows, caption=counted(count, "row"))


def json_rows(result: SQLResult, keys: Sequence[str]) -> list[dict[str, Any]]:
    """The rows as JSON objects; a JSON column's text becomes the value it holds."""
    parse = [column.type == "JSON" for column in result.columns]
    return [
        {
            key: _parsed(value) if is_json else json_value(value)
            for key, value, is_json in zip(keys, row, parse, strict=True)
        }
        for row in result.rows
    ]


def unique_keys(names: Sequence[str]) -> list[str]:
    """Column names made unique (`file`, `file_2`, ...), so no value is lost to a duplicate."""
    keys: list[str] = []
    for name in names:
        key, count = name, 1
        while key in keys:
            count += 1
            key = f"{name}_{count}"
        keys.append(key)
    return keys


def is_numeric(column: ResultColumn) -> bool:
    return column.type.startswith(_NUMERIC_TYPES)


def _json_cell(value: Any) -> str:
    """A JSON column's text as DuckDB holds it, its DEL and C1 characters as `\\u` escapes
    (JSON escapes the other control characters itself): the cell stays valid JSON."""
    return "" if value is None else json_line_safe(str(value))


def _parsed(text: Any) -> Any:
    if not isinstance(text, str):
        return json_value(text)
    try:
        return orjson.loads(text)  # nested up to 1024 levels, like the session reader
    except ValueError:
        pass
    try:
        return json.loads(text)  # integers beyond 64 bits
    except (ValueError, RecursionError):
        return text
