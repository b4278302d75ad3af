"""A session as a readable timeline (pure: records in, entries out, no I/O).

    timeline = Timeline()                 # Timeline(collapse=False): every frame on its own line
    for record in records:                # rt-session/1 records, from iter_records or decode_line
        for item in timeline.feed(record):
            ...                           # a SessionHeader (once), then Entry after Entry
    for item in timeline.finish():
        ...

What the timeline does with the frames:

- names: every event type goes through `vocabulary.canonical`, so beta and GA recordings read
  alike (`response.audio.delta` is shown as `response.output_audio.delta`);
- responses: each frame gets the response it belongs to (its `response_id`, its `response.id`,
  the response that created the item it names; `rate_limits.updated` the latest response) and
  that response's number, r1, r2… in order of appearance;
- collapsing: the audio deltas of one response, the transcript or text deltas of one content
  part, the argument deltas of one function call and the deltas of one user transcription each
  become one entry, the text assembled; the `.done` event that ends them is folded in. A run of
  `input_audio_buffer.append` becomes one entry; any other line ends the run;
- order: entries come out in the order of their first frame. A collapsed entry holds back the
  entries after it until it is complete (its `.done`, its `response.done`, 5 s of session time
  without a new delta, or the end), so a follower prints the same timeline as `rt show`, a
  little later.

`FrameStream` is the other view: every frame as one JSON-ready object (for `--json`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from recorder import vocabulary as vocab
from recorder.errors import InputError
from recorder.session import iso_utc
from recorder.vocabulary import (
    PCM16,
    AudioFormat,
    canonical,
    response_audio_format,
    session_audio_formats,
)

Source = Literal["client", "server", "proxy"]
Severity = Literal["info", "warning", "error"]

IDLE_CLOSE_S = 5.0  # a collapsed entry with no new delta for this long (session time) is complete
NO_TYPE = "(no type)"
TEXT_FRAME = "(text)"
BINARY_FRAME = "(binary)"
_QUOTE_LIMIT = 60  # transcripts repeated inside item and part summaries
_VALUE_LIMIT = 80


@dataclass(frozen=True)
class SessionHeader:
    """What the first lines of a session file say about the connection."""

    session_id: str | None
    started_at: str | None
    upstream: str | None
    path: str | None
    model: str | None
    subprotocol: str | None
    opened_t: float | None  # when the upstream handshake finished; None without an `open` line


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


TimelineItem = SessionHeader | Entry
_Describer = Callable[[Mapping[str, Any], AudioFormat], tuple[str, Severity]]


# -- which response a frame belongs to ------------------------------------------------------------


class ResponseTracker:
    """Attributes events to responses and numbers the responses in order of appearance."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}
        self._item_response: dict[str, str] = {}
        self._latest: str | None = None

    def observe(self, ctype: str, event: Mapping[str, Any]) -> str | None:
        """The id of the response `event` belongs to, or None."""
        response_id = _str(event.get("response_id"))
        response = event.get("response")
        if response_id is None and ctype.startswith("response.") and isinstance(response, Mapping):
            response_id = _str(response.get("id"))
        item = event.get("item")
        item_id = _str(event.get("item_id"))
        if item_id is None and isinstance(item, Mapping):
            item_id = _str(item.get("id"))
        if item_id is not None:
            if response_id is not None:
                self._item_response[item_id] = response_id
            else:
                response_id = self._item_response.get(item_id)
        if response_id is None and ctype == vocab.RATE_LIMITS_UPDATED:
            response_id = self._latest
        if response_id is not None:
            if ctype in (vocab.RESPONSE_CREATED, vocab.RESPONSE_DONE):
                self._latest = response_id
            self.numbers.setdefault(response_id, len(self.numbers) + 1)
        return response_id

    def number(self, response_id: str | None) -> int | None:
        return None if response_id is None else self.numbers.get(response_id)


