"""`rt prices`: the table in use (built in, or merged with --pricing FILE) in every format, the
entry a model name takes, and a JSON output that --pricing reads back unchanged."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rt_cli.main import cli

from recorder.pricing import builtin_prices, load_price_file, table_data


def run(*args: str):
    return CliRunner().invoke(cli, ["prices", *args])


def test_the_table_lists_every_entry_with_its_prices_and_status():
    result = run()
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for name in builtin_prices().models:
        assert any(line.split()[:1] == [name] for line in lines), name
    row = next(line for line in lines if line.split()[:1] == ["gpt-realtime-2.1"])
    assert "4 / 0.4 / 24" in row and "32 / 0.4 / 64" in row and "5 / 0.5" in row
    row = next(line for line in lines if line.split()[:1] == ["gpt-4o-realtime-preview"])
    assert row.rstrip().endswith("retired 2026-05-07")
    row = next(line for line in lines if line.split()[:1] == ["gpt-realtime-translate"])
    assert "translation" in row and "0.034" in row
    assert "prices as of 2026-12-06" in result.stdout


def test_csv_has_every_price_date_and_source():
    result = run("--format", "csv")
    rows = {row["model"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
    assert rows["gpt-realtime-whisper"]["per_minute"] == "0.017"
    assert rows["gpt-realtime-2"]["text_output"] == "24.0"
    assert all(row["as_of"] and row["source"] for row in rows.values())
    assert rows["gpt-4o-mini-transcribe"]["shutdown"] == "2027-02-26"


def test_json_is_a_price_file_that_reads_back_unchanged(tmp_path):
    result = run("--format", "json")
    path = tmp_path / "prices.json"
    path.write_text(result.stdout)
    assert load_price_file(path).models == builtin_prices().models
    assert json.loads(result.stdout) == table_data(builtin_prices())


def test_model_names_show_the_entry_they_take():
    result = run("gpt-realtime-2025-08-28", "gpt-realtime-2.1", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["lookups"] == {
        "gpt-realtime-2025-08-28": "gpt-realtime",
        "gpt-realtime-2.1": "gpt-realtime-2.1",
    }
    assert sorted(data["models"]) == ["gpt-realtime", "gpt-realtime-2.1"]


def test_a_model_without_a_price_exits_1_and_says_so():
    result = run("gpt-realtime-3", "gpt-realtime")
    assert result.exit_code == 1
    assert "gpt-realtime-3" in result.stdout  # shown with an empty entry
    assert result.stderr.strip() == (
        "Error: no price for 'gpt-realtime-3': add it with --pricing FILE (an entry, or an alias)"
    )


def test_a_price_file_is_merged_and_its_entries_say_so(tmp_path):
    path = tmp_path / "azure.json"
    path.write_text(
        json.dumps(
            {
                "as_of": "2026-12-10",
                "models": {
                    "gpt-realtime-2": {
                        "text": {"input": 5.0, "output": 30.0},
                        "audio": {"input": 40.0, "output": 80.0},
                    },
                    "prod-voice": "gpt-realtime-2",
                },
            }
        )
    )
    result = run("--pricing", str(path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    row = next(line for line in lines if line.split()[:1] == ["gpt-realtime-2"])
    assert "5 / 5 / 30" in row and str(path) in row
    alias = next(line for line in lines if line.split()[:1] == ["prod-voice"])
    assert "alias of gpt-realtime-2" in alias
    assert "prices as of 2026-12-10" in result.stdout
    result = run("prod-voice", "--pricing", str(path), "--format", "csv")
    (row,) = csv.DictReader(io.StringIO(result.stdout))
    assert (row["entry"], row["text_output"], row["origin"]) == (
        "gpt-realtime-2",
        "30.0",
        str(path),
    )


def test_markdown():
    result = run("--format", "markdown", "whisper-1")
    assert result.exit_code == 0
    assert result.stdout.startswith("## Prices") or "| model |" in result.stdout
    assert "| whisper-1 |" in result.stdout


def test_help_has_an_example():
    result = run("--help")
    assert result.exit_code == 0
    assert "Example:\n    $ rt prices\n" in result.stdout
    for option in ("--format", "--pricing"):
        assert option in result.stdout


def test_the_price_file_examples_in_the_docs_load(tmp_path):
    text = (Path(__file__).resolve().parent.parent / "docs" / "pricing.md").read_text()
    (json_example,) = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    (toml_example,) = re.findall(r"```toml\n(.*?)```", text, flags=re.DOTALL)
    path = tmp_path / "p.json"
    path.write_text(json_example)
    table = builtin_prices().merged(load_price_file(path))
    assert table.lookup("prod-voice-eu") == ("gpt-realtime-2", table.models["gpt-realtime-2"])
    assert table.models["my-whisper"].per_minute == 0.006
    pytest.importorskip("tomllib")
    path = tmp_path / "p.toml"
    path.write_text(toml_example)
    table = load_price_file(path)
    assert table.models["prod-voice-eu"].text is not None
    assert table.aliases == {"prod-voice-us": "gpt-realtime-2"}
