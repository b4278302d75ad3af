"""Tracks rendered block by block from spooled audio (pure but for reading the spool; numpy).

    Stream(codes, formats, offsets, sizes, rate, spool)
                                                   chunks back to back at one rate; `ends`
                                                   says where each ends, `read(a, b)` decodes
                                                   only samples [a, b)
    Layer(stream, sources, lengths, starts)        stretches of a stream placed on a track
    render(layers, frames, block) -> blocks        the track, `block` frames at a time

`recorder.audio` says which chunks make a track and where each plays (the call's layout);
this module turns that into samples without holding the session's audio in memory: a WAV of
an hour is written a block at a time, decoding only the payload bytes that block needs.

Decoding is `interpretation.samples`'s; a stretch whose format has a lower rate than the
track's is interpolated linearly over its whole run of one format (so chunk boundaries leave
no seams), one block at a time with the same integer positions as a single pass: the samples
do not depend on the block size.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recorder.audio_spool import Spool
from recorder.interpretation.samples import Samples, decode_samples
from recorder.vocabulary import AudioFormat

Offsets = npt.NDArray[np.int64]
BLOCK_FRAMES = 1 << 19  # frames rendered at a time (2 MB of stereo 16-bit)
# Output samples interpolated per step; bounds the float temporaries.
_INTERPOLATION_BLOCK = 1 << 20


def rescale(count: int | Offsets, from_rate: int, to_rate: int) -> int | Offsets:
    """A sample count (int or int array) at another rate, rounded half up."""
    return (count * to_rate + from_rate // 2) // from_rate


def _interpolated(
    source: Callable[[int, int], Samples], count: int, from_rate: int, to_rate: int, a: int, b: int
) -> Samples:
    """Samples [a, b) of `count` source samples interpolated from `from_rate` up to `to_rate`;
    `source(lo, hi)` gives source samples [lo, hi)."""
    out = np.empty(b - a, dtype=np.int16)
    last = count - 1
    for start in range(a, b, _INTERPOLATION_BLOCK):
        # Exact integer positions: out[j] sits at j * from_rate / to_rate source samples.
        numerator = np.arange(start, min(start + _INTERPOLATION_BLOCK, b), dtype=np.int64)
        numerator *= from_rate
        left = np.minimum(numerator // to_rate, last)
        fraction = (numerator - left * to_rate) / to_rate
        right = np.minimum(left + 1, last)
        lo = int(left[0])
        values = source(lo, int(right[-1]) + 1).astype(np.float64)
        left -= lo
        right -= lo
        value = values[left] + (values[right] - values[left]) * fraction
        out[start - a : start - a + len(value)] = np.rint(value)
    return out


def interpolate(samples: Samples, from_rate: int, to_rate: int) -> Samples:
    """Linear interpolation to `to_rate`; samples that land on the new grid are kept exactly."""
    if from_rate == to_rate:
        return samples
    frames = int(rescale(len(samples), from_rate, to_rate))
    if len(samples) == 0:
        return np.empty(0, dtype=np.int16)
    return _interpolated(lambda lo, hi: samples[lo:hi], len(samples), from_rate, to_rate, 0, frames)


@dataclass(frozen=True)
class _Run:
    """Chunks of one format, back to back: where their bytes are and where they land."""

    format: AudioFormat
    start: int  # its first sample in the stream (at the stream's rate)
    frames: int  # its samples at the stream's rate
    source: int  # its samples at its own rate
    segment_starts: list[int]  # byte positions in the run where a stretch contiguous in the
    segment_offsets: list[int]  # spool starts, and where in the spool each stretch is


class Stream:
    """Chunks back to back at `rate`, decoded from `spool` on demand. `ends[i]`: where chunk
    i ends, in samples at `rate` (a chunk at a lower rate counts its interpolated samples)."""

    @classmethod
    def of_formats(
        cls,
        formats: Sequence[AudioFormat],
        offsets: Sequence[int] | Offsets,
        sizes: Sequence[int] | Offsets,
        rate: int,
        spool: Spool,
    ) -> Stream:
        """A stream whose chunk i is in `formats[i]`."""
        table: dict[AudioFormat, int] = {}
        codes = np.fromiter((table.setdefault(f, len(table)) for f in formats), np.int32)
        return cls(codes, tuple(table), offsets, sizes, rate, spool)

    def __init__(
        self,
        codes: npt.NDArray[np.int32],
        formats: Sequence[AudioFormat],
        offsets: Sequence[int] | Offsets,
        sizes: Sequence[int] | Offsets,
        rate: int,
        spool: Spool,
    ) -> None:
        """Chunk i is in format `formats[codes[i]]` (no Python object per chunk)."""
        self.rate = rate
        self._spool = spool
        self._runs: list[_Run] = []
        self.ends = np.empty(len(codes), dtype=np.int64)
        offset_array = np.asarray(offsets, dtype=np.int64)
        size_array = np.asarray(sizes, dtype=np.int64)
        firsts = [0, *(np.flatnonzero(codes[1:] != codes[:-1]) + 1).tolist()]
        position = 0
        for first, last in zip(firsts, [*firsts[1:], len(codes)], strict=True):
            if first == last:  # no chunks at all
                break
            fmt = formats[codes[first]]
            run_sizes = size_array[first:last]
            counts = np.cumsum(run_sizes) // fmt.sample_width
            frames = counts
            if fmt.rate != rate:
                frames = rescale(counts, fmt.rate, rate)  # type: ignore[assignment]
            self.ends[first:last] = position + frames
            run_offsets = offset_array[first:last]
            breaks = np.flatnonzero(run_offsets[1:] != run_offsets[:-1] + run_sizes[:-1]) + 1
            byte_starts = np.cumsum(run_sizes) - run_sizes
            self._runs.append(
                _Run(
                    fmt,
                    position,
                    int(frames[-1]),
                    int(counts[-1]),
                    [0, *byte_starts[breaks].tolist()],
                    [int(run_offsets[0]), *run_offsets[breaks].tolist()],
                )
            )
            position += int(frames[-1])
        self.frames = position
        self._run_starts = [run.start for run in self._runs]

    def read(self, a: int, b: int) -> Samples:
        """Samples [a, b) of the stream."""
        out = np.empty(b - a, dtype=np.int16)
        index = max(bisect.bisect_right(self._run_starts, a) - 1, 0)
        while index < len(self._runs) and self._runs[index].start < b:
            run = self._runs[index]
            lo, hi = max(a, run.start) - run.start, min(b, run.start + run.frames) - run.start
            if lo < hi:
                out[run.start + lo - a : run.start + hi - a] = self._run_samples(run, lo, hi)
            index += 1
        return out

    def _run_samples(self, run: _Run, lo: int, hi: int) -> Samples:
        fmt = run.format
        if fmt.rate == self.rate:
            return self._source(run, lo, hi)
        return _interpolated(
            lambda a, b: self._source(run, a, b), run.source, fmt.rate, self.rate, lo, hi
        )

    def _source(self, run: _Run, lo: int, hi: int) -> Samples:
        """Samples [lo, hi) of a run at its own rate, decoded from the spool."""
        width = run.format.sample_width
        begin, end = lo * width, hi * width
        segment = bisect.bisect_right(run.segment_starts, begin) - 1
        pieces = []
        while begin < end:
            segment_end = (
                run.segment_starts[segment + 1] if segment + 1 < len(run.segment_starts) else end
            )
            stop = min(end, segment_end)
            offset = run.segment_offsets[segment] + begin - run.segment_starts[segment]
            pieces.append(self._spool.read(offset, stop - begin))
            begin = stop
            segment += 1
        return decode_samples(pieces[0] if len(pieces) == 1 else b"".join(pieces), run.format)


@dataclass(frozen=True)
class Layer:
    """Stretches of a stream placed on a track, in the order they are painted (a later one
    covers an earlier one where they overlap): stream samples [source, source + length) play
    from track frame `start`."""

    stream: Stream
    sources: Offsets
    lengths: Offsets
    starts: Offsets

    @property
    def end(self) -> int:
        """The frame after its last stretch (0 for none)."""
        return int((self.starts + self.lengths).max()) if len(self.starts) else 0


def _visible(layer: Layer) -> tuple[Offsets, Offsets, Offsets]:
    """The layer's stretches as they show once painted: non-empty, in track order, none
    overlapping (a later stretch hides an earlier one)."""
    keep = layer.lengths > 0
    sources, lengths, starts = layer.sources[keep], layer.lengths[keep], layer.starts[keep]
    if len(starts) < 2 or bool(np.all(starts[1:] >= starts[:-1] + lengths[:-1])):
        return sources, lengths, starts
    # Rare (hostile timelines): paint from the last stretch back, keeping what is not covered.
    covered_starts: list[int] = []
    covered_ends: list[int] = []
    shown: list[tuple[int, int, int]] = []
    for source, length, start in reversed(
        list(zip(sources.tolist(), lengths.tolist(), starts.tolist(), strict=True))
    ):
        end = start + length
        cursor = start
        index = bisect.bisect_right(covered_ends, start)
        while cursor < end:
            gap_end = covered_starts[index] if index < len(covered_starts) else end
            if gap_end > cursor:
                stop = min(gap_end, end)
                shown.append((source + cursor - start, stop - cursor, cursor))
            if index >= len(covered_starts):
                break
            cursor = max(cursor, covered_ends[index])
            index += 1
        first = bisect.bisect_left(covered_ends, start)
        last = bisect.bisect_right(covered_starts, end)
        if first < last:
            start, end = min(start, covered_starts[first]), max(end, covered_ends[last - 1])
        covered_starts[first:last] = [start]
        covered_ends[first:last] = [end]
    shown.sort(key=lambda stretch: stretch[2])
    columns = np.array(shown, dtype=np.int64).reshape(-1, 3)
    return columns[:, 0], columns[:, 1], columns[:, 2]


def render(
    layers: Sequence[Layer | None], frames: int, block: int | None = None
) -> Iterator[Samples]:
    """A track of `frames` frames, `block` (default `BLOCK_FRAMES`) at a time: one layer makes
    it mono, more make one channel each (None: a silent channel); silence where none plays."""
    block = block or BLOCK_FRAMES
    painted = [
        None if layer is None else _Painted(layer.stream, *_visible(layer)) for layer in layers
    ]
    for a in range(0, frames, block):
        b = min(a + block, frames)
        out = np.zeros((b - a, len(layers)) if len(layers) > 1 else b - a, dtype=np.int16)
        for channel, layer in enumerate(painted):
            if layer is not None:
                layer.paint(out[:, channel] if len(layers) > 1 else out, a, b)
        yield out


class _Painted:
    """A layer's visible stretches (see `_visible`), ready to paint a block at a time."""

    def __init__(self, stream: Stream, sources: Offsets, lengths: Offsets, starts: Offsets) -> None:
        self.stream = stream
        self.sources, self.starts = sources, starts
        self.ends = starts + lengths

    def paint(self, out: Samples, a: int, b: int) -> None:
        """Frames [a, b) of the channel into `out`."""
        first = int(np.searchsorted(self.ends, a, side="right"))
        last = int(np.searchsorted(self.starts, b, side="left"))
        if first >= last:
            return
        starts = self.starts[first:last]
        lows = np.maximum(starts, a)
        highs = np.minimum(self.ends[first:last], b)
        reads = self.sources[first:last] + (lows - starts)
        stops = reads + (highs - lows)
        stretches = zip(lows.tolist(), highs.tolist(), reads.tolist(), strict=True)
        lo, hi = int(reads.min()), int(stops.max())
        if hi - lo <= 2 * (b - a):  # the usual case: the stream in order, with gaps: one read
            samples = self.stream.read(lo, hi)
            for low, high, read in stretches:
                out[low - a : high - a] = samples[read - lo : read - lo + high - low]
        else:  # sources far apart (long unheard stretches, a hostile timeline)
            for low, high, read in stretches:
                out[low - a : high - a] = self.stream.read(read, read + high - low)
