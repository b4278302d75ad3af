"""Writes the report file: the `rt stats` part first, then one session at a time.

Each session's section (its file read once more, its audio, waveforms and charts) is made in
worker processes when there is much to read, a few sessions ahead of the one being written,
so the report of a large directory is bounded by a few sessions, not by their number. The
page embeds audio up to a budget for the whole page (`audio_budget_bytes`, as the page holds
it: base64): sessions in page order get a player while their audio fits, and the sessions
after the first that does not fit get their waveforms and the `rt export wav` command that
writes their audio. The page is written to a temporary file beside the target and renamed
over it, so a reader never sees half a page; like session files and WAVs it is readable by
its owner only (it holds the users' voices).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shlex
import tempfile
from collections import defaultdict, deque
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from recorder.analytics import StatsReport
from recorder.analytics.loading import worker_context, worker_count
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
DEFAULT_AUDIO_BUDGET_MB = 50.0  # of embedded audio in the whole page: a page a browser opens
WAVEFORM_COLUMNS = round(PLOT_RIGHT - PLOT_LEFT)  # one per unit of the chart's width

ProgressCallback = Callable[[int, int], None]  # (sessions written, sessions)


@dataclass(frozen=True)
class ReportOptions:
    title: str = "rt report"
    audio: bool = True  # embed each session's mix
    audio_max_seconds: float = DEFAULT_AUDIO_MINUTES * 60  # per session, from its start
    audio_budget_bytes: int = int(DEFAULT_AUDIO_BUDGET_MB * 2**20)  # the page's, as base64
    thresholds: Mapping[str, Thresholds] = field(default_factory=dict)  # metric -> (good, slow)
    generated_at: str | None = None  # shown on the page; now (UTC) when None
    # readable names for sessions: a key is a file as listed, its name or its stem (see
    # session_labels); these win over a `name` in the session line, which wins over the stem
    names: Mapping[str, str] = field(default_factory=dict)
    # processes that make the sessions' sections; None: one per core when there is much to
    # read, else this process alone (the page is the same either way)
    workers: int | None = None


@dataclass(frozen=True)
class WrittenReport:
    path: Path
    size: int  # bytes of the whole page
    sessions: int
    audio_bytes: int  # of the embedded WAVs, before base64
    audio_sessions: int  # sessions with a player
    cut_sessions: int  # sessions whose audio is longer than the cap
    over_budget_sessions: int = 0  # sessions with audio left out: the page's budget was spent


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
    jobs = [
        _Job(
            str(row["file"]),
            row,
            responses.get(str(row["file"]), []),
            errors.get(str(row["file"]), []),
        )
        for row in stats.sessions
    ]
    budget = _Budget(options.audio_budget_bytes if options.audio else 0)
    with _replacing(path) as out:
        out.write(document_start(stats, context))
        with contextlib.closing(_sections(jobs, context, options, budget)) as sections:
            for done, (section, warnings) in enumerate(sections, start=1):
                for warning in warnings:
                    if on_warning is not None:
                        on_warning(warning)
                out.write(section)
                if on_progress is not None:
                    on_progress(done, len(jobs))
        out.write(document_end(context))
    return WrittenReport(
        path,
        path.stat().st_size,
        len(files),
        budget.wav_bytes,
        budget.sessions,
        budget.cut,
        budget.over,
    )


@dataclass(frozen=True)
class _Job:
    file: str
    row: Row
    responses: Sequence[Row]
    errors: Sequence[Row]


@dataclass(frozen=True)
class _Made:
    """A session's section, made in a worker: with its audio if it was asked for (and then
    also without it, in case the page's budget is spent by the time it is written)."""

    plain: str  # without a player
    with_audio: str | None
    audio: EmbeddedAudio | None
    warnings: Sequence[FileWarning]
    left_out: bool = False  # made without a player though it has audio: the budget was spent


@dataclass
class _Budget:
    """The page's audio, spent in page order; once a session does not fit, no later one gets
    a player either (so a reader sees audio for the first sessions, then none)."""

    limit: int  # bytes of base64 in the page
    used: int = 0
    wav_bytes: int = 0
    sessions: int = 0
    cut: int = 0
    over: int = 0
    spent: bool = False

    def take(self, audio: EmbeddedAudio) -> bool:
        size = _base64_size(len(audio.wav))
        if self.spent or self.used + size > self.limit:
            self.spent = True
            return False
        self.used += size
        self.wav_bytes += len(audio.wav)
        self.sessions += 1
        self.cut += audio.cut
        return True


# Set in each worker process by `_start_worker` (the page context is the same for every job).
_WORKER: tuple[PageContext, ReportOptions] | None = None
_AHEAD_PER_WORKER = 2  # sessions made ahead of the one being written, per worker