class _AudioFormats:
    """The audio formats in effect: the session's input and output, and per-response output."""

    def __init__(self) -> None:
        self.input: AudioFormat = PCM16
        self.output: AudioFormat = PCM16
        self._responses: dict[str, AudioFormat] = {}

    def observe(self, ctype: str, event: Mapping[str, Any], response_id: str | None) -> None:
        if ctype in (vocab.SESSION_CREATED, vocab.SESSION_UPDATED):
            session = event.get("session")
            if isinstance(session, Mapping):
                inp, out = session_audio_formats(session)
                self.input = inp or self.input
                self.output = out or self.output
        elif ctype == vocab.RESPONSE_CREATED and response_id is not None:
            response = event.get("response")
            fmt = response_audio_format(response) if isinstance(response, Mapping) else None
            if fmt is not None:
                self._responses[response_id] = fmt

    def output_for(self, response_id: str | None) -> AudioFormat:
        found = None if response_id is None else self._responses.get(response_id)
        return found or self.output


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
)
_SPEC_BY_DELTA = {spec.delta: spec for spec in _RUN_SPECS}
_SPEC_BY_DONE = {spec.done: spec for spec in _RUN_SPECS if spec.done is not None}


def _run_key(spec: _RunSpec, event: Mapping[str, Any], response_id: str | None) -> tuple[Any, ...]:
    if spec.kind == "appends":
        return (spec.delta,)
    # Only scalars from the event: a hostile file may put a list where an id belongs.
    item_id = _str(event.get("item_id"))
    if spec.kind == "audio":  # one line per response, whatever items carry its audio
        return (spec.delta, response_id or item_id)
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
    count: int = 0
    size: int = 0  # decoded audio bytes
    audio_ms: float = 0.0
    parts: list[str] = field(default_factory=list)
    final_text: str | None = None
    name: str | None = None
    call_id: str | None = None
    types: set[str] = field(default_factory=set)
    complete: bool = False

    def add(self, t: float, event: Mapping[str, Any], fmt: AudioFormat) -> None:
        self.count += 1
        self.last_t = t
        self.types.add(self.spec.delta)
        if self.spec.kind in ("audio", "appends"):
            size = base64_size(event.get("audio" if self.spec.kind == "appends" else "delta"))
            self.size += size
            self.audio_ms += size / fmt.bytes_per_ms
        else:
            delta = event.get("delta")
            if isinstance(delta, str):
                self.parts.append(delta)
            self.call_id = self.call_id or _str(event.get("call_id"))

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
        deltas = _count(self.count, "delta")
        if self.spec.kind in ("audio", "appends"):
            unit = "delta" if self.spec.kind == "audio" else "append"
            summary = (
                f"{_seconds(self.audio_ms)} audio · {_count(self.count, unit)} over "
                f"{span:.3f} s · {self.size:,} B"
            )
        elif self.spec.kind == "arguments":
            arguments = "".join(self.parts) if self.parts else self.final_text or ""
            call = f"{self.name or '?'}({_one_line(arguments)})"
            summary = " · ".join(x for x in (call, self.call_id, deltas) if x)
        else:
            text = "".join(self.parts) if self.parts else self.final_text or ""
            summary = f"{_quote(text)} · {deltas}"
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
        )


# -- the timeline ----------------------------------------------------------------------------------


