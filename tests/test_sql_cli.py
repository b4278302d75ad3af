"""`rt sql` through click's CliRunner: every format, one-line SQL errors, warnings on stderr."""

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
from test_sql_views import documented_columns

SAMPLES = Path(__file__).resolve().parent.parent / "sample_sessions"
ANSI = re.compile(r"\x1b\[")


@pytest.fixture
def calls(tmp_path: Path) -> Path:
    for name, ttfb in (("a", 0.25), ("b", 0.5)):
        s = SessionFile(f"call-{name}")
        s.server(0.0, "session.created", **ga_session_created())
        s.client(1.0, "response.create")
        s.created(1.05, f"resp_{name}")
        s.audio_delta(1.0 + ttfb, f"resp_{name}", 100)
        s.done(2.0, f"resp_{name}", usage=ga_usage(input_text=10, output_audio=5))
        s.write(tmp_path)
    return tmp_path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["sql", *args])
    return result.exit_code, result.stdout, result.stderr


def test_table_is_plain_text_with_a_row_count(calls):
    code, out, err = invoke("SELECT session, ttfb_ms FROM responses", str(calls))
    assert (code, err) == (0, "")
    assert out == (
        "session   ttfb_ms\n─────────────────\ncall-a      250.0\ncall-b      500.0\n2 rows\n"
    )
    assert not ANSI.search(out)


def test_csv_and_markdown(calls):
    sql = "SELECT session, ttfb_ms, input_tokens, 'a|b' AS text FROM responses"
    code, out, _ = invoke(sql, str(calls), "--format", "csv")
    assert code == 0
    assert out == "session,ttfb_ms,input_tokens,text\ncall-a,250.0,10,a|b\ncall-b,500.0,10,a|b\n"
    code, out, _ = invoke(sql, str(calls), "--format", "markdown")
    assert out == (
        "| session | ttfb_ms | input_tokens | text |\n"
        "|---|---:|---:|---|\n"
        "| call-a | 250.0 | 10 | a\\|b |\n"
        "| call-b | 500.0 | 10 | a\\|b |\n"
        "\n2 rows\n"
    )


def test_json_is_an_array_of_objects_with_json_columns_as_values(calls):
    sql = (
        'SELECT seq, "at", event, 1.5 AS d, NULL AS nothing FROM events '
        "WHERE session = 'call-a' AND type = 'response.done'"
    )
    code, out, _ = invoke(sql, str(calls), "--format", "json")
    assert code == 0
    [row] = json.loads(out)
    assert row["seq"] == 4
    assert row["at"] == "2026-11-26T10:00:02.000000Z"
    assert row["event"]["response"]["id"] == "resp_a"
    assert (row["d"], row["nothing"]) == (1.5, None)


def test_csv_keeps_whole_cells_the_table_cuts(calls):
    sql = "SELECT event FROM events WHERE type = 'response.output_audio.delta' ORDER BY file"
    _, table, _ = invoke(sql, str(calls), "--with-audio")
    _, text, _ = invoke(sql, str(calls), "--format", "csv", "--with-audio")
    cells = [row["event"] for row in csv.DictReader(io.StringIO(text))]
    assert len(cells[0]) > 6000 and json.loads(cells[0])["response_id"] == "resp_a"
    line = table.splitlines()[2]
    assert line.endswith("…") and len(line) == 60


def test_duplicate_column_names_are_kept(calls):
    code, out, _ = invoke("SELECT 1 AS n, 2 AS n, 3 AS n", str(calls), "--format", "json")
    assert json.loads(out) == [{"n": 1, "n_2": 2, "n_3": 3}]


def test_several_statements_return_the_last_ones_rows(calls):
    sql = "CREATE MACRO slow(ms) AS ms > 300; SELECT session FROM responses WHERE slow(ttfb_ms)"
    code, out, _ = invoke(sql, str(calls), "--format", "csv")
    assert (code, out) == (0, "session\ncall-b\n")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT * FROM respones",
            "Error: query failed: Catalog Error: Table with name respones does not exist! "
            'Did you mean "responses"?\n',
        ),
        (
            "SELECT ttfb FROM responses",
            'Error: query failed: Binder Error: Referenced column "ttfb" not found in FROM clause!',
        ),
        ("SELEC 1", 'Error: query failed: Parser Error: syntax error at or near "SELEC"\n'),
        ("  ;  ", "Error: no SQL statement given\n"),
    ],
)
def test_sql_errors_are_one_line(calls, sql, message):
    code, out, err = invoke(sql, str(calls))
    assert (code, out) == (1, "")
    assert err.startswith(message) and err.count("\n") == 1


def test_syntax_is_checked_before_any_file_is_read(tmp_path):
    code, _, err = invoke("SELECT FROM WHERE", str(tmp_path / "missing"))
    assert code == 1 and "Parser Error" in err


def test_default_path_is_sessions(calls, monkeypatch):
    monkeypatch.chdir(calls)
    code, _, err = invoke("SELECT count(*) AS n FROM sessions")
    assert (code, err) == (1, "Error: no session files match 'sessions/'\n")
    (calls / "sessions").mkdir()
    (calls / "call-a.jsonl").rename(calls / "sessions" / "call-a.jsonl")
    code, out, _ = invoke("SELECT count(*) AS n FROM sessions", "--format", "csv")
    assert (code, out) == (0, "n\n1\n")


def test_warnings_go_to_stderr(calls):
    damaged = calls / "call-a.jsonl"
    damaged.write_text(damaged.read_text() + '{"kind":"frame","seq":99,"t":9.0,"fr')
    code, out, err = invoke("SELECT count(*) AS n FROM sessions", str(calls), "--format", "json")
    assert code == 0 and json.loads(out) == [{"n": 2}]
    lines = len(damaged.read_text().splitlines())
    assert err == f"warning: {damaged}:{lines}: incomplete last line (cut off)\n"


def test_samples():
    code, out, _ = invoke(
        "SELECT direction, count(*) AS frames FROM events GROUP BY ALL ORDER BY direction",
        str(SAMPLES),
        "--format",
        "json",
    )
    assert code == 0
    assert [row["direction"] for row in json.loads(out)] == ["client", "server"]


def test_help_names_every_column_of_every_view_and_has_an_example():
    result = CliRunner().invoke(cli, ["sql", "--help"])
    assert result.exit_code == 0
    assert "Example:\n    $ rt sql " in result.stdout
    help_text = re.sub(r"\s+", " ", result.stdout)
    for view, columns in documented_columns().items():
        assert f" {view} " in help_text
        for column, _ in columns:
            assert re.search(rf"[ \"]{column}\b", help_text), (view, column)
