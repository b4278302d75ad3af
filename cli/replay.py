"""`rt replay`: re-send a recording's client frames and record the new exchange.

What is being replayed, and warnings, go to stderr; the summary (the new file, frames, errors
and each response's latency next to the original's) goes to stdout.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import cast

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

from .options import header_option, timeout_option
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
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Divide recorded gaps by this (audio appends keep real time: server VAD hears them).",
)
@click.option(
    "--fast", is_flag=True, help="No gaps at all, appends included (reactive still waits)."
)
@click.option(
    "--pace",
    type=click.Choice(PACES),
    default="reactive",
    show_default=True,
    help="reactive: keep the gaps and, before each frame, wait for the server events that "
    "preceded it (response.done, …); timed: keep the gaps only.",
)
@timeout_option()
@header_option("too")
@click.option(
    "--out",
    default="sessions",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the new session file.",
)
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
    if fast and _given(click.get_current_context(), "speed"):
        raise click.UsageError("--speed and --fast cannot be used together")
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
    out_console.print(render_summary(result, original, replayed))
    if result.stopped is not None:
        raise result.stopped


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE


def _pace(pace: str, speed: float, fast: bool) -> str:
    return f"{pace}, " + ("--fast" if fast else f"speed {speed:g}")


# -- what the user sees ------------------------------------------------------------------------

# Responses listed in the summary: a long call's thousands would take longer to lay out than
# to replay (rt diff compares them all).
SUMMARY_ROWS = 50


def render_summary(
    result: ReplayResult, original: RecordingFacts, replayed: RecordingFacts
) -> RenderableType:
    """The new file, what went each way, errors, and each response's latency vs the original."""
    summary = result.recording
    head = Text.assemble(
        (printable(summary.path), "bold"),
        f"  {summary.duration_s:.1f} s",
        f"  sent {result.frames_sent}/{result.frames_planned} client frames",
        f" · received {result.frames_received} server frames",
        f" · errors {len(replayed.errors)} (original {len(original.errors)})",
    )
    parts: list[RenderableType] = [head]
    for error in replayed.errors:
        kind = "/".join(str(x) for x in (error.type, error.code) if x)
        line = f"  error at {error.t:.3f} s: {kind}: {error.message}"
        parts.append(Text(printable(line), style="red"))
    comparisons = compare_responses(original, replayed)
    if comparisons:
        shown = comparisons[:SUMMARY_ROWS]
        parts.append(Padding(latency_table(shown), (0, 0, 0, 2), expand=False))
        if len(comparisons) > len(shown):
            more = len(comparisons) - len(shown)
            parts.append(
                Text(f"  … and {more:,} more responses (rt diff compares every one)", style="dim")
            )
    else:
        parts.append(Text("  no responses in either recording", style="dim"))
    if summary.frames_lost:
        parts.append(Text(f"  {summary.frames_lost} frames NOT recorded", style="bold red"))
    return Group(*parts)


def latency_table(comparisons: Sequence[ResponseComparison]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("#", justify="right")
    table.add_column("trigger", no_wrap=True, min_width=15)
    table.add_column("status", no_wrap=True)
    table.add_column("ttfb original", justify="right")
    table.add_column("ttfb replay", justify="right")
    table.add_column("change", justify="right")
    for row in comparisons:
        either = row.replayed or row.original
        assert either is not None
        status = row.replayed.status if row.replayed is not None else "missing"
        change = row.change_ms
        table.add_row(
            str(row.index),
            Text(printable(_short_trigger(either.trigger))),
            Text(printable(status or "?")),
            _ms(row.original.ttfb_ms if row.original else None),
            _ms(row.replayed.ttfb_ms if row.replayed else None),
            "" if change is None else f"{change:+.1f} ms",
        )
    return table


def _short_trigger(trigger: str | None) -> str:
    if trigger is None:
        return "?"
    return trigger.removeprefix("input_audio_buffer.")


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} ms"
