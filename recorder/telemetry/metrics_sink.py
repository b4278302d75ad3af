"""The metrics as a `TelemetrySink`: each fact of a session becomes `Measurement`s, which every
metrics backend (Prometheus, OpenTelemetry) records the same way."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from recorder.interpretation import ErrorFacts, RateLimitFacts, ResponseFacts, SessionFacts
from recorder.interpretation.costs import SessionCost
from recorder.telemetry import metrics
from recorder.telemetry.metrics import BoundedLabels, Measurement
from recorder.telemetry.watcher import WatchedSession


class MetricsBackend(Protocol):
    def record(self, measurements: Iterable[Measurement]) -> None: ...


class MetricsSink:
    """Turns what a `SessionWatcher` tells into measurements for `backends`."""

    def __init__(self, backends: Sequence[MetricsBackend], bound: BoundedLabels | None = None):
        self.backends = backends
        self.bound = bound or BoundedLabels()

    def record(self, measurements: list[Measurement]) -> None:
        if measurements:
            for backend in self.backends:
                backend.record(measurements)

    def session_started(self, session: WatchedSession) -> None:
        self.record(metrics.session_started_measurements())

    def response_finished(
        self, session: WatchedSession, response: ResponseFacts, cost: float | None
    ) -> None:
        self.record(metrics.response_measurements(response, session.model, cost, self.bound))

    def error(self, session: WatchedSession, error: ErrorFacts) -> None:
        self.record(metrics.error_measurements(error, self.bound))

    def rate_limit(self, session: WatchedSession, entry: RateLimitFacts) -> None:
        self.record(metrics.rate_limit_measurements(entry, self.bound))

    def session_ended(
        self, session: WatchedSession, facts: SessionFacts, cost: SessionCost
    ) -> None:
        self.record(metrics.session_ended_measurements(facts.closed_by, self.bound))
        # what the session cost beyond its responses (told as each finished)
        self.record(
            metrics.session_cost_measurements(
                session.model,
                (
                    cost.transcription.cost_usd,
                    cost.translation_cost_usd,
                    cost.live_cost_usd,
                ),
                self.bound,
            )
        )

    def frames(self, direction: str, count: int, size: int) -> None:
        self.record(metrics.frame_measurements(direction, count, size))

    def dropped(self, what: str, count: int) -> None:
        self.record(metrics.dropped_measurements(what, count))
