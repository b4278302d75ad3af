"""`rt tail`: follow the session `rt record` is writing, rendered like `rt show`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from pathlib import Path

import click

from recorder.follow import (
    DEFAULT_INTERVAL,
    NewLine,
    Switched,
    follow_sessions,
    newest_session,
)
from recorder.reading import RecordChecker
from recorder.timeline import EntryFilter

from .output import make_console, printable
from .timeline_view import (
    JSON_RECORD_HELP,
    Printer,
    make_printer,
    quiet_broken_pipe,
    timeline_options,
)


@click.command(epilog=JSON_RECORD_HELP)
@click.argument(
    "target", metavar="[DIR]", default="sessions", required=False, type=click.Path(path_type=Path)
)
@timeline_options
@click.option(
    "--exit-on-close",
    is_flag=True,
    help="Stop when the session being followed ends (its close line is written).",
)
@click.option(
    "--max-seconds",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Stop after this many seconds.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01),
    default=DEFAULT_INTERVAL,
    show_default=True,
    metavar="SECONDS",
    help="How often to look for new lines and new session files.",
)
def tail(
    target: Path,
    types: tuple[str, ...],
    grep: str | None,
    every_frame: bool,
    as_json: bool,
    exit_on_close: bool,
    max_seconds: float | None,
    interval: float,
) -> None:
    """Follow the newest session in DIR live, while `rt record` writes it.

    DIR is the recording directory (default: sessions); a session file is
    followed on its own. The session is shown from its start, in the same
    format as `rt show`, and new events are printed as they are recorded. A
    collapsed line (a response's audio, a transcript, a run of appends) is
    printed once it is complete, so lines after it wait until then. When a
    newer session file appears, tail finishes the current one and switches
    to it, under a ══ separator. Ctrl-C stops (exit status 0).

    \b
    Example:
      rt record --proxy --out sessions/ &      # then start your voice agent
      rt tail sessions/
      rt tail sessions/ --type 'response.*,error'
      rt tail sessions/ --json | jq -c 'select(.type=="response.done") | .event.response.usage'
      rt tail sessions/ --exit-on-close        # wait for the current call to end
    """
    entry_filter = EntryFilter.build(types, grep)
    console = make_console()
    printer = make_printer(console, entry_filter, every_frame=every_frame, as_json=as_json)
    if target.is_dir() and newest_session(target) is None:
        click.echo(f"waiting for a session in {printable(target)}/ …", err=True)
    with quiet_broken_pipe():
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how tail is meant to stop
            _follow(target, printer, exit_on_close, max_seconds, interval)
        printer.finish(note_missing_close=False)


def _follow(
    target: Path,
    printer: Printer,
    exit_on_close: bool,
    max_seconds: float | None,
    interval: float,
) -> None:
    def pause(seconds: float) -> None:
        printer.flush()  # before waiting, not after every line: a long file prints fast
        time.sleep(seconds)

    events = follow_sessions(target, interval=interval, max_seconds=max_seconds, sleep=pause)
    with contextlib.closing(events):
        _print_events(events, printer, exit_on_close)


def _print_events(
    events: Iterable[NewLine | Switched], printer: Printer, exit_on_close: bool
) -> None:
    checker: RecordChecker | None = None
    for event in events:
        if not isinstance(event, NewLine):
            separator = None if event.previous is None else f"{event.path}"
            printer.restart(separator, str(event.path))
            checker = RecordChecker(event.path, printer.warnings)
            click.echo(f"following {printable(event.path)}", err=True)
            continue
        data = event.data.rstrip(b"\r\n")
        if checker is None or not data.strip():
            continue
        record = checker.check(event.number, data)
        if record is None:
            continue
        printer.feed(event.number, record)
        if record.get("kind") == "close" and exit_on_close:
            return
