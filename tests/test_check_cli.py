"""`rt check` as a user runs it, offline: the example config on the samples, failures named,
exit statuses 0 / 1 / 2, the files it writes, and a stored run as the baseline."""

from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from rt_cli.main import cli
from stats_fixtures import SessionFile, ga_session_created

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "examples/rt-check.toml"
ANSI = re.compile(r"\x1b\[")


@pytest.fixture(autouse=True)
def at_the_root() -> Iterator[None]:
    """Run from the repository, as the README's commands are (paths read as a user types them)."""
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(here)


def rt(*args: str | os.PathLike[str]) -> Result:
    return CliRunner().invoke(cli, ["check", *map(str, args)], catch_exceptions=False)


def write_config(directory: Path, text: str, name: str = "rt-check.toml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_config_passes_on_the_samples_offline():
    result = rt("sample_sessions/", "--config", EXAMPLE)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == "PASSED: 63 passed, 23 skipped"
    assert lines[-2] == f"12 recordings · config {EXAMPLE} · cost $0.1429"
    assert not ANSI.search(result.stdout)
    header = lines[0].split()
    assert header == ["check", "scope", "expected", "got", "result"]
    row = next(line for line in lines if line.startswith("latency: ttfb_ms.p95 <= 800"))
    assert row.split()[-5:] == ["recordings", "<=", "800", "568.21", "pass"]
    each = lines[lines.index(row) + 1].split()
    assert each == [
        "each",
        "recording",
        "(12)",
        "<=",
        "800",
        "353.155",
        "–",
        "602.812",
        "8",
        "pass,",
        "4",  # the text-only call, the sideband and the two GPT-Live calls (live_turn)
        "skip",
    ]
    assert "latency: ttfb_ms.p50 <= +20%" in result.stdout  # shown, skipped without a baseline


def test_a_failing_check_exits_1_and_names_each_failure(tmp_path):
    config = write_config(tmp_path, '[[checks]]\nexpect = ["ttfb_ms.max <= 590", "errors == 0"]\n')
    result = rt("sample_sessions/", "--config", config)
    assert result.exit_code == 1
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
    assert failures == [
        "FAIL ttfb_ms.max <= 590 · all recordings: ttfb_ms.max = 740.561, expected <= 590; "
        "worst: live-1 in sample_sessions/live-g711.jsonl 740.561 (and 4 more)",
        "FAIL ttfb_ms.max <= 590 · sample_sessions/azure-preview-g711.jsonl: ttfb_ms.max = "
        "602.812, expected <= 590; worst: resp_sbOLRSvAWRcsnTL9i57VN 602.812",
        "FAIL ttfb_ms.max <= 590 · sample_sessions/live-g711.jsonl: ttfb_ms.max = 740.561, "
        "expected <= 590; worst: live-1 740.561 (and 1 more)",
        "FAIL ttfb_ms.max <= 590 · sample_sessions/live-websocket.jsonl: ttfb_ms.max = 725.971, "
        "expected <= 590; worst: live-1 725.971 (and 1 more)",
        "FAIL errors == 0 · all recordings: errors = 2, expected == 0; errors: "
        "invalid_request_error/input_audio_buffer_commit_empty at 0.058 s in "
        "sample_sessions/errors-and-rate-limits.jsonl (and 1 more)",
        "FAIL errors == 0 · sample_sessions/errors-and-rate-limits.jsonl: errors = 2, expected "
        "== 0; errors: invalid_request_error/input_audio_buffer_commit_empty at 0.058 s (and 1 more)",
    ]
    assert result.stdout.splitlines()[-1] == "FAILED: 6 of 26 checks failed (18 passed, 2 skipped)"
    # the failing recordings have rows of their own, the others one line
    assert "sample_sessions/azure-preview-g711.jsonl" in result.stdout
    assert "the others (9)" in result.stdout and "the others (11)" in result.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--config", "{bad}"],
            "Error: {bad}:3: cannot read the limit '= 800' in 'ttfb_ms.p95 <== 800'",
        ),
        (["--config", "{tmp}/none.toml"], "Error: {tmp}/none.toml: no such config file"),
        (
            ["--config", "{unknown_field}"],
            "Error: {unknown_field}:2: cannot filter on 'mood': response rows have no such field",
        ),
        (["--out", "{tmp}/run"], "Error: --out is where --target records the new calls"),
        (["--concurrency", "0"], "Invalid value for '--concurrency'"),
        (["--format", "csv"], "Invalid value for '--format'"),
        (
            ["--target", "http:/nowhere", "--config", "{ok}"],
            "Error: target must be a ws://, wss:// or https:// URL",
        ),
        (
            ["--header", "no colon", "--target", "ws://127.0.0.1:9"],
            "header must look like 'Name: value'",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path, args, says):
    files = {
        "tmp": tmp_path,
        "bad": write_config(
            tmp_path, '[[checks]]\nexpect = [\n  "ttfb_ms.p95 <== 800",\n]\n', "bad.toml"
        ),
        "unknown_field": write_config(
            tmp_path,
            '[[checks]]\nwhere = { mood = "sunny" }\nexpect = ["ttfb_ms.p95 <= 800"]\n',
            "mood.toml",
        ),
        "ok": write_config(tmp_path, '[[checks]]\nexpect = ["errors >= 0"]\n', "ok.toml"),
    }
    args = [a.format(**files) for a in args]
    result = rt("sample_sessions/ga-push-to-talk.jsonl", *args)
    assert result.exit_code == 2, result.output
    assert says.format(**files) in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_paths_that_name_no_recording_are_usage_errors(tmp_path):
    result = rt(tmp_path / "nothing-here")
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(f"no session files match '{tmp_path / 'nothing-here'}'")
    assert rt().exit_code == 2  # PATH is required


