"""What live telemetry costs the proxy: `rt record --proxy` with and without --metrics/--otlp.

The proxy is the real CLI in a child process. A client sends 6.4 KB `input_audio_buffer.append`
messages (100 ms of pcm16); the upstream answers each with a `response.output_audio.delta` of
the same size, and every 25 appends with a `response.created`/`response.done` pair (usage
included), so the telemetry thread interprets both directions and finishes responses (histograms,
tokens, cost, one span each). Same run, interleaved, --reps times (medians):

  off       rt record --proxy (the baseline)
  metrics   + --metrics 127.0.0.1:0 (Prometheus; scraped every 0.5 s by this process)
  otlp      + --metrics and --otlp to a live OTLP/HTTP receiver in its own process
  dead      + --metrics and --otlp to a collector that accepts and never answers

Measured: round trip (one append out, its delta back) p50/p99, and pipelined throughput
(append out as fast as flow control allows, all deltas back) in msg/s.

    python bench/telemetry.py                  # 5 repetitions
    python bench/telemetry.py --reps 3 --messages 5000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import connect  # noqa: E402
from websockets.asyncio.server import ServerConnection, serve  # noqa: E402

AUDIO_BYTES = 4800
RESPONSE_EVERY = 25
VARIANTS = ("off", "metrics", "otlp", "dead")


def append_message(index: int, rng: random.Random) -> str:
    audio = base64.b64encode(rng.randbytes(AUDIO_BYTES)).decode("ascii")
    return json.dumps(
        {"type": "input_audio_buffer.append", "event_id": f"e{index}", "audio": audio}
    )


# -- the upstream and the collectors (child processes) ---------------------------------------


async def upstream(ws: ServerConnection) -> None:
    count = 0
    await ws.send(json.dumps({"type": "session.created", "session": {"model": "gpt-realtime"}}))
    async for message in ws:
        event = json.loads(message)
        response_id = f"resp_{count // RESPONSE_EVERY}"
        if count % RESPONSE_EVERY == 0:
            await ws.send(json.dumps({"type": "response.created", "response": {"id": response_id}}))
        await ws.send(
            json.dumps(
                {
                    "type": "response.output_audio.delta",
                    "response_id": response_id,
                    "item_id": "item_1",
                    "delta": event.get("audio", ""),
                }
            )
        )
        count += 1
        if count % RESPONSE_EVERY == 0:
            usage = {
                "input_tokens": 120,
                "output_tokens": 60,
                "input_token_details": {"text_tokens": 100, "audio_tokens": 20, "cached_tokens": 0},
                "output_token_details": {"text_tokens": 10, "audio_tokens": 50},
            }
            done = {"id": response_id, "status": "completed", "usage": usage}
            await ws.send(json.dumps({"type": "response.done", "response": done}))


async def run_upstream_child() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(upstream, "127.0.0.1", 0, compression=None, max_size=None) as server:
        print(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await stop.wait()


def run_collector_child(mode: str) -> None:
    """An OTLP/HTTP receiver that takes everything (`live`) or never answers (`dead`)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            if mode == "dead":
                time.sleep(3600)
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server.serve_forever()


async def start_child(args: list[str]) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, *args, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    return process, line.strip()


