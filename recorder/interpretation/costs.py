"""What a session cost (pure): the one rule `rt stats`, `rt sql`, Parquet and live telemetry use.

    cost = session_cost(facts, prices)
    cost.responses          each response's cost (`usage.cost_usd`), in `facts.responses` order
    cost.live_cost_usd      a GPT-Live session's billed time and delegated calls (CONTRACT §4.4)
    cost.cost_usd           the session's total: its responses, its input transcription
                            (CONTRACT §4.2), its translated audio and its GPT-Live billing
                            (`usage.total_cost_usd`)

A part whose price is unknown is left out of the total (the total is None only when no part's
cost is known; 0 for a session with nothing billable).
"""

from __future__ import annotations

from dataclasses import dataclass

from recorder.interpretation.facts import SessionFacts
from recorder.interpretation.live import live_cost_usd
from recorder.interpretation.live import unpriced_models as unpriced_delegation_models
from recorder.interpretation.transcription import (
    TranscriptionSummary,
    summarise,
    unpriced_models,
)
from recorder.interpretation.translation import translation_cost_usd, translation_seconds
from recorder.interpretation.usage import cost_usd, total_cost_usd
from recorder.pricing import PriceTable


@dataclass(frozen=True)
class SessionCost:
    responses: tuple[float | None, ...]
    transcription: TranscriptionSummary
    unpriced_transcription_models: frozenset[str | None]
    translation_seconds: float | None
    translation_cost_usd: float | None
    live_cost_usd: float | None  # None for a session that is not GPT-Live's
    unpriced_delegation_models: frozenset[str | None]  # GPT-Live delegations without a price
    cost_usd: float | None


def session_cost(facts: SessionFacts, prices: PriceTable) -> SessionCost:
    """The cost of one session and of each of its billable parts."""
    model_prices = prices.prices(facts.model)
    responses = tuple(cost_usd(response.usage, model_prices) for response in facts.responses)
    transcription = summarise(facts.transcriptions, prices)
    seconds = translation_seconds(facts.protocol, facts.input_audio_ms)
    translation = translation_cost_usd(seconds, model_prices)
    parts: list[float | None] = list(responses)
    if facts.transcriptions:
        parts.append(transcription.cost_usd)
    if seconds is not None:
        parts.append(translation)
    live = facts.live
    live_cost = None if live is None else live_cost_usd(live, facts.model, prices)
    if live is not None:
        parts.append(live_cost)
    return SessionCost(
        responses=responses,
        transcription=transcription,
        unpriced_transcription_models=frozenset(unpriced_models(facts.transcriptions, prices)),
        translation_seconds=seconds,
        translation_cost_usd=translation,
        live_cost_usd=live_cost,
        unpriced_delegation_models=frozenset(
            () if live is None else unpriced_delegation_models(live, prices)
        ),
        cost_usd=total_cost_usd(*parts),
    )
