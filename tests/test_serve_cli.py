"""`rt serve` as a CI script runs it: a real process on port 0, real clients, real exit."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import scaled
from test_replay_support import QUICK, push_to_talk, record_through, server_types
from websockets.asyncio.client import connect


@pytest.fixture
def recording(run, proxied) -> Path:
    async def scenario() -> Path:
        async with proxied(QUICK) as stack:
            return await record_through(stack, push_to_talk(turns=1))

    return run(scenario())


def start(*args: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    """Start `rt serve`; return the process, its URL and the banner lines (stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rt_cli.main", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert process.stderr is not None
    banner: list[str] = []
    for _ in range(10):
        line = process.stderr.readline()
        banner.append(line)
        match = re.search(r"ws://127\.0\.0\.1:\d+", line)
        if match:
            return process, match.group(0), banner
    process.kill()
    raise AssertionError(f"no URL in {banner}")


def finish(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Wait for the exit; then read the rest of both pipes (through the buffers `start` used)."""
    process.wait(timeout=scaled(10))
    assert process.stdout is not None and process.stderr is not None
    return process.stdout.read(), process.stderr.read()


async def converse(url: str, recording: Path) -> list[str]:
    """Send the recorded client frames; return the server event types, then hang up."""
    texts = [
        json.dumps(json.loads(line)["event"])
        for line in recording.read_text().splitlines()
        if '"from":"client"' in line
    ]
    expected = len(server_types(recording))
    got: list[str] = []
    async with connect(url + "/v1/realtime?model=gpt-realtime", max_size=None) as ws:
        for text in texts:
            await ws.send(text)
        while len(got) < expected:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), scaled(5)))["type"])
    return got


def test_serve_exits_after_the_first_client(recording):
    process, url, banner = start(str(recording), "--listen", "127.0.0.1:0", "--fast")
    try:
        got = asyncio.run(converse(url, recording))
        stdout, stderr = finish(process)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert got == server_types(recording)
    banner = "".join(banner).splitlines() + stderr.splitlines()
    assert banner[0].startswith(f"rt serve: {url} plays {recording} (")
    assert "without delays), at any path" in banner[0]
    assert f'AsyncOpenAI(api_key="sk-test", websocket_base_url="{url}/v1")' in banner[1]
    assert 'client.realtime.connect(model="gpt-realtime")' in banner[1]
    assert "exits after the first client" in banner[2]
    (line,) = stdout.splitlines()
    assert re.fullmatch(
        rf"127\.0\.0\.1:\d+  /v1/realtime\?model=gpt-realtime  \d+\.\d s  in \d+ frames · "
        rf"out {len(got)} frames  closed by client 1000",
        line,
    )
    assert "connected: /v1/realtime?model=gpt-realtime" in banner[3]


def test_serve_loop_keeps_serving_until_interrupted(recording):
    process, url, _ = start(str(recording), "--listen", "127.0.0.1:0", "--speed", "8", "--loop")
    try:
        first = asyncio.run(converse(url, recording))
        second = asyncio.run(converse(url, recording))
        process.send_signal(signal.SIGINT)
        stdout, _ = finish(process)
    finally:
        process.kill()
    assert process.returncode == 0
    assert first == second == server_types(recording)
    assert len(stdout.splitlines()) == 2
