"""Token usage of a response and what it costs (pure): CONTRACT §3 tokens and cost_usd, §4.2.

`TokenUsage.parse` reads `response.done` → `response.usage` in the beta and GA shapes (they
share these names; older beta frames have only the totals, which leaves the split and so the
cost unknown). `cost_usd` prices it:

    Σ over text, audio, image: (input − cached) × input price + cached × cached price
    + output text × text output price + output audio × audio output price        (per 1M tokens)

Cached tokens are split by modality where `cached_tokens_details` says how; without that split
they count as text first (the cached prefix starts with the instructions), the rest as audio.
`output_reasoning_tokens` (`output_token_details.reasoning_tokens`, where a server reports it) is
part of `output_text_tokens`: shown, never billed twice. Image input is billed at the model's
image price; a model without one leaves the cost of a response with image tokens unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from recorder.pricing import ModelPrices

# The largest token count read from a response (about 10^12, beyond any model's window): a
# larger, negative or fractional count is not a count, and reads as unknown; sums of
# millions of counts still fit in 64 bits.
MAX_TOKENS = 2**40


def _count(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_TOKENS:
        return value
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _get(value: object, *path: str) -> object:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


@dataclass(frozen=True)
class TokenUsage:
    """The tokens of one response; None where the server did not say."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    input_text_tokens: int | None = None
    input_audio_tokens: int | None = None
    input_image_tokens: int | None = None
    input_cached_tokens: int | None = None
    cached_text_tokens: int | None = None
    cached_audio_tokens: int | None = None
    cached_image_tokens: int | None = None
    output_text_tokens: int | None = None
    output_audio_tokens: int | None = None
    output_reasoning_tokens: int | None = None

    @classmethod
    def parse(cls, usage: object) -> TokenUsage | None:
        """The usage object of a `response.done` (None when there is none)."""
        if not isinstance(usage, Mapping):
            return None
        details = usage.get("input_token_details")
        cached = _get(details, "cached_tokens_details")
        output = usage.get("output_token_details")
        return cls(
            input_tokens=_count(usage.get("input_tokens")),
            output_tokens=_count(usage.get("output_tokens")),
            input_text_tokens=_count(_get(details, "text_tokens")),
            input_audio_tokens=_count(_get(details, "audio_tokens")),
            input_image_tokens=_count(_get(details, "image_tokens")),
            input_cached_tokens=_count(_get(details, "cached_tokens")),
            cached_text_tokens=_count(_get(cached, "text_tokens")),
            cached_audio_tokens=_count(_get(cached, "audio_tokens")),
            cached_image_tokens=_count(_get(cached, "image_tokens")),
            output_text_tokens=_count(_get(output, "text_tokens")),
            output_audio_tokens=_count(_get(output, "audio_tokens")),
            output_reasoning_tokens=_count(_get(output, "reasoning_tokens")),
        )

    @classmethod
    def rejected(cls, usage: object) -> object | None:
        """The first number in `usage`'s counts that `parse` reads as unknown (out of range,
        negative or fractional), for a warning; None when there is none."""
        if not isinstance(usage, Mapping):
            return None
        for name in ("input_tokens", "output_tokens"):
            value = usage.get(name)
            if _is_number(value) and _count(value) is None:
                return value
        for key in ("input_token_details", "output_token_details"):
            details = usage.get(key)
            values = list(details.values()) if isinstance(details, Mapping) else []
            cached = _get(details, "cached_tokens_details")
            values += list(cached.values()) if isinstance(cached, Mapping) else []
            for value in values:
                if _is_number(value) and _count(value) is None:
                    return value
        return None

    def as_row(self) -> dict[str, int | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


TOKEN_FIELDS = tuple(f.name for f in fields(TokenUsage))


def cached_split(usage: TokenUsage) -> tuple[int, int, int] | None:
    """Cached input tokens as (text, audio, image); None when they cannot be split."""
    total = usage.input_cached_tokens or 0
    image = usage.cached_image_tokens or 0
    text = usage.cached_text_tokens
    if text is None:
        if usage.input_text_tokens is None:
            return None
        text = min(total, usage.input_text_tokens)
    audio = usage.cached_audio_tokens
    if audio is None:
        audio = total - text - image
    return text, audio, image


def cost_usd(usage: TokenUsage | None, prices: ModelPrices | None) -> float | None:
    """What one response cost, in USD; None when the usage, its split or a price it needs is
    unknown (a model priced only per minute has no token prices)."""
    if usage is None or prices is None or prices.text is None or prices.audio is None:
        return None
    split = cached_split(usage)
    needed = (
        usage.input_text_tokens,
        usage.input_audio_tokens,
        usage.output_text_tokens,
        usage.output_audio_tokens,
    )
    if split is None or any(value is None for value in needed):
        return None
    cached_text, cached_audio, cached_image = split
    image = usage.input_image_tokens or 0
    total = (
        ((usage.input_text_tokens or 0) - cached_text) * prices.text.input
        + cached_text * prices.text.cached
        + ((usage.input_audio_tokens or 0) - cached_audio) * prices.audio.input
        + cached_audio * prices.audio.cached
    )
    for tokens, price in (
        (usage.output_text_tokens or 0, prices.text.output),
        (usage.output_audio_tokens or 0, prices.audio.output),
    ):
        if tokens:
            if price is None:
                return None
            total += tokens * price
    if image:
        if prices.image is None:
            return None
        total += (image - cached_image) * prices.image.input + cached_image * prices.image.cached
    return round(total / 1e6, 8)


def total_cost_usd(*parts: float | None) -> float | None:
    """The cost of something made of billable parts (a session: its responses, its input
    transcription, its translated audio): the sum of the parts whose cost is known; 0 with no
    part at all; None when no part's cost is known."""
    known = [part for part in parts if part is not None]
    if not known:
        return 0.0 if not parts else None
    return round(sum(known), 8)


def usage_of(response: Mapping[str, Any]) -> TokenUsage | None:
    return TokenUsage.parse(response.get("usage"))
