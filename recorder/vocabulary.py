"""One vocabulary over the beta (2024) and GA Realtime event names (pure, no I/O).

Canonical names are the GA names. Every reader and every SQL query goes through `canonical`
(or the `vocabulary` table built from `ALIASES`), so beta and GA recordings are analysed alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

# beta (or older) name -> canonical (GA) name
ALIASES: Mapping[str, str] = {
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "conversation.item.created": "conversation.item.added",
    "transcription_session.update": "session.update",
    "transcription_session.updated": "session.updated",
    "transcription_session.created": "session.created",
}

AUDIO_DELTA = "response.output_audio.delta"
TEXT_DELTA = "response.output_text.delta"
TRANSCRIPT_DELTA = "response.output_audio_transcript.delta"
FUNCTION_ARGUMENTS_DELTA = "response.function_call_arguments.delta"
MCP_ARGUMENTS_DELTA = "response.mcp_call_arguments.delta"

# Deltas that count as "first output" for time-to-first-token.
OUTPUT_DELTAS = frozenset(
    {AUDIO_DELTA, TEXT_DELTA, TRANSCRIPT_DELTA, FUNCTION_ARGUMENTS_DELTA, MCP_ARGUMENTS_DELTA}
)

AUDIO_APPEND = "input_audio_buffer.append"
SPEECH_STARTED = "input_audio_buffer.speech_started"
SPEECH_STOPPED = "input_audio_buffer.speech_stopped"
RESPONSE_CREATE = "response.create"
RESPONSE_CREATED = "response.created"
RESPONSE_DONE = "response.done"
ITEM_TRUNCATE = "conversation.item.truncate"
ITEM_TRUNCATED = "conversation.item.truncated"
RATE_LIMITS_UPDATED = "rate_limits.updated"
SESSION_CREATED = "session.created"
SESSION_UPDATED = "session.updated"
ERROR = "error"


def canonical(event_type: str) -> str:
    """The GA name for a beta or GA event type; unknown names pass through unchanged."""
    return ALIASES.get(event_type, event_type)


@dataclass(frozen=True)
class AudioFormat:
    """How audio bytes are encoded: `pcm16` (s16le), `ulaw` or `alaw` (G.711), and the rate."""

    encoding: str
    rate: int

    # computed once per format (every audio frame asks): not fields, so equality, hashing and
    # the repr stay the encoding's and the rate's
    @cached_property
    def bytes_per_ms(self) -> float:
        return self.rate * self.sample_width / 1000

    @cached_property
    def sample_width(self) -> int:
        return 2 if self.encoding == "pcm16" else 1


PCM16 = AudioFormat("pcm16", 24000)
ULAW = AudioFormat("ulaw", 8000)
ALAW = AudioFormat("alaw", 8000)

FORMAT_NAMES: Mapping[str, AudioFormat] = {
    "pcm16": PCM16,
    "audio/pcm": PCM16,
    "g711_ulaw": ULAW,
    "audio/pcmu": ULAW,
    "g711_alaw": ALAW,
    "audio/pcma": ALAW,
}


# PCM rates a session may declare: every rate the Realtime, translation and Live APIs use
# (8 to 48 kHz); another `rate` is not a sample rate, and the format's own (24 kHz) stands
PCM_RATES = range(8000, 48001)


def audio_format(value: object) -> AudioFormat | None:
    """Parse a beta format string (`"g711_ulaw"`) or a GA format object (`{"type":"audio/pcm"}`)."""
    if isinstance(value, str):
        return FORMAT_NAMES.get(value)
    if isinstance(value, Mapping):
        found = FORMAT_NAMES.get(str(value.get("type")))
        rate = value.get("rate")
        if found is PCM16 and type(rate) is int and rate in PCM_RATES:
            return AudioFormat("pcm16", rate)
        return found
    return None


def session_audio_formats(
    session: Mapping[str, Any],
) -> tuple[AudioFormat | None, AudioFormat | None]:
    """(input, output) formats declared in a session object (beta, GA, or GPT-Live: one
    `audio.format` for both directions); None where absent."""
    audio = session.get("audio")
    if isinstance(audio, Mapping):
        inp = audio.get("input")
        out = audio.get("output")
        both = audio_format(audio.get("format"))
        return (
            (audio_format(inp.get("format")) if isinstance(inp, Mapping) else None) or both,
            (audio_format(out.get("format")) if isinstance(out, Mapping) else None) or both,
        )
    return audio_format(session.get("input_audio_format")), audio_format(
        session.get("output_audio_format")
    )


def response_audio_format(response: Mapping[str, Any]) -> AudioFormat | None:
    """An output format set on one response (`response.create`/`response.created`), if any."""
    audio = response.get("audio")
    if isinstance(audio, Mapping):
        out = audio.get("output")
        if isinstance(out, Mapping):
            return audio_format(out.get("format"))
    return audio_format(response.get("output_audio_format"))
