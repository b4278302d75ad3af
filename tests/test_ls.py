"""`rt ls` through click's CliRunner, on hand-built sessions with known values and the samples."""

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

from recorder.analytics import SESSION_LIST_KEYS, list_sessions
from recorder.analytics.listing import sort_rows
from recorder.errors import InputError

SAMPLES = Path(__file__).resolve().parent.parent / "sample_sessions"
ANSI = re.compile(r"\x1b\[")


def call(
    name: str, started_at: str, ttfbs: tuple[float, ...], model: str = "gpt-realtime"
) -> SessionFile:
    """One response per ttfb, 10 text tokens in and 5 audio tokens out each."""
    s = SessionFile(name, started_at=started_at)
    s.server(0.0, "session.created", **ga_session_created(model=model))
    for i, ttfb in enumerate(ttfbs):
        start = 1.0 + 2 * i
        s.client(start, "response.create")
        s.created(start + 0.01, f"{name}_r{i}")
        s.audio_delta(start + ttfb, f"{name}_r{i}", 50)
        s.done(start + 1.0, f"{name}_r{i}", usage=ga_usage(input_text=10, output_audio=5))
    return s


@pytest.fixture
def sessions(tmp_path: Path) -> Path:
    call("morning", "2026-11-26T09:00:00.000000Z", (0.2, 0.4, 0.9)).write(tmp_path)
    noon = call("noon", "2026-11-26T12:00:00.000000Z", (0.3,), model="gpt-realtime-mini")
    noon.server(5.0, "error", error={"type": "server_error", "code": "boom", "message": "boom"})
    noon.write(tmp_path)
    SessionFile("quiet", header=False).client(0.5, "session.update").write(tmp_path)
    return tmp_path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["ls", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_rows_have_every_column(sessions):
    code, out, err = invoke(str(sessions), "--format", "json")
    assert code == 0
    assert err.startswith("warning: 1 session names no model: cost_usd is null")  # quiet
    rows = json.loads(out)
    assert [list(row) for row in rows] == [list(SESSION_LIST_KEYS)] * 3
    morning = rows[0]
    assert morning == {
        "file": str(sessions / "morning.jsonl"),
        "session": "morning",
        "started_at": "2026-11-26T09:00:00.000000Z",
        "model": "gpt-realtime",
        "duration_s": 6.0,
        "turns": 3,
        "ttfb_p50_ms": 400.0,
        "tokens": 45,
        "input_tokens": 30,
        "output_tokens": 15,
        "cost_usd": pytest.approx(3 * (10 * 4 + 5 * 64) / 1e6),
        "errors": 0,
        "frames": 13,
    }
    assert (rows[1]["session"], rows[1]["errors"], rows[1]["ttfb_p50_ms"]) == ("noon", 1, 300.0)
    quiet = rows[2]  # no start time: last when sorting by start
    assert (quiet["session"], quiet["started_at"], quiet["turns"], quiet["cost_usd"]) == (
        "quiet",
        None,
        0,
        0.0,
    )


def test_table_is_plain_text_off_a_terminal(sessions):
    code, out, _ = invoke(str(sessions))
    assert code == 0 and not ANSI.search(out)
    lines = out.splitlines()
    assert lines[0].split() == [
        "started", "at", "session", "model", "duration", "s", "turns", "ttfb", "p50", "ms",
        "tokens", "cost", "$", "errors",
    ]  # fmt: skip
    assert lines[2].split() == [
        "2026-11-26T09:00:00.000000Z",
        "morning",
        "gpt-realtime",
        "6.0",
        "3",
        "400.0",
        "45",
        "0.001080",
        "0",
    ]
    assert lines[-1] == "3 sessions, 4 turns, 1 error, cost $0.0012"


@pytest.mark.parametrize(
    ("sort", "reverse", "order"),
    [
        ("started_at", False, ["morning", "noon", "quiet"]),
        ("started_at", True, ["noon", "morning", "quiet"]),  # missing values stay last
        ("turns", True, ["morning", "noon", "quiet"]),
        ("ttfb_p50_ms", False, ["noon", "morning", "quiet"]),
        ("errors", True, ["noon", "morning", "quiet"]),  # ties keep the order of the files
        ("file", True, ["quiet", "noon", "morning"]),
    ],
)
def test_sort_and_reverse(sessions, sort, reverse, order):
    args = [str(sessions), "--sort", sort, "--format", "csv"] + (["--reverse"] if reverse else [])
    code, out, _ = invoke(*args)
    assert code == 0
    assert [row["session"] for row in csv.DictReader(io.StringIO(out))] == order


def test_csv_has_every_column_and_markdown_the_table_ones(sessions):
    _, out, _ = invoke(str(sessions), "--format", "csv")
    assert next(csv.reader(io.StringIO(out))) == [
        "started_at", "file", "session", "model", "duration_s", "turns", "ttfb_p50_ms",
        "tokens", "input_tokens", "output_tokens", "cost_usd", "errors", "frames",
    ]  # fmt: skip
    _, out, _ = invoke(str(sessions), "--format", "markdown")
    assert out.startswith(
        "| started at | session | model | duration s | turns | ttfb p50 ms | tokens | cost $ | errors |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|\n"
    )
    assert out.endswith("\n3 sessions, 4 turns, 1 error, cost $0.0012\n")


def test_default_path_is_sessions(sessions, monkeypatch):
    monkeypatch.chdir(sessions)
    code, out, err = invoke()
    assert (code, out, err) == (1, "", "Error: no session files match 'sessions/'\n")
    (sessions / "sessions").mkdir()
    (sessions / "noon.jsonl").rename(sessions / "sessions" / "noon.jsonl")
    code, out, _ = invoke("--format", "json")
    assert code == 0 and [row["file"] for row in json.loads(out)] == ["sessions/noon.jsonl"]


def test_unknown_sort_column(sessions):
    code, _, err = invoke(str(sessions), "--sort", "speed")
    assert code == 2 and "Invalid value for '--sort'" in err
    with pytest.raises(InputError, match="cannot sort by 'speed'"):
        list_sessions([sessions], sort="speed")


def test_sort_rows_puts_missing_values_last_both_ways():
    rows = [{"k": None, "n": 0}, {"k": 2, "n": 1}, {"k": 1, "n": 2}, {"k": 2, "n": 3}]
    assert [r["n"] for r in sort_rows(rows, "k")] == [2, 1, 3, 0]
    assert [r["n"] for r in sort_rows(rows, "k", reverse=True)] == [1, 3, 2, 0]


def test_samples():
    code, out, _ = invoke(str(SAMPLES), "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert sorted(Path(r["file"]).name for r in rows) == sorted(
        p.name for p in SAMPLES.glob("*.jsonl")
    )
    assert all(r["model"] and r["started_at"] for r in rows)
    # a translation session has no responses; every other sample has turns
    assert {Path(r["file"]).stem for r in rows if r["turns"] == 0} == {"translation-en-fr"}
    assert [r["started_at"] for r in rows] == sorted(r["started_at"] for r in rows)


def test_help_has_an_example():
    result = CliRunner().invoke(cli, ["ls", "--help"])
    assert result.exit_code == 0
    assert "Example:\n    $ rt ls\n" in result.stdout
    for option in ("--sort", "--reverse", "--format", "--pricing"):
        assert option in result.stdout
