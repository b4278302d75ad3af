"""`rt report`: one self-contained HTML page over many recorded sessions."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from recorder.analytics import collect_stats
from recorder.report import (
    DEFAULT_AUDIO_BUDGET_MB,
    DEFAULT_AUDIO_MINUTES,
    ReportOptions,
    WrittenReport,
    format_size,
    write_report,
)
from recorder.session_labels import parse_name_option
from recorder.wording import counted

from .options import out_option, prices_with, pricing_option
from .output import printable, warning_text
from .stats import THRESHOLDS_MS


def _names(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    try:
        return parse_name_option(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@out_option(
    "The HTML file to write (replaced whole; missing directories are created).",
    default="report.html",
    metavar="FILE",
    file=True,
)
@click.option(
    "--no-audio",
    is_flag=True,
    help="Leave the audio players out (the page is then a few hundred KB); waveforms stay.",
)
@click.option(
    "--audio-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_AUDIO_MINUTES,
    show_default=True,
    help="Embed at most this many minutes of each session's audio, from its start "
    "(about 2.6 MB per minute at 16 kHz).",
)
@click.option(
    "--audio-budget-mb",
    type=click.FloatRange(min=0),
    default=DEFAULT_AUDIO_BUDGET_MB,
    show_default=True,
    help="Embed sessions' audio, in page order, while the page holds at most this many MB "
    "of it (so that a browser opens the page); the sessions after that keep their waveforms "
    "and name the rt export wav command that writes their audio.",
)
@click.option("--title", default="rt report", show_default=True, help="The page's title.")
@click.option(
    "--name",
    "names",
    multiple=True,
    metavar="FILE=LABEL",
    callback=_names,
    help="Call the session in FILE (its path, file name or stem) LABEL on the page "
    "(repeatable). Without it a session is named by the `name` in its session line, if any, "
    "else as rt stats names it: its file's stem, or start time and id for rt's own file names.",
)
@pricing_option
def report(
    paths: tuple[str, ...],
    out: Path,
    no_audio: bool,
    audio_minutes: float,
    audio_budget_mb: float,
    title: str,
    names: dict[str, str],
    pricing: str | None,
) -> None:
    """Write one HTML file with the latency, tokens, cost, rate limits, errors and audio
    of recorded sessions.

    PATH is a session file, a directory (every *.jsonl under it) or a glob. The page
    holds the summary and per-response tables of `rt stats` (slow responses highlighted
    the same way), a TTFB histogram, tokens and cost by model and session, rate limits
    over time, and for each session a player with its waveform, a timeline of its
    responses and the conversation. It is a single file that loads nothing from the
    network, so it can be mailed or attached to an issue. Each session's audio is a
    16 kHz mono mix of user and assistant, at most its first --audio-minutes, while the
    page's audio stays within --audio-budget-mb (later sessions keep their waveforms and
    name the rt export wav command for their audio). Like the recordings, the file is
    readable by its owner only: it holds the users' voices.

    \b
    Example:
      rt report sessions/ --out report.html
      rt report 'sessions/202611*.jsonl' --no-audio -o november.html
      rt report sessions/call.jsonl --audio-minutes 20 --title "Call with ACME"
      rt report sessions/ --audio-budget-mb 200 -o big.html
      rt report sessions/ --name call.jsonl="ACME, first call"
    """
    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)

    def warn(message: object) -> None:
        err.print(warning_text(message))

    options = ReportOptions(
        title=title,
        audio=not no_audio,
        audio_max_seconds=audio_minutes * 60,
        audio_budget_bytes=int(audio_budget_mb * 2**20),
        thresholds=THRESHOLDS_MS,
        names=names,
    )
    with _progress(err) as bars:
        stats = collect_stats(paths, prices_with(pricing), on_progress=bars.track("reading"))
        for warning in stats.warnings:
            warn(warning)
        written = write_report(
            stats, out, options, on_progress=bars.track("writing"), on_warning=warn
        )
    console.print(_summary_line(written, no_audio))


def _summary_line(written: WrittenReport, no_audio: bool) -> Text:
    sessions = counted(written.sessions, "session")
    line = Text.assemble(
        ("wrote ", ""), (printable(written.path), "bold"), f"  {format_size(written.size)}"
    )
    if no_audio:
        line.append(f"  {sessions}, no audio")
    elif not written.audio_sessions:
        line.append(f"  {sessions}, none with audio")
        if written.over_budget_sessions:
            line.append(f" ({written.over_budget_sessions} over --audio-budget-mb)", "yellow")
    else:
        line.append(
            f"  {sessions}, audio for {written.audio_sessions} "
            f"({format_size(written.audio_bytes * 4 / 3)})"
        )
        if written.cut_sessions:
            line.append(f", {written.cut_sessions} cut at --audio-minutes", "yellow")
        if written.over_budget_sessions:
            line.append(
                f", {written.over_budget_sessions} without audio (over --audio-budget-mb)",
                "yellow",
            )
    return line


class _Bars:
    """Progress bars on stderr, one per stage; callbacks are None when stderr is no terminal."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress

    def track(self, stage: str) -> Callable[[int, int], None] | None:
        progress = self._progress
        if progress is None:
            return None
        task = progress.add_task(stage, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return update


@contextlib.contextmanager
def _progress(console: Console) -> Iterator[_Bars]:
    if not console.is_terminal:
        yield _Bars(None)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield _Bars(progress)
