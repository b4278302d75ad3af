"""Session audio to WAV files: read the session file, build the tracks, write them with soundfile.

The file I/O around `recorder.audio`. Each WAV is written to a temporary file beside its
target and renamed over it, so a reader never sees half a file and an interrupted export
leaves the previous one intact. Like session files, WAVs are readable by their owner only:
they hold the users' voices.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from recorder.audio import (
    MixTooLong,
    SessionAudio,
    Track,
    WarningHandler,
    assistant_track,
    collect_audio,
    mix_track,
    response_tracks,
    user_track,
    warn_with_python,
)
from recorder.errors import InputError
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


def write_wav(path: Path, track: Track) -> None:
    """Write `track` as 16-bit PCM WAV at its rate, replacing `path` whole."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        sf.write(temporary, track.samples, track.rate, subtype="PCM_16", format="WAV")
        os.replace(temporary, path)
    except (OSError, sf.SoundFileError) as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise InputError(f"cannot write {path}: {_reason(exc)}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def read_session_audio(
    session: str | os.PathLike[str], on_warning: WarningHandler | None = None
) -> SessionAudio:
    """The audio of a session file; corrupt lines are skipped with a warning naming the line."""
    name = os.fspath(session)
    warn = on_warning or warn_with_python
    try:
        return collect_audio(iter_records(session, warn), name, warn)
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
    if not audio.user and not audio.responses:
        if audio.transport == "sideband":
            raise InputError(
                f"no audio in {name}: it is a sideband connection, which carries the control "
                "events of a WebRTC or SIP call (the call's audio travels outside it)"
            )
        raise InputError(f"no audio in {name}")
    stem = Path(session).stem
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


def _build(kind: str, audio: SessionAudio, split: bool, heard: bool) -> Iterator[Track]:
    """The tracks of one kind that have samples, built only when the previous one is written."""
    if kind == "assistant" and split:
        yield from (track for track in response_tracks(audio, heard) if track.frames)
        return
    if kind == "assistant":
        track = assistant_track(audio, heard)
    else:
        track = user_track(audio) if kind == "user" else mix_track(audio)
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
