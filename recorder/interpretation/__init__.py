"""The one interpretation of a session file, shared by every reader (pure, no I/O).

    Interpreter(path, on_warning)   feed(line, record) -> Frame | None; finish() -> SessionFacts
    interpret(records, path)        the facts of a whole session in one call
    interpret_file(path)            the same, reading the file

See `interpreter` for how the pieces fit, and each module for the rules it owns:
`connection` (model, protocol, transport), `formats` (audio formats), `responses`
(attribution, triggers, kinds, latencies), `usage` (tokens and cost), `transcription` (input
transcription usage and cost), `translation` (the translation endpoint's audio and cost),
`costs` (what a session cost), `energy` (when audio is audible), `layout` (where each side's
audio plays: the call's timeline), `conversation` (who talked when), `live` (GPT-Live turns,
billing, delegations).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from recorder.interpretation.conversation import ConversationTiming
from recorder.interpretation.facts import (
    ErrorFacts,
    RateLimitFacts,
    ResponseFacts,
    SessionFacts,
    ToolCall,
)
from recorder.interpretation.frame import BINARY_FRAME, NO_TYPE, TEXT_FRAME, Frame, base64_size
from recorder.interpretation.interpreter import Interpreter, OnWarning, response_error
from recorder.interpretation.live import LIVE_TURN
from recorder.interpretation.live_facts import LiveFacts
from recorder.interpretation.responses import IDLE_TIMEOUT, KINDS, OUT_OF_BAND, TURN
from recorder.interpretation.transcription import TranscriptionSummary, TranscriptionUsage
from recorder.interpretation.usage import TokenUsage, cost_usd, total_cost_usd

__all__ = [
    "BINARY_FRAME",
    "IDLE_TIMEOUT",
    "KINDS",
    "LIVE_TURN",
    "NO_TYPE",
    "OUT_OF_BAND",
    "TEXT_FRAME",
    "TURN",
    "ConversationTiming",
    "ErrorFacts",
    "Frame",
    "Interpreter",
    "LiveFacts",
    "RateLimitFacts",
    "ResponseFacts",
    "SessionFacts",
    "TokenUsage",
    "ToolCall",
    "TranscriptionSummary",
    "TranscriptionUsage",
    "base64_size",
    "cost_usd",
    "interpret",
    "interpret_file",
    "response_error",
    "total_cost_usd",
]


def interpret(
    records: Iterable[tuple[int, Mapping[str, Any]]],
    path: str | os.PathLike[str] = "<session>",
    on_warning: OnWarning | None = None,
) -> SessionFacts:
    """The facts of one session from its `(line, record)` pairs."""
    interpreter = Interpreter(path, on_warning)
    for line, record in records:
        interpreter.feed(line, record)
    return interpreter.finish()


def interpret_file(
    path: str | os.PathLike[str], on_warning: OnWarning | None = None
) -> SessionFacts:
    """The facts of one session file (bad lines skipped and reported through `on_warning`)."""
    from recorder.reading import iter_records

    return interpret(iter_records(path, on_warning), path, on_warning)
