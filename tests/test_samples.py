"""The sample sessions: regenerable, and every command works on every one of them."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from click.testing import CliRunner
from rt_cli.main import cli

from recorder.proxy import RecordingProxy
from recorder.reading import iter_records
from recorder.replay import connection_plan, load_session, replay_schedule, run_replay
from recorder.serve import MockRealtimeServer, playbook_from
from recorder.vocabulary import canonical

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "sample_sessions"
SAMPLES = sorted(SAMPLE_DIR.glob("*.jsonl"))
IDS = [p.stem for p in SAMPLES]


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate_samples", SAMPLE_DIR / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def shape(path: Path) -> tuple[Counter[tuple[str, str]], list[str], list[str]]:
    """What a session is made of, apart from timing: counts of (direction, canonical type) for
    everything but deltas (a cancelled response's delta count depends on timing), the types of
    deltas present, and the final statuses of its responses in order."""
    counts: Counter[tuple[str, str]] = Counter()
    deltas: set[str] = set()
    statuses: list[str] = []
    for _, record in iter_records(path):
        if record["kind"] != "frame" or "event" not in record:
            counts[(record["kind"], "")] += 1
            continue
        kind = canonical(str(record["event"].get("type")))
        if kind.endswith(".delta"):
            deltas.add(kind)
            continue
        counts[(record["from"], kind)] += 1
        if kind == "response.done":
            statuses.append(record["event"]["response"]["status"])
    return counts, sorted(deltas), statuses


def test_there_are_samples_for_every_scenario():
    generator = _load_generator()
    assert sorted(sample.name for sample in generator.SAMPLES) == IDS
    assert sum(p.stat().st_size for p in SAMPLES) < 8 * 2**20


def test_samples_regenerate_with_the_same_events(tmp_path, run):
    generator = _load_generator()
    fresh = run(generator.generate(tmp_path, speed=20.0), timeout=60)
    assert sorted(p.stem for p in fresh) == IDS
    for committed in SAMPLES:
        assert shape(tmp_path / committed.name) == shape(committed), committed.stem


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_samples_hold_no_secrets_and_name_their_shape(sample):
    text = sample.read_text()
    assert "not-a-real-key" not in text
    first = json.loads(text.splitlines()[0])
    assert first["kind"] == "session" and first["format"] == "rt-session/1"
    beta = any(h[0].lower() == "openai-beta" for h in first["request"]["headers"])
    assert beta == (sample.stem == "beta-2024-10-01")


def test_stats_on_all_samples():
    result = CliRunner().invoke(cli, ["stats", str(SAMPLE_DIR), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["sessions"] == len(SAMPLES)
    statuses = Counter(r["status"] for r in report["responses"])
    assert statuses == {"completed": 22, "cancelled": 2}  # 4 of them GPT-Live turns
    assert report["summary"]["voice_to_voice_ms"]["count"] == 5 + 4
    assert report["summary"]["by_kind"] == {
        "turn": 18,
        "out_of_band": 1,
        "idle_timeout": 1,
        "live_turn": 4,
    }
    codes = {e["code"] for e in report["errors"]}
    assert {"input_audio_buffer_commit_empty", "response_cancel_not_active"} <= codes
    tokens = [r for r in report["rate_limits"] if r["name"] == "tokens"]
    assert min(r["remaining"] / r["limit"] for r in tokens) < 0.05  # falling towards zero


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_export_and_show_on_every_sample(sample, tmp_path):
    runner = CliRunner()
    shown = runner.invoke(cli, ["show", str(sample)])
    assert shown.exit_code == 0, shown.output
    assert "close" in shown.stdout
    exported = runner.invoke(cli, ["export", "wav", str(sample), "--out", str(tmp_path)])
    if sample.stem in ("ga-text-only", "sideband-webrtc-call"):  # no audio on the connection
        assert exported.exit_code == 1 and "no audio" in exported.output
        return
    assert exported.exit_code == 0, exported.output
    mix = sf.info(str(tmp_path / f"{sample.stem}.mix.wav"))
    g711 = "g711" in sample.stem or sample.stem.startswith("ga2")  # a phone line
    rate = 8000 if g711 else 16000 if sample.stem == "live-websocket" else 24000
    assert mix.channels == 2 and mix.samplerate == rate


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_replay_through_the_proxy_against_serve(sample, tmp_path, run):
    """The whole loop, as `rt demo` runs it: serve a sample, record a replay of it through the
    proxy, and get the same server events back."""
    session = load_session(sample)

    async def loop() -> Path:
        async with (
            MockRealtimeServer(playbook_from(session), fast=True) as mock,
            RecordingProxy(
                upstream=mock.url, out_dir=tmp_path / "proxy", port=0, environ={}
            ) as proxy,
        ):
            plan = connection_plan(session, target=proxy.url, environ={})
            schedule = replay_schedule(session, pace="reactive", fast=True)
            result = await run_replay(schedule, plan, tmp_path / "replay", source=sample)
            assert result.stopped is None, result.stopped
            assert result.frames_sent == result.frames_planned
            await proxy.wait_for_sessions(1)
        (recorded,) = (tmp_path / "proxy").glob("*.jsonl")
        return recorded

    recorded = run(loop(), timeout=30)

    def server_types(path: Path) -> list[str]:
        return [
            canonical(r["event"]["type"])
            for _, r in iter_records(path)
            if r["kind"] == "frame" and r["from"] == "server" and "event" in r
        ]

    # The proxy recorded exactly what the replaying client received. The sample's last server
    # events may be missing: a fast replay closes right after its last frame, and the mock then
    # has no chance to answer it (dialling the mock directly gives the same); a translation
    # streams its output after the last append, so more of it may be cut.
    (replayed,) = (tmp_path / "replay").glob("*.jsonl")
    got = server_types(recorded)
    assert got == server_types(replayed)
    expected = server_types(sample)
    assert got == expected[: len(got)]
    streams_after_input = sample.stem.startswith("translation")
    assert len(got) >= (len(expected) // 2 if streams_after_input else len(expected) - 1)
