"""A session's audio as 16-bit tracks and a stereo call timeline (pure: records in, arrays out).

    collect_audio(records) -> SessionAudio    the client's appends and the server's deltas, still
                                              encoded, with their formats, times and cut points
    AudioCollector().feed(frame) … .finish()  the same from frames a caller already interprets
    user_track, assistant_track, response_tracks, mix_track(SessionAudio) -> Track

Formats and responses: what the one interpretation says (recorder/interpretation): each
append and delta carries the format in effect for it (`formats.py` states the rule) and the
response it belongs to, so the WAV files, `rt show` and `rt stats` measure the same audio.
Where each piece plays in the mix is the call's timeline (`interpretation/layout.py`), the
same layout conversation timing measures.

One WAV holds one rate: a track whose audio changes rate is written at the highest rate it
uses, and the mix at the higher of its two channels' rates. Lower-rate audio is interpolated
linearly (G.711 at 8 kHz into a 24 kHz track keeps every original sample as every third one).

The assistant track holds all output audio the server sent (CONTRACT §2), or with `heard=True`
what the user heard; the mix always holds what was heard: each item ends at the `audio_end_ms`
of its truncation (the server's `conversation.item.truncated`, else the client's
`conversation.item.truncate`). A GPT-Live session's output is one track that already holds its
silences: the assistant track is its deltas back to back, and the mix plays it along the
session timeline (`layout.along_timeline`).

Parallel responses (CONTRACT §4.1): only one response at a time writes into the conversation
(turns and idle-timeout answers); out-of-band responses (`conversation: "none"`) run beside it.
A client plays the conversation's responses one after the other, and an out-of-band response's
audio reaches the user only if the client chooses to play it (it is side work: a
classification, a summary). So the mix, what the user heard, leaves out-of-band audio out: it
neither sounds over the turn nor pushes the turn's audio later. The assistant track and the
per-response tracks keep it (all the audio the server sent).

Besides Realtime and GPT-Live appends and deltas, the tracks take whatever the interpretation
marks as audio (`layout.audio_of`): the translation endpoint's appended and translated audio,
whose output plays like one response from its first delta.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from recorder.audio_render import Layer, Stream, interpolate, render
from recorder.audio_spool import Spool
from recorder.errors import InputError
from recorder.interpretation import OUT_OF_BAND, Frame, Interpreter
from recorder.interpretation.connection import Connection
from recorder.interpretation.layout import (
    LIVE_AUDIO_DELTA,
    USER,
    Cuts,
    along_timeline,
    append_starts,
    audio_of,
    contiguous_runs,
    heard_length,
    live_timeline_ms,
    response_starts,
)
from recorder.interpretation.samples import (  # noqa: F401  (G711_TABLES: re-exported)
    G711_TABLES,
    Samples,
    decode_base64,
    decode_samples,
)
from recorder.vocabulary import PCM16, RESPONSE_DONE, AudioFormat
from recorder.warning_log import FileWarning

Offsets = npt.NDArray[np.int64]
__all__ = ["interpolate"]  # re-exported: the tracks' interpolation (`audio_render`)
# A mix longer than this comes from a corrupt `t`, not a call: it is skipped, not allocated.
MAX_MIX_SECONDS = 4 * 3600
LIVE_OUTPUT = "live"  # the response id under which a GPT-Live session's output track is kept


AudioWarning = FileWarning  # the one warning shape: FILE:LINE: reason
WarningHandler = Callable[[FileWarning], None]


class Chunk(NamedTuple):
    """One append or delta: where its decoded bytes are kept, their format, and when the proxy
    received it."""

    t: float
    line: int
    format: AudioFormat
    offset: int  # where its decoded bytes start in its side's spool
    size: int  # how many decoded bytes
    timeline_ms: float | None = None  # GPT-Live sideband output: the `start_ms` it carries


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
    kind: str = "turn"  # turn | out_of_band | idle_timeout (CONTRACT §4.1)

    @property
    def first_delta_t(self) -> float:
        return self.items[0].chunks[0].t


@dataclass(frozen=True)
class SessionAudio:
    """Every piece of audio in one session, decoded into a spool per side (`close()` frees it)."""

    path: str
    user: tuple[Chunk, ...]
    responses: tuple[ResponseAudio, ...]
    live: bool = False  # a GPT-Live session: `responses` holds its one output track
    transport: str = "websocket"  # a sideband carries no audio (the call's audio is elsewhere)
    user_spool: Spool = field(default_factory=Spool)
    assistant_spool: Spool = field(default_factory=Spool)

    @property
    def assistant(self) -> list[Chunk]:
        """Output chunks in track order: response by response, item by item."""
        return [c for r in self.responses for item in r.items for c in item.chunks]

    def close(self) -> None:
        self.user_spool.close()
        self.assistant_spool.close()


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


@dataclass(frozen=True)
class TrackPlan:
    """A track before its samples exist: what it holds, and its samples a block at a time (a
    layer per channel: mono, or user left and assistant right)."""

    name: str
    rate: int
    frames: int
    layers: tuple[Layer | None, ...]
    interpolated_from: tuple[int, ...] = ()  # lower source rates interpolated up to `rate`

    @property
    def channels(self) -> int:
        return len(self.layers)

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate

    def blocks(self, frames: int | None = None) -> Iterator[Samples]:
        """The samples, `frames` (default `audio_render.BLOCK_FRAMES`) at a time."""
        return render(self.layers, self.frames, frames)

    def render(self) -> Track:
        """The whole track in memory."""
        shape = (self.frames, self.channels) if self.channels > 1 else (self.frames,)
        samples = np.empty(shape, dtype=np.int16)
        done = 0
        for block in self.blocks():
            samples[done : done + len(block)] = block
            done += len(block)
        return Track(self.name, self.rate, samples, self.interpolated_from)


def describe(fmt: AudioFormat) -> str:
    """`pcm16 at 24000 Hz`, `G.711 µ-law at 8000 Hz`."""
    names = {"pcm16": "pcm16", "ulaw": "G.711 µ-law", "alaw": "G.711 A-law"}
    return f"{names.get(fmt.encoding, fmt.encoding)} at {fmt.rate} Hz"


# -- tracks ------------------------------------------------------------------------------------


def _rates(chunks: Iterable[Chunk]) -> set[int]:
    return {chunk.format.rate for chunk in chunks}


def _stream(chunks: Sequence[Chunk], spool: Spool, rate: int) -> Stream:
    """The chunks back to back at `rate`; runs of one format are interpolated as a whole, so
    that chunk boundaries leave no seams."""
    return Stream(
        [chunk.format for chunk in chunks],
        [chunk.offset for chunk in chunks],
        [chunk.size for chunk in chunks],
        rate,
        spool,
    )


def _plan(name: str, rate: int, rates: set[int], frames: int, *layers: Layer | None) -> TrackPlan:
    return TrackPlan(name, rate, frames, layers, tuple(sorted(r for r in rates if r != rate)))


def _back_to_back(stream: Stream, ranges: Sequence[tuple[int, int]]) -> Layer:
    """Stretches `[start, stop)` of a stream played one after the other from frame 0."""
    sources = np.array([start for start, _ in ranges], dtype=np.int64)
    lengths = np.array([stop for _, stop in ranges], dtype=np.int64) - sources
    return Layer(stream, sources, lengths, np.cumsum(lengths) - lengths)


def user_plan(audio: SessionAudio) -> TrackPlan | None:
    """All input audio the client appended, back to back; None if there was none."""
    if not audio.user:
        return None
    rates = _rates(audio.user)
    stream = _stream(audio.user, audio.user_spool, max(rates))
    return _plan(
        "user", max(rates), rates, stream.frames, _back_to_back(stream, [(0, stream.frames)])
    )


def _item_ranges(audio: SessionAudio, stream: Stream, heard: bool) -> list[list[tuple[int, int]]]:
    """Per response, where each of its items is in the output stream (with `heard`, up to where
    the user stopped hearing it)."""
    per_response: list[list[tuple[int, int]]] = []
    ends = stream.ends.tolist()
    done = 0
    start = 0
    for response in audio.responses:
        items: list[tuple[int, int]] = []
        for item in response.items:
            done += len(item.chunks)
            end = ends[done - 1]
            stop = end
            if heard and item.heard_ms is not None:
                cut = min(item.heard_ms * stream.rate / 1000, end - start)  # 1e308 ms: all
                stop = start + heard_length(end - start, round(cut))
            items.append((start, stop))
            start = end
        per_response.append(items)
    return per_response


def _output_stream(audio: SessionAudio) -> tuple[Stream, set[int]] | None:
    chunks = audio.assistant
    if not chunks:
        return None
    rates = _rates(chunks)
    return _stream(chunks, audio.assistant_spool, max(rates)), rates


def assistant_plan(audio: SessionAudio, heard: bool = False) -> TrackPlan | None:
    """All output audio (with `heard`, what the user heard), response after response; None if
    there was none."""
    output = _output_stream(audio)
    if output is None:
        return None
    stream, rates = output
    ranges = [r for items in _item_ranges(audio, stream, heard) for r in items]
    layer = _back_to_back(stream, ranges)
    return _plan("assistant", stream.rate, rates, int(layer.lengths.sum()), layer)


def response_plans(audio: SessionAudio, heard: bool = False) -> list[TrackPlan]:
    """One track per response with audio, named `assistant.<response id>`, in response order."""
    output = _output_stream(audio)
    if output is None:
        return []
    stream, rates = output
    plans = []
    for response, items in zip(audio.responses, _item_ranges(audio, stream, heard), strict=True):
        layer = _back_to_back(stream, items)
        name = f"assistant.{response.response_id}"
        plans.append(_plan(name, stream.rate, rates, int(layer.lengths.sum()), layer))
    return plans


def _rendered(plan: TrackPlan | None) -> Track | None:
    return None if plan is None else plan.render()


def user_track(audio: SessionAudio) -> Track | None:
    """`user_plan`'s track, in memory."""
    return _rendered(user_plan(audio))


