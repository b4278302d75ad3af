"""Benchmark `rt stats` over JSONL session files against `rt stats` over their Parquet export.

Generates audio-heavy sessions with bench/stats.py's generator (pcm16 24 kHz, the microphone
streamed in 20-60 ms appends, the assistant answering in 20-200 ms deltas) into
bench/_data/parquet-<size>/, exports them once with `rt export parquet` (timed), then times,
interleaved in one process (the fastest of --repeat runs counts):

- `rt stats DIR --format json` over the JSONL files;
- `rt stats DATASET --format json` over the Parquet dataset;

with the bytes each run read (`rchar` of /proc/self/io, where there is one) and the files'
sizes on disk. Checks that both print the same JSON, and prints the ratios. With --cold the
page cache is dropped before every run (Linux, as root), as for months-old recordings.

    python bench/parquet.py                  # 300 MB
    python bench/parquet.py --size-mb 1024   # 1 GB
    python bench/parquet.py --cold           # every run reads from the disk
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def read_chars() -> int | None:
    """Bytes this process has read through read(2) and friends so far (Linux only)."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def tree_size(root: Path, pattern: str) -> int:
    return sum(path.stat().st_size for path in root.rglob(pattern) if path.is_file())


def ensure_dataset(corpus: Path, dataset: Path) -> float | None:
    """Export `corpus` into `dataset` unless it is there already; the export time, if run."""
    from recorder.parquet import export_parquet, find_dataset

    marker = dataset / "corpus.json"
    wanted = (corpus / "corpus.json").read_text()
    if find_dataset(dataset) is not None and marker.exists() and marker.read_text() == wanted:
        return None
    shutil.rmtree(dataset, ignore_errors=True)
    started = time.perf_counter()
    export_parquet([str(corpus)], str(dataset))
    elapsed = time.perf_counter() - started
    marker.write_text(wanted)
    return elapsed


def drop_page_cache() -> None:
    import os

    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        raise SystemExit(f"--cold needs Linux and root: {exc}") from None


def time_rt_stats(path: Path, cold: bool = False) -> tuple[float, int | None, str]:
    """`rt stats PATH --format json`, in process, through the click command."""
    from click.testing import CliRunner
    from rt_cli.main import cli

    if cold:
        drop_page_cache()
    before = read_chars()
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["stats", str(path), "--format", "json"])
    elapsed = time.perf_counter() - started
    after = read_chars()
    if result.exit_code != 0:
        raise SystemExit(f"rt stats {path} failed: {result.output}")
    read = None if before is None or after is None else after - before
    return elapsed, read, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=300, help="corpus size (default 300)")
    parser.add_argument("--dir", type=Path, help="corpus directory (default bench/_data/...)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts")
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each run")
    args = parser.parse_args()

    from stats import ensure_data  # bench/stats.py: the same realistic sessions

    corpus = args.dir or HERE / "_data" / f"parquet-{args.size_mb}"
    dataset = corpus.with_name(corpus.name + "-dataset")
    ensure_data(corpus, args.size_mb * 2**20)
    export_s = ensure_dataset(corpus, dataset)

    from recorder.analytics import sources

    if not hasattr(sources, "resolve_sources"):
        raise SystemExit("rt stats does not read Parquet datasets yet (the analytics patch)")

    jsonl_bytes = tree_size(corpus, "*.jsonl")
    parquet_bytes = tree_size(dataset, "*.parquet")
    jsonl: list[tuple[float, int | None, str]] = []
    parquet: list[tuple[float, int | None, str]] = []
    for _ in range(args.repeat):  # interleaved, so a busy neighbour slows both alike
        jsonl.append(time_rt_stats(corpus, args.cold))
        parquet.append(time_rt_stats(dataset, args.cold))
    best_jsonl = min(jsonl, key=lambda run: run[0])
    best_parquet = min(parquet, key=lambda run: run[0])
    report: dict[str, Any] = json.loads(best_jsonl[2])
    same = json.loads(best_parquet[2]) == report

    mb = jsonl_bytes / 1e6
    files = len(list(corpus.rglob("*.jsonl")))
    cache = "cold (page cache dropped before each run)" if args.cold else "warm page cache"
    print(
        f"corpus: {files} files, {mb:,.0f} MB of JSONL, {report['summary']['responses']} responses; {cache}"
    )
    if export_s is not None:
        print(f"rt export parquet:          {export_s:6.2f} s  {mb / export_s:7.0f} MB/s")
    print(
        f"dataset: {parquet_bytes / 1e6:,.1f} MB of Parquet ({jsonl_bytes / parquet_bytes:.0f}x smaller)"
    )
    for name, (seconds, read, _) in (("JSONL", best_jsonl), ("Parquet", best_parquet)):
        shown = "n/a" if read is None else f"{read / 1e6:,.1f} MB read"
        print(f"rt stats over {name + ':':9} {seconds:6.2f} s  {shown}")
    print(f"speed-up (JSONL / Parquet): {best_jsonl[0] / best_parquet[0]:6.1f}x")
    if best_jsonl[1] and best_parquet[1]:
        print(f"bytes read (JSONL / Parquet): {best_jsonl[1] / best_parquet[1]:6.1f}x")
    print(f"same JSON: {'yes' if same else 'NO'}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
