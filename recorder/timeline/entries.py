"""A session as a readable timeline (pure: records in, entries out, no I/O).

    timeline = Timeline()                 # Timeline(collapse=False): every frame on its own line
    for line, record in records:          # (line, record) pairs, from recorder.reading
        for item in timeline.feed(line, record):
            ...                           # a SessionHeader (once), then Entry after Entry
    for item in timeline.finish():
        ...

The timeline reads its records through the one `Interpreter` (`timeline.interpreter`), so each
line shows what every other command says about the frame: its canonical type (beta recordings
read like GA ones), the response it belongs to and that response's number (r1, r2… in order of
appearance), the audio it carries in the format in effect, the model in the header.

What the timeline itself does:

- collapsing: the audio deltas of one response, the transcript or text deltas of one content
  part, the argument deltas of one function call and the deltas of one user transcription each
  become one entry, the text assembled; the `.done` event that ends them is folded in. A run of
  `input_audio_buffer.append` becomes one entry; any other line ends the run. The translation
  endpoint's appends, translated audio and transcripts collapse the same way;
- what the interpretation says about responses (CONTRACT §4.1): the audio of a response whose
  items have phases is one entry per phase, marked `preamble` (`commentary`) or `final answer`,
  and so are transcripts and texts of phased items; `response.created` and `response.done` of
  an out-of-band or idle-timeout response say so, and the `response.done` of a response with
  phases gives its ttfb and the final answer's;
- order: entries come out in the order of their first frame. A collapsed entry holds back the
  entries after it until it is complete (its `.done`, its `response.done`, 5 s of session time
  without a new delta, or the end), so a follower prints the same timeline as `rt show`, a
  little later. The header waits until the model is known (the server's first session
  message, a response, the close, 5 s of session time, or the end), so it names the same
  model as `rt stats`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from recorder import vocabulary as vocab
from recorder.interpretation import TURN, Frame, Interpreter, base64_size
from recorder.interpretation.energy import audible_ms
from recorder.interpretation.interpreter import OnWarning
from recorder.interpretation.layout import LIVE_APPEND, LIVE_AUDIO_DELTA
from recorder.interpretation.live import (
    INPUT_TRANSCRIPT,
    OUTPUT_TRANSCRIPT,
    RESPONSE_EVENT,
    UTTERANCE_GAP_MS,
)
from recorder.interpretation.responses import COMMENTARY, FINAL_ANSWER
from recorder.interpretation.translation import TRANSLATION_APPEND
from recorder.timeline.describe import (
    Severity,
    clip,
    count,
    describe_close,
    describe_event,
    one_line,
    quote,
    seconds,
)
from recorder.timeline.live import (
    DELEGATION_ENDS,
    delegated_usage,
    delegation_summary,
    live_span,
    speech_summary,
)
from recorder.vocabulary import PCM16

Source = Literal["client", "server", "proxy"]
IDLE_CLOSE_S = 5.0  # a collapsed entry with no new delta for this long (session time) is complete


@dataclass(frozen=True)
class SessionHeader:
    """What the connection was, as the interpretation says."""

    session_id: str | None
    started_at: str | None
    upstream: str | None
    path: str | None
    model: str | None
    subprotocol: str | None
    opened_t: float | None  # when the upstream handshake finished; None without an `open` line
    protocol: str = "realtime"
    transport: str = "websocket"


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: a frame, a collapsed run of frames, or a record of the proxy.

    `type` is the canonical event type (for a collapsed entry, its delta type); proxy records
    are `open`, `close` and `proxy error`. `types` holds every canonical type folded in.
    """

    t: float
    source: Source
    type: str
    summary: str
    seq: int | None = None
    response_id: str | None = None
    response_number: int | None = None
    item_id: str | None = None
    severity: Severity = "info"
    frames: int = 1
    collapsed: bool = False
    end_t: float | None = None
    types: frozenset[str] = frozenset()
    event: Mapping[str, Any] | None = None  # the event of a one-frame entry
    response_kind: str | None = None  # turn | out_of_band | idle_timeout (CONTRACT §4.1)
    phase: str | None = None  # the output item's phase: commentary | final_answer


TimelineItem = SessionHeader | Entry


# -- collapsing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RunSpec:
    kind: str
    delta: str  # canonical type of the frames that are collapsed
    done: str | None  # canonical type of the event that completes the run (folded in)
    done_text: str | None  # the field of that event holding the whole text
    ends_with_response: bool


