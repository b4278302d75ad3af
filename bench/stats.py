"""Benchmark `rt stats` against a bare DuckDB scan of the same session files.

Generates audio-heavy sessions (pcm16 24 kHz, the client streaming the microphone in
20-60 ms appends, the assistant answering in 20-200 ms deltas) into bench/_data/ (or --dir),
then times, in one process and interleaved (the fastest of --repeat runs counts):

- the bare scan: `read_ndjson` with the session schema, `event` as JSON, `count(*), max(t)`
  (DuckDB parses every line but materialises no event);
- the same scan materialising every `event` as JSON text (for scale);
- `rt stats DIR --format json` through the click command (everything a user waits for but
  interpreter start-up), on a first run (RT_CACHE=off: every file read) and on files seen
  before (their interpretations kept in a cache filled once before the timed runs);
- `rt ls DIR`, `rt sql` over `responses`, and `rt sql` over `events` (which keeps every event
  whole), the same way, for scale.

Prints MB/s of each and the ratios; the bar is rt stats <= 2.5x the bare scan.

    python bench/stats.py                 # 1 GB (generated once, reused while the size matches)
    python bench/stats.py --size-mb 200   # smaller, quicker
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

PCM16_B64_CHARS_PER_MS = 64
GENERATOR_VERSION = 2  # bump when the corpus changes, so an old one is regenerated
_POOL = base64.b64encode(random.Random(7).randbytes(3 * 2**20)).decode("ascii")


def _audio(ms: int, rng: random.Random) -> str:
    chars = ms * PCM16_B64_CHARS_PER_MS
    start = rng.randrange(0, (len(_POOL) - chars) // 4) * 4
    return _POOL[start : start + chars]


def _event_id(rng: random.Random) -> str:
    return "event_" + "".join(
        rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", k=21)
    )


def session_lines(index: int, seconds: float, rng: random.Random) -> list[str]:
    """One realistic GA server-VAD session as file lines (without the trailing close)."""
    started = dt.datetime(2026, 11, 1, 9, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=7 * index)
    sid = f"bench-{index:05d}"
    frames: list[tuple[float, str, dict[str, Any]]] = []
    frames.append(
        (
            0.05,
            "server",
            {
                "type": "session.created",
                "event_id": _event_id(rng),
                "session": {
                    "type": "realtime",
                    "id": f"sess_{index}",
                    "model": "gpt-realtime",
                    "audio": {
                        "input": {"format": {"type": "audio/pcm", "rate": 24000}},
                        "output": {
                            "format": {"type": "audio/pcm", "rate": 24000},
                            "voice": "marin",
                        },
                    },
                },
            },
        )
    )
    # the microphone streams all the time
    t, audio_ms = 0.2, 0
    while t < seconds:
        ms = rng.choice((20, 40, 40, 40, 60))
        frames.append(
            (t, "client", {"type": "input_audio_buffer.append", "audio": _audio(ms, rng)})
        )
        audio_ms += ms
        t += ms / 1000 * rng.uniform(0.98, 1.02)
    # a turn every 6-12 s
    turn_t, turn = 1.0, 0
    remaining = 40000
    while turn_t + 6 < seconds:
        speak = rng.uniform(1.5, 4.0)
        stop_t = turn_t + speak + 0.5
        rid = f"resp_{index}_{turn}"
        item = f"item_{index}_{turn}"
        audio_end_ms = int((stop_t - 0.2) * 1000)
        frames.append(
            (
                turn_t,
                "server",
                {
                    "type": "input_audio_buffer.speech_started",
                    "event_id": _event_id(rng),
                    "audio_start_ms": int(turn_t * 1000) - 200,
                    "item_id": f"u{item}",
                },
            )
        )
        frames.append(
            (
                stop_t,
                "server",
                {
                    "type": "input_audio_buffer.speech_stopped",
                    "event_id": _event_id(rng),
                    "audio_end_ms": audio_end_ms,
                    "item_id": f"u{item}",
                },
            )
        )
        frames.append(
            (
                stop_t + 0.015,
                "server",
                {
                    "type": "input_audio_buffer.committed",
                    "event_id": _event_id(rng),
                    "previous_item_id": None,
                    "item_id": f"u{item}",
                },
            )
        )
        created = stop_t + rng.uniform(0.02, 0.06)
        frames.append(
            (
                created,
                "server",
                {
                    "type": "response.created",
                    "event_id": _event_id(rng),
                    "response": {
                        "object": "realtime.response",
                        "id": rid,
                        "status": "in_progress",
                        "output": [],
                        "usage": None,
                    },
                },
            )
        )
        first = created + rng.uniform(0.15, 0.9)
        answer_ms = rng.randint(1500, 5000)
        sent, dt_ = 0, first
        while sent < answer_ms:
            ms = min(rng.randint(20, 200), answer_ms - sent)
            frames.append(
                (
                    dt_,
                    "server",
                    {
                        "type": "response.output_audio.delta",
                        "event_id": _event_id(rng),
                        "response_id": rid,
                        "item_id": item,
                        "output_index": 0,
                        "content_index": 0,
                        "delta": _audio(ms, rng),
                    },
                )
            )
            if rng.random() < 0.5:
                frames.append(
                    (
                        dt_ + 0.001,
                        "server",
                        {
                            "type": "response.output_audio_transcript.delta",
                            "event_id": _event_id(rng),
                            "response_id": rid,
                            "item_id": item,
                            "output_index": 0,
                            "content_index": 0,
                            "delta": " word",
                            "obfuscation": "k2Pq9XzA1",
                        },
                    )
                )
            sent += ms
            dt_ += ms / 1000 / 4  # faster than real time
        done = dt_ + 0.05
        out_audio = answer_ms // 50  # about one token per 50 ms of assistant audio
        total_tokens = 400 + 20 + out_audio
        usage = {
            "total_tokens": total_tokens,
            "input_tokens": 400,
            "output_tokens": out_audio + 20,
            "input_token_details": {
                "text_tokens": 300,
                "audio_tokens": 100,
                "image_tokens": 0,
                "cached_tokens": 128,
                "cached_tokens_details": {"text_tokens": 64, "audio_tokens": 64, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": 20, "audio_tokens": out_audio},
        }
        frames.append(
            (
                done,
                "server",
                {
                    "type": "response.done",
                    "event_id": _event_id(rng),
                    "response": {
                        "object": "realtime.response",
                        "id": rid,
                        "status": "completed",
                        "status_details": None,
                        "output": [],
                        "usage": usage,
                    },
                },
            )
        )
        remaining -= total_tokens
        frames.append(
            (
                done + 0.002,
                "server",
                {
                    "type": "rate_limits.updated",
                    "event_id": _event_id(rng),
                    "rate_limits": [
                        {
                            "name": "tokens",
                            "limit": 40000,
                            "remaining": max(remaining, 0),
                            "reset_seconds": 0.3,
                        }
                    ],
                },
            )
        )
        turn_t = done + rng.uniform(2.0, 6.0)
        turn += 1
    frames.sort(key=lambda f: f[0])
    lines = [
        json.dumps(
            {
                "kind": "session",
                "format": "rt-session/1",
                "id": sid,
                "started_at": started.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "upstream": "wss://api.openai.com",
                "request": {
                    "path": "/v1/realtime?model=gpt-realtime",
                    "headers": [["Authorization", "<redacted>"]],
                    "subprotocols": [],
                },
                "recorder": {"name": "rt", "version": "0.1.0"},
            },
            separators=(",", ":"),
        ),
        json.dumps(
            {"kind": "open", "t": 0.04, "subprotocol": None, "response_headers": []},
            separators=(",", ":"),
        ),
    ]
    for seq, (ft, who, event) in enumerate(frames):
        lines.append(
            f'{{"kind":"frame","seq":{seq},"t":{round(ft, 6)!r},"from":"{who}","event":{json.dumps(event, separators=(",", ":"))}}}'
        )
    lines.append(
        json.dumps(
            {
                "kind": "close",
                "t": round(frames[-1][0] + 0.1, 6),
                "by": "client",
                "code": 1000,
                "reason": "",
            }
        )
    )
    return lines


def generate(directory: Path, size_bytes: int, seed: int = 1) -> list[Path]:
    """Write sessions of 20-120 s into `directory` until `size_bytes` are written."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    written, paths, index = 0, [], 0
    while written < size_bytes:
        path = directory / f"{index // 100:03d}" / f"session-{index:05d}.jsonl"
        path.parent.mkdir(exist_ok=True)
        data = ("\n".join(session_lines(index, rng.uniform(20, 120), rng)) + "\n").encode()
        path.write_bytes(data)
        written += len(data)
        paths.append(path)
        index += 1
    return paths


