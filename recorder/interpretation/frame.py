"""One frame of a session as every reader sees it: the record, annotated once (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from recorder.vocabulary import AudioFormat

Direction = Literal["client", "server"]
NO_TYPE = "(no type)"  # an event object without a string `type`
TEXT_FRAME = "(text)"  # a text frame that is not a JSON object
BINARY_FRAME = "(binary)"


@dataclass(slots=True)
class Frame:
    """A frame record with what the one interpretation of its session says about it.

    - `number`: the frame's number in its file: its `seq` when that is a whole number above the
      previous frame's, else the previous number + 1 (hand-written files without `seq`);
    - `t`: seconds since the session started (never less than an earlier frame's: a `t` that
      goes backwards is read as the latest `t` seen, with a warning);
    - `type`: the canonical (GA) event type, `raw_type` the type as recorded; both None for a
      text or binary frame, and `type` is `(no type)` for an event without a string type;
    - `response_id`: the response the frame belongs to (`Interpreter` states the one rule);
    - `item_id`: the conversation item it names (`item_id`, or the `id` of its `item`);
    - `audio_format`/`audio_bytes`: for audio (a client append, an output audio delta), the
      format in effect for it and the decoded size of its base64 payload;
    - `response_kind`: the kind of the response it belongs to (`turn`, `out_of_band`,
      `idle_timeout`: fixed when the response appears);
    - `phase`: the phase of the output item it names (`commentary`, `final_answer`), as far as
      it is known when the frame arrives.
    """

    line: int
    number: int
    t: float
    direction: Direction
    type: str | None
    raw_type: str | None
    event: Mapping[str, Any] | None
    response_id: str | None = None
    item_id: str | None = None
    audio_format: AudioFormat | None = None
    audio_bytes: int = 0
    text: str | None = None  # the payload of a text frame that is not a JSON object
    binary: str | None = None  # the base64 payload of a binary frame
    response_kind: str | None = None
    phase: str | None = None

    @property
    def audio_ms(self) -> float:
        """Milliseconds of audio in the frame (0 when it carries none)."""
        if self.audio_format is None or not self.audio_bytes:
            return 0.0
        return self.audio_bytes / self.audio_format.bytes_per_ms

    @property
    def label(self) -> str:
        """The type, or what kind of frame it is when it holds no event."""
        if self.type is not None:
            return self.type
        return TEXT_FRAME if self.text is not None else BINARY_FRAME


def base64_size(data: object) -> int:
    """The decoded size of base64 text, without decoding it (0 for anything but a string)."""
    if not isinstance(data, str):
        return 0
    end = len(data)
    while end and data[end - 1] == "=":
        end -= 1
    return end * 3 // 4
