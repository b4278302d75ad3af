"""The call's timeline: where each side's audio plays on the session clock (pure, numpy).

One implementation of the rule of CONTRACT §2's stereo mix, used by the WAV mix
(`recorder.audio`) and by conversation timing (`conversation.py`), so the seconds rt counts are
the seconds the mix plays:

- user audio (the client's appends; on a GPT-Live sideband, the caller audio the server
  reflects): each chunk starts at its own time `t` or where the previous one ends, whichever is
  later, so audio sent faster than real time (a file, a burst after a stall) still plays at
  real-time rate;
- Realtime assistant audio: each response starts at its first audio delta or when the previous
  response's audio ends, whichever is later; its items play back to back in the order their
  first delta came, each cut where the user stopped hearing it: the `audio_end_ms` of the
  server's `conversation.item.truncated`, else of the client's `conversation.item.truncate`;
- GPT-Live assistant audio: the output is one continuous track that already holds its
  silences, played along the session timeline (which advances with the input audio): its
  millisecond k (or the `start_ms` a reflected sideband delta carries) plays where the input
  audio holding the session timeline's millisecond k plays; past the end of the input audio it
  goes on in real time, and without any input audio it starts at its first delta.

Positions are in the caller's units (samples at the mix's rate, or milliseconds): each function
takes lengths and wanted positions in those units and returns positions in them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from recorder import vocabulary as vocab
from recorder.interpretation.frame import Frame
from recorder.interpretation.translation import TRANSLATION_APPEND, TRANSLATION_AUDIO_DELTA

USER = "user"
ASSISTANT = "assistant"
LIVE_APPEND = "session.input_audio.append"  # GPT-Live input audio (client; reflected on a sideband)
LIVE_AUDIO_DELTA = "session.output_audio.delta"  # GPT-Live output audio
assert LIVE_AUDIO_DELTA == TRANSLATION_AUDIO_DELTA  # one name; the protocol tells them apart
# the event types that carry audio, each side's (Realtime, GPT-Live, translation); whether a
# frame of one of them does is the interpretation's to say (`audio_of`)
INPUT_AUDIO = frozenset({vocab.AUDIO_APPEND, LIVE_APPEND, TRANSLATION_APPEND})
OUTPUT_AUDIO = frozenset({vocab.AUDIO_DELTA, LIVE_AUDIO_DELTA})

Positions = npt.NDArray[Any]  # int64 (samples) or float64 (milliseconds)
Number = TypeVar("Number", int, float)


def audio_of(frame: Frame) -> tuple[str, str] | None:
    """(side, field holding the base64 audio) of a frame that carries audio, else None: the
    interpreter gave it an audio format (an append, a delta, a GPT-Live sideband's reflected
    caller audio, the translation endpoint's audio; not an event of those names in a protocol
    where it carries none)."""
    if frame.audio_format is None:
        return None
    if frame.type in INPUT_AUDIO:
        return USER, "audio"
    if frame.type in OUTPUT_AUDIO and frame.direction == "server":
        return ASSISTANT, "delta"
    return None


def live_timeline_ms(event: Mapping[str, Any]) -> float | None:
    """Where a GPT-Live output delta sits on the session timeline, when it says (the reflected
    copies of a sideband carry `start_ms`; the primary socket's deltas do not)."""
    return _milliseconds(event.get("start_ms"))


def append_starts(lengths: Positions, wanted: Positions) -> Positions:
    """Where each chunk of a stream starts: at its `wanted` position or where the previous one
    ends, whichever is later. With c = what came before a chunk, its start is
    c + the running maximum of (wanted - c): the whole layout without a loop."""
    before = np.cumsum(lengths) - lengths
    return before + np.maximum.accumulate(wanted - before)


def contiguous_runs(starts: Positions, lengths: Positions) -> tuple[Positions, Positions]:
    """Index ranges `[first, last)` of chunks that play back to back, as two arrays."""
    breaks = np.flatnonzero(starts[1:] != starts[:-1] + lengths[:-1]) + 1
    count = np.array([len(starts)], dtype=np.int64)
    if len(starts) == 0:
        return breaks, breaks
    return np.concatenate([np.zeros(1, dtype=np.int64), breaks]), np.concatenate([breaks, count])


def response_starts(
    responses: Sequence[tuple[Number, Sequence[Number]]],
) -> list[list[Number]]:
    """Where each item of each response starts: `responses` holds, per response, its wanted
    start (its first delta) and its items' heard lengths."""
    starts: list[list[Number]] = []
    cursor: Any = None
    for first, items in responses:
        cursor = first if cursor is None else max(cursor, first)
        placed = []
        for length in items:
            placed.append(cursor)
            cursor = cursor + length
        starts.append(placed)
    return starts


def along_timeline(
    positions: Positions, input_lengths: Positions, input_starts: Positions, first: Any
) -> Positions:
    """Where GPT-Live output at session-timeline `positions` plays: where the input audio at
    that timeline position plays (`input_lengths` and `input_starts` of the placed input
    chunks), in real time past its end; at `first` + position without input audio."""
    if len(input_lengths) == 0:
        return first + positions
    before = np.cumsum(input_lengths) - input_lengths
    index = np.maximum(np.searchsorted(before, positions, side="right") - 1, 0)
    return input_starts[index] + (positions - before[index])


def heard_length(length: Number, heard: Number | None) -> Number:
    """How much of an item's `length` was heard, given where it was cut (None: all)."""
    return length if heard is None else max(min(length, heard), length * 0)


class Cuts:
    """Where each output item was cut (`audio_end_ms`), as the truncation events say."""

    def __init__(self) -> None:
        self._server: dict[str, float] = {}
        self._client: dict[str, float] = {}

    def feed(self, frame: Frame) -> bool | None:
        """Take a frame: None when it is no truncation, False for one without an `item_id` and
        an `audio_end_ms` >= 0 (ignored), True for one taken."""
        if frame.type == vocab.ITEM_TRUNCATED and frame.direction == "server":
            cuts = self._server
        elif frame.type == vocab.ITEM_TRUNCATE and frame.direction == "client":
            cuts = self._client
        else:
            return None
        heard_ms = _milliseconds((frame.event or {}).get("audio_end_ms"))
        if frame.item_id is None or heard_ms is None:
            return False
        cuts[frame.item_id] = heard_ms
        return True

    def heard_ms(self, item_id: str) -> float | None:
        """Where the item was cut: the server's word, else the client's; None: not cut."""
        return self._server.get(item_id, self._client.get(item_id))


def _milliseconds(value: object) -> float | None:
    """A time in ms: a number from 0 to 1e12 (a hostile file may hold anything)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1e12:
        return float(value)
    return None
