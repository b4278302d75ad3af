"""Telemetry against real parts: recordings replayed through the proxy with --metrics/--otlp,
/metrics scraped over HTTP, OTLP payloads decoded by a real receiver, and every value compared
with what `rt stats` computes from the same recordings."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import run_bounded, scaled
from otlp_receiver import OtlpReceiver, ReceivedSpan
from rt_cli.main import cli
from scripted_server import Script
from telemetry_support import replay_through, rt_stats, sample_files, scrape, summed, total
from websockets.asyncio.client import connect

from recorder.pricing import builtin_prices
from recorder.telemetry import Telemetry
from recorder.telemetry.attributes import ATTRIBUTES, EVENTS
from recorder.telemetry.backfill import export_otlp
from recorder.telemetry.extra import MissingExtra, require
from recorder.telemetry.live import LiveTelemetry
from recorder.telemetry.metrics import METRICS, OTHER, BoundedLabels
from recorder.telemetry.metrics_server import MetricsServer

pytestmark = pytest.mark.slow  # the proxy with live metrics and an OTLP receiver

FAST_OTLP = {"delay": 0.05, "metrics_interval": 0.2, "timeout": 5.0}


def _response_spans(spans: list[ReceivedSpan]) -> dict[tuple[str, str], ReceivedSpan]:
    """The response spans by (session id, response id): response ids are unique only within a
    session (GPT-Live turns are `live-1`, `live-2`, … in every session)."""
    conversation = {
        s.span_id: s.attributes["gen_ai.conversation.id"] for s in _session_spans(spans)
    }
    return {
        (conversation[s.parent_span_id], s.attributes["gen_ai.response.id"]): s
        for s in spans
        if s.attributes.get("gen_ai.operation.name") == "response"
    }


def _session_spans(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    return [s for s in spans if s.attributes.get("gen_ai.operation.name") == "realtime"]


def check_spans_against_stats(spans: list[ReceivedSpan], stats: dict[str, Any]) -> None:
    """The spans say what rt stats says: one trace per session, a span per response with the
    same metrics, tokens, cost and kind; errors and rate limits as events."""
    sessions = _session_spans(spans)
    responses = _response_spans(spans)
    for span in spans:  # every name rt sends is documented (attributes.py, docs/telemetry.md)
        assert set(span.attributes) <= set(ATTRIBUTES), set(span.attributes) - set(ATTRIBUTES)
        for name, _, event_attributes in span.events:
            assert name in EVENTS and set(event_attributes) <= set(ATTRIBUTES)
    assert len(sessions) == len(stats["sessions"])
    assert len({s.trace_id for s in sessions}) == len(sessions)
    assert sorted(responses) == sorted((r["session"], r["response_id"]) for r in stats["responses"])
    by_id = {s.span_id: s for s in sessions}
    for row in stats["responses"]:
        span = responses[row["session"], row["response_id"]]
        parent = by_id[span.parent_span_id]
        assert span.trace_id == parent.trace_id
        assert parent.attributes["gen_ai.conversation.id"] == row["session"]
        attributes = span.attributes
        for name in ("ttfb_ms", "ttft_ms", "voice_to_voice_ms", "duration_ms", "kind", "status"):
            assert attributes.get(f"rt.response.{name}") == row[name], (name, row)
        assert attributes.get("rt.response.cost_usd") == pytest.approx(row["cost_usd"])
        assert attributes.get("gen_ai.usage.input_tokens") == row["input_tokens"]
        assert attributes.get("gen_ai.usage.output_tokens") == row["output_tokens"]
        assert attributes["gen_ai.request.model"] == row["model"]
        if row["trigger_t"] is not None:  # the span starts at the trigger, in wall-clock time
            assert span.start_ns == parent.start_ns + round(row["trigger_t"] * 1e9)
    errors = [e for s in sessions for e in s.events if e[0] == "rt.error"]
    assert len(errors) == stats["summary"]["errors"]
    assert sorted((e[2]["error.type"], e[2].get("rt.error.code")) for e in errors) == sorted(
        (e["type"], e["code"]) for e in stats["errors"]
    )
    limits = [e for s in sessions for e in s.events if e[0] == "rt.rate_limits"]
    assert len(limits) == len(stats["rate_limits"])
    for session in sessions:
        row = next(
            r
            for r in stats["sessions"]
            if r["session"] == session.attributes["gen_ai.conversation.id"]
        )
        assert session.attributes.get("rt.session.responses") == row["responses"]
        assert session.attributes.get("rt.session.cost_usd") == pytest.approx(row["cost_usd"])
        assert (
            session.end_ns - session.start_ns == round(row["duration_s"] * 1e9)
            or abs((session.end_ns - session.start_ns) / 1e9 - row["duration_s"]) < 1e-3
        )


def test_backfill_sends_a_trace_per_recording_equal_to_rt_stats(tmp_path: Path) -> None:
    files = sample_files()
    with OtlpReceiver() as receiver:
        result = export_otlp(
            files, receiver.url, prices=builtin_prices(), otlp_options={"delay": 0.05}
        )
        spans = receiver.spans()
    stats = rt_stats(files)
    assert result.sessions == len(files) and result.spans_dropped == 0
    assert result.spans_sent == len(spans) == len(files) + len(stats["responses"])
    check_spans_against_stats(spans, stats)
    assert {s.resource["service.name"] for s in spans} == {"rt"}


def test_export_otlp_command(tmp_path: Path) -> None:
    files = sample_files()
    with OtlpReceiver() as receiver:
        result = CliRunner().invoke(
            cli, ["export", "otlp", str(files[0].parent), "--endpoint", receiver.url]
        )
        spans = receiver.spans()
    assert result.exit_code == 0, result.output
    responses = len(_response_spans(spans))
    assert result.stdout == (
        f"sent {len(files)} sessions ({responses} responses) to {receiver.url}: "
        f"{len(spans)} spans\n"
    )


def test_export_otlp_to_a_refusing_collector_fails_with_one_line() -> None:
    with OtlpReceiver(status=503) as receiver:
        result = CliRunner().invoke(
            cli,
            [
                "export",
                "otlp",
                str(sample_files()[0]),
                "--endpoint",
                receiver.url,
                "--timeout",
                "1",
            ],
        )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: the collector at {receiver.url} did not take")
    assert "Traceback" not in result.output


def test_live_metrics_and_traces_equal_rt_stats(tmp_path: Path) -> None:
    """The samples replayed through one telemetry: /metrics and the OTLP spans and metrics say
    what rt stats says about the recordings the proxy made."""
    out = tmp_path / "sessions"
    with OtlpReceiver() as receiver:
        telemetry = Telemetry.start(
            builtin_prices(),
            metrics_address=("127.0.0.1", 0),
            otlp_url=receiver.url,
            otlp_options=FAST_OTLP,
        )
        try:

            async def replay_all() -> list[Path]:
                return [await replay_through(p, out, telemetry) for p in sample_files()]

            recorded = run_bounded(replay_all(), scaled(60))
            assert telemetry.flush(scaled(10))
            samples = scrape(telemetry.metrics_server.url)
        finally:
            report = telemetry.close()
        spans = receiver.wait_for_spans(1)
        otlp_metrics = receiver.metric_points()
    assert report.frames_dropped == report.spans_dropped == report.faults == 0
    stats = rt_stats(recorded)
    summary = stats["summary"]
    responses = stats["responses"]

    assert total(samples, "rt_sessions_started_total") == len(recorded)
    assert total(samples, "rt_sessions_active") == 0
    assert total(samples, "rt_responses_total") == summary["responses"]
    for kind, count in summary["by_kind"].items():
        assert total(samples, "rt_responses_total", kind=kind) == count
    for status in {r["status"] for r in responses}:
        count = sum(1 for r in responses if r["status"] == status)
        assert total(samples, "rt_responses_total", status=status) == count
    for metric, name in (
        ("ttfb_ms", "rt_response_ttfb_seconds"),
        ("voice_to_voice_ms", "rt_response_voice_to_voice_seconds"),
        ("ttft_ms", "rt_response_ttft_seconds"),
        ("duration_ms", "rt_response_duration_seconds"),
    ):
        turn = summary[metric]  # rt stats' summary covers the turns, Realtime's and GPT-Live's
        kinds = ("turn", "live_turn")
        assert sum(total(samples, f"{name}_count", kind=kind) for kind in kinds) == turn["count"]
        assert sum(
            total(samples, f"{name}_sum", kind=kind) for kind in kinds
        ) * 1000 == pytest.approx(  # the mean is rounded to 0.001 ms: 0.0005 ms a response
            turn["mean"] * turn["count"], abs=0.0005 * turn["count"] + 1e-6
        )
        assert total(samples, f"{name}_count") == sum(1 for r in responses if r[metric] is not None)
    assert total(samples, "rt_errors_total") == summary["errors"]
    assert total(samples, "rt_cost_usd_total") == pytest.approx(summary["cost_usd"])
    assert total(samples, "rt_tokens_total", type="input") == summed(
        [s["input_tokens"] for s in stats["sessions"]]
    )
    assert total(samples, "rt_tokens_total", type="output") == summed(
        [s["output_tokens"] for s in stats["sessions"]]
    )
    for model in {s["model"] for s in stats["sessions"]}:  # responses, transcription, translation
        assert total(samples, "rt_cost_usd_total", model=model) == pytest.approx(
            summed([s["cost_usd"] for s in stats["sessions"] if s["model"] == model])
        )
    latest = {}
    for entry in stats["rate_limits"]:  # in the order the sessions were replayed
        latest[entry["name"]] = entry["remaining"]
    for name, remaining in latest.items():
        assert total(samples, "rt_rate_limit_remaining", name=name) == remaining
    assert total(samples, "rt_frames_total", direction="client") == sum(
        _frames(path, "client") for path in recorded
    )
    assert total(samples, "rt_frames_total", direction="server") == sum(
        _frames(path, "server") for path in recorded
    )
    check_spans_against_stats(spans, stats)
    # the same metrics over OTLP
    points = otlp_metrics["rt_responses"]
    assert sum(point.as_int for _, point in points) == summary["responses"]
    ttfb = [
        p
        for attrs, p in otlp_metrics["rt_response_ttfb_seconds"]
        if attrs["kind"] in ("turn", "live_turn")  # the summary's turns
    ]
    assert sum(p.count for p in ttfb) == summary["ttfb_ms"]["count"]


def _frames(path: Path, direction: str) -> int:
    from recorder.interpretation import interpret
    from recorder.reading import iter_records

    facts = interpret(iter_records(path), path)
    return facts.client_frames if direction == "client" else facts.server_frames


def test_a_dead_collector_does_not_disturb_a_live_call(tmp_path: Path, proxied: Any) -> None:
    """A collector that accepts connections and never answers: the call runs as fast as without
    telemetry, spans beyond the small queue are dropped and counted, and closing is bounded."""
    with OtlpReceiver(mode="hang") as dead:
        telemetry = Telemetry.start(
            builtin_prices(),
            metrics_address=("127.0.0.1", 0),
            otlp_url=dead.url,
            otlp_options={"delay": 0.01, "max_queue": 2, "batch": 1, "timeout": 30.0},
        )
        script = Script(first_delta_delay=0.0, response_audio_ms=200)

        async def calls() -> tuple[float, float]:
            async with proxied(script) as plain:
                without = await _timed_call(plain.proxy.url, 10)
            async with proxied(script, observer=telemetry) as stack:
                with_telemetry = await _timed_call(stack.proxy.url, 10)
                await stack.proxy.wait_for_sessions(1)
            return without, with_telemetry

        try:
            without, with_telemetry = run_bounded(calls(), scaled(30))
            assert telemetry.live.flush(scaled(5))
            assert with_telemetry < max(2 * without, without + 0.5)
            time.sleep(0.2)
            dropped_live = telemetry.otlp.spans.dropped
            telemetry.flush(0.1)
            samples = scrape(telemetry.metrics_server.url)
            assert dead.requests >= 1  # the exporter is stuck in its first request
        finally:
            started = time.monotonic()
            report = telemetry.close(timeout=0.5)
            closing = time.monotonic() - started
    assert dropped_live >= 8  # 11 spans, a queue of 2, one batch stuck in the exporter
    assert report.spans_dropped == 11 and report.spans_sent == 0
    assert total(samples, "rt_telemetry_dropped_total", what="spans") >= dropped_live
    assert total(samples, "rt_responses_total") == 10  # the metrics went on
    assert closing < 3


async def _timed_call(url: str, responses: int) -> float:
    started = time.monotonic()
    async with connect(url + "/v1/realtime?model=gpt-realtime", max_size=None) as ws:
        for _ in range(responses):
            await ws.send('{"type":"response.create"}')
            while '"response.done"' not in await ws.recv():
                pass
    return time.monotonic() - started


def test_frames_beyond_the_budget_are_counted_not_queued() -> None:
    live = LiveTelemetry([], builtin_prices(), max_pending_bytes=100)
    tap = live.session_started()
    tap.frame("client", "x" * 60, 0.1)
    tap.frame("client", "x" * 60, 0.2)  # 120 bytes would wait: not taken
    assert live.frames_dropped == 1 and live.pending_bytes == 60
    live.start()
    assert live.flush(scaled(5))
    assert live.pending_bytes == 0
    tap.frame("client", "x" * 60, 0.3)
    assert live.frames_dropped == 1
    live.close()


def test_label_values_are_bounded() -> None:
    bound = BoundedLabels(limit=2)
    assert [bound("model", m) for m in ("a", "b", "c", "a", None)] == ["a", "b", OTHER, "a", "none"]
    assert bound("kind", "turn") == "turn"  # each label has its own limit


def test_metrics_endpoint_token_and_paths() -> None:
    server = MetricsServer(lambda: (b"rt_x 1\n", "text/plain"), port=0, auth_token="s3cret-token")
    server.start()
    try:
        base = server.url
        for headers, url in (
            ({"X-Rt-Token": "s3cret-token"}, base),
            ({"Authorization": "Bearer s3cret-token"}, base),
            ({}, base + "?rt_token=s3cret-token"),
        ):
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=5) as reply:
                assert reply.read() == b"rt_x 1\n"
        for headers, url, status in (
            ({}, base, 401),
            ({"Authorization": "Bearer wrong"}, base, 401),
            ({"X-Rt-Token": "s3cret-token"}, base.replace("/metrics", "/other"), 404),
        ):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5)
            assert refused.value.code == status
    finally:
        server.close()


def test_record_checks_the_telemetry_options(tmp_path: Path) -> None:
    runner = CliRunner()
    remote = runner.invoke(cli, ["record", "--proxy", "--metrics", "0.0.0.0:9464"])
    assert remote.exit_code == 2 and "--allow-remote" in remote.output
    bad = runner.invoke(cli, ["record", "--proxy", "--otlp", "collector:4318"])
    assert bad.exit_code == 2 and "http://127.0.0.1:4318" in bad.output
    address = runner.invoke(cli, ["record", "--proxy", "--metrics", "nowhere"])
    assert address.exit_code == 2 and "--metrics must be HOST:PORT" in address.output
    help_text = runner.invoke(cli, ["record", "--help"]).output
    assert "--metrics HOST:PORT" in help_text and "--otlp URL" in help_text


def test_a_taken_metrics_port_is_a_one_line_error() -> None:
    first = MetricsServer(lambda: (b"", "text/plain"), port=0)
    first.start()
    try:
        result = CliRunner().invoke(
            cli, ["record", "--proxy", "--metrics", f"127.0.0.1:{first.port}"]
        )
    finally:
        first.close()
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot listen on 127.0.0.1:{first.port} for --metrics")


def test_a_missing_library_names_the_extra() -> None:
    with pytest.raises(MissingExtra) as missing:
        require("rt_no_such_module", "--metrics")
    assert str(missing.value) == (
        "--metrics needs rt_no_such_module: pip install 'rt-recorder[telemetry]'"
    )


DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_metric_attribute_and_event_is_documented() -> None:
    text = (DOCS / "telemetry.md").read_text()
    for spec in METRICS:
        assert f"`{spec.exposed_name}`" in text, spec.name
        assert spec.help in text, spec.name
    for name, meaning in {**ATTRIBUTES, **EVENTS}.items():
        assert f"| `{name}` | {meaning} |" in text, name


def test_the_dashboard_queries_rt_metrics() -> None:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    names = {spec.exposed_name for spec in METRICS}
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used.update(re.findall(r"\b(rt_[a-z_]+?)(?:_bucket|_sum|_count)?\b", target["expr"]))
    assert used and used <= names | {n + "_bucket" for n in names}, used - names
