"""Session audio to WAV files: read the session file, build the tracks, write them.

The file I/O around `recorder.audio`. The session is read once (its audio decoded into a spool:
past a few minutes, an unnamed file in the system's temporary directory, `TMPDIR`); each track
is then written a block at a time, so memory holds a block, not the call. A WAV is a 44-byte
header (the one libsndfile writes for 16-bit PCM) and the samples, written with plain writes.
Each WAV is written to a temporary file beside its target and renamed over it, so a reader
never sees half a file and an interrupted export leaves the previous one intact. Like session
files, WAVs are readable by their owner only: they hold the users' voices.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recorder.audio import (
    MixTooLong,
    SessionAudio,
    Track,
    TrackPlan,
    WarningHandler,
    assistant_plan,
    collect_audio_from,
    mix_plan,
    response_plans,
    user_plan,
    warn_with_python,
)
from recorder.errors import InputError
from recorder.interpretation.samples import Samples
from recorder.reading import iter_records
from recorder.store import ensure_directory

TRACKS = ("user", "assistant", "mix")


@dataclass(frozen=True)
class WrittenWav:
    """One WAV file written: where, and what it holds (the samples are not kept)."""

    path: Path
    name: str
    rate: int
    channels: int
    frames: int
    interpolated_from: tuple[int, ...]

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate


@dataclass(frozen=True)
class WavExport:
    written: tuple[WrittenWav, ...]
    missing: tuple[str, ...]  # one line per track asked for that the session has no audio for


def write_wav(path: Path, track: Track | TrackPlan) -> None:
    """Write `track` as 16-bit PCM WAV at its rate, replacing `path` whole (a plan is rendered
    and written a block at a time)."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    blocks = track.blocks() if isinstance(track, TrackPlan) else [track.samples]
    try:
        try:
            _write_pcm16(fd, track.rate, track.channels, blocks)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except (OSError, WavTooLong) as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise InputError(f"cannot write {path}: {_reason(exc)}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class WavTooLong(ValueError):
    """More audio than a WAV file's 32-bit sizes can say."""


_WAV_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
_MAX_WAV_DATA = 0xFFFFFFFF - (_WAV_HEADER.size - 8)


def wav_header(rate: int, channels: int, data_bytes: int) -> bytes:
    """The 44-byte header of a 16-bit PCM WAV file (RIFF, `fmt ` of 16 bytes, `data`): the
    header libsndfile writes for such a file, byte for byte."""
    if data_bytes > _MAX_WAV_DATA:
        raise WavTooLong(f"{data_bytes:,} bytes of samples are more than a WAV file holds")
    block_align = channels * 2
    return _WAV_HEADER.pack(
        b"RIFF",
        _WAV_HEADER.size - 8 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,  # WAVE_FORMAT_PCM
        channels,
        rate,
        rate * block_align,
        block_align,
        16,
        b"data",
        data_bytes,
    )


def _write_pcm16(fd: int, rate: int, channels: int, blocks: Iterable[Samples]) -> None:
    """Header and samples with plain writes: no library buffer in between, and no fsync (as
    rt's other files; the rename keeps readers from a half-written file). The header's sizes
    are written last, once the samples are all there."""
    os.write(fd, wav_header(rate, channels, 0))
    written = 0
    for block in blocks:
        data = np.ascontiguousarray(block, dtype="<i2")
        if written + data.nbytes > _MAX_WAV_DATA:
            raise WavTooLong(f"more samples than a WAV file holds ({rate} Hz, {channels} ch)")
        with data.data.cast("B") as view:
            done = 0
            while done < len(view):
                done += os.write(fd, view[done:])
        written += data.nbytes
    os.pwrite(fd, wav_header(rate, channels, written), 0)


def read_session_audio(
    session: str | os.PathLike[str],
    on_warning: WarningHandler | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
) -> SessionAudio:
    """The audio of a session file; corrupt lines are skipped with a warning naming the line.
    Long audio waits in `spool_dir` (an unnamed file); `close()` the result when done."""
    name = os.fspath(session)
    warn = on_warning or warn_with_python
    try:
        return collect_audio_from(lambda w: iter_records(session, w), name, warn, spool_dir)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {_reason(exc)}") from None


def export_wav(
    session: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    tracks: Collection[str] = TRACKS,
    split: bool = False,
    heard: bool = False,
    on_warning: WarningHandler | None = None,
    on_written: Callable[[WrittenWav], None] | None = None,
) -> WavExport:
    """Write `<stem>.user.wav`, `<stem>.assistant.wav` (or one per response with `split`) and
    `<stem>.mix.wav` into `out_dir` (created if missing), as far as `tracks` asks for them.
    The assistant holds all output audio, or with `heard` only what the user heard.

    Raises InputError "no audio in FILE" when none of the asked-for tracks has any audio.
    """
    name = os.fspath(session)
    audio = read_session_audio(session, on_warning)
    try:
        return _export(audio, name, Path(session).stem, out_dir, tracks, split, heard, on_written)
    finally:
        audio.close()


def _export(
    audio: SessionAudio,
    name: str,
    stem: str,
    out_dir: str | os.PathLike[str],
    tracks: Collection[str],
    split: bool,
    heard: bool,
    on_written: Callable[[WrittenWav], None] | None,
) -> WavExport:
    if not audio.user and not audio.responses:
        if audio.transport == "sideband":
            raise InputError(
                f"no audio in {name}: it is a sideband connection, which carries the control "
                "events of a WebRTC or SIP call (the call's audio travels outside it)"
            )
        raise InputError(f"no audio in {name}")
    written: list[WrittenWav] = []
    missing: list[str] = []
    for kind in (kind for kind in TRACKS if kind in tracks):
        found = False
        try:
            for track in _build(kind, audio, split, heard):
                found = True
                path = _directory(out_dir) / f"{stem}.{_safe(track.name)}.wav"
                write_wav(path, track)
                done = WrittenWav(
                    path,
                    track.name,
                    track.rate,
                    track.channels,
                    track.frames,
                    track.interpolated_from,
                )
                written.append(done)
                if on_written is not None:
                    on_written(done)
        except MixTooLong as exc:  # the other tracks are still worth having
            missing.append(f"{name}: {exc}")
            continue
        if not found:
            missing.append(f"no {kind} audio in {name}")
    if not written:
        raise InputError(f"no {' or '.join(k for k in TRACKS if k in tracks)} audio in {name}")
    return WavExport(tuple(written), tuple(missing))


def _build(kind: str, audio: SessionAudio, split: bool, heard: bool) -> Iterator[TrackPlan]:
    """The tracks of one kind that have samples, planned only when the previous one is written."""
    if kind == "assistant" and split:
        yield from (track for track in response_plans(audio, heard) if track.frames)
        return
    if kind == "assistant":
        track = assistant_plan(audio, heard)
    else:
        track = user_plan(audio) if kind == "user" else mix_plan(audio)
    if track is not None and track.frames:
        yield track


def _directory(out_dir: str | os.PathLike[str]) -> Path:
    try:
        return ensure_directory(out_dir)
    except OSError as exc:
        raise InputError(f"cannot create {os.fspath(out_dir)}: {_reason(exc)}") from None


def _safe(name: str) -> str:
    """A track name as part of a file name (response ids come from the wire)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".") or "track"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).strip() or type(exc).__name__
