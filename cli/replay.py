"""`rt replay`: re-send a recording's client frames and record the new exchange.

What is being replayed, and warnings, go to stderr; the summary (the new file, frames, errors
and each response's latency next to the original's) goes to stdout.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, cast

import click
from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from recorder.replay import (
    PACES,
    Pace,
    RecordingFacts,
    ReplayResult,
    ResponseComparison,
    compare_responses,
    connection_plan,
    load_session,
    replay_schedule,
    run_replay,
    summarise,
    summarise_file,
)
from recorder.warning_log import WarningLog

from .options import header_option, out_option, pacing_options, timeout_option
from .output import echo_warning, printable


@click.command()
@click.argument(
    "session", metavar="SESSION.jsonl", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--target",
    metavar="URL",
    help="Where to send: a full URL is dialled as given; a bare ws[s]://HOST gets the recorded "
    "path and query.  [default: the recorded upstream]",
)
@pacing_options(
    speed_help="Divide recorded gaps by this (audio appends keep real time: server VAD hears them).",
    fast_help="No gaps at all, appends included (reactive still waits).",
    paces=PACES,
    pace_help="reactive: keep the gaps and, before each frame, wait for the server events that "
    "preceded it (response.done, …); timed: keep the gaps only.",
)
@timeout_option()
@header_option("too")
@out_option("Directory for the new session file.", default="sessions")
def replay(
    session: Path,
    target: str | None,
    speed: float,
    fast: bool,
    pace: str,
    timeout: float,
    headers: list[tuple[str, str]],
    out: Path,
) -> None:
    """Re-send a recording's client frames and record the new exchange.

    Dials like the recorded client did (path, query, headers, subprotocols; redacted secrets
    are dropped, the key comes from --header or the environment), sends each client frame as
    recorded, and writes both directions to a new session file in --out, so old and new can
    be compared with `rt stats`. A frame goes out no earlier than its recorded gap after the
    previous one; in reactive pace also no earlier than its recorded delay after the server
    events it waited for. If they do not come within --timeout the replay stops; the new
    file still ends with an error line and a close. Exit status 1 when the replay stopped.

    \b
    Example:
      rt replay sessions/call.jsonl                      # against the recorded upstream
      rt replay sessions/call.jsonl --target wss://api.openai.com/v1/realtime?model=gpt-realtime-2
      rt replay sessions/call.jsonl --target ws://127.0.0.1:8765 --pace timed --speed 2
      rt stats sessions/call.jsonl sessions/<new file>.jsonl --by session
    """
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    out_console = Console(highlight=False, soft_wrap=True)

    warn = WarningLog(echo_warning)

    recorded = load_session(session, keep_payloads=("client",), on_warning=warn)
    schedule = replay_schedule(recorded, pace=cast(Pace, pace), speed=speed, fast=fast)
    plan = connection_plan(recorded, target, headers, os.environ)
    err.print(
        Text.assemble(
            ("rt replay: ", "bold"),
            f"{printable(session)} → ",
            (printable(plan.safe_url), "bold cyan"),
            f"  {len(schedule.sends)} client frames, {_pace(pace, speed, fast)}",
        )
    )
    try:
        result = asyncio.run(
            run_replay(
                schedule,
                plan,
                out,
                source=session,
                timeout=timeout,
                on_write_error=lambda exc: err.print(f"error: cannot write: {exc}", style="red"),
            )
        )
    except KeyboardInterrupt:
        raise click.Abort() from None
    assert recorded.facts is not None
    original = summarise(recorded.facts)  # read once, while loading
    replayed = summarise_file(result.recording.path, warn)
    warn.close()
    for part in summary_parts(result, original, replayed):
        out_console.print(part)
    if result.stopped is not None:
        raise result.stopped


def _pace(pace: str, speed: float, fast: bool) -> str:
    return f"{pace}, " + ("--fast" if fast else f"speed {speed:g}")


# -- what the user sees ------------------------------------------------------------------------

# Rows of the latency table laid out at once: a long call's thousands of responses are printed
# in tables of this many rows with the same column widths, so they read as one table while
# memory holds one batch.
LATENCY_BATCH = 500
LATENCY_COLUMNS = ("#", "trigger", "status", "ttfb original", "ttfb replay", "change")


def render_summary(
    result: ReplayResult, original: RecordingFacts, replayed: RecordingFacts
) -> RenderableType:
    """The new file, what went each way, errors, and each response's latency vs the original."""
    return Group(*summary_parts(result, original, replayed))


def summary_parts(
    result: ReplayResult, original: RecordingFacts, replayed: RecordingFacts
) -> Iterator[RenderableType]:
    """`render_summary`, part by part (the CLI prints each as it comes)."""
    summary = result.recording
    yield Text.assemble(
        (printable(summary.path), "bold"),
        f"  {summary.duration_s:.1f} s",
        f"  sent {result.frames_sent}/{result.frames_planned} client frames",
        f" · received {result.frames_received} server frames",
        f" · errors {len(replayed.errors)} (original {len(original.errors)})",
    )
    for error in replayed.errors:
        kind = "/".join(str(x) for x in (error.type, error.code) if x)
        line = f"  error at {error.t:.3f} s: {kind}: {error.message}"
        yield Text(printable(line), style="red")
    comparisons = compare_responses(original, replayed)
    if not comparisons:
        yield Text("  no responses in either recording", style="dim")
    widths = [len(title) for title in LATENCY_COLUMNS]
    widths[1] = max(widths[1], 15)
    for row in map(_latency_cells, comparisons):
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    for start in range(0, len(comparisons), LATENCY_BATCH):
        batch = comparisons[start : start + LATENCY_BATCH]
        table = latency_table(batch, widths, header=start == 0)
        yield Padding(table, (0, 0, 0, 2), expand=False)
    if summary.frames_lost:
        yield Text(f"  {summary.frames_lost} frames NOT recorded", style="bold red")


def latency_table(
    comparisons: Sequence[ResponseComparison], widths: Sequence[int], *, header: bool = True
) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, show_header=header)
    for title, width in zip(LATENCY_COLUMNS, widths, strict=True):
        justify: Literal["left", "right"] = "left" if title in ("trigger", "status") else "right"
        table.add_column(title, justify=justify, no_wrap=True, min_width=width)
    for row in comparisons:
        table.add_row(*(Text(cell) for cell in _latency_cells(row)))
    return table


def _latency_cells(row: ResponseComparison) -> tuple[str, ...]:
    either = row.replayed or row.original
    assert either is not None
    status = row.replayed.status if row.replayed is not None else "missing"
    change = row.change_ms
    return (
        str(row.index),
        printable(_short_trigger(either.trigger)),
        printable(status or "?"),
        _ms(row.original.ttfb_ms if row.original else None),
        _ms(row.replayed.ttfb_ms if row.replayed else None),
        "" if change is None else f"{change:+.1f} ms",
    )


def _short_trigger(trigger: str | None) -> str:
    if trigger is None:
        return "?"
    return trigger.removeprefix("input_audio_buffer.")


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} ms"
