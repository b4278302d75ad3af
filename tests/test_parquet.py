"""`rt export parquet`: session files -> a Hive-partitioned Parquet dataset, read back for real
with DuckDB and pyarrow and compared with `rt stats` over the JSONL it came from."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from rt_cli.main import cli

from recorder import vocabulary
from recorder.analytics import collect_stats
from recorder.analytics.datasets import DatasetError
from recorder.errors import InputError
from recorder.parquet import (
    DATASET_FORMAT,
    MARKER,
    TABLES,
    ExportError,
    ParquetDataset,
    export_parquet,
    find_dataset,
)
from recorder.reading import iter_records

SAMPLES = Path(__file__).resolve().parent.parent / "sample_sessions"


def stats_reads_datasets() -> bool:
    """Whether `rt stats` accepts datasets and URLs yet (the analytics side of this feature)."""
    from recorder.analytics import sources

    return hasattr(sources, "resolve_sources")


needs_stats_support = pytest.mark.skipif(
    not stats_reads_datasets(),
    reason="rt stats does not read Parquet datasets yet (apply the analytics patch)",
)


@pytest.fixture
def samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the sample sessions, with the working directory beside it (relative paths,
    as a user would type them)."""
    shutil.copytree(
        SAMPLES, tmp_path / "sessions", ignore=shutil.ignore_patterns("speech", "*.py", "*.md")
    )
    monkeypatch.chdir(tmp_path)
    return Path("sessions")


@pytest.fixture
def dataset(samples: Path) -> Path:
    export_parquet([samples], "warehouse")
    return Path("warehouse")


def read(root: Path | str, table: str, order: str = "") -> list[dict[str, Any]]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    cursor = con.execute(
        f"SELECT * FROM read_parquet('{root}/{table}/**/*.parquet', hive_partitioning = true) {order}"
    )
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def frames_of(path: Path) -> Iterator[dict[str, Any]]:
    for _, record in iter_records(path):
        if record["kind"] == "frame":
            yield record


# -- the dataset -------------------------------------------------------------------------------


def test_layout_is_one_hive_partitioned_directory_per_table(dataset: Path) -> None:
    marker = json.loads((dataset / MARKER).read_text())
    assert marker["format"] == DATASET_FORMAT
    assert marker["tables"] == list(TABLES)
    assert marker["partitioning"] == ["date", "model"]
    for table in TABLES:
        files = sorted((dataset / table).rglob("*.parquet"))
        assert files, table
        for file in files:
            date, model = file.parent.parent.name, file.parent.name
            assert date.startswith("date=2") and model.startswith("model="), file
            assert file.name.startswith("part-")
    models = {p.name for p in (dataset / "sessions").glob("date=*/model=*")}
    assert models == {
        "model=gpt-realtime",
        "model=gpt-realtime-mini",
        "model=gpt-realtime-2",
        "model=gpt-realtime-translate",
        "model=gpt-4o-realtime-preview",
        "model=gpt-4o-realtime-preview-2024-10-01",
        "model=gpt-live-1",
        "model=gpt-live-1.1",
    }
    assert find_dataset(dataset) == ParquetDataset("warehouse")
    assert find_dataset(Path("sessions")) is None


