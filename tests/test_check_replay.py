"""`rt check --target`: real recordings replayed against the scripted stand-in server (and
`rt serve`), with the latency or the behaviour of the new version changed."""

from __future__ import annotations

import contextlib
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import ProxyStack
from rt_cli.main import cli
from scripted_server import Script, ScriptedRealtimeServer
from test_replay_cli import in_thread
from test_replay_support import Client, push_to_talk, record_through

from recorder.check import MANIFEST
from recorder.replay import load_session
from recorder.serve import MockRealtimeServer, playbook_from

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BASE_DELAY = 0.25  # seconds to first audio: large enough that loopback jitter is well under 20%
CONFIG = """\
[[checks]]
expect = ["ttfb_ms.p50 <= +20%", "ttfb_ms.max <= +20%", "errors == 0"]

[compare]
tool_calls = true
transcript_similarity = 0.9
statuses = true
error_types = true
"""


def script(delay: float = BASE_DELAY, **changes: Any) -> Script:
    return Script(
        created_delay=0.005, first_delta_delay=delay, response_audio_ms=200, delta_ms=100, **changes
    )


def serving(the_script: Script) -> Any:
    @contextlib.asynccontextmanager
    async def start() -> Any:
        async with ScriptedRealtimeServer(the_script) as server:
            yield server.url

    return start


def rt(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["check", *map(str, args)], catch_exceptions=False)


def record(run: Any, proxied: Any, scenario: Any, the_script: Script) -> Path:
    async def go() -> Path:
        stack: ProxyStack
        async with proxied(the_script) as stack:
            return await record_through(stack, scenario)

    return run(go())


