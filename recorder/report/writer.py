"""Writes the report file: the `rt stats` part first, then one session at a time.

Only one session's audio is in memory at once, so the report of a large directory is
bounded by its longest session, not by the number of sessions. The page is written to a
temporary file beside the target and renamed over it, so a reader never sees half a page;
like session files and WAVs it is readable by its owner only (it holds the users' voices).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from recorder.analytics import StatsReport
from recorder.audio import Track, WarningHandler
from recorder.errors import InputError
from recorder.report.audio_embed import EMBED_RATE, EmbeddedAudio, embed_mix, waveform
from recorder.report.charts import PLOT_LEFT, PLOT_RIGHT, Thresholds
from recorder.report.conversation import Conversation
from recorder.report.markup import PageContext, Row
from recorder.report.overview import document_end, document_start
from recorder.report.session_details import read_session_details, read_session_name
from recorder.report.session_page import SessionPage, session_section
from recorder.session_labels import session_labels
from recorder.store import ensure_directory
from recorder.warning_log import FileWarning

DEFAULT_AUDIO_MINUTES = 5.0
WAVEFORM_COLUMNS = round(PLOT_RIGHT - PLOT_LEFT)  # one per unit of the chart's width

ProgressCallback = Callable[[int, int], None]  # (sessions written, sessions)


@dataclass(frozen=True)
class ReportOptions:
    title: str = "rt report"
    audio: bool = True  # embed each session's mix
    audio_max_seconds: float = DEFAULT_AUDIO_MINUTES * 60  # per session, from its start
    thresholds: Mapping[str, Thresholds] = field(default_factory=dict)  # metric -> (good, slow)
    generated_at: str | None = None  # shown on the page; now (UTC) when None
    # readable names for sessions: a key is a file as listed, its name or its stem (see
    # session_labels); these win over a `name` in the session line, which wins over the stem
    names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WrittenReport:
    path: Path
    size: int  # bytes of the whole page
    sessions: int
    audio_bytes: int  # of the embedded WAVs, before base64
    audio_sessions: int  # sessions with a player
    cut_sessions: int  # sessions whose audio is longer than the cap


def write_report(
    stats: StatsReport,
    output: str | os.PathLike[str],
    options: ReportOptions | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    on_warning: WarningHandler | None = None,
) -> WrittenReport:
    """Write the report of `stats` (from `collect_stats`) to `output`, replacing it whole.

    Each session file is read once more for its conversation and audio; odd audio is
    reported through `on_warning` and noted in its section. Raises InputError when a session
    file cannot be read or `output` cannot be written.
    """
    options = options or ReportOptions()
    path = Path(output)
    files = [str(row["file"]) for row in stats.sessions]
    context = PageContext(
        title=options.title,
        generated_at=options.generated_at
        or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        names=session_labels(files, {**recorded_names(files), **options.names}),
        anchors={file: f"session-{index}" for index, file in enumerate(files, start=1)},
        files={str(row["session"]): str(row["file"]) for row in stats.sessions},
        thresholds=options.thresholds,
        audio_note=_audio_policy(options),
    )
    responses = _by_file(stats.responses)
    errors = _by_file(stats.errors)
    audio_bytes = audio_sessions = cut_sessions = 0
    with _replacing(path) as out:
        out.write(document_start(stats, context))
        for done, row in enumerate(stats.sessions, start=1):
            file = str(row["file"])
            section = _session_page(
                file, row, responses.get(file, []), errors.get(file, []), options, on_warning
            )
            out.write(session_section(section, context))
            if section.audio is not None:
                audio_bytes += len(section.audio.wav)
                audio_sessions += 1
                cut_sessions += section.audio.cut
            if on_progress is not None:
                on_progress(done, len(stats.sessions))
        out.write(document_end(context))
    return WrittenReport(
        path, path.stat().st_size, len(files), audio_bytes, audio_sessions, cut_sessions
    )


def recorded_names(files: Sequence[str]) -> dict[str, str]:
    """The `name` each session line gives its session, for the files that have one."""
    names = {file: read_session_name(file) for file in files}
    return {file: name for file, name in names.items() if name}


def _session_page(
    file: str,
    row: Row,
    responses: Sequence[Row],
    errors: Sequence[Row],
    options: ReportOptions,
    on_warning: WarningHandler | None,
) -> SessionPage:
    notes: list[str] = []

    def warn(warning: FileWarning) -> None:
        notes.append(
            warning.reason if warning.line is None else f"line {warning.line}: {warning.reason}"
        )
        if on_warning is not None:
            on_warning(warning)

    details = read_session_details(file, warn)
    mix = details.mix
    seconds = _timeline_seconds(row, responses, errors, details.conversation, mix)
    audio: EmbeddedAudio | None = None
    user_wave = assistant_wave = None
    if mix is not None and mix.frames:
        if options.audio and options.audio_max_seconds > 0:
            audio = embed_mix(mix, options.audio_max_seconds)
        user, assistant = mix.samples[:, 0], mix.samples[:, 1]
        if user.any():
            user_wave = waveform(user, mix.rate, seconds, WAVEFORM_COLUMNS)
        if assistant.any():
            assistant_wave = waveform(assistant, mix.rate, seconds, WAVEFORM_COLUMNS)
    return SessionPage(
        file=file,
        row=row,
        responses=responses,
        errors=errors,
        conversation=details.conversation,
        audio=audio,
        user_wave=user_wave,
        assistant_wave=assistant_wave,
        seconds=seconds,
        audio_note=_audio_note(options, mix, audio, row),
        warnings=notes,
        timing=details.timing,
    )


def _timeline_seconds(
    row: Row,
    responses: Sequence[Row],
    errors: Sequence[Row],
    conversation: Conversation,
    mix: Track | None,
) -> float:
    """Long enough for the session, its audio, its responses' audio and its errors."""
    ends = [_number(row.get("duration_s")), mix.duration_s if mix is not None else None]
    ends += [t.done_t for t in conversation.responses.values()]
    ends += [_number(error.get("t")) for error in errors]
    for response in responses:
        start = _number(response.get("trigger_t"))
        ttfb = _number(response.get("ttfb_ms"))
        if start is not None and ttfb is not None:
            ends.append(start + (ttfb + (_number(response.get("audio_out_ms")) or 0)) / 1000)
    return max([1.0] + [end for end in ends if end is not None])


