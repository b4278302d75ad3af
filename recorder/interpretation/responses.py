"""Which response each frame belongs to, what started each response, and its metrics (pure).

The rules (CONTRACT §3 and §4.1), each stated once:

Attribution. A frame belongs to the response its `response_id` names; else, for a server
`response.*` event, the `id` of its `response`; else the response that produced the item it
names (`item_id`, or the `id` of its `item`: learnt from the server frames that named both).
Only string ids count (a hostile file may put a list where an id belongs). A
`rate_limits.updated` belongs to no response. With several responses in flight, every delta
goes to the response it names, never to "the latest".

A response exists from the first server frame that belongs to it (its `response.created`, in
every recording seen so far); `seq` is that frame's number.

Trigger. Candidates are the client `response.create`s and the server `speech_stopped`s and
`timeout_triggered`s that no earlier response claimed. A response claims, when it appears:
the latest candidate `response.create` whose `metadata` equals the response's `metadata`, if
any; else, for an out-of-band response (`conversation_id` null), the latest candidate
`response.create` that asked for `conversation: "none"`, else the latest `response.create`; else,
for a default-conversation response (`conversation_id` a string), the latest candidate that is
not an out-of-band request; else (no `conversation_id` at all: beta) the latest candidate.

Kind. `out_of_band` when its `conversation_id` is null or it claimed an out-of-band request;
`idle_timeout` when its trigger is a `timeout_triggered`; else `turn`.

What it said: the transcript and text deltas of each content part, in the order the parts began;
a part's full text (its `.done` event, or its item in `response.output_item.done`,
`conversation.item.*` or `response.done`) replaces its deltas. Calls: each function or MCP call
item, with the name, arguments and call id its events give.

Metrics (ms, rounded to µs; None when a part is missing, or when it would be negative because
the recorded clock went back):
- ttfb: first output audio delta (else, with no delta at all, the first
  `output_audio_buffer.started`: `ttfb_source` "playback") minus the trigger's `t`;
- ttft: first output delta of any kind (audio, text, transcript, function or MCP arguments);
- duration: `response.done` minus `response.created`;
- voice-to-voice (only `turn` responses triggered by `speech_stopped`): first audio minus the
  `t` of the client append whose audio covers the `audio_end_ms` of that `speech_stopped` (a
  running total of the appended audio, each append measured in the input format in effect);
- ttfb_final / voice_to_voice_final: the same to the first audio of an item whose `phase` is
  `final_answer` (phases come from the items of `response.output_item.*`,
  `conversation.item.*` and `response.done`); when no item has a phase, equal to ttfb and
  voice-to-voice; `preamble_audio_ms`: the audio of `commentary` items (0 when none);
- audio_out_ms: output audio bytes at the response's output format.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recorder import vocabulary as vocab
from recorder.interpretation.facts import ResponseFacts, ToolCall
from recorder.interpretation.formats import AudioFormats
from recorder.interpretation.frame import Frame
from recorder.interpretation.usage import TokenUsage
from recorder.vocabulary import AudioFormat

TURN = "turn"
OUT_OF_BAND = "out_of_band"
IDLE_TIMEOUT = "idle_timeout"
KINDS = (TURN, OUT_OF_BAND, IDLE_TIMEOUT)

TIMEOUT_TRIGGERED = "input_audio_buffer.timeout_triggered"
PLAYBACK_STARTED = "output_audio_buffer.started"
FINAL_ANSWER = "final_answer"
COMMENTARY = "commentary"
_ITEM_EVENTS = frozenset(
    {
        "response.output_item.added",
        "response.output_item.done",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.retrieved",
    }
)
_TEXT_DONE = {
    "response.output_audio_transcript.done": "transcript",
    "response.output_text.done": "text",
}
_CALL_DONE = frozenset(
    {"response.function_call_arguments.done", "response.mcp_call_arguments.done"}
)
_CALL_ITEMS = frozenset({"function_call", "mcp_call"})


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value >= 0 else None


def _index(value: object) -> int:
    """A `content_index`: a whole number, else part 0 (a hostile file may put anything there)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _ms(later: float | None, earlier: float | None) -> float | None:
    """Milliseconds from `earlier` to `later`; None when either is unknown or the recorded clock
    went back between them (a latency is never negative)."""
    if later is None or earlier is None or later < earlier:
        return None
    return round((later - earlier) * 1000, 3)


@dataclass
class _Trigger:
    type: str
    t: float
    audio_end_ms: float | None = None
    metadata: Mapping[str, Any] | None = None
    request: Mapping[str, Any] | None = None  # a response.create's `response` parameters
    out_of_band: bool = False  # a response.create that asked for conversation "none"


@dataclass
class _Item:
    phase: str | None = None
    first_audio_t: float | None = None
    audio_bytes: int = 0