def _sections(
    jobs: Sequence[_Job], context: PageContext, options: ReportOptions, budget: _Budget
) -> Generator[tuple[str, Sequence[FileWarning]], None, None]:
    """Each session's section HTML and its warnings, in page order."""
    sizes = [_size(job.file) for job in jobs]
    count = worker_count(len(jobs), sum(sizes), options.workers)
    if count < 2:
        for job in jobs:
            yield _chosen(_make(job, context, options, not budget.spent), budget)
        return
    pool = ProcessPoolExecutor(
        count, mp_context=worker_context(), initializer=_start_worker, initargs=(context, options)
    )
    try:
        pending: deque[Future[_Made]] = deque()
        waiting = iter(jobs)
        for job in waiting:
            pending.append(pool.submit(_make_in_worker, job, not budget.spent))
            if len(pending) >= count * _AHEAD_PER_WORKER:
                break
        while pending:
            made = pending.popleft().result()
            next_job = next(waiting, None)
            yield _chosen(made, budget)
            if next_job is not None:
                pending.append(pool.submit(_make_in_worker, next_job, not budget.spent))
    finally:
        pool.shutdown(cancel_futures=True)


def _chosen(made: _Made, budget: _Budget) -> tuple[str, Sequence[FileWarning]]:
    if made.audio is not None and made.with_audio is not None and budget.take(made.audio):
        return made.with_audio, made.warnings
    budget.over += made.left_out
    return made.plain, made.warnings


def _start_worker(context: PageContext, options: ReportOptions) -> None:
    global _WORKER
    _WORKER = (context, options)


def _make_in_worker(job: _Job, audio: bool) -> _Made:
    assert _WORKER is not None, "a report worker started without its page context"
    return _make(job, *_WORKER, audio)


def _make(job: _Job, context: PageContext, options: ReportOptions, audio: bool) -> _Made:
    """Read the session and make its section: with its audio too when `audio` (and the
    options embed audio); without it, as when the page's budget is spent."""
    warnings: list[FileWarning] = []
    page = _session_page(job, options, audio, warnings.append)
    if page.audio is None:
        left_out = _embeds(options) and not audio and page.audio_note.startswith(OVER_BUDGET)
        return _Made(session_section(page, context), None, None, warnings, left_out)
    note = over_budget_note(job.file, page.audio.full_seconds)
    plain = replace(page, audio=None, audio_note=note)
    return _Made(
        session_section(plain, context), session_section(page, context), page.audio, warnings, True
    )


OVER_BUDGET = "Audio left out: the page's audio budget (--audio-budget-mb) is spent"


def over_budget_note(file: str, seconds: float) -> str:
    """What a session whose audio did not fit in the page's budget says instead."""
    return (
        f"{OVER_BUDGET} ({_clock(seconds)} of audio). "
        f"rt export wav {shlex.quote(file)} writes it as WAV files."
    )


def _base64_size(count: int) -> int:
    return (count + 2) // 3 * 4


def _size(file: str) -> int:
    try:
        return os.stat(file).st_size
    except OSError:
        return 0


def recorded_names(files: Sequence[str]) -> dict[str, str]:
    """The `name` each session line gives its session, for the files that have one."""
    names = {file: read_session_name(file) for file in files}
    return {file: name for file, name in names.items() if name}


def _session_page(
    job: _Job,
    options: ReportOptions,
    with_audio: bool,
    on_warning: Callable[[FileWarning], None],
) -> SessionPage:
    notes: list[str] = []

    def warn(warning: FileWarning) -> None:
        notes.append(
            warning.reason if warning.line is None else f"line {warning.line}: {warning.reason}"
        )
        on_warning(warning)

    details = read_session_details(job.file, warn)
    mix = details.mix
    seconds = _timeline_seconds(job.row, job.responses, job.errors, details.conversation, mix)
    audio: EmbeddedAudio | None = None
    user_wave = assistant_wave = None
    if mix is not None and mix.frames:
        if with_audio and _embeds(options):
            audio = embed_mix(mix, options.audio_max_seconds)
        user, assistant = mix.samples[:, 0], mix.samples[:, 1]
        if user.any():
            user_wave = waveform(user, mix.rate, seconds, WAVEFORM_COLUMNS)
        if assistant.any():
            assistant_wave = waveform(assistant, mix.rate, seconds, WAVEFORM_COLUMNS)
    return SessionPage(
        file=job.file,
        row=job.row,
        responses=job.responses,
        errors=job.errors,
        conversation=details.conversation,
        audio=audio,
        user_wave=user_wave,
        assistant_wave=assistant_wave,
        seconds=seconds,
        audio_note=(
            over_budget_note(job.file, mix.duration_s)
            if mix is not None and mix.frames and _embeds(options) and not with_audio
            else _audio_note(options, mix, audio, job.row)
        ),
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


def _embeds(options: ReportOptions) -> bool:
    return options.audio and options.audio_max_seconds > 0


def _audio_policy(options: ReportOptions) -> str:
    if not _embeds(options):
        return "Audio is not included in this report; each timeline still shows its waveform."
    return (
        f"Each session's audio is embedded as a {EMBED_RATE // 1000} kHz mono mix of user and "
        f"assistant (G.711 at 8 kHz), at most its first {_clock(options.audio_max_seconds)}, "
        f"while the page's audio stays under {format_size(options.audio_budget_bytes)}; later "
        "sessions show their waveforms and the command that writes their WAV files."
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
