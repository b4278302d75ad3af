"""GPT-Live events as timeline lines (pure): what each one says, and the summaries of the runs
`entries` folds them into (an utterance, a delegated Responses call).

Everything here is untrusted text from the wire, escaped as `describe` escapes it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from recorder.interpretation.live import (
    DELEGATION_CREATED,
    MUTED,
    SESSION_CLOSED,
    UNMUTED,
    USAGE_UPDATED,
)
from recorder.timeline.describe import Severity, count, one_line, quote
from recorder.vocabulary import AudioFormat

# the nested Responses events that end a delegated call
DELEGATION_ENDS = frozenset(
    {"response.completed", "response.done", "response.failed", "response.incomplete"}
)
QUOTE_LIMIT = 120


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.2f}"


def live_span(
    span: tuple[float, float] | None, event: Mapping[str, Any]
) -> tuple[float, float] | None:
    """`span` widened by the `start_ms`..`end_ms` of a transcript delta."""
    start, end = _number(event.get("start_ms")), _number(event.get("end_ms"))
    if start is None:
        return span
    end = max(start, end if end is not None else start)
    return (start, end) if span is None else (min(span[0], start), max(span[1], end))


def speech_summary(text: str, span: tuple[float, float] | None, deltas: int) -> str:
    """`"Hello there" · timeline 0.30–1.30 s · 2 deltas`."""
    where = f"timeline {_seconds(span[0])}–{_seconds(span[1])} s" if span is not None else None
    parts = [quote(text.strip(), QUOTE_LIMIT), where, count(deltas, "delta")]
    return " · ".join(p for p in parts if p)


def delegated_usage(inner: Mapping[str, Any]) -> str | None:
    """`gpt-5-mini · 820 in (512 cached) / 96 out tokens` from a nested `response.completed`."""
    response = inner.get("response")
    if not isinstance(response, Mapping):
        return None
    model = _str(response.get("model"))
    usage = response.get("usage")
    tokens = None
    if isinstance(usage, Mapping):
        details = usage.get("input_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
        tokens = f"{usage.get('input_tokens', '?')} in"
        if cached:
            tokens += f" ({cached} cached)"
        tokens += f" / {usage.get('output_tokens', '?')} out tokens"
    status = _str(response.get("status"))
    parts = [one_line(model) if model else None, status, tokens]
    return " · ".join(p for p in parts if p) or None


def delegation_summary(delegation_id: str | None, types: Sequence[str], usage: str | None) -> str:
    """`del_… · response.created, 3 response.output_text.delta, response.completed · gpt-5-mini · …`."""
    counts = Counter(types)
    seen: list[str] = []
    for kind in types:
        if kind not in seen:
            seen.append(kind)
    events = ", ".join(
        one_line(k) if counts[k] == 1 else f"{counts[k]} {one_line(k)}" for k in seen
    )
    return " · ".join(p for p in (one_line(delegation_id or ""), events, usage) if p)


def _describe_delegation(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    delegation = event.get("delegation")
    delegation = delegation if isinstance(delegation, Mapping) else {}
    offset = _number(event.get("offset_ms"))
    parts = [
        _str(delegation.get("id")),
        f"to {one_line(_str(delegation.get('target')) or '?')}",
        _str(delegation.get("response_id")),
        f"at timeline {_seconds(offset)} s" if offset is not None else None,
    ]
    return " · ".join(one_line(p) for p in parts if p), "info"


def _usage_seconds(event: Mapping[str, Any]) -> float | None:
    usage = event.get("usage")
    return _number(usage.get("seconds")) if isinstance(usage, Mapping) else None


def _describe_usage(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    seconds = _usage_seconds(event)
    text = f"{seconds:g} s billed so far" if seconds is not None else "no seconds"
    window = event.get("context_window")
    ratio = _number(window.get("usage_ratio")) if isinstance(window, Mapping) else None
    if ratio is not None:
        text += f" · context {ratio:.0%} full"
    return text, "info"


def _describe_closed(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    reason = _str(event.get("reason")) or "?"
    seconds = _usage_seconds(event)
    parts = [one_line(reason), f"{seconds:g} s billed" if seconds is not None else None]
    severity: Severity = "info" if reason in ("close_requested", "remote_hangup") else "warning"
    return " · ".join(p for p in parts if p), severity


def _describe_placed(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    start, end = _number(event.get("start_ms")), _number(event.get("end_ms"))
    if start is None:
        return "", "info"
    return f"placed at timeline {_seconds(start)}–{_seconds(end or start)} s", "info"


def _describe_transcript(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    return speech_summary(_str(event.get("delta")) or "", live_span(None, event), 1), "info"


def _describe_mute(event: Mapping[str, Any], fmt: AudioFormat) -> tuple[str, Severity]:
    return "", "info"


LIVE_DESCRIBERS = {
    DELEGATION_CREATED: _describe_delegation,
    USAGE_UPDATED: _describe_usage,
    SESSION_CLOSED: _describe_closed,
    "session.instructions.appended": _describe_placed,
    "session.thinking.appended": _describe_placed,
    "session.commentary.appended": _describe_placed,
    "session.input_transcript.delta": _describe_transcript,
    "session.output_transcript.delta": _describe_transcript,
    MUTED: _describe_mute,
    UNMUTED: _describe_mute,
}