_RUN_SPECS = (
    _RunSpec("audio", vocab.AUDIO_DELTA, "response.output_audio.done", None, True),
    _RunSpec(
        "transcript",
        vocab.TRANSCRIPT_DELTA,
        "response.output_audio_transcript.done",
        "transcript",
        True,
    ),
    _RunSpec("text", vocab.TEXT_DELTA, "response.output_text.done", "text", True),
    _RunSpec(
        "arguments",
        vocab.FUNCTION_ARGUMENTS_DELTA,
        "response.function_call_arguments.done",
        "arguments",
        True,
    ),
    _RunSpec(
        "arguments",
        vocab.MCP_ARGUMENTS_DELTA,
        "response.mcp_call_arguments.done",
        "arguments",
        True,
    ),
    _RunSpec(
        "user transcript",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "transcript",
        False,
    ),
    _RunSpec("appends", vocab.AUDIO_APPEND, None, None, False),
    # GPT-Live: input like appends, output folded into runs of silence and of speech, what each
    # side said as one line per utterance, a delegated Responses call as one line; the
    # translation endpoint's output audio and transcripts have the same names and read the same
    _RunSpec("appends", LIVE_APPEND, None, None, False),
    _RunSpec("appends", TRANSLATION_APPEND, None, None, False),
    _RunSpec("output audio", LIVE_AUDIO_DELTA, None, None, False),
    _RunSpec("user speech", INPUT_TRANSCRIPT, None, None, False),
    _RunSpec("assistant speech", OUTPUT_TRANSCRIPT, None, None, False),
    _RunSpec("delegation", RESPONSE_EVENT, None, None, False),
)
_STREAMS = frozenset({"appends", "output audio"})  # audio runs, ended by any other line
_SPEECH = frozenset({"user speech", "assistant speech"})
PHASE_LABELS = {COMMENTARY: "preamble", FINAL_ANSWER: "final answer"}
_SPEC_BY_DELTA = {spec.delta: spec for spec in _RUN_SPECS}
# runs a new run of these kinds completes: the other side's speech, the other audibility
_ENDED_BY: dict[str, tuple[str, ...]] = {
    "output audio": ("output audio",),
    "user speech": ("assistant speech", "user speech"),
    "assistant speech": ("user speech", "assistant speech"),
}
_SPEC_BY_DONE = {spec.done: spec for spec in _RUN_SPECS if spec.done is not None}


def _run_key(
    spec: _RunSpec, event: Mapping[str, Any], response_id: str | None, phase: str | None = None
) -> tuple[Any, ...]:
    if spec.kind == "appends":
        return (spec.delta,)
    if spec.kind == "delegation":
        return (spec.delta, _str(event.get("delegation_id")))
    # Only scalars from the event: a hostile file may put a list where an id belongs.
    item_id = _str(event.get("item_id"))
    if spec.kind == "audio":  # one line per response (and phase), whatever items carry it
        return (spec.delta, response_id or item_id, phase)
    if spec.kind == "arguments":
        return (spec.delta, response_id, item_id or _str(event.get("call_id")))
    index = event.get("content_index")
    return (spec.delta, response_id, item_id, index if isinstance(index, int) else None)