def assistant_track(audio: SessionAudio, heard: bool = False) -> Track | None:
    """`assistant_plan`'s track, in memory."""
    return _rendered(assistant_plan(audio, heard))


def response_tracks(audio: SessionAudio, heard: bool = False) -> list[Track]:
    """`response_plans`' tracks, in memory."""
    return [plan.render() for plan in response_plans(audio, heard)]


@dataclass(frozen=True)
class _Placed:
    """A stream's chunks laid out on the call's timeline."""

    stream: Stream
    lengths: Offsets  # of each chunk, in samples
    starts: Offsets  # where each chunk starts in the mix

    def layer(self) -> Layer:
        """Back-to-back stretches of chunks as one stretch each."""
        runs = contiguous_runs(self.starts, self.lengths)
        firsts = np.array([a for a, _ in runs], dtype=np.int64)
        lasts = np.array([b for _, b in runs], dtype=np.int64)
        ends = self.stream.ends
        sources = ends[firsts] - self.lengths[firsts]
        return Layer(self.stream, sources, ends[lasts - 1] - sources, self.starts[firsts])


def _chunk_lengths(ends: Offsets) -> Offsets:
    return np.diff(ends, prepend=np.int64(0))


def _place_user(audio: SessionAudio, rate: int) -> _Placed:
    """The user's appends on the call's timeline (`layout.append_starts`)."""
    stream = _stream(audio.user, audio.user_spool, rate)
    lengths = _chunk_lengths(stream.ends)
    wanted = np.rint(np.array([chunk.t for chunk in audio.user]) * rate).astype(np.int64)
    return _Placed(stream, lengths, append_starts(lengths, wanted))


