"""The attributes of rt's spans and span events: names, where each comes from (pure).

OpenTelemetry's GenAI semantic conventions are drafts, and their realtime/live parts
(semantic-conventions-genai PRs 390 and 394) are not merged: rt uses the `gen_ai.*`, `server.*`
and `error.type` names where a convention exists and `rt.*` names for the rest. Every name is
listed here with its meaning; docs/telemetry.md shows the same table (a test checks it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from recorder.interpretation import ErrorFacts, RateLimitFacts, ResponseFacts, SessionFacts
from recorder.interpretation.usage import TokenUsage

# name -> meaning; "semconv" marks the names taken from OpenTelemetry's conventions
SEMCONV: Mapping[str, str] = {
    "gen_ai.operation.name": "`realtime` on the session span, `response` on a response span",
    "gen_ai.provider.name": "`openai`, or `azure.ai.openai` for an Azure upstream",
    "gen_ai.request.model": "the session's model (rt stats `model`)",
    "gen_ai.conversation.id": "the rt session id (the session file's `id`)",
    "gen_ai.response.id": "the response id (`response.id`)",
    "gen_ai.usage.input_tokens": "input tokens (`usage.input_tokens`); on the session span, "
    "the sum over its responses",
    "gen_ai.usage.output_tokens": "output tokens; on the session span, the sum",
    "gen_ai.usage.cache_read.input_tokens": "cached input tokens (part of the input tokens)",
    "server.address": "the upstream's host",
    "server.port": "the upstream's port, when the URL names one",
    "error.type": "the error's `type` (a failed response's, or an error event's)",
}
RT: Mapping[str, str] = {
    "rt.session.file": "the session file (as the proxy wrote it, or as given to rt export otlp)",
    "rt.session.protocol": "`realtime`, `translation` or `live` (rt stats `protocol`)",
    "rt.session.transport": "`websocket` or `sideband` (rt stats `transport`)",
    "rt.session.closed_by": "`client`, `server` or `proxy`",
    "rt.session.close_code": "the WebSocket close code",
    "rt.session.frames": "data frames in both directions",
    "rt.session.input_audio_ms": "user audio appended, in milliseconds",
    "rt.session.output_audio_ms": "assistant audio sent, in milliseconds",
    "rt.session.responses": "responses in the session",
    "rt.session.errors": "errors in the session (rt stats `errors`)",
    "rt.session.cost_usd": "the session's cost (sum of its priced responses)",
    "rt.response.number": "1, 2, … in order of appearance",
    "rt.response.kind": "`turn`, `out_of_band` or `idle_timeout` (rt stats `kind`)",
    "rt.response.status": "`completed`, `cancelled`, `failed`, `incomplete`; absent without one",
    "rt.response.reason": "why it did not complete (status details reason or error code)",
    "rt.response.trigger": "what started it: `response.create`, "
    "`input_audio_buffer.speech_stopped` or `input_audio_buffer.timeout_triggered`",
    "rt.response.ttfb_ms": "time to first audio (rt stats `ttfb_ms`)",
    "rt.response.ttfb_source": "`delta` or `playback` (rt stats `ttfb_source`)",
    "rt.response.ttft_ms": "time to first output of any kind (`ttft_ms`)",
    "rt.response.voice_to_voice_ms": "end of user speech to first audio (`voice_to_voice_ms`)",
    "rt.response.duration_ms": "response.created to response.done (`duration_ms`)",
    "rt.response.ttfb_final_ms": "time to the first audio of the final answer (`ttfb_final_ms`)",
    "rt.response.voice_to_voice_final_ms": "`voice_to_voice_final_ms`",
    "rt.response.preamble_audio_ms": "audio of commentary (preamble) items",
    "rt.response.audio_out_ms": "assistant audio in the response",
    "rt.response.cost_usd": "the response's cost (absent when unknown)",
    "rt.response.tool_calls": "the names of the functions it called, in order",
    "rt.usage.input_text_tokens": "input text tokens",
    "rt.usage.input_audio_tokens": "input audio tokens",
    "rt.usage.input_image_tokens": "input image tokens",
    "rt.usage.output_text_tokens": "output text tokens (reasoning included)",
    "rt.usage.output_audio_tokens": "output audio tokens",
    "rt.usage.output_reasoning_tokens": "reasoning tokens (part of the output text tokens)",
    "rt.error.source": "`event` (a server error event), `response` (a failed response) or "
    "`proxy` (a fault of the proxy)",
    "rt.error.code": "the error's `code`",
    "rt.error.message": "the error's `message` (at most 1,000 characters)",
    "rt.rate_limit.name": "`requests`, `tokens`, …",
    "rt.rate_limit.limit": "the limit",
    "rt.rate_limit.remaining": "what remains",
    "rt.rate_limit.reset_seconds": "seconds until it resets",
}
ATTRIBUTES: Mapping[str, str] = {**SEMCONV, **RT}

# span events: name -> meaning
EVENTS: Mapping[str, str] = {
    "rt.response.created": "on a response span: its `response.created`",
    "rt.response.first_output": "on a response span: its first output delta (ttft)",
    "rt.response.first_audio": "on a response span: its first audio (ttfb)",
    "rt.error": "an error, on the session span (`gen_ai.response.id` names its response)",
    "rt.rate_limits": "one entry of a `rate_limits.updated`, on the session span",
}
MAX_MESSAGE = 1000
AttributeValue = str | bool | int | float | list[str]


def _put(attributes: dict[str, Any], name: str, value: object) -> None:
    if value is not None and value != ():
        attributes[name] = value


def provider_name(upstream: str | None) -> str:
    host = urlsplit(upstream or "").hostname or ""
    return "azure.ai.openai" if host.endswith(".azure.com") else "openai"


def session_attributes(facts: SessionFacts, cost: float | None) -> dict[str, AttributeValue]:
    found: dict[str, Any] = {}
    _put(found, "gen_ai.operation.name", "realtime")
    _put(found, "gen_ai.provider.name", provider_name(facts.upstream))
    _put(found, "gen_ai.request.model", facts.model)
    _put(found, "gen_ai.conversation.id", facts.session)
    parts = urlsplit(facts.upstream or "")
    _put(found, "server.address", parts.hostname)
    with contextlib.suppress(ValueError):
        _put(found, "server.port", parts.port)
    inputs = [r.usage.input_tokens for r in facts.responses if r.usage is not None]
    outputs = [r.usage.output_tokens for r in facts.responses if r.usage is not None]
    _put(found, "gen_ai.usage.input_tokens", sum(n for n in inputs if n is not None))
    _put(found, "gen_ai.usage.output_tokens", sum(n for n in outputs if n is not None))
    _put(found, "rt.session.file", facts.file)
    _put(found, "rt.session.protocol", facts.protocol)
    _put(found, "rt.session.transport", facts.transport)
    _put(found, "rt.session.closed_by", facts.closed_by)
    _put(found, "rt.session.close_code", facts.close_code)
    _put(found, "rt.session.frames", facts.frames)
    _put(found, "rt.session.input_audio_ms", facts.input_audio_ms)
    _put(found, "rt.session.output_audio_ms", facts.output_audio_ms)
    _put(found, "rt.session.responses", len(facts.responses))
    _put(found, "rt.session.errors", len(facts.errors))
    _put(found, "rt.session.cost_usd", cost)
    return found


def response_attributes(
    response: ResponseFacts,
    *,
    model: str | None,
    session_id: str,
    provider: str,
    cost: float | None,
) -> dict[str, AttributeValue]:
    found: dict[str, Any] = {}
    _put(found, "gen_ai.operation.name", "response")
    _put(found, "gen_ai.provider.name", provider)
    _put(found, "gen_ai.request.model", model)
    _put(found, "gen_ai.conversation.id", session_id)
    _put(found, "gen_ai.response.id", response.response_id)
    _put(found, "rt.response.number", response.number)
    _put(found, "rt.response.kind", response.kind)
    _put(found, "rt.response.status", response.status)
    _put(found, "rt.response.reason", response.reason)
    _put(found, "rt.response.trigger", response.trigger)
    for name in (
        "ttfb_ms",
        "ttfb_source",
        "ttft_ms",
        "voice_to_voice_ms",
        "duration_ms",
        "ttfb_final_ms",
        "voice_to_voice_final_ms",
        "preamble_audio_ms",
        "audio_out_ms",
    ):
        _put(found, f"rt.response.{name}", getattr(response, name))
    _put(found, "rt.response.cost_usd", cost)
    _put(found, "rt.response.tool_calls", [call.name for call in response.tool_calls])
    if response.usage is not None:
        found.update(usage_attributes(response.usage))
    if response.status == "failed" and response.error is not None:
        _put(found, "error.type", _text(response.error.get("type")) or "response_failed")
    return found


def usage_attributes(usage: TokenUsage) -> dict[str, AttributeValue]:
    found: dict[str, Any] = {}
    _put(found, "gen_ai.usage.input_tokens", usage.input_tokens)
    _put(found, "gen_ai.usage.output_tokens", usage.output_tokens)
    _put(found, "gen_ai.usage.cache_read.input_tokens", usage.input_cached_tokens)
    for name in (
        "input_text_tokens",
        "input_audio_tokens",
        "input_image_tokens",
        "output_text_tokens",
        "output_audio_tokens",
        "output_reasoning_tokens",
    ):
        _put(found, f"rt.usage.{name}", getattr(usage, name))
    return found


def error_attributes(error: ErrorFacts) -> dict[str, AttributeValue]:
    found: dict[str, Any] = {}
    _put(found, "error.type", error.type or "unknown")
    _put(found, "rt.error.source", error.source)
    _put(found, "rt.error.code", error.code)
    _put(found, "rt.error.message", (error.message or "")[:MAX_MESSAGE] or None)
    _put(found, "gen_ai.response.id", error.response_id)
    return found


def rate_limit_attributes(entry: RateLimitFacts) -> dict[str, AttributeValue]:
    found: dict[str, Any] = {}
    _put(found, "rt.rate_limit.name", entry.name)
    _put(found, "rt.rate_limit.limit", entry.limit)
    _put(found, "rt.rate_limit.remaining", entry.remaining)
    _put(found, "rt.rate_limit.reset_seconds", entry.reset_seconds)
    return found


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