@dataclass
class _Response:
    response_id: str
    number: int
    seq: int
    output_format: AudioFormat
    trigger: _Trigger | None = None
    out_of_band: bool = False
    kind: str = TURN  # fixed when the response appears (its trigger and conversation are)
    created: Mapping[str, Any] | None = None
    created_t: float | None = None
    done: Mapping[str, Any] | None = None
    done_t: float | None = None
    done_seq: int | None = None
    first_audio_t: float | None = None
    first_playback_t: float | None = None
    first_delta_t: float | None = None
    audio_bytes: int = 0
    items: dict[str, _Item] = field(default_factory=dict)
    parts: dict[tuple[Any, ...], str] = field(default_factory=dict)
    calls: dict[str, ToolCall] = field(default_factory=dict)

    def item(self, item_id: str | None) -> _Item:
        return self.items.setdefault(item_id or "", _Item())


class ResponseTracker:
    """Responses of one session, fed the session's frames in order (see the module docstring)."""

    def __init__(self, formats: AudioFormats) -> None:
        self._formats = formats
        self._responses: dict[str, _Response] = {}
        self._item_response: dict[str, str] = {}
        self._phases: dict[str, str] = {}  # item id -> phase, whoever named it
        self._candidates: list[_Trigger] = []
        # the input audio timeline: where each append ends (ms of audio so far), and its time
        self._append_ends: list[float] = []
        self._append_ts: list[float] = []
        self.appended_ms = 0.0

    # -- attribution ---------------------------------------------------------------------------

    def attribute(
        self, direction: str, ctype: str, event: Mapping[str, Any]
    ) -> tuple[str | None, str | None]:
        """(response id, item id) of one event, by the attribution rule."""
        response_id = _str(event.get("response_id"))
        item = event.get("item")
        item_id = _str(event.get("item_id"))
        if item_id is None and isinstance(item, Mapping):
            item_id = _str(item.get("id"))
        if response_id is None and direction == "server" and ctype.startswith("response."):
            response = event.get("response")
            if isinstance(response, Mapping):
                response_id = _str(response.get("id"))
        if item_id is not None:
            if response_id is None:
                response_id = self._item_response.get(item_id)
            elif direction == "server":
                self._item_response[item_id] = response_id
        return response_id, item_id

    # -- client frames ---------------------------------------------------------------------------

    def appended(self, t: float, ms: float) -> None:
        """A client append of `ms` milliseconds of audio at `t` (the input audio timeline)."""
        self.appended_ms += ms
        self._append_ends.append(self.appended_ms)
        self._append_ts.append(t)

    def client_frame(self, frame: Frame) -> None:
        event = frame.event
        if event is None:
            return
        if frame.type == vocab.RESPONSE_CREATE:
            request = event.get("response")
            request = request if isinstance(request, Mapping) else None
            metadata = request.get("metadata") if request is not None else None
            self._candidates.append(
                _Trigger(
                    vocab.RESPONSE_CREATE,
                    frame.t,
                    metadata=metadata if isinstance(metadata, Mapping) and metadata else None,
                    request=request,
                    out_of_band=request is not None and request.get("conversation") == "none",
                )
            )

    # -- server frames ---------------------------------------------------------------------------

    def server_frame(self, frame: Frame) -> None:
        """Account for a server frame (its `response_id` already attributed)."""
        event = frame.event
        ctype = frame.type
        if event is None or ctype is None:
            return
        if ctype in (vocab.SPEECH_STOPPED, TIMEOUT_TRIGGERED):
            self._candidates.append(
                _Trigger(ctype, frame.t, audio_end_ms=_number(event.get("audio_end_ms")))
            )
        if ctype in _ITEM_EVENTS:
            self._remember_phase(event.get("item"))
        response_id = frame.response_id
        if response_id is None:
            return
        response = self._responses.get(response_id)
        if response is None:
            response = self._open(response_id, frame)
        frame.response_kind = response.kind
        if ctype == vocab.RESPONSE_CREATED and response.created is None:
            created = event.get("response")
            response.created = created if isinstance(created, Mapping) else {}
            response.created_t = frame.t
        elif ctype == vocab.RESPONSE_DONE:
            self._done(response, frame, event)
        elif ctype == vocab.AUDIO_DELTA:
            frame.audio_format = response.output_format
            response.audio_bytes += frame.audio_bytes
            item = response.item(frame.item_id)
            item.audio_bytes += frame.audio_bytes
            if item.first_audio_t is None:
                item.first_audio_t = frame.t
            if response.first_audio_t is None:
                response.first_audio_t = frame.t
        elif ctype == PLAYBACK_STARTED and response.first_playback_t is None:
            response.first_playback_t = frame.t
        if ctype in vocab.OUTPUT_DELTAS:
            if response.first_delta_t is None:
                response.first_delta_t = frame.t
            if ctype in (vocab.TRANSCRIPT_DELTA, vocab.TEXT_DELTA):
                key = (frame.item_id, _index(event.get("content_index")))
                response.parts[key] = response.parts.get(key, "") + (_str(event.get("delta")) or "")
        elif ctype in _TEXT_DONE:
            text = _str(event.get(_TEXT_DONE[ctype]))
            if text is not None:
                response.parts[(frame.item_id, _index(event.get("content_index")))] = text
        elif ctype in _CALL_DONE:
            self._call(response, frame.item_id, event, frame.t)
        if ctype in _ITEM_EVENTS:
            named = event.get("item")
            if isinstance(named, Mapping):
                self._item(response, named, frame.t)
        item_id = frame.item_id
        if item_id is not None and self._phases:  # no phase in the session: nothing to look up
            known = response.items.get(item_id)
            frame.phase = (known.phase if known is not None else None) or self._phases.get(item_id)

    def _remember_phase(self, item: object) -> None:
        """An item's phase, kept by item id: a `conversation.item.added` may name it before any
        frame has tied the item to its response."""
        if isinstance(item, Mapping):
            item_id, phase = _str(item.get("id")), _str(item.get("phase"))
            if item_id is not None and phase is not None:
                self._phases[item_id] = phase

    def _open(self, response_id: str, frame: Frame) -> _Response:
        event = frame.event or {}
        created = event.get("response") if frame.type == vocab.RESPONSE_CREATED else None
        created = created if isinstance(created, Mapping) else None
        trigger = self._claim(created)
        response = _Response(
            response_id,
            number=len(self._responses) + 1,
            seq=frame.number,
            output_format=self._formats.for_response(
                created, trigger.request if trigger is not None else None
            ),
            trigger=trigger,
            out_of_band=_conversation(created) == "none"
            or (trigger is not None and trigger.out_of_band),
        )
        response.kind = _kind(response)
        self._responses[response_id] = response
        return response

    def _claim(self, created: Mapping[str, Any] | None) -> _Trigger | None:
        candidates = self._candidates
        metadata = created.get("metadata") if created is not None else None
        if isinstance(metadata, Mapping) and metadata:
            found = _latest(candidates, lambda c: c.metadata == metadata)
            if found is not None:
                return self._take(found)
        conversation = _conversation(created)
        found = None
        if conversation == "none":
            found = _latest(candidates, lambda c: c.out_of_band) or _latest(
                candidates, lambda c: c.type == vocab.RESPONSE_CREATE
            )
        elif conversation == "default":
            found = _latest(candidates, lambda c: not c.out_of_band)
        elif candidates:
            found = candidates[-1]
        return None if found is None else self._take(found)

    def _take(self, trigger: _Trigger) -> _Trigger:
        self._candidates.remove(trigger)
        return trigger

    def _done(self, response: _Response, frame: Frame, event: Mapping[str, Any]) -> None:
        done = event.get("response")
        response.done = done if isinstance(done, Mapping) else {}
        response.done_t = frame.t
        response.done_seq = frame.number
        output = response.done.get("output")
        for item in output if isinstance(output, list) else ():
            if not isinstance(item, Mapping):
                continue
            item_id = _str(item.get("id"))
            if item_id is not None:
                self._item_response.setdefault(item_id, response.response_id)
            self._remember_phase(item)
            self._item(response, item, frame.t)

    def _item(self, response: _Response, item: Mapping[str, Any], t: float) -> None:
        """What an item tells: its phase, the call it is, the text of its parts (a part's full
        text replaces its deltas, as a `.done` event's does)."""
        item_id = _str(item.get("id"))
        phase = _str(item.get("phase"))
        if phase is not None and item_id is not None:
            response.item(item_id).phase = phase
        if _str(item.get("type")) in _CALL_ITEMS:
            if item_id is not None and (
                _str(item.get("arguments")) is not None or item_id not in response.calls
            ):
                self._call(response, item_id, item, t)
            return
        content = item.get("content")
        for index, part in enumerate(content if isinstance(content, list) else ()):
            if not isinstance(part, Mapping):
                continue
            key = (item_id, index)
            text = _str(part.get("transcript")) or _str(part.get("text"))
            if text:
                response.parts[key] = text

    def _call(
        self, response: _Response, item_id: str | None, source: Mapping[str, Any], t: float
    ) -> None:
        key = item_id or _str(source.get("call_id")) or str(len(response.calls))
        known = response.calls.get(key)
        response.calls[key] = ToolCall(
            name=_str(source.get("name")) or (known.name if known else "?"),
            call_id=_str(source.get("call_id")) or (known.call_id if known else None),
            arguments=_str(source.get("arguments")) or (known.arguments if known else ""),
            t=known.t if known else t,
        )

    # -- results ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._responses)

    def __contains__(self, response_id: object) -> bool:
        return response_id in self._responses

    def output_format(self, response_id: str | None) -> AudioFormat:
        response = self._responses.get(response_id or "")
        return response.output_format if response is not None else self._formats.output

    def number(self, response_id: str | None) -> int | None:
        response = self._responses.get(response_id or "")
        return None if response is None else response.number

    def speech_end_t(self, audio_end_ms: float) -> float | None:
        """The time of the client append whose audio covers `audio_end_ms` (the running total
        may round: the first append ending within a microsecond of it counts)."""
        index = bisect_left(self._append_ends, audio_end_ms - 1e-6)
        return self._append_ts[index] if index < len(self._append_ts) else None

    def facts(self, response_id: str) -> ResponseFacts:
        """The metrics of one response as they stand now (final once it is done)."""
        return self._facts(self._responses[response_id])

    def all_facts(self) -> list[ResponseFacts]:
        return [self._facts(response) for response in self._responses.values()]

    def _facts(self, r: _Response) -> ResponseFacts:
        trigger = r.trigger
        trigger_t = trigger.t if trigger is not None else None
        kind = r.kind
        first_audio_t, source = r.first_audio_t, "delta"
        if first_audio_t is None and r.first_playback_t is not None:
            first_audio_t, source = r.first_playback_t, "playback"
        speech_end = None
        if (
            kind == TURN
            and trigger is not None
            and trigger.type == vocab.SPEECH_STOPPED
            and trigger.audio_end_ms is not None
        ):
            speech_end = self.speech_end_t(trigger.audio_end_ms)
        for item_id, item in r.items.items():
            item.phase = item.phase or self._phases.get(item_id)
        phased = [item for item in r.items.values() if item.phase is not None]
        if phased:
            finals = [
                item.first_audio_t
                for item in phased
                if item.phase == FINAL_ANSWER and item.first_audio_t is not None
            ]
            final_t = min(finals) if finals else None
        else:
            final_t = first_audio_t
        preamble = sum(item.audio_bytes for item in phased if item.phase == COMMENTARY)
        done = r.done or {}
        status = _str(done.get("status")) or _str((r.created or {}).get("status"))
        details = done.get("status_details")
        details = details if isinstance(details, Mapping) else {}
        error = details.get("error")
        error = error if isinstance(error, Mapping) else None
        reason = _str(details.get("reason")) or (_str(error.get("code")) if error else None)
        if reason is None and r.done_t is None:
            reason = "no response.done"
        metadata = done.get("metadata") or (r.created or {}).get("metadata")
        bytes_per_ms = r.output_format.bytes_per_ms
        return ResponseFacts(
            response_id=r.response_id,
            number=r.number,
            seq=r.seq,
            kind=kind,
            status=status,
            reason=reason,
            trigger=trigger.type if trigger is not None else None,
            trigger_t=trigger_t,
            ttfb_ms=_ms(first_audio_t, trigger_t),
            ttfb_source=source if first_audio_t is not None else None,
            ttft_ms=_ms(r.first_delta_t, trigger_t),
            duration_ms=_ms(r.done_t, r.created_t),
            voice_to_voice_ms=_ms(first_audio_t, speech_end),
            ttfb_final_ms=_ms(final_t, trigger_t),
            voice_to_voice_final_ms=_ms(final_t, speech_end),
            preamble_audio_ms=round(preamble / bytes_per_ms, 3),
            audio_out_ms=round(r.audio_bytes / bytes_per_ms, 3),
            usage=TokenUsage.parse(done.get("usage")),
            created_t=r.created_t,
            done_t=r.done_t,
            done_seq=r.done_seq,
            first_audio_t=first_audio_t,
            first_delta_t=r.first_delta_t,
            metadata=metadata if isinstance(metadata, Mapping) and metadata else None,
            error=error,
            transcript=tuple(text for text in r.parts.values() if text),
            tool_calls=tuple(r.calls.values()),
            phases=tuple(item.phase for item in phased if item.phase is not None),
        )


def _kind(r: _Response) -> str:
    if r.out_of_band:
        return OUT_OF_BAND
    if r.trigger is not None and r.trigger.type == TIMEOUT_TRIGGERED:
        return IDLE_TIMEOUT
    return TURN


def _conversation(created: Mapping[str, Any] | None) -> str | None:
    """`none` (out of band), `default`, or None when the response does not say."""
    if created is None or "conversation_id" not in created:
        return None
    return "none" if created.get("conversation_id") is None else "default"


def _latest(candidates: list[_Trigger], accept: Any) -> _Trigger | None:
    for candidate in reversed(candidates):
        if accept(candidate):
            return candidate
    return None
