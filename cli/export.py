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
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from recorder.audio import AudioWarning
from recorder.wav import TRACKS, WrittenWav, export_wav

from .output import printable, warning_text

_ProgressCallback = Callable[[str, int, int], None]


@click.group()
def export() -> None:
    """Export recorded sessions in another format.

    \b
    Example:
      rt export wav sessions/call.jsonl --out audio/
      rt export parquet sessions/ --out s3://bucket/rt-parquet/
    """


@export.command()
@click.argument(
    "session", metavar="SESSION.jsonl", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default="the current directory",
    help="Directory for the WAV files (created if missing).",
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
def wav(session: Path, out_dir: Path, track: str, split: bool, heard: bool) -> None:
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
      audio/call.user.wav       0:41.280  24000 Hz  mono
      audio/call.assistant.wav  0:23.520  24000 Hz  mono
      audio/call.mix.wav        1:02.913  24000 Hz  stereo (user left, assistant right)
    """
    out = Console(highlight=False, soft_wrap=True)
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
            out_dir,
            tracks=TRACKS if track == "all" else (track,),
            split=split,
            heard=heard,
            on_warning=warn,
            on_written=lines.append,
        )
    width = max(len(printable(written.path)) for written in lines)
    for written in lines:
        out.print(_written_line(written, width))
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
@click.option(
    "--out",
    "destination",
    required=True,
    metavar="DIR|URL",
    help="The dataset: a local directory or an object store URL (s3://bucket/prefix/). "
    "A new or empty one is created; an existing rt dataset is added to.",
)
@click.option(
    "--with-audio",
    is_flag=True,
    help="Keep the base64 audio in the events (by default only its decoded size is kept, "
    "in audio_bytes).",
)
@click.option(
    "--pricing",
    type=click.Path(exists=True, dir_okay=False),
    help="Price file for cost_usd, as for rt stats.",
)
def parquet(
    paths: tuple[str, ...], destination: str, with_audio: bool, pricing: str | None
) -> None:
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
      exported 412 sessions to warehouse/rt/ (run 20261126T031500Z-3f9a1c)
      events       1,204,311 rows   38 files   61.2 MB
      sessions           412 rows   38 files    1.1 MB
      responses        5,120 rows   38 files    2.0 MB
      rate_limits      5,120 rows   38 files    0.4 MB
      errors              17 rows    9 files    0.1 MB
      $ duckdb -c "SELECT model, count(*) FROM 'warehouse/rt/responses/**/*.parquet' GROUP BY ALL"
    """
    from recorder.parquet import export_parquet
    from recorder.pricing import builtin_prices, load_price_file

    prices = builtin_prices()
    if pricing is not None:
        prices = prices.merged(load_price_file(pricing))
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    with _export_progress(err) as on_progress:
        result = export_parquet(
            paths, destination, with_audio=with_audio, prices=prices, on_progress=on_progress
        )
    for warning in result.warnings:
        err.print(warning_text(warning))
    if result.already_exported:
        count = len(result.already_exported)
        err.print(
            Text.assemble(
                ("note: ", "cyan"),
                f"{count} session file{'s' if count != 1 else ''} already in the dataset, skipped",
            )
        )
    if not result.sessions:
        out.print(Text(f"nothing to export: {printable(destination)} already holds every session"))
        return
    sessions = f"{result.sessions} session{'s' if result.sessions != 1 else ''}"
    out.print(
        Text.assemble(
            "exported ", (sessions, "bold"), f" to {printable(destination)} (run {result.run_id})"
        )
    )
    width = max(len(table.name) for table in result.tables)
    for table in result.tables:
        files = "file " if table.files == 1 else "files"
        out.print(
            f"{table.name.ljust(width)}  {table.rows:>12,} rows  {table.files:>4} {files}  "
            f"{table.bytes / 1e6:>8.1f} MB"
        )


@contextlib.contextmanager
def _export_progress(console: Console) -> Iterator[_ProgressCallback | None]:
    """A progress bar per phase on stderr, when stderr is a terminal."""
    if not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def advance(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=done, total=total)

        yield advance
