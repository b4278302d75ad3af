"""Production telemetry: Prometheus `/metrics` and OpenTelemetry (OTLP/HTTP) from the proxy,
and OTLP traces from existing recordings.

    telemetry = Telemetry.start(prices, metrics_address=("127.0.0.1", 9464), otlp_url=URL)
    RecordingProxy(..., observer=telemetry)      each session gets a tap on its records
    telemetry.close()                            -> TelemetryReport (what was sent, dropped)

    export_otlp(paths, endpoint)                 rt export otlp: the same traces, from files

How it fits (one module, one job):

- `watcher`: a session's records through the one interpretation (`recorder.interpretation`),
  and each fact, once final, to the sinks; used live and by the backfill alike;
- `metrics`: what each metric is and what a fact adds to it (pure); `metrics_sink` turns facts
  into measurements; `prometheus` and `otlp.OtelMetrics` are the two backends;
- `attributes` and `traces`: the spans of a session and its responses;
- `live`: the proxy's taps and the thread that interprets off the event loop;
- `metrics_server`: `/metrics` on its own listener; `otlp`: the bounded, batching exporter;
- `backfill`: recordings read through `recorder.reading` into the same traces.

The libraries (prometheus-client, opentelemetry-sdk, the OTLP/HTTP exporter) are the optional
`rt-recorder[telemetry]` extra; each module that needs one says so with `MissingExtra`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from recorder.pricing import PriceTable
from recorder.telemetry.extra import EXTRA, MissingExtra
from recorder.telemetry.live import LiveTelemetry, SessionTap
from recorder.telemetry.metrics import METRICS, BoundedLabels, MetricSpec
from recorder.telemetry.metrics_sink import MetricsBackend, MetricsSink
from recorder.telemetry.watcher import SessionWatcher, TelemetrySink, WatchedSession

__all__ = [
    "EXTRA",
    "METRICS",
    "LiveTelemetry",
    "MetricSpec",
    "MissingExtra",
    "SessionTap",
    "SessionWatcher",
    "Telemetry",
    "TelemetryReport",
    "TelemetrySink",
    "WatchedSession",
]


@dataclass(frozen=True)
class TelemetryReport:
    """What telemetry did over a proxy's run."""

    frames_dropped: int  # not interpreted: the telemetry thread fell behind
    spans_sent: int
    spans_dropped: int  # queue full, or the collector did not take them
    metric_exports_failed: int
    faults: int  # sessions whose interpretation failed (a bug: reported once each)

    @property
    def lost_anything(self) -> bool:
        return bool(
            self.frames_dropped or self.spans_dropped or self.metric_exports_failed or self.faults
        )


class Telemetry:
    """The proxy's live telemetry: the observer given to `RecordingProxy`, the `/metrics`
    listener and the OTLP export, started and stopped together."""

    def __init__(
        self,
        live: LiveTelemetry,
        *,
        metrics_server: Any = None,
        otlp: Any = None,
        metrics_sink: MetricsSink | None = None,
    ) -> None:
        self.live = live
        self.metrics_server = metrics_server
        self.otlp = otlp
        self.metrics_sink = metrics_sink
        self._reported = {"spans": 0, "metric_exports": 0}
        self._reporting = threading.Lock()  # the live thread and close() both report
        live.after_drain = self._count_export_losses

    @classmethod
    def start(
        cls,
        prices: PriceTable,
        *,
        metrics_address: tuple[str, int] | None = None,
        auth_token: str | None = None,
        otlp_url: str | None = None,
        otlp_options: dict[str, Any] | None = None,
        live_options: dict[str, Any] | None = None,
    ) -> Telemetry:
        """Start what is asked for: `/metrics` at `metrics_address`, OTLP to `otlp_url`.
        Raises MissingExtra without the libraries, InputError when the address is taken."""
        backends: list[MetricsBackend] = []
        sinks: list[TelemetrySink] = []
        prometheus = otlp = server = None
        if metrics_address is not None:
            from recorder.telemetry.metrics_server import MetricsServer
            from recorder.telemetry.prometheus import PrometheusMetrics

            prometheus = PrometheusMetrics()
            backends.append(prometheus)
            host, port = metrics_address
            server = MetricsServer(
                prometheus.exposition, host=host, port=port, auth_token=auth_token
            )
        if otlp_url is not None:
            from recorder.telemetry.otlp import OtlpExport
            from recorder.telemetry.traces import TraceSink

            otlp = OtlpExport(otlp_url, metrics=True, **(otlp_options or {}))
            if otlp.metrics is not None:
                backends.append(otlp.metrics)
            sinks.append(TraceSink(otlp.tracer))
        metrics_sink = MetricsSink(backends, BoundedLabels()) if backends else None
        live = LiveTelemetry(sinks, prices, metrics=metrics_sink, **(live_options or {}))
        telemetry = cls(live, metrics_server=server, otlp=otlp, metrics_sink=metrics_sink)
        try:
            if server is not None:
                server.start()
        except BaseException:
            if otlp is not None:
                otlp.close(timeout=0)
            raise
        live.start()
        return telemetry

    def session_started(self) -> SessionTap:
        """A tap for a new session (`RecordingProxy`'s observer interface)."""
        return self.live.session_started()

    def flush(self, timeout: float = 10.0) -> bool:
        """Interpret what is queued and send it (tests, and before a report)."""
        done = self.live.flush(timeout)
        if self.otlp is not None:
            done = self.otlp.flush(timeout) and done
        self._count_export_losses()
        return done

    def close(self, timeout: float = 10.0) -> TelemetryReport:
        """Interpret what is queued, send it (each step bounded by `timeout`), stop."""
        self.live.close(timeout)
        if self.otlp is not None:
            self.otlp.close(timeout)
        self._count_export_losses()
        if self.metrics_server is not None:
            self.metrics_server.close()
        return self.report()

    def report(self) -> TelemetryReport:
        otlp = self.otlp
        return TelemetryReport(
            frames_dropped=self.live.frames_dropped,
            spans_sent=0 if otlp is None else otlp.spans.sent,
            spans_dropped=0 if otlp is None else otlp.spans_dropped,
            metric_exports_failed=0 if otlp is None else otlp.metric_exports_failed,
            faults=self.live.faults,
        )

    def _count_export_losses(self) -> None:
        if self.otlp is None or self.metrics_sink is None:
            return
        with self._reporting:
            for what, now in (
                ("spans", self.otlp.spans_dropped),
                ("metric_exports", self.otlp.metric_exports_failed),
            ):
                if now > self._reported[what]:
                    self.metrics_sink.dropped(what, now - self._reported[what])
                    self._reported[what] = now
