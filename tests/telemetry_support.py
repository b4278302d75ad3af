"""Helpers for the telemetry tests: recordings replayed through a proxy with telemetry, rt stats
as a user runs it, and a scrape of /metrics read back with prometheus_client's parser."""

from __future__ import annotations

import json
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from rt_cli.main import cli

from recorder.proxy import RecordingProxy
from recorder.replay import connection_plan, load_session, replay_schedule, run_replay
from recorder.serve import MockRealtimeServer, playbook_from

SAMPLES = Path(__file__).resolve().parent.parent / "sample_sessions"


def sample_files() -> list[Path]:
    return sorted(SAMPLES.glob("*.jsonl"))


async def replay_through(original: Path, out: Path, observer: Any) -> Path:
    """Serve `original` as a mock API and replay its client through a recording proxy that
    has `observer` (live telemetry); the new recording's path."""
    session = load_session(original)
    with tempfile.TemporaryDirectory(prefix="rt-telemetry-") as copy:
        async with (
            MockRealtimeServer(playbook_from(session), fast=True) as mock,
            RecordingProxy(
                upstream=mock.url, out_dir=out, port=0, environ={}, observer=observer
            ) as proxy,
        ):
            plan = connection_plan(session, target=proxy.url, environ={})
            schedule = replay_schedule(session, pace="reactive", fast=True)
            await run_replay(schedule, plan, copy, source=original)
            summaries = await proxy.wait_for_sessions(1)
    return summaries[0].path


def rt_stats(paths: Sequence[Path]) -> dict[str, Any]:
    result = CliRunner().invoke(
        cli, ["stats", *map(str, paths), "--format", "json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    stats: dict[str, Any] = json.loads(result.stdout)
    return stats


def scrape(url: str, headers: dict[str, str] | None = None) -> dict[tuple[str, tuple], float]:
    """Every sample of a /metrics page: (name, sorted labels) -> value."""
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as reply:
        text = reply.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: dict[tuple[str, tuple], float], metric: str, /, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == metric and set(labels.items()) <= set(sample_labels)
    )


def summed(values: Sequence[float | None]) -> float:
    return sum(value for value in values if value is not None)
