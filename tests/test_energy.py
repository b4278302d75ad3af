"""The energy detector: which 20 ms windows of audio are audible (recorder/interpretation/energy.py)."""

from __future__ import annotations

import base64
import math

import numpy as np
import pytest
from audio_fixtures import G711_RATE, g711, pcm16, sine
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.interpretation.energy import (
    AUDIBLE_DBFS,
    AudibilityMeter,
    audible_windows,
    level_dbfs,
)
from recorder.interpretation.samples import decode_samples
from recorder.vocabulary import PCM16, ULAW, AudioFormat


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def tone(ms: int, dbfs: float, rate: int = 24000) -> np.ndarray:
    """A sine whose RMS level is `dbfs`."""
    amplitude = 32768 * 10 ** (dbfs / 20) * math.sqrt(2)
    return sine(440, ms, rate=rate, amplitude=round(amplitude))


def test_the_threshold_is_minus_45_dbfs_rms():
    assert AUDIBLE_DBFS == -45.0
    loud, quiet = tone(100, -44.0), tone(100, -46.0)
    assert level_dbfs(loud) == pytest.approx(-44.0, abs=0.05)
    assert audible_windows(loud, 24000).tolist() == [True] * 5
    assert audible_windows(quiet, 24000).tolist() == [False] * 5
    assert level_dbfs(np.zeros(10, dtype=np.int16)) == -math.inf


def test_windows_start_at_the_first_sample_and_the_last_may_be_shorter():
    samples = np.concatenate([np.zeros(480, dtype=np.int16), tone(30, -20.0)])  # 20 + 30 ms
    assert audible_windows(samples, 24000).tolist() == [False, True, True]  # 20, 20, 10 ms


def windows(meter: AudibilityMeter) -> list[tuple[int, float, float]]:
    found = meter.finish()
    return list(
        zip(
            found.chunk.tolist(),
            np.round(found.offset_ms, 6).tolist(),
            np.round(found.length_ms, 6).tolist(),
            strict=True,
        )
    )


def test_the_meter_names_each_audible_window_by_chunk_offset_and_length():
    meter = AudibilityMeter()
    meter.add(b64(pcm16(np.zeros(2400, dtype=np.int16))), PCM16)  # 100 ms of digital silence
    meter.add(b64(pcm16(np.concatenate([tone(40, -20.0), tone(20, -70.0)]))), PCM16)
    meter.add(b64(pcm16(tone(50, -30.0))), PCM16)  # 20 + 20 + 10 ms
    assert windows(meter) == [
        (1, 0.0, 20.0),
        (1, 20.0, 20.0),
        (2, 0.0, 20.0),
        (2, 20.0, 20.0),
        (2, 40.0, 10.0),
    ]
    assert meter.sizes == [4800, 2880, 2400]


def test_g711_is_measured_on_its_decoded_values_at_8khz():
    loud = g711(tone(60, -20.0, rate=G711_RATE), "ulaw")
    quiet = g711(tone(60, -60.0, rate=G711_RATE), "ulaw")
    meter = AudibilityMeter()
    meter.add(b64(quiet), ULAW)
    meter.add(b64(loud), ULAW)
    assert windows(meter) == [(1, 0.0, 20.0), (1, 20.0, 20.0), (1, 40.0, 20.0)]
    assert meter.sizes == [480, 480]


def test_damaged_payloads_hold_no_audio_and_odd_bytes_are_dropped():
    good = b64(pcm16(tone(20, -20.0)))
    meter = AudibilityMeter()
    meter.add(good, PCM16)
    meter.add("@@@not base64@@@", PCM16)  # 16 characters: it reaches the decoder
    meter.add("abc", PCM16)
    meter.add(None, PCM16)
    meter.add(b64(pcm16(tone(20, -20.0)) + b"\x01"), PCM16)  # 961 bytes: one odd byte
    meter.add(good, PCM16)
    found = windows(meter)
    assert [chunk for chunk, _, _ in found] == [0, 4, 5]
    assert meter.sizes == [960, 0, 0, 0, 960, 960]