class Timeline:
    """Turns records into timeline entries, incrementally (see the module docstring)."""

    def __init__(self, *, collapse: bool = True, idle_close_s: float = IDLE_CLOSE_S) -> None:
        self.collapse = collapse
        self.idle_close_s = idle_close_s
        self.responses = ResponseTracker()
        self.header: SessionHeader | None = None
        self.closed = False  # a `close` record was seen
        self._formats = _AudioFormats()
        self._session: Mapping[str, Any] | None = None
        self._header_state: Literal["none", "pending", "done"] = "none"
        self._queue: deque[Entry | _Run] = deque()
        self._open: dict[tuple[Any, ...], _Run] = {}
        self._item_names: dict[str, str] = {}

    def feed(self, record: Mapping[str, Any]) -> list[TimelineItem]:
        """The items that are complete once `record` is read, in timeline order."""
        out: list[TimelineItem] = []
        kind = record.get("kind")
        if kind == "session":
            if self._header_state == "none":
                self._session, self._header_state = record, "pending"
            return out
        if self._header_state == "pending":
            out.append(self._emit_header(record if kind == "open" else None))
            if kind == "open":
                return out
        if kind == "frame":
            self._frame(record)
        elif kind in ("open", "close", "error"):
            self._proxy_record(kind, record)
        out.extend(self._release())
        return out

    def finish(self) -> list[TimelineItem]:
        """Everything still held back: the end of the file (or of following it)."""
        out: list[TimelineItem] = []
        if self._header_state == "pending":
            out.append(self._emit_header(None))
        for run in self._open.values():
            run.complete = True
        self._open.clear()
        out.extend(self._release())
        return out

    # -- records -------------------------------------------------------------------------------

    def _emit_header(self, open_record: Mapping[str, Any] | None) -> SessionHeader:
        self.header = session_header(self._session or {}, open_record)
        self._header_state = "done"
        return self.header

    def _proxy_record(self, kind: str, record: Mapping[str, Any]) -> None:
        t = _float(record.get("t"))
        if kind == "close":
            self.closed = True
            for run in self._open.values():
                run.complete = True
            self._open.clear()
            summary, severity = describe_close(record)
            entry = Entry(t, "proxy", "close", summary, severity=severity, types=frozenset({kind}))
        elif kind == "open":
            subprotocol = _str(record.get("subprotocol")) or "none"
            entry = Entry(t, "proxy", "open", f"subprotocol {subprotocol}", types=frozenset({kind}))
        else:
            parts = [_str(record.get("message")) or "", _one_line(_str(record.get("detail")) or "")]
            summary = " · ".join(p for p in parts if p)
            entry = Entry(t, "proxy", "proxy error", summary, severity="error", types=frozenset())
        self._new_line(entry)

    def _frame(self, record: Mapping[str, Any]) -> None:
        t = _float(record.get("t"))
        seq = record.get("seq") if isinstance(record.get("seq"), int) else None
        source: Source = "client" if record.get("from") == "client" else "server"
        event = record.get("event")
        if not isinstance(event, Mapping):
            self._close_idle(t)
            self._new_line(_raw_frame_entry(record, t, seq, source))
            return
        raw_type = event.get("type")
        ctype = canonical(raw_type) if isinstance(raw_type, str) else NO_TYPE
        response_id = self.responses.observe(ctype, event)
        self._formats.observe(ctype, event, response_id)
        self._remember_item_name(event)
        self._close_idle(t)
        if self.collapse and self._collapsed(ctype, event, t, seq, source, response_id):
            return
        if self.collapse and ctype == vocab.RESPONSE_DONE and response_id is not None:
            self._complete_response(response_id)
        fmt = self._format_for(ctype, response_id)
        summary, severity = describe_event(ctype, event, fmt)
        self._new_line(
            Entry(
                t=t,
                source=source,
                type=ctype,
                summary=summary,
                seq=seq,
                response_id=response_id,
                response_number=self.responses.number(response_id),
                item_id=_item_id(event),
                severity=severity,
                types=frozenset({ctype}),
                event=event,
            )
        )

    def _collapsed(
        self,
        ctype: str,
        event: Mapping[str, Any],
        t: float,
        seq: int | None,
        source: Source,
        response_id: str | None,
    ) -> bool:
        """Fold the frame into a collapsed entry if it belongs in one; False if it is a line."""
        spec = _SPEC_BY_DELTA.get(ctype)
        if spec is not None:
            key = _run_key(spec, event, response_id)
            run = self._open.get(key)
            if run is None:
                run = _Run(
                    spec=spec,
                    key=key,
                    t=t,
                    seq=seq,
                    source=source,
                    response_id=response_id,
                    response_number=self.responses.number(response_id),
                    item_id=_str(event.get("item_id")),
                    last_t=t,
                )
                if spec.kind != "appends":
                    self._end_appends()
                self._queue.append(run)
                self._open[key] = run
            run.add(t, event, self._format_for(ctype, response_id))
            return True
        spec = _SPEC_BY_DONE.get(ctype)
        if spec is not None:
            run = self._open.pop(_run_key(spec, event, response_id), None)
            if run is not None:
                run.name = run.name or self._item_names.get(run.item_id or "")
                run.finish_with(ctype, event)
                return True
        return False

    def _format_for(self, ctype: str, response_id: str | None) -> AudioFormat:
        if ctype == vocab.AUDIO_APPEND:
            return self._formats.input
        return self._formats.output_for(response_id)

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
        run = self._open.pop((vocab.AUDIO_APPEND,), None)
        if run is not None:
            run.complete = True

    def _new_line(self, entry: Entry) -> None:
        self._end_appends()
        self._queue.append(entry)

    def _release(self) -> list[TimelineItem]:
        out: list[TimelineItem] = []
        queue = self._queue
        while queue:
            head = queue[0]
            if isinstance(head, _Run):
                if not head.complete:
                    break
                out.append(head.entry())
            else:
                out.append(head)
            queue.popleft()
        return out


