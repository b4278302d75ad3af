"""Encoded audio to 16-bit samples: base64, PCM16 and G.711 (pure, numpy).

The one decoder of the project: the energy detector (`energy`), the WAV tracks
(`recorder.audio`) and the report's audio all decode with these functions and tables.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pybase64

from recorder.vocabulary import AudioFormat

Samples = npt.NDArray[np.int16]


def _ulaw_table() -> Samples:
    code = ~np.arange(256, dtype=np.int32) & 0xFF  # µ-law bytes go over the wire inverted
    exponent = (code >> 4) & 0x07
    magnitude = ((((code & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return np.where((code & 0x80) != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> Samples:
    code = np.arange(256, dtype=np.int32) ^ 0x55  # A-law inverts every other bit
    exponent = (code >> 4) & 0x07
    mantissa = ((code & 0x0F) << 4) + 8
    magnitude = np.where(exponent == 0, mantissa, (mantissa + 0x100) << np.maximum(exponent - 1, 0))
    return np.where((code & 0x80) != 0, magnitude, -magnitude).astype(np.int16)


# The ITU-T G.711 expansion, the same values libsndfile decodes to (a test holds them equal).
G711_TABLES: Mapping[str, Samples] = {"ulaw": _ulaw_table(), "alaw": _alaw_table()}


def decode_samples(data: bytes, fmt: AudioFormat) -> Samples:
    """Encoded audio as 16-bit samples at `fmt.rate` (pcm16 is a view, not a copy)."""
    table = G711_TABLES.get(fmt.encoding)
    if table is not None:
        return table[np.frombuffer(data, dtype=np.uint8)]
    pcm = np.frombuffer(data, dtype="<i2", count=len(data) // 2)
    return pcm.astype(np.int16, copy=False)


def decode_base64(text: str) -> bytes:
    """Strict base64 (junk, misplaced padding or whitespace raise `binascii.Error`, a
    ValueError), so a damaged payload is reported, not skipped. pybase64's SIMD decoder: about
    five times binascii's speed, which is most of what measuring a call's audio costs."""
    return pybase64.b64decode(text, validate=True)
