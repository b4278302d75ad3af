"""`rt ls`: recorded sessions, one row each, sortable."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

from recorder.analytics import SESSION_LIST_KEYS, SessionList, list_sessions
from recorder.analytics.listing import DEFAULT_SORT
from recorder.session_labels import session_labels
from recorder.wording import counted

from .options import format_option, prices_with, pricing_option, wide_option
from .output import (
    Column,
    Table,
    echo_warnings,
    make_console,
    number_column,
    print_tables,
    reading_progress,
    write_csv,
    write_json,
    write_markdown,
)
from .stats import THRESHOLDS_MS, threshold_style

DEFAULT_PATH = "sessions/"


@click.command("ls")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option(
    "--sort",
    type=click.Choice(SESSION_LIST_KEYS),
    default=DEFAULT_SORT,
    show_default=True,
    metavar="COLUMN",
    help="Sort by this column: " + ", ".join(SESSION_LIST_KEYS) + ".",
)
@click.option(
    "--reverse",
    "-r",
    is_flag=True,
    help="Largest (or newest) first. Sessions without a value sort last either way.",
)
@format_option()
@wide_option
@pricing_option
def ls(
    paths: tuple[str, ...], sort: str, reverse: bool, fmt: str, wide: bool, pricing: str | None
) -> None:
    """List recorded sessions: when, which model, how long, how fast, how much.

    One row per session file: start time, session (its label, as rt stats,
    rt show and rt report name it: the file's stem, or for rt's own file
    names the start time and the first characters of the id), model,
    duration, turns (the responses), median time to first audio (ttfb p50,
    from the trigger to the first audio delta), tokens (in + out), cost and
    errors; oldest first. PATH is a session file, a directory (every *.jsonl
    under it) or a glob; the default is sessions/. On a narrow terminal the
    columns that do not fit are left out and named (--wide keeps them). csv
    and json have every column, also the file, the session id, input and
    output tokens apart, and frames.

    \b
    Example:
      $ rt ls
      started at                    session               model                                duration s   turns   ttfb p50 ms   tokens     cost $   errors
      ──────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────
      2026-11-26T02:58:39.002772Z   call                  gpt-realtime                               10.7       2         423.3      555   0.012515        0
      2026-11-26T02:58:39.006783Z   11-26 02:58:39 ede4   gpt-realtime                               11.3       2         383.8      566   0.012211        0
      …
      2026-11-26T02:58:39.015381Z   11-26 02:58:39 0ceb   gpt-realtime-mini                          15.2       4         503.8     2318   0.005694        2
      …
      12 sessions, 24 turns, 2 errors, cost $0.1429
      $ rt ls sessions/ --sort cost_usd --reverse
      $ rt ls 'sessions/202611*.jsonl' --format csv > november.csv
    """
    with reading_progress() as on_progress:
        listing = list_sessions(
            paths or (DEFAULT_PATH,),
            prices_with(pricing),
            sort=sort,
            reverse=reverse,
            on_progress=on_progress,
        )
    echo_warnings(listing.warnings)
    render(listing, fmt, wide=wide)


def render(listing: SessionList, fmt: str, *, wide: bool = False) -> None:
    out = sys.stdout
    if fmt == "json":
        rows = [{key: row.get(key) for key in SESSION_LIST_KEYS} for row in listing.rows]
        write_json(rows, out, indent=2 if out.isatty() else None)
    elif fmt == "csv":
        write_csv(sessions_table(listing, full=True), out)
    elif fmt == "markdown":
        write_markdown([sessions_table(listing, full=False)], out)
    else:
        print_tables([sessions_table(listing, full=False)], make_console(out), wide=wide)


def sessions_table(listing: SessionList, *, full: bool) -> Table:
    """One row per session; the table and Markdown views name it by its label (as rt stats,
    rt show and rt report do), CSV by its file and id."""
    rows: Sequence[Mapping[str, Any]] = listing.rows
    if full:
        first = [Column("file"), Column("session")]
    else:
        labels = session_labels([str(row["file"]) for row in rows])
        rows = [{**row, "label": labels[str(row["file"])]} for row in rows]
        first = [Column("label", "session", min_width=16)]
    columns = [
        Column("started_at", "started at", priority=4),
        *first,
        Column("model", priority=1, min_width=12),
        number_column("duration_s", "duration s", 1, priority=3),
        number_column("turns"),
        number_column(
            "ttfb_p50_ms", "ttfb p50 ms", 1, style=threshold_style(THRESHOLDS_MS["ttfb_ms"])
        ),
        number_column("tokens", priority=2),
        *(
            [number_column("input_tokens", "in tok"), number_column("output_tokens", "out tok")]
            if full
            else []
        ),
        number_column("cost_usd", "cost $", 6),
        number_column("errors", style=_errors_style),
        *([number_column("frames")] if full else []),
    ]
    return Table("", columns, rows, caption=_caption(listing.rows))


def _caption(rows: Sequence[Any]) -> str:
    turns = sum(row["turns"] for row in rows)
    errors = sum(row["errors"] for row in rows)
    costs = [row["cost_usd"] for row in rows if row["cost_usd"] is not None]
    cost = f"${sum(costs):.4f}" if costs else "unknown"
    if costs and len(costs) < len(rows):
        cost += f" ({len(rows) - len(costs)} unknown)"
    return (
        f"{counted(len(rows), 'session')}, {counted(turns, 'turn')}, "
        f"{counted(errors, 'error')}, cost {cost}"
    )


def _errors_style(value: Any) -> str | None:
    return "bold red" if isinstance(value, int) and value > 0 else None
