"""Input transcription: which model transcribed the user's audio, how much, and what it cost
(pure). CONTRACT §4.2.

The rules, one for every reader:

- the model in effect: the input transcription `model` of the latest session the server
  confirmed (`session.created`/`session.updated`, GA `session.audio.input.transcription` or beta
  `session.input_audio_transcription`; a transcription session has the same fields); before the
  server has named one, the one the latest client `session.update` asked for. A config that
  turns transcription off (`transcription: null`) leaves no model in effect;
- usage: each `conversation.item.input_audio_transcription.completed` carries a `usage`, billed
  at the model in effect when it arrived: `{"type": "duration", "seconds": …}` (models priced
  per minute) or `{"type": "tokens", "input_tokens", "input_token_details": {"text_tokens",
  "audio_tokens"}, "output_tokens", "total_tokens"}` (models priced per token). A completion
  without a usage is counted with unknown usage;
- cost of one completion: seconds / 60 × the model's `per_minute` price, or text input × text
  input price + audio input × audio input price + output × text output price (per 1M); None
  when the usage lacks what the model's price needs (a per-minute model reporting tokens, or
  tokens without their text/audio split), or the model has no price;
- per session: `transcription_model` (the models used, in the order first used, joined by
  ", "), `transcription_seconds` (the sum of the duration usages; None when there is none),
  `transcription_tokens` (the sum of the token usages' `total_tokens`; None when there is
  none) and `transcription_cost_usd` (the sum of the completions whose cost is known; None
  when none is known).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from recorder.pricing import ModelPrices, PriceTable

TRANSCRIPTION_COMPLETED = "conversation.item.input_audio_transcription.completed"
_UNSET = object()


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if 0 <= number < float("inf") else None


@dataclass(frozen=True)
class TranscriptionUsage:
    """One completed input transcription, as billed."""

    t: float
    seq: int
    item_id: str | None
    model: str | None  # the transcription model in effect when it completed
    seconds: float | None = None  # a `duration` usage
    input_text_tokens: int | None = None  # a `tokens` usage
    input_audio_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None

    @property
    def tokens(self) -> int | None:
        """All tokens of a `tokens` usage (its `total_tokens`, else input + output)."""
        if self.total_tokens is not None:
            return self.total_tokens
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


@dataclass(frozen=True)
class TranscriptionSummary:
    """A session's input transcription (the `transcription_*` fields of `sessions[]`)."""

    model: str | None = None
    seconds: float | None = None
    tokens: int | None = None
    cost_usd: float | None = None


def configured_model(session: Mapping[str, Any]) -> object:
    """The transcription model a session object sets: a name, None (transcription off), or
    `_UNSET` when the object does not mention transcription."""
    audio = session.get("audio")
    holder: object = _UNSET
    if isinstance(audio, Mapping):
        audio_input = audio.get("input")
        if isinstance(audio_input, Mapping) and "transcription" in audio_input:
            holder = audio_input["transcription"]
    if holder is _UNSET and "input_audio_transcription" in session:
        holder = session["input_audio_transcription"]
    if holder is _UNSET:
        return _UNSET
    return _str(holder.get("model")) if isinstance(holder, Mapping) else None


class TranscriptionTracker:
    """The transcription model in effect and the usage of each completion, fed in order."""

    def __init__(self) -> None:
        self._server_model: object = _UNSET  # what the server last confirmed
        self._requested: object = _UNSET  # what a client asked for since
        self.usages: list[TranscriptionUsage] = []

    @property
    def model(self) -> str | None:
        if self._requested is not _UNSET:
            return self._requested if isinstance(self._requested, str) else None
        return self._server_model if isinstance(self._server_model, str) else None

    def client_update(self, event: Mapping[str, Any]) -> None:
        """A client `session.update` (a request: in effect until the server answers)."""
        session = event.get("session")
        if isinstance(session, Mapping):
            found = configured_model(session)
            if found is not _UNSET:
                self._requested = found

    def server_session(self, event: Mapping[str, Any]) -> None:
        """A server `session.created` or `session.updated` (the config in effect)."""
        session = event.get("session")
        if not isinstance(session, Mapping):
            return
        found = configured_model(session)
        if found is not _UNSET:
            self._server_model = found
            self._requested = _UNSET

    def completed(self, t: float, seq: int, event: Mapping[str, Any]) -> None:
        """A server `conversation.item.input_audio_transcription.completed`."""
        usage = event.get("usage")
        usage = usage if isinstance(usage, Mapping) else {}
        details = usage.get("input_token_details")
        details = details if isinstance(details, Mapping) else {}
        is_tokens = usage.get("type") == "tokens" or (
            usage.get("type") is None and "input_tokens" in usage
        )
        self.usages.append(
            TranscriptionUsage(
                t=t,
                seq=seq,
                item_id=_str(event.get("item_id")),
                model=self.model,
                seconds=_seconds(usage.get("seconds")) if usage.get("type") == "duration" else None,
                input_text_tokens=_count(details.get("text_tokens")) if is_tokens else None,
                input_audio_tokens=_count(details.get("audio_tokens")) if is_tokens else None,
                input_tokens=_count(usage.get("input_tokens")) if is_tokens else None,
                output_tokens=_count(usage.get("output_tokens")) if is_tokens else None,
                total_tokens=_count(usage.get("total_tokens")) if is_tokens else None,
            )
        )


def transcription_cost_usd(usage: TranscriptionUsage, prices: ModelPrices | None) -> float | None:
    """What one completed transcription cost, in USD (see the module docstring)."""
    if prices is None:
        return None
    if usage.seconds is not None:
        if prices.per_minute is None:
            return None
        return round(usage.seconds / 60 * prices.per_minute, 8)
    text, audio = usage.input_text_tokens, usage.input_audio_tokens
    if text is None or audio is None or prices.text is None or prices.audio is None:
        return None
    output = usage.output_tokens or 0
    if output and prices.text.output is None:
        return None
    total = text * prices.text.input + audio * prices.audio.input
    total += output * (prices.text.output or 0.0)
    return round(total / 1e6, 8)


def summarise(usages: Iterable[TranscriptionUsage], prices: PriceTable) -> TranscriptionSummary:
    """The session's `transcription_*` fields (see the module docstring)."""
    usages = list(usages)
    if not usages:
        return TranscriptionSummary()
    models = list(dict.fromkeys(u.model for u in usages if u.model is not None))
    seconds = [u.seconds for u in usages if u.seconds is not None]
    tokens = [u.tokens for u in usages if u.tokens is not None]
    costs = [transcription_cost_usd(u, prices.prices(u.model)) for u in usages]
    known = [cost for cost in costs if cost is not None]
    return TranscriptionSummary(
        model=", ".join(models) or None,
        seconds=round(sum(seconds), 6) if seconds else None,
        tokens=sum(tokens) if tokens else None,
        cost_usd=round(sum(known), 8) if known else None,
    )


def unpriced_models(usages: Iterable[TranscriptionUsage], prices: PriceTable) -> set[str | None]:
    """The transcription models used that have no price (None: no model was named)."""
    return {u.model for u in usages if prices.prices(u.model) is None}
