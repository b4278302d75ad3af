"""When audio is audible: the one energy detector (pure, vectorised with numpy).

The rule, one for every reader that needs "audible" (conversation timing, GPT-Live turns, the
report's conversation strip, `rt show`'s folded silences):

- audio is cut into windows of 20 ms (`WINDOW_MS`; `rate / 50` samples) from the start of each
  chunk (each append or output delta), the last one of a chunk shorter when the chunk ends
  mid-window, so a window never spans two chunks that may play at different moments;
- a window is audible when its RMS level is at least -45 dBFS (`AUDIBLE_DBFS`; full scale is
  32768, so an RMS of 184.3): speech lies around -35 to -15 dBFS, the noise floor of a quiet
  laptop or phone microphone around -60 to -50 dBFS, digital silence far below;
- PCM16 and G.711 alike: G.711 is measured on its decoded 16-bit values (the ITU-T expansion of
  `samples.G711_TABLES`), at its own 8 kHz.

`AudibilityMeter` measures one side of a call chunk by chunk, in blocks of about 256 KiB of
base64: the payloads of a block are joined and decoded in one call (pybase64's SIMD decoder),
then every window of the block is measured by a few numpy operations, so a chunk costs a few
list appends; a payload of digital silence (all "A" in base64) is recognised without decoding.
`per_frame=True` measures each chunk as it comes instead, and `audible_ms(payload, fmt)` one
chunk alone (for readers that show frames one by one: `rt show` folds GPT-Live's silent output).
All give the same windows: windows never span chunks. `docs/benchmarks.md` has the
figures (about 2 GB/s of base64 per core).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recorder.interpretation.samples import G711_TABLES, Samples, decode_base64
from recorder.vocabulary import AudioFormat

WINDOW_MS = 20.0
AUDIBLE_DBFS = -45.0
FULL_SCALE = 32768.0
# the mean square of a window at the threshold
_THRESHOLD = (FULL_SCALE * 10 ** (AUDIBLE_DBFS / 20)) ** 2
_BLOCK_BYTES = 1 << 18  # of base64 text; larger blocks measured slower (cache)
# squares of every G.711 code's value, so G.711 is measured without a decoded copy
_G711_SQUARES = {
    law: table.astype(np.float32) * table.astype(np.float32) for law, table in G711_TABLES.items()
}

Floats = npt.NDArray[np.float64]
Indices = npt.NDArray[np.int64]


def window_samples(rate: int) -> int:
    """Samples in a 20 ms window at `rate`."""
    return max(1, round(rate * WINDOW_MS / 1000))


def audible_windows(samples: Samples, rate: int) -> npt.NDArray[np.bool_]:
    """Whether each 20 ms window of `samples` (from the first sample) is audible."""
    if len(samples) == 0:
        return np.zeros(0, dtype=np.bool_)
    squares = samples.astype(np.float32)
    np.square(squares, out=squares)
    audible, _, _ = _measure(squares, np.array([len(samples)], dtype=np.int64), rate)
    return audible


def level_dbfs(samples: Samples) -> float:
    """The RMS level of `samples` in dBFS (-inf for silence or no samples)."""
    if len(samples) == 0:
        return -math.inf
    mean_square = float(np.mean(samples.astype(np.float64) ** 2))
    return 10 * math.log10(mean_square) - 20 * math.log10(FULL_SCALE) if mean_square else -math.inf


def _measure(
    squares: npt.NDArray[np.float32], counts: Indices, rate: int
) -> tuple[npt.NDArray[np.bool_], Indices, Indices]:
    """Audibility of every window of chunks laid back to back in `squares` (`counts` samples
    each, none empty): (audible, chunk of each window, window start within its chunk)."""
    width = window_samples(rate)
    windows = -(-counts // width)
    ends = np.cumsum(counts)
    firsts = np.cumsum(windows) - windows
    chunk = np.repeat(np.arange(len(counts), dtype=np.int64), windows)
    within = (np.arange(int(windows.sum()), dtype=np.int64) - firsts[chunk]) * width
    starts = ends[chunk] - counts[chunk] + within
    sums = np.add.reduceat(squares, starts)
    lengths = np.minimum(width, ends[chunk] - starts)
    return sums >= _THRESHOLD * lengths, chunk, within


def audible_ms(payload: object, fmt: AudioFormat) -> float:
    """The audible milliseconds of one chunk (its base64 payload, in format `fmt`)."""
    return AudibilityMeter(per_frame=True).add(payload, fmt) or 0.0


@dataclass(frozen=True)
class AudibleWindows:
    """The audible windows of one side, each named by its chunk (in the order added), where it
    starts in that chunk and how long it is (ms)."""

    chunk: Indices
    offset_ms: Floats
    length_ms: Floats

    def __len__(self) -> int:
        return len(self.chunk)


class AudibilityMeter:
    """The audible windows of one side's chunks, fed in order (see the module docstring)."""

    def __init__(self, per_frame: bool = False) -> None:
        self.per_frame = per_frame
        self.sizes: list[int] = []  # each chunk's bytes of audio: whole samples of a valid payload
        self._payloads: list[str] = []  # waiting to be measured, in the format `_format`
        self._chunks: list[int] = []  # the chunk of each
        self._ends: list[int] = []  # where a run of payloads that decode as one text ends
        self._pending = 0  # characters waiting
        self._format: AudioFormat | None = None
        self._width = 2
        self._found: list[tuple[Indices, Floats, Floats]] = []
        self._scratch = np.zeros(0, dtype=np.float32)

    def add(self, payload: object, fmt: AudioFormat) -> float | None:
        """Take the next chunk (its base64 payload, in format `fmt`); with `per_frame`, its
        audible milliseconds. Its size is in `sizes` (final once measured: `finish`)."""
        if fmt is not self._format and fmt != self._format:
            self._flush()
            self._format = fmt
            self._width = fmt.sample_width
        sizes = self.sizes
        length = len(payload) if type(payload) is str else 0
        if not length or length % 4:  # nothing, or not base64
            sizes.append(0)
            return 0.0 if self.per_frame else None
        assert isinstance(payload, str)
        size = length // 4 * 3
        if payload[-1] == "=":
            size -= 2 if payload[-2] == "=" else 1
        # (the middle character first: audio that starts quiet is not copied by `strip`)
        if (
            payload[0] == "A"
            and payload[length >> 1] in "A="
            and self._width == 2
            and not payload.rstrip("=").strip("A")
        ):
            sizes.append(size - size % 2)  # digital silence: nothing to measure
            return 0.0 if self.per_frame else None
        # base64 texts join where none but the last has padding or (PCM16) an odd byte
        if size % (3 * self._width):
            self._ends.append(len(self._payloads) + 1)
        self._payloads.append(payload)
        self._chunks.append(len(sizes))
        sizes.append(size - size % self._width)
        self._pending += length
        if self.per_frame:
            return self._flush()
        if self._pending >= _BLOCK_BYTES:
            self._flush()
        return None

    def _decode(self, first: int, end: int) -> bytes:
        """Payloads `first` to `end` (one text), whole samples only; one that does not decode
        holds no audio."""
        payloads, chunks, sizes = self._payloads, self._chunks, self.sizes
        try:
            data = decode_base64("".join(payloads[first:end]))
        except ValueError:  # some payload is damaged: decode them one by one
            pieces = []
            for index in range(first, end):
                try:
                    pieces.append(decode_base64(payloads[index])[: sizes[chunks[index]]])
                except ValueError:
                    sizes[chunks[index]] = 0
            return b"".join(pieces)
        usable = sum(sizes[chunk] for chunk in chunks[first:end])  # the last may have an odd byte
        return data if len(data) == usable else data[:usable]

    def _flush(self) -> float:
        """Measure the pending chunks; the audible ms found among them."""
        fmt = self._format
        if not self._payloads or fmt is None:
            return 0.0
        ends = [*self._ends, len(self._payloads)]
        data = b"".join(
            [
                self._decode(first, end)
                for first, end in zip([0, *ends[:-1]], ends, strict=True)
                if end > first
            ]
        )
        sizes = self.sizes
        chunks = np.fromiter((chunk for chunk in self._chunks if sizes[chunk]), np.int64)
        self._payloads, self._chunks, self._ends, self._pending = [], [], [], 0
        if not len(chunks):
            return 0.0
        counts = np.fromiter((sizes[chunk] for chunk in chunks.tolist()), np.int64)
        if fmt.encoding == "pcm16":
            samples = np.frombuffer(data, dtype="<i2")
            squares = self._work(len(samples))
            np.copyto(squares, samples, casting="unsafe")
            np.square(squares, out=squares)
            counts //= 2
        else:
            squares = self._work(len(data))
            np.take(_G711_SQUARES[fmt.encoding], np.frombuffer(data, dtype=np.uint8), out=squares)
        audible, chunk, within = _measure(squares, counts, fmt.rate)
        if not audible.any():
            return 0.0
        starts = within[audible]
        lengths = np.minimum(window_samples(fmt.rate), counts[chunk[audible]] - starts)
        per_sample = 1000 / fmt.rate
        lengths_ms: Floats = lengths.astype(np.float64) * per_sample
        offsets_ms: Floats = starts.astype(np.float64) * per_sample
        self._found.append((chunks[chunk[audible]], offsets_ms, lengths_ms))
        return float(lengths_ms.sum())

    def _work(self, size: int) -> npt.NDArray[np.float32]:
        """A scratch array of `size` floats, reused from block to block: fresh memory costs a
        page fault per 4 KiB, more than measuring what is in it."""
        if len(self._scratch) < size:
            self._scratch = np.empty(max(size, 2 * len(self._scratch)), dtype=np.float32)
        return self._scratch[:size]

    def finish(self) -> AudibleWindows:
        """Every audible window so far (the meter may go on being fed)."""
        self._flush()
        if not self._found:
            empty = np.zeros(0)
            return AudibleWindows(np.zeros(0, dtype=np.int64), empty, empty)
        if len(self._found) > 1:
            chunks, offsets, lengths = zip(*self._found, strict=True)
            self._found = [
                (np.concatenate(chunks), np.concatenate(offsets), np.concatenate(lengths))
            ]
        chunk, offset, length = self._found[0]
        return AudibleWindows(chunk, offset, length)
