"""The interpretation of each session as DuckDB tables: the columns, and the rows (from facts).

Five base tables, one row per session, response, frame, rate-limit entry and error, each with
the `ordinal` of its input (the order the files were given). The views of `queries/` (what
`rt sql` shows and `rt export parquet` writes) add the session's name, file, wall-clock times
and partition columns to them; nothing below computes a metric: every value is a field of
`recorder.interpretation`'s facts, or a price applied to them by a function of that package
(`usage.cost_usd`, `usage.total_cost_usd`, `transcription.summarise`,
`translation.translation_cost_usd`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from recorder.analytics.loading import EVENT_COLUMNS, LoadedSession
from recorder.interpretation import ResponseFacts, SessionFacts
from recorder.interpretation.conversation import TIMING_FIELDS
from recorder.interpretation.costs import session_cost
from recorder.interpretation.usage import TOKEN_FIELDS
from recorder.pricing import PriceTable
from recorder.session import iso_utc

Columns = tuple[tuple[str, str], ...]  # (name, DuckDB type)

SESSION_FACTS: Columns = (
    ("ordinal", "INTEGER"),
    ("file", "VARCHAR"),
    ("session", "VARCHAR"),
    ("started_at", "TIMESTAMPTZ"),
    ("model", "VARCHAR"),
    ("protocol", "VARCHAR"),
    ("transport", "VARCHAR"),
    ("duration_s", "DOUBLE"),
    ("frames", "BIGINT"),
    ("client_frames", "BIGINT"),
    ("server_frames", "BIGINT"),
    ("input_audio_ms", "DOUBLE"),
    ("output_audio_ms", "DOUBLE"),
    ("input_audio_bytes", "BIGINT"),
    ("output_audio_bytes", "BIGINT"),
    ("upstream", "VARCHAR"),
    ("request_path", "VARCHAR"),
    ("subprotocol", "VARCHAR"),
    ("recorder_version", "VARCHAR"),
    ("closed_by", "VARCHAR"),
    ("close_code", "BIGINT"),
    ("close_reason", "VARCHAR"),
    # CONTRACT §4.2: what the session cost (its responses, transcription, translated audio)
    ("cost_usd", "DOUBLE"),
    ("transcription_model", "VARCHAR"),
    ("transcription_seconds", "DOUBLE"),
    ("transcription_tokens", "BIGINT"),
    ("transcription_cost_usd", "DOUBLE"),
    ("translation_seconds", "DOUBLE"),
    ("translation_cost_usd", "DOUBLE"),
    # CONTRACT §4.6: conversation timing (SessionFacts.conversation; NULL without audio)
    ("user_talk_ms", "DOUBLE"),
    ("assistant_talk_ms", "DOUBLE"),
    ("talk_over_ms", "DOUBLE"),
    ("barge_ins", "INTEGER"),
    ("barge_in_stop_ms", "DOUBLE"),
    ("dead_air_ms", "DOUBLE"),
    ("turns", "INTEGER"),
    # CONTRACT §4.4: GPT-Live (SessionFacts.live; NULL for other sessions)
    ("live_seconds", "DOUBLE"),
    ("live_cost_usd", "DOUBLE"),
    ("live_close_reason", "VARCHAR"),
    ("live_delegations", "INTEGER"),
    ("live_delegated_tokens", "BIGINT"),
    ("live_muted_ms", "DOUBLE"),
)

RESPONSE_FACTS: Columns = (
    ("ordinal", "INTEGER"),
    ("seq", "BIGINT"),
    ("response_id", "VARCHAR"),
    ("number", "INTEGER"),
    ("kind", "VARCHAR"),
    ("status", "VARCHAR"),
    ("reason", "VARCHAR"),
    ("trigger", "VARCHAR"),
    ("trigger_t", "DOUBLE"),
    ("ttfb_ms", "DOUBLE"),
    ("ttfb_source", "VARCHAR"),
    ("ttft_ms", "DOUBLE"),
    ("duration_ms", "DOUBLE"),
    ("voice_to_voice_ms", "DOUBLE"),
    ("ttfb_final_ms", "DOUBLE"),
    ("voice_to_voice_final_ms", "DOUBLE"),
    ("preamble_audio_ms", "DOUBLE"),
    ("audio_out_ms", "DOUBLE"),
    *((name, "BIGINT") for name in TOKEN_FIELDS),
    ("cost_usd", "DOUBLE"),
    ("created_t", "DOUBLE"),
    ("done_t", "DOUBLE"),
)

EVENT_FACTS: Columns = (
    ("ordinal", "INTEGER"),
    ("seq", "BIGINT"),
    ("t", "DOUBLE"),
    ("direction", "VARCHAR"),
    ("type", "VARCHAR"),
    ("raw_type", "VARCHAR"),
    ("response_id", "VARCHAR"),
    ("item_id", "VARCHAR"),
    ("audio_bytes", "BIGINT"),
    ("audio_ms", "DOUBLE"),
    ("event", "JSON"),
    ("text", "VARCHAR"),
    ("binary", "VARCHAR"),
)

RATE_LIMIT_FACTS: Columns = (
    ("ordinal", "INTEGER"),
    ("seq", "BIGINT"),
    ("t", "DOUBLE"),
    ("name", "VARCHAR"),
    ("limit", "BIGINT"),
    ("remaining", "BIGINT"),
    ("reset_seconds", "DOUBLE"),
)

ERROR_FACTS: Columns = (
    ("ordinal", "INTEGER"),
    ("seq", "BIGINT"),
    ("t", "DOUBLE"),
    ("source", "VARCHAR"),
    ("type", "VARCHAR"),
    ("code", "VARCHAR"),
    ("message", "VARCHAR"),
    ("response_id", "VARCHAR"),
)

BASE_TABLES: Mapping[str, Columns] = {
    "session_facts": SESSION_FACTS,
    "response_facts": RESPONSE_FACTS,
    "event_facts": EVENT_FACTS,
    "rate_limit_facts": RATE_LIMIT_FACTS,
    "error_facts": ERROR_FACTS,
}
assert tuple(name for name, _ in EVENT_FACTS[1:]) == EVENT_COLUMNS


class TableBuilder:
    """Accumulates the rows of the base tables, session by session, as columns."""

    def __init__(self, prices: PriceTable) -> None:
        self.prices = prices
        self.columns: dict[str, dict[str, list[Any]]] = {
            table: {name: [] for name, _ in columns} for table, columns in BASE_TABLES.items()
        }
        self.sessions_by_model: dict[str | None, int] = {}
        # transcription models without a price -> sessions that used them
        self.unpriced_transcription: dict[str | None, int] = {}
        self.unpriced_delegations: dict[str | None, int] = {}  # GPT-Live: model -> sessions

    def add(self, ordinal: int, loaded: LoadedSession) -> None:
        facts = loaded.facts
        self.sessions_by_model[facts.model] = self.sessions_by_model.get(facts.model, 0) + 1
        cost = session_cost(facts, self.prices)
        rows = self.columns["response_facts"]
        for response, response_cost in zip(facts.responses, cost.responses, strict=True):
            for name, value in _response_row(ordinal, response, response_cost):
                rows[name].append(value)
        for model in cost.unpriced_transcription_models:
            self.unpriced_transcription[model] = self.unpriced_transcription.get(model, 0) + 1
        for model in cost.unpriced_delegation_models:
            self.unpriced_delegations[model] = self.unpriced_delegations.get(model, 0) + 1
        self._add_session(
            ordinal,
            facts,
            {
                "cost_usd": cost.cost_usd,
                "transcription_model": cost.transcription.model,
                "transcription_seconds": cost.transcription.seconds,
                "transcription_tokens": cost.transcription.tokens,
                "transcription_cost_usd": cost.transcription.cost_usd,
                "translation_seconds": cost.translation_seconds,
                "translation_cost_usd": cost.translation_cost_usd,
                "live_cost_usd": cost.live_cost_usd,
            },
        )
        self._extend(
            "rate_limit_facts",
            (
                (ordinal, r.seq, r.t, r.name, r.limit, r.remaining, r.reset_seconds)
                for r in facts.rate_limits
            ),
        )
        self._extend(
            "error_facts",
            (
                (ordinal, e.seq, e.t, e.source, e.type, e.code, e.message, e.response_id)
                for e in facts.errors
            ),
        )
        if loaded.events is not None:
            events = self.columns["event_facts"]
            events["ordinal"].extend([ordinal] * len(loaded.events["seq"]))
            for name, values in loaded.events.items():
                events[name].extend(values)

    def _add_session(self, ordinal: int, facts: SessionFacts, priced: dict[str, Any]) -> None:
        columns = self.columns["session_facts"]
        for name, _ in SESSION_FACTS:
            if name == "ordinal":
                value: Any = ordinal
            elif name == "started_at":
                value = None if facts.started_at is None else iso_utc(facts.started_at)
            elif name in priced:  # priced here (`costs.session_cost`), not read off the facts
                value = priced[name]
            elif name in TIMING_FIELDS:
                timing = facts.conversation
                value = None if timing is None else getattr(timing, name)
            elif name.startswith("live_"):
                value = None if facts.live is None else _live_value(name, facts)
            else:
                value = getattr(facts, name)
            columns[name].append(value)

    def _extend(self, table: str, rows: Iterable[Sequence[Any]]) -> None:
        columns = list(self.columns[table].values())
        for row in rows:
            for column, value in zip(columns, row, strict=True):
                column.append(value)


def _response_row(
    ordinal: int, response: ResponseFacts, cost: float | None
) -> Iterable[tuple[str, Any]]:
    usage = response.usage.as_row() if response.usage is not None else {}
    for name, _ in RESPONSE_FACTS:
        if name == "ordinal":
            yield name, ordinal
        elif name == "cost_usd":
            yield name, cost
        elif name in usage or name in TOKEN_FIELDS:
            yield name, usage.get(name)
        else:
            yield name, getattr(response, name)


def select_cast(columns: Columns, source: str) -> str:
    """`SELECT CAST(c AS type) AS c, … FROM source` (the columns typed, whatever the values)."""
    parts = ", ".join(f'CAST("{name}" AS {kind}) AS "{name}"' for name, kind in columns)
    return f"SELECT {parts} FROM {source}"


def _live_value(name: str, facts: SessionFacts) -> Any:
    live = facts.live
    assert live is not None
    return {
        "live_seconds": live.billed_seconds,
        "live_close_reason": live.close_reason,
        "live_delegations": len(live.delegations),
        "live_delegated_tokens": live.delegated_tokens,
        "live_muted_ms": live.muted_ms,
    }[name]