def test_without_a_config_the_one_in_the_directory_or_the_defaults(tmp_path):
    shutil.copy(ROOT / "sample_sessions" / "ga-push-to-talk.jsonl", tmp_path / "call.jsonl")
    shutil.copy(ROOT / "sample_sessions" / "errors-and-rate-limits.jsonl", tmp_path / "bad.jsonl")
    os.chdir(tmp_path)
    defaults = rt(".")
    assert defaults.exit_code == 1  # errors == 0
    assert "config <built-in defaults>" in defaults.stdout
    assert "FAIL errors == 0 · bad.jsonl: errors = 2" in defaults.stdout
    write_config(tmp_path, '[[checks]]\nexpect = ["errors <= 2"]\n')
    found = rt(".")
    assert found.exit_code == 0, found.output
    assert "config rt-check.toml" in found.stdout


def test_junit_markdown_and_json_files(tmp_path):
    junit, markdown = tmp_path / "out" / "rt-check.xml", tmp_path / "summary.md"
    result = rt(
        "sample_sessions/",
        "--config",
        EXAMPLE,
        "--junit",
        junit,
        "--markdown",
        markdown,
        "--format",
        "json",
    )
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["passed"] is True and document["counts"] == {"pass": 63, "fail": 0, "skip": 23}
    root = ET.parse(junit).getroot()
    assert root.get("tests") == "86" and root.get("failures") == "0" and root.get("skipped") == "23"
    assert len(list(root.iter("testcase"))) == 86
    summary = markdown.read_text()
    assert summary.startswith("## rt check: PASSED: 63 passed, 23 skipped\n")


def test_verbose_lists_every_recording():
    result = rt("sample_sessions/", "--config", EXAMPLE, "-v")
    assert result.exit_code == 0
    rows = [line for line in result.stdout.splitlines() if "ga-text-only.jsonl" in line]
    assert len(rows) == 6  # one per check applied to each recording (coverage is all-only)


def test_a_stored_run_as_the_baseline(tmp_path):
    # a copy of the calls is a run of the same calls (same session ids): nothing changed
    shutil.copytree(
        ROOT / "sample_sessions", tmp_path / "baseline", ignore=shutil.ignore_patterns("speech")
    )
    result = rt("sample_sessions/", "--config", EXAMPLE, "--baseline", tmp_path / "baseline")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "PASSED: 142 passed, 24 skipped"
    assert f"baseline: {tmp_path / 'baseline'}" in result.stdout
    assert "cost $0.1429 (baseline $0.1429, +0.0%)" in result.stdout
    # the same calls, one of them now without its tool call and slower
    changed = tmp_path / "baseline" / "ga-function-call.jsonl"
    text = changed.read_text().replace('"get_weather"', '"get_forecast"')
    changed.write_text(text)
    result = rt("sample_sessions/", "--config", EXAMPLE, "--baseline", tmp_path / "baseline")
    assert result.exit_code == 1
    assert (
        "FAIL tool calls unchanged · sample_sessions/ga-function-call.jsonl: tool call 1: "
        "get_forecast(location, unit) became get_weather(location, unit) (response 1)"
    ) in result.stdout
    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    SessionFile("someone-else").server(
        0.0, "session.created", session=ga_session_created()["session"]
    ).write(unrelated)
    result = rt("sample_sessions/", "--baseline", unrelated)
    assert result.exit_code == 2
    assert "no recording in" in result.stderr and "is a run of the same calls" in result.stderr


def test_control_characters_from_a_recording_never_reach_the_terminal(tmp_path):
    session = SessionFile("hostile")
    session.server(0.0, "session.created", session=ga_session_created()["session"])
    session.server(
        1.0, "error", error={"type": "x\x1b[2Jy", "code": "c\x07", "message": "m\x1b]0;t\x07"}
    )
    path = session.write(tmp_path)
    result = rt(path)
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "x\\x1b[2Jy/c\\x07 at 1.000 s" in result.stdout
