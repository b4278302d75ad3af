"""What `rt sql` may touch (issue 14, item 8): the views and nothing else, unless asked.

By default the user's SQL runs in a database that can no longer read or write a file, attach
another database, reach a URL, install or load an extension, or change its own settings
(DuckDB's `enable_external_access = false` and `lock_configuration = true`, set once the views
exist). `--allow-files` gives the SQL what DuckDB itself would, minus downloading extensions on
its own. Every refusal is one line on stderr and exit status 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rt_cli.main import cli

from recorder.analytics import run_sql

SAMPLES = Path(__file__).resolve().parent.parent / "sample_sessions"
SAMPLE = str(SAMPLES / "ga-text-only.jsonl")
SECRET = "s3cr3t-token-never-printed"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["sql", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.csv"
    path.write_text(f"name,value\ntoken,{SECRET}\n")
    return path


def refused(sql: str) -> str:
    """Runs `sql` on a sample with the default settings; returns the one line of stderr."""
    code, out, err = invoke(sql, SAMPLE)
    assert code == 1, (sql, out)
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("Error: query failed: "), err
    return err


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_text('{secret}')",
        "SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM read_blob('{secret}')",
        "SELECT * FROM '{secret}'",
        "SELECT * FROM glob('{directory}/*')",
        "SELECT * FROM read_json('https://example.invalid/x.json')",
    ],
)
def test_the_sql_cannot_read_files_or_urls(sql, secret_file):
    err = refused(sql.format(secret=secret_file, directory=secret_file.parent))
    assert SECRET not in err
    assert "--allow-files" in err  # the way out is named


@pytest.mark.parametrize(
    ("sql", "written"),
    [
        ("COPY (SELECT * FROM sessions) TO '{out}/copy.csv'", "copy.csv"),
        ("ATTACH '{out}/other.duckdb' AS other", "other.duckdb"),
        ("EXPORT DATABASE '{out}/export'", "export"),
    ],
)
def test_the_sql_cannot_write_files(sql, written, tmp_path):
    refused(sql.format(out=tmp_path))
    assert not (tmp_path / written).exists()


@pytest.mark.parametrize(
    "sql",
    [
        "INSTALL sqlite",
        "LOAD sqlite",
        # an extension function DuckDB would otherwise try to download and load by itself
        "SELECT * FROM sqlite_scan('x.db', 't')",
    ],
)
def test_no_extension_is_installed_or_loaded(sql):
    err = refused(sql)
    assert "automatically install" not in err  # no download was tried


@pytest.mark.parametrize(
    "sql",
    [
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET lock_configuration = false",
        "SET memory_limit = '100GB'",
        "PRAGMA threads = 64",
    ],
)
def test_the_settings_are_locked(sql):
    assert "locked" in refused(sql)


def test_the_views_macros_and_temporary_tables_still_work():
    code, out, err = invoke(
        "CREATE MACRO ms(x) AS round(x); CREATE TEMP TABLE r AS SELECT * FROM responses; "
        "SELECT count(*) AS n, ms(max(ttft_ms)) AS slowest, "
        "(SELECT count(*) FROM events) AS frames FROM r",
        SAMPLE,
        "--format",
        "json",
    )
    assert (code, err) == (0, "")
    (row,) = json.loads(out)
    assert row["n"] == 2 and row["frames"] > 0 and row["slowest"] > 0


def test_a_parquet_dataset_is_read_before_the_lock(tmp_path):
    exported = CliRunner().invoke(
        cli, ["export", "parquet", SAMPLE, "--out", str(tmp_path / "ds")], catch_exceptions=False
    )
    assert exported.exit_code == 0, exported.output
    code, out, _ = invoke(
        "SELECT count(*) AS n FROM responses", str(tmp_path / "ds"), "--format", "json"
    )
    assert code == 0
    assert json.loads(out) == [{"n": 2}]


def test_a_query_larger_than_memory_still_spills_to_disk():
    # the database spills to its private temporary directory, which the lock leaves usable
    result = run_sql(
        "SELECT count(*) FROM (SELECT range AS i, repeat('x', 100) AS s FROM range(1500000) "
        "ORDER BY s, i DESC)",
        [SAMPLE],
        memory_limit="64MB",
    )
    assert result.rows == [(1500000,)]


def test_allow_files_lets_the_sql_read_and_write_files(secret_file, tmp_path):
    code, out, _ = invoke(
        f"SELECT value FROM read_csv('{secret_file}')", SAMPLE, "--allow-files", "--format", "csv"
    )
    assert (code, out) == (0, f"value\n{SECRET}\n")
    target = tmp_path / "sessions.csv"
    code, _, err = invoke(
        f"COPY (SELECT session FROM sessions) TO '{target}'", SAMPLE, "--allow-files"
    )
    assert (code, err) == (0, "")
    assert target.read_text().splitlines()[0] == "session"


def test_allow_files_still_downloads_nothing_by_itself():
    code, out, err = invoke(
        "SELECT current_setting('autoinstall_known_extensions') AS auto",
        SAMPLE,
        "--allow-files",
        "--format",
        "json",
    )
    assert (code, json.loads(out)) == (0, [{"auto": False}])


def test_the_library_call_is_locked_too(secret_file):
    from recorder.analytics import SQLError

    with pytest.raises(SQLError, match="disabled"):
        run_sql(f"SELECT * FROM read_text('{secret_file}')", [SAMPLE])
    allowed = run_sql(
        f"SELECT count(*) FROM read_text('{secret_file}')", [SAMPLE], allow_files=True
    )
    assert allowed.rows == [(1,)]