@dataclass
class _Run:
    """A collapsed entry being assembled."""

    spec: _RunSpec
    key: tuple[Any, ...]
    t: float
    seq: int | None
    source: Source
    response_id: str | None
    response_number: int | None
    item_id: str | None
    last_t: float
    response_kind: str | None = None
    phase: str | None = None
    count: int = 0
    size: int = 0  # decoded audio bytes
    audio_ms: float = 0.0
    parts: list[str] = field(default_factory=list)
    final_text: str | None = None
    name: str | None = None
    call_id: str | None = None
    types: set[str] = field(default_factory=set)
    complete: bool = False
    audible: bool = False  # GPT-Live output: a run of speech (else of silence)
    span: tuple[float, float] | None = None  # GPT-Live speech: its span on the session timeline
    usage: str | None = None  # a delegated Responses call's model and tokens

    def add(self, frame: Frame, event: Mapping[str, Any]) -> None:
        self.count += 1
        self.last_t = frame.t
        self.types.add(self.spec.delta)
        if self.spec.kind in ("audio", "appends", "output audio"):
            self.size += frame.audio_bytes
            self.audio_ms += frame.audio_ms
        elif self.spec.kind == "delegation":
            self._delegated(event)
        else:
            if self.spec.kind in _SPEECH:
                self.span = live_span(self.span, event)
            delta = event.get("delta")
            if isinstance(delta, str):
                self.parts.append(delta)
            self.call_id = self.call_id or _str(event.get("call_id"))

    def _delegated(self, event: Mapping[str, Any]) -> None:
        inner = event.get("event")
        inner = inner if isinstance(inner, Mapping) else {}
        kind = _str(inner.get("type")) or "?"
        self.parts.append(kind)
        self.call_id = self.call_id or _str(event.get("delegation_id"))
        if kind in DELEGATION_ENDS:
            self.usage = delegated_usage(inner)
            self.complete = True

    def finish_with(self, ctype: str, event: Mapping[str, Any]) -> None:
        """Fold in the `.done` event that completes the run."""
        self.types.add(ctype)
        if self.spec.done_text is not None:
            self.final_text = _str(event.get(self.spec.done_text))
        self.name = self.name or _str(event.get("name"))
        self.call_id = self.call_id or _str(event.get("call_id"))
        self.complete = True

    def entry(self) -> Entry:
        span = self.last_t - self.t
        deltas = count(self.count, "delta")
        if self.spec.kind in ("audio", "appends"):
            unit = "delta" if self.spec.kind == "audio" else "append"
            summary = (
                f"{seconds(self.audio_ms)} audio · {count(self.count, unit)} over "
                f"{span:.3f} s · {self.size:,} B"
            )
        elif self.spec.kind == "output audio":
            summary = (
                f"{'speech' if self.audible else 'silence'} {seconds(self.audio_ms)} · "
                f"{count(self.count, 'delta')} over {span:.3f} s · {self.size:,} B"
            )
        elif self.spec.kind == "delegation":
            summary = delegation_summary(self.call_id, self.parts, self.usage)
        elif self.spec.kind in _SPEECH:
            summary = speech_summary("".join(self.parts), self.span, self.count)
        elif self.spec.kind == "arguments":
            arguments = "".join(self.parts) if self.parts else self.final_text or ""
            call = f"{self.name or '?'}({one_line(arguments)})"
            summary = " · ".join(x for x in (call, self.call_id, deltas) if x)
        else:
            text = "".join(self.parts) if self.parts else self.final_text or ""
            summary = f"{quote(text)} · {deltas}"
        if self.phase in PHASE_LABELS:
            summary = f"{PHASE_LABELS[self.phase]} · {summary}"
        return Entry(
            t=self.t,
            source=self.source,
            type=self.spec.delta,
            summary=summary,
            seq=self.seq,
            response_id=self.response_id,
            response_number=self.response_number,
            item_id=self.item_id,
            frames=self.count,
            collapsed=True,
            end_t=self.last_t,
            types=frozenset(self.types),
            response_kind=self.response_kind,
            phase=self.phase,
        )