def build_timeline(
    records: Iterable[Mapping[str, Any]], *, collapse: bool = True
) -> list[TimelineItem]:
    """The whole timeline of a finished session."""
    timeline = Timeline(collapse=collapse)
    items: list[TimelineItem] = []
    for record in records:
        items.extend(timeline.feed(record))
    items.extend(timeline.finish())
    return items


def session_header(
    session: Mapping[str, Any], open_record: Mapping[str, Any] | None
) -> SessionHeader:
    request = session.get("request")
    path = _str(request.get("path")) if isinstance(request, Mapping) else None
    upstream = _str(session.get("upstream"))
    return SessionHeader(
        session_id=_str(session.get("id")),
        started_at=_str(session.get("started_at")),
        upstream=upstream,
        path=path,
        model=model_from_url(path) or model_from_url(upstream),
        subprotocol=None if open_record is None else _str(open_record.get("subprotocol")),
        opened_t=None if open_record is None else _float(open_record.get("t")),
    )


def model_from_url(url: str | None) -> str | None:
    """The `model` (OpenAI) or `deployment` (Azure preview) query parameter of a URL or path."""
    if not url:
        return None
    params = dict(parse_qsl(urlsplit(url).query))
    return params.get("model") or params.get("deployment")


# -- one line per event ----------------------------------------------------------------------------


def describe_event(
    ctype: str, event: Mapping[str, Any], fmt: AudioFormat = PCM16
) -> tuple[str, Severity]:
    """The details of one event as a line of text, and how alarming it is."""
    describe = _DESCRIBERS.get(ctype)
    if describe is not None:
        return describe(event, fmt)
    if ctype.endswith(".failed"):
        return _fields(event), "error"
    return _fields(event), "info"


def describe_close(record: Mapping[str, Any]) -> tuple[str, Severity]:
    code = record.get("code")
    reason = _str(record.get("reason"))
    parts = [f"by {_str(record.get('by')) or '?'}", f"code {code if code is not None else 'none'}"]
    if reason:
        parts.append(_quote(reason))
    severity: Severity = "info"
    if code != 1000:
        severity = "warning" if code in (1001, 1005, None) else "error"
    return " · ".join(parts), severity


