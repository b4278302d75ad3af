"""One line of text per event: what matters about it, and how alarming it is (pure).

    describe_event(ctype, event, fmt) -> (summary, severity)
    describe_close(record)            -> (summary, severity)
    describe_item(item)               -> `item_… · user message: input_audio`

Everything described here is untrusted text from the wire: control characters are escaped
(`recorder.escaping`), so one event is always one line and cannot drive a terminal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from recorder import vocabulary as vocab
from recorder.escaping import escape_control
from recorder.interpretation.frame import base64_size
from recorder.json_text import to_json
from recorder.vocabulary import PCM16, AudioFormat, session_audio_formats

Severity = Literal["info", "warning", "error"]
_Describer = Callable[[Mapping[str, Any], AudioFormat], tuple[str, Severity]]
QUOTE_LIMIT = 60  # transcripts repeated inside item and part summaries
VALUE_LIMIT = 80


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
        parts.append(quote(reason))
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
        parts.append("instructions " + quote(instructions, 40))
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
        arguments = one_line(_str(item.get("arguments")) or "")
        parts.append(f"{item.get('name') or '?'}({arguments})")
        parts.append(_str(item.get("call_id")))
    elif kind == "function_call_output":
        output = one_line(_str(item.get("output")) or "")
        parts.append(f"output for {item.get('call_id') or '?'}: {clip(output, VALUE_LIMIT)}")
    elif isinstance(kind, str):
        parts.append(kind)
    status = _str(item.get("status"))
    if status and status != "completed":
        parts.append(status)
    return " · ".join(p for p in parts if p)


def _content(content: Mapping[str, Any]) -> str:
    kind = str(content.get("type") or "?")
    text = _str(content.get("text")) or _str(content.get("transcript"))
    return f"{kind} {quote(text, QUOTE_LIMIT)}" if text else kind


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
    return " · ".join(one_line(p) for p in parts if p)


def _describe_audio(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    size = base64_size(event.get("audio", event.get("delta")))
    return f"{seconds(size / fmt.bytes_per_ms)} audio · {size:,} B", "info"


def _describe_text_field(name: str) -> _Describer:
    def describe(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
        text = _str(event.get(name))
        return (quote(text) if text is not None else _fields(event)), "info"

    return describe


def _describe_arguments(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    if "arguments" in event:  # the `.done` event
        call = f"{event.get('name') or '?'}({one_line(_str(event.get('arguments')) or '')})"
        return " · ".join(p for p in (call, _str(event.get("call_id"))) if p), "info"
    return one_line(_str(event.get("delta")) or ""), "info"


def _describe_transcription_failed(
    event: Mapping[str, Any], fmt: AudioFormat
) -> tuple[str, Severity]:
    error = event.get("error")
    text = _error_text(error) if isinstance(error, Mapping) else _fields(event)
    return " · ".join(p for p in (_str(event.get("item_id")), text) if p), "error"


_DESCRIBERS: dict[str, _Describer] = {
    vocab.SESSION_CREATED: _describe_session,
    vocab.SESSION_UPDATED: _describe_session,
    "session.started": _describe_session,  # GPT-Live
    "session.start": _describe_session,
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
        out.append((path, clip(_scalar(value), VALUE_LIMIT)))


_BARE = re.compile(r"[\w.:/@+\-]+")


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value if _BARE.fullmatch(value) else quote(value)
    return escape_control(to_json(value))


def format_name(fmt: AudioFormat) -> str:
    return f"{fmt.encoding} {fmt.rate / 1000:g} kHz"


def seconds(ms: float) -> str:
    return f"{ms / 1000:.3f} s"


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def quote(text: str, limit: int | None = None) -> str:
    """`text` in double quotes, JSON-escaped (C1 controls too, which JSON leaves alone)."""
    if limit is not None:
        text = clip(text, limit)
    return escape_control(json.dumps(text, ensure_ascii=False))


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str) -> str:
    """Control characters escaped, so one entry is always one line."""
    return escape_control(text)


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


# GPT-Live's events: their own module, which describes with the helpers above
from recorder.timeline.live import LIVE_DESCRIBERS  # noqa: E402

_DESCRIBERS.update(LIVE_DESCRIBERS)
