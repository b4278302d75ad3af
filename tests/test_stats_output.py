"""The generic renderer (cli/output.py) and path resolution for `rt stats`."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from cli.output import (
    Column,
    Table,
    cell_text,
    number_column,
    print_tables,
    sparkline,
    write_csv,
    write_markdown,
)
from recorder.analytics import resolve_session_files
from recorder.errors import InputError

TABLE = Table(
    "Things",
    [Column("name"), number_column("ms", "latency ms", 1, style=lambda v: "red"), Column("ok")],
    [{"name": "a|b", "ms": 12.345, "ok": True}, {"name": "c", "ms": None, "ok": False}],
    caption="2 things",
)


def test_cells_read_the_same_everywhere():
    assert cell_text(TABLE.columns[1], 12.345) == "12.3"
    assert cell_text(TABLE.columns[1], None) == ""
    assert cell_text(TABLE.columns[2], True) == "true"
    assert cell_text(Column("x"), 1234) == "1234"


def test_csv_and_markdown():
    out = io.StringIO()
    write_csv(TABLE, out)
    assert out.getvalue() == "name,ms,ok\na|b,12.3,true\nc,,false\n"
    out = io.StringIO()
    write_markdown([TABLE], out)
    assert out.getvalue() == (
        "### Things\n\n"
        "| name | latency ms | ok |\n"
        "|---|---:|---|\n"
        "| a\\|b | 12.3 | true |\n"
        "| c |  | false |\n"
        "\n2 things\n"
    )


def test_plain_table_has_no_colour_and_no_trailing_blanks():
    out = io.StringIO()
    print_tables([TABLE], Console(file=out, width=100))
    text = out.getvalue()
    assert "\x1b[" not in text
    assert text.splitlines()[0] == "Things"
    assert "12.3" in text and "2 things" in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_terminal_table_is_coloured():
    out = io.StringIO()
    print_tables(
        [TABLE], Console(file=out, width=100, force_terminal=True, color_system="standard")
    )
    assert "\x1b[31m" in out.getvalue()  # red


def test_sparkline():
    assert sparkline([0.0, 50.0, None, 100.0]) == "▁▅ █"
    assert sparkline([]) == ""


def test_paths_files_directories_and_globs(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ("a/one.jsonl", "a/deep/two.jsonl", "a/notes.txt", "three.jsonl"):
        (tmp_path / name).write_text("")
    assert resolve_session_files([tmp_path / "a"]) == [
        tmp_path / "a" / "deep" / "two.jsonl",
        tmp_path / "a" / "one.jsonl",
    ]
    assert resolve_session_files([str(tmp_path / "*.jsonl"), tmp_path / "a" / "notes.txt"]) == [
        tmp_path / "three.jsonl",
        tmp_path / "a" / "notes.txt",
    ]
    # a file named twice, by a directory and directly, is read once
    assert len(resolve_session_files([tmp_path, tmp_path / "three.jsonl"])) == 3
    with pytest.raises(InputError, match="no session files match"):
        resolve_session_files([tmp_path / "missing.jsonl"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no session files match"):
        resolve_session_files([tmp_path / "empty"])
