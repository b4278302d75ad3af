"""OTLP/HTTP export: traces (and the live metrics) to an OpenTelemetry collector.

    export = OtlpExport("http://127.0.0.1:4318", metrics=True)
    export.tracer                     for a TraceSink
    export.metrics                    a metrics backend (OpenTelemetry instruments), or None
    export.close()                    send what is queued (bounded by a timeout), stop
    export.spans_dropped, export.metric_exports_failed

`URL` is the collector's base URL: traces go to `URL/v1/traces` and metrics to
`URL/v1/metrics` (a URL already ending in `/v1/traces` is taken as the base it ends).
Headers (`OTEL_EXPORTER_OTLP_HEADERS`, e.g. an API key for a hosted backend), certificates and
compression come from the standard `OTEL_EXPORTER_OTLP_*` environment variables, and the service
name from `OTEL_SERVICE_NAME` (default `rt`), as for any OpenTelemetry exporter.

A slow or dead collector never holds a call up: spans wait in a bounded queue
(`SpanQueue`, `max_queue` spans) that a thread of its own sends in batches; when the queue is
full a span is dropped, and a batch the collector does not take (refused, unreachable, timed out)
is dropped too; both are counted in `spans_dropped`. Metrics are cumulative, so a failed metric
export loses nothing but its moment (`metric_exports_failed` counts them).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

from recorder import __version__
from recorder.telemetry.extra import MissingExtra
from recorder.telemetry.metrics import LATENCY_BUCKETS, METRICS, Measurement, MetricSpec

_OPTION = "--otlp"
try:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExportResult,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult
except ImportError:
    raise MissingExtra("opentelemetry", _OPTION) from None

# The SDK logs each failed export; without a handler of the application's, Python would print
# them on stderr (a library never prints: rt counts and reports the losses itself).
logging.getLogger("opentelemetry").addHandler(logging.NullHandler())

DEFAULT_MAX_QUEUE = 4096
DEFAULT_BATCH = 512
DEFAULT_DELAY_S = 1.0
DEFAULT_TIMEOUT_S = 10.0
MAX_SPAN_EVENTS = 1000  # a session span's errors and rate limits


def signal_url(base: str, signal: str) -> str:
    """`URL/v1/<signal>` for a collector's base URL."""
    base = base.rstrip("/")
    for known in ("/v1/traces", "/v1/metrics"):
        if base.endswith(known):
            base = base[: -len(known)]
    return f"{base}/v1/{signal}"


def resource() -> Any:
    return Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME") or "rt",
            "service.version": __version__,
        }
    )


