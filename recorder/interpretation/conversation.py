"""Conversation timing: who talked when, over whom, how fast the assistant yielded, where the
dead air was (CONTRACT §4.6; pure).

    audio = CallAudio()                      fed by the Interpreter: every chunk of audio, the
    audio.user(t, payload, fmt)              truncations, which response and item each output
    audio.assistant(t, payload, fmt, …)      chunk belongs to
    audio.timing() -> ConversationTiming | None

Everything is measured on the call's timeline, the one the WAV mix plays (`layout.py`:
truncation-aware, GPT-Live output along the session timeline), with the energy detector of
`energy.py` (20 ms windows, audible from -45 dBFS). The definitions:

- a side *talks* from the start of an audible window to the end of the last audible window
  before a pause of at least 300 ms (`PAUSE_MS`): a talk spurt. Shorter pauses (between words)
  count as talking;
- `user_talk_ms`, `assistant_talk_ms`: the length of each side's spurts;
- `talk_over_ms`: the time both talk at once;
- `barge_ins`: how often the user starts talking while assistant audio plays (once per stretch
  of assistant audio, however many spurts the user needs): inside a Realtime response's
  audio as the mix plays it (from its first item's start to where its last item was cut or
  ended, pauses between its sentences included), or inside a GPT-Live assistant spurt (the
  Live output track never stops, so "playing" is where it is audible);
- `barge_in_stop_ms`: over the barge-ins, the median (linear interpolation, as DuckDB's
  `quantile_cont`) of the time from where the user's speech starts to where that assistant
  audio stops: where the client cut it (its truncation), where it ended, or for GPT-Live the
  last audible output before a pause. The user's start is the onset of the user's audible
  speech on the mix timeline rather than a `speech_started` event: it exists for push-to-talk
  and GPT-Live calls too, and server VAD's `audio_start_ms` includes its prefix padding (300 ms
  by default);
- `dead_air_ms`: the total length of the silences longer than 2 s (`DEAD_AIR_MS`) on both
  tracks at once, between the first and the last talk of the call (not before the first word or
  after the last);
- `turns`: the number of turns: spurts of both sides in the order they start, a run of one
  side's spurts making one turn (a barge-in starts the user's turn); 0 without talk.

Every figure is null for a session without audio. Spans are seconds on the session clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from recorder.interpretation.energy import AudibilityMeter, AudibleWindows
from recorder.interpretation.layout import (
    Cuts,
    along_timeline,
    append_starts,
    heard_length,
    response_starts,
)
from recorder.vocabulary import AudioFormat

PAUSE_MS = 300.0
DEAD_AIR_MS = 2000.0

Floats = npt.NDArray[np.float64]
Span = tuple[float, float]  # (start, end), seconds on the session clock


@dataclass(frozen=True)
class BargeIn:
    t: float  # where the user's speech started (session clock, s)
    stop_ms: float  # until the assistant's audio ended


@dataclass(frozen=True)
class ConversationTiming:
    """The figures of CONTRACT §4.6 for one session, and the spans they come from."""

    user_talk_ms: float
    assistant_talk_ms: float
    talk_over_ms: float
    barge_ins: int
    barge_in_stop_ms: float | None
    dead_air_ms: float
    turns: int
    user: tuple[Span, ...] = ()  # the user's talk spurts
    assistant: tuple[Span, ...] = ()
    overlaps: tuple[Span, ...] = ()  # both at once
    dead_air: tuple[Span, ...] = ()  # silences of more than DEAD_AIR_MS
    barge_in_list: tuple[BargeIn, ...] = ()


TIMING_FIELDS = (
    "user_talk_ms",
    "assistant_talk_ms",
    "talk_over_ms",
    "barge_ins",
    "barge_in_stop_ms",
    "dead_air_ms",
    "turns",
)


@dataclass
class _Side:
    """The chunks of one side: when each came, its format, and its audible windows."""

    meter: AudibilityMeter
    t: list[float] = field(default_factory=list)
    formats: list[AudioFormat] = field(default_factory=list)

    def measure(self) -> tuple[Floats, AudibleWindows]:
        """Each chunk's milliseconds of audio, and the audible windows."""
        windows = self.meter.finish()
        sizes = np.asarray(self.meter.sizes, dtype=np.float64)
        formats = self.formats
        if formats and formats.count(formats[0]) == len(formats):  # one format: no hashing
            return sizes / formats[0].bytes_per_ms, windows
        per_ms = {fmt: fmt.bytes_per_ms for fmt in set(formats)}
        bytes_per_ms = np.fromiter((per_ms[fmt] for fmt in formats), np.float64)
        return sizes / bytes_per_ms, windows