async def start_proxy(
    upstream_url: str, out: Path, extra: list[str]
) -> tuple[asyncio.subprocess.Process, str, str | None]:
    """The real CLI; returns it, its ws:// URL and its /metrics URL (from its banner)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rt_cli.main",
        "record",
        "--proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        upstream_url,
        "--out",
        str(out),
        *extra,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "300"},
    )
    assert process.stderr is not None
    url = metrics = None
    while True:
        line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
        if not line:
            raise RuntimeError("rt record did not start")
        if url is None and (found := re.search(r"ws://127\.0\.0\.1:\d+", line)):
            url = found.group(0)
        if found := re.search(r"http://127\.0\.0\.1:\d+/metrics", line):
            metrics = found.group(0)
        if "Ctrl-C" in line:
            assert url is not None
            return process, url, metrics


async def stop(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), 30)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()


# -- measuring -------------------------------------------------------------------------------


async def round_trips(url: str, messages: list[str], count: int) -> list[float]:
    times = []
    async with connect(url, compression=None, max_size=None) as ws:
        await ws.recv()  # session.created
        for i in range(count + 100):
            started = time.perf_counter()
            await ws.send(messages[i % len(messages)])
            while '"response.output_audio.delta"' not in await ws.recv():
                pass
            if i >= 100:  # after a warm-up
                times.append(time.perf_counter() - started)
    return times


async def pipelined(url: str, messages: list[str], count: int) -> float:
    async with connect(url, compression=None, max_size=None) as ws:
        await ws.recv()

        async def receive() -> None:
            deltas = 0
            while deltas < count:
                if '"response.output_audio.delta"' in await ws.recv():
                    deltas += 1

        started = time.perf_counter()
        receiver = asyncio.create_task(receive())
        for i in range(count):
            await ws.send(messages[i % len(messages)])
        await receiver
        return time.perf_counter() - started


def scraper(url: str | None, stopped: threading.Event) -> threading.Thread:
    def scrape() -> None:
        while url is not None and not stopped.wait(0.5):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url, timeout=2).read()

    thread = threading.Thread(target=scrape, daemon=True)
    thread.start()
    return thread


async def measure(
    variant: str, upstream_url: str, collectors: dict[str, str], messages: list[str], args
) -> dict[str, float]:
    out = Path(tempfile.mkdtemp(prefix=f"rt-bench-telemetry-{variant}-"))
    extra: list[str] = []
    if variant != "off":
        extra += ["--metrics", "127.0.0.1:0"]
    if variant in ("otlp", "dead"):
        extra += ["--otlp", collectors[variant]]
    process, url, metrics_url = await start_proxy(upstream_url, out, extra)
    stopped = threading.Event()
    scraping = scraper(metrics_url, stopped)
    try:
        rtt = await round_trips(url + "/v1/realtime?model=gpt-realtime", messages, args.round_trips)
        seconds = await pipelined(url + "/v1/realtime?model=gpt-realtime", messages, args.messages)
    finally:
        stopped.set()
        scraping.join()
        await stop(process)
        shutil.rmtree(out, ignore_errors=True)
    ordered = sorted(rtt)
    return {
        "p50_us": ordered[len(ordered) // 2] * 1e6,
        "p99_us": ordered[int(len(ordered) * 0.99)] * 1e6,
        "msgs_per_s": args.messages / seconds,
    }


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    messages = [append_message(i, rng) for i in range(64)]
    upstream_process, upstream_url = await start_child(["--upstream-child"])
    live, live_url = await start_child(["--collector-child", "live"])
    dead, dead_url = await start_child(["--collector-child", "dead"])
    collectors = {"otlp": live_url, "dead": dead_url}
    runs: dict[str, list[dict[str, float]]] = {variant: [] for variant in args.variants}
    try:
        for rep in range(args.reps):
            for variant in args.variants:
                runs[variant].append(
                    await measure(variant, upstream_url, collectors, messages, args)
                )
            print(f"repetition {rep + 1}/{args.reps} done", file=sys.stderr)
    finally:
        for process in (upstream_process, live, dead):
            process.send_signal(signal.SIGTERM)
            await process.wait()
    load = os.getloadavg()
    print(
        f"{args.messages} pipelined / {args.round_trips} round trips of 6.4 KB appends, each "
        f"answered by a delta of the same size, a response every {RESPONSE_EVERY}; "
        f"medians of {args.reps}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    base = {key: statistics.median(r[key] for r in runs["off"]) for key in runs["off"][0]}
    for variant, results in runs.items():
        m = {key: statistics.median(r[key] for r in results) for key in results[0]}
        print(
            f"{variant:<8} p50 {m['p50_us']:6.0f} µs ({m['p50_us'] - base['p50_us']:+5.0f})  "
            f"p99 {m['p99_us']:6.0f} µs ({m['p99_us'] - base['p99_us']:+6.0f})  "
            f"{m['msgs_per_s']:7.0f} msg/s ({m['msgs_per_s'] / base['msgs_per_s']:.2f}x)"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--variants", type=lambda v: v.split(","), default=list(VARIANTS))
    parser.add_argument("--upstream-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--collector-child", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.upstream_child:
        asyncio.run(run_upstream_child())
    elif arguments.collector_child:
        run_collector_child(arguments.collector_child)
    else:
        asyncio.run(main(arguments))
