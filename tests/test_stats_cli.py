"""`rt stats` through click's CliRunner: every format, warnings on stderr, errors as one line."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rt_cli.main import cli
from stats_fixtures import SessionFile, ga_session_created, ga_usage

RESPONSE_KEYS = [
    "session", "file", "response_id", "model", "status", "trigger", "trigger_t", "ttfb_ms",
    "ttft_ms", "duration_ms", "voice_to_voice_ms", "audio_out_ms", "input_tokens",
    "output_tokens", "input_text_tokens", "input_audio_tokens", "input_cached_tokens",
    "output_text_tokens", "output_audio_tokens", "cost_usd",
    # CONTRACT §4 additions, after the §3 keys
    "kind", "ttfb_source", "ttfb_final_ms", "voice_to_voice_final_ms", "preamble_audio_ms",
    "input_image_tokens", "cached_text_tokens", "cached_audio_tokens", "cached_image_tokens",
    "output_reasoning_tokens",
]  # fmt: skip
SUMMARY_KEYS = [
    "ttfb_ms", "ttft_ms", "duration_ms", "voice_to_voice_ms", "responses", "sessions", "errors",
    "cost_usd", "ttfb_final_ms", "voice_to_voice_final_ms", "by_kind", "transcription_cost_usd",
]  # fmt: skip
DISTRIBUTION_KEYS = ["count", "mean", "p50", "p90", "p95", "p99", "max"]
SESSION_KEYS = [
    "session", "file", "started_at", "duration_s", "responses", "input_tokens", "output_tokens",
    "cost_usd", "model", "protocol", "transport",
    # CONTRACT §4.2 additions
    "transcription_model", "transcription_seconds", "transcription_tokens",
    "transcription_cost_usd", "translation_seconds", "translation_cost_usd",
    # CONTRACT §4.6
    "user_talk_ms", "assistant_talk_ms", "talk_over_ms", "barge_ins", "barge_in_stop_ms",
    "dead_air_ms", "turns",
    # CONTRACT §4.4
    "live_seconds", "live_cost_usd", "live_close_reason", "live_delegations",
    "live_delegated_tokens", "live_muted_ms",
]  # fmt: skip
RATE_LIMIT_KEYS = ["session", "t", "at", "name", "limit", "remaining", "reset_seconds"]
ERROR_KEYS = ["session", "t", "type", "code", "message"]  # plus the fields we add
ANSI = re.compile(r"\x1b\[")


@pytest.fixture
def sessions(tmp_path: Path) -> Path:
    """Two sessions in nested directories: a slow VAD turn, and a manual one with an error."""
    vad = SessionFile("call-vad")
    vad.server(0.0, "session.created", **ga_session_created())
    vad.appends(start=1.0, count=50, ms=40)
    vad.server(2.8, "input_audio_buffer.speech_stopped", audio_end_ms=1600)
    vad.created(2.85, "resp_slow")
    vad.audio_delta(4.8, "resp_slow", 200)  # 2 s to first audio: slow
    vad.done(5.0, "resp_slow", usage=ga_usage(input_audio=40, output_audio=10))
    vad.rate_limits(5.01, ("tokens", 40000, 39000, 0.2))
    vad.write(tmp_path / "day1")

    manual = SessionFile("call-manual", started_at="2026-11-26T11:00:00.000000Z")
    manual.server(0.0, "session.created", **ga_session_created())
    manual.client(1.0, "response.create")
    manual.created(1.05, "resp_fast")
    manual.audio_delta(1.25, "resp_fast", 100)
    manual.done(1.6, "resp_fast", usage=ga_usage(input_text=50, output_audio=5))
    error = {"type": "invalid_request_error", "code": "bad", "message": "bad | thing"}
    manual.server(2.0, "error", error=error)
    manual.write(tmp_path / "day2" / "inner")
    return tmp_path


def test_json_is_exactly_the_contract_shape(sessions):
    result = CliRunner().invoke(cli, ["stats", str(sessions), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert list(data) == ["responses", "summary", "sessions", "rate_limits", "errors"]
    assert [list(r) for r in data["responses"]] == [RESPONSE_KEYS, RESPONSE_KEYS]
    assert list(data["summary"]) == SUMMARY_KEYS
    for metric in ("ttfb_ms", "ttft_ms", "duration_ms", "voice_to_voice_ms", "ttfb_final_ms"):
        assert list(data["summary"][metric]) == DISTRIBUTION_KEYS
    assert data["summary"]["by_kind"] == {
        "turn": 2,
        "out_of_band": 0,
        "idle_timeout": 0,
        "live_turn": 0,
    }
    assert [list(s) for s in data["sessions"]] == [SESSION_KEYS, SESSION_KEYS]
    assert [list(r) for r in data["rate_limits"]] == [RATE_LIMIT_KEYS]
    assert list(data["errors"][0])[: len(ERROR_KEYS)] == ERROR_KEYS

    assert [r["response_id"] for r in data["responses"]] == ["resp_slow", "resp_fast"]
    assert data["responses"][0]["ttfb_ms"] == 2000.0
    assert data["responses"][0]["voice_to_voice_ms"] == 2240.0  # 4.80 - the 40th append, at 2.56
    assert data["summary"]["ttfb_ms"]["count"] == 2
    assert (data["summary"]["responses"], data["summary"]["sessions"]) == (2, 2)
    assert data["summary"]["errors"] == 1
    assert data["errors"][0]["message"] == "bad | thing"


def test_table_is_plain_text_off_a_terminal(sessions):
    result = CliRunner().invoke(cli, ["stats", str(sessions)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert not ANSI.search(out)
    for title in (
        "Responses",
        "Summary (ms)",
        "Tokens and cost per session",
        "Rate limits",
        "Errors",
    ):
        assert title in out
    assert "2 responses in 2 sessions, 1 error, cost $" in out
    slow_line = next(line for line in out.splitlines() if "resp_slow" in line)
    assert "speech_stopped" in slow_line and "2000.0" in slow_line
    assert all(line == line.rstrip() for line in out.splitlines())


def test_table_by_session(sessions):
    result = CliRunner().invoke(cli, ["stats", str(sessions), "--by", "session"])
    assert result.exit_code == 0
    assert result.stdout.startswith("Sessions")
    assert "Tokens and cost per session" not in result.stdout
    assert "call-manual" in result.stdout


@pytest.mark.parametrize("by", ["response", "session"])
def test_csv_has_one_row_per_item_with_machine_headers(sessions, by):
    result = CliRunner().invoke(cli, ["stats", str(sessions), "--format", "csv", "--by", by])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 2
    if by == "response":
        assert list(rows[0]) == RESPONSE_KEYS
        assert rows[0]["ttfb_ms"] == "2000.0" and rows[0]["trigger"] == "speech_stopped"
        assert rows[1]["voice_to_voice_ms"] == ""
    else:
        assert list(rows[0])[: len(SESSION_KEYS)] == SESSION_KEYS
        assert rows[1]["started_at"] == "2026-11-26T11:00:00.000000Z"


def test_table_and_csv_agree_cell_for_cell(sessions):
    table = CliRunner().invoke(cli, ["stats", str(sessions)]).stdout
    rows = list(
        csv.DictReader(
            io.StringIO(CliRunner().invoke(cli, ["stats", str(sessions), "--format", "csv"]).stdout)
        )
    )
    fast_line = next(line for line in table.splitlines() if "resp_fast" in line).split()
    for key in ("ttfb_ms", "ttft_ms", "duration_ms", "audio_out_ms", "cost_usd"):
        assert rows[1][key] in fast_line


def test_markdown_has_every_section_and_escapes_pipes(sessions):
    result = CliRunner().invoke(cli, ["stats", str(sessions), "--format", "markdown"])
    assert result.exit_code == 0
    md = result.stdout
    assert md.startswith("### Responses\n\n| session | file | response |")
    assert "### Summary (ms)" in md and "### Rate limits" in md and "### Errors" in md
    assert "bad \\| thing" in md


def test_warnings_go_to_stderr_and_stdout_stays_json(sessions):
    broken = sessions / "day1" / "call-vad.jsonl"
    broken.write_text(broken.read_text() + '{"kind":"frame","seq":99,"t":9.0,"from":"ser')
    result = CliRunner().invoke(cli, ["stats", str(sessions), "--format", "json"])
    assert result.exit_code == 0
    json.loads(result.stdout)
    assert result.stderr.splitlines() == [
        f"warning: {broken}:{len(broken.read_text().splitlines())}: incomplete last line (cut off)"
    ]


def test_globs_and_files_select_sessions(sessions):
    pattern = str(sessions / "**" / "call-m*.jsonl")
    data = json.loads(CliRunner().invoke(cli, ["stats", pattern, "--format", "json"]).stdout)
    assert [s["session"] for s in data["sessions"]] == ["call-manual"]
    one = str(sessions / "day1" / "call-vad.jsonl")
    data = json.loads(CliRunner().invoke(cli, ["stats", one, one, "--format", "json"]).stdout)
    assert [s["session"] for s in data["sessions"]] == ["call-vad"]


def test_a_path_matching_nothing_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(cli, ["stats", str(tmp_path / "nope" / "*.jsonl")])
    assert result.exit_code == 1
    assert result.stderr == f"Error: no session files match '{tmp_path / 'nope' / '*.jsonl'}'\n"
    assert result.stdout == ""


def test_pricing_file_overrides_and_unknown_models_warn(sessions, tmp_path):
    prices = tmp_path / "prices.json"
    doubled = {"input": 8.0, "cached": 0.8, "output": 32.0}
    prices.write_text(json.dumps({"models": {"gpt-realtime": {"text": doubled, "audio": doubled}}}))
    result = CliRunner().invoke(
        cli, ["stats", str(sessions), "--format", "json", "--pricing", str(prices)]
    )
    fast = json.loads(result.stdout)["responses"][1]
    assert fast["cost_usd"] == pytest.approx((50 * 8.0 + 5 * 32.0) / 1e6)

    bad = tmp_path / "bad.json"
    bad.write_text('{"models": {"x": {"text": {"input": 1}}}}')
    result = CliRunner().invoke(cli, ["stats", str(sessions), "--pricing", str(bad)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {bad}: models.x.audio: missing table of")


def test_help_has_an_example():
    result = CliRunner().invoke(cli, ["stats", "--help"])
    assert result.exit_code == 0
    assert "Example:\n    rt stats sessions/\n" in result.stdout
    for option in ("--by", "--format", "--pricing"):
        assert option in result.stdout