def _assistant_layer(audio: SessionAudio, rate: int) -> Layer:
    """Heard item stretches and where each starts in the mix (`layout.response_starts`);
    out-of-band responses are not heard (see the module docstring)."""
    stream = _stream(audio.assistant, audio.assistant_spool, rate)
    played = [
        (response, items)
        for response, items in zip(audio.responses, _item_ranges(audio, stream, True), strict=True)
        if response.kind != OUT_OF_BAND
    ]
    starts = response_starts(
        [
            (round(response.first_delta_t * rate), [stop - start for start, stop in items])
            for response, items in played
        ]
    )
    ranges = [r for _, items in played for r in items]
    sources = np.array([start for start, _ in ranges], dtype=np.int64)
    lengths = np.array([stop for _, stop in ranges], dtype=np.int64) - sources
    at = np.array([s for placed in starts for s in placed], dtype=np.int64)
    return Layer(stream, sources, lengths, at)


def _live_layer(audio: SessionAudio, rate: int, user: _Placed | None) -> Layer:
    """A GPT-Live output track laid along the session timeline (`layout.along_timeline`)."""
    chunks = audio.assistant
    stream = _stream(chunks, audio.assistant_spool, rate)
    lengths = _chunk_lengths(stream.ends)
    on_track = stream.ends - lengths
    timeline = np.array(
        [
            position if chunk.timeline_ms is None else round(chunk.timeline_ms * rate / 1000)
            for chunk, position in zip(chunks, on_track.tolist(), strict=True)
        ],
        dtype=np.int64,
    )
    empty = np.zeros(0, dtype=np.int64)
    starts = along_timeline(
        timeline,
        user.lengths if user is not None else empty,
        user.starts if user is not None else empty,
        round(chunks[0].t * rate),
    )
    return _Placed(stream, lengths, starts).layer()


