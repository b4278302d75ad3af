"""A real OTLP/HTTP receiver for tests: a collector's HTTP side on 127.0.0.1, decoding the
protobuf payloads with opentelemetry-proto (what a collector does), keeping what it got.

    with OtlpReceiver() as receiver:            # receiver.url: http://127.0.0.1:PORT
        ...
        receiver.spans()                        # every span received, decoded
        receiver.metrics()                      # every metric data point batch, decoded

`mode="hang"` accepts connections and never answers (a collector that stalls); `status=503`
refuses every export.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def value_of(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(v) for v in value.array_value.values]
    return getattr(value, kind) if kind is not None else None


def attributes_of(attributes: Any) -> dict[str, Any]:
    return {a.key: value_of(a.value) for a in attributes}


@dataclass
class ReceivedSpan:
    name: str
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[tuple[str, int, dict[str, Any]]]
    status_code: int
    resource: dict[str, Any]


class OtlpReceiver:
    def __init__(self, *, mode: str = "ok", status: int = 200) -> None:
        self.mode = mode
        self.status = status
        self.trace_requests: list[ExportTraceServiceRequest] = []
        self.metric_requests: list[ExportMetricsServiceRequest] = []
        self.requests = 0
        self._lock = threading.Lock()
        self._release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                with owner._lock:
                    owner.requests += 1
                if owner.mode == "hang":
                    owner._release.wait(60)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if owner.status != 200:
                    self.send_response(owner.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/v1/traces":
                    request = ExportTraceServiceRequest()
                    request.ParseFromString(body)
                    with owner._lock:
                        owner.trace_requests.append(request)
                    reply = ExportTraceServiceResponse().SerializeToString()
                elif self.path == "/v1/metrics":
                    metrics = ExportMetricsServiceRequest()
                    metrics.ParseFromString(body)
                    with owner._lock:
                        owner.metric_requests.append(metrics)
                    reply = ExportMetricsServiceResponse().SerializeToString()
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def spans(self) -> list[ReceivedSpan]:
        found = []
        with self._lock:
            requests = list(self.trace_requests)
        for request in requests:
            for resource_spans in request.resource_spans:
                resource = attributes_of(resource_spans.resource.attributes)
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        found.append(
                            ReceivedSpan(
                                name=span.name,
                                trace_id=span.trace_id,
                                span_id=span.span_id,
                                parent_span_id=span.parent_span_id,
                                start_ns=span.start_time_unix_nano,
                                end_ns=span.end_time_unix_nano,
                                attributes=attributes_of(span.attributes),
                                events=[
                                    (e.name, e.time_unix_nano, attributes_of(e.attributes))
                                    for e in span.events
                                ],
                                status_code=span.status.code,
                                resource=resource,
                            )
                        )
        return found

    def metric_points(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """The latest batch's data points of each metric: name -> [(attributes, point)]."""
        with self._lock:
            requests = list(self.metric_requests)
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        for request in requests[-1:]:
            for resource_metrics in request.resource_metrics:
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        data = getattr(metric, metric.WhichOneof("data"))
                        found[metric.name] = [
                            (attributes_of(point.attributes), point) for point in data.data_points
                        ]
        return found

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> list[ReceivedSpan]:
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans()
            if len(spans) >= count or time.monotonic() > deadline:
                return spans
            time.sleep(0.02)