def weather_question(c: Client) -> Any:
    """A typed question, a tool call, its output, then the spoken answer."""

    async def scenario(c: Client) -> None:
        await c.until("session.created")
        tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
        session = {"type": "realtime", "tools": tools, "audio": {"input": {"turn_detection": None}}}
        await c.send("session.update", session=session)
        await c.until("session.updated")
        question = {"type": "input_text", "text": "What is the weather in Paris?"}
        await c.send(
            "conversation.item.create",
            item={"type": "message", "role": "user", "content": [question]},
        )
        await c.send("response.create")
        done = await c.until("response.done")
        call = done["response"]["output"][0]
        output = {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
        await c.send("conversation.item.create", item=output)
        await c.send("response.create")
        await c.until("response.done")

    return scenario(c)


def test_the_same_latency_passes_and_300_ms_more_fails_the_relative_limit(run, proxied, tmp_path):
    original = record(run, proxied, push_to_talk(turns=2), script())
    config = tmp_path / "rt-check.toml"
    config.write_text(CONFIG)
    with in_thread(serving(script())) as same:
        result = rt(
            original,
            "--config",
            config,
            "--target",
            same,
            "--out",
            tmp_path / "same",
            "--junit",
            tmp_path / "same.xml",
        )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "PASSED: 8 passed"
    assert f"replayed at {same}" in result.stdout
    assert "baseline: the recordings replayed" in result.stdout
    # the run is kept, with a manifest pairing each new recording with its original
    manifest = json.loads((tmp_path / "same" / MANIFEST).read_text())
    (entry,) = manifest["replays"]
    assert entry["original"] == str(original) and entry["stopped"] is None
    assert (tmp_path / "same" / entry["replay"]).is_file()
    root = ET.parse(tmp_path / "same.xml").getroot()
    assert root.get("tests") == "8" and root.get("failures") == "0"
    assert {c.get("name") for c in root.iter("testcase")} >= {
        "replay completed",
        "ttfb_ms.p50 <= +20%",
    }

    with in_thread(serving(script(BASE_DELAY + 0.3))) as slower:
        result = rt(original, "--config", config, "--target", slower, "--out", tmp_path / "slower")
    assert result.exit_code == 1, result.output
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
    assert [line.split(" · ")[0] for line in failures] == [
        "FAIL ttfb_ms.p50 <= +20%",
        "FAIL ttfb_ms.max <= +20%",
    ]
    message = failures[0].split(" · ")[1]
    assert message.startswith(f"{original}: ttfb_ms.p50 = ")
    assert "largest change: response " in message and "ttfb_ms " in message
    change = float(message.rsplit("(", 1)[1].rstrip(")"))
    assert 250 < change < 400  # the 300 ms the new version added, named on the response

    # the first run is a stored baseline: the slow version against it fails the same way,
    # another run of the same version passes
    with in_thread(serving(script(BASE_DELAY + 0.3))) as slower:
        result = rt(
            original,
            "--config",
            config,
            "--target",
            slower,
            "--baseline",
            tmp_path / "same",
            "--out",
            tmp_path / "slower-again",
            "--format",
            "json",
        )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["baseline"] == str(tmp_path / "same")
    failed = [(v["check"], v["scope"]) for v in report["verdicts"] if v["outcome"] == "fail"]
    assert failed == [
        ("ttfb_ms.p50 <= +20%", str(original)),
        ("ttfb_ms.max <= +20%", str(original)),
    ]
    with in_thread(serving(script())) as same:
        result = rt(
            original,
            "--config",
            config,
            "--target",
            same,
            "--baseline",
            tmp_path / "same",
            "--out",
            tmp_path / "same-again",
        )
    assert result.exit_code == 0, result.output
    # and a stored run checked against a stored run, without replaying anything
    result = rt(tmp_path / "slower", "--config", config, "--baseline", tmp_path / "same")
    assert result.exit_code == 1
    assert "FAIL ttfb_ms.p50 <= +20%" in result.stdout


def test_a_changed_tool_call_fails(run, proxied, tmp_path):
    original = record(run, proxied, weather_question, script(0.05))
    config = tmp_path / "rt-check.toml"
    config.write_text("[compare]\ntool_calls = true\nstatuses = true\n")
    with in_thread(serving(script(0.05))) as same:
        result = rt(original, "--config", config, "--target", same, "--out", tmp_path / "a")
    assert result.exit_code == 0, result.output
    changed = script(0.05, function_name="get_time", function_arguments='{"timezone":"CET"}')
    with in_thread(serving(changed)) as other:
        result = rt(original, "--config", config, "--target", other, "--out", tmp_path / "b")
    assert result.exit_code == 1
    assert (
        f"FAIL tool calls unchanged · {original}: tool call 1: get_weather(location) became "
        "get_time(timezone) (response 1)"
    ) in result.stdout
    assert "response statuses unchanged" in result.stdout  # that one still holds


def test_a_target_that_refuses_fails_the_replay_check(run, proxied, tmp_path):
    original = record(run, proxied, push_to_talk(turns=1), script(0.05))
    with in_thread(serving(Script(refuse_status=503))) as refusing:
        result = rt(original, "--target", refusing, "--out", tmp_path / "run")
    assert result.exit_code == 1
    assert f"FAIL replay completed · {original}: " in result.stdout
    assert "refused the connection: HTTP 503" in result.stdout


def test_the_ci_recipe_with_rt_serve_passes_the_example_config(tmp_path):
    sample = Path("sample_sessions/ga-function-call.jsonl")

    @contextlib.asynccontextmanager
    async def serve() -> Any:
        playbook = playbook_from(load_session(ROOT / sample))
        async with MockRealtimeServer(playbook, fast=True) as mock:
            yield mock.url

    here = os.getcwd()
    os.chdir(ROOT)  # the paths as the recipe writes them
    try:
        with in_thread(serve) as url:
            result = rt(
                sample,
                "--config",
                "examples/rt-check.toml",
                "--target",
                url,
                "--out",
                tmp_path / "run",
                "--markdown",
                tmp_path / "summary.md",
            )
    finally:
        os.chdir(here)
    assert result.exit_code == 0, result.output
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## rt check: PASSED")
    assert "| tool calls unchanged | get\\_weather" not in summary  # escaped only where needed
    assert "| tool calls unchanged | get_weather(location, unit) |" in summary
