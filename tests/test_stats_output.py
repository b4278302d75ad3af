"""The generic renderer (cli/output.py) and path resolution for `rt stats`."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rt_cli.output import (
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


def test_json_values_for_every_duckdb_type():
    import datetime as dt
    import decimal
    import uuid

    from rt_cli.output import json_value

    utc = dt.timezone.utc
    assert json_value(dt.datetime(2026, 11, 26, 10, 0, 4, 10000, tzinfo=utc)) == (
        "2026-11-26T10:00:04.010000Z"
    )
    assert json_value(dt.datetime(2026, 11, 26, 10, 0)) == "2026-11-26T10:00:00.000000"
    assert json_value(dt.date(2026, 11, 26)) == "2026-11-26"
    assert json_value(decimal.Decimal("1.50")) == 1.5
    assert json_value(float("nan")) is None and json_value(float("inf")) is None
    assert json_value(dt.timedelta(seconds=1.5)) == 1.5
    assert json_value(b"\x00\x01") == "AAE="
    assert json_value(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert json_value({"a": [decimal.Decimal(2), None]}) == {"a": [2.0, None]}
    assert cell_text(Column("x"), {"a": [1, "b"]}) == '{"a":[1,"b"]}'
    assert cell_text(Column("x"), dt.date(2026, 1, 2)) == "2026-01-02"


def test_untitled_table_starts_with_its_header_and_a_pipe_gets_every_cell_whole():
    wide = "x" * 300
    table = Table("", [Column("name"), number_column("n")], [{"name": wide, "n": 12345}])
    out = io.StringIO()
    print_tables([table], Console(file=out, width=100))
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["name", "n"]
    assert lines[2].split() == [wide, "12345"]  # not cut or wrapped to the console's width
    out = io.StringIO()
    write_markdown([table], out)
    assert out.getvalue().startswith("| name | n |\n")


def test_cut_cells_end_with_an_ellipsis_in_the_table_view_only():
    table = Table("", [Column("text", max_width=10)], [{"text": "abcdefghijklmnop"}])
    out = io.StringIO()
    print_tables([table], Console(file=out, width=100))
    assert out.getvalue().splitlines()[2] == "abcdefghi…"
    out = io.StringIO()
    write_csv(table, out)
    assert out.getvalue() == "text\nabcdefghijklmnop\n"