def test_a_format_change_measures_each_chunk_in_its_own_format():
    meter = AudibilityMeter()
    meter.add(b64(pcm16(tone(20, -20.0))), PCM16)
    meter.add(b64(g711(tone(20, -20.0, rate=G711_RATE), "ulaw")), ULAW)
    meter.add(b64(pcm16(tone(40, -20.0, rate=16000))), AudioFormat("pcm16", 16000))
    assert [chunk for chunk, _, _ in windows(meter)] == [0, 1, 2, 2]
    assert meter.sizes == [960, 160, 1280]


@settings(max_examples=30, deadline=None)
@given(
    pieces=st.lists(
        st.tuples(st.integers(min_value=1, max_value=3000), st.sampled_from([-70.0, -30.0])),
        min_size=1,
        max_size=8,
    )
)
def test_blocks_and_frame_by_frame_find_the_same_windows(pieces):
    block, per_frame = AudibilityMeter(), AudibilityMeter(per_frame=True)
    audible_ms = 0.0
    for samples, level in pieces:
        payload = b64(pcm16(tone(60, level)[: samples % 1441 + 1]))
        block.add(payload, PCM16)
        audible_ms += per_frame.add(payload, PCM16) or 0.0
    assert windows(block) == windows(per_frame)
    assert audible_ms == pytest.approx(float(per_frame.finish().length_ms.sum()))


def reference(chunks: list[bytes], fmt: AudioFormat) -> list[tuple[int, float, float]]:
    """Each chunk decoded and measured on its own, window by window, with no shortcut."""
    found = []
    width = round(fmt.rate * 0.02)
    for index, data in enumerate(chunks):
        samples = decode_samples(data[: len(data) - len(data) % fmt.sample_width], fmt)
        for k, audible in enumerate(audible_windows(samples, fmt.rate).tolist()):
            if audible:
                length = min(width, len(samples) - k * width)
                found.append(
                    (
                        index,
                        round(k * width * 1000 / fmt.rate, 6),
                        round(length * 1000 / fmt.rate, 6),
                    )
                )
    return found


@settings(max_examples=60, deadline=None)
@given(
    fmt=st.sampled_from([PCM16, AudioFormat("pcm16", 16000), ULAW, AudioFormat("alaw", 8000)]),
    pieces=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=4000),  # samples
            st.sampled_from([-90.0, -60.0, -46.0, -45.5, -44.0, -30.0, -10.0]),  # level
            st.sampled_from(["tone", "burst", "noise"]),
        ),
        min_size=1,
        max_size=10,
    ),
)
def test_the_meter_finds_exactly_what_measuring_every_sample_finds(fmt, pieces):
    """The meter proves loud windows from a sample of each and measures the rest: whatever the
    signal, it finds exactly the windows a full measurement finds."""
    rng = np.random.default_rng(len(pieces))
    chunks = []
    for count, level, shape in pieces:
        amplitude = 32768 * 10 ** (level / 20)
        if shape == "tone":
            signal = np.sqrt(2) * amplitude * np.sin(np.arange(count) * 0.3)
        elif shape == "noise":
            signal = rng.normal(0, amplitude, count)
        else:  # silence with one loud stretch: a sample may miss it
            signal = np.zeros(count)
            signal[count // 2 : count // 2 + 7] = amplitude * 30
        samples = np.clip(np.rint(signal), -32768, 32767).astype(np.int16)
        data = pcm16(samples) if fmt.encoding == "pcm16" else g711(samples, fmt.encoding)
        chunks.append(data)
    meter = AudibilityMeter()
    for data in chunks:
        meter.add(b64(data), fmt)
    assert windows(meter) == reference(chunks, fmt)


def test_digital_silence_is_known_by_its_text_and_audio_that_starts_quiet_is_measured():
    """Silence of any length (padded or not) is all "A"; a chunk that starts silent and then
    sounds starts with "A" too and is measured."""
    meter = AudibilityMeter()
    for size in (2, 4, 480, 962):  # "AAA=", "AAAAAA==", …
        meter.add(b64(bytes(size)), PCM16)
    late = np.concatenate([np.zeros(960, dtype=np.int16), tone(20, -20.0)])  # 40 ms, then 20
    meter.add(b64(pcm16(late)), PCM16)
    assert meter.sizes == [2, 4, 480, 962, 2880]
    assert windows(meter) == [(4, 40.0, 20.0)]
