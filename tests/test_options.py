"""The option bundles of cli/options.py: each shared option reads and fails the same in every
command that has it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from rt_cli.main import cli

SAMPLES = Path(__file__).resolve().parent.parent / "sample_sessions"
SAMPLE = str(SAMPLES / "ga-push-to-talk.jsonl")

WRITERS = [
    ["check"],
    ["record"],
    ["replay"],
    ["export", "wav"],
    ["export", "parquet"],
    ["report"],
    ["demo"],
]
LISTENERS = [["record", "--proxy"], ["serve", SAMPLE]]
PACED = [["replay", SAMPLE], ["serve", SAMPLE]]
PRICED = [
    ["stats", SAMPLE],
    ["ls", SAMPLE],
    ["sql", "SELECT 1", SAMPLE],
    ["diff", SAMPLE, SAMPLE],
    ["report", SAMPLE],
    ["export", "parquet", SAMPLE, "--out", "unused"],
]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), terminal_width=200)


@pytest.mark.parametrize("command", WRITERS, ids=" ".join)
def test_every_command_that_writes_files_says_out(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "-o, --out " in result.stdout
    assert "--output" not in result.stdout


@pytest.mark.parametrize("command", LISTENERS, ids=lambda c: c[0])
def test_a_remote_address_needs_allow_remote(command):
    result = invoke(*command, "--listen", "0.0.0.0:0")
    assert result.exit_code == 2
    assert "--listen 0.0.0.0:0 is reachable from other machines" in result.stderr
    assert "Add --allow-remote" in result.stderr


@pytest.mark.parametrize("command", LISTENERS, ids=lambda c: c[0])
def test_a_bad_listen_address_is_a_usage_error(command):
    result = invoke(*command, "--listen", "127.0.0.1:http")
    assert result.exit_code == 2
    assert "Invalid value for '--listen'" in result.stderr


@pytest.mark.parametrize("command", PACED, ids=lambda c: c[0])
def test_speed_and_fast_exclude_each_other(command):
    result = invoke(*command, "--speed", "2", "--fast")
    assert result.exit_code == 2
    assert "--speed and --fast cannot be used together" in result.stderr


@pytest.mark.parametrize("command", PRICED, ids=lambda c: " ".join(c[:2]))
def test_a_bad_price_file_is_one_line(command, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"models": {"x": {"text": {"input": 1}}}}')
    result = invoke(*command, "--pricing", str(bad))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {bad}: models.x.audio: missing table of")
    assert len(result.stderr.splitlines()) == 1
