"""Rendering tracks a block at a time from spooled audio (`recorder.audio_render`)."""

from __future__ import annotations

import numpy as np
import pytest

from recorder import audio_spool
from recorder.audio_render import Layer, Stream, interpolate, render
from recorder.audio_spool import Spool
from recorder.vocabulary import PCM16, ULAW, AudioFormat


def _stream(rng: np.random.Generator, spool: Spool, formats: list[AudioFormat]) -> Stream:
    offsets, sizes = [], []
    for fmt in formats:
        data = rng.integers(0, 256, int(rng.integers(1, 400)) * fmt.sample_width, np.uint8)
        offsets.append(spool.add(data.tobytes()))
        sizes.append(len(data))
    return Stream.of_formats(formats, offsets, sizes, 24000, spool)


def _painted_naively(stream: Stream, layer: Layer, frames: int) -> np.ndarray:
    whole = stream.read(0, stream.frames)
    out = np.zeros(frames, np.int16)
    for source, length, start in zip(layer.sources, layer.lengths, layer.starts, strict=True):
        out[start : start + length] = whole[source : source + length]
    return out


@pytest.mark.parametrize("seed", range(8))
def test_overlapping_stretches_show_the_last_painted(seed, monkeypatch):
    """A hostile timeline can place stretches over each other: the later one shows, as when
    the whole track is painted in order, whatever the block size and wherever the bytes are."""
    monkeypatch.setattr(audio_spool, "IN_MEMORY_BYTES", 2000)
    rng = np.random.default_rng(seed)
    spool = Spool()
    formats = [PCM16 if rng.random() < 0.6 else ULAW for _ in range(30)]
    stream = _stream(rng, spool, formats)
    count = 40
    sources = rng.integers(0, stream.frames - 1, count)
    lengths = np.minimum(rng.integers(0, 3000, count), stream.frames - sources)
    starts = rng.integers(0, 20000, count)
    layer = Layer(stream, sources, lengths, starts)
    frames = layer.end + 17
    expected = _painted_naively(stream, layer, frames)
    for block in (frames, 4096, 333):
        got = np.concatenate(list(render([layer], frames, block)))
        np.testing.assert_array_equal(got, expected)
    stereo = np.concatenate(list(render([None, layer], frames, 1000)))
    np.testing.assert_array_equal(stereo[:, 1], expected)
    assert not stereo[:, 0].any()
    spool.close()


def test_a_stream_reads_the_same_in_any_pieces(monkeypatch):
    monkeypatch.setattr(audio_spool, "IN_MEMORY_BYTES", 1000)
    rng = np.random.default_rng(3)
    spool = Spool()
    formats = [ULAW] * 5 + [PCM16] * 4 + [AudioFormat("pcm16", 16000)] * 3 + [ULAW] * 2
    stream = _stream(rng, spool, formats)
    whole = stream.read(0, stream.frames)
    cuts = sorted({0, stream.frames, *rng.integers(0, stream.frames, 25).tolist()})
    pieces = [stream.read(a, b) for a, b in zip(cuts, cuts[1:], strict=False)]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    assert stream.ends[-1] == stream.frames == len(whole)
    spool.close()


def test_interpolation_keeps_the_samples_on_the_grid():
    samples = np.array([0, 300, -300, 1200, 7], np.int16)
    up = interpolate(samples, 8000, 24000)
    np.testing.assert_array_equal(up[::3], samples)
    assert len(up) == 15
