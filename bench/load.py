"""Load on the recording proxy: N concurrent real-time voice sessions on loopback.

Each session streams audio both ways in real time, like a call: the client sends a 20 ms pcm16
chunk (`input_audio_buffer.append`, 960 bytes of audio, 1.3 KB of JSON) every 20 ms and the
upstream sends a 20 ms `response.output_audio.delta` every 20 ms, for --seconds after a
--warmup. Every message carries its send time (CLOCK_MONOTONIC, the same clock in every process
on Linux) in its `event_id`; the receiver subtracts it. For each N the same load runs directly
(clients -> upstream) and through the proxy (clients -> proxy -> upstream), interleaved, --reps
times; the added latency is the proxied percentile minus the direct one (medians of the reps).

Three kinds of process, so that the load generators do not share the proxy's interpreter; the
two cores are shared by the scheduler (--pin puts the proxy on CPU 0 and the generators on 1):

  upstream   a WebSocket server playing the Realtime API's side (one process, uvloop)
  clients    the N client sessions (one process, uvloop)
  proxy      `rt record --proxy --listen 127.0.0.1:0 --upstream ... --out DIR`, the real CLI
             (`rt` as shipped: uvloop, worker processes; `rt-asyncio` with RT_EVENT_LOOP=asyncio),
             or a C forwarder measured in the same run as the reference: `socat` (a process per
             connection) and `haproxy` (`mode tcp`, a thread per core); see bench/forwarders.py
             (`apt-get install -y socat haproxy`)

Reported per N and path: added latency p50/p99 (both directions pooled; each direction's p99 too),
the proxy's CPU (% of one core, user+system of its process tree from /proc over the run; system
share and CPU per relayed frame in brackets) and RSS (at the end, and peak, summed over workers), the generators' CPU, softirq time (loopback TCP), other processes'
CPU (a repetition that others disturbed beyond --max-others is run again), how late the
generators sent (their own health), and frames lost, counted three ways: sent vs received at
each end, frames in the session files vs frames sent, and frames the proxy reported as not
recorded (all must be 0).

    python bench/load.py                          # N = 25, 50, 100, 150, 200; rt, socat, haproxy
    python bench/load.py --sessions 100,125 --reps 5 --paths rt,rt-asyncio
    python bench/load.py --find --sessions 100 --step 50   # raise N until each path is over 5 ms
    python bench/load.py --paths rt --sessions 200 --py-spy --gil   # where rt's time goes
    python bench/load.py --relay-cost             # the relay's CPU per frame, no sockets
    python bench/load.py --profile --sessions 100 # cProfile the proxy's event loop
    python bench/load.py --experiment no-recording --sessions 100   # the relay alone
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from forwarders import FORWARDERS, missing, start_forwarder, tree_cpu_seconds  # noqa: E402
from process_tree import tree_cpu_split, tree_memory_mb  # noqa: E402
from profiling import PySpy  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.asyncio.server import ServerConnection, serve  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

CHUNK_S = 0.020  # 20 ms of audio per message, 50 messages a second each way
CHUNK_BYTES = 960  # 20 ms of pcm16 at 24 kHz
BAR_P99_MS = 5.0
APPEND_HEAD = '{"type":"input_audio_buffer.append","event_id":"bench_'
DELTA_HEAD = '{"type":"response.output_audio.delta","event_id":"bench_'
_AUDIO = base64.b64encode(random.Random(7).randbytes(CHUNK_BYTES)).decode("ascii")
CLOCK = time.monotonic_ns  # CLOCK_MONOTONIC: comparable across processes on Linux


def append_message(seq: int) -> str:
    return f'{APPEND_HEAD}{CLOCK()}_{seq}","audio":"{_AUDIO}"}}'


def delta_message(seq: int) -> str:
    return (
        f'{DELTA_HEAD}{CLOCK()}_{seq}","response_id":"resp_bench","item_id":"item_bench",'
        f'"output_index":0,"content_index":0,"delta":"{_AUDIO}"}}'
    )


def sent_at(message: str, head: str) -> int:
    """The send time stamped in a bench message (ns)."""
    start = len(head)
    return int(message[start : message.index("_", start)])


# -- the upstream process ----------------------------------------------------------------------


async def upstream_session(ws: ServerConnection) -> None:
    """Streams deltas every 20 ms and times each append, until the client says `bench.stop`."""
    sending = True
    deltas = 0
    arrivals: list[tuple[int, int]] = []  # (sent_ns, latency_ns) of each append

    async def stream() -> None:
        nonlocal deltas
        loop = asyncio.get_running_loop()
        due = loop.time() + random.random() * CHUNK_S  # spread sessions over the 20 ms
        with contextlib.suppress(ConnectionClosed):
            while sending:
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not sending:
                    break
                await ws.send(delta_message(deltas))
                deltas += 1
                due += CHUNK_S

    streamer = asyncio.create_task(stream())
    try:
        async for message in ws:
            now = CLOCK()
            assert isinstance(message, str)
            if message.startswith(APPEND_HEAD):
                sent = sent_at(message, APPEND_HEAD)
                arrivals.append((sent, now - sent))
            elif '"bench.stop"' in message:
                sending = False
                await streamer
                window = json.loads(message)
                latencies = [
                    lat for sent, lat in arrivals if window["from_ns"] <= sent < window["to_ns"]
                ]
                await ws.send(
                    json.dumps(
                        {
                            "type": "bench.stopped",
                            "deltas": deltas,
                            "appends": len(arrivals),
                            "latencies_ns": latencies,
                        }
                    )
                )
    except ConnectionClosed:
        pass
    finally:
        sending = False
        streamer.cancel()


async def run_upstream() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(
        upstream_session, "127.0.0.1", 0, compression=None, max_size=None, ping_interval=None
    ) as server:
        print(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await stop.wait()


# -- the clients process -----------------------------------------------------------------------


@dataclass
class SessionResult:
    appends: int = 0
    deltas_received: int = 0
    upstream_deltas: int = 0
    upstream_appends: int = 0
    delta_latencies_ns: list[int] = field(default_factory=list)
    append_latencies_ns: list[int] = field(default_factory=list)
    send_lateness_ns: list[int] = field(default_factory=list)


async def client_session(
    ws: ClientConnection, start: float, from_ns: int, to_ns: int, stop_at: float
) -> SessionResult:
    result = SessionResult()
    loop = asyncio.get_running_loop()

    async def send_appends() -> None:
        due = start + random.random() * CHUNK_S
        while due < stop_at:
            await asyncio.sleep(max(0.0, due - loop.time()))
            result.send_lateness_ns.append(int((loop.time() - due) * 1e9))
            await ws.send(append_message(result.appends))
            result.appends += 1
            due += CHUNK_S
        await ws.send(json.dumps({"type": "bench.stop", "from_ns": from_ns, "to_ns": to_ns}))

    sender = asyncio.create_task(send_appends())
    async for message in ws:
        now = CLOCK()
        assert isinstance(message, str)
        if message.startswith(DELTA_HEAD):
            result.deltas_received += 1
            sent = sent_at(message, DELTA_HEAD)
            if from_ns <= sent < to_ns:
                result.delta_latencies_ns.append(now - sent)
        elif '"bench.stopped"' in message:
            stopped = json.loads(message)
            result.upstream_deltas = stopped["deltas"]
            result.upstream_appends = stopped["appends"]
            result.append_latencies_ns = stopped["latencies_ns"]
            break
    await sender
    await ws.close()
    return result


async def run_clients(url: str, sessions: int, warmup: float, seconds: float) -> None:
    """Open every session, stream, stop; print one JSON object with all the measurements."""
    loop = asyncio.get_running_loop()
    connections: list[ClientConnection] = []
    for index in range(0, sessions, 25):  # connect in waves: a burst of handshakes is no call
        batch = range(index, min(index + 25, sessions))
        connections += await asyncio.gather(
            *(
                connect(
                    f"{url}/v1/realtime?model=gpt-realtime&session={i}",
                    compression=None,
                    max_size=None,
                    ping_interval=None,
                    open_timeout=30,
                )
                for i in batch
            )
        )
    start = loop.time()
    from_ns = CLOCK() + int(warmup * 1e9)
    to_ns = from_ns + int(seconds * 1e9)
    stop_at = start + warmup + seconds
    cpu_start = time.process_time()
    results = await asyncio.gather(
        *(client_session(ws, start, from_ns, to_ns, stop_at) for ws in connections)
    )
    summary = {
        "appends": sum(r.appends for r in results),
        "upstream_appends": sum(r.upstream_appends for r in results),
        "upstream_deltas": sum(r.upstream_deltas for r in results),
        "deltas_received": sum(r.deltas_received for r in results),
        "append_latencies_ns": [x for r in results for x in r.append_latencies_ns],
        "delta_latencies_ns": [x for r in results for x in r.delta_latencies_ns],
        "send_lateness_ns": [x for r in results for x in r.send_lateness_ns],
        "clients_cpu_s": time.process_time() - cpu_start,
    }
    print(json.dumps(summary), flush=True)


# -- the proxy process (only with --proxy-loop uvloop or --profile) ---------------------------


def apply_experiment(experiment: str) -> list[float] | None:
    """Change the proxy for an experiment (`--experiment`); a list that collects loop lags."""
    name, _, value = experiment.partition("=")
    if name == "no-recording":  # the relay alone: what recording costs is the difference
        import recorder.recording

        def count_only(self: Any, direction: str, payload: Any, **_: Any) -> None:
            self.frames[direction] += 1

        recorder.recording.Recording.message = count_only  # type: ignore[method-assign]
        recorder.recording.Recording.reserve = lambda self, size: True  # type: ignore[method-assign]
        recorder.recording.Recording.release = lambda self, size: None  # type: ignore[method-assign]
    elif name == "flush-interval":  # how often the writer thread wakes (default 0.05 s)
        import recorder.store

        defaults = recorder.store.SessionWriter.__init__.__kwdefaults__
        assert defaults is not None
        defaults["flush_interval"] = float(value)
    elif name == "loop-lag":  # how late the event loop wakes a 1 ms sleeper
        return []
    elif name:
        raise SystemExit(f"unknown experiment {experiment!r}")
    return None


async def watch_lag(lags: list[float]) -> None:
    while True:
        started = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append(time.perf_counter() - started - 0.001)


async def run_proxy(upstream: str, out: str, profile: str | None, experiment: str) -> None:
    from recorder.proxy import RecordingProxy

    lags = apply_experiment(experiment)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    profiler = cProfile.Profile() if profile else None
    watcher = None if lags is None else asyncio.create_task(watch_lag(lags))
    async with RecordingProxy(upstream, out, port=0, environ={}) as proxy:
        print(f"rt record: {proxy.url}", file=sys.stderr, flush=True)
        if profiler is not None:
            profiler.enable()
        await stop.wait()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(profile))
    if watcher is not None and lags:
        watcher.cancel()
        print(
            f"event loop lag: p50 {pct(lags, 0.5) * 1e3:.2f} ms, p99 {pct(lags, 0.99) * 1e3:.2f} "
            f"ms, max {max(lags) * 1e3:.2f} ms",
            flush=True,
        )
    for summary in proxy.finished:
        if summary.frames_lost:
            print(f"{summary.path}  {summary.frames_lost} frames NOT recorded", flush=True)


# -- the relay's own cost, without sockets ------------------------------------------------------


class NullLeg:
    """A leg whose writes go nowhere: what is left is the proxy's own work per frame."""

    lost = False

    def write(self, data: Any) -> None:
        pass


