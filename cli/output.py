"""The one renderer: tables of rows as a rich table, CSV or Markdown, and objects as JSON.

Every cell goes through `cell_text`, so a value reads the same in the terminal, in CSV and in
Markdown; every value bound for JSON goes through `json_value` (which `cell_text` also uses for
dates, decimals and nested values). Colour is only a style on top (and rich drops it when the
output is not a terminal). `reading_progress` gives every command the same progress bar on
stderr (the options themselves are in `options.py`).

Everything here came off the wire or out of a file, so it is untrusted (recorder/escaping.py):
a cell, a heading, a warning or a line built with `printable` has its control characters
written as escapes (`\\x1b`), JSON output has them as `\\u` escapes, and a CSV cell that a
spreadsheet would run as a formula starts with an apostrophe.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import json
import math
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import IO, Any, Literal

import click
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table as RichTable
from rich.text import Text

from recorder.escaping import escape_control, json_line_safe, neutralise_formula
from recorder.json_text import to_json
from recorder.warning_log import WarningLog

PLAIN_WIDTH = 250  # rich would squeeze tables into 80 columns when writing to a pipe
SPARK_BARS = "▁▂▃▄▅▆▇█"

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Column:
    """One column: which key of a row, its header, and how its values read."""

    key: str
    header: str = ""
    digits: int | None = None  # decimals shown for floats
    justify: Literal["left", "right"] = "left"
    text: Callable[[Any], str] | None = None  # replaces the default formatting
    style: Callable[[Any], str | None] | None = None  # terminal colour for a value
    max_width: int | None = None  # the table view cuts longer cells with "…" (CSV keeps them)
    # On a terminal too narrow for every column: columns of priority 0 always show, the others
    # join in priority order (1 first) while they fit whole; a column with a min_width may be
    # cut to it (with "…", or wrapped when `wrap`) so that the priority-0 columns fit.
    priority: int = 0
    min_width: int | None = None
    wrap: bool = False

    @property
    def title(self) -> str:
        return self.header or self.key


@dataclass(frozen=True)
class Table:
    title: str  # "" for none (the table view and Markdown then print no heading)
    columns: Sequence[Column]
    rows: Sequence[Row]
    caption: str = ""
    row_style: Callable[[Row], str | None] | None = None  # terminal style of a whole row


def number_column(key: str, header: str = "", digits: int = 0, **kwargs: Any) -> Column:
    return Column(key, header, digits=digits, justify="right", **kwargs)


def cell_text(column: Column, value: Any) -> str:
    """The text of one cell, the same in every format: one line, no control character."""
    return escape_control(_cell_text(column, value))


def _cell_text(column: Column, value: Any) -> str:
    if column.text is not None:
        return column.text(value)
    value = json_value(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if column.digits is None else f"{value:.{column.digits}f}"
    if isinstance(value, (dict, list)):
        return json_text(value)
    return str(value)


def json_text(value: Any) -> str:
    """Compact JSON whose control characters are all `\\u` escapes (still the same value)."""
    return json_line_safe(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def printable(value: object) -> str:
    """`str(value)` made safe for a terminal line: control characters written as escapes."""
    return escape_control(str(value))


def json_value(value: Any) -> Any:
    """`value` as JSON can hold it: dates and times in ISO 8601 (UTC as `…Z`, like the session
    file), decimals as numbers, bytes as base64, NaN and infinities as null."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return json_value(float(value))
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None and value.utcoffset() == dt.timedelta(0):
            return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
        return value.isoformat(timespec="microseconds")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_value(v) for v in value]
    return str(value)


def sparkline(values: Sequence[float | None], low: float = 0.0, high: float = 100.0) -> str:
    """One bar per value between `low` and `high`; a blank where a value is missing."""
    span = high - low or 1.0
    bars = []
    for value in values:
        if value is None:
            bars.append(" ")
            continue
        level = min(max((value - low) / span, 0.0), 1.0)
        bars.append(SPARK_BARS[min(int(level * len(SPARK_BARS)), len(SPARK_BARS) - 1)])
    return "".join(bars)