class SpanQueue(SpanProcessor):
    """Ended spans, sent in batches by a thread; bounded, counting what it drops."""

    def __init__(
        self,
        exporter: Any,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        batch: int = DEFAULT_BATCH,
        delay: float = DEFAULT_DELAY_S,
        wait_when_full: float = 0.0,
    ) -> None:
        self.exporter = exporter
        self.wait_when_full = wait_when_full
        self.max_queue = max_queue
        self.batch = batch
        self.delay = delay
        self.sent = 0
        self.dropped = 0  # the queue was full
        self.failed = 0  # in batches the collector did not take
        self._queue: collections.deque[Any] = collections.deque()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._healthy = True  # the last export succeeded
        self._counting = threading.Lock()
        self._in_flight = 0  # spans of the batch being exported
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="rt-otlp-spans", daemon=True)
        self._thread.start()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: Any) -> None:
        if len(self._queue) >= self.max_queue and not self._room_within(self.wait_when_full):
            self.dropped += 1
            return
        self._queue.append(span)
        if len(self._queue) >= self.batch:
            self._wake.set()

    def _room_within(self, seconds: float) -> bool:
        """Wait up to `seconds` for room in the queue while the collector takes what it is
        sent (a backfill waits; the live proxy never does)."""
        deadline = time.monotonic() + seconds
        while len(self._queue) >= self.max_queue:
            if not self._healthy or time.monotonic() >= deadline:
                return False
            self._wake.set()
            time.sleep(0.01)
        return True

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.delay)
            self._wake.clear()
            self._send()

    def _send(self) -> None:
        self._idle.clear()
        try:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
                with self._counting:
                    self._in_flight = len(batch)
                try:
                    result = self.exporter.export(batch)
                except Exception:  # the exporter's own faults count as a refusal
                    result = None
                with self._counting:
                    if not self._in_flight:
                        continue  # shutdown gave up on this batch and counted it
                    self._in_flight = 0
                    self._healthy = result == SpanExportResult.SUCCESS
                    if self._healthy:
                        self.sent += len(batch)
                    else:
                        self.failed += len(batch)
        finally:
            self._idle.set()

    @property
    def lost(self) -> int:
        return self.dropped + self.failed

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000
        while self._queue or not self._idle.is_set():
            self._wake.set()
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def shutdown(self, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        """Send what is queued within `timeout`; what is left (or still in flight) is lost."""
        deadline = time.monotonic() + timeout
        self.force_flush(int(timeout * 1000))
        self._stopping = True
        self._wake.set()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        with self._counting:
            self.failed += self._in_flight + len(self._queue)
            self._in_flight = 0
            self._queue.clear()
        self.exporter.shutdown()


class OtelMetrics:
    """The live metrics as OpenTelemetry instruments (one per `MetricSpec`), fed
    `Measurement`s; a periodic reader sends them to the collector."""

    def __init__(self, meter: Any) -> None:
        self._instruments: dict[str, Any] = {}
        for spec in METRICS:
            self._instruments[spec.name] = _instrument(meter, spec)

    def record(self, measurements: Iterable[Measurement]) -> None:
        for measurement in measurements:
            spec = measurement.metric
            instrument = self._instruments[spec.name]
            labels = dict(zip(spec.labels, measurement.labels, strict=True))
            if spec.type == "histogram":
                instrument.record(measurement.value, labels)
            elif spec.type == "gauge":
                instrument.set(measurement.value, labels)
            else:
                instrument.add(measurement.value, labels)


def _instrument(meter: Any, spec: MetricSpec) -> Any:
    if spec.type == "counter":
        return meter.create_counter(spec.name, spec.unit, spec.help)
    if spec.type == "updown":
        return meter.create_up_down_counter(spec.name, spec.unit, spec.help)
    if spec.type == "gauge":
        return meter.create_gauge(spec.name, spec.unit, spec.help)
    return meter.create_histogram(
        spec.name, spec.unit, spec.help, explicit_bucket_boundaries_advisory=LATENCY_BUCKETS
    )


class OtlpExport:
    """A tracer (and, with `metrics`, a meter) whose data go to the collector at `url`."""

    def __init__(
        self,
        url: str,
        *,
        metrics: bool = False,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_queue: int = DEFAULT_MAX_QUEUE,
        batch: int = DEFAULT_BATCH,
        delay: float = DEFAULT_DELAY_S,
        metrics_interval: float = 15.0,
        wait_when_full: float = 0.0,
    ) -> None:
        self.url = url
        self.timeout = timeout
        exporter = OTLPSpanExporter(endpoint=signal_url(url, "traces"), timeout=timeout)
        self.spans = SpanQueue(
            exporter, max_queue=max_queue, batch=batch, delay=delay, wait_when_full=wait_when_full
        )
        self.provider = TracerProvider(
            resource=resource(),
            span_limits=SpanLimits(max_events=MAX_SPAN_EVENTS),
            shutdown_on_exit=False,
        )
        self.provider.add_span_processor(self.spans)
        self.tracer = self.provider.get_tracer("rt", __version__)
        self.metrics: OtelMetrics | None = None
        self._meter_provider: Any = None
        self._metric_exporter: _CountingMetricExporter | None = None
        if metrics:
            self._start_metrics(url, timeout, metrics_interval)

    def _start_metrics(self, url: str, timeout: float, interval: float) -> None:
        self._metric_exporter = _CountingMetricExporter(
            endpoint=signal_url(url, "metrics"), timeout=timeout
        )
        reader = PeriodicExportingMetricReader(
            self._metric_exporter,
            export_interval_millis=interval * 1000,
            export_timeout_millis=timeout * 1000,
        )
        self._meter_provider = MeterProvider(
            resource=resource(), metric_readers=[reader], shutdown_on_exit=False
        )
        self.metrics = OtelMetrics(self._meter_provider.get_meter("rt", __version__))

    @property
    def spans_dropped(self) -> int:
        return self.spans.lost

    @property
    def metric_exports_failed(self) -> int:
        return 0 if self._metric_exporter is None else self._metric_exporter.failed

    def flush(self, timeout: float | None = None) -> bool:
        limit = self.timeout if timeout is None else timeout
        done = self.spans.force_flush(int(limit * 1000))
        if self._meter_provider is not None:
            done = _within(limit, self._meter_provider.force_flush, int(limit * 1000)) and done
        return bool(done)

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued (each signal within `timeout`), then stop."""
        limit = self.timeout if timeout is None else timeout
        self.spans.shutdown(limit)
        if self._meter_provider is not None:
            _within(limit, self._meter_provider.shutdown, int(limit * 1000))


def _within(seconds: float, call: Any, *args: Any) -> bool:
    """`call(*args)` on a thread, waited for `seconds` at most: the SDK's metric flush and
    shutdown wait for an export as long as the exporter's own timeout, whatever they are told."""
    outcome: list[Any] = []
    thread = threading.Thread(
        target=lambda: outcome.append(call(*args)), name="rt-otlp-flush", daemon=True
    )
    thread.start()
    thread.join(seconds)
    return bool(outcome and outcome[0] is not False)


class _CountingMetricExporter(OTLPMetricExporter):
    """The OTLP metric exporter, counting the exports it could not deliver."""

    failed = 0

    def export(
        self, metrics_data: Any, timeout_millis: float | None = 10_000, **kwargs: Any
    ) -> Any:
        try:
            result = super().export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception:
            result = MetricExportResult.FAILURE
        if result != MetricExportResult.SUCCESS:
            self.failed += 1
        return result
