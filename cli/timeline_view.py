"""The one renderer of session timelines, shared by `rt show` and `rt tail`, and their options.

A line reads: time since the session started, direction (`→` client to server, `←` server to
client, `·` the connection itself), the response it belongs to (r1, r2…), the event type, and
the details. On a terminal long details wrap under the details column and colours mark errors;
anywhere else every entry is exactly one line of plain text (for grep, less, diff).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, TypeVar

import click
from rich.console import Console
from rich.text import Text

from recorder.escaping import escape_control, json_line_safe
from recorder.json_text import to_json
from recorder.session_labels import session_labels
from recorder.timeline import Entry, EntryFilter, FrameStream, SessionHeader, Timeline, TimelineItem
from recorder.warning_log import WarningLog

from .output import echo_warning

TYPE_WIDTH = 33  # fits input_audio_buffer.speech_started; longer types push the details
MIN_DETAILS_WIDTH = 30
ARROWS = {"client": "→", "server": "←", "proxy": "·"}
SOURCE_STYLES = {"client": "cyan", "server": "green", "proxy": "magenta"}
TYPE_STYLES = {"client": "cyan", "server": "", "proxy": "magenta"}
SEVERITY_STYLES = {"info": "", "warning": "yellow", "error": "bold red"}
NO_CLOSE_NOTE = "(no close line: the session is still being recorded, or the recorder stopped)"
UNNAMED = "<session>"  # the path of a session read from elsewhere than a file

F = TypeVar("F", bound=Callable[..., Any])


def timeline_options(command: F) -> F:
    """`--type`, `--grep`, `--all` and `--json`, the same for `rt show` and `rt tail`."""
    options = (
        click.option(
            "--type",
            "types",
            multiple=True,
            metavar="TYPE",
            help="Only events of this type: an exact name (GA names; beta names are "
            "translated), a prefix such as input_audio_buffer, or a glob such as "
            "'response.*'. Repeat it or separate types with commas.",
        ),
        click.option(
            "--grep",
            metavar="REGEX",
            callback=_check_regex,
            help="Only lines whose type, ids, details or event JSON match this regular "
            "expression (Python syntax, case-insensitive).",
        ),
        click.option(
            "--all",
            "--raw",
            "every_frame",
            is_flag=True,
            help="Every frame on its own line: deltas and appends are not collapsed.",
        ),
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            help="One JSON object per frame, for jq: the frame with its canonical type, "
            "response_id, wall-clock time and session id added. Filters apply.",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _check_regex(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise click.BadParameter(f"not a regular expression: {exc}") from None
    return value


JSON_RECORD_HELP = """\
With --json each frame is one line: {"seq", "t", "at", "from", "type",
"response_id", "session", "event"} where type is the canonical (GA) type,
at is the wall-clock time (null without a session line) and event is the
event exactly as recorded ("text" or "binary" instead of "event", and
"type": null, for frames that were not JSON objects). No header, no
collapsing; session, open, close and error lines are not included."""


# -- rendering --------------------------------------------------------------------------------------


class TimelineView:
    """Writes header, entries and separators to a console."""

    def __init__(self, console: Console, source: str = UNNAMED) -> None:
        self.console = console
        self._plain = not console.is_terminal
        self.source = source  # the file shown, named in the header
        self.name: str | None = None  # the readable name its session line gives it, if any

    def header(self, header: SessionHeader) -> None:
        rows = [("session", header.session_id or "?")]
        if self.source != UNNAMED:
            names = {self.source: self.name} if self.name else {}
            rows.append(("file", self.source))
            # how rt stats, rt ls and rt report name this session
            rows.append(("label", session_labels([self.source], names)[self.source]))
        rows += [
            ("started", header.started_at or "?"),
            ("upstream", header.upstream or "?"),
            ("path", header.path or "?"),
            ("model", header.model or "?"),
        ]
        if header.opened_t is None:
            rows.append(("subprotocol", "? (no open line)"))
        else:
            opened = f"  (handshake done at {header.opened_t:.3f} s)"
            rows.append(("subprotocol", (header.subprotocol or "none") + opened))
        if header.protocol != "realtime" or header.transport != "websocket":
            connection = f"{header.protocol} over {header.transport}"
            if header.transport == "sideband":
                connection += (
                    " (a WebRTC or SIP call's control events: its audio travels outside this "
                    "connection; first audio from output_audio_buffer.started)"
                )
            rows.append(("protocol", connection))
        for key, value in rows:
            self._emit(Text.assemble((f"{key:<12}", "dim"), (escape_control(value), "bold")))
        self._emit(Text())

    def entry(self, entry: Entry) -> None:
        cells = entry_cells(entry)
        if self._plain:  # the hot path when piping a long session: no rich objects
            self._write("".join(text for text, _ in cells).rstrip())
        else:
            prefix = Text.assemble(*cells[:-1])
            self._emit(self._wrapped(prefix, Text(*cells[-1])))

    def separator(self, text: str) -> None:
        self._emit(Text())
        self._emit(Text(f"══ {text}", style="bold magenta"))

    def note(self, text: str) -> None:
        self._emit(Text(text, style="dim"))

    def flush(self) -> None:
        self.console.file.flush()

    def _emit(self, text: Text) -> None:
        if self._plain:
            self._write(text.plain.rstrip())
        else:
            self.console.print(text, soft_wrap=True)

    def _write(self, line: str) -> None:
        self.console.file.write(line + "\n")

    def _wrapped(self, prefix: Text, details: Text) -> Text:
        """Details wrapped under their own column (or below the line on a narrow terminal)."""
        width = self.console.width
        if len(prefix) + len(details) <= width:
            line = prefix + details
            line.rstrip()
            return line
        indent = len(prefix)
        lines = [prefix]
        if width - indent < MIN_DETAILS_WIDTH:
            indent = 8
        wrapped = list(details.wrap(self.console, max(width - indent, 10)))
        if indent == len(prefix) and wrapped:
            lines[0] = prefix + wrapped.pop(0)
        lines.extend(Text(" " * indent) + line for line in wrapped)
        for line in lines:
            line.rstrip()
        return Text("\n").join(lines)


def entry_cells(entry: Entry) -> list[tuple[str, str]]:
    """The columns of a line as (text, style): time, direction, response, type, details."""
    response = f"r{entry.response_number}" if entry.response_number else ""
    severity = SEVERITY_STYLES[entry.severity]
    type_style = severity or ("bold" if entry.collapsed else TYPE_STYLES[entry.source])
    return [
        (f"{entry.t:9.3f} ", "dim"),
        (ARROWS[entry.source] + " ", SOURCE_STYLES[entry.source]),
        (f"{response:<3} ", "bold blue"),
        (f"{escape_control(entry.type):<{TYPE_WIDTH}} ", type_style),
        (escape_control(entry.summary), severity or ("italic" if entry.collapsed else "")),
    ]


# -- the two printers --------------------------------------------------------------------------------


class TimelinePrinter:
    """Feeds records to a Timeline and prints what comes out (the default output)."""

    def __init__(
        self,
        console: Console,
        entry_filter: EntryFilter,
        *,
        collapse: bool,
        path: str = UNNAMED,
    ) -> None:
        self.view = TimelineView(console, path)
        self.filter = entry_filter
        self.warnings = WarningLog(echo_warning)
        self.timeline = Timeline(collapse=collapse, path=path, on_warning=self.warnings)
        self.shown = 0

    def feed(self, line: int, record: Mapping[str, Any]) -> None:
        if record.get("kind") == "session":
            name = record.get("name")
            self.view.name = " ".join(name.split()) if isinstance(name, str) else None
        self._print(self.timeline.feed(line, record))

    def finish(self, *, note_missing_close: bool = True) -> None:
        self._print(self.timeline.finish())
        if note_missing_close and not self.timeline.closed:
            self.view.note(NO_CLOSE_NOTE)
        self.view.flush()
        self.warnings.close()

    def restart(self, separator: str | None, path: str) -> None:
        """A session begins (`rt tail` found its first file, or switched to a newer one: then
        the separator goes between them)."""
        if separator is not None:
            self.finish(note_missing_close=False)
            self.view.separator(separator)
        self.view.source = path
        self.timeline = Timeline(
            collapse=self.timeline.collapse, path=path, on_warning=self.warnings
        )

    def flush(self) -> None:
        self.view.flush()

    def _print(self, items: list[TimelineItem]) -> None:
        for item in items:
            if isinstance(item, SessionHeader):
                self.view.header(item)
            elif self.filter.accepts(item):
                self.view.entry(item)
                self.shown += item.source != "proxy"


class JsonPrinter:
    """`--json`: one object per frame (see FrameStream), filtered, one line each."""

    def __init__(self, stream: IO[str], entry_filter: EntryFilter, path: str = UNNAMED) -> None:
        self.stream = stream
        self.filter = entry_filter
        self.warnings = WarningLog(echo_warning)
        self.frames = FrameStream(path, self.warnings)
        self.shown = 0

    def feed(self, line: int, record: Mapping[str, Any]) -> None:
        frame = self.frames.feed(line, record)
        if frame is None:
            return
        text = json_line_safe(to_json(frame))
        if self.filter.accepts_frame(frame["type"], text):
            self.stream.write(text + "\n")
            self.shown += 1

    def finish(self, *, note_missing_close: bool = True) -> None:
        self.stream.flush()
        self.warnings.close()

    def restart(self, separator: str | None, path: str) -> None:
        self.frames = FrameStream(path, self.warnings)

    def flush(self) -> None:
        self.stream.flush()


Printer = TimelinePrinter | JsonPrinter


def make_printer(
    console: Console,
    entry_filter: EntryFilter,
    *,
    every_frame: bool,
    as_json: bool,
    path: str = UNNAMED,
) -> Printer:
    if as_json:
        return JsonPrinter(console.file, entry_filter, path)
    return TimelinePrinter(console, entry_filter, collapse=not every_frame, path=path)


def filtering(entry_filter: EntryFilter) -> bool:
    """Whether `--type` or `--grep` was given."""
    return bool(entry_filter.types) or entry_filter.grep is not None


def no_match_note(types: tuple[str, ...], grep: str | None) -> str:
    """What `rt show` says on stderr when its filters left no event."""
    given = [f"--type {t}" for t in types] + ([f"--grep {grep}"] if grep is not None else [])
    return escape_control(f"no events matched {' '.join(given)}")


@contextlib.contextmanager
def quiet_broken_pipe() -> Iterator[None]:
    """`rt show … | head` ends quietly when head stops reading."""
    try:
        yield
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):
            # stdout is gone: point it at devnull so the interpreter's last flush succeeds
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(0) from None