def _describe_session(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    session = event.get("session")
    if not isinstance(session, Mapping):
        return _fields(event), "info"
    audio = session.get("audio") if isinstance(session.get("audio"), Mapping) else None
    audio_in = _get(audio, "input")
    audio_out = _get(audio, "output")
    parts: list[str | None] = [_str(session.get("id")), _str(session.get("model"))]
    modalities = session.get("output_modalities") or session.get("modalities")
    if isinstance(modalities, list):
        parts.append("+".join(str(m) for m in modalities))
    inp, out = session_audio_formats(session)
    parts.append(f"in {format_name(inp)}" if inp else None)
    parts.append(f"out {format_name(out)}" if out else None)
    holder = audio_in if audio is not None else session
    if isinstance(holder, Mapping) and "turn_detection" in holder:
        detection = holder.get("turn_detection")
        kind = _get(detection, "type")
        parts.append(str(kind) if kind else "no turn detection")
    transcription = audio_in.get("transcription") if audio_in else None
    if audio is None:
        transcription = session.get("input_audio_transcription")
    if isinstance(transcription, Mapping) and transcription.get("model"):
        parts.append(f"transcription {transcription['model']}")
    voice = _get(audio_out, "voice") if audio is not None else session.get("voice")
    parts.append(f"voice {voice}" if isinstance(voice, str) else None)
    tools = session.get("tools")
    if isinstance(tools, list) and tools:
        names = [str(_get(tool, "name") or _get(tool, "type") or "?") for tool in tools]
        parts.append("tools " + ", ".join(names))
    instructions = _str(session.get("instructions"))
    if instructions:
        parts.append("instructions " + _quote(instructions, 40))
    return " · ".join(p for p in parts if p), "info"


def _describe_session_update(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    session = event.get("session")
    if isinstance(session, Mapping):
        return _fields(session, skip=frozenset()), "info"
    return _fields(event), "info"


def _describe_item_event(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    item = event.get("item")
    if isinstance(item, Mapping):
        return describe_item(item), "info"
    return _fields(event), "info"


def describe_item(item: Mapping[str, Any]) -> str:
    """`item_… · user message: input_audio`, `item_… · get_weather({…}) · call_…`, …"""
    parts: list[str | None] = [_str(item.get("id"))]
    kind = item.get("type")
    if kind == "message":
        contents = [_content(c) for c in item.get("content") or [] if isinstance(c, Mapping)]
        message = f"{item.get('role') or '?'} message"
        parts.append(message + (": " + ", ".join(contents) if contents else ""))
    elif kind in ("function_call", "mcp_call"):
        arguments = _one_line(_str(item.get("arguments")) or "")
        parts.append(f"{item.get('name') or '?'}({arguments})")
        parts.append(_str(item.get("call_id")))
    elif kind == "function_call_output":
        output = _one_line(_str(item.get("output")) or "")
        parts.append(f"output for {item.get('call_id') or '?'}: {_clip(output, _VALUE_LIMIT)}")
    elif isinstance(kind, str):
        parts.append(kind)
    status = _str(item.get("status"))
    if status and status != "completed":
        parts.append(status)
    return " · ".join(p for p in parts if p)


def _content(content: Mapping[str, Any]) -> str:
    kind = str(content.get("type") or "?")
    text = _str(content.get("text")) or _str(content.get("transcript"))
    return f"{kind} {_quote(text, _QUOTE_LIMIT)}" if text else kind


def _describe_part(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    part = event.get("part")
    if not isinstance(part, Mapping):
        return _fields(event), "info"
    return " · ".join(p for p in (_str(event.get("item_id")), _content(part)) if p), "info"


def _describe_response_created(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    response = event.get("response")
    if not isinstance(response, Mapping):
        return _fields(event), "info"
    parts = [_str(response.get("id")) or "?"]
    metadata = response.get("metadata")
    if isinstance(metadata, Mapping) and metadata:
        parts.append("metadata " + _fields(metadata, skip=frozenset()))
    return " · ".join(parts), "info"


def _describe_response_done(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    response = event.get("response")
    if not isinstance(response, Mapping):
        return _fields(event), "info"
    status = _str(response.get("status")) or "?"
    parts = [_str(response.get("id")) or "?", status]
    severity: Severity = "info"
    if status in ("cancelled", "incomplete"):
        severity = "warning"
    elif status == "failed":
        severity = "error"
    details = response.get("status_details")
    if isinstance(details, Mapping):
        if details.get("reason"):
            parts[-1] += f" ({details['reason']})"
        error = details.get("error")
        if isinstance(error, Mapping):
            parts.append(_error_text(error))
    usage = response.get("usage")
    if isinstance(usage, Mapping):
        parts.append(_usage_text(usage))
    return " · ".join(parts), severity


def _usage_text(usage: Mapping[str, Any]) -> str:
    cached = _get(usage.get("input_token_details"), "cached_tokens")
    inputs = f"{usage.get('input_tokens', '?')} in"
    if isinstance(cached, int):
        inputs += f" ({cached} cached)"
    return f"tokens {inputs}, {usage.get('output_tokens', '?')} out"


def _describe_rate_limits(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    limits = event.get("rate_limits")
    if not isinstance(limits, list):
        return _fields(event), "info"
    parts: list[str] = []
    severity: Severity = "info"
    for limit in limits:
        if not isinstance(limit, Mapping):
            continue
        remaining, total = limit.get("remaining"), limit.get("limit")
        text = f"{limit.get('name', '?')} {remaining}/{total}"
        if isinstance(limit.get("reset_seconds"), (int, float)):
            text += f" (reset {limit['reset_seconds']} s)"
        parts.append(text)
        if _is_number(remaining) and _is_number(total) and total and remaining / total < 0.1:
            severity = "warning"
    return " · ".join(parts), severity


def _describe_error(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    error = event.get("error")
    if isinstance(error, Mapping):
        return _error_text(error), "error"
    return _fields(event), "error"


def _error_text(error: Mapping[str, Any]) -> str:
    parts = [_str(error.get(key)) for key in ("type", "code", "message")]
    if error.get("param"):
        parts.append(f"param {error['param']}")
    if error.get("event_id"):
        parts.append(f"event {error['event_id']}")
    return " · ".join(_one_line(p) for p in parts if p)


def _describe_audio(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    size = base64_size(event.get("audio", event.get("delta")))
    return f"{_seconds(size / fmt.bytes_per_ms)} audio · {size:,} B", "info"


def _describe_text_field(name: str) -> _Describer:
    def describe(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
        text = _str(event.get(name))
        return (_quote(text) if text is not None else _fields(event)), "info"

    return describe


def _describe_arguments(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    if "arguments" in event:  # the `.done` event
        call = f"{event.get('name') or '?'}({_one_line(_str(event.get('arguments')) or '')})"
        return " · ".join(p for p in (call, _str(event.get("call_id"))) if p), "info"
    return _one_line(_str(event.get("delta")) or ""), "info"


def _describe_transcription_failed(
    event: Mapping[str, Any], fmt: AudioFormat
) -> tuple[str, Severity]:
    error = event.get("error")
    text = _error_text(error) if isinstance(error, Mapping) else _fields(event)
    return " · ".join(p for p in (_str(event.get("item_id")), text) if p), "error"


_DESCRIBERS: dict[str, _Describer] = {
    vocab.SESSION_CREATED: _describe_session,
    vocab.SESSION_UPDATED: _describe_session,
    "session.update": _describe_session_update,
    "conversation.item.added": _describe_item_event,
    "conversation.item.done": _describe_item_event,
    "conversation.item.create": _describe_item_event,
    "conversation.item.retrieved": _describe_item_event,
    "response.output_item.added": _describe_item_event,
    "response.output_item.done": _describe_item_event,
    "response.content_part.added": _describe_part,
    "response.content_part.done": _describe_part,
    vocab.RESPONSE_CREATED: _describe_response_created,
    vocab.RESPONSE_DONE: _describe_response_done,
    vocab.RATE_LIMITS_UPDATED: _describe_rate_limits,
    vocab.ERROR: _describe_error,
    vocab.AUDIO_APPEND: _describe_audio,
    vocab.AUDIO_DELTA: _describe_audio,
    vocab.TRANSCRIPT_DELTA: _describe_text_field("delta"),
    vocab.TEXT_DELTA: _describe_text_field("delta"),
    "conversation.item.input_audio_transcription.delta": _describe_text_field("delta"),
    "response.output_audio_transcript.done": _describe_text_field("transcript"),
    "response.output_text.done": _describe_text_field("text"),
    "conversation.item.input_audio_transcription.completed": _describe_text_field("transcript"),
    "conversation.item.input_audio_transcription.failed": _describe_transcription_failed,
    vocab.FUNCTION_ARGUMENTS_DELTA: _describe_arguments,
    "response.function_call_arguments.done": _describe_arguments,
    vocab.MCP_ARGUMENTS_DELTA: _describe_arguments,
    "response.mcp_call_arguments.done": _describe_arguments,
}

# Said by the response column, or noise on every response event.
_NOISE = frozenset({"type", "event_id", "response_id", "output_index", "content_index"})


def _fields(value: Mapping[str, Any], skip: frozenset[str] = _NOISE) -> str:
    """`key=value · a.b=value …` for the leaves of an object."""
    pairs: list[tuple[str, str]] = []
    for key, item in value.items():
        if key not in skip:
            _flatten(item, str(key), pairs, 1)
    return " · ".join(f"{path}={text}" for path, text in pairs)


def _flatten(value: Any, path: str, out: list[tuple[str, str]], depth: int) -> None:
    if isinstance(value, Mapping) and value and depth < 4:
        for key, item in value.items():
            _flatten(item, f"{path}.{key}", out, depth + 1)
    else:
        out.append((path, _clip(_scalar(value), _VALUE_LIMIT)))


_BARE = re.compile(r"[\w.:/@+\-]+")


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value if _BARE.fullmatch(value) else _quote(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _raw_frame_entry(record: Mapping[str, Any], t: float, seq: int | None, source: Source) -> Entry:
    if "text" in record:
        text = _str(record.get("text")) or ""
        summary, kind = _clip(_one_line(text), 200), TEXT_FRAME
    else:
        summary, kind = f"{base64_size(record.get('binary')):,} B", BINARY_FRAME
    return Entry(t, source, kind, summary, seq=seq, types=frozenset({kind}))


# -- formatting helpers ----------------------------------------------------------------------------


def base64_size(data: object) -> int:
    """The decoded size of base64 text, without decoding it."""
    if not isinstance(data, str):
        return 0
    end = len(data)
    while end and data[end - 1] == "=":
        end -= 1
    return end * 3 // 4


def format_name(fmt: AudioFormat) -> str:
    return f"{fmt.encoding} {fmt.rate / 1000:g} kHz"


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.3f} s"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _quote(text: str, limit: int | None = None) -> str:
    if limit is not None:
        text = _clip(text, limit)
    return json.dumps(text, ensure_ascii=False)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(text: str) -> str:
    """Control characters escaped, so one entry is always one line."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: json.dumps(m.group())[1:-1], text)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _float(value: object) -> float:
    return float(value) if _is_number(value) else 0.0  # type: ignore[arg-type]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _get(value: object, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else None


def _item_id(event: Mapping[str, Any]) -> str | None:
    return _str(event.get("item_id")) or _str(_get(event.get("item"), "id"))


# -- filters ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryFilter:
    """`--type` patterns and a `--grep` expression; proxy records (open, close, proxy errors)
    always pass, so a filtered timeline still says how the connection ended."""

    types: tuple[str, ...] = ()
    grep: re.Pattern[str] | None = None

    @classmethod
    def build(cls, types: Iterable[str] = (), grep: str | None = None) -> EntryFilter:
        """Patterns may be comma-separated; beta names are accepted (and mean the GA name).
        The expression is a Python regular expression, matched case-insensitively."""
        patterns = tuple(
            canonical(p.strip()) for value in types for p in value.split(",") if p.strip()
        )
        compiled = None
        if grep is not None:
            try:
                compiled = re.compile(grep, re.IGNORECASE)
            except re.error as exc:
                raise InputError(f"--grep: not a regular expression: {exc}") from None
        return cls(patterns, compiled)

    def type_matches(self, types: Iterable[str]) -> bool:
        if not self.types:
            return True
        return any(type_matches(pattern, t) for pattern in self.types for t in types)

    def accepts(self, entry: Entry) -> bool:
        if entry.source == "proxy":
            return True
        if not self.type_matches(entry.types):
            return False
        return self.grep is None or bool(self.grep.search(search_text(entry)))

    def accepts_frame(self, ctype: str | None, line: str) -> bool:
        """For `--json`: one normalised frame and the JSON line it prints as."""
        if self.types and not self.type_matches((ctype or TEXT_FRAME,)):
            return False
        return self.grep is None or bool(self.grep.search(line))


def type_matches(pattern: str, event_type: str) -> bool:
    """A glob (`response.*`), an exact type, or a dotted prefix (`input_audio_buffer`)."""
    if any(c in pattern for c in "*?["):
        return fnmatchcase(event_type, pattern)
    return event_type == pattern or event_type.startswith(pattern + ".")


def search_text(entry: Entry) -> str:
    """What `--grep` looks at: the type, ids and details, and a single frame's whole event."""
    parts = [entry.type, entry.response_id or "", entry.item_id or "", entry.summary]
    if entry.event is not None:
        parts.append(json.dumps(entry.event, ensure_ascii=False, default=str))
    return "\n".join(parts)


# -- every frame as JSON ---------------------------------------------------------------------------


class FrameStream:
    """Each frame record as the object `--json` prints: the frame with its canonical `type`,
    its `response_id`, its wall-clock time `at` and the `session` id added.

        {"seq": 7, "t": 1.234567, "at": "2026-11-26T10:00:01.234567Z", "from": "server",
         "type": "response.output_audio.delta", "response_id": "resp_…", "session": "…",
         "event": {…the event exactly as recorded…}}

    A frame that was not a JSON object has `"type": null` and `text` or `binary` instead of
    `event`. `at` is null when the file has no `session` line.
    """

    def __init__(self) -> None:
        self.responses = ResponseTracker()
        self.session_id: str | None = None
        self._started: dt.datetime | None = None

    def feed(self, record: Mapping[str, Any]) -> dict[str, Any] | None:
        kind = record.get("kind")
        if kind == "session":
            self.session_id = _str(record.get("id"))
            self._started = parse_started_at(record.get("started_at"))
            return None
        if kind != "frame":
            return None
        t = _float(record.get("t"))
        event = record.get("event")
        ctype: str | None = None
        response_id: str | None = None
        if isinstance(event, Mapping):
            raw_type = event.get("type")
            ctype = canonical(raw_type) if isinstance(raw_type, str) else None
            response_id = self.responses.observe(ctype or NO_TYPE, event)
        at = None
        if self._started is not None:
            at = iso_utc(self._started + dt.timedelta(seconds=t))
        out: dict[str, Any] = {
            "seq": record.get("seq"),
            "t": record.get("t"),
            "at": at,
            "from": record.get("from"),
            "type": ctype,
            "response_id": response_id,
            "session": self.session_id,
        }
        for key in ("event", "text", "binary"):
            if key in record:
                out[key] = record[key]
                break
        return out


def parse_started_at(value: object) -> dt.datetime | None:
    """`started_at` of a session line as an aware datetime, or None if absent or malformed."""
    if not isinstance(value, str):
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)
