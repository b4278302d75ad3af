"""`rt show`: a recorded session as a readable timeline (or its frames as JSON lines)."""

from __future__ import annotations

from pathlib import Path

import click

from recorder.errors import InputError
from recorder.escaping import escape_control
from recorder.follow import newest_session
from recorder.reading import RecordChecker, iter_records
from recorder.timeline import EntryFilter

from .output import make_console
from .timeline_view import (
    JSON_RECORD_HELP,
    filtering,
    make_printer,
    no_match_note,
    quiet_broken_pipe,
    timeline_options,
)


@click.command(epilog=JSON_RECORD_HELP)
@click.argument("session", metavar="SESSION", type=click.Path(exists=True, path_type=Path))
@timeline_options
def show(
    session: Path, types: tuple[str, ...], grep: str | None, every_frame: bool, as_json: bool
) -> None:
    """Show a recorded session as a timeline of its events.

    SESSION is a session file, or a directory (its newest session).

    The header says which connection it was (id, file, the label rt stats,
    rt ls and rt report give it, start, upstream, path, model, subprotocol);
    for a directory, stderr also says which file it picked. Then one line per
    event: seconds since the start,
    → client to server or ← server to client, the response it belongs to
    (r1, r2… in order; its full id is on response.created), the event type
    (GA names, also for beta recordings) and the details that matter.
    Errors are red on a terminal. The audio deltas of a response, the deltas
    of a transcript, a text or a function call's arguments (assembled into
    the text), and each run of input_audio_buffer.append are collapsed into
    one line, placed at their first frame; --all shows every frame. The
    last line is how the connection closed (who, code, reason). Filters that
    leave no event say so on stderr.

    \b
    Example:
      $ rt show sessions/call.jsonl
      session     20261126T025839.002772Z-a127d81f
      file        sessions/call.jsonl
      label       call
      started     2026-11-26T02:58:39.002772Z
      upstream    ws://127.0.0.1:42023/v1/realtime?model=gpt-realtime
      path        /v1/realtime?model=gpt-realtime
      model       gpt-realtime
      subprotocol none  (handshake done at 0.022 s)
      …
          0.829 →     input_audio_buffer.append         2.765 s audio · 70 appends over 2.760 s · 132,724 B
          3.629 →     input_audio_buffer.commit
          3.630 →     response.create
      …
          3.672 ← r1  response.created                  resp_DyNk3kflf1zJXLnr0yeMj
      …
          4.053 ← r1  response.output_audio.delta       2.510 s audio · 26 deltas over 0.776 s · 120,464 B
          4.053 ← r1  response.output_audio_transcript.delta "Of course. What is your order number?" · 7 deltas
      …
          4.861 ← r1  response.done                     resp_DyNk3kflf1zJXLnr0yeMj · completed · tokens 171 in (0 cached), 59 out
      …
         10.747 ·     close                             by client · code 1000
      $ rt show sessions/call.jsonl --type response.done,error
      $ rt show sessions/call.jsonl --grep item_R6k3bTBsW3ESNdPU73KJU --all
      $ rt show sessions/ --json | jq -r 'select(.type=="error") | .event.error.message'
    """
    path = session
    if session.is_dir():
        newest = newest_session(session)
        if newest is None:
            raise InputError(f"{session}: no session files (*.jsonl) in this directory")
        path = newest
        click.echo(escape_control(f"rt show: the newest session in {session}/ is {path}"), err=True)
    entry_filter = EntryFilter.build(types, grep)
    console = make_console()
    printer = make_printer(
        console, entry_filter, every_frame=every_frame, as_json=as_json, path=str(path)
    )
    with quiet_broken_pipe():
        checker = RecordChecker(path, printer.warnings)
        for line, record in iter_records(path, on_warning=printer.warnings, checker=checker):
            printer.feed(line, record)
        printer.finish(note_missing_close=checker.records > 0)
    if not checker.records:
        raise InputError(f"{path}: no session records to show")
    if filtering(entry_filter) and not printer.shown:
        click.echo(no_match_note(types, grep), err=True)
