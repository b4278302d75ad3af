"""The one renderer: tables of rows as a rich table, CSV or Markdown, and objects as JSON.

Every cell goes through `cell_text`, so a value reads the same in the terminal, in CSV and in
Markdown. Colour is only a style on top (and rich drops it when the output is not a terminal).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, Literal

from rich import box
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

FORMATS = ("table", "json", "csv", "markdown")
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

    @property
    def title(self) -> str:
        return self.header or self.key


@dataclass(frozen=True)
class Table:
    title: str
    columns: Sequence[Column]
    rows: Sequence[Row]
    caption: str = ""


def number_column(key: str, header: str = "", digits: int = 0, **kwargs: Any) -> Column:
    return Column(key, header, digits=digits, justify="right", **kwargs)


def cell_text(column: Column, value: Any) -> str:
    """The text of one cell, the same in every format."""
    if column.text is not None:
        return column.text(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return repr(value) if column.digits is None else f"{value:.{column.digits}f}"
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
    text = json.dumps(
        value, indent=indent, separators=separators, ensure_ascii=False, allow_nan=False
    )
    stream.write(text + "\n")


def write_csv(table: Table, stream: IO[str]) -> None:
    """One table as CSV, headed by the row keys (the names a script would use)."""
    columns = table.columns
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for row in table.rows:
        writer.writerow([cell_text(c, row.get(c.key)) for c in columns])


def write_markdown(tables: Sequence[Table], stream: IO[str]) -> None:
    """GitHub-flavoured Markdown: a heading and a pipe table per table."""
    for index, table in enumerate(tables):
        if index:
            stream.write("\n")
        stream.write(f"### {table.title}\n\n")
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
            stream.write(f"\n{table.caption}\n")


def print_tables(tables: Sequence[Table], console: Console) -> None:
    """Rich tables on a terminal; the same text without padding when writing to a pipe."""
    if console.is_terminal:
        _print_tables(tables, console)
        return
    with console.capture() as captured:
        _print_tables(tables, console)
    lines = (line.rstrip() for line in captured.get().splitlines())
    console.file.write("\n".join(lines) + "\n")


def _print_tables(tables: Sequence[Table], console: Console) -> None:
    for index, table in enumerate(tables):
        if index:
            console.print()
        console.print(rich_table(table))
        if table.caption:  # as a line of its own: rich would wrap a caption to the table's width
            console.print(Text(table.caption), soft_wrap=True)


def rich_table(table: Table) -> RichTable:
    out = RichTable(
        title=table.title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in table.columns:
        out.add_column(column.title, justify=column.justify, no_wrap=column.justify == "right")
    for row in table.rows:
        cells = []
        for column in table.columns:
            value = row.get(column.key)
            style = column.style(value) if column.style is not None else None
            cells.append(Text(cell_text(column, value), style=style or ""))
        out.add_row(*cells)
    return out


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
