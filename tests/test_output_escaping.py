"""Terminal and CSV injection (issue 14, item 9): every command's output on a recording whose
every string field holds escape sequences, and whose file name does too.

What a recording says reaches the terminal through many doors: a table cell, a heading, a
warning, an error, a progress line, a summary. None may let a control character through (an
ESC sequence retitles, recolours or clears the terminal; `\\x9b` is the same in one byte on
some terminals): text formats write them as `\\x1b`, JSON as `\\u001b`. A CSV cell that starts
with `=`, `+`, `-` or `@` (and is not a number) is a formula to a spreadsheet: it gets a leading
apostrophe. The CLI runs with `color=True`, so click does not strip ANSI codes the way it does
for a pipe and hide what a terminal would receive.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import scaled
from rich.console import Console
from rt_cli.main import cli
from rt_cli.serve import banner, client_line, unmatched_line
from websockets.asyncio.client import connect

from recorder.escaping import escape_control
from recorder.replay import load_session
from recorder.serve import ClientFinished, MockRealtimeServer, UnmatchedFrame, playbook_from

SAMPLES = Path(__file__).resolve().parent.parent / "sample_sessions"
EVIL = "\x1b]0;owned\x07\x1b[2J\x9b31m\x7f"
FORMULA = '=HYPERLINK("http://evil.example/")'
# every control character but the line feed (tables and JSON end lines with it)
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
FORMULA_CELL = re.compile(r"^[=+\-@]")


def hostile_recording(directory: Path) -> Path:
    """The errors-and-rate-limits sample with escape sequences (and formulas) in the model, a
    response status, error type/code/message, a rate limit name, a transcript, an event type,
    the close reason and the file name; and one damaged line, for a warning naming the file."""
    records: list[dict[str, Any]] = []
    for line in (SAMPLES / "errors-and-rate-limits.jsonl").read_bytes().splitlines():
        record = json.loads(line)
        event = record.get("event")
        if record["kind"] == "close":
            record["reason"] = "bye" + EVIL
        if isinstance(event, dict):
            kind = event.get("type")
            if kind == "session.created":
                event["session"]["model"] = FORMULA + EVIL
            elif kind == "error":
                event["error"].update(
                    type="+type" + EVIL, code="@code" + EVIL, message="-boom" + EVIL
                )
            elif kind == "rate_limits.updated":
                for limit in event["rate_limits"]:
                    limit["name"] = "-tokens" + EVIL
            elif kind == "response.done":
                event["response"]["status"] = "completed" + EVIL
            elif kind == "response.output_audio_transcript.delta":
                event["delta"] += EVIL
        records.append(record)
    weird = {"kind": "frame", "seq": 0, "t": records[2]["t"], "from": "server"}
    records.insert(3, {**weird, "event": {"type": "weird" + EVIL}})
    for seq, record in enumerate(r for r in records if r["kind"] == "frame"):
        record["seq"] = seq
    path = directory / ("evil\x1b[31m=.jsonl")
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in records]
    lines.append(b'{"kind":"frame","damaged' + EVIL.encode())
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile_recording(tmp_path_factory.mktemp("escaping"))


def ignore(warning: object) -> None:
    """For library calls here: the damaged line's warning is another test's business."""


def invoke(*args: str | Path, usage_error: bool = False) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, color=True)
    assert result.exit_code in ((2,) if usage_error else (0, 1)), result.output
    return result


def assert_no_control(result: Result) -> None:
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        found = CONTROL.search(text)
        assert found is None, (
            f"{name}: {found.group()!r} in {text[max(0, found.start() - 60) :][:120]!r}"
        )


def assert_no_formula(text: str) -> None:
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            if FORMULA_CELL.match(cell):
                try:
                    float(cell)
                except ValueError:
                    pytest.fail(f"formula cell {cell!r}")


# -- every format of every command that renders rows ---------------------------------------------

FORMATS = ("table", "json", "csv", "markdown")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("by", ["response", "session"])
def test_stats(recording, fmt, by):
    result = invoke("stats", recording, "--format", fmt, "--by", by)
    assert_no_control(result)
    if fmt == "csv":
        assert_no_formula(result.stdout)
        assert "'=HYPERLINK(" in result.stdout
    if fmt == "json":
        models = {row["model"] for row in json.loads(result.stdout)["responses"]}
        assert models == {FORMULA + EVIL}  # JSON keeps the value, escaped as JSON


@pytest.mark.parametrize("fmt", FORMATS)
def test_ls(recording, fmt):
    result = invoke("ls", recording, "--format", fmt)
    assert_no_control(result)
    if fmt == "csv":
        assert_no_formula(result.stdout)
        (row,) = list(csv.DictReader(io.StringIO(result.stdout)))
        assert row["model"] == "'" + escape_control(FORMULA + EVIL)
        assert row["file"] == escape_control(str(recording))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM sessions",
        "SELECT * FROM errors",
        "SELECT * FROM rate_limits",
        "SELECT type, text, event FROM events",
        "SELECT '\x1b[2J' AS \"\x1b]0;column\x07\", '@SUM(1)' AS f, -1.5 AS n",
    ],
)
def test_sql(recording, sql, fmt):
    result = invoke("sql", sql, recording, "--format", fmt)
    assert_no_control(result)
    if fmt == "csv":
        assert_no_formula(result.stdout)
    if fmt == "json" and "event" in sql:
        events = [row["event"] for row in json.loads(result.stdout)]
        assert {"type": "weird" + EVIL} in events  # the JSON column is the same value


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_diff(recording, fmt):
    assert_no_control(invoke("diff", recording, recording, "--format", fmt))


@pytest.mark.parametrize("args", [[], ["-v"], ["--format", "json"]])
def test_check(recording, args, tmp_path):
    result = invoke("check", recording, *args, "--markdown", tmp_path / "summary.md")
    assert_no_control(result)
    assert not CONTROL.search((tmp_path / "summary.md").read_text())


# -- timelines, exports, report: their terminal lines ------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["show"],
        ["show", "--json"],
        ["show", "--all"],
        ["tail", "--max-seconds", "0"],
        ["tail", "--max-seconds", "0", "--json"],
    ],
)
def test_timelines(recording, args):
    assert_no_control(invoke(args[0], recording, *args[1:]))


def test_export_wav_and_parquet(recording, tmp_path):
    assert_no_control(invoke("export", "wav", recording, "--out", tmp_path / "wav"))
    assert_no_control(invoke("export", "parquet", recording, "--out", tmp_path / "pq"))


def test_report(recording, tmp_path):
    result = invoke("report", recording, "--no-audio", "-o", tmp_path / "report.html")
    assert_no_control(result)
    assert "warning: " in result.stderr  # the damaged line is named, escaped


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["stats", "missing\x1b[2J.jsonl"],
        ["sql", 'SELECT "col\x1b[2J" FROM sessions'],
        ["sql", "SELECT 1 FROM read_text('\x1b[2J')"],
    ],
)
def test_errors(recording, args):
    result = invoke(*args, *([recording] if args[0] == "sql" else []))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert_no_control(result)


def test_usage_errors(recording):
    result = invoke("diff", "missing\x1b[2J.jsonl", recording, usage_error=True)
    assert "Error: " in result.stderr
    assert_no_control(result)


# -- replay and serve: what the other side sent ----------------------------------------------------


def test_replay_summary_of_a_hostile_server(recording, tmp_path, run):
    """`rt replay` against `rt serve` playing the hostile recording: the server's error
    messages and close reason come back with escape sequences in them."""

    async def replay_against_mock() -> Result:
        playbook = playbook_from(
            load_session(recording, keep_payloads=("server",), on_warning=ignore)
        )
        async with MockRealtimeServer(playbook, fast=True) as server:
            return await asyncio.to_thread(
                invoke,
                "replay",
                recording,
                "--target",
                server.url + "/v1/realtime?model=x",
                "--fast",
                "--pace",
                "timed",
                "--timeout",
                str(scaled(5)),
                "--out",
                tmp_path / "out",
            )

    result = run(replay_against_mock())
    assert "error" in result.stdout
    assert_no_control(result)


def test_serve_lines_about_a_hostile_client(recording, tmp_path):
    """`rt serve`'s lines name the path a client asked for and the types it sent."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    console.print(unmatched_line(UnmatchedFrame("127.0.0.1:1", "x" + EVIL, 3)))
    finished = ClientFinished("127.0.0.1:1", "/v1" + EVIL, 1, 2, 0, "client", 1000, EVIL, 0.5)
    console.print(client_line(finished))
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())  # rich's own colours
    assert not CONTROL.search(text), text


