"""`rt export`: write a recorded session in another format (`wav` for now)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

from recorder.audio import AudioWarning
from recorder.wav import TRACKS, WrittenWav, export_wav


@click.group()
def export() -> None:
    """Export a recorded session in another format.

    \b
    Example:
      rt export wav sessions/call.jsonl --out audio/
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
        err.print(Text.assemble(("warning: ", "yellow"), str(warning)))

    status = err.status(f"exporting {session}") if err.is_terminal else contextlib.nullcontext()
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
    width = max(len(str(written.path)) for written in lines)
    for written in lines:
        out.print(_written_line(written, width))
    for missing in result.missing:
        err.print(Text.assemble(("note: ", "cyan"), missing))


def _written_line(written: WrittenWav, width: int) -> Text:
    layout = "stereo (user left, assistant right)" if written.channels == 2 else "mono"
    line = Text.assemble(
        (str(written.path).ljust(width), "bold"),
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
