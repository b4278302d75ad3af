"""The metrics in Prometheus' text format (`prometheus_client`, the `telemetry` extra).

    backend = PrometheusMetrics()
    backend.record(measurements)      from recorder.telemetry.metrics
    body, content_type = backend.exposition()

Its own `CollectorRegistry`, holding exactly `metrics.METRICS` (no process or GC collectors):
what a scrape of `rt record --metrics` returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from recorder.telemetry.extra import require
from recorder.telemetry.metrics import (
    LATENCY_BUCKETS,
    METRICS,
    Measurement,
    MetricSpec,
)

prometheus_client = require("prometheus_client", "--metrics")

_TYPES = {
    "counter": prometheus_client.Counter,
    "updown": prometheus_client.Gauge,
    "gauge": prometheus_client.Gauge,
    "histogram": prometheus_client.Histogram,
}


class PrometheusMetrics:
    """A registry with one Prometheus metric per `MetricSpec`, fed `Measurement`s."""

    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry(auto_describe=True)
        self._metrics: dict[str, Any] = {}
        for spec in METRICS:
            options: dict[str, Any] = {"registry": self.registry, "labelnames": spec.labels}
            if spec.type == "histogram":
                options["buckets"] = LATENCY_BUCKETS
            self._metrics[spec.name] = _TYPES[spec.type](spec.name, spec.help, **options)

    def record(self, measurements: Iterable[Measurement]) -> None:
        for measurement in measurements:
            spec = measurement.metric
            metric = self._metrics[spec.name]
            if spec.labels:
                metric = metric.labels(*measurement.labels)
            _apply(spec, metric, measurement.value)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition of every metric, and its content type."""
        return prometheus_client.generate_latest(self.registry), _CONTENT_TYPE


_CONTENT_TYPE = prometheus_client.exposition.CONTENT_TYPE_PLAIN_0_0_4


def _apply(spec: MetricSpec, metric: Any, value: float) -> None:
    if spec.type == "counter" or spec.type == "updown":
        metric.inc(value)
    elif spec.type == "gauge":
        metric.set(value)
    else:
        metric.observe(value)
