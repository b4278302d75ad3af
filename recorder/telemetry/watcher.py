"""A session as it happens: its records through the one interpretation, news to the sinks (pure).

    watcher = SessionWatcher(key, sinks, prices, path)
    watcher.feed(line, record)        each record, in order (live from the proxy, or from a file)
    facts = watcher.finish()          the session's facts; the sinks hear of everything not yet told

A `SessionWatcher` owns the session's `Interpreter` and reads what it says after each record:
a response whose `response.done` just arrived (`interpreter.responses.facts(id)`), the errors
and rate limits it appended. It tells each `TelemetrySink` once per fact, as soon as the fact is
final, so live metrics move during a call; `finish()` tells what only the end decides
(responses that never got a `response.done`, failures dated by the end). The same code serves
the proxy's live telemetry and `rt export otlp`'s backfill, so both say the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from recorder import vocabulary as vocab
from recorder.interpretation import (
    ErrorFacts,
    Interpreter,
    RateLimitFacts,
    ResponseFacts,
    SessionFacts,
    cost_usd,
    response_error,
)
from recorder.interpretation.costs import SessionCost, session_cost
from recorder.interpretation.interpreter import OnWarning
from recorder.pricing import PriceTable


@dataclass
class WatchedSession:
    """One session as the sinks see it: its key, its interpreter (model, start time, …) and a
    slot per sink for what that sink keeps about it (an open span, say)."""

    key: int
    interpreter: Interpreter
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str | None:
        return self.interpreter.connection.model

    @property
    def started_at(self) -> dt.datetime | None:
        return self.interpreter.connection.started_at


class TelemetrySink(Protocol):
    """What telemetry does with the news of a session (metrics, traces)."""

    def session_started(self, session: WatchedSession) -> None: ...

    def response_finished(
        self, session: WatchedSession, response: ResponseFacts, cost: float | None
    ) -> None: ...

    def error(self, session: WatchedSession, error: ErrorFacts) -> None: ...

    def rate_limit(self, session: WatchedSession, entry: RateLimitFacts) -> None: ...

    def session_ended(
        self, session: WatchedSession, facts: SessionFacts, cost: SessionCost
    ) -> None:
        """`cost`: the session's, by the one rule of `rt stats` (interpretation/costs.py)."""
        ...


class SessionWatcher:
    """Interprets one session record by record and tells `sinks` each fact once it is final."""

    def __init__(
        self,
        key: int,
        sinks: Sequence[TelemetrySink],
        prices: PriceTable,
        path: str = "<live>",
        on_warning: OnWarning | None = None,
    ) -> None:
        self.session = WatchedSession(key, Interpreter(path, on_warning))
        self.sinks = sinks
        self.prices = prices
        self._started = False
        self._reported: set[str] = set()  # responses told
        self._failures: set[str] = set()  # failed responses whose error was told
        self._errors = 0  # of interpreter.errors, told
        self._rate_limits = 0  # of interpreter.rate_limits, told

    def feed(self, line: int, record: Mapping[str, Any]) -> None:
        interpreter = self.session.interpreter
        frame = interpreter.feed(line, record)
        if not self._started:
            if record.get("kind") == "session":
                return  # the header: wait for the first record after it (started_at known)
            self._start()
        if frame is not None and frame.type == vocab.RESPONSE_DONE:
            response_id = frame.response_id
            if response_id is not None and response_id in interpreter.responses:
                self._response(interpreter.responses.facts(response_id))
        if len(interpreter.errors) > self._errors:
            for error in interpreter.errors[self._errors :]:
                self._tell("error", error)
            self._errors = len(interpreter.errors)
        if len(interpreter.rate_limits) > self._rate_limits:
            for entry in interpreter.rate_limits[self._rate_limits :]:
                self._tell("rate_limit", entry)
            self._rate_limits = len(interpreter.rate_limits)

    def finish(self) -> SessionFacts:
        """The session's facts; the sinks hear what only its end decides, then that it ended."""
        if not self._started:
            self._start()
        facts = self.session.interpreter.finish()
        for response in facts.responses:
            if response.response_id not in self._reported:
                self._response(response)
        for error in facts.errors:
            if error.source == "response" and error.response_id not in self._failures:
                self._failures.add(error.response_id or "")
                self._tell("error", error)
        cost = session_cost(facts, self.prices)  # the one rule, as in rt stats
        for sink in self.sinks:
            sink.session_ended(self.session, facts, cost)
        return facts

    def _start(self) -> None:
        self._started = True
        for sink in self.sinks:
            sink.session_started(self.session)

    def _response(self, response: ResponseFacts) -> None:
        self._reported.add(response.response_id)
        cost = cost_usd(response.usage, self.prices.prices(self.session.model))
        for sink in self.sinks:
            sink.response_finished(self.session, response, cost)
        error = response_error(response, self.session.interpreter.max_t)
        if error is not None:
            self._failures.add(response.response_id)
            self._tell("error", error)

    def _tell(self, what: str, fact: ErrorFacts | RateLimitFacts) -> None:
        for sink in self.sinks:
            getattr(sink, what)(self.session, fact)
