"""The proxy holds live calls through faults: an upstream that drops mid-response, clients that
vanish (100 of them, nothing leaks), a client that stops reading (backpressure, bounded memory),
a disk that is slow or fails (forwarding never waits for it; the file says what is missing), and
`kill -9` (every line but the last intact).

Real sockets on 127.0.0.1, a real proxy, real files; the only test double is the file object
handed to the writer (a slow or failing disk), as `RecordingProxy(open_file=...)` allows.

See also tests/test_proxy.py (close codes both ways, a client vanishing mid-stream, a client
closing during a burst) and tests/test_proxy_cli.py (SIGTERM, `kill -9`, a file-size limit).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import io
import json
import os
import shutil
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from conftest import ProxyStack, scaled
from rich.console import Console
from rt_cli.record import write_error_line
from scripted_server import Script
from test_proxy_cli import rt_record
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from recorder.errors import SessionFormatError
from recorder.proxy import UPSTREAM_LOST_CODE, UPSTREAM_LOST_REASON, RecordingProxy
from recorder.reading import iter_records
from recorder.store import FELL_BEHIND, create_session_file

pytestmark = pytest.mark.slow  # kill -9 and disk faults on real processes

GA_PATH = "/v1/realtime?model=gpt-realtime"
FAST = Script(created_delay=0, first_delta_delay=0, response_audio_ms=300)


def delta(seq: int, audio_bytes: int = 960) -> str:
    audio = base64.b64encode(bytes([seq % 256]) * audio_bytes).decode()
    return json.dumps({"type": "response.output_audio.delta", "seq": seq, "delta": audio})


def read_records(path: Path) -> tuple[list[dict[str, Any]], list[SessionFormatError]]:
    problems: list[SessionFormatError] = []
    return [r for _, r in iter_records(path, problems.append)], problems


def frames(records: list[dict[str, Any]], direction: str | None = None) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == "frame" and direction in (None, r["from"])]


# -- an upstream that drops mid-response -------------------------------------------------------


@dataclass
class DroppingUpstream:
    """Streams `count` audio deltas when asked, then ends the connection the way `how` says:

    rst         TCP reset (SO_LINGER 0), no close frame
    fin         the TCP connection closed without a close frame
    mid-frame   half of a frame's bytes, then a reset
    """

    how: str
    count: int = 25
    url: str = ""
    sent: list[str] = field(default_factory=list)
    delivered: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.recv()  # the client's "go"
            for seq in range(self.count):
                self.sent.append(delta(seq))
                await ws.send(self.sent[-1])
            await asyncio.wait_for(self.delivered.wait(), scaled(5))
            if self.how == "mid-frame":
                header = struct.pack("!BBH", 0x81, 126, 10_000)  # a text frame of 10000 bytes...
                ws.transport.write(header + b'{"type":"response.output_audio.delta"')  # ...cut
                await asyncio.sleep(0.05)
            if self.how == "fin":
                ws.transport.close()
            else:
                sock = ws.transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                ws.transport.abort()
            await ws.wait_closed()


@pytest.mark.parametrize("how", ["rst", "fin", "mid-frame"])
def test_upstream_dropping_mid_response_gives_the_client_a_clear_close(run, tmp_path, how):
    upstream = DroppingUpstream(how)

    async def scenario() -> tuple[list[str | bytes], Any, Any]:
        async with serve(upstream.handle, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            async with RecordingProxy(url, tmp_path, port=0, environ={}) as proxy:
                received: list[str | bytes] = []
                async with connect(proxy.url + GA_PATH) as ws:
                    await ws.send('{"type":"response.create"}')
                    while len(received) < upstream.count:
                        received.append(await ws.recv())
                    upstream.delivered.set()
                    with pytest.raises(ConnectionClosed) as closed:
                        await asyncio.wait_for(ws.recv(), scaled(5))
                (summary,) = await proxy.wait_for_sessions(1)
        return received, closed.value.rcvd, summary

    received, rcvd, summary = run(scenario())
    assert received == upstream.sent  # everything up to the drop reached the client
    assert (rcvd.code, rcvd.reason) == (UPSTREAM_LOST_CODE, UPSTREAM_LOST_REASON)
    (path,) = tmp_path.glob("*.jsonl")
    records, problems = read_records(path)
    assert not problems
    assert [json.dumps(r["event"]) for r in frames(records, "server")] == upstream.sent
    assert records[-1] == {**records[-1], "kind": "close", "by": "server", "code": 1006}
    assert (summary.closed_by, summary.close_code) == ("server", 1006)


# -- clients that vanish -----------------------------------------------------------------------


def resources() -> list[int]:
    """Open file descriptors, asyncio tasks, and session writer threads (asyncio's executor
    threads, which finish files off the loop, are a pool that is kept: not counted)."""
    writers = [t for t in threading.enumerate() if t.name.startswith("rt-writer")]
    return [len(os.listdir("/proc/self/fd")), len(asyncio.all_tasks()), len(writers)]


def test_a_hundred_vanishing_clients_leak_no_task_thread_or_file_handle(run, proxied):
    async def vanish(stack: ProxyStack, index: int) -> float:
        """A client that drops its TCP connection mid-stream; how long the upstream stayed."""
        ws = await connect(stack.proxy.url + GA_PATH + f"&client={index}")
        await ws.recv()
        await ws.send(json.dumps({"type": "fake.stream", "count": 1000, "interval": 0.005}))
        await ws.recv()
        log = next(c for c in stack.server.connections if c.path.endswith(f"={index}"))
        vanished = time.monotonic()
        ws.transport.abort()
        await asyncio.wait_for(log.closed.wait(), scaled(5))
        return time.monotonic() - vanished

    async def scenario() -> tuple[list[int], list[int], list[float], ProxyStack]:
        async with proxied(FAST) as stack:
            await asyncio.gather(*(vanish(stack, i) for i in range(5)))  # warm up
            await stack.proxy.wait_for_sessions(5)
            await asyncio.sleep(0.1)
            before = resources()
            upstream_stayed: list[float] = []
            for wave in range(10):
                upstream_stayed += await asyncio.gather(
                    *(vanish(stack, 100 + wave * 10 + i) for i in range(10))
                )
            await stack.proxy.wait_for_sessions(105, timeout=scaled(20))
            after: list[int] = []
            for _ in range(50):  # the last closing handshakes settle within a few loop turns
                after = resources()
                if after == before:
                    break
                await asyncio.sleep(0.02)
            return before, after, upstream_stayed, stack

    before, after, upstream_stayed, stack = run(scenario(), scaled(60))
    assert after == before, "open fds, asyncio tasks, writer threads"
    assert before[2] == 0
    assert max(upstream_stayed) < scaled(1.0)  # the upstream is closed promptly
    assert len(stack.proxy.finished) == 105
    assert all(s.closed_by == "client" and s.close_code == 1006 for s in stack.proxy.finished)
    assert stack.proxy.write_budget.in_use == 0
    for path in stack.files():
        records, problems = read_records(path)
        assert not problems and records[-1]["kind"] == "close"


# -- a client that stops reading ---------------------------------------------------------------


@dataclass
class FloodingUpstream:
    """Sends 48 KB audio deltas as fast as the connection takes them, counting what went out."""

    frame_bytes: int = 48_000
    sent: int = 0
    sent_bytes: int = 0

    async def handle(self, ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                message = delta(self.sent, self.frame_bytes)
                await ws.send(message)  # blocks once the proxy stops reading
                self.sent += 1
                self.sent_bytes += len(message)


def test_a_client_that_stops_reading_holds_the_upstream_back(run, tmp_path):
    upstream = FloodingUpstream()

    async def scenario() -> dict[str, Any]:
        async with serve(upstream.handle, "127.0.0.1", 0, max_size=None) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            async with RecordingProxy(url, tmp_path, port=0, environ={}) as proxy:
                ws = await connect(proxy.url + GA_PATH, max_size=None)
                (session,) = proxy._sessions  # the proxy's own view of its two legs
                plateau = []
                for _ in range(60):  # stop reading until the upstream is held back
                    await asyncio.sleep(0.05)
                    plateau.append(upstream.sent)
                    if len(plateau) > 6 and plateau[-1] == plateau[-6]:
                        break
                held = {
                    "plateau": plateau[-6:],
                    "sent_bytes": upstream.sent_bytes,
                    "client_write_buffer": session.client.transport.get_write_buffer_size(),
                    "upstream_reading": session.upstream.transport.is_reading(),
                    "recorded": proxy.write_budget.in_use,
                }
                received = []
                for _ in range(upstream.sent + 50):  # read again: everything arrives, in order
                    received.append(json.loads(await ws.recv())["seq"])

                async def drain() -> None:  # what is still in flight, so the close gets through
                    with contextlib.suppress(ConnectionClosed):
                        while True:
                            await ws.recv()

                draining = asyncio.create_task(drain())
                await ws.close()
                await draining
                await proxy.wait_for_sessions(1)
                held["received"] = received
                return held

    held = run(scenario(), scaled(30))
    assert len(set(held["plateau"])) == 1, "the upstream was not held back"
    # Bounded: kernel socket buffers on three sockets plus the proxy's write limit, not 100s of MB.
    assert held["sent_bytes"] < 128 * 2**20
    # websockets' write_limit (32 KiB), plus what one read of the upstream (256 KiB) carried
    assert held["client_write_buffer"] <= 32 * 1024 + 256 * 1024 + 2 * 65 * 1024
    assert held["upstream_reading"] is False  # backpressure: the proxy stopped reading upstream
    assert held["received"] == list(range(len(held["received"])))
    (path,) = tmp_path.glob("*.jsonl")
    records, problems = read_records(path)
    assert not problems
    seqs = [r["event"]["seq"] for r in frames(records, "server")]
    assert seqs == list(range(len(seqs))) and len(seqs) >= len(held["received"])


# -- a slow or failing disk --------------------------------------------------------------------


class SlowFile(io.RawIOBase):
    """A real session file whose writes take `delay` seconds each, like a stalled disk."""

    def __init__(self, raw: BinaryIO, delay: float) -> None:
        self.raw = raw
        self.delay = delay

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        time.sleep(self.delay)
        return self.raw.write(data) or 0

    def close(self) -> None:
        self.raw.close()
        super().close()


class FailingFile(io.RawIOBase):
    """A real session file that fails with `error` once `fail_after` bytes are written; with
    `recover_after` failed writes the disk has room again (someone freed space)."""

    def __init__(
        self, raw: BinaryIO, error: int, fail_after: int, recover_after: int | None
    ) -> None:
        self.raw = raw
        self.error = error
        self.fail_after = fail_after
        self.recover_after = recover_after
        self.written = 0
        self.failures = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        failing = self.recover_after is None or self.failures < self.recover_after
        if self.written >= self.fail_after and failing:
            self.failures += 1
            raise OSError(self.error, os.strerror(self.error))
        room = len(data) if not failing else min(len(data), self.fail_after - self.written)
        count = self.raw.write(bytes(data[:room])) or 0  # a short write at the limit, like a disk
        self.written += count
        return count

    def close(self) -> None:
        self.raw.close()
        super().close()


def opener(wrap: Callable[[BinaryIO], io.RawIOBase]) -> Callable[[Path, str], Any]:
    def open_file(directory: Path, session_id: str) -> tuple[Path, io.RawIOBase]:
        path, raw = create_session_file(directory, session_id)
        return path, wrap(raw)

    return open_file


async def stream_through(stack: ProxyStack, count: int, frame_bytes: int) -> tuple[int, float]:
    """Ask the scripted upstream for `count` audio deltas; (how many arrived, seconds)."""
    async with connect(stack.proxy.url + GA_PATH, max_size=None) as ws:
        await ws.recv()
        started = time.monotonic()
        request = {"type": "fake.stream", "count": count, "bytes": frame_bytes}
        await ws.send(json.dumps(request))
        got = 0
        while got < count:
            await ws.recv()
            got += 1
        return got, time.monotonic() - started


def test_a_disk_slower_than_the_call_never_slows_forwarding_and_loses_frames_visibly(run, proxied):
    async def scenario() -> tuple[int, float, ProxyStack]:
        async with proxied(
            FAST,
            max_pending_bytes=64 * 1024,
            open_file=opener(lambda raw: SlowFile(raw, delay=0.3)),
        ) as stack:
            got, seconds = await stream_through(stack, count=400, frame_bytes=4800)
            await stack.proxy.wait_for_sessions(1, timeout=scaled(20))
            return got, seconds, stack

    got, seconds, stack = run(scenario(), scaled(30))
    assert got == 400 and seconds < scaled(2.0)  # the disk needed many seconds more
    (summary,) = stack.proxy.finished
    assert summary.frames_lost > 0 and summary.write_error is None
    records, problems = read_records(stack.files()[0])
    assert not problems
    notes = [r for r in records if r["kind"] == "error"]
    assert notes and all(n["message"].endswith(f"were not recorded: {FELL_BEHIND}") for n in notes)
    assert sum(int(n["message"].split()[0]) for n in notes) == summary.frames_lost
    assert len(frames(records)) + summary.frames_lost == 1 + 1 + 400  # session.created, request
    assert records[-1]["kind"] == "close"
    assert stack.proxy.write_budget.in_use == 0


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO])
@pytest.mark.parametrize("recovers", [False, True])
def test_a_failing_disk_keeps_the_call_going_with_one_warning(run, proxied, error, recovers):
    warnings: list[str] = []

    def warn(path: Path, exc: BaseException) -> None:
        console = Console(file=io.StringIO(), width=200)
        console.print(write_error_line(path, exc, strict=False))
        warnings.append(console.file.getvalue())  # type: ignore[attr-defined]

    files: list[FailingFile] = []

    def failing(raw: BinaryIO) -> FailingFile:
        files.append(
            FailingFile(raw, error, fail_after=20_000, recover_after=2 if recovers else None)
        )
        return files[-1]

    async def scenario() -> tuple[int, ProxyStack]:
        async with proxied(FAST, open_file=opener(failing), on_write_error=warn) as stack:
            got, _ = await stream_through(stack, count=300, frame_bytes=960)
            await stack.proxy.wait_for_sessions(1)
            return got, stack

    got, stack = run(scenario())
    assert got == 300  # the live call went on
    assert len(warnings) == 1
    assert os.strerror(error) in warnings[0] and "the call goes on" in warnings[0]
    (summary,) = stack.proxy.finished
    assert summary.frames_lost > 0 and os.strerror(error) in str(summary.write_error)
    records, problems = read_records(stack.files()[0])
    assert len(problems) <= 1  # at most the line the disk cut short
    recorded = frames(records)
    assert [r["seq"] for r in recorded] == list(range(len(recorded)))
    assert (
        len(recorded) + summary.frames_lost
        == summary.frames_from_client + summary.frames_from_server
    )
    if recovers:  # the file says what is missing, then how the call ended
        assert records[-2]["kind"] == "error"
        assert records[-2]["message"].startswith(f"{summary.frames_lost} frames were not recorded")
        assert records[-1]["kind"] == "close" and records[-1]["by"] == "client"
    else:
        assert records[-1]["kind"] == "frame"
        assert files[0].written <= 20_000


# -- kill -9 -------------------------------------------------------------------------------------


async def stream_and_read(ws: ServerConnection) -> None:
    """An upstream that streams 64 KB audio deltas while it reads whatever the client sends."""

    async def stream() -> None:
        for seq in range(100_000):
            await ws.send(delta(seq, 65536))
            await asyncio.sleep(0.001)

    streaming = asyncio.create_task(stream())
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass
    streaming.cancel()


def test_kill_9_while_both_sides_stream_big_frames_keeps_every_line_but_the_last(run, tmp_path):
    # tests/test_proxy_cli.py kills during small server frames; here both sides stream and
    # frames are 64 KB, so the kill lands inside multi-line, multi-chunk writes.
    big = json.dumps({"type": "input_audio_buffer.append", "audio": "A" * 65536})

    async def scenario() -> None:
        async with serve(stream_and_read, "127.0.0.1", 0, max_size=None) as server:
            upstream = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            async with rt_record("--upstream", upstream, "--out", str(tmp_path)) as rt:
                ws = await connect(rt.url + GA_PATH, max_size=None)

                async def drain() -> None:
                    with contextlib.suppress(ConnectionClosed):
                        async for _ in ws:
                            pass

                draining = asyncio.create_task(drain())
                for _ in range(300):
                    await ws.send(big)
                    await asyncio.sleep(0.001)
                rt.process.kill()
                await rt.process.wait()
                await asyncio.wait_for(draining, scaled(5))

    run(scenario(), scaled(30))
    (path,) = tmp_path.glob("*.jsonl")
    records, problems = read_records(path)
    lines = path.read_bytes().split(b"\n")
    assert len(problems) <= 1
    if problems:
        assert problems[0].line == len(lines)  # only the cut-off last line
    recorded = frames(records)
    assert len(recorded) > 100
    assert [r["seq"] for r in recorded] == list(range(len(recorded)))


# -- --strict means strict; nothing is lost silently (issue 14, items 1-4) ------------------


async def stream_until_closed(stack: ProxyStack, count: int, frame_bytes: int) -> tuple[int, Any]:
    """Ask for `count` audio deltas; (how many arrived, the close frame the client got)."""
    async with connect(stack.proxy.url + GA_PATH, max_size=None) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "fake.stream", "count": count, "bytes": frame_bytes}))
        got = 0
        try:
            while got < count:
                await ws.recv()
                got += 1
        except ConnectionClosed as closed:
            return got, closed.rcvd
    return got, None


def test_strict_closes_before_a_frame_goes_unrecorded_when_the_budget_is_full(run, proxied):
    reports: list[str] = []

    async def scenario() -> tuple[int, Any, ProxyStack]:
        async with proxied(
            FAST,
            strict=True,
            max_pending_bytes=64 * 1024,
            open_file=opener(lambda raw: SlowFile(raw, delay=0.3)),
            on_write_error=lambda path, exc: reports.append(str(exc)),
        ) as stack:
            got, rcvd = await stream_until_closed(stack, count=2000, frame_bytes=4800)
            await stack.proxy.wait_for_sessions(1, timeout=scaled(20))
            return got, rcvd, stack

    got, rcvd, stack = run(scenario(), scaled(30))
    assert rcvd is not None and rcvd.code == 1011 and got < 2000
    (report,) = reports
    assert FELL_BEHIND in report
    records, problems = read_records(stack.files()[0])
    assert not problems
    server = frames(records, "server")
    # every frame the client got is in the file: session.created, then `got` deltas
    assert len(server) >= 1 + got
    assert [r["event"]["seq"] for r in server[1 : 1 + got]] == list(range(got))


@pytest.mark.parametrize("strict", [False, True])
def test_a_frame_above_the_largest_recorded_size_is_named_as_such(run, proxied, strict):
    async def scenario() -> tuple[int, Any, ProxyStack]:
        async with proxied(FAST, strict=strict, max_frame_bytes=64 * 1024) as stack:
            got, rcvd = await stream_until_closed(stack, count=3, frame_bytes=100_000)
            await stack.proxy.wait_for_sessions(1)
            return got, rcvd, stack

    got, rcvd, stack = run(scenario())
    records, problems = read_records(stack.files()[0])
    notes = [r["message"] for r in records if r["kind"] == "error"]
    assert notes and all("larger than the largest recorded frame (0.0625 MiB)" in n for n in notes)
    assert not any(FELL_BEHIND in n for n in notes)
    if strict:  # the frame never reached the client
        assert got == 0 and rcvd is not None and rcvd.code == 1011
    else:
        assert got == 3 and rcvd is None
        assert notes == [
            "3 frames were not recorded: larger than the largest recorded frame (0.0625 MiB)"
        ]
        (summary,) = stack.proxy.finished
        assert summary.frames_lost == 3 and summary.frames_from_server == 4


@pytest.mark.parametrize("strict", [False, True])
def test_deleting_the_output_folder_mid_call_is_noticed(run, proxied, strict):
    reports: list[str] = []

    async def scenario() -> tuple[int, Any, ProxyStack]:
        async with proxied(
            FAST, strict=strict, on_write_error=lambda path, exc: reports.append(str(exc))
        ) as stack:
            async with connect(stack.proxy.url + GA_PATH) as ws:
                await ws.recv()
                await asyncio.sleep(0.1)  # the first lines are on disk
                shutil.rmtree(stack.out)
                echoed, rcvd = 0, None
                try:
                    for index in range(40):
                        await ws.send(json.dumps({"type": "fake.echo", "n": index}))
                        await ws.recv()
                        echoed += 1
                        await asyncio.sleep(0.01)
                except ConnectionClosed as closed:
                    rcvd = closed.rcvd
            await stack.proxy.wait_for_sessions(1)
            return echoed, rcvd, stack

    echoed, rcvd, stack = run(scenario())
    (report,) = reports
    assert "deleted" in report
    (summary,) = stack.proxy.finished
    assert summary.write_error is not None and "deleted" in summary.write_error
    if strict:
        assert rcvd is not None and rcvd.code == 1011 and echoed < 40
    else:
        assert rcvd is None and echoed == 40  # the call went on


@pytest.mark.parametrize("strict", [False, True])
def test_a_call_that_cannot_get_a_file(run, proxied, strict):
    """Disk full for a new call: outside --strict it goes through unrecorded, with a warning;
    with --strict it is refused. No HTTP body names a path of the proxy's machine."""
    reports: list[str] = []

    def no_room(directory: Path, session_id: str) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device", str(directory / "x.jsonl"))

    async def scenario() -> tuple[Any, ProxyStack]:
        async with proxied(
            FAST,
            strict=strict,
            open_file=no_room,
            on_write_error=lambda path, exc: reports.append(f"{path}: {exc}"),
        ) as stack:
            try:
                async with connect(stack.proxy.url + GA_PATH) as ws:
                    first = await ws.recv()
                    await ws.send(json.dumps({"type": "fake.echo"}))
                    result: Any = (first, await ws.recv())
            except InvalidStatus as refused:
                result = refused.response
            if not strict:
                await stack.proxy.wait_for_sessions(1)
            return result, stack

    result, stack = run(scenario())
    assert len(reports) == 1 and "No space left" in reports[0]
    assert not stack.files()
    if strict:
        assert result.status_code == 503
        assert str(stack.out).encode() not in result.body and b"/" not in result.body
    else:
        assert json.loads(result[0])["type"] == "session.created"  # the call went through
        (summary,) = stack.proxy.finished
        assert not summary.recorded and summary.frames_from_client == 1
        assert summary.write_error is not None and "not recorded" in summary.write_error