@dataclass(frozen=True)
class LaidOut:
    """Both sides on the call's timeline: where each chunk plays and how much of it is heard
    (ms on the session clock), and the audible windows of each side."""

    user_starts: Floats
    user_lengths: Floats
    user_windows: AudibleWindows
    assistant_starts: Floats
    assistant_heard: Floats  # of each output chunk, the milliseconds heard (after any cut)
    assistant_windows: AudibleWindows
    output_timeline: Floats  # GPT-Live: each output chunk's position on the session timeline
    playing: tuple[Floats, Floats] | None  # Realtime: each response's heard audio, start to end

    def user_spans(self) -> tuple[Floats, Floats]:
        return _spans(self.user_windows, self.user_starts, self.user_lengths)

    def assistant_spans(self) -> tuple[Floats, Floats]:
        return _spans(self.assistant_windows, self.assistant_starts, self.assistant_heard)


def _spans(windows: AudibleWindows, starts: Floats, heard: Floats) -> tuple[Floats, Floats]:
    """The audible windows as (start, end) ms on the session clock, cut where heard ends."""
    begin = starts[windows.chunk] + windows.offset_ms
    end = np.minimum(begin + windows.length_ms, starts[windows.chunk] + heard[windows.chunk])
    kept = end > begin
    return begin[kept], end[kept]


class CallAudio:
    """The audio of one session, side by side (see the module docstring)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled  # False: audio is not measured (a reader that needs none of it)
        self._user = _Side(AudibilityMeter())
        self._assistant = _Side(AudibilityMeter())
        self._keys: list[tuple[str, str]] = []  # (response, item) of each output chunk
        self._timeline: list[float | None] = []  # GPT-Live: a reflected delta's start_ms
        self.cuts = Cuts()
        self.live = False

    @property
    def has_audio(self) -> bool:
        return bool(self._user.t or self._assistant.t)

    def user(self, t: float, payload: object, fmt: AudioFormat) -> None:
        """A chunk of user audio."""
        if self.enabled:
            side = self._user
            side.t.append(t)
            side.formats.append(fmt)
            side.meter.add(payload, fmt)

    def assistant(
        self,
        t: float,
        payload: object,
        fmt: AudioFormat,
        response_id: str | None,
        item_id: str | None,
        timeline_ms: float | None = None,
    ) -> None:
        """A chunk of assistant audio (of a response's item, or of a GPT-Live output track)."""
        if self.enabled:
            self._keys.append((response_id or "unknown", item_id or ""))
            self._timeline.append(timeline_ms)
            side = self._assistant
            side.t.append(t)
            side.formats.append(fmt)
            side.meter.add(payload, fmt)

    def lay_out(self) -> LaidOut:
        """Both sides on the call's timeline (`layout.py`, in milliseconds)."""
        user_ms, user_windows = self._user.measure()
        user_starts = append_starts(user_ms, np.asarray(self._user.t, dtype=np.float64) * 1000)
        out_ms, out_windows = self._assistant.measure()
        out_timeline = np.zeros(0)
        if self.live:
            on_track = np.cumsum(out_ms) - out_ms
            out_timeline = np.array(
                [
                    track if given is None else given
                    for track, given in zip(on_track.tolist(), self._timeline, strict=True)
                ],
                dtype=np.float64,
            )
            first = self._assistant.t[0] * 1000 if self._assistant.t else 0.0
            out_starts = along_timeline(out_timeline, user_ms, user_starts, first)
            heard = out_ms
            playing = None
        else:
            out_starts, heard, playing = self._place_responses(out_ms)
        return LaidOut(
            user_starts,
            user_ms,
            user_windows,
            out_starts,
            heard,
            out_windows,
            out_timeline,
            playing,
        )

    def _place_responses(self, out_ms: Floats) -> tuple[Floats, Floats, tuple[Floats, Floats]]:
        """Each output chunk's start and heard milliseconds, and each response's heard audio
        (start, end): responses in the order their first delta came, items back to back, each
        cut where it was truncated."""
        responses: dict[str, dict[str, list[int]]] = {}
        first_t: dict[str, float] = {}
        for index, (response_id, item_id) in enumerate(self._keys):
            if out_ms[index]:
                responses.setdefault(response_id, {}).setdefault(item_id, []).append(index)
                first_t.setdefault(response_id, self._assistant.t[index])
        items = [list(response.values()) for response in responses.values()]
        kept = [
            [
                heard_length(float(out_ms[indices].sum()), self.cuts.heard_ms(item_id))
                for item_id, indices in response.items()
            ]
            for response in responses.values()
        ]
        placed = response_starts(
            [
                (first_t[response_id] * 1000, heard)
                for response_id, heard in zip(responses, kept, strict=True)
            ]
        )
        starts = np.zeros(len(out_ms))
        heard_ms = np.zeros(len(out_ms))
        playing_starts = np.array([placed_items[0] for placed_items in placed], dtype=np.float64)
        playing_ends = np.array(
            [
                placed_items[-1] + heard[-1]
                for placed_items, heard in zip(placed, kept, strict=True)
            ],
            dtype=np.float64,
        )
        for response_items, response_starts_, response_kept in zip(
            items, placed, kept, strict=True
        ):
            for indices, start, heard in zip(
                response_items, response_starts_, response_kept, strict=True
            ):
                lengths = out_ms[indices]
                offsets = np.cumsum(lengths) - lengths
                starts[indices] = start + offsets
                heard_ms[indices] = np.clip(heard - offsets, 0.0, lengths)
        return starts, heard_ms, (playing_starts, playing_ends)

    def timing(self, laid_out: LaidOut | None = None) -> ConversationTiming | None:
        """The conversation timing of the session (None without audio)."""
        if not self.has_audio:
            return None
        laid_out = laid_out or self.lay_out()
        return conversation_timing(
            laid_out.user_spans(), laid_out.assistant_spans(), laid_out.playing
        )


def talk_spurts(starts: Floats, ends: Floats, pause_ms: float = PAUSE_MS) -> tuple[Floats, Floats]:
    """Spans merged where they overlap or the pause between them is shorter than `pause_ms`."""
    if len(starts) == 0:
        return starts, ends
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], np.maximum.accumulate(ends[order])
    firsts = np.concatenate(([0], np.flatnonzero(starts[1:] - ends[:-1] >= pause_ms) + 1))
    lasts = np.concatenate((firsts[1:] - 1, [len(starts) - 1]))
    return starts[firsts], ends[lasts]


