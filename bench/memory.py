"""The proxy's memory: huge frames, and thousands of calls in one run.

`rt record --proxy` runs as its own process (as shipped, with its worker processes); its RSS is
read from /proc (summed over the process tree; peak = the sum of each process's VmHWM).

- `--frame-mb 50,300`: a client sends one binary frame of that size through the proxy to an
  echo upstream and gets it back; checked byte for byte (SHA-256). A frame above the largest
  recorded size (16 MiB by default) is forwarded in pieces as it arrives and not recorded (the
  file says so): the proxy's memory does not grow with the frame.
- `--calls 5000`: that many short calls (session.update, a few 20 ms audio appends each way,
  close), --concurrency at a time; RSS sampled every --every calls: flat, or it grows.

    python bench/memory.py --frame-mb 50,300
    python bench/memory.py --calls 5000 --concurrency 20
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from process_tree import tree_memory_mb  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.asyncio.server import ServerConnection, serve  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

AUDIO = base64.b64encode(os.urandom(960)).decode()


async def echo(ws: ServerConnection) -> None:
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


async def start_rt(
    upstream: str, out: Path, extra: list[str]
) -> tuple[asyncio.subprocess.Process, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OPENAI_API_KEY", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rt_cli.main", "record", "--proxy", "--listen", "127.0.0.1:0",
        "--upstream", upstream, "--out", str(out), *extra,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stderr is not None
    seen = ""
    while (match := re.search(r"ws://127\.0\.0\.1:\d+", seen)) is None:
        line = await asyncio.wait_for(process.stderr.readline(), 60)
        if not line:
            raise RuntimeError(f"rt record exited: {seen}")
        seen += line.decode()
    while "Ctrl-C" not in seen:  # the workers are up
        seen += (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
    asyncio.get_running_loop().create_task(_drain(process.stderr))
    return process, match.group(0)


async def _drain(reader: asyncio.StreamReader) -> None:
    while await reader.readline():
        pass


async def stop_rt(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGINT)
    await asyncio.wait_for(process.wait(), 120)


async def huge_frames(sizes_mb: list[int], args: argparse.Namespace) -> None:
    async with serve(echo, "127.0.0.1", 0, max_size=None, compression=None) as server:
        upstream = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        for size in sizes_mb:
            out = Path(tempfile.mkdtemp(prefix="rt-memory-", dir=args.dir))
            process, url = await start_rt(upstream, out, ["--workers", "1"])
            try:
                await asyncio.sleep(0.5)
                idle, _ = tree_memory_mb(process.pid)
                frame = os.urandom(size * 2**20)
                digest = hashlib.sha256(frame).hexdigest()
                started = time.perf_counter()
                async with connect(url + "/v1/realtime", max_size=None, compression=None) as ws:
                    await ws.send(frame)
                    back = await ws.recv()
                seconds = time.perf_counter() - started
                assert isinstance(back, bytes) and hashlib.sha256(back).hexdigest() == digest
                del frame, back
                rss, peak = tree_memory_mb(process.pid)
                await stop_rt(process)
                notes = [
                    json.loads(line)["message"]
                    for path in out.glob("*.jsonl")
                    for line in path.read_text().splitlines()
                    if '"kind":"error"' in line
                ]
                print(
                    f"{size:4d} MB frame echoed intact in {seconds:5.2f} s; proxy RSS idle "
                    f"{idle:5.1f} MB, after {rss:5.1f} MB, peak {peak:5.1f} MB; file: "
                    + ("; ".join(notes) if notes else "recorded")
                )
            finally:
                if process.returncode is None:
                    process.kill()
                shutil.rmtree(out, ignore_errors=True)


async def one_call(url: str, index: int) -> None:
    async with connect(f"{url}/v1/realtime?model=m&call={index}", compression=None) as ws:
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
        for _ in range(5):
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": AUDIO}))
        for _ in range(6):
            await ws.recv()


async def long_run(args: argparse.Namespace) -> None:
    async with serve(echo, "127.0.0.1", 0, compression=None) as server:
        upstream = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        out = Path(tempfile.mkdtemp(prefix="rt-longrun-", dir=args.dir))
        process, url = await start_rt(upstream, out, args.rt_args)
        try:
            started = time.perf_counter()
            done = 0
            samples: list[tuple[int, float]] = []
            queue = iter(range(args.calls))

            async def caller() -> None:
                nonlocal done
                for index in queue:
                    await one_call(url, index)
                    done += 1
                    if done % args.every == 0:
                        samples.append((done, tree_memory_mb(process.pid)[0]))
                        if args.prune:  # keep the disk from filling on long runs
                            for path in list(out.glob("*.jsonl"))[: -args.concurrency * 2]:
                                path.unlink(missing_ok=True)

            await asyncio.gather(*(caller() for _ in range(args.concurrency)))
            seconds = time.perf_counter() - started
            print(f"{args.calls} calls in {seconds:.0f} s ({args.calls / seconds:.0f} calls/s), "
                  f"{args.concurrency} at a time; proxy RSS (MB, all processes) by calls done:")  # fmt: skip
            print("  " + "  ".join(f"{n}: {rss:.1f}" for n, rss in samples))
            first, last = samples[0][1], samples[-1][1]
            print(f"  from the first sample to the last: {last - first:+.1f} MB")
        finally:
            await stop_rt(process)
            shutil.rmtree(out, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frame-mb", default="", help="comma-separated frame sizes in MB")
    parser.add_argument("--calls", type=int, default=0, help="short calls for the long run")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--every", type=int, default=500, help="sample RSS every N calls")
    parser.add_argument("--prune", action="store_true", help="delete old session files as it goes")
    parser.add_argument("--dir", default=None, help="where session files go (a temp dir)")
    parser.add_argument(
        "--rt-arg", dest="rt_args", action="append", default=[], help="extra rt record argument"
    )
    return parser.parse_args()


async def main(args: argparse.Namespace) -> None:
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    )
    if args.frame_mb:
        await huge_frames([int(x) for x in args.frame_mb.split(",")], args)
    if args.calls:
        await long_run(args)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(parse_args()))
