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
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
Floats = npt.NDArray[np.float64]
__all__ = ["interpolate"]  # re-exported: the tracks' interpolation (`audio_render`)
# A mix longer than this comes from a corrupt `t`, not a call: it is skipped, not allocated.
MAX_MIX_SECONDS = 4 * 3600
LIVE_OUTPUT = "live"  # the response id under which a GPT-Live session's output track is kept


AudioWarning = FileWarning  # the one warning shape: FILE:LINE: reason
WarningHandler = Callable[[FileWarning], None]


class Chunk(NamedTuple):
    """One append or delta: when the proxy received it, its line, its format, and where its
    decoded bytes are kept (a row of `Chunks`)."""

    t: float
    line: int
    format: AudioFormat
    offset: int  # where its decoded bytes start in its side's spool
    size: int  # how many decoded bytes
    timeline_ms: float | None = None  # GPT-Live sideband output: the `start_ms` it carries


@dataclass(frozen=True)
class Chunks:
    """Appends or deltas as columns (a few numbers a chunk: an hour's 240,000 chunks take
    about 10 MB, not the 50 MB of as many Python objects). `codes[i]` indexes `formats`."""

    t: Floats
    line: Offsets
    codes: npt.NDArray[np.int32]
    formats: tuple[AudioFormat, ...]
    offset: Offsets  # where each chunk's decoded bytes start in its side's spool
    size: Offsets  # how many decoded bytes
    timeline_ms: Floats | None = None  # GPT-Live sideband output: `start_ms`, NaN where none

    def __len__(self) -> int:
        return len(self.t)

    def __getitem__(self, index: int) -> Chunk:
        timeline = None if self.timeline_ms is None else float(self.timeline_ms[index])
        return Chunk(
            float(self.t[index]),
            int(self.line[index]),
            self.formats[self.codes[index]],
            int(self.offset[index]),
            int(self.size[index]),
            None if timeline is None or timeline != timeline else timeline,
        )

    def __iter__(self) -> Iterator[Chunk]:
        return (self[index] for index in range(len(self)))

    def take(self, order: Offsets | slice) -> Chunks:
        """These chunks in another order, or a stretch of them."""
        timeline = None if self.timeline_ms is None else self.timeline_ms[order]
        return Chunks(
            self.t[order],
            self.line[order],
            self.codes[order],
            self.formats,
            self.offset[order],
            self.size[order],
            timeline,
        )

    def rates(self) -> set[int]:
        return {self.formats[code].rate for code in np.unique(self.codes).tolist()}

    def stream(self, spool: Spool, rate: int) -> Stream:
        """The chunks back to back at `rate` (`audio_render.Stream`)."""
        return Stream(self.codes, self.formats, self.offset, self.size, rate, spool)


class _ChunkColumns:
    """`Chunks` as they arrive (growing arrays)."""

    def __init__(self, formats: list[AudioFormat], timeline: bool = False) -> None:
        self.t = array("d")
        self.line = array("q")
        self.codes = array("i")
        self.size = array("q")
        self.timeline_ms = array("d") if timeline else None
        self.formats = formats  # shared by both sides' columns

    def chunks(self) -> Chunks:
        """The columns so far, copied (the collector may go on growing its own)."""
        sizes = _copy(self.size, np.int64)
        timeline = None if self.timeline_ms is None else _copy(self.timeline_ms, np.float64)
        return Chunks(
            _copy(self.t, np.float64),
            _copy(self.line, np.int64),
            _copy(self.codes, np.int32),
            tuple(self.formats),
            np.cumsum(sizes) - sizes,  # each side's spool holds its chunks in arrival order
            sizes,
            timeline,
        )


def _copy(column: array[Any], dtype: type[np.generic]) -> npt.NDArray[Any]:
    return np.frombuffer(column, dtype=dtype).copy() if column else np.zeros(0, dtype=dtype)