def test_serve_banner_names_a_hostile_file(recording, run):
    async def banner_lines() -> str:
        recorded = load_session(recording, keep_payloads=("server",), on_warning=ignore)
        out = io.StringIO()
        async with MockRealtimeServer(playbook_from(recorded), fast=True) as server:
            console = Console(file=out, force_terminal=False, width=300)
            for line in banner(server, recorded, keep_serving=False, remote=False):
                console.print(line)
            async with connect(server.url + "/v1/realtime"):
                pass
        return out.getvalue()

    assert not CONTROL.search(run(banner_lines()))


# -- GPT-Live: its own fields reach the same doors -------------------------------------------


def hostile_live_recording(directory: Path) -> Path:
    """The live-websocket sample with escape sequences (and formulas) in the session's name,
    the model, both sides' transcripts, a delegation and the close reason."""
    records: list[dict[str, Any]] = []
    for line in (SAMPLES / "live-websocket.jsonl").read_bytes().splitlines():
        record = json.loads(line)
        event = record.get("event")
        if record["kind"] == "session":
            record["name"] = "=call" + EVIL
        elif record["kind"] == "close":
            record["reason"] = "bye" + EVIL
        if isinstance(event, dict):
            kind = event.get("type")
            if kind == "session.started":
                event["session"]["model"] = FORMULA + EVIL
            elif kind in ("session.output_transcript.delta", "session.input_transcript.delta"):
                event["delta"] += EVIL
            elif kind == "session.delegation.created":
                event["delegation"].update(target="@target" + EVIL, response_id="-r" + EVIL)
        records.append(record)
    path = directory / "live\x1b[31m=.jsonl"
    path.write_bytes(b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records))
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["show"],
        ["show", "--all"],
        ["show", "--json"],
        ["tail", "--max-seconds", "0"],
        ["stats", "--format", "table"],
        ["stats", "--by", "session", "--format", "csv"],
        ["ls", "--format", "csv"],
        ["ls", "--format", "markdown"],
        ["diff"],
        ["check", "-v"],
        ["sql", "SELECT * FROM sessions", "--format", "csv"],
    ],
)
def test_gpt_live_recording(args, tmp_path):
    path = hostile_live_recording(tmp_path)
    before = [path, path] if args[0] == "diff" else [path]
    if args[0] == "sql":
        result = invoke("sql", args[1], path, *args[2:])
    else:
        result = invoke(args[0], *before, *args[1:])
    assert_no_control(result)
    if args[0] != "check":  # (its lines name checks and figures, not what was said)
        assert "\\x1b" in result.stdout or "\\u001b" in result.stdout  # the hostile text, shown
    if "csv" in args:
        assert_no_formula(result.stdout)
