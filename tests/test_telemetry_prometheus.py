"""A real Prometheus server (Debian's `prometheus`, installed by .ci/run) scrapes the proxy's
/metrics (with the proxy's token, as Prometheus sends it) and answers queries over its HTTP API
with what rt stats computes from the same recordings."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import run_bounded, scaled
from telemetry_support import replay_through, rt_stats, sample_files

from recorder.pricing import builtin_prices
from recorder.telemetry import Telemetry

PROMETHEUS = shutil.which("prometheus")
DOCS = Path(__file__).resolve().parent.parent / "docs"
TOKEN = "prometheus-test-token-0123"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _query(api: str, expression: str) -> list[dict[str, Any]]:
    url = f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=5) as reply:
        body = json.load(reply)
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _value(api: str, expression: str) -> float | None:
    result = _query(api, expression)
    return float(result[0]["value"][1]) if result else None


def _scraped(api: str, timeout: float) -> None:
    """Wait until Prometheus has scraped the target successfully."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if _value(api, 'up{job="rt"}') == 1.0 and _value(api, "sum(rt_responses_total)"):
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    raise AssertionError(f"Prometheus did not scrape rt's /metrics within {timeout} s")


@pytest.mark.skipif(
    PROMETHEUS is None and not os.environ.get("CI"),
    reason="needs Debian's prometheus package (.ci/run installs it)",
)
def test_prometheus_scrapes_what_rt_stats_computes(tmp_path: Path) -> None:
    assert PROMETHEUS is not None, "prometheus is not installed (.ci/run installs it)"
    telemetry = Telemetry.start(
        builtin_prices(), metrics_address=("127.0.0.1", 0), auth_token=TOKEN
    )
    out = tmp_path / "sessions"
    try:

        async def replay_all() -> list[Path]:
            return [await replay_through(p, out, telemetry) for p in sample_files()]

        recorded = run_bounded(replay_all(), scaled(60))
        assert telemetry.flush(scaled(10))
        port = _free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: rt\n"
            "    authorization:\n"
            f"      credentials: {TOKEN}\n"
            "    static_configs:\n"
            f"      - targets: ['127.0.0.1:{telemetry.metrics_server.port}']\n"
        )
        server = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        api = f"http://127.0.0.1:{port}"
        try:
            _scraped(api, scaled(30))
            stats = rt_stats(recorded)
            summary = stats["summary"]
            assert _value(api, "sum(rt_responses_total)") == summary["responses"]
            assert _value(api, "sum(rt_sessions_started_total)") == len(recorded)
            assert (
                _value(api, 'sum(rt_response_ttfb_seconds_count{kind=~"turn|live_turn"})')
                == (summary["ttfb_ms"]["count"])
            )
            ttfb_sum = _value(api, 'sum(rt_response_ttfb_seconds_sum{kind=~"turn|live_turn"})')
            assert ttfb_sum is not None
            assert ttfb_sum * 1000 == pytest.approx(
                summary["ttfb_ms"]["mean"] * summary["ttfb_ms"]["count"], abs=0.01
            )
            v2v = summary["voice_to_voice_ms"]
            assert _value(api, "sum(rt_response_voice_to_voice_seconds_count)") == v2v["count"]
            assert _value(api, "sum(rt_errors_total)") == summary["errors"]
            assert _value(api, "sum(rt_cost_usd_total)") == pytest.approx(summary["cost_usd"])
            by_model = {
                row["metric"]["model"]: float(row["value"][1])
                for row in _query(api, "sum by (model) (rt_responses_total)")
            }
            assert by_model == {
                model: sum(1 for r in stats["responses"] if r["model"] == model)
                for model in {r["model"] for r in stats["responses"]}
            }
            latest = {e["name"]: e["remaining"] for e in stats["rate_limits"]}
            for name, remaining in latest.items():
                assert _value(api, f'rt_rate_limit_remaining{{name="{name}"}}') == remaining
            # a quantile over the voice buckets answers (the dashboard's p95 panel)
            p95 = _value(
                api, "histogram_quantile(0.95, sum by (le) (rt_response_ttfb_seconds_bucket))"
            )
            assert p95 is not None and 0 < p95 <= 5  # within the buckets (the replay is fast)
            # every query of the Grafana dashboard is valid PromQL over these series
            dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
            for panel in dashboard["panels"]:
                for target in panel["targets"]:
                    _query(api, target["expr"].replace("$model", ".*"))
        finally:
            server.terminate()
            try:
                server.wait(scaled(10))
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    finally:
        telemetry.close()