def _intersection(
    a: tuple[Floats, Floats], b: tuple[Floats, Floats]
) -> tuple[list[float], list[float]]:
    """Where two sorted lists of disjoint spans overlap."""
    starts: list[float] = []
    ends: list[float] = []
    i = j = 0
    a_starts, a_ends = a[0].tolist(), a[1].tolist()
    b_starts, b_ends = b[0].tolist(), b[1].tolist()
    while i < len(a_starts) and j < len(b_starts):
        start, end = max(a_starts[i], b_starts[j]), min(a_ends[i], b_ends[j])
        if end > start:
            starts.append(start)
            ends.append(end)
        if a_ends[i] < b_ends[j]:
            i += 1
        else:
            j += 1
    return starts, ends


def _seconds(starts: Floats | list[float], ends: Floats | list[float]) -> tuple[Span, ...]:
    return tuple(
        (round(float(start) / 1000, 6), round(float(end) / 1000, 6))
        for start, end in zip(starts, ends, strict=True)
    )


def conversation_timing(
    user: tuple[Floats, Floats],
    assistant: tuple[Floats, Floats],
    playing: tuple[Floats, Floats] | None = None,
) -> ConversationTiming:
    """The figures of CONTRACT §4.6 from each side's audible spans (ms on the session clock)
    and, for Realtime, where each response's audio plays (else the assistant's spurts)."""
    user_starts, user_ends = talk_spurts(*user)
    out_starts, out_ends = talk_spurts(*assistant)
    over_starts, over_ends = _intersection((user_starts, user_ends), (out_starts, out_ends))
    play_starts, play_ends = (
        talk_spurts(*playing, pause_ms=0.0) if playing else (out_starts, out_ends)
    )
    barge_ins: list[BargeIn] = []
    if len(play_starts):
        candidates = np.searchsorted(play_starts, user_starts, side="left") - 1
        interrupted: set[int] = set()
        for start, index in zip(user_starts.tolist(), candidates.tolist(), strict=True):
            if index >= 0 and start < play_ends[index] and index not in interrupted:
                interrupted.add(index)
                stop = round(float(play_ends[index]) - start, 3)
                barge_ins.append(BargeIn(round(start / 1000, 6), stop))
    stops = [barge_in.stop_ms for barge_in in barge_ins]
    all_starts = np.concatenate((user_starts, out_starts))
    all_ends = np.concatenate((user_ends, out_ends))
    talk_starts, talk_ends = talk_spurts(all_starts, all_ends, pause_ms=0.0)
    gaps = talk_starts[1:] - talk_ends[:-1]
    long_gaps = np.flatnonzero(gaps > DEAD_AIR_MS)
    sides = np.concatenate((np.zeros(len(user_starts)), np.ones(len(out_starts))))
    in_order = sides[np.argsort(all_starts, kind="stable")]
    turns = int(np.count_nonzero(np.diff(in_order))) + 1 if len(in_order) else 0
    return ConversationTiming(
        user_talk_ms=round(float(np.sum(user_ends - user_starts)), 3),
        assistant_talk_ms=round(float(np.sum(out_ends - out_starts)), 3),
        talk_over_ms=round(float(np.sum(np.subtract(over_ends, over_starts))), 3),
        barge_ins=len(barge_ins),
        barge_in_stop_ms=round(float(np.median(stops)), 3) if stops else None,
        dead_air_ms=round(float(np.sum(gaps[long_gaps])), 3),
        turns=turns,
        user=_seconds(user_starts, user_ends),
        assistant=_seconds(out_starts, out_ends),
        overlaps=_seconds(over_starts, over_ends),
        dead_air=_seconds(talk_ends[long_gaps], talk_starts[long_gaps + 1]),
        barge_in_list=tuple(barge_ins),
    )