async def relay_cost(frames: int, out: Path) -> dict[str, float]:
    """CPU µs per frame for the proxy's handling of one 20 ms audio frame each way, as one
    read each: find the frame, forward it, record it (the writer thread's writing included)."""
    from recorder.proxy import RecordingProxy
    from recorder.recording import Recording
    from recorder.relay import Relay

    class Session:
        proxy = RecordingProxy("ws://127.0.0.1:9", out, environ={})
        recording = Recording(out, upstream="ws://x", path="/", headers=[], subprotocols=[])

        def close_frame(self, *args: Any, **kwargs: Any) -> None:
            pass

    session = Session()
    options: dict[str, Any] = {"max_frame_bytes": 16 << 20, "strict": False}
    up = Relay(session, session.recording, "client", NullLeg(), NullLeg(), **options)  # type: ignore[arg-type]
    down = Relay(session, session.recording, "server", NullLeg(), NullLeg(), **options)  # type: ignore[arg-type]
    # What arrives: masked client frames, unmasked server frames, one per read (as at 50/s).
    appends = [_frame(append_message(i).encode(), os.urandom(4)) for i in range(256)]
    deltas = [_frame(delta_message(i).encode(), None) for i in range(256)]
    started_cpu, started = time.process_time(), time.perf_counter()
    started_thread = time.thread_time()
    for i in range(frames // 2):
        up.feed(appends[i % 256])
        down.feed(deltas[i % 256])
    loop_cpu = time.thread_time() - started_thread
    summary = await session.recording.afinish()
    total_cpu = time.process_time() - started_cpu
    assert summary.frames_lost == 0 and summary.frames_from_client == frames // 2
    return {
        "loop_us": loop_cpu / frames * 1e6,
        "total_us": total_cpu / frames * 1e6,
        "wall_us": (time.perf_counter() - started) / frames * 1e6,
    }


def _frame(payload: bytes, mask: bytes | None) -> bytes:
    """One text frame on the wire (RFC 6455 §5.2)."""
    size = len(payload)
    head = bytes((0x81, (0x80 if mask else 0) | (size if size < 126 else 126)))
    if size >= 126:
        head += size.to_bytes(2, "big")
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def print_relay_cost(args: argparse.Namespace) -> None:
    runs = []
    for _ in range(5):
        out = Path(tempfile.mkdtemp(prefix="rt-relay-", dir=args.dir))
        try:
            runs.append(await relay_cost(40_000, out))
        finally:
            shutil.rmtree(out, ignore_errors=True)
    best = {key: min(run[key] for run in runs) for key in runs[0]}
    print(
        "relay cost per 20 ms audio frame (best of 5 x 40000, no sockets"
        + (f", {args.experiment}" if args.experiment else "")
        + "): "
        f"{best['loop_us']:.1f} µs on the event loop, {best['total_us']:.1f} µs of CPU with the "
        f"writer thread's formatting and writing"
    )


# -- the orchestrator --------------------------------------------------------------------------


def use_loop(name: str) -> None:
    if name in ("uvloop", "auto"):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


@dataclass
class Child:
    process: asyncio.subprocess.Process
    url: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> tuple[float, float]:
        """(user, system) CPU seconds so far."""
        return process_cpu(self.pid)

    def memory_mb(self) -> tuple[float, float]:
        """(RSS, peak RSS) in MB, summed over the process and its children (rt's workers)."""
        return tree_memory_mb(self.pid)


def process_cpu(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def machine_cpu_seconds() -> tuple[float, float]:
    """(process time, interrupt time) all cores spent since boot: user + nice + system, and
    irq + softirq (loopback TCP is largely softirq work, charged to no process)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    return (fields[0] + fields[1] + fields[2]) / tick, (fields[5] + fields[6]) / tick


async def spawn(
    args: list[str], *, url_from: str, cpus: set[int] | None, loop: str = "auto"
) -> Child:
    """Start a child that announces the URL it listens on (on stdout or stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RT_EVENT_LOOP": loop}
    env.pop("OPENAI_API_KEY", None)
    process = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    if cpus is not None:
        os.sched_setaffinity(process.pid, cpus)
    stream = process.stdout if url_from == "stdout" else process.stderr
    assert stream is not None
    text = ""
    while (match := re.search(r"wss?://127\.0\.0\.1:\d+", text)) is None:
        line = await asyncio.wait_for(stream.readline(), 30)
        if not line:
            raise RuntimeError(f"{args} exited before listening: {text}")
        text += line.decode()
    return Child(process, match.group(0))


async def stop(child: Child, signum: int = signal.SIGTERM) -> tuple[str, str]:
    if child.process.returncode is None:
        child.process.send_signal(signum)
    out, err = await asyncio.wait_for(child.process.communicate(), 120)
    return out.decode(), err.decode()


@dataclass
class Run:
    """One load run (direct or through the proxy) and what was measured."""

    sessions: int
    latencies_ms: list[float]
    append_ms: list[float]
    delta_ms: list[float]
    lateness_ms: list[float]
    lost_in_flight: int
    generators_cpu: float
    others_cpu: float  # the rest of the machine (other processes) during the run
    irq_cpu: float  # interrupts and softirqs, mostly the loopback traffic itself
    frames_relayed: int = 0
    proxy_cpu: float = 0.0
    proxy_cpu_s: float = 0.0
    proxy_sys: float = 0.0
    proxy_rss_mb: float = 0.0
    proxy_peak_mb: float = 0.0
    lost_in_files: int = 0
    reported_not_recorded: int = 0

    @property
    def lost(self) -> int:
        return self.lost_in_flight + self.lost_in_files + self.reported_not_recorded


def pct(values: list[float], q: float) -> float:
    """Percentile with linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def files_frames(out: Path) -> tuple[int, int]:
    """(client, server) frame lines across every session file in `out`."""
    client = server = 0
    for path in out.glob("*.jsonl"):
        with open(path, "rb") as fh:
            for line in fh:
                if line.startswith(b'{"kind":"frame"'):
                    if b'"from":"client"' in line[:80]:
                        client += 1
                    else:
                        server += 1
    return client, server


def proxy_command(upstream: str, out: Path, loop: str, args: argparse.Namespace) -> list[str]:
    """`rt record` itself for `auto` (as shipped: uvloop when installed) and `asyncio`;
    this script's own proxy role (the same RecordingProxy) for --profile and experiments."""
    if loop in ("auto", "asyncio") and not args.profile and not args.experiment:
        command = [sys.executable, "-m", "rt_cli.main", "record", "--proxy", "--listen"]
        return command + ["127.0.0.1:0", "--upstream", upstream, "--out", str(out), *args.rt_args]
    command = [sys.executable, __file__, "--role", "proxy", "--loop", loop]
    command += ["--upstream", upstream, "--out", str(out)]
    if args.profile:
        command += ["--profile-out", str(out / "proxy.prof")]
    if args.experiment:
        command += ["--experiment", args.experiment]
    return command


async def wait_for_quiet(limit: float) -> float:
    """Wait (up to `limit` s) for a second in which the machine is at most 10% busy: other
    work on these two cores skews latency. Returns how busy the last second was (0-2)."""
    deadline = time.monotonic() + limit
    while True:
        before = machine_cpu_seconds()[0]
        await asyncio.sleep(1.0)
        busy = machine_cpu_seconds()[0] - before
        if busy <= 0.1 or time.monotonic() >= deadline:
            return busy


async def one_run(sessions: int, path: str | None, args: argparse.Namespace) -> Run:
    """One run of `sessions` calls: direct (`path` None), through `rt record` ("rt",
    "rt-asyncio") or through a C forwarder ("socat", "haproxy"), each its own process."""
    await wait_for_quiet(args.quiet_wait)
    generators = {1} if args.pin else None
    upstream = await spawn(
        [sys.executable, __file__, "--role", "upstream", "--loop", args.generator_loop],
        url_from="stdout",
        cpus=generators,
    )
    proxy: Child | None = None
    forwarder = None
    sampler = None
    out = Path(tempfile.mkdtemp(prefix="rt-load-", dir=args.dir))
    try:
        target = upstream.url
        cpus = {0} if args.pin else None
        if path in FORWARDERS:
            port = int(upstream.url.rsplit(":", 1)[1])
            forwarder = await start_forwarder(path, port, cpus=cpus)
            target, proxy_pid = forwarder.url, forwarder.pid
        elif path is not None:
            loop = "asyncio" if path == "rt-asyncio" else "auto"
            command = proxy_command(upstream.url, out, loop, args)
            proxy = await spawn(command, url_from="stderr", cpus=cpus, loop=loop)
            target, proxy_pid = proxy.url, proxy.pid
            if args.py_spy:
                sampler = await PySpy.attach(
                    proxy.pid, args.warmup + args.seconds, gil=args.gil, rate=100
                )
        up_before = sum(upstream.cpu_seconds())
        proxy_before = tree_cpu_seconds(proxy_pid) if path else 0.0
        proxy_sys_before = tree_cpu_split(proxy_pid)[1] if path else 0.0
        busy_before, irq_before = machine_cpu_seconds()
        began = time.monotonic()
        clients = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--role",
            "clients",
            "--loop",
            args.generator_loop,
            "--url",
            target,
            "--sessions",
            str(sessions),
            "--warmup",
            str(args.warmup),
            "--seconds",
            str(args.seconds),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if generators is not None:
            os.sched_setaffinity(clients.pid, generators)
        stdout, _ = await asyncio.wait_for(clients.communicate(), args.seconds + args.warmup + 120)
        wall = time.monotonic() - began
        busy, irq = machine_cpu_seconds()
        busy, irq = busy - busy_before, irq - irq_before
        measured = json.loads(stdout.decode().strip().splitlines()[-1])
        up_cpu = sum(upstream.cpu_seconds()) - up_before
        clients_cpu = measured["clients_cpu_s"]
        proxy_cpu = tree_cpu_seconds(proxy_pid) - proxy_before if path else 0.0
        run = Run(
            sessions=sessions,
            latencies_ms=[x / 1e6 for x in measured["append_latencies_ns"]]
            + [x / 1e6 for x in measured["delta_latencies_ns"]],
            append_ms=[x / 1e6 for x in measured["append_latencies_ns"]],
            delta_ms=[x / 1e6 for x in measured["delta_latencies_ns"]],
            lateness_ms=[x / 1e6 for x in measured["send_lateness_ns"]],
            lost_in_flight=(measured["appends"] - measured["upstream_appends"])
            + (measured["upstream_deltas"] - measured["deltas_received"]),
            generators_cpu=(up_cpu + clients_cpu) / wall,
            others_cpu=max(0.0, busy - up_cpu - clients_cpu - proxy_cpu) / wall,
            irq_cpu=irq / wall,
            frames_relayed=measured["appends"] + measured["upstream_deltas"],
        )
        if path is not None:
            run.proxy_cpu = proxy_cpu / wall
            run.proxy_cpu_s = proxy_cpu
            run.proxy_sys = (tree_cpu_split(proxy_pid)[1] - proxy_sys_before) / wall
            run.proxy_rss_mb, run.proxy_peak_mb = tree_memory_mb(proxy_pid)
        if sampler is not None:
            await sampler.wait()
            print(f"  py-spy of {path} at N={sessions}:")
            print(sampler.summary())
        if proxy is not None:
            proxy_out, _ = await stop(proxy, signal.SIGINT)
            for line in proxy_out.splitlines():
                if line.startswith("event loop lag"):
                    print(f"  N={sessions}: {line}")
            client_frames, server_frames = files_frames(out)
            # each session also carried one bench.stop and one bench.stopped
            run.lost_in_files = (measured["appends"] + sessions - client_frames) + (
                measured["upstream_deltas"] + sessions - server_frames
            )
            run.reported_not_recorded = sum(
                int(m) for m in re.findall(r"(\d+) frames NOT recorded", proxy_out)
            )
            if args.profile:
                print_profile(out / "proxy.prof")
        return run
    finally:
        if proxy is not None and proxy.process.returncode is None:
            await stop(proxy, signal.SIGINT)
        if forwarder is not None:
            await forwarder.stop()
        await stop(upstream)
        shutil.rmtree(out, ignore_errors=True)


def print_profile(stats_file: Path) -> None:
    text = io.StringIO()
    pstats.Stats(str(stats_file), stream=text).sort_stats("tottime").print_stats(30)
    print("  profile of the proxy's event loop thread, by own time:")
    for line in text.getvalue().splitlines()[6:]:
        if line.strip():
            print("   ", line)


@dataclass
class Result:
    """Medians over the repetitions of one N."""

    sessions: int
    added_p50: float
    added_p99: float
    added_p99_up: float
    added_p99_down: float
    direct_p99: float
    proxied_p99: float
    proxy_cpu: float
    proxy_sys: float
    proxy_rss_mb: float
    proxy_peak_mb: float
    generators_cpu: float
    others_cpu: float
    irq_cpu: float
    irq_direct_cpu: float
    lateness_p99: float
    cpu_us_per_frame: float
    lost: int  # summed over the repetitions, not a median

    @property
    def held(self) -> bool:
        return self.added_p99 <= BAR_P99_MS and self.lost == 0

    def line(self) -> str:
        return (
            f"N={self.sessions:<4} added p50 {self.added_p50:5.2f} ms  p99 {self.added_p99:5.2f} ms"
            f" (up {self.added_p99_up:5.2f}, down {self.added_p99_down:5.2f})  "
            f"[p99 direct {self.direct_p99:5.2f}, proxied {self.proxied_p99:5.2f}]  "
            f"proxy CPU {100 * self.proxy_cpu:3.0f}% ({100 * self.proxy_sys:.0f}% sys, "
            f"{self.cpu_us_per_frame:.0f} µs/frame) "
            f"RSS {self.proxy_rss_mb:3.0f} MB (peak {self.proxy_peak_mb:3.0f})  "
            f"generators {100 * self.generators_cpu:3.0f}%  softirq {100 * self.irq_cpu:3.0f}% "
            f"(direct {100 * self.irq_direct_cpu:3.0f}%)  others {100 * self.others_cpu:3.0f}%  "
            f"late p99 {self.lateness_p99:4.1f} ms  lost {self.lost}  "
            + ("ok" if self.held else "OVER")
        )


def summarise(pairs: list[tuple[Run, Run]]) -> Result:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    def added(q: float, field: str) -> float:
        return median([pct(getattr(p, field), q) - pct(getattr(d, field), q) for d, p in pairs])

    return Result(
        sessions=pairs[0][1].sessions,
        added_p50=added(0.5, "latencies_ms"),
        added_p99=added(0.99, "latencies_ms"),
        added_p99_up=added(0.99, "append_ms"),
        added_p99_down=added(0.99, "delta_ms"),
        direct_p99=median([pct(d.latencies_ms, 0.99) for d, _ in pairs]),
        proxied_p99=median([pct(p.latencies_ms, 0.99) for _, p in pairs]),
        proxy_cpu=median([p.proxy_cpu for _, p in pairs]),
        proxy_sys=median([p.proxy_sys for _, p in pairs]),
        proxy_rss_mb=median([p.proxy_rss_mb for _, p in pairs]),
        proxy_peak_mb=max(p.proxy_peak_mb for _, p in pairs),
        generators_cpu=median([p.generators_cpu for _, p in pairs]),
        others_cpu=median([max(d.others_cpu, p.others_cpu) for d, p in pairs]),
        irq_cpu=median([p.irq_cpu for _, p in pairs]),
        irq_direct_cpu=median([d.irq_cpu for d, _ in pairs]),
        lateness_p99=median([pct(p.lateness_ms, 0.99) for _, p in pairs]),
        cpu_us_per_frame=median([p.proxy_cpu_s / max(1, p.frames_relayed) * 1e6 for _, p in pairs]),
        lost=sum(d.lost_in_flight + p.lost for d, p in pairs),
    )


async def main(args: argparse.Namespace) -> None:
    counts = [int(n) for n in args.sessions.split(",")]
    frames = 2 * (args.warmup + args.seconds) / CHUNK_S
    paths = args.paths.split(",")
    for path in list(paths):
        if path not in ("rt", "rt-asyncio", *FORWARDERS):
            raise SystemExit(f"unknown path {path!r}: rt, rt-asyncio, socat or haproxy")
        problem = missing(path) if path in FORWARDERS else None
        if problem:
            print(f"skipping {path}: {problem}")
            paths.remove(path)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f}; {args.warmup:g} s warm-up + {args.seconds:g} s measured, "
        f"{frames:.0f} frames per session per run; medians of {args.reps} interleaved "
        f"direct/proxied pairs; generators on {args.generator_loop}; paths {', '.join(paths)}"
        + (f" (rt {' '.join(args.rt_args)})" if args.rt_args else "")
        + "; "
        + ("proxy pinned to CPU 0, generators to CPU 1" if args.pin else "no CPU pinning")
    )
    results: dict[str, list[Result]] = {path: [] for path in paths}
    live = list(paths)  # with --find: the paths still under the bar
    index = 0
    while index < len(counts) and live:
        n = counts[index]
        pairs: dict[str, list[tuple[Run, Run]]] = {path: [] for path in live}
        for _ in range(args.reps):
            for _attempt in range(args.retries + 1):  # redo a repetition that others disturbed
                direct = await one_run(n, None, args)
                proxied = {path: await one_run(n, path, args) for path in live}
                disturbed = max(r.others_cpu for r in [direct, *proxied.values()])
                if disturbed <= args.max_others:
                    break
                print(f"  (N={n}: other work took {100 * disturbed:.0f}% of a core; again)")
            for path in live:
                pairs[path].append((direct, proxied[path]))
        for path in list(live):
            result = summarise(pairs[path])
            print(f"[{path:<10}] " + result.line(), flush=True)
            results[path].append(result)
            if args.find and not result.held:
                live.remove(path)
        if args.find and live and index == len(counts) - 1:
            counts.append(n + args.step)
        index += 1
    for path in paths:
        held = [r.sessions for r in results[path] if r.held]
        largest = max(held) if held else "none"
        print(
            f"{path}: largest N with p99 added latency <= {BAR_P99_MS:g} ms and no frame lost: "
            f"{largest}"
        )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", default="25,50,100,150,200", help="comma-separated Ns")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--find", action="store_true", help="raise N by --step until over bar")
    parser.add_argument("--step", type=int, default=25)
    parser.add_argument("--reps", type=int, default=3, help="direct/proxied pairs per N")
    parser.add_argument(
        "--max-others",
        type=float,
        default=0.15,
        help="redo a repetition in which other processes used more than this share of a core",
    )
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="seconds to wait, before each run, for other work on the machine to stop",
    )
    parser.add_argument("--pin", action="store_true", help="proxy on CPU 0, generators on CPU 1")
    parser.add_argument(
        "--paths",
        default="rt,socat,haproxy",
        help="comma-separated, interleaved: rt (`rt record` as shipped), rt-asyncio (with "
        "RT_EVENT_LOOP=asyncio), socat, haproxy (C forwarders, the same-run reference)",
    )
    parser.add_argument(
        "--rt-arg", dest="rt_args", action="append", default=[], help="extra rt record argument"
    )
    parser.add_argument("--py-spy", action="store_true", help="sample rt with py-spy per run")
    parser.add_argument("--gil", action="store_true", help="with --py-spy: only GIL holders")
    parser.add_argument("--generator-loop", choices=["asyncio", "uvloop"], default="uvloop")
    parser.add_argument("--profile", action="store_true", help="cProfile the proxy (inflates CPU)")
    parser.add_argument(
        "--relay-cost", action="store_true", help="only the relay's CPU per frame, no sockets"
    )
    parser.add_argument("--dir", default=None, help="where session files go (a temp dir)")
    parser.add_argument("--role", choices=["upstream", "clients", "proxy"], help=argparse.SUPPRESS)
    parser.add_argument("--loop", default="asyncio", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    parser.add_argument(
        "--experiment",
        default="",
        help="run this script's proxy with a change: no-recording (the relay alone), "
        "flush-interval=S (the writer's), loop-lag (print how late the loop runs)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.role is not None:
        use_loop(arguments.loop)
    if arguments.role == "upstream":
        asyncio.run(run_upstream())
    elif arguments.role == "clients":
        asyncio.run(
            run_clients(arguments.url, int(arguments.sessions), arguments.warmup, arguments.seconds)
        )
    elif arguments.role == "proxy":
        asyncio.run(
            run_proxy(
                arguments.upstream, arguments.out, arguments.profile_out, arguments.experiment
            )
        )
    elif arguments.relay_cost:
        apply_experiment(arguments.experiment)  # e.g. no-recording: the relay's own share
        asyncio.run(print_relay_cost(arguments))
    else:
        asyncio.run(main(arguments))
