"""What was said in a session, turn by turn, and when each response began and ended (pure).

    collector = ConversationCollector()
    collector.feed(frame) ...            # the frames of one Interpreter, in order
    collector.finish(interpreter.finish()) -> Conversation

The server is the source for both sides: it echoes every user item (`conversation.item.added`,
beta `conversation.item.created`) whether the client typed it or spoke it, so nothing is
counted twice. What the assistant said, its calls and the times of each response are the
interpretation's (`ResponseFacts.transcript`, `.tool_calls`), the same words `rt diff` and
`rt check` compare. Everything here is untrusted text from the wire: it is escaped where it
is rendered, never here.

A turn is placed where a listener hears it begin, so a click on it plays it: a spoken user
turn at its `speech_started` (server VAD) or else the first append of the audio its commit
took (GPT-Live: where its utterance plays in the mix); an assistant turn at its first output
delta.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recorder.interpretation import Frame, SessionFacts
from recorder.vocabulary import AUDIO_APPEND, SPEECH_STARTED

ITEM_ADDED = "conversation.item.added"
TRANSCRIPTION_DELTA = "conversation.item.input_audio_transcription.delta"
TRANSCRIPTION_COMPLETED = "conversation.item.input_audio_transcription.completed"
TRANSCRIPTION_FAILED = "conversation.item.input_audio_transcription.failed"
COMMITTED = "input_audio_buffer.committed"
CLEARED = "input_audio_buffer.cleared"

USER = "user"
ASSISTANT = "assistant"
FUNCTION_CALL = "function_call"
FUNCTION_OUTPUT = "function_output"
SPOKEN = "(spoken, not transcribed)"


@dataclass(frozen=True)
class Turn:
    """One thing said or done: by the user, the assistant, or a function call and its output."""

    t: float
    role: str  # USER, ASSISTANT, FUNCTION_CALL or FUNCTION_OUTPUT
    text: str
    response_id: str | None = None


@dataclass(frozen=True)
class ResponseTimes:
    created_t: float | None
    done_t: float | None


@dataclass(frozen=True)
class Conversation:
    turns: tuple[Turn, ...]
    responses: Mapping[str, ResponseTimes]


@dataclass
class _Parts:
    """The text of one response or user item, piece by piece in the order pieces appeared."""

    t: float
    text: dict[tuple[str, ...], str] = field(default_factory=dict)

    def add(self, key: tuple[str, ...], delta: str) -> None:
        self.text[key] = self.text.get(key, "") + delta

    def set(self, key: tuple[str, ...], text: str) -> None:
        if text or key not in self.text:
            self.text[key] = text

    def joined(self) -> str:
        return " ".join(piece.strip() for piece in self.text.values() if piece.strip())


class ConversationCollector:
    """Feed it a session's frames in order; `finish(facts)` gives the conversation."""

    def __init__(self) -> None:
        self._user: dict[str, _Parts] = {}  # item id -> what the user typed or said
        self._user_roles: dict[str, str] = {}  # item id -> USER or FUNCTION_OUTPUT
        self._buffer_start: float | None = None  # first append since the last commit or clear
        self._speech_started: dict[str, float] = {}  # item id -> t
        self._spoken_from: dict[str, float] = {}  # item id -> where its audio began

    def feed(self, frame: Frame) -> None:
        event = frame.event
        if event is None or frame.raw_type is None:
            return
        t = frame.t
        name = frame.type
        if frame.direction == "client":
            if name == AUDIO_APPEND and self._buffer_start is None:
                self._buffer_start = t
            return
        if name == SPEECH_STARTED:
            self._speech_started[_text(event.get("item_id"))] = t
        elif name in (COMMITTED, CLEARED):
            item_id = _text(event.get("item_id"))
            start = self._speech_started.get(item_id, self._buffer_start)
            if name == COMMITTED and item_id and start is not None:
                self._spoken_from[item_id] = start
            self._buffer_start = None
        elif name == ITEM_ADDED and frame.response_id is None:
            self._on_item(t, _mapping(event.get("item")))
        elif name in (TRANSCRIPTION_DELTA, TRANSCRIPTION_COMPLETED, TRANSCRIPTION_FAILED):
            self._on_transcription(t, name, event)

    def finish(self, facts: SessionFacts) -> Conversation:
        turns = [
            Turn(parts.t, role, parts.joined() or (SPOKEN if role == USER else "(empty)"))
            for item_id, parts in self._user.items()
            for role in (self._user_roles[item_id],)
        ]
        if facts.live is not None:  # GPT-Live: what the user said, from the input transcripts
            turns += [Turn(u.t, USER, u.text or SPOKEN) for u in facts.live.utterances]
        played_at = dict(facts.live.turns_played_at) if facts.live is not None else {}
        for response in facts.responses:
            text = " ".join(part.strip() for part in response.transcript if part.strip())
            if text:
                t = played_at.get(response.response_id, response.first_delta_t)
                if t is None:
                    t = response.created_t if response.created_t is not None else 0.0
                turns.append(Turn(t, ASSISTANT, text, response.response_id))
            turns += [
                Turn(call.t, FUNCTION_CALL, f"{call.name}({call.arguments})", response.response_id)
                for call in response.tool_calls
            ]
        times = {
            r.response_id: ResponseTimes(r.created_t, r.done_t)
            for r in facts.responses
            if r.created_t is not None or r.done_t is not None
        }
        # the sort is stable: at the same moment, user before assistant before function call
        return Conversation(tuple(sorted(turns, key=lambda turn: turn.t)), times)

    # -- user items ----------------------------------------------------------------------------

    def _on_item(self, t: float, item: Mapping[str, Any]) -> None:
        item_id = _text(item.get("id"))
        kind = item.get("type")
        if not item_id or item_id in self._user:
            return
        if kind == "function_call_output":
            parts = self._user[item_id] = _Parts(t)
            self._user_roles[item_id] = FUNCTION_OUTPUT
            parts.set(("output",), _text(item.get("output")))
        elif kind == "message" and item.get("role") == USER:
            parts = self._user[item_id] = _Parts(self._spoken_from.get(item_id, t))
            self._user_roles[item_id] = USER
            for index, content in enumerate(_list(item.get("content"))):
                part = _mapping(content)
                text = part.get("text") if part.get("type") == "input_text" else None
                parts.set(
                    (str(index),), _text(text if text is not None else part.get("transcript"))
                )

    def _on_transcription(self, t: float, name: str, event: Mapping[str, Any]) -> None:
        item_id = _text(event.get("item_id"))
        if not item_id:
            return
        if item_id not in self._user:
            self._user[item_id] = _Parts(t)
            self._user_roles[item_id] = USER
        parts = self._user[item_id]
        key = (str(event.get("content_index", 0)),)
        if name == TRANSCRIPTION_DELTA:
            parts.add(key, _text(event.get("delta")))
        elif name == TRANSCRIPTION_COMPLETED:
            parts.set(key, _text(event.get("transcript")))
        else:
            message = _text(_mapping(event.get("error")).get("message")) or "no reason given"
            parts.set(key, f"(transcription failed: {message})")


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