def test_computed_tables_hold_what_rt_stats_reports(samples: Path, dataset: Path) -> None:
    report = collect_stats([samples]).to_json()
    responses = read(dataset, "responses")
    # GPT-Live turns are live-1, live-2, … in every session
    by_id = {(row["session"], row["response_id"]): row for row in responses}
    assert len(responses) == len(report["responses"]) == report["summary"]["responses"]
    for expected in report["responses"]:
        row = by_id[(expected["session"], expected["response_id"])]
        assert {key: row[key] for key in expected} == expected
    sessions = {row["session"]: row for row in read(dataset, "sessions")}
    assert len(sessions) == len(report["sessions"])
    for expected in report["sessions"]:
        row = sessions[expected["session"]]
        assert row["started_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ") == expected["started_at"]
        assert row["date"].isoformat() == expected["started_at"][:10]
        for key in ("file", "duration_s", "responses", "input_tokens", "output_tokens", "cost_usd"):
            assert row[key] == expected[key], key
        assert row["closed_by"] in ("client", "server")
        assert row["request_path"].startswith(
            ("/v1/realtime", "/openai/realtime", "/v1/live/sessions", "/openai/v1/live/sessions")
        )
    limits = read(dataset, "rate_limits", "ORDER BY file, t, name")
    assert len(limits) == len(report["rate_limits"])
    expected_limits = sorted(
        report["rate_limits"], key=lambda r: (sessions[r["session"]]["file"], r["t"], r["name"])
    )
    for row, expected in zip(limits, expected_limits, strict=True):
        assert row["at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ") == expected["at"]
        assert {k: row[k] for k in ("session", "t", "name", "limit", "remaining")} == {
            k: expected[k] for k in ("session", "t", "name", "limit", "remaining")
        }
    errors = read(dataset, "errors")
    assert sorted((e["session"], e["t"], e["type"], e["message"]) for e in errors) == sorted(
        (e["session"], e["t"], e["type"], e["message"]) for e in report["errors"]
    )


AUDIO_FIELD = {
    vocabulary.AUDIO_APPEND: "audio",
    "session.input_audio.append": "audio",
    "session.input_audio_buffer.append": "audio",  # the translation endpoint's
    vocabulary.AUDIO_DELTA: "delta",
    "session.output_audio.delta": "delta",
}


def test_events_are_every_frame_in_the_ga_vocabulary_without_audio(
    samples: Path, dataset: Path
) -> None:
    events = read(dataset, "events", "ORDER BY file, seq")
    expected = [
        (str(path), frame) for path in sorted(samples.glob("*.jsonl")) for frame in frames_of(path)
    ]
    assert len(events) == len(expected)
    beta_seen = False
    for row, (file, frame) in zip(events, expected, strict=True):
        event = frame["event"]
        assert (row["file"], row["seq"], row["t"], row["direction"]) == (
            file,
            frame["seq"],
            frame["t"],
            frame["from"],
        )
        assert row["raw_type"] == event["type"]
        assert row["type"] == vocabulary.canonical(event["type"])
        beta_seen |= row["type"] != row["raw_type"]
        stored = json.loads(row["event"])
        audio = AUDIO_FIELD.get(row["type"])  # Realtime's, GPT-Live's, translation's
        if audio is not None:
            assert row["audio_bytes"] == len(base64.b64decode(event[audio]))
            assert stored == {k: v for k, v in event.items() if k != audio}
        else:
            assert row["audio_bytes"] is None
            assert stored == event
        assert row["at"] is not None
    assert beta_seen, "the beta sample keeps its recorded names in raw_type"
    biggest = max(len(row["event"]) for row in events)
    assert biggest < 4000, "no base64 audio left in the events"


def test_with_audio_keeps_every_event_as_recorded(samples: Path) -> None:
    one = samples / "ga-push-to-talk.jsonl"
    export_parquet([one], "with-audio", with_audio=True)
    events = read("with-audio", "events", "ORDER BY seq")
    assert [json.loads(row["event"]) for row in events] == [f["event"] for f in frames_of(one)]


