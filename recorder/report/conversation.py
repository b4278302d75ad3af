"""What was said in a session, turn by turn, and when each response began and ended (pure).

    ConversationCollector().feed(line, record) ... .finish() -> Conversation

The server is the source for both sides: it echoes every user item (`conversation.item.added`,
beta `conversation.item.created`) whether the client typed it or spoke it, so nothing is
counted twice. Assistant text comes from the transcript and text deltas of each response,
replaced by the full text of their `.done` events and of `response.done` where those carry it
(a cancelled response often has no `.done` at all, so the deltas are kept). Everything here
is untrusted text from the wire: it is escaped where it is rendered, never here.

A turn is placed where a listener hears it begin, so a click on it plays it: a spoken user
turn at its `speech_started` (server VAD) or else the first append of the audio its commit
took; an assistant turn at its first output delta.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recorder.vocabulary import (
    AUDIO_APPEND,
    OUTPUT_DELTAS,
    RESPONSE_CREATED,
    RESPONSE_DONE,
    SPEECH_STARTED,
    TEXT_DELTA,
    TRANSCRIPT_DELTA,
    canonical,
)

ITEM_ADDED = "conversation.item.added"
TRANSCRIPTION_DELTA = "conversation.item.input_audio_transcription.delta"
TRANSCRIPTION_COMPLETED = "conversation.item.input_audio_transcription.completed"
TRANSCRIPTION_FAILED = "conversation.item.input_audio_transcription.failed"
TEXT_DONE = "response.output_text.done"
TRANSCRIPT_DONE = "response.output_audio_transcript.done"
OUTPUT_ITEM_DONE = "response.output_item.done"
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
    """Feed it a session's records in order; `finish()` gives the conversation."""

    def __init__(self) -> None:
        self._user: dict[str, _Parts] = {}  # item id -> what the user typed or said
        self._user_roles: dict[str, str] = {}  # item id -> USER or FUNCTION_OUTPUT
        self._responses: dict[str, _Parts] = {}
        self._calls: dict[str, tuple[float, str, str]] = {}  # item id -> (t, response, text)
        self._created: dict[str, float] = {}
        self._first_output: dict[str, float] = {}
        self._done: dict[str, float] = {}
        self._buffer_start: float | None = None  # first append since the last commit or clear
        self._speech_started: dict[str, float] = {}  # item id -> t
        self._spoken_from: dict[str, float] = {}  # item id -> where its audio began

    def feed(self, line: int, record: Mapping[str, Any]) -> None:
        event = record.get("event")
        if record.get("kind") != "frame" or not isinstance(event, Mapping):
            return
        if not isinstance(event.get("type"), str):
            return
        t = _number(record.get("t")) or 0.0
        name = canonical(event["type"])
        if record.get("from") == "client":
            if name == AUDIO_APPEND and self._buffer_start is None:
                self._buffer_start = t
            return
        if name in OUTPUT_DELTAS:
            response_id = _text(event.get("response_id"))
            if response_id:
                self._first_output.setdefault(response_id, t)
        if name == SPEECH_STARTED:
            self._speech_started[_text(event.get("item_id"))] = t
        elif name in (COMMITTED, CLEARED):
            item_id = _text(event.get("item_id"))
            start = self._speech_started.get(item_id, self._buffer_start)
            if name == COMMITTED and item_id and start is not None:
                self._spoken_from[item_id] = start
            self._buffer_start = None
        elif name == ITEM_ADDED:
            self._on_item(t, _mapping(event.get("item")))
        elif name in (TRANSCRIPTION_DELTA, TRANSCRIPTION_COMPLETED, TRANSCRIPTION_FAILED):
            self._on_transcription(t, name, event)
        elif name == RESPONSE_CREATED:
            response_id = _text(_mapping(event.get("response")).get("id"))
            if response_id:
                self._created.setdefault(response_id, t)
                self._response(response_id, t)
        elif name in (TRANSCRIPT_DELTA, TEXT_DELTA):
            self._on_delta(t, event)
        elif name in (TRANSCRIPT_DONE, TEXT_DONE):
            self._on_text_done(t, name, event)
        elif name == OUTPUT_ITEM_DONE:
            self._on_output_item(t, _text(event.get("response_id")), _mapping(event.get("item")))
        elif name == RESPONSE_DONE:
            self._on_response_done(t, _mapping(event.get("response")))

    def finish(self) -> Conversation:
        turns = [
            Turn(parts.t, role, parts.joined() or (SPOKEN if role == USER else "(empty)"))
            for item_id, parts in self._user.items()
            for role in (self._user_roles[item_id],)
        ]
        turns += [
            Turn(
                self._first_output.get(response_id, parts.t), ASSISTANT, parts.joined(), response_id
            )
            for response_id, parts in self._responses.items()
            if parts.joined()
        ]
        turns += [
            Turn(t, FUNCTION_CALL, text, rid or None) for t, rid, text in self._calls.values()
        ]
        times = {
            rid: ResponseTimes(self._created.get(rid), self._done.get(rid))
            for rid in {*self._created, *self._done}
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

    # -- responses ------------------------------------------------------------------------------

    def _response(self, response_id: str, t: float) -> _Parts:
        if response_id not in self._responses:
            self._responses[response_id] = _Parts(t)
        return self._responses[response_id]

    def _on_delta(self, t: float, event: Mapping[str, Any]) -> None:
        response_id = _text(event.get("response_id"))
        if response_id:
            self._response(response_id, t).add(_part_key(event), _text(event.get("delta")))

    def _on_text_done(self, t: float, name: str, event: Mapping[str, Any]) -> None:
        response_id = _text(event.get("response_id"))
        if response_id:
            text = event.get("text") if name == TEXT_DONE else event.get("transcript")
            self._response(response_id, t).set(_part_key(event), _text(text))

    def _on_output_item(self, t: float, response_id: str, item: Mapping[str, Any]) -> None:
        item_id = _text(item.get("id"))
        if item.get("type") == FUNCTION_CALL and item_id:
            call = f"{_text(item.get('name')) or 'function'}({_text(item.get('arguments'))})"
            first_t = self._calls[item_id][0] if item_id in self._calls else t
            self._calls[item_id] = (first_t, response_id, call)
        elif item.get("type") == "message" and item_id and response_id:
            parts = self._response(response_id, t)
            for index, content in enumerate(_list(item.get("content"))):
                part = _mapping(content)
                text = part.get("transcript") if part.get("transcript") else part.get("text")
                parts.set((item_id, str(index)), _text(text))

    def _on_response_done(self, t: float, response: Mapping[str, Any]) -> None:
        response_id = _text(response.get("id"))
        if not response_id:
            return
        self._done.setdefault(response_id, t)
        for item in _list(response.get("output")):
            self._on_output_item(t, response_id, _mapping(item))


def _part_key(event: Mapping[str, Any]) -> tuple[str, ...]:
    return (_text(event.get("item_id")), str(event.get("content_index", 0)))


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
