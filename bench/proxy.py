"""Benchmark the recording proxy against a direct connection, on loopback.

A client sends 6.4 KB `input_audio_buffer.append` messages (100 ms of pcm16 at 24 kHz) to an
echo upstream, directly and through `RecordingProxy`, in the same run:

- round trip: one message out, wait for its echo; p50 and p99 over many messages;
- pipelined throughput: send N messages as fast as flow control allows while reading the
  echoes; messages/s and MB/s (one direction's payload).

The client and the echo server share this process's event loop (with --echo-process the echo
runs in its own process: a baseline that also pays a process hop); the proxy runs in a child
process, as `rt record` does, one child per variant:

  thread        the shipping proxy: SessionWriter formats and writes lines in its own thread
  task          the writer as an asyncio task on the proxy's loop ("a thread or a task?")
  none          the proxy relaying without recording (the relay's own cost)
  nocheck       thread, with frame_line's "is it a JSON object" check skipped: the upper bound
                for a cheaper check (not shippable: a non-JSON text frame would corrupt a line)
  inprocess     the shipping proxy in the client's own event loop: no process hop, so the
                added latency is the proxy's own processing

Variants are interleaved and repeated (--reps); every figure is the median over the repetitions,
because on a small VM single runs swing by tens of percent.

    python bench/proxy.py                   # all variants, 5 repetitions
    python bench/proxy.py --reps 3 --messages 4000
    python bench/proxy.py --profile         # cProfile each variant's proxy; writer per-frame cost
    python bench/proxy.py --compression     # what permessage-deflate would cost (direct)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import io
import json
import os
import pstats
import random
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from websockets.asyncio.client import connect  # noqa: E402
from websockets.asyncio.server import ServerConnection, serve  # noqa: E402

AUDIO_BYTES = 4800  # 100 ms of pcm16 at 24 kHz -> 6400 base64 characters
VARIANTS = {
    "thread": "proxy (as shipped)",
    "task": "proxy, writer task",
    "none": "proxy, no recording",
    "nocheck": "proxy, no JSON check",
    "inprocess": "proxy in client's loop",
}


def append_message(index: int, rng: random.Random) -> str:
    audio = base64.b64encode(rng.randbytes(AUDIO_BYTES)).decode("ascii")
    return json.dumps(
        {"type": "input_audio_buffer.append", "event_id": f"evt_{index:08d}", "audio": audio}
    )


# -- child processes ---------------------------------------------------------------------------


class AsyncioTaskWriter:
    """SessionWriter's interface, formatting and writing from an asyncio task on the loop."""

    def __init__(self, file: BinaryIO, *, path: Path | None = None, **_: Any) -> None:
        from recorder.session import encode_record, frame_line

        self._encode_record, self._frame_line = encode_record, frame_line
        self.path = path
        self._file = file
        self._pending: list[Any] = []
        self._next_seq = 0
        self._closing = False
        self._done = threading.Event()
        self.frames_lost = 0
        self.bytes_written = 0
        self.failed: BaseException | None = None
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run())

    def frame(self, direction: str, payload: str | bytes, t: float) -> int:
        seq, self._next_seq = self._next_seq, self._next_seq + 1
        self._pending.append((seq, t, direction, payload))
        return seq

    def record(self, record: Mapping[str, Any]) -> None:
        self._pending.append(dict(record))

    @property
    def frames_written(self) -> int:
        return self._next_seq

    def close(self, t: float | None = None) -> None:  # called from a worker thread
        self._loop.call_soon_threadsafe(self._stop)
        self._done.wait()

    def _stop(self) -> None:
        self._closing = True

    async def _run(self) -> None:
        try:
            while not self._closing:
                await asyncio.sleep(0.05)
                self._flush()
            self._flush()
        finally:
            self._file.close()
            self._done.set()

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        lines = [
            self._encode_record(i) if isinstance(i, dict) else self._frame_line(*i) for i in batch
        ]
        data = "".join(lines).encode("utf-8", "surrogatepass")
        self._file.write(data)
        self.bytes_written += len(data)


class NullWriter(AsyncioTaskWriter):
    """Records nothing: the relay's own cost."""

    def frame(self, direction: str, payload: str | bytes, t: float) -> int:
        self._next_seq += 1
        return self._next_seq - 1

    def record(self, record: Mapping[str, Any]) -> None:
        pass


