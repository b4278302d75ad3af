"""What a GPT-Live session says beyond its turns (pure data): the facts `live.py` finds.

Kept apart from `live.py` so that `facts.SessionFacts` can name `LiveFacts` (live.py builds
ResponseFacts, so it imports `facts`, not the reverse).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Utterance:
    """What the user said in one go: `t` is where it plays in the mix (session clock)."""

    t: float
    start_ms: float
    end_ms: float
    text: str


@dataclass(frozen=True)
class Delegation:
    """A `session.delegation.created`: the task went to the client or to a Responses backend."""

    t: float
    delegation_id: str | None
    target: str | None  # client | responses
    offset_ms: float | None  # where on the timeline


@dataclass(frozen=True)
class DelegatedUsage:
    """The tokens of one delegated Responses call (from its `response.completed`)."""

    t: float
    delegation_id: str | None
    model: str | None
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    reasoning_tokens: int  # part of output_tokens: shown, never billed twice


@dataclass(frozen=True)
class LiveFacts:
    """What a GPT-Live session says beyond its turns."""

    session_id: str | None
    billed_seconds: float | None  # usage.seconds: session.closed's, else the largest seen
    close_reason: str | None  # session.closed's reason; None when the socket ended without one
    delegations: tuple[Delegation, ...] = ()
    delegated: tuple[DelegatedUsage, ...] = ()
    muted_ms: float = 0.0
    utterances: tuple[Utterance, ...] = ()  # what the user said
    delegation_model: str | None = None  # session.start's delegation.responses.model
    turns_played_at: tuple[tuple[str, float], ...] = ()  # (response id, where it plays in the mix)

    @property
    def delegated_tokens(self) -> int:
        return sum(u.input_tokens + u.output_tokens for u in self.delegated)
