"""`rt tail` and recorder.follow: complete lines of growing files, switching to newer sessions,
and a real `rt tail` process following a file the recording proxy is writing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import scaled
from rt_cli.main import cli
from scripted_server import Script
from test_show import EXPECTED_VOICE_TURN, voice_turn, with_file
from websockets.asyncio.client import connect

from recorder.errors import InputError
from recorder.follow import GrowingFile, NewLine, Switched, follow_sessions, newest_session

pytestmark = pytest.mark.slow  # rt tail following files being written

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_sessions"


# -- GrowingFile -------------------------------------------------------------------------------


def test_a_line_is_only_read_once_its_newline_is_written(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"")
    with GrowingFile(path) as growing, open(path, "ab", buffering=0) as writer:
        assert growing.read_lines() == []
        writer.write(b'{"kind":"fra')
        assert growing.read_lines() == []
        assert growing.partial_bytes == 12
        writer.write(b'me"}\n\n{"b":1}\n{"c"')
        assert growing.read_lines() == [
            NewLine(path, 1, b'{"kind":"frame"}\n'),
            NewLine(path, 3, b'{"b":1}\n'),  # blank lines count, as in iter_records
        ]
        assert growing.partial_bytes == 4
        writer.write(b":2}\n")
        assert growing.read_lines() == [NewLine(path, 4, b'{"c":2}\n')]
        assert growing.read_lines() == []
        assert growing.next_line_number == 5


def test_long_lines_arrive_across_reads(tmp_path):
    path = tmp_path / "s.jsonl"
    line = b'{"audio":"' + b"A" * 10_000 + b'"}\n'
    path.write_bytes(line * 3)
    with GrowingFile(path) as growing:
        got: list[NewLine] = []
        for _ in range(100):
            got.extend(growing.read_lines(limit=4096))
            if growing.caught_up:
                break
        assert [n.data for n in got] == [line] * 3


def test_lines_are_numbered_as_every_other_reader_numbers_them(tmp_path):
    """Only a line feed ends a line (a stray carriage return inside one does not), as in
    `recorder.reading`, so tail names the same line numbers as show and stats."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'\r\x00\n{"a":1}\r\n{"b":\r2}\n')
    with GrowingFile(path) as growing:
        assert [(n.number, n.data) for n in growing.read_lines()] == [
            (1, b"\r\x00\n"),
            (2, b'{"a":1}\r\n'),
            (3, b'{"b":\r2}\n'),
        ]


