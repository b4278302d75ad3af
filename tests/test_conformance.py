"""The readers agree: every command that reads a session says the same about it.

For every sample session and a set of hostile fixtures, `rt show --json`, the timeline of
`rt show`, `rt stats`, `rt sql`'s views, the Parquet export and `rt export wav` are run on the
same file, and what each says is compared: the frames kept, their numbers, the response each
belongs to, the responses, the model, the audio of each append, the warnings' lines. The one
interpretation (recorder/interpretation/) is what makes them agree; this suite is what proves
it, and each new reader or metric adds its reading here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import soundfile as sf
from click.testing import CliRunner
from rt_cli.main import cli

from recorder.analytics import collect_stats, open_views
from recorder.interpretation import Interpreter
from recorder.interpretation.layout import INPUT_AUDIO
from recorder.parquet import export_parquet
from recorder.reading import iter_records
from recorder.timeline import Entry, SessionHeader, build_timeline
from recorder.wav import export_wav

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "sample_sessions").glob("*.jsonl"))
HEADER = {
    "kind": "session",
    "format": "rt-session/1",
    "id": "fixture",
    "started_at": "2026-11-26T10:00:00.000000Z",
    "upstream": "wss://api.openai.com",
    "request": {"path": "/v1/realtime?model=gpt-realtime", "headers": [], "subprotocols": []},
    "recorder": {"name": "rt", "version": "0.1.0"},
}


def audio(ms: int, bytes_per_ms: float = 48) -> str:
    return base64.b64encode(bytes(int(ms * bytes_per_ms))).decode("ascii")


def frame(t: float, sender: str, event: dict[str, Any], seq: int | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"kind": "frame", "t": t, "from": sender, "event": event}
    if seq is not None:
        record["seq"] = seq
    return record


def voice_turn(*, numbered: bool = True) -> list[dict[str, Any]]:
    """A plain GA turn: session.created, appends, a response with audio and text."""
    events = [
        (0.1, "server", {"type": "session.created", "session": {"model": "gpt-realtime"}}),
        *[
            (0.2 + i * 0.02, "client", {"type": "input_audio_buffer.append", "audio": audio(20)})
            for i in range(10)
        ],
        (0.5, "client", {"type": "response.create"}),
        (0.6, "server", {"type": "response.created", "response": {"id": "resp_a"}}),
        (0.65, "server", {"type": "response.output_item.added", "response_id": "resp_a", "item": {"id": "item_a", "type": "message"}}),
        (0.8, "server", {"type": "response.output_audio.delta", "response_id": "resp_a", "item_id": "item_a", "delta": audio(100)}),
        (0.82, "server", {"type": "response.output_audio_transcript.delta", "response_id": "resp_a", "item_id": "item_a", "delta": "Hi"}),
        (0.9, "server", {"type": "conversation.item.done", "item": {"id": "item_a", "type": "message"}}),
        (1.0, "server", {"type": "response.done", "response": {"id": "resp_a", "status": "completed"}}),
    ]  # fmt: skip
    return [
        frame(t, sender, event, seq=i if numbered else None)
        for i, (t, sender, event) in enumerate(events)
    ]


def fixture_bad_t() -> list[dict[str, Any]]:
    frames = voice_turn()
    return [
        HEADER,
        *frames[:5],
        {**frames[5], "t": -5},
        {**frames[6], "t": 5e12},
        *frames[7:],
    ]


def fixture_missing_seq() -> list[dict[str, Any]]:
    return [HEADER, *voice_turn(numbered=False)]


def fixture_format_switch() -> list[dict[str, Any]]:
    """The client switches input to G.711 µ-law and appends before the server confirms."""
    return [
        HEADER,
        frame(0.1, "server", {"type": "session.created", "session": {"model": "gpt-realtime"}}, 0),
        frame(
            0.2,
            "client",
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"format": {"type": "audio/pcmu"}}},
                },
            },
            1,
        ),  # fmt: skip
        frame(0.21, "client", {"type": "input_audio_buffer.append", "audio": audio(1000, 8)}, 2),
        frame(
            0.3,
            "server",
            {
                "type": "session.updated",
                "session": {
                    "model": "gpt-realtime",
                    "audio": {"input": {"format": {"type": "audio/pcmu"}}},
                },
            },
            3,
        ),  # fmt: skip
        frame(0.4, "client", {"type": "input_audio_buffer.append", "audio": audio(500, 8)}, 4),
    ]


def fixture_model_mismatch() -> list[dict[str, Any]]:
    frames = voice_turn()
    frames[0] = frame(0.1, "server", {"type": "session.created", "session": {"model": "gpt-realtime-2025-08-28"}}, 0)  # fmt: skip
    return [HEADER, *frames]


def fixture_list_ids() -> list[dict[str, Any]]:
    frames = voice_turn()
    odd = frame(0.85, "server", {"type": "response.output_audio.delta", "response_id": [], "item_id": ["x"], "delta": audio(20)}, 11)  # fmt: skip
    return [HEADER, *frames[:11], odd, *[{**f, "seq": f["seq"] + 1} for f in frames[11:]]]


FIXTURES = {
    "bad-t": fixture_bad_t,
    "missing-seq": fixture_missing_seq,
    "format-switch": fixture_format_switch,
    "model-mismatch": fixture_model_mismatch,
    "list-ids": fixture_list_ids,
}


def cases() -> Iterator[Any]:
    for sample in SAMPLES:
        yield pytest.param(("sample", sample), id=sample.stem)
    for name in FIXTURES:
        yield pytest.param(("fixture", name), id=name)


@pytest.fixture
def session_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    kind, value = request.param
    if kind == "sample":
        return Path(value)
    path = tmp_path / f"{value}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in FIXTURES[value]()))
    return path


@dataclass
class Readings:
    """What each reader says about one file."""

    show_json: list[dict[str, Any]]
    timeline_header: SessionHeader | None
    timeline: list[Entry]
    sql_events: list[dict[str, Any]]
    sql_responses: list[dict[str, Any]]
    sql_session: dict[str, Any]
    stats_responses: list[dict[str, Any]]
    stats_session: dict[str, Any]
    parquet_events: list[dict[str, Any]]
    parquet_responses: list[dict[str, Any]]
    parquet_session: dict[str, Any]
    interpreter_appends_ms: list[float]


def rows(result: Any) -> list[dict[str, Any]]:
    columns = [c.name for c in result.columns]
    return [dict(zip(columns, row, strict=True)) for row in result.rows]


def read_everything(path: Path, tmp_path: Path) -> Readings:
    shown = CliRunner().invoke(cli, ["show", str(path), "--json"])
    assert shown.exit_code == 0, shown.output
    show_json = [json.loads(line) for line in shown.stdout.splitlines()]
    items = build_timeline(iter_records(path, lambda w: None))
    headers = [i for i in items if isinstance(i, SessionHeader)]
    with open_views([path], with_events=True) as views:
        db = views.db
        sql_events = rows(db.user_query("SELECT * FROM events"))
        sql_responses = rows(db.user_query("SELECT * FROM responses"))
        (sql_session,) = rows(db.user_query("SELECT * FROM sessions"))
    report = collect_stats([path])
    out = tmp_path / "dataset"
    export_parquet([path], out)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")

    def parquet(table: str, order: str) -> list[dict[str, Any]]:
        if not list((out / table).rglob("*.parquet")):
            return []
        cursor = con.execute(
            f"SELECT * FROM read_parquet('{out}/{table}/**/*.parquet', hive_partitioning = true) "
            f"ORDER BY {order}"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    interpreter = Interpreter(path)
    appends = []
    for line, record in iter_records(path, lambda w: None):
        found = interpreter.feed(line, record)
        if found is not None and found.type in INPUT_AUDIO and found.audio_format is not None:
            appends.append(round(found.audio_ms, 3))
    return Readings(
        show_json=show_json,
        timeline_header=headers[0] if headers else None,
        timeline=[i for i in items if isinstance(i, Entry)],
        sql_events=sql_events,
        sql_responses=sql_responses,
        sql_session=sql_session,
        stats_responses=[dict(r) for r in report.responses],
        stats_session=dict(report.sessions[0]),
        parquet_events=parquet("events", "seq"),
        parquet_responses=parquet("responses", "seq"),
        parquet_session=parquet("sessions", "file")[0],
        interpreter_appends_ms=appends,
    )


@pytest.mark.slow
@pytest.mark.parametrize("session_file", list(cases()), indirect=True)
def test_every_reader_says_the_same(session_file: Path, tmp_path: Path) -> None:
    r = read_everything(session_file, tmp_path)
    # frames kept and their numbers
    numbers = [f["seq"] for f in r.show_json]
    assert numbers == [e["seq"] for e in r.sql_events] == [e["seq"] for e in r.parquet_events]
    assert (
        len(numbers) == len(set(numbers)) == r.sql_session["frames"] == r.parquet_session["frames"]
    )
    assert [f["t"] for f in r.show_json] == [e["t"] for e in r.sql_events]
    # the response each frame belongs to, and its type
    assert [f["response_id"] for f in r.show_json] == [e["response_id"] for e in r.sql_events]
    assert [e["response_id"] for e in r.sql_events] == [e["response_id"] for e in r.parquet_events]
    assert [f["type"] for f in r.show_json] == [
        e["type"] if e["raw_type"] is not None else None for e in r.sql_events
    ]
    # the timeline numbers responses the same way (its collapsed lines name their first frame)
    by_seq = {f["seq"]: f for f in r.show_json}
    for entry in r.timeline:
        if entry.seq is not None and entry.seq in by_seq:
            assert entry.response_id == by_seq[entry.seq]["response_id"]
    # the responses, and their metrics
    ids = [row["response_id"] for row in r.stats_responses]
    assert ids == [row["response_id"] for row in r.sql_responses]
    assert ids == [row["response_id"] for row in r.parquet_responses]
    for stats, sql, stored in zip(
        r.stats_responses, r.sql_responses, r.parquet_responses, strict=True
    ):
        for key, value in stats.items():
            if key in ("session", "file"):
                continue
            assert sql[key] == value, key
            assert stored[key] == value, key
    # the kind of each response (CONTRACT §4.1), as the timeline marks it
    kinds = {row["response_id"]: row["kind"] for row in r.stats_responses}
    for entry in r.timeline:
        if entry.response_id in kinds and entry.response_kind is not None:
            assert entry.response_kind == kinds[entry.response_id], entry
    # the session: its cost, input transcription and translated audio (CONTRACT §4.2, §4.3),
    # its conversation timing (§4.6) and GPT-Live billing (§4.4)
    for key, value in r.stats_session.items():
        if key not in ("session", "file", "started_at"):
            assert r.sql_session[key] == value, key
            assert r.parquet_session[key] == value, key
    # the model
    model = r.stats_session["model"]
    assert model == r.sql_session["model"] == r.parquet_session["model"]
    if r.timeline_header is not None:
        assert r.timeline_header.model == model
    # the audio of each append
    assert r.interpreter_appends_ms == [
        round(e["audio_ms"], 3)
        for e in r.sql_events
        if e["type"] in INPUT_AUDIO and e["audio_ms"] is not None
    ]


@pytest.mark.slow
@pytest.mark.parametrize("session_file", list(cases()), indirect=True)
def test_the_wav_holds_the_audio_the_other_readers_count(
    session_file: Path, tmp_path: Path
) -> None:
    with open_views([session_file]) as views:
        (session,) = rows(views.db.user_query("SELECT * FROM sessions"))
    if not session["input_audio_bytes"]:
        return
    written = export_wav(session_file, tmp_path, tracks=("user",), on_warning=lambda w: None)
    (user,) = [w for w in written.written if w.path.name.endswith(".user.wav")]
    samples, rate = sf.read(str(user.path), dtype="int16")
    # every append's audio is in the track: the same milliseconds stats and sql count (one
    # sample of rounding per format change at most)
    assert abs(len(samples) / rate * 1000 - session["input_audio_ms"]) <= 1000 / rate * 4


def test_the_fixtures_show_the_rules(tmp_path: Path) -> None:
    """What the hostile fixtures are for, said once and checked through rt stats."""
    checks = {}
    for name, build in FIXTURES.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in build()))
        checks[name] = collect_stats([path])
    # frames with t out of range are skipped, by every reader (the suite above)
    assert checks["bad-t"].sessions[0]["responses"] == 1
    # the server's word on the model wins over the URL's
    assert checks["model-mismatch"].sessions[0]["model"] == "gpt-realtime-2025-08-28"
    # a list where an id belongs is no id: no response named "[]"
    assert [r["response_id"] for r in checks["list-ids"].responses] == ["resp_a"]


def test_a_pending_format_request_applies_to_every_reader(tmp_path: Path) -> None:
    path = tmp_path / "switch.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in fixture_format_switch()))
    with open_views([path], with_events=True) as views:
        appends = rows(
            views.db.user_query(
                "SELECT audio_ms FROM events WHERE type = 'input_audio_buffer.append' ORDER BY seq"
            )
        )
    assert [a["audio_ms"] for a in appends] == [1000.0, 500.0]
    shown = CliRunner().invoke(cli, ["show", str(path), "--all", "--type", "input_audio_buffer"])
    assert "1.000 s audio" in shown.stdout and "0.500 s audio" in shown.stdout
    written = export_wav(path, tmp_path, tracks=("user",), on_warning=lambda w: None)
    (user,) = written.written
    assert abs(user.duration_s - 1.5) < 1e-3


@pytest.mark.parametrize(
    "command",
    [
        ["show"],
        ["stats"],
        ["ls"],
        ["sql", "SELECT count(*) FROM sessions"],
        ["export", "wav"],
        ["export", "parquet"],
        ["report"],
        ["check"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("empty.jsonl", "", "empty file"),
        ("package.json", '{"name": "not a session", "version": "1.0"}\n', "not an rt session file"),
    ],
)
def test_an_empty_or_foreign_file_alone_is_an_error_everywhere(
    command: list[str], name: str, content: str, says: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_text(content)
    args = [*command[:1], *command[1:], str(path)]
    if command[0] == "export":
        args += ["--out", str(tmp_path / "out")]
    if command[0] == "report":
        args += ["-o", str(tmp_path / "report.html")]
    result = CliRunner().invoke(cli, args)
    # rt check says 2 for everything that keeps it from checking (CONTRACT §4.5: 1 is a failed check)
    assert result.exit_code == (2 if command[0] == "check" else 1), result.output
    assert str(path) in result.stderr and says in result.stderr