class MixTooLong(InputError):
    """The mix would last longer than `MAX_MIX_SECONDS`: some frame's `t` is far off."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(
            f"no mix: it would last {seconds / 3600:,.1f} h (more than "
            f"{MAX_MIX_SECONDS // 3600} h), so some frame's 't' is wrong"
        )


def mix_plan(audio: SessionAudio) -> TrackPlan | None:
    """Both sides on the session's timeline (sample = t x rate): user left, assistant right;
    None without audio. Raises MixTooLong for a mix of more than `MAX_MIX_SECONDS`."""
    chunks = audio.assistant
    rates = _rates(audio.user) | _rates(chunks)
    if not rates:
        return None
    rate = max(rates)
    user = _place_user(audio, rate) if audio.user else None
    layers: list[Layer | None] = [user.layer() if user is not None else None, None]
    if chunks:
        layers[1] = _live_layer(audio, rate, user) if audio.live else _assistant_layer(audio, rate)
    placed = [layer for layer in layers if layer is not None and len(layer.starts)]
    if not placed:
        return None
    frames = max(layer.end for layer in placed)
    if frames > MAX_MIX_SECONDS * rate:
        raise MixTooLong(frames / rate)
    return _plan("mix", rate, rates, frames, *layers)


def mix_track(audio: SessionAudio) -> Track | None:
    """`mix_plan`'s track, in memory."""
    return _rendered(mix_plan(audio))


