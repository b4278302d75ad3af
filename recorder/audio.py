"""A session's audio as 16-bit tracks and a stereo call timeline (pure: records in, arrays out).

    collect_audio(records) -> SessionAudio    the client's appends and the server's deltas, still
                                              encoded, with their formats, times and cut points
    user_track, assistant_track, response_tracks, mix_track(SessionAudio) -> Track

Formats: the server is the authority. `session.created`/`session.updated` set the input and
output formats; a response may carry its own output format (echoed on `response.created`, or
only asked for on `response.create` by servers that did not echo it). A client `session.update`
is a request, but the server applies it before any append sent after it, so appends sent
between the request and its `session.updated` take the format the server confirmed; if it
never confirms (rejected, file cut off), they keep the format that was in force.

One WAV holds one rate: a track whose audio changes rate is written at the highest rate it
uses, and the mix at the higher of its two channels' rates. Lower-rate audio is interpolated
linearly (G.711 at 8 kHz into a 24 kHz track keeps every original sample as every third one).

The assistant track holds all output audio the server sent (CONTRACT §2), or with `heard=True`
what the user heard; the mix always holds what was heard: each item ends at the `audio_end_ms`
of its truncation (the server's `conversation.item.truncated`, else the client's
`conversation.item.truncate`).
"""

from __future__ import annotations

import binascii
import sys
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby, pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from recorder.errors import InputError
from recorder.vocabulary import (
    AUDIO_APPEND,
    AUDIO_DELTA,
    ERROR,
    ITEM_TRUNCATE,
    ITEM_TRUNCATED,
    PCM16,
    RESPONSE_CREATE,
    RESPONSE_CREATED,
    RESPONSE_DONE,
    SESSION_CREATED,
    SESSION_UPDATED,
    AudioFormat,
    canonical,
    response_audio_format,
    session_audio_formats,
)

Samples = npt.NDArray[np.int16]
Offsets = npt.NDArray[np.int64]

SESSION_UPDATE = "session.update"
# Output samples interpolated per step; bounds the float temporaries for an hour of G.711.
_INTERPOLATION_BLOCK = 1 << 20
# A mix longer than this comes from a corrupt `t`, not a call: it is skipped, not allocated.
MAX_MIX_SECONDS = 4 * 3600


@dataclass(frozen=True)
class AudioWarning:
    """Something odd in a session's audio that was skipped or worked around; export goes on."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


WarningHandler = Callable[[AudioWarning], None]


@dataclass(frozen=True)
class Chunk:
    """One append or delta: its encoded bytes, their format, and when the proxy received it."""

    t: float
    line: int
    format: AudioFormat
    data: bytes


@dataclass(frozen=True)
class ItemAudio:
    """The audio of one output item, in arrival order, and how much of it the user heard."""

    item_id: str
    chunks: tuple[Chunk, ...]
    heard_ms: float | None  # `audio_end_ms` of its truncation; None = played to the end


@dataclass(frozen=True)
class ResponseAudio:
    """One response's audio items, in the order their first delta arrived."""

    response_id: str
    items: tuple[ItemAudio, ...]

    @property
    def first_delta_t(self) -> float:
        return self.items[0].chunks[0].t


@dataclass(frozen=True)
class SessionAudio:
    """Every piece of audio in one session, still encoded."""

    path: str
    user: tuple[Chunk, ...]
    responses: tuple[ResponseAudio, ...]

    @property
    def assistant(self) -> list[Chunk]:
        """Output chunks in track order: response by response, item by item."""
        return [c for r in self.responses for item in r.items for c in item.chunks]


@dataclass(frozen=True)
class Track:
    """Samples ready for a WAV file: `(frames,)` mono, or `(frames, 2)` user left, assistant right."""

    name: str
    rate: int
    samples: Samples
    interpolated_from: tuple[int, ...] = ()  # lower source rates interpolated up to `rate`

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def channels(self) -> int:
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate


def describe(fmt: AudioFormat) -> str:
    """`pcm16 at 24000 Hz`, `G.711 µ-law at 8000 Hz`."""
    names = {"pcm16": "pcm16", "ulaw": "G.711 µ-law", "alaw": "G.711 A-law"}
    return f"{names.get(fmt.encoding, fmt.encoding)} at {fmt.rate} Hz"


