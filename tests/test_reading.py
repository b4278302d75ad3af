"""recorder.reading, the one way every reader reads a session file: lines, the header's format
and its migrations, misplaced headers, empty and foreign files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rt_cli.main import cli

from recorder import reading
from recorder.reading import RecordChecker, UnsupportedFormat, iter_records
from recorder.warning_log import FileWarning

FRAME = {"kind": "frame", "seq": 0, "t": 0.5, "from": "client", "event": {"type": "x"}}


def write(path: Path, *records: Any, ending: str = "\n") -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + ending for r in records))
    return path


def read(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[FileWarning]]:
    warnings: list[FileWarning] = []
    return list(iter_records(path, warnings.append)), warnings


def test_a_current_file_reads_as_it_is(tmp_path: Path) -> None:
    header = {"kind": "session", "format": "rt-session/1", "id": "s"}
    records, warnings = read(write(tmp_path / "s.jsonl", header, FRAME))
    assert records == [(1, header), (2, FRAME)] and warnings == []


def test_an_older_format_goes_through_the_migration_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a made-up rt-session/0 that called the direction "dir": the chain turns it into /1
    def convert_0_1(record: dict[str, Any]) -> dict[str, Any]:
        if record.get("kind") == "session":
            return {**record, "format": "rt-session/1"}
        if "dir" in record:
            record = {**record, "from": record["dir"]}
            del record["dir"]
        return record

    monkeypatch.setitem(reading.MIGRATIONS, "rt-session/0", ("rt-session/1", convert_0_1))
    old_frame = {"kind": "frame", "seq": 0, "t": 0.5, "dir": "server", "event": {"type": "x"}}
    path = write(tmp_path / "old.jsonl", {"kind": "session", "format": "rt-session/0"}, old_frame)
    # an old frame has no `from`: it is migrated first, then checked as an rt-session/1 frame
    records, warnings = read(path)
    assert warnings == []
    assert [r["kind"] for _, r in records] == ["session", "frame"]
    assert records[0][1]["format"] == "rt-session/1"
    assert records[1][1] == {
        "kind": "frame",
        "seq": 0,
        "t": 0.5,
        "from": "server",
        "event": {"type": "x"},
    }


def test_a_newer_format_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "new.jsonl", {"kind": "session", "format": "rt-session/999"}, FRAME)
    with pytest.raises(UnsupportedFormat, match=r"new.jsonl: format rt-session/999 is newer"):
        read(path)
    result = CliRunner().invoke(cli, ["stats", str(path)])
    assert result.exit_code == 1
    assert "format rt-session/999 is newer than this rt reads (rt-session/1); upgrade rt" in (
        result.stderr
    )


def test_a_header_with_a_foreign_format_is_a_damaged_line(tmp_path: Path) -> None:
    path = write(tmp_path / "odd.jsonl", {"kind": "session", "format": "mitmproxy/8"}, FRAME)
    records, warnings = read(path)
    assert records == [(2, FRAME)]
    assert [str(w) for w in warnings] == [
        f"{path}:1: a session line whose format 'mitmproxy/8' is not rt's; ignored"
    ]


def test_a_second_header_or_a_late_one_is_skipped(tmp_path: Path) -> None:
    header = {"kind": "session", "id": "a"}
    records, warnings = read(write(tmp_path / "two.jsonl", header, FRAME, {**header, "id": "b"}))
    assert [r.get("id") for _, r in records] == ["a", None]
    assert [(w.line, w.reason) for w in warnings] == [
        (3, "a session line that is not the first record; ignored")
    ]
    records, warnings = read(write(tmp_path / "late.jsonl", FRAME, header))
    assert records == [(1, FRAME)] and [w.line for w in warnings] == [2]


def test_empty_and_foreign_files_are_named_as_such(tmp_path: Path) -> None:
    _, warnings = read(write(tmp_path / "empty.jsonl"))
    assert [str(w) for w in warnings] == [f"{tmp_path}/empty.jsonl: empty file: no session records"]
    _, warnings = read(write(tmp_path / "package.json", {"name": "x"}))
    assert [(w.line, w.reason) for w in warnings] == [
        (1, "record has no 'kind'"),
        (None, "not an rt session file: no line is a session record"),
    ]


def test_line_endings_blank_lines_and_a_cut_off_end(tmp_path: Path) -> None:
    crlf = write(tmp_path / "crlf.jsonl", FRAME, FRAME, ending="\r\n")
    assert [n for n, _ in read(crlf)[0]] == [1, 2]
    cr = write(tmp_path / "cr.jsonl", FRAME, FRAME, FRAME, ending="\r")  # old Mac style
    assert [n for n, _ in read(cr)[0]] == [1, 2, 3]
    blank = tmp_path / "blank.jsonl"
    blank.write_text(json.dumps(FRAME) + "\n\n   \n" + json.dumps(FRAME) + "\n")
    assert [n for n, _ in read(blank)[0]] == [1, 4]  # blank lines count, and are no warning
    cut = tmp_path / "cut.jsonl"
    cut.write_text(json.dumps(FRAME) + "\n" + json.dumps(FRAME)[:-5])
    records, warnings = read(cut)
    assert [n for n, _ in records] == [1]
    assert [(w.line, w.reason) for w in warnings] == [(2, "incomplete last line (cut off)")]


def test_the_checker_reads_a_growing_file_line_by_line(tmp_path: Path) -> None:
    warnings: list[FileWarning] = []
    checker = RecordChecker(tmp_path / "live.jsonl", warnings.append)
    assert checker.check(1, json.dumps({"kind": "session", "id": "s"}).encode()) is not None
    assert checker.check(2, b"{broken") is None
    assert checker.check(3, json.dumps(FRAME).encode()) == FRAME
    checker.end()
    assert (checker.records, checker.skipped, [w.line for w in warnings]) == (2, 1, [2])
