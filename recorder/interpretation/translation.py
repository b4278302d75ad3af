"""The Realtime translation endpoint (`/v1/realtime/translations`, addendum §1.3): its audio and
what it costs (pure).

A translation session has no conversation, no responses and no usage event: the client appends
audio, the server streams translated audio and transcripts back. The rules, one for every
reader:

- audio: a client `session.input_audio_buffer.append` carries `audio`, pcm16 at 24 kHz mono
  (the only format the endpoint accepts); a server `session.output_audio.delta` carries `delta`,
  pcm16 at its `sample_rate` (24000 when absent). They are the session's input and output audio
  (`input_audio_ms`, `output_audio_ms`, the WAV tracks) like the appends and deltas of a
  Realtime session;
- billed seconds (`translation_seconds`): the duration of the audio appended. The endpoint
  treats appended audio as contiguous (a pause in sending is not audio), so this is the
  session's audio time, not its wall-clock length;
- cost (`translation_cost_usd`): those seconds / 60 × the model's `per_minute` price; None
  when the model has no per-minute price.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recorder.pricing import ModelPrices
from recorder.vocabulary import PCM16, AudioFormat

TRANSLATION = "translation"
TRANSLATION_APPEND = "session.input_audio_buffer.append"
TRANSLATION_AUDIO_DELTA = "session.output_audio.delta"
TRANSLATION_AUDIO_EVENTS = frozenset({TRANSLATION_APPEND, TRANSLATION_AUDIO_DELTA})
INPUT_FORMAT = PCM16


def output_format(event: Mapping[str, Any]) -> AudioFormat:
    """The format of one translated audio delta: pcm16 at its `sample_rate`."""
    rate = event.get("sample_rate")
    if isinstance(rate, int) and not isinstance(rate, bool) and 0 < rate <= 384_000:
        return AudioFormat("pcm16", rate) if rate != PCM16.rate else PCM16
    return PCM16


def translation_seconds(protocol: str, input_audio_ms: float) -> float | None:
    """The billed seconds of a translation session (None for any other protocol)."""
    return round(input_audio_ms / 1000, 6) if protocol == TRANSLATION else None


def translation_cost_usd(seconds: float | None, prices: ModelPrices | None) -> float | None:
    """What the translated audio cost, in USD (see the module docstring)."""
    if seconds is None or prices is None or prices.per_minute is None:
        return None
    return round(seconds / 60 * prices.per_minute, 8)