async def run_proxy_child(upstream: str, out: str, variant: str, profile: str | None) -> None:
    import recorder.recording
    from recorder.proxy import RecordingProxy

    # The proxy looks its writer up in recorder.recording; swapping it is bench-only.
    if variant == "task":
        recorder.recording.SessionWriter = AsyncioTaskWriter  # type: ignore[misc,assignment]
    elif variant == "none":
        recorder.recording.SessionWriter = NullWriter  # type: ignore[misc,assignment]
    elif variant == "nocheck":
        import recorder.session

        recorder.session._json_object = lambda text: {}  # type: ignore[assignment]
    profiler = cProfile.Profile() if profile else None
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with RecordingProxy(upstream, out, port=0, environ={}) as proxy:
        print(proxy.url, flush=True)
        if profiler is not None:
            profiler.enable()
        await stop.wait()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(profile))


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def run_echo_child(compression: str | None) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(echo, "127.0.0.1", 0, compression=compression, max_size=None) as server:
        print(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await stop.wait()


async def start_child(args: list[str]) -> tuple[asyncio.subprocess.Process, str]:
    """Start this script in a child mode; it prints the URL it listens on."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, *args, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    match = re.match(r"wss?://\S+", line)
    if match is None:
        raise RuntimeError(f"the child did not start: {line!r}")
    return process, match.group(0)


async def stop_child(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.wait(), 60)


# -- measuring ---------------------------------------------------------------------------------


async def round_trips(url: str, messages: list[str], count: int) -> list[float]:
    """Seconds per round trip, one message in flight at a time."""
    times = []
    async with connect(url, compression=None, max_size=None) as ws:
        for i in range(200):  # warm up
            await ws.send(messages[i % len(messages)])
            await ws.recv()
        clock = time.perf_counter
        for i in range(count):
            started = clock()
            await ws.send(messages[i % len(messages)])
            await ws.recv()
            times.append(clock() - started)
    return times


async def pipelined(url: str, messages: list[str], count: int, compression: str | None) -> float:
    """Seconds to send `count` messages and receive all their echoes, sending without waiting."""
    async with connect(url, compression=compression, max_size=None) as ws:

        async def receive() -> None:
            for _ in range(count):
                await ws.recv()

        started = time.perf_counter()
        receiver = asyncio.create_task(receive())
        for i in range(count):
            await ws.send(messages[i % len(messages)])
        await receiver
        return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(url: str, messages: list[str], args: argparse.Namespace) -> dict[str, float]:
    rtt = await round_trips(url + "/v1/realtime?model=gpt-realtime", messages, args.round_trips)
    seconds = await pipelined(url + "/v1/realtime", messages, args.messages, None)
    return {
        "p50_us": percentile(rtt, 0.50) * 1e6,
        "p99_us": percentile(rtt, 0.99) * 1e6,
        "msgs_per_s": args.messages / seconds,
        "mb_per_s": args.messages * len(messages[0]) / seconds / 1e6,
    }


async def measure_proxy(
    upstream: str, variant: str, messages: list[str], args: argparse.Namespace
) -> dict[str, float]:
    out = Path(tempfile.mkdtemp(prefix=f"rt-bench-{variant}-", dir=args.dir))
    if variant == "inprocess":
        from recorder.proxy import RecordingProxy

        try:
            async with RecordingProxy(upstream, out, port=0, environ={}) as proxy:
                result = await measure(proxy.url, messages, args)
            result["mb_written"] = sum(p.stat().st_size for p in out.glob("*.jsonl")) / 1e6
            return result
        finally:
            shutil.rmtree(out, ignore_errors=True)
    try:
        process, url = await start_child(
            ["--proxy-child", variant, "--upstream", upstream, "--out", str(out)]
        )
        try:
            result = await measure(url, messages, args)
        finally:
            await stop_child(process)
        result["mb_written"] = sum(p.stat().st_size for p in out.glob("*.jsonl")) / 1e6
        return result
    finally:
        shutil.rmtree(out, ignore_errors=True)


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def row(name: str, m: dict[str, float]) -> str:
    written = f"  {m['mb_written']:5.0f} MB to disk" if "mb_written" in m else ""
    return (
        f"{name:<24} p50 {m['p50_us']:6.0f} µs  p99 {m['p99_us']:6.0f} µs  "
        f"{m['msgs_per_s']:7.0f} msg/s {m['mb_per_s']:6.1f} MB/s{written}"
    )


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    messages = [append_message(i, rng) for i in range(64)]
    variants = list(VARIANTS) if args.variant == "all" else args.variant.split(",")
    print(
        f"{args.messages} pipelined and {args.round_trips} round-trip messages of "
        f"{len(messages[0])} bytes (input_audio_buffer.append); medians of {args.reps} "
        f"interleaved repetitions; echo {'in its own process' if args.echo_process else 'in the client process'}"
    )
    echo_process = None
    if args.echo_process:
        echo_process, upstream = await start_child(["--echo-child"])
        server = None
    else:
        server = await serve(echo, "127.0.0.1", 0, compression=None, max_size=None)
        upstream = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in ["direct", *variants]}
        for _ in range(args.reps):
            runs["direct"].append(await measure(upstream, messages, args))
            for variant in variants:
                runs[variant].append(await measure_proxy(upstream, variant, messages, args))
        results = {name: median_of(values) for name, values in runs.items()}
        direct = results["direct"]
        print(row("direct", direct))
        for variant in variants:
            print(row(VARIANTS[variant], results[variant]))
        print()
        for variant in variants:
            m = results[variant]
            print(
                f"{variant:<10} throughput {m['msgs_per_s'] / direct['msgs_per_s']:4.2f}x direct "
                f"(bar >= 0.5x)  added p50 {m['p50_us'] - direct['p50_us']:5.0f} µs (bar <= 150)"
                f"  added p99 {m['p99_us'] - direct['p99_us']:6.0f} µs"
            )
        if args.compression:
            await compare_deflate(messages, args)
        if args.profile:
            for variant in variants:
                if variant != "inprocess":
                    await profile_proxy(upstream, variant, messages, args)
            writer_costs(messages)
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
        if echo_process is not None:
            await stop_child(echo_process)


async def compare_deflate(messages: list[str], args: argparse.Namespace) -> None:
    """What negotiating permessage-deflate on a leg costs, measured on a direct connection."""
    seconds = {}
    for compression in (None, "deflate"):
        process, url = await start_child(["--echo-child", "--echo-compression", str(compression)])
        try:
            seconds[compression] = min(
                [await pipelined(url, messages, args.messages, compression) for _ in range(3)]
            )
        finally:
            await stop_child(process)
    plain, deflate = args.messages / seconds[None], args.messages / seconds["deflate"]
    print(
        f"\npermessage-deflate (direct, echo in its own process): {deflate:7.0f} msg/s vs "
        f"{plain:7.0f} msg/s without: {plain / deflate:4.1f}x slower"
    )


async def profile_proxy(
    upstream: str, variant: str, messages: list[str], args: argparse.Namespace
) -> None:
    out = Path(tempfile.mkdtemp(prefix="rt-bench-profile-", dir=args.dir))
    stats_file = str(out / "proxy.prof")
    try:
        process, url = await start_child(
            ["--proxy-child", variant, "--upstream", upstream, "--out", str(out)]
            + ["--profile-out", stats_file]
        )
        await pipelined(url + "/v1/realtime", messages, args.messages, None)
        await stop_child(process)
        text = io.StringIO()
        pstats.Stats(stats_file, stream=text).sort_stats("tottime").print_stats(12)
        print(f"\nprofile of the proxy's loop thread ({variant}, pipelined run), by own time:")
        print("\n".join(line for line in text.getvalue().splitlines()[6:] if line.strip()))
    finally:
        shutil.rmtree(out, ignore_errors=True)


def writer_costs(messages: list[str]) -> None:
    """The writer's per-frame work and how much of it is the "is it a JSON object" check."""
    from recorder.session import _json_object, frame_line

    message, n = messages[0], 20000
    started = time.perf_counter()
    for i in range(n):
        frame_line(i, 0.123456, "client", message)
    per_line = (time.perf_counter() - started) / n
    started = time.perf_counter()
    for _ in range(n):
        _json_object(message)
    per_check = (time.perf_counter() - started) / n
    elided = re.compile(r'"[A-Za-z0-9+/=]{64,}"')
    started = time.perf_counter()
    for _ in range(n):
        json.loads(elided.sub('""', message))
    per_regex = (time.perf_counter() - started) / n
    print(
        f"\nwriter, per 6.4 KB frame: frame_line {per_line * 1e6:4.1f} µs, of which the "
        f"JSON-object check (json.loads) {per_check * 1e6:4.1f} µs; eliding base64 runs with a "
        f"regex first would cost {per_regex * 1e6:4.1f} µs"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10000, help="pipelined messages per run")
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions (medians)")
    parser.add_argument(
        "--variant", default="all", help=f"all, or a comma-separated list of {', '.join(VARIANTS)}"
    )
    parser.add_argument("--echo-process", action="store_true", help="echo in its own process")
    parser.add_argument("--compression", action="store_true", help="also time permessage-deflate")
    parser.add_argument("--profile", action="store_true", help="cProfile each variant's proxy")
    parser.add_argument("--dir", default=None, help="where session files go (a temp dir)")
    parser.add_argument("--proxy-child", choices=list(VARIANTS)[:-1], help=argparse.SUPPRESS)
    parser.add_argument("--echo-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--echo-compression", default="None", help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.echo_child:
        compression = None if arguments.echo_compression == "None" else arguments.echo_compression
        asyncio.run(run_echo_child(compression))
    elif arguments.proxy_child:
        asyncio.run(
            run_proxy_child(
                arguments.upstream, arguments.out, arguments.proxy_child, arguments.profile_out
            )
        )
    else:
        load = "load average {:.2f} {:.2f} {:.2f}"
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {load.format(*os.getloadavg())}"
        )
        asyncio.run(main(arguments))
        print(
            f"at the end: {load.format(*os.getloadavg())} (other work on the machine skews results)"
        )