# -- timing ------------------------------------------------------------------------------------

BARE_SCAN = """
SELECT count(*), max(t)
FROM read_ndjson($files, columns = {
    'kind': 'VARCHAR', 'seq': 'BIGINT', 't': 'DOUBLE', 'from': 'VARCHAR', 'event': 'JSON'
}, ignore_errors = true)
"""
# the same scan, but every event is materialised as JSON text (what `event JSON` costs)
JSON_SCAN = """
SELECT count(*), sum(strlen(event))
FROM read_ndjson($files, columns = {
    'kind': 'VARCHAR', 'seq': 'BIGINT', 't': 'DOUBLE', 'from': 'VARCHAR', 'event': 'JSON'
}, ignore_errors = true)
"""


def ensure_data(directory: Path, size_bytes: int) -> list[Path]:
    """Generate the corpus unless `directory` already holds one of this size."""
    marker = directory / "corpus.json"
    wanted = {"size_bytes": size_bytes, "generator": GENERATOR_VERSION}
    if marker.exists() and {k: json.loads(marker.read_text()).get(k) for k in wanted} == wanted:
        return sorted(directory.rglob("*.jsonl"))
    for old in directory.rglob("*.jsonl"):
        old.unlink()
    started = time.perf_counter()
    paths = generate(directory, size_bytes)
    marker.write_text(json.dumps({**wanted, "files": len(paths)}))
    print(f"generated {len(paths)} files in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return paths


def time_bare_scan(files: list[str], sql: str) -> float:
    import duckdb

    con = duckdb.connect()
    try:
        started = time.perf_counter()
        con.execute(sql, {"files": files}).fetchall()
        return time.perf_counter() - started
    finally:
        con.close()


def time_rt_stats(directory: Path, cache: str = "off") -> tuple[float, dict[str, Any]]:
    """`rt stats DIR --format json`, in process, through the click command."""
    elapsed, stdout = time_rt("stats", str(directory), "--format", "json", cache=cache)
    return elapsed, json.loads(stdout)


def time_rt(*args: str, cache: str = "off") -> tuple[float, str]:
    """One `rt` command, in process, through the click command: seconds and its stdout.
    `cache`: "off" (every file read: a first run), or a directory of kept interpretations."""
    from click.testing import CliRunner
    from rt_cli.main import cli

    env = {"RT_CACHE": "off"} if cache == "off" else {"RT_CACHE": "on", "RT_CACHE_DIR": cache}
    started = time.perf_counter()
    result = CliRunner().invoke(cli, list(args), env=env)
    elapsed = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"rt {args[0]} failed: {result.output}")
    return elapsed, result.stdout