def _audio_policy(options: ReportOptions) -> str:
    if not options.audio or options.audio_max_seconds <= 0:
        return "Audio is not included in this report; each timeline still shows its waveform."
    return (
        f"Each session's audio is embedded as a {EMBED_RATE // 1000} kHz mono mix of user and "
        f"assistant (G.711 at 8 kHz), at most its first {_clock(options.audio_max_seconds)}."
    )


def _audio_note(
    options: ReportOptions, mix: Track | None, audio: EmbeddedAudio | None, row: Row
) -> str:
    if (mix is None or not mix.frames) and row.get("transport") == "sideband":
        return (
            "No audio on this connection: a sideband carries the control events of a WebRTC "
            "or SIP call, whose audio travels outside it (first audio is taken from "
            "output_audio_buffer.started)."
        )
    if mix is None or not mix.frames:
        return "No audio in this session."
    if audio is None:
        return f"{_clock(mix.duration_s)} of audio, not included in this report."
    length = _clock(audio.seconds)
    if audio.cut:
        length = f"first {length} of {_clock(audio.full_seconds)}"
    return (
        f"{audio.rate / 1000:g} kHz mono mix of user and assistant · {length} · "
        f"{format_size(len(audio.wav) * 4 / 3)}"
    )


def _by_file(rows: Sequence[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[str(row.get("file"))].append(row)
    return grouped


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[TextIO]:
    try:
        directory = ensure_directory(path.parent) if str(path.parent) else Path(".")
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as out:
            yield out
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)  # whole seconds, as an audio player counts
    return f"{minutes}:{secs:02d}"


def format_size(count: float) -> str:
    """`812 bytes`, `410.2 KB`, `12.8 MB` (powers of 1024)."""
    if count < 1024:
        return f"{count:.0f} bytes"
    for unit in ("KB", "MB"):
        count /= 1024
        if count < 1024:
            return f"{count:.1f} {unit}"
    return f"{count / 1024:.1f} GB"
