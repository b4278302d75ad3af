"""What a recording shows (pure): frames, errors and each response's latency (`summarise`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recorder import vocabulary as vocab
from recorder.store import WarningHandler, iter_records

AUDIO_DELTAS = frozenset({vocab.AUDIO_DELTA})


# -- what a recording shows (pure) --------------------------------------------------------------


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


def summarise(records: Iterable[Mapping[str, Any]]) -> RecordingFacts:
    """Frames, server errors and per-response latency of one recording's records, in one pass.

    A response's trigger is the latest client `response.create` or server `speech_stopped`
    before its `response.created` that no earlier response claimed (CONTRACT §3).
    """
    frames: Counter[str] = Counter()
    triggers: list[tuple[float, str, bool]] = []  # (t, type, claimed)
    order: list[str] = []
    trigger_of: dict[str, tuple[str | None, float | None]] = {}
    first_audio: dict[str, float] = {}
    status: dict[str, str] = {}
    errors: list[ServerError] = []
    for record in records:
        if record.get("kind") != "frame":
            continue
        direction = str(record.get("from"))
        frames[direction] += 1
        event = record.get("event")
        if not isinstance(event, Mapping) or not isinstance(event.get("type"), str):
            continue
        kind = vocab.canonical(event["type"])
        t = float(record["t"])
        if direction == "client":
            if kind == vocab.RESPONSE_CREATE:
                triggers.append((t, kind, False))
            continue
        if kind == vocab.SPEECH_STOPPED:
            triggers.append((t, kind, False))
        elif kind == vocab.RESPONSE_CREATED:
            response = event.get("response")
            response_id = response.get("id") if isinstance(response, Mapping) else None
            if isinstance(response_id, str) and response_id not in trigger_of:
                order.append(response_id)
                trigger_of[response_id] = _claim_trigger(triggers)
        elif kind in AUDIO_DELTAS:
            response_id = event.get("response_id")
            if isinstance(response_id, str) and response_id not in first_audio:
                first_audio[response_id] = t
        elif kind == vocab.RESPONSE_DONE:
            response = event.get("response")
            if isinstance(response, Mapping) and isinstance(response.get("id"), str):
                status[response["id"]] = str(response.get("status"))
        elif kind == vocab.ERROR:
            detail = event.get("error")
            detail = detail if isinstance(detail, Mapping) else {}
            errors.append(
                ServerError(
                    t,
                    _opt_str(detail.get("type")),
                    _opt_str(detail.get("code")),
                    _opt_str(detail.get("message")),
                )
            )
    responses = []
    for response_id in order:
        trigger, trigger_t = trigger_of[response_id]
        audio_t = first_audio.get(response_id)
        ttfb = None
        if audio_t is not None and trigger_t is not None:
            ttfb = round((audio_t - trigger_t) * 1000, 3)
        responses.append(
            ResponseLatency(response_id, trigger, trigger_t, ttfb, status.get(response_id))
        )
    return RecordingFacts(frames["client"], frames["server"], tuple(responses), tuple(errors))


def _claim_trigger(triggers: list[tuple[float, str, bool]]) -> tuple[str | None, float | None]:
    for index in range(len(triggers) - 1, -1, -1):
        t, kind, claimed = triggers[index]
        if not claimed:
            triggers[index] = (t, kind, True)
            return kind, t
    return None, None


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def summarise_file(path: str | Path, on_warning: WarningHandler | None = None) -> RecordingFacts:
    """`summarise` over a session file, streaming (bad lines skipped with a warning)."""
    return summarise(record for _, record in iter_records(path, on_warning))


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