_EMPTY: Offsets = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class ItemAudio:
    """The audio of one output item, in arrival order (a stretch of its session's `assistant`
    chunks), and how much of it the user heard."""

    item_id: str
    chunks: Chunks
    heard_ms: float | None  # `audio_end_ms` of its truncation; None = played to the end


@dataclass(frozen=True)
class ResponseAudio:
    """One response's audio items, in the order their first delta arrived."""

    response_id: str
    items: tuple[ItemAudio, ...]
    kind: str = "turn"  # turn | out_of_band | idle_timeout (CONTRACT §4.1)

    @property
    def first_delta_t(self) -> float:
        return float(self.items[0].chunks.t[0])


@dataclass(frozen=True)
class SessionAudio:
    """Every piece of audio in one session, decoded into a spool per side (`close()` frees it).
    `assistant`: the output chunks in track order (response by response, item by item), of
    which each item holds a stretch."""

    path: str
    user: Chunks
    responses: tuple[ResponseAudio, ...]
    live: bool = False  # a GPT-Live session: `responses` holds its one output track
    transport: str = "websocket"  # a sideband carries no audio (the call's audio is elsewhere)
    user_spool: Spool = field(default_factory=Spool)
    assistant_spool: Spool = field(default_factory=Spool)
    assistant: Chunks = field(default_factory=lambda: _ChunkColumns([]).chunks())

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


def _plan(name: str, rate: int, rates: set[int], frames: int, *layers: Layer | None) -> TrackPlan:
    return TrackPlan(name, rate, frames, layers, tuple(sorted(r for r in rates if r != rate)))


def _back_to_back(stream: Stream, ranges: Sequence[tuple[int, int]]) -> Layer:
    """Stretches `[start, stop)` of a stream played one after the other from frame 0."""
    sources = np.array([start for start, _ in ranges], dtype=np.int64)
    lengths = np.array([stop for _, stop in ranges], dtype=np.int64) - sources
    return Layer(stream, sources, lengths, np.cumsum(lengths) - lengths)


def user_plan(audio: SessionAudio) -> TrackPlan | None:
    """All input audio the client appended, back to back; None if there was none."""
    if not len(audio.user):
        return None
    rates = audio.user.rates()
    stream = audio.user.stream(audio.user_spool, max(rates))
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
    if not len(chunks):
        return None
    rates = chunks.rates()
    return chunks.stream(audio.assistant_spool, max(rates)), rates


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
        firsts, lasts = contiguous_runs(self.starts, self.lengths)
        ends = self.stream.ends
        sources = ends[firsts] - self.lengths[firsts]
        return Layer(self.stream, sources, ends[lasts - 1] - sources, self.starts[firsts])


def _chunk_lengths(ends: Offsets) -> Offsets:
    return np.diff(ends, prepend=np.int64(0))


def _place_user(audio: SessionAudio, rate: int) -> _Placed:
    """The user's appends on the call's timeline (`layout.append_starts`)."""
    stream = audio.user.stream(audio.user_spool, rate)
    lengths = _chunk_lengths(stream.ends)
    wanted = np.rint(audio.user.t * rate).astype(np.int64)
    return _Placed(stream, lengths, append_starts(lengths, wanted))


