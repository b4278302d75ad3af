"""What `rt stats` found: the rows of each section, the warnings, and the CONTRACT JSON shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recorder.interpretation import SessionFacts
from recorder.interpretation.conversation import TIMING_FIELDS
from recorder.warning_log import FileWarning
from recorder.wording import counted

Row = Mapping[str, Any]

# CONTRACT section 3: the keys of each object, in order
RESPONSE_KEYS = (
    "session",
    "file",
    "response_id",
    "model",
    "status",
    "trigger",
    "trigger_t",
    "ttfb_ms",
    "ttft_ms",
    "duration_ms",
    "voice_to_voice_ms",
    "audio_out_ms",
    "input_tokens",
    "output_tokens",
    "input_text_tokens",
    "input_audio_tokens",
    "input_cached_tokens",
    "output_text_tokens",
    "output_audio_tokens",
    "cost_usd",
    # CONTRACT §4.1-4.2
    "kind",
    "ttfb_source",
    "ttfb_final_ms",
    "voice_to_voice_final_ms",
    "preamble_audio_ms",
    "input_image_tokens",
    "cached_text_tokens",
    "cached_audio_tokens",
    "cached_image_tokens",
    "output_reasoning_tokens",
)
# CONTRACT §4.2: a session's input transcription, and the translation endpoint's billed audio
BILLED_AUDIO_KEYS = (
    "transcription_model",
    "transcription_seconds",
    "transcription_tokens",
    "transcription_cost_usd",
    "translation_seconds",
    "translation_cost_usd",
)
SESSION_KEYS = (
    "session",
    "file",
    "started_at",
    "duration_s",
    "responses",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    # added: the model and the connection (CONTRACT §4.3)
    "model",
    "protocol",
    "transport",
    *BILLED_AUDIO_KEYS,
    # CONTRACT §4.6: conversation timing (null for a session without audio)
    *TIMING_FIELDS,
    # CONTRACT §4.4: GPT-Live (null for other sessions)
    "live_seconds",
    "live_cost_usd",
    "live_close_reason",
    "live_delegations",
    "live_delegated_tokens",
    "live_muted_ms",
)
RATE_LIMIT_KEYS = ("session", "t", "at", "name", "limit", "remaining", "reset_seconds")
# the CONTRACT's error fields, then the ones we add
ERROR_KEYS = ("session", "t", "type", "code", "message", "file", "source", "response_id")
LATENCY_METRICS = ("ttfb_ms", "ttft_ms", "duration_ms", "voice_to_voice_ms")
FINAL_ANSWER_METRICS = ("ttfb_final_ms", "voice_to_voice_final_ms")  # CONTRACT §4.1
DISTRIBUTION_KEYS = ("count", "mean", "p50", "p90", "p95", "p99", "max")


@dataclass(frozen=True)
class UnknownModel:
    """Sessions whose model has no price (or that name no model at all): their cost is null."""

    model: str | None
    sessions: int
    transcription: bool = False  # a transcription model (its cost is transcription_cost_usd)
    delegation: bool = False  # a model GPT-Live delegated to (its cost is in live_cost_usd)

    def __str__(self) -> str:
        count = counted(self.sessions, "session")
        if self.delegation:
            what = "an unnamed model" if self.model is None else f"model {self.model!r}"
            return (
                f"no price for {what}, which GPT-Live delegated to ({count}): live_cost_usd "
                "is null; add it with --pricing FILE"
            )
        if self.transcription:
            if self.model is None:
                verb = "transcribes" if self.sessions == 1 else "transcribe"
                return (
                    f"{count} {verb} without naming a transcription model: "
                    "transcription_cost_usd is null"
                )
            return (
                f"no price for transcription model {self.model!r} ({count}): "
                "transcription_cost_usd is null; add it with --pricing FILE"
            )
        if self.model is None:
            verb = "names" if self.sessions == 1 else "name"
            return f"{count} {verb} no model: cost_usd is null (the model comes from session.created or the URL)"
        return f"no price for model {self.model!r} ({count}): cost_usd is null; add it with --pricing FILE"


StatsWarning = FileWarning | UnknownModel


@dataclass(frozen=True)
class RateLimitTrend:
    """One limit (`tokens`, `requests`) over the whole scan."""

    name: str
    updates: int
    first: int | None
    min: int | None
    last: int | None
    min_percent: float | None
    trend: Sequence[float | None]  # lowest % remaining per slice of wall-clock time


@dataclass(frozen=True)
class StatsReport:
    responses: Sequence[Row]
    sessions: Sequence[Row]
    summary: Row  # metric name -> distribution, plus responses/sessions/errors/cost_usd
    rate_limits: Sequence[Row]
    errors: Sequence[Row]
    trends: Sequence[RateLimitTrend] = ()
    unfinished: Sequence[Row] = ()  # responses that did not complete, for the table view
    by_kind: Mapping[str, int] = field(default_factory=dict)  # responses of each kind
    # each session file's interpretation, in input order (what was said, the calls made)
    facts: Sequence[SessionFacts] = ()
    warnings: Sequence[StatsWarning] = field(default_factory=list)
    prices_as_of: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The object `rt stats --format json` prints (CONTRACT section 3), keys in order."""
        return {
            "responses": [_pick(row, RESPONSE_KEYS) for row in self.responses],
            "summary": {
                **{
                    metric: _pick(self.summary[metric], DISTRIBUTION_KEYS)
                    for metric in LATENCY_METRICS
                },
                "responses": self.summary["responses"],
                "sessions": self.summary["sessions"],
                "errors": self.summary["errors"],
                "cost_usd": self.summary["cost_usd"],
                **{
                    metric: _pick(self.summary[metric], DISTRIBUTION_KEYS)
                    for metric in FINAL_ANSWER_METRICS
                },
                "by_kind": dict(self.by_kind),
                "transcription_cost_usd": self.summary.get("transcription_cost_usd"),
            },
            "sessions": [_pick(row, SESSION_KEYS) for row in self.sessions],
            "rate_limits": [_pick(row, RATE_LIMIT_KEYS) for row in self.rate_limits],
            "errors": [_pick(row, ERROR_KEYS) for row in self.errors],
        }


def _pick(row: Row, keys: Sequence[str]) -> dict[str, Any]:
    return {key: row.get(key) for key in keys}
