"""The building blocks of the report's HTML: tables, sections, links and how values read (pure).

Every string that can come from a recording goes through `html.escape` in here or at the
call site; a cell's `cell` function returns markup that is already escaped.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from recorder.report.charts import Thresholds

Row = Mapping[str, object]


@dataclass(frozen=True)
class PageContext:
    """What every part of the page needs besides the results."""

    title: str
    generated_at: str
    names: Mapping[str, str]  # file -> name shown for its session
    anchors: Mapping[str, str]  # file -> id of its section
    files: Mapping[str, str] = field(default_factory=dict)  # session id -> file
    thresholds: Mapping[str, Thresholds] = field(default_factory=dict)
    audio_note: str = ""  # how audio is embedded (or why not), shown under Sessions


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[Row], str]  # the cell's inner HTML, escaped
    numeric: bool = False
    css: Callable[[Row], str | None] | None = None
    key: str | None = None  # named in a data-key attribute, for scripts that read the page
    wrap: bool = False


def html_table(
    columns: Sequence[Column],
    rows: Sequence[Row],
    *,
    caption: str = "",
    id_: str | None = None,
    row_id: str | None = None,
) -> str:
    head = "".join(
        f'<th class="num">{escape(c.header)}</th>' if c.numeric else f"<th>{escape(c.header)}</th>"
        for c in columns
    )
    body = []
    for row in rows:
        cells = []
        for column in columns:
            classes = [
                *(["num"] if column.numeric else []),
                *(["wrap"] if column.wrap else []),
                *([css] if column.css and (css := column.css(row)) else []),
            ]
            attributes = f' class="{" ".join(classes)}"' if classes else ""
            if column.key:
                attributes += f' data-key="{escape(column.key)}"'
            cells.append(f"<td{attributes}>{column.cell(row)}</td>")
        row_attr = f' data-row="{escape(str(row.get(row_id)))}"' if row_id else ""
        body.append(f"<tr{row_attr}>{''.join(cells)}</tr>")
    table_id = f' id="{escape(id_)}"' if id_ else ""
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return (
        f"<table{table_id}>{cap}<thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}"><h2>{escape(title)}</h2>{body}</section>\n'


def session_link(row: Row, context: PageContext) -> str:
    """The session of a row, linked to its section (rows name it by file or by session id);
    a long name is cut to fit its column, whole in its tooltip."""
    file = str(row.get("file") or context.files.get(str(row.get("session")), ""))
    name = escape(context.names.get(file, str(row.get("session") or file)))
    anchor = context.anchors.get(file)
    label = f'<span class="clip name" title="{name}">{name}</span>'
    if anchor is None:
        return label
    return f'<a href="#{escape(anchor)}">{label}</a>'


def response_id(value: object) -> str:
    """A response id in a table: its start, the whole id in the tooltip (and when copied)."""
    text = escape(str(value or ""))
    return f'<span class="mono clip id" title="{text}">{text}</span>'


def status_badge(value: object) -> str:
    """A response's status as a badge; the stylesheet colours the ones that did not complete."""
    text = escape(str(value or ""))
    return f'<span class="status {text}">{text}</span>'


def as_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def fixed(value: object, digits: int) -> str:
    number = as_number(value)
    return "" if number is None else f"{number:,.{digits}f}"


def integer(value: object) -> str:
    number = as_number(value)
    return "" if number is None else f"{number:,.0f}"


def milliseconds(value: object) -> str:
    """Markup: `504<small> ms</small>`, for the summary's cards."""
    number = as_number(value)
    return "–" if number is None else f"{number:,.0f}<small> ms</small>"


def dollars(value: object) -> str:
    number = as_number(value)
    return "unknown" if number is None else f"${number:,.4f}"


def counted(value: object, noun: str) -> str:
    number = int(as_number(value) or 0)
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def epoch_seconds(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def when(value: object, unknown: str = "unknown") -> str:
    """`2026-11-26 02:58:39 UTC` from the ISO time of a session's start."""
    epoch = epoch_seconds(value)
    if epoch is None:
        return str(value) if value else unknown
    return f"{dt.datetime.fromtimestamp(epoch, dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


def clock(seconds: float) -> str:
    minutes, secs = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes)}:{secs:04.1f}"


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
