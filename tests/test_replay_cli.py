"""`rt replay` and `rt serve` through click's CliRunner (servers run in a background thread)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import scaled
from rich.console import Console
from rt_cli.main import cli
from rt_cli.replay import LATENCY_BATCH, render_summary
from scripted_server import ScriptedRealtimeServer
from test_replay_schedule import CONVERSATION, write_session
from test_replay_support import QUICK, push_to_talk, record_through
from websockets.asyncio.server import ServerConnection, serve

from recorder.recording import RecordingSummary
from recorder.replay import (
    RecordingFacts,
    ReplayResult,
    ResponseLatency,
    ServerError,
    load_session,
    replay_schedule,
)
from recorder.serve import playbook_from

pytestmark = pytest.mark.slow  # rt replay end to end

SAMPLES = sorted((Path(__file__).parent.parent / "sample_sessions").glob("*.jsonl"))


@contextlib.contextmanager
def in_thread(start: Callable[[], contextlib.AbstractAsyncContextManager[str]]) -> Iterator[str]:
    """Run a server on its own event loop in a thread (CliRunner runs `asyncio.run` itself)."""
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        state["stop"] = asyncio.Event()
        async with start() as url:
            state["url"] = url
            ready.set()
            await state["stop"].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(scaled(10)), "the server did not start"
    try:
        yield state["url"]
    finally:
        loop.call_soon_threadsafe(state["stop"].set)
        thread.join(scaled(10))
        loop.close()


@contextlib.asynccontextmanager
async def scripted() -> Any:
    async with ScriptedRealtimeServer(QUICK) as server:
        yield server.url


def handler_server(handler: Callable[[ServerConnection], Awaitable[None]]) -> Any:
    @contextlib.asynccontextmanager
    async def start() -> Any:
        async with serve(handler, "127.0.0.1", 0) as server:
            yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    return start


@pytest.fixture
def recording(run, proxied) -> Path:
    async def scenario() -> Path:
        async with proxied(QUICK) as stack:
            return await record_through(stack, push_to_talk())

    return run(scenario())


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_replay_prints_the_new_file_and_latencies(recording, tmp_path):
    out = tmp_path / "replays"
    with in_thread(scripted) as url:
        result = invoke("replay", str(recording), "--target", url, "--out", str(out), "--fast")
    assert result.exit_code == 0, result.output
    (new,) = out.glob("*.jsonl")
    assert result.stderr.startswith(
        f"rt replay: {recording} → {url}/v1/realtime?model=gpt-realtime  "
    )
    assert re.search(r"client frames, reactive, --fast\n$", result.stderr)
    lines = result.stdout.splitlines()
    assert re.fullmatch(
        rf"{re.escape(str(new))}  \d+\.\d s  sent (\d+)/\1 client frames · received \d+ server "
        r"frames · errors 0 \(original 0\)",
        lines[0],
    )
    assert lines[1].split() == [
        "#",
        "trigger",
        "status",
        "ttfb",
        "original",
        "ttfb",
        "replay",
        "change",
    ]
    rows = [line.split() for line in lines[3:]]
    assert [row[:3] for row in rows] == [
        ["1", "response.create", "completed"],
        ["2", "response.create", "completed"],
    ]
    assert all(re.fullmatch(r"[+-]\d+\.\d", row[-2]) and row[-1] == "ms" for row in rows)


async def _silent(ws: ServerConnection) -> None:
    await ws.send(json.dumps({"type": "session.created", "event_id": "e", "session": {}}))
    async for _ in ws:
        pass


def test_replay_timeout_exits_1_with_one_line_after_the_summary(recording, tmp_path):
    with in_thread(handler_server(_silent)) as url:
        result = invoke(
            "replay", str(recording), "--target", url, "--out", str(tmp_path), "--timeout", "0.2"
        )
    assert result.exit_code == 1
    assert "sent 1/" in result.stdout and "no responses in either" not in result.stdout
    error = result.stderr.splitlines()[-1]
    assert error.startswith("Error: replay timed out after 0.2 s before client frame 2 of ")
    assert error.endswith(
        "the server sent 0 of 1 session.updated (the recording had all of them); try --timeout or --pace timed"
    )


def test_replay_refused_exits_1(recording, tmp_path):
    async def refuse(ws: ServerConnection) -> None:  # never reached
        pass

    @contextlib.asynccontextmanager
    async def refusing() -> Any:
        def reject(conn: ServerConnection, request: Any) -> Any:
            return conn.respond(403, "no\n")

        async with serve(refuse, "127.0.0.1", 0, process_request=reject) as server:
            yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    out = tmp_path / "replays"
    with in_thread(refusing) as url:
        result = invoke("replay", str(recording), "--target", url, "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: {url}/v1/realtime?model=gpt-realtime refused the connection: HTTP 403"
    )
    assert result.stdout == ""
    assert not out.exists() or list(out.iterdir()) == []  # no session, no file


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speed", "0"], "Invalid value for '--speed'"),
        (["--speed", "2", "--fast"], "--speed and --fast cannot be used together"),
        (["--pace", "eager"], "Invalid value for '--pace'"),
        (["--timeout", "-1"], "Invalid value for '--timeout'"),
        (["--header", "no colon"], "header must look like 'Name: value', not 'no colon'"),
    ],
)
def test_replay_usage_errors_exit_2(tmp_path, args, message):
    path = write_session(tmp_path / "s.jsonl", CONVERSATION)
    result = invoke("replay", str(path), *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_replay_input_errors_exit_1(tmp_path):
    missing = invoke("replay", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    only_server = write_session(tmp_path / "s.jsonl", CONVERSATION[:1])
    result = invoke("replay", str(only_server))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {only_server}: nothing to replay (the recording has no client frames)\n"
    )
    path = write_session(tmp_path / "t.jsonl", CONVERSATION)
    result = invoke("replay", str(path), "--target", "ftp://example.test")
    assert result.exit_code == 1
    assert (
        result.stderr
        == "Error: target must be a ws://, wss:// or https:// URL, not 'ftp://example.test'\n"
    )


def test_replay_warns_about_bad_lines_and_goes_on(tmp_path):
    path = write_session(tmp_path / "s.jsonl", CONVERSATION[:2])
    with open(path, "a") as fh:
        fh.write("garbage\n")
    with in_thread(scripted) as url:
        result = invoke(
            "replay", str(path), "--target", url, "--out", str(tmp_path / "o"), "--fast"
        )
    assert result.exit_code == 0, result.output
    assert f"warning: {path}:5: not valid JSON" in result.stderr
    assert result.stderr.count("warning:") == 1


def test_render_summary_exact_output():
    summary = RecordingSummary(
        path=Path("sessions/new.jsonl"),
        session_id="new",
        duration_s=3.25,
        frames_from_client=12,
        frames_from_server=80,
        bytes_from_client=1,
        bytes_from_server=2,
        frames_lost=0,
        write_error=None,
    )
    result = ReplayResult(summary, "ws://x", 12, 12, 80, None)
    original = RecordingFacts(
        12,
        75,
        (
            ResponseLatency("r1", "response.create", 1.0, 312.5, "completed"),
            ResponseLatency("r2", "input_audio_buffer.speech_stopped", 2.0, None, "completed"),
        ),
        (),
    )
    replayed = RecordingFacts(
        12,
        80,
        (ResponseLatency("q1", "response.create", 1.1, 298.0, "completed"),),
        (ServerError(2.5, "invalid_request_error", "bad", "Nope."),),
    )
    console = Console(file=io.StringIO(), width=100, soft_wrap=True)
    console.print(render_summary(result, original, replayed))
    assert console.file.getvalue() == (  # type: ignore[attr-defined]
        "sessions/new.jsonl  3.2 s  sent 12/12 client frames · received 80 server frames · errors 1 (original 0)\n"
        "  error at 2.500 s: invalid_request_error/bad: Nope.\n"
        "  #   trigger           status      ttfb original   ttfb replay     change\n"
        "  ────────────────────────────────────────────────────────────────────────\n"
        "  1   response.create   completed        312.5 ms      298.0 ms   -14.5 ms\n"
        "  2   speech_stopped    missing                 –             –           \n"
    )


def test_render_summary_of_a_long_call_is_one_table_printed_in_batches():
    """Every response's latency, in tables of LATENCY_BATCH rows with the same widths: they
    read as one table."""
    summary = RecordingSummary(
        path=Path("sessions/new.jsonl"),
        session_id="new",
        duration_s=600.0,
        frames_from_client=5000,
        frames_from_server=90000,
        bytes_from_client=1,
        bytes_from_server=2,
        frames_lost=0,
        write_error=None,
    )
    count = 2 * LATENCY_BATCH + 7
    responses = tuple(
        ResponseLatency(f"r{n}", "response.create", float(n), 300.0 + n % 7, "completed")
        for n in range(count)
    )
    facts = RecordingFacts(5000, 90000, responses, ())
    result = ReplayResult(summary, "ws://x", 1, 1, 1, None)
    console = Console(file=io.StringIO(), width=100, soft_wrap=True)
    console.print(render_summary(result, facts, facts))
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 + 2 + count  # the head, the table's header and rule, every row
    assert {len(line) for line in lines[1:]} == {len(lines[1])}  # one table's widths
    assert lines[-1].split()[0] == str(count)
    assert lines[3 + LATENCY_BATCH].split()[0] == str(LATENCY_BATCH + 1)  # the next batch


def test_serve_usage_errors_exit_2(tmp_path):
    path = str(write_session(tmp_path / "s.jsonl", CONVERSATION))
    cases = [
        (["--speed", "2", "--fast"], "--speed and --fast cannot be used together"),
        (["--listen", "nowhere"], "--listen must be HOST:PORT"),
        (["--listen", "0.0.0.0:0"], "is reachable from other machines"),
        (["--speed", "0"], "Invalid value for '--speed'"),
    ]
    for args, message in cases:
        result = invoke("serve", path, *args)
        assert result.exit_code == 2, args
        assert message in result.stderr, (args, result.stderr)


def test_help_has_examples():
    for command in ("replay", "serve"):
        result = invoke(command, "--help")
        assert result.exit_code == 0
        assert "\nExample:\n" in result.stdout.replace("  Example:", "Example:")


@pytest.mark.skipif(not SAMPLES, reason="sample_sessions/*.jsonl not generated yet")
@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_every_sample_session_replays(sample, tmp_path):
    with in_thread(scripted) as url:
        result = invoke(
            "replay",
            str(sample),
            "--target",
            url,
            "--out",
            str(tmp_path),
            "--pace",
            "timed",
            "--fast",
        )
    assert result.exit_code == 0, result.output
    assert re.search(r"sent (\d+)/\1 client frames", result.stdout)
    session = load_session(sample)
    book = playbook_from(session)
    if sample.stem.startswith("live-"):  # GPT-Live: the client speaks first (session.start)
        assert replay_schedule(session).sends[0].wait_for == {}
        assert not book.greeting
    else:
        assert replay_schedule(session).sends[0].wait_for == {"session.created": 1}
        assert book.greeting
    assert book.server_frames == len(session.frames) - len(book.cues)
