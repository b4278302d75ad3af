"""The traces as a `TelemetrySink`: one trace per session, one span per response.

    sink = TraceSink(tracer)          an OpenTelemetry tracer (recorder.telemetry.otlp makes one)

The session span opens when the session starts (at its `started_at`) and ends with it; each
response becomes a child span once final (at its `response.done`, or at the session's end), from
its trigger (or its `response.created`) to its `response.done`, with the response's facts as
attributes (`attributes.py`) and events at its `response.created`, first output and first audio.
Errors and rate-limit entries are events on the session span (an error of a response names it
in `gen_ai.response.id`; a failed response's span also has an error status). All times are the recording's: `started_at`
plus each fact's `t`, so a backfilled trace looks like the live one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from recorder.interpretation import ErrorFacts, RateLimitFacts, ResponseFacts, SessionFacts
from recorder.interpretation.costs import SessionCost
from recorder.telemetry import attributes
from recorder.telemetry.extra import require
from recorder.telemetry.watcher import WatchedSession

trace = require("opentelemetry.trace", "--otlp")

_STATE = "trace"
_LAST_NS = 2**64 - 1  # OTLP times are unsigned 64-bit nanoseconds since 1970


def _start_ns(started: dt.datetime | None) -> int:
    """A session span's start: its `started_at`, or now when it has none or one that OTLP
    cannot carry (before 1970, or after 2554: a hostile header would fail the whole batch)."""
    if started is not None:
        start_ns = round(started.timestamp() * 1e9)
        if 0 <= start_ns <= _LAST_NS:
            return start_ns
    return round(dt.datetime.now(dt.timezone.utc).timestamp() * 1e9)


class _SessionTrace:
    def __init__(self, span: Any, start_ns: int, provider: str) -> None:
        self.span = span
        self.context = trace.set_span_in_context(span)
        self.start_ns = start_ns
        self.provider = provider

    def at(self, t: float | None) -> int:
        return min(self.start_ns + round((t or 0.0) * 1e9), _LAST_NS)


class TraceSink:
    """Writes each watched session as a trace through `tracer`."""

    def __init__(self, tracer: Any) -> None:
        self.tracer = tracer

    def session_started(self, session: WatchedSession) -> None:
        connection = session.interpreter.connection
        start_ns = _start_ns(session.started_at)
        provider = attributes.provider_name(connection.upstream)
        span = self.tracer.start_span(
            f"realtime {session.model or ''}".rstrip(),
            kind=trace.SpanKind.CLIENT,
            start_time=start_ns,
            attributes={"gen_ai.operation.name": "realtime", "gen_ai.provider.name": provider},
        )
        session.state[_STATE] = _SessionTrace(span, start_ns, provider)

    def response_finished(
        self, session: WatchedSession, response: ResponseFacts, cost: float | None
    ) -> None:
        state: _SessionTrace = session.state[_STATE]
        starts = [t for t in (response.trigger_t, response.created_t) if t is not None]
        start_t = min(starts) if starts else session.interpreter.max_t
        end_t = response.done_t if response.done_t is not None else session.interpreter.max_t
        span = self.tracer.start_span(
            f"response {session.model or ''}".rstrip(),
            context=state.context,
            kind=trace.SpanKind.CLIENT,
            start_time=state.at(start_t),
            attributes=attributes.response_attributes(
                response,
                model=session.model,
                session_id=session.interpreter.connection.session_id or "",
                provider=state.provider,
                cost=cost,
            ),
        )
        for name, t in (
            ("rt.response.created", response.created_t),
            ("rt.response.first_output", response.first_delta_t),
            ("rt.response.first_audio", response.first_audio_t),
        ):
            if t is not None:
                span.add_event(name, timestamp=state.at(t))
        if response.status == "failed":
            span.set_status(trace.Status(trace.StatusCode.ERROR, response.reason or "failed"))
        span.end(end_time=max(state.at(end_t), state.at(start_t)))

    def error(self, session: WatchedSession, error: ErrorFacts) -> None:
        state: _SessionTrace = session.state[_STATE]
        state.span.add_event(
            "rt.error", attributes=attributes.error_attributes(error), timestamp=state.at(error.t)
        )

    def rate_limit(self, session: WatchedSession, entry: RateLimitFacts) -> None:
        state: _SessionTrace = session.state[_STATE]
        state.span.add_event(
            "rt.rate_limits",
            attributes=attributes.rate_limit_attributes(entry),
            timestamp=state.at(entry.t),
        )

    def session_ended(
        self, session: WatchedSession, facts: SessionFacts, cost: SessionCost
    ) -> None:
        state: _SessionTrace = session.state.pop(_STATE)
        span = state.span
        if facts.model:
            span.update_name(f"realtime {facts.model}")
        span.set_attributes(attributes.session_attributes(facts, cost.cost_usd))
        span.end(end_time=state.at(facts.duration_s))
