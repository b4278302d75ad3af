"""Benchmark the energy detector: what measuring every call's audio (conversation timing, GPT-Live
turns) costs the interpretation, and the approaches it was chosen from, in one process.

    python bench/energy.py [--size-mb 200] [--dir bench/_data/stats]

Uses the audio-heavy corpus of bench/stats.py (generated there if missing) and times, CPU time,
best of --repeat:

  interpretation without measuring audio  Interpreter(measure_audio=False): the baseline
  interpretation measuring audio          what rt stats runs (energy.AudibilityMeter)

and, over the corpus' audio payloads alone (every append and delta):

  binascii decode only                    a2b_base64 per payload: the floor of a naive decoder
  binascii per frame + numpy per frame    decode and measure each payload alone
  the meter                               pybase64 on joined blocks of payloads, numpy per block

Prints seconds, MB/s of base64 and the ratios.
"""

from __future__ import annotations

import argparse
import binascii
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import orjson  # noqa: E402

from recorder.interpretation import Interpreter  # noqa: E402
from recorder.interpretation.energy import AudibilityMeter, audible_windows  # noqa: E402
from recorder.reading import iter_records  # noqa: E402
from recorder.vocabulary import PCM16  # noqa: E402


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times)


def interpret_all(files: list[Path], measure: bool) -> None:
    for path in files:
        interpreter = Interpreter(path, measure_audio=measure)
        for line, record in iter_records(path):
            interpreter.feed(line, record)
        interpreter.finish()


def payloads(files: list[Path]) -> list[str]:
    found = []
    for path in files:
        with open(path, "rb") as lines:
            for line in lines:
                event = orjson.loads(line).get("event") or {}
                payload = event.get("audio") or event.get("delta")
                if isinstance(payload, str) and len(payload) > 100:
                    found.append(payload)
    return found


def per_frame(chunks: list[str]) -> None:
    for chunk in chunks:
        samples = np.frombuffer(binascii.a2b_base64(chunk), dtype="<i2")
        audible_windows(samples, 24000)


def meter(chunks: list[str]) -> None:
    audio = AudibilityMeter()
    for chunk in chunks:
        audio.add(chunk, PCM16)
    audio.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--dir", type=Path, default=HERE / "_data" / "stats")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import stats  # bench/stats.py: the corpus

    files = stats.ensure_data(args.dir, args.size_mb * 2**20)
    size = sum(os.path.getsize(path) for path in files) / 1e6
    print(f"corpus: {len(files)} files, {size:,.0f} MB; load average {os.getloadavg()[0]:.1f}")
    plain = best(args.repeat, lambda: interpret_all(files, False))
    measured = best(args.repeat, lambda: interpret_all(files, True))
    print(f"interpretation without measuring audio  {plain:6.2f} s  {size / plain:6.0f} MB/s")
    print(
        f"interpretation measuring audio          {measured:6.2f} s  {size / measured:6.0f} MB/s"
        f"  {measured / plain:5.2f}x"
    )
    chunks = payloads(files)
    audio_mb = sum(len(chunk) for chunk in chunks) / 1e6
    print(f"audio payloads: {len(chunks):,}, {audio_mb:,.0f} MB of base64")
    floor = best(args.repeat, lambda: [binascii.a2b_base64(chunk) for chunk in chunks])
    naive = best(args.repeat, lambda: per_frame(chunks))
    chosen = best(args.repeat, lambda: meter(chunks))
    for name, seconds in (
        ("binascii decode only", floor),
        ("binascii + numpy per frame", naive),
        ("the meter (pybase64 blocks)", chosen),
    ):
        print(
            f"{name:39s} {seconds:6.2f} s  {audio_mb / seconds:6.0f} MB/s  "
            f"{seconds / floor:5.2f}x the decode floor"
        )


if __name__ == "__main__":
    main()