# -- decoding --------------------------------------------------------------------------------


def _ulaw_table() -> Samples:
    code = ~np.arange(256, dtype=np.int32) & 0xFF  # µ-law bytes go over the wire inverted
    exponent = (code >> 4) & 0x07
    magnitude = ((((code & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return np.where((code & 0x80) != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> Samples:
    code = np.arange(256, dtype=np.int32) ^ 0x55  # A-law inverts every other bit
    exponent = (code >> 4) & 0x07
    mantissa = ((code & 0x0F) << 4) + 8
    magnitude = np.where(exponent == 0, mantissa, (mantissa + 0x100) << np.maximum(exponent - 1, 0))
    return np.where((code & 0x80) != 0, magnitude, -magnitude).astype(np.int16)


# The ITU-T G.711 expansion, the same values libsndfile decodes to (a test holds them equal).
G711_TABLES: Mapping[str, Samples] = {"ulaw": _ulaw_table(), "alaw": _alaw_table()}


def decode_samples(data: bytes, fmt: AudioFormat) -> Samples:
    """Encoded audio as 16-bit samples at `fmt.rate` (pcm16 is a view, not a copy)."""
    table = G711_TABLES.get(fmt.encoding)
    if table is not None:
        return table[np.frombuffer(data, dtype=np.uint8)]
    pcm = np.frombuffer(data, dtype="<i2", count=len(data) // 2)
    return pcm.astype(np.int16, copy=False)


def decode_base64(text: str) -> bytes:
    """Strict where Python allows it (3.11+), so junk in a payload is reported, not skipped."""
    if sys.version_info >= (3, 11):
        return binascii.a2b_base64(text, strict_mode=True)
    return binascii.a2b_base64(text)


def _rescale(count: Any, from_rate: int, to_rate: int) -> Any:
    """A sample count (int or int array) at another rate, rounded half up."""
    return (count * to_rate + from_rate // 2) // from_rate


def interpolate(samples: Samples, from_rate: int, to_rate: int) -> Samples:
    """Linear interpolation to `to_rate`; samples that land on the new grid are kept exactly."""
    if from_rate == to_rate:
        return samples
    frames = int(_rescale(len(samples), from_rate, to_rate))
    out = np.empty(frames, dtype=np.int16)
    if len(samples) == 0:
        return out
    last = len(samples) - 1
    source = samples.astype(np.float64)
    for start in range(0, frames, _INTERPOLATION_BLOCK):
        # Exact integer positions: out[j] sits at j * from_rate / to_rate source samples.
        numerator = np.arange(start, min(start + _INTERPOLATION_BLOCK, frames), dtype=np.int64)
        numerator *= from_rate
        left = np.minimum(numerator // to_rate, last)
        fraction = (numerator - left * to_rate) / to_rate
        right = np.minimum(left + 1, last)
        value = source[left] + (source[right] - source[left]) * fraction
        out[start : start + len(value)] = np.rint(value)
    return out


def _decode_chunks(chunks: Sequence[Chunk], rate: int) -> tuple[Samples, Offsets]:
    """All chunks back to back at `rate`, and where each one ends (in samples).

    Runs of one format are joined and decoded in one go; interpolation runs over a whole run
    so that chunk boundaries leave no seams.
    """
    ends = np.empty(len(chunks), dtype=np.int64)
    pieces: list[Samples] = []
    done = 0
    offset = 0
    for fmt, run in groupby(chunks, key=lambda chunk: chunk.format):
        encoded = [chunk.data for chunk in run]
        samples = decode_samples(b"".join(encoded), fmt)
        counts = np.cumsum([len(data) for data in encoded], dtype=np.int64) // fmt.sample_width
        if fmt.rate != rate:
            samples = interpolate(samples, fmt.rate, rate)
            counts = _rescale(counts, fmt.rate, rate)
        ends[done : done + len(encoded)] = offset + counts
        done += len(encoded)
        offset += len(samples)
        pieces.append(samples)
    if len(pieces) == 1:
        return pieces[0], ends
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16), ends


def _rates(chunks: Iterable[Chunk]) -> set[int]:
    return {chunk.format.rate for chunk in chunks}


def _track(name: str, samples: Samples, rate: int, rates: set[int]) -> Track:
    return Track(name, rate, samples, tuple(sorted(r for r in rates if r != rate)))


# -- tracks ------------------------------------------------------------------------------------


def user_track(audio: SessionAudio) -> Track | None:
    """All input audio the client appended, back to back; None if there was none."""
    if not audio.user:
        return None
    rates = _rates(audio.user)
    samples, _ = _decode_chunks(audio.user, max(rates))
    return _track("user", samples, max(rates), rates)


def _item_samples(audio: SessionAudio, rate: int, heard: bool) -> list[list[Samples]]:
    """Per response, the samples of each of its items (with `heard`, up to where the user
    stopped hearing it)."""
    samples, ends = _decode_chunks(audio.assistant, rate)
    per_response: list[list[Samples]] = []
    done = 0
    start = 0
    for response in audio.responses:
        items: list[Samples] = []
        for item in response.items:
            done += len(item.chunks)
            end = int(ends[done - 1])
            stop = end
            if heard and item.heard_ms is not None:
                stop = min(end, start + max(0, round(item.heard_ms * rate / 1000)))
            items.append(samples[start:stop])
            start = end
        per_response.append(items)
    return per_response


def _join(pieces: Sequence[Samples]) -> Samples:
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)


def assistant_track(audio: SessionAudio, heard: bool = False) -> Track | None:
    """All output audio (with `heard`, what the user heard), response after response; None if
    there was none."""
    chunks = audio.assistant
    if not chunks:
        return None
    rates = _rates(chunks)
    pieces = _item_samples(audio, max(rates), heard)
    return _track("assistant", _join([i for items in pieces for i in items]), max(rates), rates)


def response_tracks(audio: SessionAudio, heard: bool = False) -> list[Track]:
    """One track per response with audio, named `assistant.<response id>`, in response order."""
    chunks = audio.assistant
    if not chunks:
        return []
    rates = _rates(chunks)
    rate = max(rates)
    return [
        _track(f"assistant.{response.response_id}", _join(items), rate, rates)
        for response, items in zip(audio.responses, _item_samples(audio, rate, heard), strict=True)
    ]


def _user_runs(audio: SessionAudio, rate: int) -> tuple[Samples, list[tuple[int, int, int]]]:
    """User samples and runs `(source start, source end, mix start)` of back-to-back appends.

    An append starts at its own time or where the previous one ended, whichever is later:
    a client that sends faster than real time (a file, a burst after a stall) is still heard
    at real-time rate. With c = samples before an append, its start p = c + running max of
    (wanted - c), which gives the whole layout without a loop over appends.
    """
    samples, ends = _decode_chunks(audio.user, rate)
    wanted = np.rint(np.array([chunk.t for chunk in audio.user]) * rate).astype(np.int64)
    before = np.concatenate((np.zeros(1, dtype=np.int64), ends[:-1]))
    shift = np.maximum.accumulate(wanted - before)
    firsts = np.concatenate(([0], np.flatnonzero(np.diff(shift)) + 1)).tolist()
    lasts = [*firsts[1:], len(ends)]
    runs = [
        (int(before[a]), int(ends[b - 1]), int(before[a] + shift[a]))
        for a, b in zip(firsts, lasts, strict=True)
    ]
    return samples, runs


def _assistant_runs(audio: SessionAudio, rate: int) -> list[tuple[Samples, int]]:
    """Heard item samples and where each starts in the mix.

    A response starts at its first audio delta or when the previous response's audio ends,
    whichever is later, and plays at real-time rate from there.
    """
    runs: list[tuple[Samples, int]] = []
    cursor = 0
    for response, items in zip(audio.responses, _item_samples(audio, rate, True), strict=True):
        cursor = max(cursor, round(response.first_delta_t * rate))
        for samples in items:
            runs.append((samples, cursor))
            cursor += len(samples)
    return runs


class MixTooLong(InputError):
    """The mix would last longer than `MAX_MIX_SECONDS`: some frame's `t` is far off."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(
            f"no mix: it would last {seconds / 3600:,.1f} h (more than "
            f"{MAX_MIX_SECONDS // 3600} h), so some frame's 't' is wrong"
        )


def mix_track(audio: SessionAudio) -> Track | None:
    """Both sides on the session's timeline (sample = t x rate): user left, assistant right."""
    chunks = audio.assistant
    rates = _rates(audio.user) | _rates(chunks)
    if not rates:
        return None
    rate = max(rates)
    user_samples, user_runs = _user_runs(audio, rate) if audio.user else (None, [])
    assistant_runs = _assistant_runs(audio, rate) if chunks else []
    frames = max(
        [at + stop - start for start, stop, at in user_runs]
        + [at + len(samples) for samples, at in assistant_runs]
    )
    if frames > MAX_MIX_SECONDS * rate:
        raise MixTooLong(frames / rate)
    mix = np.zeros((frames, 2), dtype=np.int16)
    if user_samples is not None:
        for start, stop, at in user_runs:
            mix[at : at + stop - start, 0] = user_samples[start:stop]
    for samples, at in assistant_runs:
        mix[at : at + len(samples), 1] = samples
    return _track("mix", mix, rate, rates)


# -- collecting --------------------------------------------------------------------------------


class _InputFormat:
    """The format of appends sent after some point; `format` is None until the server confirms."""

    __slots__ = ("format", "requested", "line")

    def __init__(self, format: AudioFormat | None, requested: AudioFormat, line: int) -> None:
        self.format = format
        self.requested = requested
        self.line = line


@dataclass
class _PendingUpdate:
    event_id: str | None
    input_format: _InputFormat | None  # None: the request did not touch the input format


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class _Collector:
    """Walks the frames of one session and keeps its audio with the format in force for each."""

    def __init__(self, path: str, warn: WarningHandler) -> None:
        self.path = path
        self._warn = warn
        self.input_formats = [_InputFormat(PCM16, PCM16, 0)]
        self.pending_updates: deque[_PendingUpdate] = deque()
        self.output_format = PCM16
        self.requested_response_format: AudioFormat | None = None
        self.response_formats: dict[str, AudioFormat] = {}
        self.current_response: str | None = None
        self.appends: list[tuple[float, int, _InputFormat, bytes]] = []
        self.deltas: dict[str, dict[str, list[Chunk]]] = {}
        self.server_cuts: dict[str, float] = {}
        self.client_cuts: dict[str, float] = {}
        self.cancelled: dict[str, tuple[int, str]] = {}

    def warn(self, line: int | None, message: str) -> None:
        self._warn(AudioWarning(self.path, line, message))

    def feed(self, line: int, record: Mapping[str, Any]) -> None:
        event = record.get("event")
        if record.get("kind") != "frame" or not isinstance(event, Mapping):
            return
        name = event.get("type")
        if not isinstance(name, str):
            return
        handlers = _CLIENT_HANDLERS if record.get("from") == "client" else _SERVER_HANDLERS
        handler = handlers.get(canonical(name))
        if handler is not None:
            handler(self, line, float(record.get("t", 0.0)), name, event)

    def payload(self, line: int, name: str, event: Mapping[str, Any], key: str) -> bytes | None:
        text = event.get(key)
        if not isinstance(text, str):
            self.warn(line, f"{name} has no base64 '{key}' string; skipped")
            return None
        try:
            return decode_base64(text)
        except ValueError as exc:  # binascii.Error, or non-ASCII text
            self.warn(line, f"{name} '{key}' is not valid base64 ({exc}); skipped")
            return None

    # -- client frames ---------------------------------------------------------------------

    def on_append(self, line: int, t: float, name: str, event: Mapping[str, Any]) -> None:
        data = self.payload(line, name, event, "audio")
        if data:
            self.appends.append((t, line, self.input_formats[-1], data))

    def on_session_update(self, line: int, t: float, name: str, event: Mapping[str, Any]) -> None:
        requested, _ = session_audio_formats(_mapping(event.get("session")))
        input_format = None
        if requested is not None:
            input_format = _InputFormat(None, requested, line)
            self.input_formats.append(input_format)
        event_id = event.get("event_id")
        self.pending_updates.append(
            _PendingUpdate(event_id if isinstance(event_id, str) else None, input_format)
        )

    def on_response_create(self, line: int, t: float, name: str, event: Mapping[str, Any]) -> None:
        self.requested_response_format = response_audio_format(_mapping(event.get("response")))

    def on_truncate(self, line: int, t: float, name: str, event: Mapping[str, Any]) -> None:
        self.cut(line, name, event, self.client_cuts)

    # -- server frames ---------------------------------------------------------------------

    def on_session(self, line: int, t: float, name: str, event: Mapping[str, Any]) -> None:
        confirmed, output = session_audio_formats(_mapping(event.get("session")))
        if output is not None:
            self.output_format = output
        if canonical(name) == SESSION_CREATED:
            # The state before any request, even one the client sent before this arrived.
            if confirmed is not None:
                self.input_formats[0].format = confirmed
            return
        answered = self.pending_updates.popleft() if self.pending_updates else None
        if answered is None:
            if confirmed is not None:  # the server's own word, not an answer to a request
                self.input_formats.append(_InputFormat(confirmed, confirmed, line))
        elif answered.input_format is not None and confirmed is not None:
            answered.input_format.format = confirmed

    def on_error(self, line: int, t: float, name: str, event: Mapping[str, Any]) -> None:
        event_id = _mapping(event.get("error")).get("event_id")
        if not isinstance(event_id, str):
            return
        for pending in self.pending_updates:
            if pending.event_id == event_id:  # a rejected session.update changes nothing
                self.pending_updates.remove(pending)
                return

    def on_response_created(self, line: int, t: float, name: str, event: Mapping[str, Any]) -> None:
        response = _mapping(event.get("response"))
        fmt = (
            response_audio_format(response) or self.requested_response_format or self.output_format
        )
        self.requested_response_format = None
        response_id = response.get("id")
        if isinstance(response_id, str):
            self.response_formats[response_id] = fmt
            self.current_response = response_id

    def on_delta(self, line: int, t: float, name: str, event: Mapping[str, Any]) -> None:
        data = self.payload(line, name, event, "delta")
        if not data:
            return
        response_id = event.get("response_id")
        if not isinstance(response_id, str):
            response_id = self.current_response or "unknown"
        fmt = self.response_formats.setdefault(response_id, self.output_format)
        if len(data) % fmt.sample_width:
            self.warn(
                line,
                f"{name} has an odd number of bytes ({len(data)}) for pcm16; dropped the last one",
            )
            data = data[:-1]
        item_id = event.get("item_id")
        items = self.deltas.setdefault(response_id, {})
        items.setdefault(item_id if isinstance(item_id, str) else "", []).append(
            Chunk(t, line, fmt, data)
        )

    def on_truncated(self, line: int, t: float, name: str, event: Mapping[str, Any]) -> None:
        self.cut(line, name, event, self.server_cuts)

    def on_response_done(self, line: int, t: float, name: str, event: Mapping[str, Any]) -> None:
        response = _mapping(event.get("response"))
        response_id = response.get("id")
        if response.get("status") == "cancelled" and isinstance(response_id, str):
            reason = _mapping(response.get("status_details")).get("reason")
            self.cancelled[response_id] = (line, str(reason or "cancelled"))

    def cut(self, line: int, name: str, event: Mapping[str, Any], cuts: dict[str, float]) -> None:
        item_id = event.get("item_id")
        heard_ms = _number(event.get("audio_end_ms"))
        if not isinstance(item_id, str) or heard_ms is None:
            self.warn(line, f"{name} has no 'item_id' and 'audio_end_ms' >= 0; ignored")
            return
        cuts[item_id] = heard_ms

    # -- the result ------------------------------------------------------------------------

    def finish(self) -> SessionAudio:
        self._resolve_input_formats()
        user = self._user_chunks()
        responses = tuple(
            ResponseAudio(
                response_id,
                tuple(
                    ItemAudio(
                        item_id,
                        tuple(chunks),
                        self.server_cuts.get(item_id, self.client_cuts.get(item_id)),
                    )
                    for item_id, chunks in items.items()
                ),
            )
            for response_id, items in self.deltas.items()
        )
        self._warn_cancelled(responses)
        self._warn_format_changes("user", user)
        self._warn_format_changes(
            "assistant", [c for r in responses for i in r.items for c in i.chunks]
        )
        return SessionAudio(self.path, user, responses)

    def _resolve_input_formats(self) -> None:
        in_force = PCM16
        for input_format in self.input_formats:
            if input_format.format is None:
                if input_format.requested != in_force:
                    self.warn(
                        input_format.line,
                        f"the server never confirmed the input format asked for here "
                        f"({describe(input_format.requested)}); later appends are read as "
                        f"{describe(in_force)}",
                    )
                input_format.format = in_force
            in_force = input_format.format

    def _user_chunks(self) -> tuple[Chunk, ...]:
        chunks = []
        for t, line, input_format, data in self.appends:
            fmt = input_format.format or PCM16
            if len(data) % fmt.sample_width:
                self.warn(
                    line,
                    f"{AUDIO_APPEND} has an odd number of bytes ({len(data)}) for pcm16; "
                    "dropped the last one",
                )
                data = data[:-1]
            if data:
                chunks.append(Chunk(t, line, fmt, data))
        return tuple(chunks)

    def _warn_cancelled(self, responses: Sequence[ResponseAudio]) -> None:
        for response in responses:
            cancelled = self.cancelled.get(response.response_id)
            if cancelled is None or any(i.heard_ms is not None for i in response.items):
                continue
            line, reason = cancelled
            seconds = sum(
                len(c.data) / c.format.sample_width / c.format.rate
                for item in response.items
                for c in item.chunks
            )
            self.warn(
                line,
                f"response {response.response_id} was cancelled ({reason}) and the client sent "
                f"no conversation.item.truncate: all {seconds:.3f} s of its audio are exported, "
                "though the user may have heard less",
            )

    def _warn_format_changes(self, side: str, chunks: Sequence[Chunk]) -> None:
        for before, after in pairwise(chunks):
            if after.format != before.format:
                self.warn(
                    after.line,
                    f"{side} audio changes from {describe(before.format)} to {describe(after.format)}",
                )


_Handler = Callable[[_Collector, int, float, str, Mapping[str, Any]], None]

_CLIENT_HANDLERS: Mapping[str, _Handler] = {
    AUDIO_APPEND: _Collector.on_append,
    SESSION_UPDATE: _Collector.on_session_update,
    RESPONSE_CREATE: _Collector.on_response_create,
    ITEM_TRUNCATE: _Collector.on_truncate,
}

_SERVER_HANDLERS: Mapping[str, _Handler] = {
    SESSION_CREATED: _Collector.on_session,
    SESSION_UPDATED: _Collector.on_session,
    ERROR: _Collector.on_error,
    RESPONSE_CREATED: _Collector.on_response_created,
    AUDIO_DELTA: _Collector.on_delta,
    ITEM_TRUNCATED: _Collector.on_truncated,
    RESPONSE_DONE: _Collector.on_response_done,
}


def warn_with_python(warning: AudioWarning) -> None:
    """The default warning handler: a Python `UserWarning` (the library never prints)."""
    warnings.warn(str(warning), UserWarning, stacklevel=2)


def collect_audio(
    records: Iterable[tuple[int, Mapping[str, Any]]],
    path: str = "<session>",
    on_warning: WarningHandler | None = None,
) -> SessionAudio:
    """Every append and audio delta of a session, with its format, time and truncation.

    `records` are `(line number, record)` pairs as `recorder.store.iter_records` yields them.
    Odd audio (invalid base64, an odd pcm16 byte count, an unconfirmed format, a cancelled
    response without truncation) is reported through `on_warning`, naming the file and line,
    and the rest is kept.
    """
    collector = _Collector(path, on_warning or warn_with_python)
    for line, record in records:
        collector.feed(line, record)
    return collector.finish()
