"""The views `rt sql`, `rt ls` and `rt stats` share (recorder/analytics/views.py), on hand-built
session files with known values and on the sample sessions (real DuckDB)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from stats_fixtures import (
    NOT_LIVE,
    NOT_TRANSCRIBED,
    SILENT_CALL_TIMING,
    SessionFile,
    ga_session_created,
    ga_usage,
)

from recorder.analytics import VIEW_NAMES, collect_stats, open_views, run_sql
from recorder.analytics.db import query_text
from recorder.analytics.report import ERROR_KEYS, RATE_LIMIT_KEYS, RESPONSE_KEYS, SESSION_KEYS

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_sessions"
DOCS = ROOT / "docs" / "sql.md"
BETA_MODEL = "gpt-4o-realtime-preview-2024-10-01"


def rows(sql: str, *paths: Path) -> list[dict[str, Any]]:
    result = run_sql(sql, [str(p) for p in paths])
    names = [c.name for c in result.columns]
    return [dict(zip(names, row, strict=True)) for row in result.rows]


def ga_call() -> SessionFile:
    """GA: a typed turn with audio, a rate-limit update, an error, a cancel naming a response."""
    s = SessionFile("call-ga")
    s.server(0.0, "session.created", **ga_session_created())
    s.client(1.0, "response.create")
    s.created(1.1, "resp_1")
    s.audio_delta(1.3, "resp_1", 100)
    s.transcript_delta(1.31, "resp_1", "Hello")
    s.done(1.9, "resp_1", usage=ga_usage(input_text=100, output_audio=50))
    s.rate_limits(1.95, ("tokens", 40000, 39850, 0.2))
    s.server(2.0, "error", error={"type": "invalid_request_error", "code": "x", "message": "m"})
    s.client(2.1, "response.cancel", response_id="resp_1")
    s.text_frame(2.2, "client", "not json")
    s.binary_frame(2.3, "server", b"\x00\x01\x02")
    return s


def beta_call() -> SessionFile:
    s = SessionFile("call-beta", started_at="2026-11-26T11:00:00.000000Z")
    s.server(0.0, "session.created", session={"model": BETA_MODEL})
    s.client(0.5, "response.create")
    s.created(0.6, "resp_b")
    s.audio_delta(0.9, "resp_b", 200, beta=True)
    s.done(1.5, "resp_b", status="cancelled", status_details={"reason": "turn_detected"})
    return s


@pytest.fixture
def two_calls(tmp_path: Path) -> Path:
    ga_call().write(tmp_path)
    beta_call().write(tmp_path)
    return tmp_path


def test_events_has_every_frame_with_canonical_and_recorded_types(two_calls):
    found = rows(
        'SELECT session, seq, t, "at", direction, type, raw_type, response_id FROM events '
        "ORDER BY file, seq",
        two_calls,
    )
    beta = [(r["seq"], r["direction"], r["type"], r["raw_type"]) for r in found[:5]]
    assert beta == [
        (0, "server", "session.created", "session.created"),
        (1, "client", "response.create", "response.create"),
        (2, "server", "response.created", "response.created"),
        (3, "server", "response.output_audio.delta", "response.audio.delta"),
        (4, "server", "response.done", "response.done"),
    ]
    ga = found[5:]
    assert [(r["type"], r["response_id"]) for r in ga] == [
        ("session.created", None),
        ("response.create", None),
        ("response.created", "resp_1"),
        ("response.output_audio.delta", "resp_1"),
        ("response.output_audio_transcript.delta", "resp_1"),
        ("response.done", "resp_1"),
        ("rate_limits.updated", None),
        ("error", None),
        ("response.cancel", "resp_1"),  # a client event names the response it cancels
        (None, None),  # the text frame
        (None, None),  # the binary frame
    ]
    assert ga[3]["t"] == 1.3
    assert ga[3]["at"].isoformat() == "2026-11-26T10:00:01.300000+00:00"
    assert {r["session"] for r in ga} == {"call-ga"}


def test_events_keeps_each_event_exactly(two_calls):
    result = run_sql(
        "SELECT seq, event FROM events WHERE session = 'call-ga' ORDER BY seq",
        [str(two_calls)],
        with_audio=True,
    )
    found = [dict(zip(["seq", "event"], row, strict=True)) for row in result.rows]
    recorded = [
        json.loads(line)
        for line in (two_calls / "call-ga.jsonl").read_text().splitlines()
        if '"kind":"frame"' in line
    ]
    assert [r["seq"] for r in found] == [r["seq"] for r in recorded]
    assert [None if r["event"] is None else json.loads(r["event"]) for r in found] == [
        r.get("event") for r in recorded
    ]


def test_events_leave_the_audio_out_unless_asked(two_calls):
    found = rows("SELECT type, audio_bytes, event FROM events WHERE audio_bytes > 0", two_calls)
    assert found and all(r["audio_bytes"] > 0 for r in found)
    for row in found:
        event = json.loads(row["event"])
        assert "audio" not in event and "delta" not in event  # the size stays in audio_bytes


def test_events_come_in_file_order_without_order_by():
    found = rows("SELECT file, seq FROM events", SAMPLES)
    files = sorted(str(p.relative_to(ROOT)) for p in SAMPLES.glob("*.jsonl"))
    order = {name: index for index, name in enumerate(files)}
    keys = [(order[str(Path(r["file"]).resolve().relative_to(ROOT))], r["seq"]) for r in found]
    assert keys == sorted(keys)


def test_sessions_view(two_calls):
    found = rows("SELECT * FROM sessions", two_calls)
    assert [r["session"] for r in found] == ["call-beta", "call-ga"]  # the directory, sorted
    ga = found[1]
    cost = (100 * 4 + 50 * 64) / 1e6  # gpt-realtime: text in 4, audio out 64 per 1M
    assert {k: v for k, v in ga.items() if k != "started_at"} == {
        "session": "call-ga",
        "file": str(two_calls / "call-ga.jsonl"),
        "duration_s": 2.3,
        "responses": 1,
        "input_tokens": 100,
        "output_tokens": 50,
        "cost_usd": pytest.approx(cost),
        "model": "gpt-realtime",
        "frames": 11,
        "errors": 1,
        "ttfb_p50_ms": 300.0,
        "ttft_p50_ms": 300.0,
        "protocol": "realtime",
        "transport": "websocket",
        "client_frames": ga["client_frames"],
        "server_frames": ga["server_frames"],
        "input_audio_ms": ga["input_audio_ms"],
        "output_audio_ms": ga["output_audio_ms"],
        "input_audio_bytes": ga["input_audio_bytes"],
        "output_audio_bytes": ga["output_audio_bytes"],
        "proxy_errors": 0,
        "upstream": "wss://api.openai.com",
        "request_path": "/v1/realtime?model=gpt-realtime",
        "subprotocol": None,
        "closed_by": None,
        "close_code": None,
        "close_reason": None,
        "recorder_version": "0.1.0",
        **NOT_TRANSCRIBED,
        **SILENT_CALL_TIMING,  # its audio is digital silence: nobody talked
        **NOT_LIVE,
        "date": ga["started_at"].date(),
    }
    assert ga["client_frames"] + ga["server_frames"] == ga["frames"]
    assert ga["started_at"].isoformat() == "2026-11-26T10:00:00+00:00"
    beta = found[0]
    assert (beta["model"], beta["errors"], beta["frames"]) == (BETA_MODEL, 0, 5)
    assert (beta["input_tokens"], beta["cost_usd"]) == (0, None)  # a done without usage


def test_responses_view_adds_seq_times_and_reason(two_calls):
    found = rows(
        "SELECT response_id, status, seq, created_t, done_t, reason, ttfb_ms FROM responses",
        two_calls,
    )
    assert found == [
        {
            "response_id": "resp_b",
            "status": "cancelled",
            "seq": 2,
            "created_t": 0.6,
            "done_t": 1.5,
            "reason": "turn_detected",
            "ttfb_ms": 400.0,
        },
        {
            "response_id": "resp_1",
            "status": "completed",
            "seq": 2,
            "created_t": 1.1,
            "done_t": 1.9,
            "reason": None,
            "ttfb_ms": 300.0,
        },
    ]


def test_rate_limits_and_errors_views(two_calls):
    limits = rows(
        'SELECT session, t, "at", name, "limit", remaining, seq FROM rate_limits', two_calls
    )
    assert [{**r, "at": r["at"].isoformat()} for r in limits] == [
        {
            "session": "call-ga",
            "t": 1.95,
            "at": "2026-11-26T10:00:01.950000+00:00",
            "name": "tokens",
            "limit": 40000,
            "remaining": 39850,
            "seq": 6,
        }
    ]
    errors = rows("SELECT session, t, type, code, source, seq FROM errors", two_calls)
    assert errors == [
        {
            "session": "call-ga",
            "t": 2.0,
            "type": "invalid_request_error",
            "code": "x",
            "source": "event",
            "seq": 7,
        }
    ]


def test_the_views_hold_the_numbers_rt_stats_reports():
    report = collect_stats([SAMPLES])
    with open_views([SAMPLES]) as views:
        con = views.db

        def select(keys: tuple[str, ...], view: str, order: str) -> list[dict[str, Any]]:
            columns = ", ".join(f'"{k}"' for k in keys)
            result = con.user_query(f"SELECT {columns} FROM {view} ORDER BY {order}")
            return [dict(zip(keys, row, strict=True)) for row in result.rows]

        responses = select(RESPONSE_KEYS, "responses", "file, seq")
        sessions = select(SESSION_KEYS[:2] + SESSION_KEYS[3:], "sessions", "file")
        limits = select(
            tuple(k for k in RATE_LIMIT_KEYS if k != "at"), "rate_limits", "file, seq, name"
        )
        errors = select(ERROR_KEYS, "errors", "file, t")
    assert responses == [dict(r) for r in report.responses]
    assert sessions == [
        {k: v for k, v in r.items() if k in SESSION_KEYS and k != "started_at"}
        for r in report.sessions
    ]
    assert limits == [{k: v for k, v in r.items() if k != "at"} for r in report.rate_limits]
    assert errors == [dict(r) for r in report.errors]
    assert report.summary["responses"] == len(responses) > 10


def test_events_or_not_the_views_hold_the_same_rows(tmp_path):
    damaged = ga_call()
    damaged.raw(1.5, "this is not JSON")
    damaged.raw(1.6, '{"kind":"frame","seq":99,"t":1.6,"from":"server","event":{"type":5}}')
    damaged.raw(1.7, '{"kind":"frame","seq":98,"t":1.7,"from":"server","event":"a string"}')
    damaged.write(tmp_path)
    beta_call().write(tmp_path)
    loaded = []
    for with_events in (False, True):
        with open_views([tmp_path, SAMPLES], with_events=with_events) as views:
            rows = {view: views.db.user_query(f"FROM {view}").rows for view in VIEW_NAMES}
            loaded.append((rows, [str(w) for w in views.warnings]))
    (without, warnings), (with_events, warnings_too) = loaded
    assert without["events"] == [] and len(with_events["events"]) > 100  # only when asked for
    assert {k: v for k, v in without.items() if k != "events"} == {
        k: v for k, v in with_events.items() if k != "events"
    }
    assert warnings == warnings_too


def test_every_view_is_one_file_named_after_it():
    for view in VIEW_NAMES:
        assert re.search(rf"CREATE OR REPLACE VIEW {view} AS", query_text(view))


def documented_columns() -> dict[str, list[tuple[str, str]]]:
    """`## ` view sections of docs/sql.md -> (column, type) rows of their tables."""
    sections = re.split(r"^### `(\w+)`$", DOCS.read_text(), flags=re.MULTILINE)
    return {
        name: re.findall(r"^\| `(\w+)` \| ([A-Z ]+) \|", body, flags=re.MULTILINE)
        for name, body in zip(sections[1::2], sections[2::2], strict=True)
    }


def test_docs_describe_every_column_of_every_view():
    with open_views([SAMPLES]) as views:
        described = {
            view: [(row[0], row[1]) for row in views.db.user_query(f"DESCRIBE {view}").rows]
            for view in VIEW_NAMES
        }
    assert documented_columns() == described