def test_pyarrow_reads_the_dataset_with_its_partitions(dataset: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(dataset / "responses", partitioning="hive")
    assert table.num_rows == len(read(dataset, "responses"))
    assert {"date", "model", "ttfb_ms", "cost_usd"} <= set(table.column_names)
    events = pq.read_table(dataset / "events", partitioning="hive", columns=["type", "event"])
    assert events.num_rows == len(read(dataset, "events"))
    assert json.loads(events.column("event")[0].as_py())["type"]


# -- adding to a dataset -----------------------------------------------------------------------


def test_a_second_export_adds_only_new_sessions(samples: Path, tmp_path: Path) -> None:
    first = export_parquet([samples / "ga-text-only.jsonl"], "warehouse")
    assert first.sessions == 1
    again = export_parquet([samples], "warehouse")
    assert again.already_exported == [str(samples / "ga-text-only.jsonl")]
    assert again.sessions == 11
    assert again.run_id != first.run_id
    nothing = export_parquet([samples], "warehouse")
    assert nothing.sessions == 0 and len(nothing.already_exported) == 12
    sessions = read("warehouse", "sessions")
    assert len(sessions) == 12 == len({row["file"] for row in sessions})
    names = {
        p.name.split("-", 1)[1].rsplit("-", 1)[0] for p in Path("warehouse").rglob("*.parquet")
    }
    assert names == {first.run_id, again.run_id}


def test_a_directory_that_is_not_a_dataset_is_left_alone(samples: Path) -> None:
    Path("occupied").mkdir()
    Path("occupied/notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="occupied is not empty and holds no rt-parquet/2"):
        export_parquet([samples], "occupied")
    assert sorted(p.name for p in Path("occupied").iterdir()) == ["notes.txt"]
    Path("afile").write_text("x")
    with pytest.raises(ExportError, match="afile is a file"):
        export_parquet([samples], "afile")
    export_parquet([samples], "ds")
    with pytest.raises(InputError, match="ds is already a Parquet dataset"):
        export_parquet(["ds"], "elsewhere")


def test_a_newer_dataset_format_is_refused(samples: Path) -> None:
    Path("future").mkdir()
    Path("future", MARKER).write_text('{"format": "rt-parquet/9"}')
    with pytest.raises(DatasetError, match="not an rt-parquet dataset this rt reads"):
        export_parquet([samples], "future")


# -- odd inputs --------------------------------------------------------------------------------


def test_bad_lines_are_skipped_and_reported(samples: Path) -> None:
    cut = samples / "ga-text-only.jsonl"
    good = sum(1 for _ in frames_of(cut))
    lines = len(cut.read_text().splitlines())
    with cut.open("a") as fh:
        fh.write('{"kind":"frame","seq":999,"t":9.0,"from":"server","event":{"type":"resp')
    result = export_parquet([cut], "out")
    assert [str(w) for w in result.warnings] == [
        f"{cut}:{lines + 1}: incomplete last line (cut off)"
    ]
    assert len(read("out", "events")) == good


def test_a_file_without_a_session_line_has_no_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    lines = [
        {"kind": "frame", "t": 0.5, "from": "client", "event": {"type": "response.create"}},
        {
            "kind": "frame",
            "t": 0.1,
            "from": "server",
            "event": {"type": "session.created", "session": {"model": "gpt-realtime"}},
        },
        {
            "kind": "frame",
            "t": 0.7,
            "from": "server",
            "event": {"type": "response.created", "response": {"id": "r1"}},
        },
    ]
    Path("hand.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    export_parquet(["hand.jsonl"], "out")
    assert [p.name for p in Path("out/events").iterdir()] == ["date=__HIVE_DEFAULT_PARTITION__"]
    events = read("out", "events", "ORDER BY seq")
    # numbered in file order, times as recorded (the one at 0.1 after one at 0.5 is warned about)
    assert [(e["seq"], e["t"], e["session"], e["date"], e["at"]) for e in events] == [
        (0, 0.5, "hand", None, None),
        (1, 0.1, "hand", None, None),
        (2, 0.7, "hand", None, None),
    ]
    assert [e["response_id"] for e in events] == [None, None, "r1"]
    assert read("out", "sessions")[0]["model"] == "gpt-realtime"


def test_no_session_files_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["export", "parquet", "nothing/*.jsonl", "--out", "out"])
    assert result.exit_code == 1
    assert result.output == "Error: no session files match 'nothing/*.jsonl'\n"


# -- the command -------------------------------------------------------------------------------


def test_cli_prints_what_it_wrote(samples: Path) -> None:
    result = CliRunner().invoke(
        cli, ["export", "parquet", str(samples), "--out", "warehouse"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("exported 12 sessions to warehouse (run ")
    assert [line.split()[0] for line in lines[1:]] == list(TABLES)
    assert lines[1].split()[1:3] == [f"{len(read('warehouse', 'events')):,}", "rows"]
    again = CliRunner().invoke(cli, ["export", "parquet", str(samples), "--out", "warehouse"])
    assert again.stdout == "nothing to export: warehouse already holds every session\n"
    assert "12 session files already in the dataset, skipped" in again.stderr


def test_cli_refuses_an_occupied_directory(samples: Path) -> None:
    Path("occupied").mkdir()
    Path("occupied/x").write_text("")
    result = CliRunner().invoke(cli, ["export", "parquet", str(samples), "--out", "occupied"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: occupied is not empty and holds no rt-parquet/2")
    assert len(result.output.splitlines()) == 1


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(cli, ["export", "parquet", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and "--with-audio" in result.output


# -- rt stats over the dataset -----------------------------------------------------------------


@needs_stats_support
def test_rt_stats_over_the_dataset_prints_the_same_json(samples: Path, dataset: Path) -> None:
    runner = CliRunner()
    from_jsonl = runner.invoke(
        cli, ["stats", str(samples), "--format", "json"], catch_exceptions=False
    )
    from_parquet = runner.invoke(
        cli, ["stats", str(dataset), "--format", "json"], catch_exceptions=False
    )
    assert from_parquet.exit_code == 0, from_parquet.output
    assert json.loads(from_parquet.stdout) == json.loads(from_jsonl.stdout)
    assert from_parquet.stdout == from_jsonl.stdout


@needs_stats_support
def test_rt_stats_over_a_dataset_with_odd_sessions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No session line (no start time, no seq), a proxy fault, an audio-less response."""
    monkeypatch.chdir(tmp_path)
    Path("in").mkdir()
    hand = [
        {
            "kind": "frame",
            "t": 0.1,
            "from": "server",
            "event": {
                "type": "session.created",
                "session": {
                    "model": "gpt-realtime-mini",
                    "audio": {"input": {"format": {"type": "audio/pcmu"}}},
                },
            },
        },
        {
            "kind": "frame",
            "t": 0.2,
            "from": "client",
            "event": {
                "type": "input_audio_buffer.append",
                "audio": base64.b64encode(b"\x00" * 800).decode(),
            },
        },
        {
            "kind": "frame",
            "t": 0.4,
            "from": "server",
            "event": {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 90},
        },
        {
            "kind": "frame",
            "t": 0.5,
            "from": "server",
            "event": {"type": "response.created", "response": {"id": "r1"}},
        },
        {
            "kind": "frame",
            "t": 0.6,
            "from": "server",
            "event": {
                "type": "response.output_audio.delta",
                "response_id": "r1",
                "delta": base64.b64encode(b"\x01" * 160).decode(),
            },
        },
        {
            "kind": "frame",
            "t": 0.9,
            "from": "server",
            "event": {
                "type": "response.done",
                "response": {
                    "id": "r1",
                    "status": "completed",
                    "usage": {
                        "input_tokens": 10,
                        "output_tokens": 5,
                        "input_token_details": {
                            "text_tokens": 4,
                            "audio_tokens": 6,
                            "cached_tokens": 0,
                        },
                        "output_token_details": {"text_tokens": 1, "audio_tokens": 4},
                    },
                },
            },
        },
        {
            "kind": "frame",
            "t": 1.0,
            "from": "server",
            "event": {
                "type": "rate_limits.updated",
                "rate_limits": [
                    {"name": "tokens", "limit": 100, "remaining": 85, "reset_seconds": 1.5}
                ],
            },
        },
        {"kind": "error", "t": 1.1, "message": "write failed: disk full"},
        {"kind": "frame", "t": 1.2, "from": "server", "text": "not json"},
    ]
    Path("in/hand.jsonl").write_text("".join(json.dumps(line) + "\n" for line in hand))
    shutil.copy(SAMPLES / "errors-and-rate-limits.jsonl", "in/errors.jsonl")
    export_parquet(["in"], "ds")
    runner = CliRunner()
    expected = runner.invoke(cli, ["stats", "in", "--format", "json"], catch_exceptions=False)
    got = runner.invoke(cli, ["stats", "ds", "--format", "json"], catch_exceptions=False)
    assert got.stdout == expected.stdout
    report = json.loads(got.stdout)
    assert [e["source"] for e in report["errors"] if e["session"] == "hand"] == ["proxy"]