OTHER_COMMANDS = {
    "rt ls --format json": ("ls", "{dir}", "--format", "json"),
    "rt sql over responses": (
        "sql",
        "SELECT model, quantile_cont(ttfb_ms, 0.95) FROM responses GROUP BY ALL",
        "{dir}",
    ),
    "rt sql over events": (
        "sql",
        "SELECT type, count(*), sum(strlen(event::VARCHAR)) FROM events GROUP BY ALL",
        "{dir}",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="corpus size (default 1024)")
    parser.add_argument(
        "--dir", type=Path, default=HERE / "_data" / "stats", help="corpus directory"
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the fastest counts")
    args = parser.parse_args()

    paths = ensure_data(args.dir, args.size_mb * 2**20)
    files = [str(p) for p in paths]
    total = sum(p.stat().st_size for p in paths)
    mb = total / 1e6
    bare, json_scan, stats, warm = [], [], [], []
    others: dict[str, list[float]] = {name: [] for name in OTHER_COMMANDS}
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="rt-bench-cache-") as cache:
        time_rt_stats(args.dir, cache)  # fill the cache once
        for _ in range(args.repeat):  # interleaved, so a busy neighbour slows both alike
            bare.append(time_bare_scan(files, BARE_SCAN))
            json_scan.append(time_bare_scan(files, JSON_SCAN))
            elapsed, report = time_rt_stats(args.dir)
            stats.append(elapsed)
            warm.append(time_rt_stats(args.dir, cache)[0])
            for name, command in OTHER_COMMANDS.items():
                others[name].append(time_rt(*(a.format(dir=args.dir) for a in command))[0])
    best_bare, best_json, best_stats, best_warm = min(bare), min(json_scan), min(stats), min(warm)
    summary = report["summary"]
    print(f"corpus: {len(files)} files, {mb:,.0f} MB, {summary['responses']} responses")
    print(f"bare read_ndjson scan:        {best_bare:6.2f} s  {mb / best_bare:7.0f} MB/s")
    print(f"scan with event as JSON text: {best_json:6.2f} s  {mb / best_json:7.0f} MB/s")
    print(f"rt stats, first run:          {best_stats:6.2f} s  {mb / best_stats:7.0f} MB/s")
    print(f"rt stats, files seen before:  {best_warm:6.2f} s  (the cache of interpretations)")
    print(
        f"ratio rt stats / bare scan:   {best_stats / best_bare:6.2f}x first run, "
        f"{best_warm / best_bare:.2f}x files seen before  (bar: <= 1.5x)"
    )
    print(f"ratio rt stats / JSON scan:   {best_stats / best_json:6.2f}x")
    for name, times in others.items():
        best = min(times)
        print(
            f"{name + ':':29s} {best:6.2f} s  {mb / best:7.0f} MB/s  {best / best_bare:6.2f}x bare"
        )


if __name__ == "__main__":
    main()