# -- progress -----------------------------------------------------------------------------------


@contextmanager
def reading_progress() -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr while files are read (bytes read of the total), when stderr
    is a terminal; None otherwise."""
    console = make_console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    columns = (TextColumn("reading"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("read", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield advance


def echo_warning(warning: object) -> None:
    """One `warning: ...` line on stderr, so stdout stays clean for pipes."""
    click.echo(f"warning: {printable(warning)}", err=True)


def warning_text(warning: object) -> Text:
    """The same line for a rich console (`warning:` in yellow on a terminal)."""
    return Text.assemble(("warning: ", "yellow"), printable(warning))


def echo_warnings(warnings: Sequence[object]) -> None:
    """`warning: FILE:LINE: reason` lines on stderr: a few per file, then one summary line."""
    log = WarningLog(echo_warning)
    for warning in warnings:
        log(warning)
    log.close()


# -- console ------------------------------------------------------------------------------------


def make_console(file: IO[str] | None = None, *, stderr: bool = False) -> Console:
    """A console that colours only a terminal and does not squeeze tables into 80 columns."""
    console = Console(file=file, stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(
            file=file, stderr=stderr, highlight=False, soft_wrap=False, width=PLAIN_WIDTH
        )
    return console


# -- the formats --------------------------------------------------------------------------------


def write_json(value: Any, stream: IO[str], *, indent: int | None = None) -> None:
    """JSON in one write; compact unless `indent` is given (Python's encoder is several
    times slower when it indents, which shows on large reports)."""
    separators = (",", ": ") if indent is not None else (",", ":")
    try:
        text = json.dumps(
            _finite(value),
            indent=indent,
            separators=separators,
            ensure_ascii=False,
            allow_nan=False,
        )
    except RecursionError:  # an event nested deeper than Python's encoder goes: compact
        text = to_json(value)
    stream.write(json_line_safe(text) + "\n")


def _finite(value: Any) -> Any:
    """`value` with NaN and infinities as null: JSON has no spelling for them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def write_csv(table: Table, stream: IO[str]) -> None:
    """One table as CSV, headed by the row keys (the names a script would use). No cell is a
    formula to a spreadsheet (`neutralise_formula`)."""
    columns = table.columns
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([neutralise_formula(printable(c.key)) for c in columns])
    for row in table.rows:
        writer.writerow([neutralise_formula(cell_text(c, row.get(c.key))) for c in columns])


def write_markdown(tables: Sequence[Table], stream: IO[str]) -> None:
    """GitHub-flavoured Markdown: a heading and a pipe table per table."""
    for index, table in enumerate(tables):
        if index:
            stream.write("\n")
        if table.title:
            stream.write(f"### {printable(table.title)}\n\n")
        columns = table.columns
        stream.write("| " + " | ".join(_md(c.title) for c in columns) + " |\n")
        stream.write(
            "|" + "|".join("---:" if c.justify == "right" else "---" for c in columns) + "|\n"
        )
        for row in table.rows:
            stream.write(
                "| " + " | ".join(_md(cell_text(c, row.get(c.key))) for c in columns) + " |\n"
            )
        if table.caption:
            stream.write(f"\n{printable(table.caption)}\n")


def print_tables(tables: Sequence[Table], console: Console, *, wide: bool = False) -> None:
    """Rich tables on a terminal, each fitted to its width (`fit_table`) unless `wide`; the
    same text without padding, every column whole, when writing to a pipe."""
    if console.is_terminal and not wide:
        _print_tables([fit_table(table, console.width) for table in tables], console)
        return
    plain = _wide_enough(console, tables)
    with plain.capture() as captured:
        _print_tables(tables, plain)
    lines = (line.rstrip() for line in captured.get().splitlines())
    console.file.write("\n".join(lines) + "\n")