def test_a_file_with_carriage_returns_alone_is_read_line_by_line(tmp_path):
    """Old Mac line endings, as `recorder.reading` reads them: when the start of the file
    holds no line feed, `\\r` ends each line."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"a":1}\r{"b":2}\r{"c"')
    with GrowingFile(path) as growing:
        assert [(n.number, n.data.rstrip(b"\r")) for n in growing.read_lines()] == [
            (1, b'{"a":1}'),
            (2, b'{"b":2}'),
        ]
        assert growing.partial_bytes == 4


def test_tail_of_a_file_with_carriage_returns_alone(tmp_path):
    lines = (SAMPLES / "ga-text-only.jsonl").read_bytes().splitlines()
    path = tmp_path / "mac.jsonl"
    path.write_bytes(b"\r".join(lines) + b"\r")
    frames = sum(1 for line in lines if json.loads(line)["kind"] == "frame")
    result = CliRunner().invoke(cli, ["tail", str(path), "--max-seconds", "0", "--json"])
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == frames


# -- follow_sessions -----------------------------------------------------------------------------


@dataclass
class ScriptedWaits:
    """A `sleep` for follow_sessions that does the next step of the script instead of waiting."""

    steps: list[Callable[[], None]]
    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        if not self.steps:
            raise ScriptDone
        self.slept.append(seconds)
        self.now += 10.0  # past RESCAN_EVERY: every wake-up rescans the directory
        self.steps.pop(0)()

    def clock(self) -> float:
        return self.now


class ScriptDone(Exception):
    """The script has no steps left: the follower would now wait forever."""


def follow(target: Path, waits: ScriptedWaits) -> list[NewLine | Switched]:
    events: list[NewLine | Switched] = []
    with contextlib.suppress(ScriptDone):
        for event in follow_sessions(target, interval=0.1, clock=waits.clock, sleep=waits.sleep):
            events.append(event)
    return events


def describe(events: list[NewLine | Switched]) -> list[str]:
    return [
        f"switch {e.path.name} from {e.previous.name if e.previous else None}"
        if isinstance(e, Switched)
        else f"{e.path.name}:{e.number} {e.data.decode().strip()}"
        for e in events
    ]


def append(path: Path, text: str) -> Callable[[], None]:
    def step() -> None:
        with open(path, "a") as fh:
            fh.write(text)

    return step


def test_follows_the_newest_session_and_switches_when_a_new_one_appears(tmp_path):
    old, live = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    old.write_text("old 1\n")
    live.write_text("live 1\n")
    os.utime(old, (1_000, 1_000))  # b.jsonl is the most recently written
    (tmp_path / "notes.txt").write_text("not a session\n")
    new = tmp_path / "c.jsonl"
    waits = ScriptedWaits(
        [
            append(live, "live 2\nlive "),
            append(new, "new 1\n"),  # appears while b.jsonl still has lines to read
            append(live, "3\n"),  # too late: tail has switched
            append(new, "new 2\n"),
        ]
    )
    assert describe(follow(tmp_path, waits)) == [
        "switch b.jsonl from None",
        "b.jsonl:1 live 1",
        "b.jsonl:2 live 2",
        "switch c.jsonl from b.jsonl",
        "c.jsonl:1 new 1",
        "c.jsonl:2 new 2",
    ]


def test_the_old_session_is_read_to_its_end_before_switching(tmp_path):
    live, new = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    live.write_text("1\n")

    def both() -> None:
        append(live, "2\n3\n")()
        append(new, "x\n")()

    assert describe(follow(tmp_path, ScriptedWaits([both]))) == [
        "switch a.jsonl from None",
        "a.jsonl:1 1",
        "a.jsonl:2 2",
        "a.jsonl:3 3",
        "switch b.jsonl from a.jsonl",
        "b.jsonl:1 x",
    ]


def test_an_empty_directory_waits_for_the_first_session(tmp_path):
    first = tmp_path / "first.jsonl"
    waits = ScriptedWaits([lambda: None, append(first, "hello\n")])
    assert describe(follow(tmp_path, waits)) == [
        "switch first.jsonl from None",
        "first.jsonl:1 hello",
    ]
    assert newest_session(tmp_path) == first


def test_a_file_is_followed_on_its_own(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text("1\n")
    waits = ScriptedWaits([append(tmp_path / "other.jsonl", "x\n"), append(path, "2\n")])
    assert describe(follow(path, waits)) == [
        "switch one.jsonl from None",
        "one.jsonl:1 1",
        "one.jsonl:2 2",
    ]


def test_max_seconds_bounds_the_follower(tmp_path):
    (tmp_path / "a.jsonl").write_text("1\n")
    started = time.monotonic()
    events = list(follow_sessions(tmp_path, interval=0.01, max_seconds=0.2))
    assert 0.2 <= time.monotonic() - started < scaled(2)
    assert describe(events) == ["switch a.jsonl from None", "a.jsonl:1 1"]


def test_a_missing_target_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file or directory"):
        next(follow_sessions(tmp_path / "nope"))
    result = CliRunner().invoke(cli, ["tail", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path / 'nope'}: no such file or directory\n"


# -- rt tail on files -------------------------------------------------------------------------


def tail(*args: str) -> object:
    return CliRunner().invoke(cli, ["tail", *args], catch_exceptions=False)


def test_tail_of_a_finished_session_prints_what_show_prints(tmp_path):
    voice_turn().write(tmp_path / "call.jsonl")
    result = tail(str(tmp_path), "--exit-on-close", "--interval", "0.01")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert result.stdout == with_file(EXPECTED_VOICE_TURN, tmp_path / "call.jsonl")  # type: ignore[attr-defined]
    assert result.stderr == f"following {tmp_path / 'call.jsonl'}\n"  # type: ignore[attr-defined]
    as_json = tail(str(tmp_path), "--exit-on-close", "--json", "--type", "error")
    assert [json.loads(line)["type"] for line in as_json.stdout.splitlines()] == ["error"]  # type: ignore[attr-defined]


def test_tail_warns_about_bad_lines_and_goes_on(tmp_path):
    b = voice_turn()
    b.lines.insert(5, "garbage\n")
    path = b.write(tmp_path / "call.jsonl")
    result = tail(str(path), "--exit-on-close", "--interval", "0.01")
    assert result.stdout == with_file(EXPECTED_VOICE_TURN, path)  # type: ignore[attr-defined]
    assert result.stderr.splitlines() == [  # type: ignore[attr-defined]
        f"following {path}",
        f"warning: {path}:6: not valid JSON (Expecting value: line 1 column 1 (char 0))",
    ]


def test_tail_switches_to_a_new_session_under_a_separator(tmp_path):
    first = voice_turn(session_id="first").write(tmp_path / "a.jsonl")
    second = tmp_path / "b.jsonl"
    lines = voice_turn(session_id="second").lines

    def record_second() -> None:
        time.sleep(0.3)
        with open(second, "w") as fh:
            for line in lines:
                fh.write(line)
                fh.flush()
                time.sleep(0.005)

    writer = threading.Thread(target=record_second)
    writer.start()
    try:
        result = tail(str(tmp_path), "--max-seconds", str(scaled(1.5)), "--interval", "0.02")
    finally:
        writer.join()
    expected_second = with_file(
        EXPECTED_VOICE_TURN.replace("session     call-1", "session     second"), second
    )
    assert result.stdout == (  # type: ignore[attr-defined]
        with_file(EXPECTED_VOICE_TURN.replace("session     call-1", "session     first"), first)
        + f"\n══ {second}\n"
        + expected_second
    )
    assert result.stderr == f"following {first}\nfollowing {second}\n"  # type: ignore[attr-defined]


# -- a real `rt tail` process following a live recording ------------------------------------------


@dataclass
class TailProcess:
    process: asyncio.subprocess.Process
    lines: list[tuple[float, str]] = field(default_factory=list)

    async def read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append((time.monotonic(), raw.decode()))

    async def wait_for_line(self, pattern: str, timeout: float = 10.0) -> float:
        """When the first line containing `pattern` was printed."""

        async def first() -> float:
            while True:
                for at, line in self.lines:
                    if pattern in line:
                        return at
                await asyncio.sleep(0.01)

        return await asyncio.wait_for(first(), scaled(timeout))

    @property
    def text(self) -> str:
        return "".join(line for _, line in self.lines)


@contextlib.asynccontextmanager
async def rt_tail(*args: str) -> AsyncIterator[TailProcess]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rt_cli.main",
        "tail",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    tail = TailProcess(process)
    reader = asyncio.create_task(tail.read())
    try:
        yield tail
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        await reader


SLOW_RESPONSE = Script(
    created_delay=0.0,
    first_delta_delay=scaled(0.1),
    delta_interval=scaled(0.2),  # six audio deltas: the response streams for over a second
    transcript="One two three four five six.",
)


def test_tail_prints_events_while_the_session_is_recorded(run, proxied):
    async def scenario() -> tuple[TailProcess, dict[str, float], str]:
        async with proxied(SLOW_RESPONSE) as stack:
            async with rt_tail(
                str(stack.out),
                "--exit-on-close",
                "--interval",
                "0.05",
                "--max-seconds",
                str(scaled(20)),
            ) as tail:
                assert tail.process.stderr is not None
                waiting = await asyncio.wait_for(tail.process.stderr.readline(), scaled(10))
                assert waiting.decode().startswith("waiting for a session in ")
                times: dict[str, float] = {}
                async with connect(stack.proxy.url + "/v1/realtime?model=gpt-realtime") as ws:
                    await ws.send(json.dumps({"type": "response.create"}))
                    async for message in ws:
                        event_type = json.loads(message)["type"]
                        if event_type in ("response.created", "response.done"):
                            times.setdefault(f"client saw {event_type}", time.monotonic())
                        if event_type == "response.done":
                            break
                    times["tail printed response.done"] = await tail.wait_for_line("response.done ")
                    times["client closing"] = time.monotonic()
                await stack.proxy.wait_for_sessions(1)
                assert await asyncio.wait_for(tail.process.wait(), scaled(10)) == 0
                times["tail printed response.created"] = await tail.wait_for_line(
                    "response.created "
                )
                stderr = (await tail.process.stderr.read()).decode()
            return tail, times, stderr

    tail, times, stderr = run(scenario(), timeout=scaled(40))
    # the first response's lines appeared while it was still streaming, long before the close
    assert times["tail printed response.created"] < times["client saw response.done"]
    assert times["tail printed response.done"] < times["client closing"]
    lines = tail.text.splitlines()
    body = lines[lines.index("") + 1 :]
    assert [line[16:].split()[0] for line in body] == [
        "session.created",
        "response.create",
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
        "rate_limits.updated",
        "close",
    ]
    assert '"One two three four five six." · 6 deltas' in tail.text
    # the same timeline as `rt show` of the finished file
    (path,) = [
        Path(line.split(" ", 1)[1]) for line in stderr.splitlines() if line.startswith("following ")
    ]
    assert CliRunner().invoke(cli, ["show", str(path)]).stdout == tail.text


def test_ctrl_c_stops_tail_with_status_0(run, tmp_path):
    builder = voice_turn()
    builder.lines.pop()  # a session still being recorded: no close line yet
    builder.write(tmp_path / "live.jsonl")

    async def scenario() -> tuple[int, str, str]:
        async with rt_tail(str(tmp_path), "--interval", "0.05") as tail:
            await tail.wait_for_line("error ")
            tail.process.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(tail.process.wait(), scaled(10))
            assert tail.process.stderr is not None
            stderr = (await tail.process.stderr.read()).decode()
        return code, tail.text, stderr

    code, text, stderr = run(scenario())
    assert code == 0
    assert "Traceback" not in stderr and "Aborted" not in stderr
    expected = with_file(EXPECTED_VOICE_TURN, tmp_path / "live.jsonl")
    assert text == expected.rsplit("    2.500", 1)[0]