def _assistant_layer(audio: SessionAudio, rate: int) -> Layer:
    """Heard item stretches and where each starts in the mix (`layout.response_starts`);
    out-of-band responses are not heard (see the module docstring)."""
    stream = audio.assistant.stream(audio.assistant_spool, rate)
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
    stream = chunks.stream(audio.assistant_spool, rate)
    lengths = _chunk_lengths(stream.ends)
    timeline = stream.ends - lengths  # where each plays on the output track
    if chunks.timeline_ms is not None:  # where a sideband's reflected deltas say they sit
        carried = ~np.isnan(chunks.timeline_ms)
        timeline[carried] = np.rint(chunks.timeline_ms[carried] * rate / 1000)
    empty = np.zeros(0, dtype=np.int64)
    starts = along_timeline(
        timeline,
        user.lengths if user is not None else empty,
        user.starts if user is not None else empty,
        round(float(chunks.t[0]) * rate),
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
    rates = audio.user.rates() | chunks.rates()
    if not rates:
        return None
    rate = max(rates)
    user = _place_user(audio, rate) if len(audio.user) else None
    layers: list[Layer | None] = [user.layer() if user is not None else None, None]
    if len(chunks):
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


_NAN = float("nan")
_BLOCK_CHARS = 1 << 18  # of base64 text decoded in one call (as the energy meter's blocks)
Problem = tuple[int, int, str]  # (the number of its frame, line, reason)


class _Side:
    """One side's chunks: their columns, and the payloads waiting to be decoded a block at a
    time (pybase64 decodes the payloads of a block joined, in one call). Payloads join where
    none but the last has padding or a byte short of a whole sample, so the decoded block is
    each payload's bytes back to back; a block that does not decode is decoded payload by
    payload, to report each damaged one as decoding it alone would."""

    def __init__(self, formats: list[AudioFormat], spool: Spool, output: bool) -> None:
        self.columns = _ChunkColumns(formats, timeline=output)
        self.formats = formats
        self.items: array[int] | None = array("q") if output else None
        self.spool = spool
        self.texts: list[str] = []
        self.frames: list[Frame] = []
        self.codes: list[int] = []
        self.waiting_items: list[int] = []
        self.timelines: list[float] = []
        self.ends: list[int] = []  # where a run of payloads that decode as one text ends
        self.chars = 0
        self.format: AudioFormat | None = None  # the last payload's, its code, and the base64
        self.code = 0  # characters of a whole number of its samples, unpadded
        self.quantum = 8

    def decode(self, problems: list[Problem]) -> None:
        """Decode what waits into the spool and the columns; damaged payloads in `problems`
        as (frame number, line, reason)."""
        texts = self.texts
        if not texts:
            return
        sizes = [len(text) * 3 // 4 for text in texts]  # exact but at a run's end
        keep: list[int] = []  # the payloads that hold audio
        start = 0
        for end in [*self.ends, len(texts)]:
            if end <= start:
                continue
            try:
                data = decode_base64(
                    texts[start] if end - start == 1 else "".join(texts[start:end])
                )
            except ValueError:
                for index in range(start, end):
                    self._one(index, sizes, problems, keep)
            else:
                keep.extend(range(start, end - 1))
                self._last(end - 1, data, sizes, problems, keep)
            start = end
        columns, frames, codes = self.columns, self.frames, self.codes
        if len(keep) == len(texts):
            columns.t.extend([frame.t for frame in frames])
            columns.line.extend([frame.line for frame in frames])
            columns.codes.extend(codes)
            columns.size.extend(sizes)
            if self.items is not None and columns.timeline_ms is not None:
                self.items.extend(self.waiting_items)
                columns.timeline_ms.extend(self.timelines)
        else:
            columns.t.extend([frames[i].t for i in keep])
            columns.line.extend([frames[i].line for i in keep])
            columns.codes.extend([codes[i] for i in keep])
            columns.size.extend([sizes[i] for i in keep])
            if self.items is not None and columns.timeline_ms is not None:
                self.items.extend([self.waiting_items[i] for i in keep])
                columns.timeline_ms.extend([self.timelines[i] for i in keep])
        self.texts, self.frames, self.codes, self.waiting_items, self.timelines = [], [], [], [], []
        self.ends = []
        self.chars = 0

    def _one(self, index: int, sizes: list[int], problems: list[Problem], keep: list[int]) -> None:
        """A payload decoded alone (its run holds a damaged one)."""
        try:
            data = decode_base64(self.texts[index])
        except ValueError as exc:  # binascii.Error, or non-ASCII text
            frame = self.frames[index]
            _, key = audio_of(frame) or (USER, "audio")
            reason = f"{frame.raw_type or frame.type} '{key}' is not valid base64 ({exc}); skipped"
            problems.append((frame.number, frame.line, reason))
            return
        self._last(index, data, sizes, problems, keep)

    def _last(
        self, index: int, data: bytes, sizes: list[int], problems: list[Problem], keep: list[int]
    ) -> None:
        """The last payload of a decoded run (`data`: the run's bytes): its size, without a
        byte short of a whole sample, which is dropped."""
        text = self.texts[index]
        size = len(text) // 4 * 3 - (len(text) - len(text.rstrip("=")))
        if size % self.formats[self.codes[index]].sample_width:
            frame = self.frames[index]
            reason = (
                f"{frame.raw_type or frame.type} has an odd number of bytes ({size}) for "
                "pcm16; dropped the last one"
            )
            problems.append((frame.number, frame.line, reason))
            data = data[:-1]
            size -= 1
        sizes[index] = size
        if size:
            keep.append(index)
        if data:
            self.spool.add(data)


class AudioCollector:
    """Keeps the audio of one session's frames, with the format and response the interpretation
    gave each (feed it every frame, in order). `connection`: the interpreter's (its protocol
    tells GPT-Live's output track from the translation endpoint's, which share a name; its
    transport marks a sideband). The decoded audio waits in a spool per side, in memory up to a
    bound and then in an unnamed temporary file in `spool_dir` (default: the system's); of
    each chunk only a few numbers are kept (`Chunks`).

    Payloads are decoded a block at a time, so a damaged one is found a little after it is
    fed: `flush()` decodes what waits (and reports what is damaged); a caller that reports
    warnings of its own on the same handler calls it first, to keep the warnings in line order
    (`collect_audio` does)."""

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
        self._formats: list[AudioFormat] = []
        self._codes: dict[AudioFormat, int] = {}
        self._user = _Side(self._formats, self.user_spool, output=False)
        self._output = _Side(self._formats, self.assistant_spool, output=True)
        self.owners: dict[str, dict[str, int]] = {}  # response id -> item id -> item index
        self._item_ids: list[str] = []  # by item index
        self._owner: str | None = None  # the last delta's response and item
        self._item_id: str | None = None
        self._item = 0
        self._kind_known = False
        self.kinds: dict[str, str] = {}  # response id -> kind
        self.cuts = Cuts()
        self.cancelled: dict[str, tuple[int, str]] = {}
        self.live = False

    def warn(self, line: int | None, message: str) -> None:
        self.flush()
        self._warn(FileWarning(self.path, line, message))

    def flush(self) -> None:
        """Decode the payloads that wait, reporting damaged ones in the order they came."""
        problems: list[Problem] = []
        self._user.decode(problems)
        self._output.decode(problems)
        for _, line, reason in sorted(problems):
            self._warn(FileWarning(self.path, line, reason))

    def feed(self, frame: Frame) -> None:
        event = frame.event
        if event is None:
            return
        audio = audio_of(frame)
        if audio is not None:
            side, key = audio
            if side == USER:
                self._payload(frame, event, key, self._user)
                return
            if frame.type == LIVE_AUDIO_DELTA and self.connection.protocol == "live":
                self.live = True
                owner, item_id = LIVE_OUTPUT, ""
            else:
                owner, item_id = frame.response_id or "unknown", frame.item_id or ""
            if owner != self._owner or item_id != self._item_id:  # else: as the delta before
                self._owner, self._item_id = owner, item_id
                items = self.owners.setdefault(owner, {})
                item = items.get(item_id)
                if item is None:
                    item = items[item_id] = len(self._item_ids)
                    self._item_ids.append(item_id)
                self._item, self._kind_known = item, owner in self.kinds
            if not self._kind_known and frame.response_kind is not None:
                self.kinds[owner] = frame.response_kind
                self._kind_known = True
            timeline_ms = live_timeline_ms(event) if self.live and key == "delta" else None
            self._payload(frame, event, key, self._output, self._item, timeline_ms)
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

    def _payload(
        self,
        frame: Frame,
        event: Mapping[str, Any],
        key: str,
        side: _Side,
        item: int = 0,
        timeline_ms: float | None = None,
    ) -> None:
        """Queue the chunk's payload for decoding (the hot path: a few list appends)."""
        text = event.get(key)
        if not isinstance(text, str):
            self.warn(
                frame.line, f"{frame.raw_type or frame.type} has no base64 '{key}' string; skipped"
            )
            return
        if not text:
            return
        fmt = frame.audio_format or PCM16
        if fmt is not side.format:  # each side's frames mostly share one format object
            code = self._codes.get(fmt)
            if code is None:
                code = self._codes[fmt] = len(self._formats)
                self._formats.append(fmt)
            side.format, side.code, side.quantum = fmt, code, 4 * fmt.sample_width
        side.texts.append(text)
        side.frames.append(frame)
        side.codes.append(side.code)
        if side.items is not None:
            side.waiting_items.append(item)
            side.timelines.append(_NAN if timeline_ms is None else timeline_ms)
        length = len(text)
        if length % side.quantum or text[-1] == "=":  # padding, or part of a sample
            side.ends.append(len(side.texts))
        side.chars += length
        if side.chars >= _BLOCK_CHARS:
            self.flush()

    def finish(self) -> SessionAudio:
        self.flush()
        deltas = self._output.columns.chunks()
        assert self._output.items is not None
        items = _copy(self._output.items, np.int64)
        counts = np.bincount(items, minlength=len(self._item_ids))
        # track order: response by response, item by item, each item's deltas as they came
        rank = np.zeros(len(counts), dtype=np.int64)
        order = [index for owned in self.owners.values() for index in owned.values()]
        rank[order] = np.arange(len(order))
        assistant = deltas.take(np.argsort(rank[items], kind="stable"))
        responses: list[ResponseAudio] = []
        done = 0
        for response_id, owned in self.owners.items():
            found = []
            for item_id, index in owned.items():
                count = int(counts[index])
                if count:
                    stretch = assistant.take(slice(done, done + count))
                    found.append(ItemAudio(item_id, stretch, self.cuts.heard_ms(item_id)))
                    done += count
            if found:
                kind = self.kinds.get(response_id, "turn")
                responses.append(ResponseAudio(response_id, tuple(found), kind))
        user = self._user.columns.chunks()
        self._warn_cancelled(responses)
        self._warn_format_changes("user", user)
        self._warn_format_changes("assistant", assistant)
        return SessionAudio(
            self.path,
            user,
            tuple(responses),
            self.live,
            self.connection.transport,
            self.user_spool,
            self.assistant_spool,
            assistant,
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

    def _warn_format_changes(self, side: str, chunks: Chunks) -> None:
        codes = chunks.codes
        for index in (np.flatnonzero(codes[1:] != codes[:-1]) + 1).tolist():
            before, after = chunks.formats[codes[index - 1]], chunks.formats[codes[index]]
            self.warn(
                int(chunks.line[index]),
                f"{side} audio changes from {describe(before)} to {describe(after)}",
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
    return collect_audio_from(lambda _: records, path, on_warning, spool_dir)


def collect_audio_from(
    read: Callable[[WarningHandler], Iterable[tuple[int, Mapping[str, Any]]]],
    path: str = "<session>",
    on_warning: WarningHandler | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
) -> SessionAudio:
    """`collect_audio` of the records `read(on_warning)` yields (`recorder.reading.iter_records`
    bound to a file): the reader's warnings come in line order with the audio's."""
    warn = on_warning or warn_with_python
    collector: AudioCollector | None = None

    def in_order(warning: FileWarning) -> None:
        if collector is not None:  # damaged payloads fed before are reported first
            collector.flush()
        warn(warning)

    interpreter = Interpreter(path, in_order, measure_audio=False)  # the tracks decode it
    collector = AudioCollector(path, warn, interpreter.connection, spool_dir)
    for line, record in read(in_order):
        frame = interpreter.feed(line, record)
        if frame is not None:
            collector.feed(frame)
    return collector.finish()
