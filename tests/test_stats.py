"""`rt stats` metrics on hand-built session files with known timestamps (real DuckDB)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stats_fixtures import (
    G711_BYTES_PER_MS,
    NOT_LIVE,
    NOT_TRANSCRIBED,
    SILENT_CALL_TIMING,
    SessionFile,
    ga_session_created,
    ga_usage,
)

from recorder.analytics import StatsReport, UnknownModel, collect_stats
from recorder.errors import InputError
from recorder.warning_log import FileWarning

PCM = {"type": "audio/pcm", "rate": 24000}


def analyse(*paths: Path) -> StatsReport:
    return collect_stats([str(p) for p in paths])


def responses(report: StatsReport) -> dict[str, dict[str, Any]]:
    return {row["response_id"]: dict(row) for row in report.responses}


def ga_vad_session(name: str = "ga-vad") -> SessionFile:
    """GA, server VAD, pcm16 both ways; the user stops talking at 1000 ms of audio."""
    s = SessionFile(name)
    s.server(0.0, "session.created", **ga_session_created(input=PCM, output=PCM))
    s.appends(start=1.0, count=60, ms=40)  # append i at 1.0 + 0.04 i covers up to 40 (i + 1) ms
    s.server(2.5, "input_audio_buffer.speech_started", audio_start_ms=300, item_id="item_u1")
    s.server(3.0, "input_audio_buffer.speech_stopped", audio_end_ms=1000, item_id="item_u1")
    s.server(3.02, "input_audio_buffer.committed", item_id="item_u1", previous_item_id=None)
    s.created(3.05, "resp_1")
    s.transcript_delta(3.25, "resp_1")
    s.audio_delta(3.3, "resp_1", 100)
    s.audio_delta(3.35, "resp_1", 100)
    s.audio_delta(3.4, "resp_1", 50)
    usage = ga_usage(
        input_text=100,
        input_audio=50,
        cached_text=20,
        cached_audio=10,
        output_text=15,
        output_audio=60,
    )
    s.done(4.0, "resp_1", usage=usage)
    s.rate_limits(4.01, ("tokens", 40000, 39000, 0.5))
    return s


def test_server_vad_response_has_every_metric(tmp_path):
    report = analyse(ga_vad_session().write(tmp_path))
    assert responses(report)["resp_1"] == {
        "session": "ga-vad",
        "file": str(tmp_path / "ga-vad.jsonl"),
        "response_id": "resp_1",
        "model": "gpt-realtime",
        "status": "completed",
        "trigger": "input_audio_buffer.speech_stopped",
        "trigger_t": 3.0,
        "ttfb_ms": 300.0,  # first audio delta 3.30 - speech_stopped 3.00
        "ttft_ms": 250.0,  # the transcript delta at 3.25 came first
        "duration_ms": 950.0,  # done 4.00 - created 3.05
        "voice_to_voice_ms": 1340.0,  # 3.30 - the append covering 1000 ms (the 25th, at 1.96)
        "audio_out_ms": 250.0,
        "input_tokens": 150,
        "output_tokens": 75,
        "input_text_tokens": 100,
        "input_audio_tokens": 50,
        "input_cached_tokens": 30,
        "output_text_tokens": 15,
        "output_audio_tokens": 60,
        # gpt-realtime: text 4 / 0.4 / 16, audio 32 / 0.4 / 64 per 1M
        "cost_usd": (80 * 4 + 20 * 0.4 + 40 * 32 + 10 * 0.4 + 15 * 16 + 60 * 64) / 1e6,
        # CONTRACT §4: a user turn; no item carries a phase, so the final-answer figures are
        # the plain ones
        "kind": "turn",
        "ttfb_source": "delta",
        "ttfb_final_ms": 300.0,
        "voice_to_voice_final_ms": 1340.0,
        "preamble_audio_ms": 0.0,
        "input_image_tokens": 0,
        "cached_text_tokens": 20,
        "cached_audio_tokens": 10,
        "cached_image_tokens": 0,
        "output_reasoning_tokens": None,
    }
    assert report.warnings == []


def test_manual_turns_text_only_and_function_calls(tmp_path):
    s = SessionFile("manual")
    s.server(0.0, "session.created", **ga_session_created())
    s.client(1.0, "conversation.item.create", item={"type": "message", "role": "user"})
    s.client(1.1, "response.create", response={"output_modalities": ["text"]})
    s.created(1.2, "resp_text")
    s.text_delta(1.45, "resp_text")
    s.done(1.9, "resp_text", usage=ga_usage(input_text=10, output_text=5))
    s.client(2.0, "response.create")
    s.created(2.1, "resp_fn")
    s.server(
        2.4,
        "response.function_call_arguments.delta",
        response_id="resp_fn",
        item_id="item_fc",
        call_id="call_1",
        delta='{"city":',
    )
    s.done(2.6, "resp_fn", usage=ga_usage(input_text=20, output_text=8))
    s.client(
        2.8, "conversation.item.create", item={"type": "function_call_output", "call_id": "call_1"}
    )
    s.client(2.9, "response.create")
    s.created(3.0, "resp_after_fn")
    s.audio_delta(3.5, "resp_after_fn", 200)
    s.done(3.9, "resp_after_fn", usage=ga_usage(input_text=30, output_audio=10))
    rows = responses(analyse(s.write(tmp_path)))

    text = rows["resp_text"]
    assert (text["trigger"], text["trigger_t"]) == ("response.create", 1.1)
    assert (text["ttfb_ms"], text["ttft_ms"], text["duration_ms"]) == (None, 350.0, 700.0)
    assert (text["voice_to_voice_ms"], text["audio_out_ms"]) == (None, 0.0)
    assert text["cost_usd"] == pytest.approx((10 * 4 + 5 * 16) / 1e6)

    fn = rows["resp_fn"]
    assert (fn["trigger_t"], fn["ttfb_ms"], fn["ttft_ms"]) == (2.0, None, 400.0)

    after = rows["resp_after_fn"]
    assert (after["trigger"], after["trigger_t"]) == ("response.create", 2.9)
    assert (after["ttfb_ms"], after["ttft_ms"], after["audio_out_ms"]) == (600.0, 600.0, 200.0)
    assert [r["response_id"] for r in analyse(tmp_path / "manual.jsonl").responses] == [
        "resp_text",
        "resp_fn",
        "resp_after_fn",
    ]


def beta_ulaw_session() -> SessionFile:
    """Beta names, G.711 µ-law input (8 bytes/ms), a barge-in that cancels the response."""
    model = "gpt-4o-realtime-preview-2024-10-01"
    s = SessionFile("beta-ulaw", path=f"/v1/realtime?model={model}")
    session = {
        "id": "sess_b",
        "object": "realtime.session",
        "model": model,
        "modalities": ["text", "audio"],
        "input_audio_format": "g711_ulaw",
        "output_audio_format": "pcm16",
    }
    s.server(0.0, "session.created", session=session)
    s.appends(start=0.5, count=100, ms=20, bytes_per_ms=G711_BYTES_PER_MS)
    s.server(2.0, "input_audio_buffer.speech_stopped", audio_end_ms=1300, item_id="item_u")
    s.server(2.01, "input_audio_buffer.committed", item_id="item_u")
    s.server(2.02, "conversation.item.created", item={"id": "item_u", "role": "user"})
    s.created(2.05, "resp_b1")
    s.audio_delta(2.4, "resp_b1", 500, beta=True)
    s.transcript_delta(2.41, "resp_b1", beta=True)
    s.server(2.6, "input_audio_buffer.speech_started", audio_start_ms=2000, item_id="item_u2")
    s.done(
        2.62,
        "resp_b1",
        status="cancelled",
        status_details={"type": "cancelled", "reason": "turn_detected"},
        usage=ga_usage(input_text=122, input_audio=25, output_text=18, output_audio=75),
    )
    return s


def test_beta_names_g711_input_and_cancelled_response(tmp_path):
    report = analyse(beta_ulaw_session().write(tmp_path))
    row = responses(report)["resp_b1"]
    assert row["status"] == "cancelled"
    assert (row["trigger"], row["trigger_t"]) == ("input_audio_buffer.speech_stopped", 2.0)
    assert (row["ttfb_ms"], row["ttft_ms"], row["duration_ms"]) == (400.0, 400.0, 570.0)
    # 1300 ms of µ-law is covered by the 65th 20 ms append, sent at 0.5 + 64 * 0.02 = 1.78
    assert row["voice_to_voice_ms"] == 620.0
    assert row["audio_out_ms"] == 500.0
    # the 2024-10-01 snapshot's launch prices: text 5 / 2.5 / 20, audio 100 / 20 / 200
    assert row["cost_usd"] == pytest.approx((122 * 5 + 25 * 100 + 18 * 20 + 75 * 200) / 1e6)
    assert report.errors == []  # a barge-in is not an error...
    assert [(u["response_id"], u["status"], u["reason"]) for u in report.unfinished] == [
        ("resp_b1", "cancelled", "turn_detected")  # ...but the table view lists it
    ]


def test_output_formats_from_session_and_response(tmp_path):
    s = SessionFile("formats")
    s.server(0.0, "session.created", **ga_session_created(output={"type": "audio/pcmu"}))
    s.client(1.0, "response.create")
    s.created(1.1, "resp_ulaw")
    s.audio_delta(1.2, "resp_ulaw", 250, bytes_per_ms=G711_BYTES_PER_MS)
    s.done(1.5, "resp_ulaw")
    s.client(2.0, "response.create", response={"audio": {"output": {"format": PCM}}})
    s.created(2.1, "resp_pcm", audio={"output": {"format": PCM}})
    s.audio_delta(2.2, "resp_pcm", 120)
    s.done(2.5, "resp_pcm")
    # a session.updated without formats keeps the current ones
    s.server(3.0, "session.updated", session={"type": "realtime", "instructions": "Be brief."})
    s.client(3.1, "response.create")
    s.created(3.2, "resp_ulaw_again")
    s.audio_delta(3.3, "resp_ulaw_again", 40, bytes_per_ms=G711_BYTES_PER_MS)
    s.done(3.5, "resp_ulaw_again")
    rows = responses(analyse(s.write(tmp_path)))
    assert rows["resp_ulaw"]["audio_out_ms"] == 250.0
    assert rows["resp_pcm"]["audio_out_ms"] == 120.0
    assert rows["resp_ulaw_again"]["audio_out_ms"] == 40.0


def test_response_done_without_response_created(tmp_path):
    s = SessionFile("no-created")
    s.server(0.0, "session.created", **ga_session_created())
    s.client(1.0, "response.create")
    s.audio_delta(1.3, "resp_x", 100)
    s.done(1.5, "resp_x", usage=ga_usage(input_text=1, output_audio=2))
    row = responses(analyse(s.write(tmp_path)))["resp_x"]
    assert (row["trigger"], row["trigger_t"], row["ttfb_ms"]) == ("response.create", 1.0, 300.0)
    assert (row["status"], row["duration_ms"], row["output_tokens"]) == ("completed", None, 2)


def test_each_response_claims_the_latest_unclaimed_trigger(tmp_path):
    s = SessionFile("claims")
    s.server(1.0, "input_audio_buffer.speech_stopped", audio_end_ms=500)
    s.client(1.5, "response.create")
    s.created(1.6, "r_a")  # takes the response.create (the latest)
    s.done(2.0, "r_a")
    s.created(2.5, "r_b")  # takes the speech_stopped nobody claimed
    s.done(3.0, "r_b")
    s.created(3.5, "r_c")  # nothing left
    s.done(4.0, "r_c")
    s.client(4.5, "response.create")  # a trigger after a response is not its trigger
    rows = responses(analyse(s.write(tmp_path)))
    assert (rows["r_a"]["trigger"], rows["r_a"]["trigger_t"]) == ("response.create", 1.5)
    assert (rows["r_b"]["trigger"], rows["r_b"]["trigger_t"]) == (
        "input_audio_buffer.speech_stopped",
        1.0,
    )
    assert rows["r_b"]["voice_to_voice_ms"] is None  # no appends: the audio end cannot be mapped
    assert (rows["r_c"]["trigger"], rows["r_c"]["trigger_t"], rows["r_c"]["ttft_ms"]) == (
        None,
        None,
        None,
    )


def test_summary_percentiles_interpolate(tmp_path):
    s = SessionFile("four")
    for i, ttfb in enumerate((0.1, 0.2, 0.3, 0.4)):
        start = 10.0 * (i + 1)
        s.client(start, "response.create")
        s.created(start + 0.01, f"r{i}")
        s.audio_delta(start + ttfb, f"r{i}", 20)
        s.done(start + 1.0, f"r{i}", usage=ga_usage(input_text=10, output_audio=5))
    report = analyse(s.write(tmp_path))
    assert report.to_json()["summary"]["ttfb_ms"] == {
        "count": 4,
        "mean": 250.0,
        "p50": 250.0,
        "p90": 370.0,
        "p95": 385.0,
        "p99": 397.0,
        "max": 400.0,
    }
    assert report.summary["voice_to_voice_ms"]["count"] == 0
    assert report.summary["voice_to_voice_ms"]["p50"] is None
    assert report.summary["cost_usd"] == pytest.approx(4 * (10 * 4 + 5 * 64) / 1e6)


def test_sessions_rate_limits_and_trend(tmp_path):
    first = ga_vad_session("first")
    first.rate_limits(5.0, ("requests", 5000, 4999, 0.01), ("tokens", 40000, 30000, 1.5))
    first.record({"kind": "close", "t": 6.5, "by": "client", "code": 1000, "reason": ""})
    second = SessionFile("second", started_at="2026-11-26T10:10:00.000000Z")
    second.rate_limits(2.0, ("tokens", 40000, 2000, 9.0))
    report = analyse(first.write(tmp_path), second.write(tmp_path))

    assert [dict(r) for r in report.to_json()["rate_limits"]] == [
        {"session": "first", "t": 4.01, "at": "2026-11-26T10:00:04.010000Z", "name": "tokens",
         "limit": 40000, "remaining": 39000, "reset_seconds": 0.5},
        {"session": "first", "t": 5.0, "at": "2026-11-26T10:00:05.000000Z", "name": "requests",
         "limit": 5000, "remaining": 4999, "reset_seconds": 0.01},
        {"session": "first", "t": 5.0, "at": "2026-11-26T10:00:05.000000Z", "name": "tokens",
         "limit": 40000, "remaining": 30000, "reset_seconds": 1.5},
        {"session": "second", "t": 2.0, "at": "2026-11-26T10:10:02.000000Z", "name": "tokens",
         "limit": 40000, "remaining": 2000, "reset_seconds": 9.0},
    ]  # fmt: skip
    tokens = next(t for t in report.trends if t.name == "tokens")
    assert (tokens.updates, tokens.first, tokens.min, tokens.last) == (3, 39000, 2000, 2000)
    assert tokens.min_percent == 5.0
    assert len(tokens.trend) == 24
    assert tokens.trend[0] == 75.0 and tokens.trend[-1] == 5.0  # first and last slices
    assert set(tokens.trend[1:-1]) == {None}  # ten minutes with no updates in between

    sessions = report.to_json()["sessions"]
    assert sessions[0] == {
        "session": "first",
        "file": str(tmp_path / "first.jsonl"),
        "started_at": "2026-11-26T10:00:00.000000Z",
        "duration_s": 6.5,
        "responses": 1,
        "input_tokens": 150,
        "output_tokens": 75,
        "cost_usd": responses(report)["resp_1"]["cost_usd"],
        "model": "gpt-realtime",
        "protocol": "realtime",
        "transport": "websocket",
        **NOT_TRANSCRIBED,
        **SILENT_CALL_TIMING,  # its audio is digital silence: nobody talked
        **NOT_LIVE,
    }
    assert sessions[1]["responses"] == 0 and sessions[1]["cost_usd"] == 0.0


def test_errors_failed_responses_and_proxy_faults(tmp_path):
    s = SessionFile("errors")
    s.server(0.0, "session.created", **ga_session_created())
    s.client(1.0, "input_audio_buffer.commit", event_id="cli_1")
    error = {
        "type": "invalid_request_error",
        "code": "input_audio_buffer_commit_empty",
        "message": "buffer too small",
        "param": None,
        "event_id": "cli_1",
    }
    s.server(1.01, "error", error=error)
    s.client(2.0, "response.create")
    s.created(2.1, "resp_failed")
    failure = {
        "type": "failed",
        "error": {"type": "server_error", "code": "inference_rate_limit_exceeded"},
    }
    s.done(2.5, "resp_failed", status="failed", status_details=failure)
    s.record({"kind": "error", "t": 3.0, "message": "upstream closed the connection"})
    report = analyse(s.write(tmp_path))
    errors = report.to_json()["errors"]
    assert [(e["t"], e["source"], e["type"], e["code"]) for e in errors] == [
        (1.01, "event", "invalid_request_error", "input_audio_buffer_commit_empty"),
        (2.5, "response", "server_error", "inference_rate_limit_exceeded"),
        (3.0, "proxy", "proxy_error", None),
    ]
    assert errors[0]["message"] == "buffer too small"
    assert errors[2]["message"] == "upstream closed the connection"
    assert report.summary["errors"] == 3
    assert report.unfinished[0]["reason"] == "inference_rate_limit_exceeded"


def test_fixture_without_session_record_is_named_by_its_stem(tmp_path):
    s = SessionFile("ignored", header=False)
    s.server(0.0, "session.created", **ga_session_created(model="gpt-realtime-mini"))
    s.client(1.0, "response.create")
    s.created(1.1, "r1")
    s.done(1.2, "r1", usage=ga_usage(input_text=1000, output_text=100))
    s.rate_limits(1.3, ("tokens", 100, 50, 1.0))
    report = analyse(s.write(tmp_path, "hand-written"))
    session = report.to_json()["sessions"][0]
    assert (session["session"], session["started_at"]) == ("hand-written", None)
    assert report.to_json()["rate_limits"][0]["at"] is None
    assert report.responses[0]["model"] == "gpt-realtime-mini"
    assert report.responses[0]["cost_usd"] == pytest.approx((1000 * 0.6 + 100 * 2.4) / 1e6)


@pytest.mark.parametrize(
    ("path", "model", "cost"),
    [
        # a dated snapshot takes its family's prices (longest matching prefix)
        ("/v1/realtime?model=gpt-realtime-mini-2025-10-06", "gpt-realtime-mini-2025-10-06", 0.6),
        # Azure preview: the deployment names the model
        (
            "/openai/realtime?api-version=2024-10-01-preview&deployment=gpt-4o-mini-realtime-preview",
            "gpt-4o-mini-realtime-preview",
            0.6,
        ),
        (
            "/v1/realtime?model=gpt-4o-realtime-preview-2024-12-17",
            "gpt-4o-realtime-preview-2024-12-17",
            5.0,
        ),
    ],
)
def test_model_from_the_url_when_the_server_names_none(tmp_path, path, model, cost):
    s = SessionFile("url", path=path)
    s.client(1.0, "response.create")
    s.created(1.1, "r1")
    s.done(1.2, "r1", usage=ga_usage(input_text=1_000_000))
    report = analyse(s.write(tmp_path))
    assert report.responses[0]["model"] == model
    assert report.responses[0]["cost_usd"] == pytest.approx(cost)


def test_unknown_model_has_null_cost_and_one_warning(tmp_path):
    paths = []
    for name in ("a", "b"):
        s = SessionFile(name)
        s.server(0.0, "session.created", **ga_session_created(model="my-own-model"))
        s.client(1.0, "response.create")
        s.created(1.1, f"r_{name}")
        s.done(1.2, f"r_{name}", usage=ga_usage(input_text=10))
        paths.append(s.write(tmp_path))
    report = analyse(*paths)
    assert [r["cost_usd"] for r in report.responses] == [None, None]
    assert report.summary["cost_usd"] is None
    assert report.warnings == [UnknownModel("my-own-model", 2)]
    assert "add it with --pricing FILE" in str(report.warnings[0])


def test_usage_without_details_leaves_the_split_and_cost_unknown(tmp_path):
    s = SessionFile("launch-beta")
    s.server(0.0, "session.created", session={"model": "gpt-4o-realtime-preview-2024-10-01"})
    s.client(1.0, "response.create")
    s.created(1.1, "r1")
    s.done(1.2, "r1", usage={"total_tokens": 50, "input_tokens": 20, "output_tokens": 30})
    row = analyse(s.write(tmp_path)).responses[0]
    assert (row["input_tokens"], row["output_tokens"]) == (20, 30)
    assert (row["input_text_tokens"], row["output_audio_tokens"], row["cost_usd"]) == (
        None,
        None,
        None,
    )


# -- damaged files -------------------------------------------------------------------------------


def test_bad_lines_are_skipped_counted_and_the_rest_is_used(tmp_path):
    clean = analyse(ga_vad_session("clean").write(tmp_path / "clean"))
    damaged = ga_vad_session("damaged")
    damaged.raw(2.0, "this is not JSON")
    damaged.raw(2.1, '{"kind":"frame","seq":999,"t":2.1,"from":"nobody","event":{"type":"x"}}')
    damaged.raw(2.2, "[1, 2, 3]")
    damaged.server(5.0, "input_audio_buffer.speech_started", audio_start_ms=5000)
    path = damaged.write(tmp_path, cut_last=10)  # the speech_started line is cut off
    report = analyse(path)

    first_bad = damaged.lines.index("this is not JSON") + 1
    assert all(isinstance(w, FileWarning) for w in report.warnings)
    bad = ["this is not JSON", "[1, 2, 3]"]
    assert [w.line for w in report.warnings] == sorted(
        [damaged.lines.index(line) + 1 for line in bad]
        + [next(i + 1 for i, line in enumerate(damaged.lines) if '"seq":999' in line)]
        + [len(damaged.lines)]
    )
    assert str(report.warnings[0]).startswith(f"{path}:{first_bad}: not valid JSON")
    assert report.warnings[-1].reason == "incomplete last line (cut off)"
    expected = {k: v for k, v in clean.responses[0].items() if k not in ("session", "file")}
    assert {
        k: v for k, v in report.responses[0].items() if k not in ("session", "file")
    } == expected


def test_files_of_nothing_but_garbage_are_named_and_are_no_sessions(tmp_path):
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(b"\x00\xff garbage\n{not json either\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    good = ga_vad_session("good").write(tmp_path)
    report = analyse(path, empty, good)
    assert [(w.path, w.line) for w in report.warnings if isinstance(w, FileWarning)] == [
        (str(path), 1),
        (str(path), 2),
        (str(path), None),
        (str(empty), None),
    ]
    assert "not an rt session file" in str(report.warnings[2])
    assert "empty file" in str(report.warnings[3])
    assert [s["session"] for s in report.sessions] == ["good"]
    with pytest.raises(InputError, match="none of the 2 files holds a session record"):
        analyse(path, empty)


def test_a_line_longer_than_the_json_reader_buffer_is_read(tmp_path):
    s = SessionFile("huge")
    s.client(0.5, "response.create")
    s.created(1.0, "r1")
    s.audio_delta(1.5, "r1", 750_000)  # 36 MB of pcm16, 48 MB of base64 on one line
    s.done(2.0, "r1")
    row = analyse(s.write(tmp_path)).responses[0]
    assert row["audio_out_ms"] == 750_000.0


def test_file_names_with_glob_characters_are_read_literally(tmp_path):
    odd = SessionFile("odd")
    odd.client(1.0, "response.create")
    odd.created(1.1, "r_odd")
    odd.done(1.2, "r_odd")
    plain = SessionFile("plain")
    plain.client(1.0, "response.create")
    plain.created(1.1, "r_plain")
    plain.done(1.2, "r_plain")
    # DuckDB would read "call[1].jsonl" as the glob matching "call1.jsonl"
    odd_path = odd.write(tmp_path, "call[1]")
    plain.write(tmp_path, "call1")
    report = analyse(odd_path)
    assert [(r["session"], r["response_id"]) for r in report.responses] == [("odd", "r_odd")]
    assert report.sessions[0]["file"] == str(odd_path)


def test_frames_without_seq_are_numbered_in_file_order_and_times_kept_as_recorded(tmp_path):
    path = tmp_path / "no-seq.jsonl"
    frames = [
        (1.0, "client", {"type": "response.create"}),
        (1.2, "server", {"type": "response.audio.delta", "response_id": "r1", "delta": "AAAA"}),
        (1.1, "server", {"type": "response.created", "response": {"id": "r1"}}),
        (1.5, "server", {"type": "response.done", "response": {"id": "r1", "status": "completed"}}),
    ]
    path.write_text(
        "".join(
            f'{{"kind":"frame","t":{t},"from":"{sender}","event":{json.dumps(event)}}}\n'
            for t, sender, event in frames
        )
    )
    report = analyse(path)
    row = report.responses[0]
    # response.created at 1.1 comes after a frame at 1.2: its time is kept, with a warning
    assert (row["trigger_t"], row["ttfb_ms"], row["duration_ms"]) == (1.0, 200.0, 400.0)
    assert row["audio_out_ms"] == pytest.approx(3 / 48, abs=1e-3)
    assert [
        (w.line, w.reason.split(";")[0]) for w in report.warnings if isinstance(w, FileWarning)
    ] == [(3, "t goes back from 1.2 to 1.1 (reported once per file)")]


def test_progress_reports_bytes_read(tmp_path):
    paths = [ga_vad_session(f"s{i}").write(tmp_path) for i in range(3)]
    total = sum(p.stat().st_size for p in paths)
    calls: list[tuple[int, int]] = []
    collect_stats([str(tmp_path)], on_progress=lambda done, all_: calls.append((done, all_)))
    assert calls[0] == (0, total) and calls[-1] == (total, total)


def test_a_worker_that_reads_files_loads_no_database():
    """Worker processes import `recorder.analytics.loading` to read files: the package's names
    load on first use, so a worker starts without DuckDB (about 0.1 s less per worker)."""
    import subprocess
    import sys

    code = (
        "import sys, recorder.analytics.loading, recorder.analytics as a\n"
        "assert 'duckdb' not in sys.modules, 'duckdb imported'\n"
        "assert a.collect_stats.__module__ == 'recorder.analytics.stats'\n"
        "assert 'duckdb' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
