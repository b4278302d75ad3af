"""What one session file says, once interpreted: the rows every reader shows (pure data).

`SessionFacts` is the result of `Interpreter.finish()`. Its `responses`, `errors` and
`rate_limits` are the rows of `rt stats` and of `rt sql`'s views (before prices are applied and
before aggregation), so a number shown anywhere comes from here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recorder.interpretation.conversation import ConversationTiming
from recorder.interpretation.live_facts import LiveFacts
from recorder.interpretation.transcription import TranscriptionUsage
from recorder.interpretation.usage import TokenUsage


@dataclass(frozen=True)
class ToolCall:
    """A function (or MCP) call an assistant response made."""

    name: str
    call_id: str | None
    arguments: str
    t: float  # when the call first appeared


@dataclass(frozen=True)
class ResponseFacts:
    """One response (keyed by `response.id`) with the metrics of CONTRACT §3 and §4.1-4.3.

    Times are seconds since the session started; latencies are milliseconds, rounded to µs.
    """

    response_id: str
    number: int  # 1, 2, … in order of appearance
    seq: int  # the frame that opened it: its response.created, else its first frame
    kind: str  # turn | out_of_band | idle_timeout
    status: str | None
    reason: str | None  # why it did not complete (status_details reason or error code)
    trigger: str | None
    trigger_t: float | None
    ttfb_ms: float | None
    ttfb_source: str | None  # delta | playback
    ttft_ms: float | None
    duration_ms: float | None
    voice_to_voice_ms: float | None
    ttfb_final_ms: float | None
    voice_to_voice_final_ms: float | None
    preamble_audio_ms: float
    audio_out_ms: float | None
    usage: TokenUsage | None
    created_t: float | None
    done_t: float | None
    done_seq: int | None
    first_audio_t: float | None
    first_delta_t: float | None = None
    metadata: Mapping[str, Any] | None = None
    error: Mapping[str, Any] | None = None  # status_details.error of a failed response
    transcript: tuple[str, ...] = ()  # what it said: each text or transcript part, in order
    tool_calls: tuple[ToolCall, ...] = ()
    phases: tuple[str, ...] = ()  # the phase of each output item that had one, in order


@dataclass(frozen=True)
class ErrorFacts:
    """Something that went wrong: a server `error` event (source `event`), a failed response
    (`response`) or a fault of the proxy (`proxy`)."""

    t: float
    source: str
    type: str | None
    code: str | None
    message: str | None
    response_id: str | None = None
    seq: int | None = None  # the frame it came from (None for a proxy fault)


@dataclass(frozen=True)
class RateLimitFacts:
    """One entry of a server `rate_limits.updated`."""

    t: float
    seq: int
    name: str
    limit: int | None
    remaining: int | None
    reset_seconds: float | None


@dataclass(frozen=True)
class SessionFacts:
    """One session file, interpreted."""

    file: str
    session: str  # the recorded id, else the file's stem
    started_at: dt.datetime | None
    upstream: str | None
    request_path: str | None
    model: str | None
    protocol: str
    transport: str
    subprotocol: str | None
    recorder_version: str | None
    duration_s: float
    frames: int
    client_frames: int
    server_frames: int
    input_audio_ms: float
    output_audio_ms: float
    input_audio_bytes: int
    output_audio_bytes: int
    closed_by: str | None
    close_code: int | None
    close_reason: str | None
    responses: tuple[ResponseFacts, ...] = ()
    errors: tuple[ErrorFacts, ...] = ()
    rate_limits: tuple[RateLimitFacts, ...] = ()
    transcriptions: tuple[TranscriptionUsage, ...] = ()  # each completed input transcription
    conversation: ConversationTiming | None = None  # CONTRACT §4.6; None without audio
    live: LiveFacts | None = None  # a GPT-Live session (CONTRACT §4.4)

    @property
    def proxy_errors(self) -> int:
        return sum(1 for error in self.errors if error.source == "proxy")
