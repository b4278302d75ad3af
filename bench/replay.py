"""Benchmark `rt replay` and `rt serve`: timing fidelity and `--fast` throughput, on loopback.

Timing fidelity. A real session is recorded through `RecordingProxy` against the scripted
Realtime server (a client streaming microphone audio in 20 ms appends, push-to-talk turns):

- replay, `--pace timed` and `--pace reactive`, against a fresh scripted server: the error
  |replayed gap - recorded gap| between consecutive client frames;
- serve: a client sends the recorded client frames on their recorded schedule to
  `MockRealtimeServer`; the error |(reply arrival - its cue's send) - recorded delay|.
- baseline, in the same process: a bare asyncio loop sleeping the same recorded gaps on a
  timeline (the floor any asyncio sender can reach on this machine).

Throughput (`--fast`). A synthetic session of N frames (20 ms appends, 1.3 KB each):

- replay `--fast --pace timed` (loading excluded, recording included) to a sink server, against
  a bare websockets client sending the same payloads to the same sink;
- serve `--fast`: one client frame answered by N recorded server frames, against a bare
  websockets server sending the same payloads.

    python bench/replay.py                  # ~20 s of recorded conversation, 20k frames
    python bench/replay.py --seconds 6 --frames 5000   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))  # the scripted stand-in server

from scripted_server import Script, ScriptedRealtimeServer, sine_pcm16  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.asyncio.server import ServerConnection, serve  # noqa: E402

from recorder.proxy import RecordingProxy  # noqa: E402
from recorder.replay import (  # noqa: E402
    Pace,
    connection_plan,
    load_session,
    replay_schedule,
    run_replay,
)
from recorder.serve import MockRealtimeServer, playbook_from  # noqa: E402
from recorder.session import encode_record, frame_line, open_record, session_record  # noqa: E402

SCRIPT = Script(
    created_delay=0.04, first_delta_delay=0.3, delta_interval=0.03, response_audio_ms=1500
)
CHUNK_MS = 20


# -- a real recording --------------------------------------------------------------------------


async def record_conversation(seconds: float, out: Path) -> Path:
    """Record `seconds` of push-to-talk conversation through the proxy; return its file."""
    server = ScriptedRealtimeServer(SCRIPT)
    async with server, RecordingProxy(server.url, out, port=0, environ={}) as proxy:
        async with connect(proxy.url + "/v1/realtime?model=gpt-realtime", max_size=None) as ws:
            await converse(ws, seconds)
        (summary,) = await proxy.wait_for_sessions(1, timeout=30)
    return summary.path


async def converse(ws: ClientConnection, seconds: float) -> None:
    """Turns of 1 s of speech in 20 ms appends, commit, `response.create`, until `seconds`."""
    done = asyncio.Queue[str]()

    async def read() -> None:
        async for message in ws:
            kind = json.loads(message)["type"]
            if kind in ("session.created", "session.updated", "response.done"):
                done.put_nowait(kind)

    reader = asyncio.create_task(read())
    await done.get()
    update = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    await ws.send(json.dumps({"type": "session.update", "session": update}))
    await done.get()
    loop = asyncio.get_running_loop()
    started = loop.time()
    speech = sine_pcm16(1000)
    step = CHUNK_MS * 48
    while loop.time() - started < seconds:
        t0 = loop.time()
        for n, offset in enumerate(range(0, len(speech), step)):
            chunk = base64.b64encode(speech[offset : offset + step]).decode()
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
            await asyncio.sleep(max(0.0, t0 + (n + 1) * CHUNK_MS / 1000 - loop.time()))
        await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        await ws.send(json.dumps({"type": "response.create"}))
        await done.get()
        await asyncio.sleep(0.3)
    await ws.close()
    await reader


# -- timing fidelity -----------------------------------------------------------------------------


def client_times(path: Path) -> list[float]:
    return [f.t for f in load_session(path, keep_payloads=()).client_frames]


def gap_errors_ms(recorded: list[float], replayed: list[float]) -> list[float]:
    count = min(len(recorded), len(replayed))
    return [
        abs((replayed[i] - replayed[i - 1]) - (recorded[i] - recorded[i - 1])) * 1000
        for i in range(1, count)
    ]


async def replay_errors(original: Path, pace: Pace, out: Path) -> list[float]:
    session = load_session(original, keep_payloads=("client",))
    schedule = replay_schedule(session, pace=pace)
    async with ScriptedRealtimeServer(SCRIPT) as server:
        plan = connection_plan(session, server.url, environ={})
        result = await run_replay(schedule, plan, out, source=original)
    assert result.stopped is None, result.stopped
    return gap_errors_ms(client_times(original), client_times(result.recording.path))


async def sleep_baseline_errors(original: Path) -> list[float]:
    """A bare asyncio loop sleeping the recorded gaps on a timeline: the floor."""
    recorded = client_times(original)
    loop = asyncio.get_running_loop()
    start = loop.time()
    achieved = []
    for t in recorded:
        delay = start + (t - recorded[0]) - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        achieved.append(loop.time())
    return gap_errors_ms(recorded, achieved)


async def serve_errors(original: Path) -> list[float]:
    """A client sends the recorded client frames on schedule; replies vs their recorded delays."""
    session = load_session(original)
    book = playbook_from(session)
    cues = session.client_frames
    expected: list[float] = [r.delay for r in book.greeting]
    owners: list[int] = [-1] * len(book.greeting)
    for index, cue in enumerate(book.cues):
        expected += [r.delay for r in cue.replies if r.close is None]
        owners += [index] * sum(1 for r in cue.replies if r.close is None)
    errors: list[float] = []
    async with MockRealtimeServer(book) as server, connect(server.url, max_size=None) as ws:
        loop = asyncio.get_running_loop()
        opened = loop.time()
        sent_at: list[float] = []

        async def send() -> None:
            for frame in cues:
                await asyncio.sleep(max(0.0, opened + frame.t - session.start_t - loop.time()))
                sent_at.append(loop.time())
                await ws.send(frame.payload)  # type: ignore[arg-type]

        sender = asyncio.create_task(send())
        for index, delay in enumerate(expected):
            await ws.recv()
            arrived = loop.time()
            anchor = opened if owners[index] < 0 else sent_at[owners[index]]
            errors.append(abs((arrived - anchor) - delay) * 1000)
        await sender
    return errors


# -- throughput ----------------------------------------------------------------------------------


def synthetic_session(path: Path, frames: int, direction: str) -> Path:
    """`frames` 20 ms audio frames from one side (after one cue frame from the client)."""
    audio = base64.b64encode(os.urandom(CHUNK_MS * 48)).decode()
    started = dt.datetime.now(dt.timezone.utc)
    lines = [
        encode_record(session_record("bench", started, "ws://127.0.0.1:1", "/v1/realtime", [], [])),
        encode_record(open_record(0.0, None, [])),
        frame_line(0, 0.001, "client", '{"type":"response.create"}'),
    ]
    kind = "input_audio_buffer.append" if direction == "client" else "response.output_audio.delta"
    field = "audio" if direction == "client" else "delta"
    for i in range(frames):
        event = json.dumps({"type": kind, "event_id": f"e{i}", field: audio})
        lines.append(frame_line(i + 1, 0.002 + i * CHUNK_MS / 1000, direction, event))  # type: ignore[arg-type]
    path.write_text("".join(lines))
    return path


async def _sink(ws: ServerConnection) -> None:
    async for _ in ws:
        pass


async def replay_throughput(path: Path, out: Path) -> tuple[float, float, float]:
    """(replay frames/s, bare client frames/s, load seconds) to the same sink server."""
    t0 = time.perf_counter()
    session = load_session(path, keep_payloads=("client",))
    load_s = time.perf_counter() - t0
    schedule = replay_schedule(session, pace="timed", fast=True)
    payloads = [s.payload for s in schedule.sends]  # read in one pass over the file
    async with serve(_sink, "127.0.0.1", 0, max_size=None, compression=None) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/realtime"
        t0 = time.perf_counter()
        async with connect(url, max_size=None, compression=None) as ws:
            for payload in payloads:
                await ws.send(payload)  # type: ignore[arg-type]
        bare = len(payloads) / (time.perf_counter() - t0)
        plan = connection_plan(session, url, environ={})
        t0 = time.perf_counter()
        result = await run_replay(schedule, plan, out, source=path)
        ours = result.frames_sent / (time.perf_counter() - t0)
    return ours, bare, load_s


async def serve_throughput(path: Path) -> tuple[float, float]:
    """(mock server frames/s, bare server frames/s) to one client."""
    book = playbook_from(load_session(path, keep_payloads=("server",)))
    payloads = [r.payload for r in book.cues[0].replies]
    count = len(payloads)

    async def bare_handler(ws: ServerConnection) -> None:
        await ws.recv()
        for payload in payloads:
            await ws.send(payload)  # type: ignore[arg-type]
        await ws.wait_closed()

    async def receive_all(url: str) -> float:
        async with connect(url, max_size=None, compression=None) as ws:
            t0 = time.perf_counter()
            await ws.send('{"type":"response.create"}')
            for _ in range(count):
                await ws.recv()
            return count / (time.perf_counter() - t0)

    async with serve(bare_handler, "127.0.0.1", 0, max_size=None, compression=None) as server:
        bare = await receive_all(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    async with MockRealtimeServer(book, fast=True) as mock:
        ours = await receive_all(mock.url)
    return ours, bare


# -- report --------------------------------------------------------------------------------------


def percentiles(values: list[float]) -> str:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {cuts[49]:6.2f} ms   p99 {cuts[98]:6.2f} ms   max {max(values):6.2f} ms   n={len(values)}"


async def main(seconds: float, frames: int) -> None:
    with tempfile.TemporaryDirectory(prefix="rt-bench-replay-") as tmp:
        work = Path(tmp)
        original = await record_conversation(seconds, work / "recorded")
        print(
            f"recorded {original.stat().st_size / 1e6:.1f} MB, {len(client_times(original))} client frames"
        )
        measured: list[tuple[str, list[float]]] = []
        paces: tuple[Pace, ...] = ("timed", "reactive")
        for pace in paces:
            measured.append(
                (f"replay --pace {pace}", await replay_errors(original, pace, work / pace))
            )
        measured.append(("serve (reply delays)", await serve_errors(original)))
        baseline = await sleep_baseline_errors(original)
        print(f"timing  {'asyncio sleep baseline':<28}{percentiles(baseline)}")
        for label, errors in measured:
            ratio = statistics.median(errors) / max(statistics.median(baseline), 1e-9)
            print(f"timing  {label:<28}{percentiles(errors)}   p50 x{ratio:.1f} baseline")

        client_side = synthetic_session(work / "client.jsonl", frames, "client")
        ours, bare, load_s = await replay_throughput(client_side, work / "fast")
        print(
            f"fast    replay --fast --pace timed  {ours:9.0f} frames/s   bare websockets client "
            f"{bare:9.0f} frames/s   ratio {ours / bare:.2f}   (load {frames / load_s:.0f} frames/s)"
        )
        server_side = synthetic_session(work / "server.jsonl", frames, "server")
        ours, bare = await serve_throughput(server_side)
        print(
            f"fast    serve --fast                {ours:9.0f} frames/s   bare websockets server "
            f"{bare:9.0f} frames/s   ratio {ours / bare:.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="length of the recorded conversation"
    )
    parser.add_argument(
        "--frames", type=int, default=20000, help="frames in the throughput sessions"
    )
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores", file=sys.stderr)
    asyncio.run(main(args.seconds, args.frames))
