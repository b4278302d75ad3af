"""Benchmark `rt record --proxy` against a direct connection and against C forwarders (socat,
haproxy) measured in the same run, on loopback.

A client sends 6.4 KB `input_audio_buffer.append` messages (100 ms of pcm16 at 24 kHz) to an
echo upstream (websockets on uvloop, in its own process), directly and through each path:

- round trip: one message out, wait for its echo; p50 and p99;
- pipelined: --messages messages with at most --window in flight; messages/s, and the CPU the
  path's processes spent per echoed message (user + system, from /proc, children included).

Paths (each its own process, as users run them; started afresh for every round):

  rt           `rt record --proxy` as shipped (the CLI: uvloop, worker processes)
  rt-shm       the same with --out on /dev/shm (is the disk the cost?)
  rt-tls       `rt record --proxy --ca-file CA` dialling a wss:// echo (the TLS-upstream cost)
  rt-norec     the same relay with recording switched off (what recording costs)
  socat        `socat TCP-LISTEN:...,fork TCP:...`, a process per connection (C)
  haproxy      `mode tcp`, epoll, one thread per core (C)
  haproxy-tls  haproxy originating TLS to the wss:// echo (`ssl verify none`)

The paths are interleaved in every round (--rounds) and each figure is the median over the
rounds (IQR in brackets) of its same-round ratio to the direct connection: on a shared VM single
runs swing by tens of percent. The last lines compare rt with socat and haproxy directly (the
goals of issue 21: throughput >= 0.85x theirs, added p50 within +30 us of theirs).

    python bench/proxy.py                                   # rt, socat, haproxy; 8 rounds
    python bench/proxy.py --paths rt,rt-tls,haproxy,haproxy-tls
    python bench/proxy.py --rounds 16 --messages 20000
    python bench/proxy.py --paths rt --rounds 1 --py-spy    # where rt's time goes (py-spy)

socat and haproxy are Debian packages: `apt-get install -y socat haproxy` (bench/forwarders.py).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from forwarders import missing, start_forwarder, tree_cpu_split  # noqa: E402
from profiling import PySpy  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.asyncio.server import ServerConnection, serve  # noqa: E402

AUDIO_BYTES = 4800  # 100 ms of pcm16 at 24 kHz -> 6400 base64 characters
PATHS = ("rt", "rt-shm", "rt-tls", "rt-norec", "socat", "haproxy", "haproxy-tls")
DEFAULT_PATHS = "rt,socat,haproxy"


def append_message(index: int, rng: random.Random) -> str:
    audio = base64.b64encode(rng.randbytes(AUDIO_BYTES)).decode("ascii")
    return json.dumps(
        {"type": "input_audio_buffer.append", "event_id": f"evt_{index:08d}", "audio": audio}
    )


# -- the echo upstream (a child process) -------------------------------------------------------


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def run_echo_child(tls_dir: str | None) -> None:
    ssl_context = None
    if tls_dir:
        import ssl

        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(Path(tls_dir) / "server.pem")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(
        echo, "127.0.0.1", 0, compression=None, max_size=None, ssl=ssl_context
    ) as server:
        scheme = "wss" if tls_dir else "ws"
        print(f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await stop.wait()


def make_tls_files(directory: Path) -> None:
    """A private CA (ca.pem) and a certificate for 127.0.0.1 (server.pem), with trustme."""
    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(directory / "server.pem")
    )


@dataclass
class Child:
    process: asyncio.subprocess.Process
    url: str
    drains: list[asyncio.Task[None]] = field(default_factory=list)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), 60)


async def start_child(command: list[str], *, stream: str = "stdout") -> Child:
    """Start a process that announces the URL it listens on (on stdout or stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OPENAI_API_KEY", None)
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    reader = process.stdout if stream == "stdout" else process.stderr
    assert reader is not None
    seen = ""
    while (match := re.search(r"wss?://127\.0\.0\.1:\d+", seen)) is None:
        line = await asyncio.wait_for(reader.readline(), 30)
        if not line:
            raise RuntimeError(f"{command[:4]} exited before listening: {seen[-500:]}")
        seen += line.decode()
    child = Child(process, match.group(0))
    # keep reading what the child prints, so that no pipe fills up and blocks it
    for pipe in (process.stdout, process.stderr):
        assert pipe is not None
        child.drains.append(asyncio.get_running_loop().create_task(_drain(pipe)))
    return child


async def _drain(reader: asyncio.StreamReader) -> None:
    while await reader.readline():
        pass


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


async def pipelined(
    url: str, messages: list[str], count: int, window: int, cpu_pid: int | None
) -> tuple[float, tuple[float, float]]:
    """(seconds, (user, system) CPU seconds of `cpu_pid`'s process tree) for `count` echoes,
    `window` in flight."""
    async with connect(url, compression=None, max_size=None) as ws:
        in_flight = asyncio.Semaphore(window)

        async def receive() -> None:
            for _ in range(count):
                await ws.recv()
                in_flight.release()

        cpu_before = tree_cpu_split(cpu_pid) if cpu_pid else (0.0, 0.0)
        started = time.perf_counter()
        receiver = asyncio.create_task(receive())
        for i in range(count):
            await in_flight.acquire()
            await ws.send(messages[i % len(messages)])
        await receiver
        seconds = time.perf_counter() - started
        user, system = tree_cpu_split(cpu_pid) if cpu_pid else (0.0, 0.0)
        return seconds, (user - cpu_before[0], system - cpu_before[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Measurement:
    p50_us: float
    p99_us: float
    msgs_per_s: float
    cpu_us_per_msg: float
    sys_share: float


async def measure(
    url: str, messages: list[str], args: argparse.Namespace, cpu_pid: int | None = None
) -> Measurement:
    rtt = await round_trips(url + "/v1/realtime?model=gpt-realtime", messages, args.round_trips)
    seconds, cpu = await pipelined(
        url + "/v1/realtime", messages, args.messages, args.window, cpu_pid
    )
    return Measurement(
        p50_us=percentile(rtt, 0.50) * 1e6,
        p99_us=percentile(rtt, 0.99) * 1e6,
        msgs_per_s=args.messages / seconds,
        cpu_us_per_msg=sum(cpu) / args.messages * 1e6,
        sys_share=cpu[1] / sum(cpu) if sum(cpu) else 0.0,
    )


async def run_proxy_child(upstream: str, out: str) -> None:
    """The proxy with recording switched off (`rt-norec`): the relay alone."""
    import recorder.recording
    from recorder.proxy import RecordingProxy

    def count_only(self: Any, direction: str, payload: Any, **_: Any) -> None:
        self.frames[direction] += 1

    recorder.recording.Recording.message = count_only  # type: ignore[method-assign]
    recorder.recording.Recording.reserve = lambda self, size: True  # type: ignore[method-assign]
    recorder.recording.Recording.release = lambda self, size: None  # type: ignore[method-assign]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with RecordingProxy(upstream, out, port=0, environ={}) as proxy:
        print(f"rt record: {proxy.url}", file=sys.stderr, flush=True)
        await stop.wait()


def rt_command(
    upstream: str, out: Path, ca_file: Path | None, args: argparse.Namespace
) -> list[str]:
    command = [sys.executable, "-m", "rt_cli.main", "record", "--proxy", "--listen", "127.0.0.1:0"]
    command += ["--upstream", upstream, "--out", str(out)]
    if ca_file is not None:
        command += ["--ca-file", str(ca_file)]
    return command + args.rt_args


async def measure_path(
    path: str,
    upstreams: dict[str, str],
    tls_dir: Path,
    messages: list[str],
    args: argparse.Namespace,
) -> Measurement:
    tls = path.endswith("-tls")
    upstream = upstreams["tls" if tls else "plain"]
    if path in ("socat", "haproxy", "haproxy-tls"):
        port = int(upstream.rsplit(":", 1)[1])
        forwarder = await start_forwarder(path.removesuffix("-tls"), port, tls_upstream=tls)
        try:
            return await measure(forwarder.url, messages, args, forwarder.pid)
        finally:
            await forwarder.stop()
    base = "/dev/shm" if path == "rt-shm" else args.dir
    out = Path(tempfile.mkdtemp(prefix="rt-bench-proxy-", dir=base))
    try:
        ca_file = tls_dir / "ca.pem" if tls else None
        command = rt_command(upstream, out, ca_file, args)
        if path == "rt-norec":
            command = [sys.executable, __file__, "--proxy-child", "--upstream", upstream]
            command += ["--out", str(out)]
        child = await start_child(command, stream="stderr")
        try:
            sampler = None
            if args.py_spy:
                seconds = args.messages / 4000 + args.round_trips / 4000 + 1
                sampler = await PySpy.attach(
                    child.process.pid, seconds, gil=args.gil, native=args.native
                )
            result = await measure(child.url, messages, args, child.process.pid)
            if sampler is not None:
                await sampler.wait()
                print(f"\npy-spy of {path} (round trips, then pipelined):")
                print(sampler.summary())
            return result
        finally:
            await child.stop()
    finally:
        shutil.rmtree(out, ignore_errors=True)


# -- reporting ---------------------------------------------------------------------------------


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


def report(runs: dict[str, list[Measurement]], direct: list[Measurement], paths: list[str]) -> None:
    print(
        f"\n{'path':<12} {'msg/s vs direct: median (IQR)':<31} {'msg/s':>7} {'added p50':>10} "
        f"{'added p99':>10} {'CPU/msg (range)':>19}"
    )
    d = statistics.median(m.msgs_per_s for m in direct)
    print(
        f"{'direct':<12} {'1.00':<31} {d:7.0f} "
        f"{'p50 ' + format(statistics.median(m.p50_us for m in direct), '.0f') + ' µs':>10} "
        f"{'p99 ' + format(statistics.median(m.p99_us for m in direct), '.0f') + ' µs':>10}"
    )
    for path in paths:
        ratios = [m.msgs_per_s / b.msgs_per_s for m, b in zip(runs[path], direct, strict=True)]
        low, mid, high = quartiles(ratios)
        p50 = statistics.median(
            m.p50_us - b.p50_us for m, b in zip(runs[path], direct, strict=True)
        )
        p99 = statistics.median(
            m.p99_us - b.p99_us for m, b in zip(runs[path], direct, strict=True)
        )
        cpu = [m.cpu_us_per_msg for m in runs[path]]
        print(
            f"{path:<12} {f'{mid:.2f} ({low:.2f}-{high:.2f})':<31} "
            f"{statistics.median(m.msgs_per_s for m in runs[path]):7.0f} {p50:+8.0f} µs "
            f"{p99:+8.0f} µs {statistics.median(cpu):6.1f} µs ({min(cpu):.0f}-{max(cpu):.0f}), "
            f"{100 * statistics.median(m.sys_share for m in runs[path]):.0f}% in the kernel"
        )
    for rt_path in [p for p in paths if p.startswith("rt")]:
        for reference in [p for p in paths if not p.startswith("rt")]:
            if reference.endswith("-tls") != rt_path.endswith("-tls"):
                continue
            pairs = list(zip(runs[rt_path], runs[reference], direct, strict=True))
            ratio = statistics.median(a.msgs_per_s / b.msgs_per_s for a, b, _ in pairs)
            added = statistics.median(
                (a.p50_us - d.p50_us) - (b.p50_us - d.p50_us) for a, b, d in pairs
            )
            cpu = statistics.median(a.cpu_us_per_msg / b.cpu_us_per_msg for a, b, _ in pairs)
            print(
                f"{rt_path} vs {reference}: throughput {ratio:.2f}x (goal >= 0.85), added p50 "
                f"{added:+.0f} µs over theirs (goal <= +30), CPU per message {cpu:.2f}x"
            )


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    messages = [append_message(i, rng) for i in range(64)]
    paths = args.paths.split(",")
    for path in list(paths):
        if path not in PATHS:
            raise SystemExit(f"unknown path {path!r}; choose from {', '.join(PATHS)}")
        problem = missing(path.removesuffix("-tls")) if not path.startswith("rt") else None
        if problem:
            print(f"skipping {path}: {problem}")
            paths.remove(path)
    print(
        f"{args.messages} pipelined (window {args.window}) and {args.round_trips} round-trip "
        f"messages of {len(messages[0])} bytes per path and round; {args.rounds} interleaved "
        f"rounds; echo upstream "
        + ("in its own process" if args.echo_process else "in the client's process")
    )
    tls_dir = Path(tempfile.mkdtemp(prefix="rt-bench-tls-"))
    children: list[Child] = []
    try:
        upstreams = {}
        echo_command = [sys.executable, __file__, "--echo-child"]
        if args.echo_process:
            children.append(await start_child(echo_command))
            upstreams["plain"] = children[-1].url
        else:
            server = await serve(echo, "127.0.0.1", 0, compression=None, max_size=None)
            upstreams["plain"] = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        if any(p.endswith("-tls") for p in paths):
            make_tls_files(tls_dir)
            children.append(await start_child([*echo_command, "--echo-tls", str(tls_dir)]))
            upstreams["tls"] = children[-1].url
        runs: dict[str, list[Measurement]] = {path: [] for path in paths}
        direct: list[Measurement] = []
        for round_index in range(args.rounds):
            order = paths[round_index % len(paths) :] + paths[: round_index % len(paths)]
            direct.append(await measure(upstreams["plain"], messages, args))
            for path in order:
                runs[path].append(await measure_path(path, upstreams, tls_dir, messages, args))
            print(
                f"  round {round_index + 1}/{args.rounds} done, load average "
                f"{os.getloadavg()[0]:.2f}",
                flush=True,
            )
        report(runs, direct, paths)
    finally:
        for child in children:
            await child.stop()
        shutil.rmtree(tls_dir, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--paths", default=DEFAULT_PATHS, help=f"comma-separated: {', '.join(PATHS)}"
    )
    parser.add_argument("--messages", type=int, default=10000, help="pipelined messages per run")
    parser.add_argument("--window", type=int, default=64, help="pipelined messages in flight")
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds (medians)")
    parser.add_argument(
        "--echo-process",
        action="store_true",
        help="run the plain echo upstream in its own process (default: in the client's process)",
    )
    parser.add_argument("--dir", default=None, help="where session files go (a temp dir)")
    parser.add_argument("--py-spy", action="store_true", help="sample rt's process with py-spy")
    parser.add_argument("--gil", action="store_true", help="with --py-spy: only GIL holders")
    parser.add_argument("--native", action="store_true", help="with --py-spy: C frames too")
    parser.add_argument(
        "--rt-arg", dest="rt_args", action="append", default=[], help="extra rt record argument"
    )
    parser.add_argument("--echo-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--proxy-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--echo-tls", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    import uvloop

    if arguments.echo_child:
        uvloop.run(run_echo_child(arguments.echo_tls))
    elif arguments.proxy_child:
        uvloop.run(run_proxy_child(arguments.upstream, arguments.out))
    else:
        load = "load average {:.2f} {:.2f} {:.2f}"
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {load.format(*os.getloadavg())}"
        )
        uvloop.run(main(arguments))
        print(
            f"at the end: {load.format(*os.getloadavg())} (other work on the machine skews results)"
        )
