"""A session's mix made small enough to embed in a page, and its waveform (pure: arrays in, bytes out).

    embed_mix(track, max_seconds) -> EmbeddedAudio    mono WAV bytes of the first `max_seconds`
    waveform(samples, rate, seconds, columns) -> Waveform   min/max per pixel column

The page plays one mono WAV: user and assistant summed, as the call sounded, at 16 kHz
(8 kHz G.711 stays at 8 kHz: nothing is gained by raising it). Mono at 16 kHz is a third of
the stereo 24 kHz mix, and speech keeps everything below 8 kHz. The waveform is drawn from
the full-rate stereo mix, one lane per side, so who spoke when stays visible.
"""

from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from recorder.audio import Samples, Track

EMBED_RATE = 16000
# Kernel half-width in output samples, and the cutoff as a fraction of the output Nyquist:
# 24 kHz -> 16 kHz stays flat to 7 kHz, and nothing above 8.4 kHz folds back into the band.
_HALF_TAPS = 32
_PASS_FRACTION = 0.92
_BLOCK = 1 << 16  # output samples per step: keeps the temporaries small (and in cache)

Floats = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Waveform:
    """Per column, the lowest and highest sample as a fraction of full scale (-1..1)."""

    low: Floats
    high: Floats


@dataclass(frozen=True)
class EmbeddedAudio:
    wav: bytes
    rate: int
    seconds: float  # what the WAV holds
    full_seconds: float  # what the session's mix holds
    cut: bool  # the mix is longer than what the WAV holds


def embed_mix(track: Track, max_seconds: float, rate: int = EMBED_RATE) -> EmbeddedAudio:
    """The first `max_seconds` of a mix as 16-bit mono WAV bytes at `rate` or the track's rate,
    whichever is lower."""
    kept = track.samples[: max(0, int(max_seconds * track.rate))]
    mono = downmix(kept)
    out_rate = min(rate, track.rate)
    if out_rate != track.rate:
        mono = resample(mono, track.rate, out_rate)
    wav = wav_bytes(mono, out_rate)
    cut = len(kept) < track.frames
    return EmbeddedAudio(wav, out_rate, len(mono) / out_rate, track.duration_s, cut)


def downmix(samples: Samples) -> Samples:
    """Both channels summed (what a listener on one speaker hears), clipped to 16 bits."""
    if samples.ndim == 1:
        return samples
    total = samples[:, 0].astype(np.int32) + samples[:, 1]
    return np.clip(total, -32768, 32767).astype(np.int16)


def resample(samples: Samples, from_rate: int, to_rate: int) -> Samples:
    """Band-limited resampling by a rational factor (a Blackman-windowed sinc, polyphase).

    Output n sits at input position n * down / up. The outputs of one phase (n = phase + k*up)
    share one row of weights and step `down` inputs apart; splitting the weights by tap
    modulo `down` turns each phase into `down` plain correlations of strided inputs, which
    numpy runs in C.
    """
    if from_rate == to_rate or len(samples) == 0:
        return samples.copy()
    common = math.gcd(from_rate, to_rate)
    up, down = to_rate // common, from_rate // common
    weights, half = _kernel(up, down)
    taps = weights.shape[1]
    tail = np.zeros(half + taps + 2 * down, np.float32)
    padded = np.concatenate((np.zeros(half, np.float32), samples.astype(np.float32), tail))
    count = len(samples) * up // down
    out = np.empty(count, np.float32)
    for start in range(0, count, _BLOCK):
        stop = min(start + _BLOCK, count)
        for phase in range(up):
            first = start + (phase - start) % up  # first output in [start, stop) of this phase
            if first >= stop:
                continue
            n = len(range(first, stop, up))
            # input `base - half + 1 + tap` feeds weight `tap`; padded by `half` in front
            base = first * down // up + 1
            acc = np.zeros(n, np.float32)
            for offset in range(min(down, taps)):
                kernel = weights[phase, offset::down]
                inputs = padded[base + offset :: down][: n + len(kernel) - 1]
                acc += np.correlate(inputs, kernel, "valid")
            out[first:stop:up] = acc
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


@cache
def _kernel(up: int, down: int) -> tuple[Floats, int]:
    """Weights [phase, tap] for inputs base-half+1 .. base+half around each output position."""
    scale = min(1.0, up / down)  # below 1 when downsampling: the filter widens
    half = math.ceil(_HALF_TAPS / scale)
    cutoff = _PASS_FRACTION * scale  # in cycles per 2 input samples
    frac = (np.arange(up) * down % up / up)[:, None]  # position past `base`, per phase
    taps = np.arange(-half + 1, half + 1)[None, :]
    distance = frac - taps
    window = (
        0.42 + 0.5 * np.cos(np.pi * distance / half) + 0.08 * np.cos(2 * np.pi * distance / half)
    )
    weights = cutoff * np.sinc(cutoff * distance) * window
    weights /= weights.sum(axis=1, keepdims=True)  # unit gain at DC for every phase
    return weights.astype(np.float32), half


def wav_bytes(samples: Samples, rate: int) -> bytes:
    """A 16-bit PCM WAV file in memory (mono, or stereo for `(frames, 2)`)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1 if samples.ndim == 1 else samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2", copy=False).tobytes())
    return buffer.getvalue()


def waveform(samples: Samples, rate: int, seconds: float, columns: int) -> Waveform:
    """Min and max of `samples` (one channel) in each of `columns` equal slices of the first
    `seconds`; a slice past the end of the samples is silent."""
    edges = np.minimum(np.rint(np.linspace(0, seconds * rate, columns + 1)), len(samples))
    samples = samples[: int(edges[-1])]  # reduceat's last slice runs to the end of its input
    starts = edges[:-1].astype(np.int64)
    filled = edges[1:] > edges[:-1]
    low = np.zeros(columns, np.float32)
    high = np.zeros(columns, np.float32)
    if filled.any():
        at = starts[filled]
        low[filled] = np.minimum.reduceat(samples, at) / 32768
        high[filled] = np.maximum.reduceat(samples, at) / 32768
    return Waveform(low, high)