def _wide_enough(console: Console, tables: Sequence[Table]) -> Console:
    """`console`, or a wider one when a table needs more room: off a terminal no cell is cut
    or wrapped to fit a width nobody is looking at."""
    unbounded = console.options.update_width(2**20)
    widest = max(
        (Measurement.get(console, unbounded, rich_table(t)).maximum for t in tables), default=0
    )
    if widest <= console.width:
        return console
    return Console(file=console.file, highlight=False, soft_wrap=False, width=widest)


def fit_table(table: Table, width: int) -> Table:
    """`table` with the columns that fit `width` terminal cells, by their priority.

    Every column of priority 0 shows; the others join, lowest number first, while they fit
    with each column that has a min_width cut to it. What room is left goes back to the cut
    columns, the leftmost first (the session label before the response id). The caption names
    the columns left out.
    """
    columns = table.columns
    natural = [_natural_width(table, column) for column in columns]
    floor = [min(natural[i], column.min_width or natural[i]) for i, column in enumerate(columns)]
    chosen = [i for i, column in enumerate(columns) if column.priority == 0]
    optional = sorted(
        (i for i, column in enumerate(columns) if column.priority > 0),
        key=lambda i: columns[i].priority,
    )
    for i in optional:
        if sum(floor[j] for j in chosen) + floor[i] + _overhead(table, len(chosen) + 1) > width:
            break
        chosen.append(i)
    chosen.sort()
    room = width - sum(floor[i] for i in chosen) - _overhead(table, len(chosen))
    allotted = {}
    for i in chosen:
        grow = min(natural[i] - floor[i], max(room, 0))
        allotted[i] = floor[i] + grow
        room -= grow
    fitted = [
        replace(columns[i], max_width=allotted[i]) if allotted[i] < natural[i] else columns[i]
        for i in chosen
    ]
    hidden = [columns[i].title for i in range(len(columns)) if i not in allotted]
    caption = table.caption
    if hidden:
        note = f"not shown at {width} columns: {', '.join(hidden)} (--wide shows every column)"
        caption = f"{caption}\n{note}" if caption else note
    return replace(table, columns=fitted, caption=caption)


def _natural_width(table: Table, column: Column) -> int:
    """The cells a column takes when nothing in it is cut or wrapped."""
    widest = max(
        (cell_len(cell_text(column, row.get(column.key))) for row in table.rows), default=0
    )
    width = max(widest, cell_len(column.title))
    return width if column.max_width is None else min(width, column.max_width)


def _overhead(table: Table, columns: int) -> int:
    """The cells between and around the columns of `rich_table`: three between two columns,
    and one at each edge when the table has a title."""
    return 3 * max(columns - 1, 0) + (2 if table.title else 0)


def _print_tables(tables: Sequence[Table], console: Console) -> None:
    for index, table in enumerate(tables):
        if index:
            console.print()
        console.print(rich_table(table))
        if table.caption:  # lines of their own: rich would wrap a caption to the table's width
            console.print(Text(printable(table.caption)), soft_wrap=not console.is_terminal)


def rich_table(table: Table) -> RichTable:
    out = RichTable(
        title=Text(printable(table.title), style="bold") if table.title else None,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=bool(table.title),  # without a title, the header is the first line
    )
    for column in table.columns:
        title = Text(printable(column.title))
        if column.max_width is not None:
            out.add_column(
                title,
                justify=column.justify,
                no_wrap=not column.wrap,
                overflow="fold" if column.wrap else "ellipsis",
                max_width=column.max_width,
            )
        elif column.justify == "right":  # a number is never cut: other columns give way
            widest = max(
                (len(cell_text(column, row.get(column.key))) for row in table.rows), default=0
            )
            out.add_column(title, justify="right", no_wrap=True, min_width=max(widest, 1))
        else:
            out.add_column(title, justify=column.justify)
    for row in table.rows:
        cells = []
        for column in table.columns:
            value = row.get(column.key)
            style = column.style(value) if column.style is not None else None
            cells.append(Text(cell_text(column, value), style=style or ""))
        row_style = table.row_style(row) if table.row_style is not None else None
        out.add_row(*cells, style=row_style)
    return out


def _md(text: str) -> str:
    return printable(text).replace("\\", "\\\\").replace("|", "\\|")
