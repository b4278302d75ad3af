"""Peak memory of `rt serve` and `rt replay` on a long recording of small frames.

    python bench/replay_memory.py                  # 1,000,000 frames (about 80 MB)
    python bench/replay_memory.py --frames 200000

Builds a text chat of small frames (each turn: the client's `conversation.item.create` and
`response.create`, the server's `response.created`, 20 `response.output_text.delta` and
`response.done`), then runs each command as its own process, as a user would, and reads its
peak RSS from the kernel (`wait4`):

  baseline   a process that reads the file through the one reader and interpreter
             (`recorder.reading` + `Interpreter`): what any command pays to read it
  rt serve   `--fast`; this script connects as the client, sends every recorded client frame
             and receives every server frame
  rt replay  `--fast --pace timed` to a sink server in this script

and prints each peak, its ratio to the baseline, and the wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from websockets.asyncio.client import connect  # noqa: E402
from websockets.asyncio.server import ServerConnection, serve  # noqa: E402

from recorder.reading import iter_records  # noqa: E402
from recorder.session import (  # noqa: E402
    close_record,
    encode_record,
    frame_line,
    open_record,
    session_record,
)

DELTAS = 20
BASELINE = """
import sys
from recorder.interpretation import Interpreter
from recorder.reading import iter_records
path = sys.argv[1]
interpreter = Interpreter(path)
for line, record in iter_records(path, lambda warning: None):
    interpreter.feed(line, record)
interpreter.finish()
"""


def build(path: Path, frames: int) -> tuple[int, int]:
    """Writes the recording line by line (this process stays small: a child's peak RSS
    counts the parent's pages until it execs); returns (client frames, server frames)."""
    per_turn = 2 + 2 + DELTAS
    client = server = seq = 0
    t = 0.002
    with open(path, "w") as out:
        out.write(
            encode_record(
                session_record(
                    "bench",
                    dt.datetime(2026, 12, 6, tzinfo=dt.timezone.utc),
                    "ws://127.0.0.1:1/v1/realtime?model=gpt-realtime",
                    "/v1/realtime?model=gpt-realtime",
                    [],
                    [],
                )
            )
        )
        out.write(encode_record(open_record(0.001, None, [])))
        for turn in range(frames // per_turn):
            rid, iid = f"resp_{turn}", f"item_{turn}"
            delta = {"type": "response.output_text.delta", "response_id": rid, "item_id": iid}
            events = [
                ("client", {"type": "conversation.item.create", "item": {"type": "message"}}),
                ("client", {"type": "response.create"}),
                ("server", {"type": "response.created", "response": {"id": rid}}),
                *(("server", {**delta, "delta": "hi "}) for _ in range(DELTAS)),
                ("server", {"type": "response.done", "response": {"id": rid}}),
            ]
            for direction, event in events:
                payload = json.dumps(event, separators=(",", ":"))
                out.write(frame_line(seq, t, direction, payload))  # type: ignore[arg-type]
                client += direction == "client"
                server += direction == "server"
                seq += 1
                t += 0.0001
        out.write(encode_record(close_record(t, "client", 1000, "")))
    return client, server


def client_payloads(path: Path) -> Iterator[str]:
    for _, record in iter_records(path):
        if record["kind"] == "frame" and record["from"] == "client":
            yield json.dumps(record["event"], separators=(",", ":"))


def peak_of(process: subprocess.Popen[bytes]) -> tuple[int, int]:
    """(exit status, peak RSS in bytes) of a child, once it ends."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss * 1024


def rt(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "rt_cli.main", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=HERE.parent,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def play_client(url: str, path: Path, expected: int) -> None:
    async with connect(url, max_size=None, compression=None) as ws:

        async def send() -> None:
            for payload in client_payloads(path):
                await ws.send(payload)

        sender = asyncio.create_task(send())
        for _ in range(expected):
            await ws.recv()
        await sender


def measure_serve(path: Path, expected: int) -> tuple[int, float]:
    port = free_port()
    process = rt("serve", str(path), "--listen", f"127.0.0.1:{port}", "--fast")
    assert process.stderr is not None
    seen = b""
    while b"ws://" not in seen:  # the banner: the server listens
        line = process.stderr.readline()
        if not line:
            raise SystemExit(f"rt serve did not start: {seen.decode()}")
        seen += line
    start = time.perf_counter()
    asyncio.run(play_client(f"ws://127.0.0.1:{port}/v1/realtime", path, expected))
    code, peak = peak_of(process)
    assert code == 0, process.stderr.read().decode()
    return peak, time.perf_counter() - start


async def _sink(ws: ServerConnection) -> None:
    async for _ in ws:
        pass


def measure_replay(path: Path, out: Path) -> tuple[int, float]:
    async def run() -> tuple[int, float]:
        async with serve(_sink, "127.0.0.1", 0, max_size=None, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            start = time.perf_counter()
            process = rt(
                "replay", str(path), "--target", f"ws://127.0.0.1:{port}/v1/realtime",
                "--fast", "--pace", "timed", "--out", str(out),
            )  # fmt: skip
            code, peak = await asyncio.to_thread(peak_of, process)
            assert process.stderr is not None
            assert code == 0, process.stderr.read().decode()
            return peak, time.perf_counter() - start

    return asyncio.run(run())


def measure_baseline(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", BASELINE, str(path)], cwd=HERE.parent, stderr=subprocess.PIPE
    )
    code, peak = peak_of(process)
    assert code == 0
    return peak, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.jsonl"
        client, server = build(path, args.frames)
        size = path.stat().st_size / 2**20
        print(f"{client + server:,} frames ({client:,} client), {size:.1f} MiB; "
              f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        base, base_s = measure_baseline(path)
        print(
            f"  {'baseline (read + interpret)':28} {base / 2**20:8.0f} MiB  1.00x  {base_s:6.1f} s"
        )
        for name, (peak, seconds) in (
            ("rt serve --fast", measure_serve(path, server)),
            ("rt replay --fast", measure_replay(path, Path(tmp) / "out")),
        ):
            print(f"  {name:28} {peak / 2**20:8.0f} MiB  {peak / base:.2f}x  {seconds:6.1f} s")


if __name__ == "__main__":
    main()
