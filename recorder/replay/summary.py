"""What `rt replay` says of a recording (pure): frames, errors and each response's latency,
taken from the one interpretation (`summarise`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recorder.interpretation import SessionFacts, interpret
from recorder.reading import OnWarning as WarningHandler
from recorder.reading import iter_records


@dataclass(frozen=True)
class ResponseLatency:
    """One response: what triggered it and how long until its first audio (CONTRACT §3 ttfb)."""

    response_id: str
    trigger: str | None
    trigger_t: float | None
    ttfb_ms: float | None
    status: str | None


@dataclass(frozen=True)
class ServerError:
    t: float
    type: str | None
    code: str | None
    message: str | None


@dataclass(frozen=True)
class RecordingFacts:
    frames_from_client: int
    frames_from_server: int
    responses: tuple[ResponseLatency, ...]
    errors: tuple[ServerError, ...]


def summarise(facts: SessionFacts) -> RecordingFacts:
    """What `rt replay` prints of a recording: a projection of its interpretation (the trigger
    and ttfb of each response are those of `rt stats`)."""
    return RecordingFacts(
        facts.client_frames,
        facts.server_frames,
        tuple(
            ResponseLatency(r.response_id, r.trigger, r.trigger_t, r.ttfb_ms, r.status)
            for r in facts.responses
        ),
        tuple(
            ServerError(e.t, e.type, e.code, e.message) for e in facts.errors if e.source == "event"
        ),
    )


def summarise_records(records: Iterable[Mapping[str, Any]]) -> RecordingFacts:
    """`summarise` over some records (numbered in order)."""
    return summarise(interpret(enumerate(records, start=1)))


def summarise_file(path: str | Path, on_warning: WarningHandler | None = None) -> RecordingFacts:
    """`summarise` over a session file, streaming (bad lines skipped with a warning)."""
    return summarise(interpret(iter_records(path, on_warning), path, on_warning))


@dataclass(frozen=True)
class ResponseComparison:
    index: int
    original: ResponseLatency | None
    replayed: ResponseLatency | None

    @property
    def change_ms(self) -> float | None:
        if self.original is None or self.replayed is None:
            return None
        if self.original.ttfb_ms is None or self.replayed.ttfb_ms is None:
            return None
        return round(self.replayed.ttfb_ms - self.original.ttfb_ms, 3)


def compare_responses(
    original: RecordingFacts, replayed: RecordingFacts
) -> list[ResponseComparison]:
    """The responses of both recordings side by side, paired by order."""
    count = max(len(original.responses), len(replayed.responses))
    return [
        ResponseComparison(
            index + 1,
            original.responses[index] if index < len(original.responses) else None,
            replayed.responses[index] if index < len(replayed.responses) else None,
        )
        for index in range(count)
    ]
