"""`rt export`: write recorded sessions in another format (`wav`, `parquet`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from recorder.audio import AudioWarning
from recorder.wav import TRACKS, WrittenWav, export_wav
from recorder.wording import counted

from .options import out_option, prices_with, pricing_option
from .output import printable, warning_text

_ProgressCallback = Callable[[str, int, int], None]


@click.group()
def export() -> None:
    """Export recorded sessions in another format.

    \b
    Example:
      rt export wav sessions/call.jsonl --out audio/
      rt export parquet sessions/ --out s3://bucket/rt-parquet/
      rt export otlp sessions/ --endpoint http://127.0.0.1:4318
    """


@export.command()
@click.argument(
    "session", metavar="SESSION.jsonl", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@out_option(
    "Directory for the WAV files (created if missing).",
    default=".",
    show_default="the current directory",
)
@click.option(
    "--track",
    type=click.Choice(["assistant", "user", "mix", "all"]),
    default="all",
    show_default=True,
    help="Which file to write: what the user said, what the assistant said, or both as a call.",
)
@click.option(
    "--split",
    is_flag=True,
    help="Write the assistant's audio as STEM.assistant.<response id>.wav, one file per "
    "response, instead of one file.",
)
@click.option(
    "--heard",
    is_flag=True,
    help="Cut the assistant's audio where the client truncated it (what the user heard), "
    "as in the mix, instead of writing all the audio the server sent.",
)
def wav(session: Path, out: Path, track: str, split: bool, heard: bool) -> None:
    """Write a session's audio as 16-bit PCM WAV files.

    \b
      STEM.user.wav       everything the client appended (input_audio_buffer.append)
      STEM.assistant.wav  every response's audio in order, all of it (--heard: cut where
                          the client truncated it)
      STEM.mix.wav        stereo call, user left and assistant right, on the session's clock

    In the mix, user audio starts when each append reached the proxy (back to back when the
    client sent faster than real time); each response starts at its first audio delta or when
    the previous response's audio ended, whichever is later, and plays at real-time rate. Files
    are at the session's rate: 24 kHz for pcm16, 8 kHz for G.711 (decoded to 16-bit); a track
    whose rate changes is written at its highest rate with the rest interpolated.

    \b
    Example:
      $ rt export wav sessions/call.jsonl --out audio/
      audio/call.user.wav       0:05.562  24000 Hz  mono
      audio/call.assistant.wav  0:06.831  24000 Hz  mono
      audio/call.mix.wav        0:13.209  24000 Hz  stereo (user left, assistant right)
    """
    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    lines: list[WrittenWav] = []

    def warn(warning: AudioWarning) -> None:
        err.print(warning_text(warning))

    status = (
        err.status(f"exporting {printable(session)}")
        if err.is_terminal
        else contextlib.nullcontext()
    )
    with status:
        result = export_wav(
            session,
            out,
            tracks=TRACKS if track == "all" else (track,),
            split=split,
            heard=heard,
            on_warning=warn,
            on_written=lines.append,
        )
    width = max(len(printable(written.path)) for written in lines)
    for written in lines:
        console.print(_written_line(written, width))
    for missing in result.missing:
        err.print(Text.assemble(("note: ", "cyan"), printable(missing)))


def _written_line(written: WrittenWav, width: int) -> Text:
    layout = "stereo (user left, assistant right)" if written.channels == 2 else "mono"
    line = Text.assemble(
        (printable(written.path).ljust(width), "bold"),
        f"  {format_duration(written.duration_s)}  {written.rate} Hz  {layout}",
    )
    if written.interpolated_from:
        rates = ", ".join(f"{rate} Hz" for rate in written.interpolated_from)
        line.append(f"  ({rates} audio interpolated)", "dim")
    return line


def format_duration(seconds: float) -> str:
    """`0:07.250`, `12:03.000`, `1:00:00.000`: minutes and seconds to the millisecond."""
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    clock = f"{minutes}:{millis / 1000:06.3f}"
    return f"{hours}:{minutes:02d}:{millis / 1000:06.3f}" if hours else clock


@export.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@out_option(
    "The dataset: a local directory or an object store URL (s3://bucket/prefix/). "
    "A new or empty one is created; an existing rt dataset is added to.",
    required=True,
    metavar="DIR|URL",
    url=True,
)
@click.option(
    "--with-audio",
    is_flag=True,
    help="Keep the base64 audio in the events (by default only its decoded size is kept, "
    "in audio_bytes).",
)
@pricing_option
def parquet(paths: tuple[str, ...], out: str, with_audio: bool, pricing: str | None) -> None:
    """Write session files as a Parquet dataset for DuckDB, Spark, Trino, BigQuery, ClickHouse.

    PATH is a session file, a directory (every *.jsonl under it), a glob, or an object store
    URL (a prefix or a glob). Five tables, events, sessions, responses, rate_limits and
    errors, each Hive-partitioned by date (the UTC day the session started) and model:
    DIR/events/date=2026-11-26/model=gpt-realtime/part-<run>-0.parquet. The numbers are
    those of rt stats, and rt stats reads the dataset back with the same results. Session
    files already in the dataset are skipped, so the same command can run every night.
    Schema: docs/parquet.md.

    \b
    Example:
      $ rt export parquet sessions/ --out warehouse/rt/
      exported 12 sessions to warehouse/rt/ (run …)
      events              4,899 rows     8 files       0.1 MB
      sessions               12 rows     8 files       0.1 MB
      responses              24 rows     7 files       0.0 MB
      rate_limits            40 rows     5 files       0.0 MB
      errors                  2 rows     1 file        0.0 MB
      $ duckdb -c "SELECT model, count(*) FROM 'warehouse/rt/responses/**/*.parquet' GROUP BY ALL"
    """
    from recorder.parquet import export_parquet

    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    with _export_progress(err) as on_progress:
        result = export_parquet(
            paths,
            out,
            with_audio=with_audio,
            prices=prices_with(pricing),
            on_progress=on_progress,
        )
    for warning in result.warnings:
        err.print(warning_text(warning))
    if result.already_exported:
        count = len(result.already_exported)
        err.print(
            Text.assemble(
                ("note: ", "cyan"),
                f"{counted(count, 'session file')} already in the dataset, skipped",
            )
        )
    if not result.sessions:
        console.print(Text(f"nothing to export: {printable(out)} already holds every session"))
        return
    sessions = counted(result.sessions, "session")
    console.print(
        Text.assemble(
            "exported ", (sessions, "bold"), f" to {printable(out)} (run {result.run_id})"
        )
    )
    width = max(len(table.name) for table in result.tables)
    for table in result.tables:
        files = "file " if table.files == 1 else "files"
        console.print(
            f"{table.name.ljust(width)}  {table.rows:>12,} rows  {table.files:>4} {files}  "
            f"{table.bytes / 1e6:>8.1f} MB"
        )


@contextlib.contextmanager
def _export_progress(
    console: Console, amount: ProgressColumn | None = None
) -> Iterator[_ProgressCallback | None]:
    """A progress bar per phase on stderr, when stderr is a terminal; `amount` shows how far
    (bytes by default)."""
    if not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        amount or DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def advance(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=done, total=total)

        yield advance


@export.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--endpoint",
    required=True,
    metavar="URL",
    help="The OTLP/HTTP collector's base URL, e.g. http://127.0.0.1:4318 (traces go to "
    "URL/v1/traces). Headers and certificates from the usual OTEL_EXPORTER_OTLP_* variables.",
)
@click.option(
    "--pricing",
    type=click.Path(exists=True, dir_okay=False),
    help="Price file for the cost attributes, as for rt stats.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the collector to take each batch (and, at the end, the rest).",
)
def otlp(paths: tuple[str, ...], endpoint: str, pricing: str | None, timeout: float) -> None:
    """Send recordings to an OpenTelemetry collector as traces (backfill).

    One trace per session, a span per response, with the same attributes, events and times
    as rt record --otlp sends live (docs/telemetry.md). PATH is a session file, a directory
    (every *.jsonl under it) or a glob. Exit status 1 when the collector did not take every
    span.

    \b
    Example:
      $ rt export otlp sessions/ --endpoint http://127.0.0.1:4318
      sent 412 sessions (5,120 responses) to http://127.0.0.1:4318: 5,532 spans
    """
    from recorder.analytics.sources import resolve_session_files
    from recorder.telemetry.backfill import export_otlp
    from recorder.warning_log import WarningLog

    from .options import prices_with
    from .output import echo_warning

    if not endpoint.startswith(("http://", "https://")):
        raise click.BadParameter(
            f"an OTLP/HTTP collector URL, e.g. http://127.0.0.1:4318 (got {endpoint!r})",
            param_hint="--endpoint",
        )
    files = resolve_session_files(paths)
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    warnings = WarningLog(echo_warning)
    with _export_progress(err, MofNCompleteColumn()) as advance:
        result = export_otlp(
            files,
            endpoint,
            prices=prices_with(pricing),
            on_progress=None if advance is None else lambda _, done, n: advance("sending", done, n),
            on_warning=warnings,
            timeout=timeout,
        )
    warnings.close()
    sessions = f"{result.sessions:,} session{'s' if result.sessions != 1 else ''}"
    out.print(
        Text.assemble(
            "sent ",
            (sessions, "bold"),
            f" ({result.responses:,} responses) to {endpoint}: {result.spans_sent:,} spans",
        )
    )
    if result.spans_dropped:
        raise click.ClickException(
            f"the collector at {endpoint} did not take {result.spans_dropped:,} spans "
            "(unreachable, refused or too slow)"
        )
