"""Benchmark `rt report` against `rt stats` on the same session files.

Uses the corpus of bench/stats.py (audio-heavy GA server-VAD sessions, pcm16 24 kHz, 20-120 s
each), generated once into bench/_data/report at --size-mb. Then times, in one process and
interleaved (the fastest of --repeat runs counts), with the facts cache off (RT_CACHE=off: both
read every file; the report reads each once more for its conversation, audio and waveforms):

    stats     `rt stats DIR --format json` through the click command (the baseline: the
              report's first half is exactly this)
    report    `rt report DIR --no-audio` (plus one more pass over every file for the
              conversation and the waveforms)
    audio     `rt report DIR` (plus the 16 kHz mono WAV of the first sessions, base64 in the
              page, up to its 50 MB audio budget)

and prints each, the ratios report/stats and audio/stats, the page sizes, and how many times
faster than real time the 24 kHz -> 16 kHz resampler runs.

    python bench/report.py                  # 200 MB corpus, best of 3
    python bench/report.py --size-mb 50 --repeat 2
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from rt_cli.main import cli  # noqa: E402

from recorder.report.audio_embed import resample  # noqa: E402


def _corpus_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_stats", HERE / "stats.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(args: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = CliRunner().invoke(cli, args)
    elapsed = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"rt {' '.join(args)} failed: {result.output}")
    return elapsed, result.stdout


def resampler_speed(seconds: float = 600.0) -> float:
    """Seconds of 24 kHz audio resampled to 16 kHz per second of CPU."""
    noise = np.random.default_rng(3).normal(0, 3000, int(seconds * 24000)).astype(np.int16)
    started = time.perf_counter()
    resample(noise, 24000, 16000)
    return seconds / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=200, help="corpus size (default 200)")
    parser.add_argument("--dir", type=Path, default=HERE / "_data" / "report", help="corpus")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts")
    args = parser.parse_args()

    os.environ["RT_CACHE"] = "off"
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    paths = _corpus_module().ensure_data(args.dir, args.size_mb * 2**20)
    total = sum(p.stat().st_size for p in paths)
    best = {"stats": float("inf"), "report": float("inf"), "audio": float("inf")}
    sizes = {}
    with tempfile.TemporaryDirectory(prefix="rt-bench-report-") as out:
        page, full = Path(out) / "no-audio.html", Path(out) / "audio.html"
        for _ in range(args.repeat):
            best["stats"] = min(
                best["stats"], timed(["stats", str(args.dir), "--format", "json"])[0]
            )
            elapsed, _ = timed(["report", str(args.dir), "-o", str(page), "--no-audio"])
            best["report"] = min(best["report"], elapsed)
            elapsed, summary = timed(["report", str(args.dir), "-o", str(full)])
            best["audio"] = min(best["audio"], elapsed)
        sizes = {"no-audio": page.stat().st_size, "audio": full.stat().st_size}
    print(f"corpus: {len(paths)} files, {total / 2**20:.0f} MB ({args.dir})")
    print(
        f"rt stats --format json   {best['stats']:7.2f} s  {total / 2**20 / best['stats']:6.0f} MB/s"
    )
    for key, label in (("report", "rt report --no-audio"), ("audio", "rt report")):
        ratio = best[key] / best["stats"]
        print(
            f"{label:<24} {best[key]:7.2f} s  {total / 2**20 / best[key]:6.0f} MB/s  "
            f"{ratio:.2f}x rt stats"
        )
    print(
        f"page: {sizes['no-audio'] / 2**20:.1f} MB without audio, {sizes['audio'] / 2**20:.1f} MB with"
    )
    print(f"  ({summary.strip()})")
    print(f"resampler 24 -> 16 kHz: {resampler_speed():.0f}x real time")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