class Timeline:
    """Turns records into timeline entries, incrementally (see the module docstring)."""

    def __init__(
        self,
        *,
        collapse: bool = True,
        idle_close_s: float = IDLE_CLOSE_S,
        path: str = "<session>",
        on_warning: OnWarning | None = None,
    ) -> None:
        self.collapse = collapse
        self.idle_close_s = idle_close_s
        self.interpreter = Interpreter(path, on_warning, measure_audio=False)
        self.header: SessionHeader | None = None
        self.closed = False  # a `close` record was seen
        self._header_state: Literal["none", "waiting", "done"] = "none"  # none: no session line
        self._header_from_t: float | None = None
        self._queue: deque[Entry | _Run | None] = deque()  # None: where the header goes
        self._open: dict[tuple[Any, ...], _Run] = {}
        self._item_names: dict[str, str] = {}
        self._utterances: dict[str, tuple[int, float | None]] = {}  # GPT-Live speech runs

    def feed(self, line: int, record: Mapping[str, Any]) -> list[TimelineItem]:
        """The items that are complete once `record` is read, in timeline order."""
        kind = record.get("kind")
        frame = self.interpreter.feed(line, record)
        if kind == "session":
            if self._header_state == "none":  # a file without one has no header
                self._header_state = "waiting"
                self._queue.append(None)
            return []
        if frame is not None:
            self._frame(frame)
        elif kind == "open" and self._header_state == "waiting":
            pass  # the header tells when the handshake finished
        elif kind in ("open", "close", "error"):
            self._proxy_record(kind, record)
        self._settle_header()
        return self._release()

    def finish(self) -> list[TimelineItem]:
        """Everything still held back: the end of the file (or of following it)."""
        if self._header_state == "waiting":
            self._header_state = "done"
        for run in self._open.values():
            run.complete = True
        self._open.clear()
        return self._release()

    # -- the header ----------------------------------------------------------------------------

    def _settle_header(self) -> None:
        """The header is complete once the model cannot change any more."""
        if self._header_state != "waiting":
            return
        interpreter = self.interpreter
        t = interpreter.max_t
        if self._header_from_t is None:
            self._header_from_t = t
        if (
            interpreter.connection.model_confirmed
            or len(interpreter.responses)
            or self.closed
            or t - self._header_from_t > self.idle_close_s
        ):
            self._header_state = "done"

    def _session_header(self) -> SessionHeader:
        connection = self.interpreter.connection
        return SessionHeader(
            session_id=connection.session_id,
            started_at=connection.started_at_text,
            upstream=connection.upstream,
            path=connection.path,
            model=connection.model,
            subprotocol=connection.subprotocol,
            opened_t=connection.opened_t,
            protocol=connection.protocol,
            transport=connection.transport,
        )

    # -- records -------------------------------------------------------------------------------

    def _proxy_record(self, kind: str, record: Mapping[str, Any]) -> None:
        t = self.interpreter.max_t
        if kind == "close":
            self.closed = True
            for run in self._open.values():
                run.complete = True
            self._open.clear()
            summary, severity = describe_close(record)
            entry = Entry(t, "proxy", "close", summary, severity=severity, types=frozenset({kind}))
        elif kind == "open":
            subprotocol = self.interpreter.connection.subprotocol or "none"
            entry = Entry(t, "proxy", "open", f"subprotocol {subprotocol}", types=frozenset({kind}))
        else:
            message = record.get("message")
            detail = record.get("detail")
            parts = [
                message if isinstance(message, str) else "",
                one_line(detail) if isinstance(detail, str) else "",
            ]
            summary = " · ".join(p for p in parts if p)
            entry = Entry(t, "proxy", "proxy error", summary, severity="error", types=frozenset())
        self._new_line(entry)

    def _frame(self, frame: Frame) -> None:
        source: Source = frame.direction
        event = frame.event
        if event is None or frame.type is None:
            self._close_idle(frame.t)
            text = frame.text
            summary = clip(one_line(text), 200) if text is not None else ""
            if frame.binary is not None:
                summary = f"{base64_size(frame.binary):,} B"
            self._new_line(
                Entry(
                    frame.t,
                    source,
                    frame.label,
                    summary,
                    seq=frame.number,
                    types=frozenset({frame.label}),
                )
            )
            return
        ctype = frame.type
        self._remember_item_name(event)
        self._close_idle(frame.t)
        if self.collapse and self._collapsed(frame, event):
            return
        if self.collapse and ctype == vocab.RESPONSE_DONE and frame.response_id is not None:
            self._complete_response(frame.response_id)
        summary, severity = describe_event(ctype, event, frame.audio_format or PCM16)
        if ctype in (vocab.RESPONSE_CREATED, vocab.RESPONSE_DONE) and frame.response_id:
            summary = self._response_summary(summary, ctype, frame)
        self._new_line(
            Entry(
                t=frame.t,
                source=source,
                type=ctype,
                summary=summary,
                seq=frame.number,
                response_id=frame.response_id,
                response_number=self.interpreter.responses.number(frame.response_id),
                item_id=frame.item_id,
                severity=severity,
                types=frozenset({ctype}),
                event=event,
                response_kind=frame.response_kind,
                phase=frame.phase,
            )
        )

    def _response_summary(self, summary: str, ctype: str, frame: Frame) -> str:
        """A response's line, with what the interpretation says about it: its kind when it is
        not a turn, and at its end the latencies of a response that spoke a preamble."""
        kind = frame.response_kind
        parts = [summary] if summary else []
        if kind is not None and kind != TURN:
            parts.append(kind.replace("_", " "))
        response_id = frame.response_id
        if (
            ctype == vocab.RESPONSE_DONE
            and response_id
            and response_id in self.interpreter.responses
        ):
            facts = self.interpreter.responses.facts(response_id)
            if facts.phases:
                parts.append(f"ttfb {_ms(facts.ttfb_ms)} · final answer {_ms(facts.ttfb_final_ms)}")
                if facts.preamble_audio_ms:
                    parts.append(f"preamble {seconds(facts.preamble_audio_ms)} audio")
        return " · ".join(parts)

    def _collapsed(self, frame: Frame, event: Mapping[str, Any]) -> bool:
        """Fold the frame into a collapsed entry if it belongs in one; False if it is a line."""
        ctype = frame.type or ""
        response_id = frame.response_id
        spec = _SPEC_BY_DELTA.get(ctype)
        if spec is not None:
            key = self._live_key(spec, frame, event) or _run_key(
                spec, event, response_id, frame.phase
            )
            run = self._open.get(key)
            if run is None:
                run = _Run(
                    spec=spec,
                    key=key,
                    t=frame.t,
                    seq=frame.number,
                    source=frame.direction,
                    response_id=response_id,
                    response_number=self.interpreter.responses.number(response_id),
                    item_id=frame.item_id,
                    last_t=frame.t,
                    response_kind=frame.response_kind,
                    phase=frame.phase,
                )
                if spec.kind not in _STREAMS:
                    self._end_appends()
                self._end_kinds(_ENDED_BY.get(spec.kind, ()), keep=key)
                run.audible = len(key) > 1 and key[1] is True
                self._queue.append(run)
                self._open[key] = run
            run.add(frame, event)
            if run.complete:
                self._open.pop(key, None)
            return True
        spec = _SPEC_BY_DONE.get(ctype)
        if spec is not None:
            run = self._open.pop(_run_key(spec, event, response_id), None)
            if run is not None:
                run.name = run.name or self._item_names.get(run.item_id or "")
                run.finish_with(ctype, event)
                return True
        return False

    def _remember_item_name(self, event: Mapping[str, Any]) -> None:
        item = event.get("item")
        if isinstance(item, Mapping):
            item_id, name = _str(item.get("id")), _str(item.get("name"))
            if item_id is not None and name is not None:
                self._item_names[item_id] = name

    def _complete_response(self, response_id: str) -> None:
        for key, run in list(self._open.items()):
            if run.spec.ends_with_response and run.response_id == response_id:
                run.name = run.name or self._item_names.get(run.item_id or "")
                run.complete = True
                del self._open[key]

    def _close_idle(self, t: float) -> None:
        for key, run in list(self._open.items()):
            if t - run.last_t > self.idle_close_s:
                run.complete = True
                del self._open[key]

    def _end_appends(self) -> None:
        """Audio runs (appends, GPT-Live input and output) end at any other line."""
        self._end_kinds(_STREAMS)

    def _end_kinds(self, kinds: Iterable[str], keep: tuple[Any, ...] | None = None) -> None:
        for key, run in list(self._open.items()):
            if run.spec.kind in kinds and key != keep:
                run.complete = True
                del self._open[key]

    def _live_key(
        self, spec: _RunSpec, frame: Frame, event: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """The run a GPT-Live output delta (speech or silence) or transcript delta (one run per
        utterance) goes to; None for other frames."""
        if spec.kind == "output audio":
            return (spec.delta, audible_ms(event.get("delta"), frame.audio_format or PCM16) > 0)
        if spec.kind in _SPEECH:
            number, last_end = self._utterances.get(spec.delta, (0, None))
            start = live_span(None, event)
            if (
                start is not None
                and last_end is not None
                and start[0] - last_end > UTTERANCE_GAP_MS
            ):
                number += 1
            self._utterances[spec.delta] = (number, start[1] if start else last_end)
            return (spec.delta, number)
        return None

    def _new_line(self, entry: Entry) -> None:
        self._end_appends()
        self._queue.append(entry)

    def _release(self) -> list[TimelineItem]:
        out: list[TimelineItem] = []
        queue = self._queue
        while queue:
            head = queue[0]
            if head is None:
                if self._header_state != "done":
                    break
                self.header = self._session_header()
                out.append(self.header)
            elif isinstance(head, _Run):
                if not head.complete:
                    break
                out.append(head.entry())
            else:
                out.append(head)
            queue.popleft()
        return out


def build_timeline(
    records: Iterable[tuple[int, Mapping[str, Any]]], *, collapse: bool = True
) -> list[TimelineItem]:
    """The whole timeline of a finished session."""
    timeline = Timeline(collapse=collapse)
    items: list[TimelineItem] = []
    for line, record in records:
        items.extend(timeline.feed(line, record))
    items.extend(timeline.finish())
    return items


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _ms(value: float | None) -> str:
    return "none" if value is None else f"{value:.1f} ms"
