"""The live metrics: what each one is, its labels, and the values an observation adds (pure).

    METRICS                         every metric rt exports (name, type, unit, labels, help)
    Measurement(metric, labels, value)
    response_measurements(...)      what a finished response adds: latencies, count, tokens, cost
    error_measurements(...), rate_limit_measurements(...), …

The values are fields of `recorder.interpretation`'s facts (a response's `ttfb_ms`, its
`usage`, its `kind`, …) and `usage.cost_usd` of its tokens, the same numbers `rt stats`
shows; nothing here measures a session a second way. Latencies are exported in seconds (the
Prometheus and OpenTelemetry base unit), so `rt_response_ttfb_seconds_sum * 1000` is the sum
of `rt stats`' `ttfb_ms`.

Labels are bounded: a metric never carries a session id, a response id or anything secret, and
each free-text label (model, error type and code, rate-limit name, status) keeps its first
`LABEL_VALUES_LIMIT` distinct values and reads later ones as `other`, so a client that names a
new model on every call cannot grow the exposition without end. Each backend (Prometheus,
OpenTelemetry) builds its instruments from `METRICS` and applies `Measurement`s; neither
decides a value.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from recorder.interpretation import ErrorFacts, RateLimitFacts, ResponseFacts

# counter: only goes up; updown: a running sum (+1, -1); gauge: the latest value; histogram
MetricType = Literal["counter", "updown", "gauge", "histogram"]

# Bucket edges for voice latencies, in seconds: fine where a conversation feels responsive
# (a few hundred ms), coarse towards the 5 s where a caller has given up.
LATENCY_BUCKETS = (
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.6,
    0.75,
    1.0,
    1.25,
    1.5,
    2.0,
    2.5,
    3.0,
    4.0,
    5.0,
)
LABEL_VALUES_LIMIT = 25
OTHER = "other"
NONE = "none"


@dataclass(frozen=True)
class MetricSpec:
    """One exported metric. `name` is the Prometheus name (a counter's adds `_total`)."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    # OpenTelemetry's unit ("s", "By", "{token}"): chosen so that a collector's Prometheus
    # exporter adds no suffix the name lacks (braces are annotations, never suffixed)
    unit: str = ""

    @property
    def exposed_name(self) -> str:
        """The name in the Prometheus exposition (histograms add _bucket/_sum/_count)."""
        return self.name + "_total" if self.type == "counter" else self.name


def _spec(*args: object, **kwargs: object) -> MetricSpec:
    return MetricSpec(*args, **kwargs)  # type: ignore[arg-type]


SESSIONS_ACTIVE = _spec(
    "rt_sessions_active", "updown", "Sessions being proxied now.", unit="{session}"
)
SESSIONS_STARTED = _spec(
    "rt_sessions_started",
    "counter",
    "Sessions (connections) the proxy began recording.",
    unit="{session}",
)
SESSIONS_ENDED = _spec(
    "rt_sessions_ended",
    "counter",
    "Sessions that ended, by who closed them (client, server, proxy).",
    ("closed_by",),
    unit="{session}",
)
FRAMES = _spec(
    "rt_frames",
    "counter",
    "WebSocket data frames relayed, by direction (client: client to API, server: API to client).",
    ("direction",),
    unit="{frame}",
)
FRAME_BYTES = _spec(
    "rt_frame_bytes",
    "counter",
    "Payload bytes of the relayed frames, by direction.",
    ("direction",),
    unit="By",
)
TTFB = _spec(
    "rt_response_ttfb_seconds",
    "histogram",
    "Time to first audio: first audio delta minus the "
    "trigger (rt stats ttfb_ms), per finished response with audio.",
    ("model", "kind"),
    unit="s",
)
TTFT = _spec(
    "rt_response_ttft_seconds",
    "histogram",
    "Time to first output of any kind (rt stats ttft_ms).",
    ("model", "kind"),
    unit="s",
)
VOICE_TO_VOICE = _spec(
    "rt_response_voice_to_voice_seconds",
    "histogram",
    "From the end of the user's speech to "
    "the first audio (rt stats voice_to_voice_ms; server VAD turns only).",
    ("model", "kind"),
    unit="s",
)
DURATION = _spec(
    "rt_response_duration_seconds",
    "histogram",
    "response.created to response.done (rt stats duration_ms).",
    ("model", "kind"),
    unit="s",
)
RESPONSES = _spec(
    "rt_responses",
    "counter",
    "Finished responses, by kind (turn, out_of_band, idle_timeout) "
    "and status (completed, cancelled, failed, incomplete; none without a response.done).",
    ("model", "kind", "status"),
    unit="{response}",
)
ERRORS = _spec(
    "rt_errors",
    "counter",
    "Errors: server error events (source event), failed responses "
    "(response) and faults of the proxy (proxy), by type and code.",
    ("source", "type", "code"),
    unit="{error}",
)
RATE_LIMIT_REMAINING = _spec(
    "rt_rate_limit_remaining",
    "gauge",
    "The latest remaining count of each rate limit (rate_limits.updated), across sessions.",
    ("name",),
)
RATE_LIMIT_LIMIT = _spec(
    "rt_rate_limit_limit", "gauge", "The latest limit of each rate limit.", ("name",)
)
TOKENS = _spec(
    "rt_tokens",
    "counter",
    "Tokens of finished responses (response.done usage), type input or "
    "output (rt stats input_tokens, output_tokens).",
    ("model", "type"),
    unit="{token}",
)
TOKEN_DETAILS = _spec(
    "rt_token_details",
    "counter",
    "The split of those tokens: input_text, input_audio, "
    "input_image, input_cached, output_text, output_audio, output_reasoning (part of "
    "output_text).",
    ("model", "type"),
    unit="{token}",
)
COST = _spec(
    "rt_cost_usd",
    "counter",
    "What the calls cost at the price table's prices (rt stats cost_usd): each response as it "
    "finishes, a session's input transcription and translated audio when it ends; what has no "
    "price adds nothing.",
    ("model",),
    unit="{USD}",
)
UNPRICED = _spec(
    "rt_responses_unpriced",
    "counter",
    "Finished responses whose cost is unknown (a model "
    "without a price, or usage without its split).",
    ("model",),
    unit="{response}",
)
DROPPED = _spec(
    "rt_telemetry_dropped",
    "counter",
    "Telemetry rt could not produce or send: frames not "
    "interpreted (what=frames: the telemetry thread fell behind), spans and metric exports "
    "the OTLP collector did not take (spans, metric_exports).",
    ("what",),
    unit="{item}",
)

METRICS: tuple[MetricSpec, ...] = (
    SESSIONS_ACTIVE,
    SESSIONS_STARTED,
    SESSIONS_ENDED,
    FRAMES,
    FRAME_BYTES,
    TTFB,
    TTFT,
    VOICE_TO_VOICE,
    DURATION,
    RESPONSES,
    ERRORS,
    RATE_LIMIT_REMAINING,
    RATE_LIMIT_LIMIT,
    TOKENS,
    TOKEN_DETAILS,
    COST,
    UNPRICED,
    DROPPED,
)

_LATENCIES = (
    (TTFB, "ttfb_ms"),
    (TTFT, "ttft_ms"),
    (VOICE_TO_VOICE, "voice_to_voice_ms"),
    (DURATION, "duration_ms"),
)
_TOKEN_DETAILS = (
    ("input_text", "input_text_tokens"),
    ("input_audio", "input_audio_tokens"),
    ("input_image", "input_image_tokens"),
    ("input_cached", "input_cached_tokens"),
    ("output_text", "output_text_tokens"),
    ("output_audio", "output_audio_tokens"),
    ("output_reasoning", "output_reasoning_tokens"),
)


@dataclass(frozen=True)
class Measurement:
    """Add `value` to a counter, set a gauge to it, or observe it in a histogram."""

    metric: MetricSpec
    labels: tuple[str, ...]
    value: float


class BoundedLabels:
    """Keeps the first `limit` distinct values of each label and reads later ones as `other`
    (None as `none`). Thread-safe: the live thread and a backfill may share one."""

    def __init__(self, limit: int = LABEL_VALUES_LIMIT) -> None:
        self.limit = limit
        self._seen: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def __call__(self, label: str, value: str | None) -> str:
        if value is None or value == "":
            return NONE
        with self._lock:
            seen = self._seen.setdefault(label, set())
            if value in seen:
                return value
            if len(seen) < self.limit:
                seen.add(value)
                return value
        return OTHER


def response_measurements(
    response: ResponseFacts, model: str | None, cost: float | None, bound: BoundedLabels
) -> list[Measurement]:
    """What one finished response adds: its latencies, its count, its tokens and its cost."""
    model_label = bound("model", model)
    kind = bound("kind", response.kind)
    found = [
        Measurement(RESPONSES, (model_label, kind, bound("status", response.status)), 1),
    ]
    for spec, field in _LATENCIES:
        ms = getattr(response, field)
        if ms is not None:
            found.append(Measurement(spec, (model_label, kind), ms / 1000))
    usage = response.usage
    if usage is not None:
        for type_, total in (("input", usage.input_tokens), ("output", usage.output_tokens)):
            if total:
                found.append(Measurement(TOKENS, (model_label, type_), total))
        for type_, field in _TOKEN_DETAILS:
            count = getattr(usage, field)
            if count:
                found.append(Measurement(TOKEN_DETAILS, (model_label, type_), count))
    if cost is not None:
        found.append(Measurement(COST, (model_label,), cost))
    elif usage is not None:
        found.append(Measurement(UNPRICED, (model_label,), 1))
    return found


def error_measurements(error: ErrorFacts, bound: BoundedLabels) -> list[Measurement]:
    labels = (
        bound("source", error.source),
        bound("error_type", error.type),
        bound("error_code", error.code),
    )
    return [Measurement(ERRORS, labels, 1)]


def rate_limit_measurements(entry: RateLimitFacts, bound: BoundedLabels) -> list[Measurement]:
    name = bound("rate_limit", entry.name)
    found = []
    if entry.remaining is not None:
        found.append(Measurement(RATE_LIMIT_REMAINING, (name,), entry.remaining))
    if entry.limit is not None:
        found.append(Measurement(RATE_LIMIT_LIMIT, (name,), entry.limit))
    return found


def session_started_measurements() -> list[Measurement]:
    return [Measurement(SESSIONS_STARTED, (), 1), Measurement(SESSIONS_ACTIVE, (), 1)]


def session_ended_measurements(closed_by: str | None, bound: BoundedLabels) -> list[Measurement]:
    return [
        Measurement(SESSIONS_ENDED, (bound("closed_by", closed_by),), 1),
        Measurement(SESSIONS_ACTIVE, (), -1),
    ]


def session_cost_measurements(
    model: str | None, parts: tuple[float | None, ...], bound: BoundedLabels
) -> list[Measurement]:
    """What an ended session adds to the cost beyond its responses: its input transcription
    and its translated audio, where priced (CONTRACT §4.2; interpretation/costs.py)."""
    label = bound("model", model)
    return [Measurement(COST, (label,), part) for part in parts if part]


def frame_measurements(direction: str, frames: int, size: int) -> list[Measurement]:
    return [Measurement(FRAMES, (direction,), frames), Measurement(FRAME_BYTES, (direction,), size)]


def dropped_measurements(what: str, count: int) -> list[Measurement]:
    return [Measurement(DROPPED, (what,), count)] if count else []


def metric_names(specs: Iterable[MetricSpec] = METRICS) -> list[str]:
    return [spec.exposed_name for spec in specs]