# -- collecting --------------------------------------------------------------------------------


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class AudioCollector:
    """Keeps the audio of one session's frames, with the format and response the interpretation
    gave each (feed it every frame, in order). `connection`: the interpreter's (its protocol
    tells GPT-Live's output track from the translation endpoint's, which share a name; its
    transport marks a sideband). The decoded audio waits in a spool per side, in memory up to a
    bound and then in an unnamed temporary file in `spool_dir` (default: the system's)."""

    def __init__(
        self,
        path: str = "<session>",
        on_warning: WarningHandler | None = None,
        connection: Connection | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path = path
        self.user_spool = Spool(spool_dir)
        self.assistant_spool = Spool(spool_dir)
        self._warn = on_warning or warn_with_python
        self.connection = connection or Connection()
        self.appends: list[Chunk] = []
        self.deltas: dict[str, dict[str, list[Chunk]]] = {}
        self.kinds: dict[str, str] = {}  # response id -> kind
        self.cuts = Cuts()
        self.cancelled: dict[str, tuple[int, str]] = {}
        self.live = False

    def warn(self, line: int | None, message: str) -> None:
        self._warn(FileWarning(self.path, line, message))

    def feed(self, frame: Frame) -> None:
        event = frame.event
        if event is None:
            return
        audio = audio_of(frame)
        if audio is not None:
            side, key = audio
            if side == USER:
                self._audio(frame, event, key, self.appends, self.user_spool)
                return
            if frame.type == LIVE_AUDIO_DELTA and self.connection.protocol == "live":
                self.live = True
                owner, item_id = LIVE_OUTPUT, ""
            else:
                owner, item_id = frame.response_id or "unknown", frame.item_id or ""
            if frame.response_kind is not None:
                self.kinds.setdefault(owner, frame.response_kind)
            items = self.deltas.setdefault(owner, {})
            self._audio(frame, event, key, items.setdefault(item_id, []), self.assistant_spool)
            return
        cut = self.cuts.feed(frame)
        if cut is False:
            self.warn(frame.line, f"{frame.type} has no 'item_id' and 'audio_end_ms' >= 0; ignored")
        elif frame.type == RESPONSE_DONE and frame.direction == "server":
            response = _mapping(event.get("response"))
            response_id = response.get("id")
            if response.get("status") == "cancelled" and isinstance(response_id, str):
                reason = _mapping(response.get("status_details")).get("reason")
                self.cancelled[response_id] = (frame.line, str(reason or "cancelled"))

    def _audio(
        self, frame: Frame, event: Mapping[str, Any], key: str, into: list[Chunk], spool: Spool
    ) -> None:
        name = frame.raw_type or frame.type
        text = event.get(key)
        if not isinstance(text, str):
            self.warn(frame.line, f"{name} has no base64 '{key}' string; skipped")
            return
        try:
            data = decode_base64(text)
        except ValueError as exc:  # binascii.Error, or non-ASCII text
            self.warn(frame.line, f"{name} '{key}' is not valid base64 ({exc}); skipped")
            return
        fmt = frame.audio_format or PCM16
        if len(data) % fmt.sample_width:
            self.warn(
                frame.line,
                f"{name} has an odd number of bytes ({len(data)}) for pcm16; dropped the last one",
            )
            data = data[:-1]
        if data:
            timeline_ms = live_timeline_ms(event) if self.live and key == "delta" else None
            into.append(Chunk(frame.t, frame.line, fmt, spool.add(data), len(data), timeline_ms))

    def finish(self) -> SessionAudio:
        responses = tuple(
            ResponseAudio(
                response_id,
                tuple(
                    ItemAudio(item_id, tuple(chunks), self.cuts.heard_ms(item_id))
                    for item_id, chunks in items.items()
                    if chunks
                ),
                self.kinds.get(response_id, "turn"),
            )
            for response_id, items in self.deltas.items()
            if any(items.values())
        )
        user = tuple(self.appends)
        self._warn_cancelled(responses)
        self._warn_format_changes("user", user)
        self._warn_format_changes(
            "assistant", [c for r in responses for i in r.items for c in i.chunks]
        )
        return SessionAudio(
            self.path,
            user,
            responses,
            self.live,
            self.connection.transport,
            self.user_spool,
            self.assistant_spool,
        )

    def _warn_cancelled(self, responses: Sequence[ResponseAudio]) -> None:
        for response in responses:
            cancelled = self.cancelled.get(response.response_id)
            if cancelled is None or any(i.heard_ms is not None for i in response.items):
                continue
            line, reason = cancelled
            seconds = sum(
                c.size / c.format.sample_width / c.format.rate
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
            if after.format is not before.format and after.format != before.format:
                self.warn(
                    after.line,
                    f"{side} audio changes from {describe(before.format)} to {describe(after.format)}",
                )


def warn_with_python(warning: FileWarning) -> None:
    """The default warning handler: a Python `UserWarning` (the library never prints)."""
    warnings.warn(str(warning), UserWarning, stacklevel=2)


def collect_audio(
    records: Iterable[tuple[int, Mapping[str, Any]]],
    path: str = "<session>",
    on_warning: WarningHandler | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
) -> SessionAudio:
    """Every append and audio delta of a session, with its format, time and truncation.

    `records` are `(line number, record)` pairs as `recorder.reading.iter_records` yields them;
    they are read through the one `Interpreter`. Odd audio (invalid base64, an odd pcm16 byte
    count, a format change, a cancelled response without truncation) and what the
    interpretation notices are reported through `on_warning`, naming the file and line, and
    the rest is kept.
    """
    warn = on_warning or warn_with_python
    interpreter = Interpreter(path, warn, measure_audio=False)  # the tracks decode it
    collector = AudioCollector(path, warn, interpreter.connection, spool_dir)
    for line, record in records:
        frame = interpreter.feed(line, record)
        if frame is not None:
            collector.feed(frame)
    return collector.finish()
