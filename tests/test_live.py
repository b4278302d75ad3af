"""GPT-Live sessions (CONTRACT §4.4) recorded through the proxy from the scripted stand-in, and
measured against what it injected: turns, voice-to-voice on the timeline clock, wall-clock ttfb,
billed seconds and cost, delegations, mute, and the readers on top (stats, show, export)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from audio_fixtures import pcm16, sine
from click.testing import CliRunner
from rt_cli.main import cli
from scripted_live import LiveScript, LiveTruth
from scripted_server import Script
from websockets.asyncio.client import connect

from recorder.interpretation import interpret
from recorder.interpretation.energy import audible_windows
from recorder.proxy import RecordingProxy
from recorder.reading import iter_records
from recorder.replay import connection_plan, load_session, replay_schedule, run_replay

pytestmark = pytest.mark.slow  # the scripted GPT-Live server and the proxy

CHUNK_MS = 20


def silence(ms: int, rate: int = 24000) -> np.ndarray:
    return np.zeros(rate * ms // 1000, dtype=np.int16)


def mic(*parts: tuple[str, int]) -> np.ndarray:
    """('talk', ms) and ('quiet', ms) pieces of a microphone's signal at 24 kHz."""
    return np.concatenate([sine(330, ms) if kind == "talk" else silence(ms) for kind, ms in parts])


@dataclass
class LiveCall:
    records: list[dict[str, Any]]
    truth: LiveTruth
    path: Path
    sideband: Path | None = None


def start_event(fmt: dict[str, Any], model: str = "gpt-live-1") -> dict[str, Any]:
    return {
        "type": "session.start",
        "session": {"model": model, "audio": {"format": fmt, "output": {"voice": "marin"}}},
    }


async def until(ws: Any, kind: str) -> dict[str, Any]:
    async for message in ws:
        event = json.loads(message)
        if event.get("type") == kind:
            return event
    raise AssertionError(f"closed before {kind}")


def record_call(
    run: Any,
    proxied: Any,
    samples: np.ndarray,
    live: LiveScript | None = None,
    *,
    pace: float = 0.25,  # seconds of wall clock per second of audio
    path: str = "/v1/live/sessions",
    mute_at_ms: tuple[int, int] | None = None,
    sideband: bool = False,
) -> LiveCall:
    """Record one GPT-Live call: the client streams `samples` (24 kHz) in 20 ms appends at
    `pace`, then closes the session."""

    async def call() -> LiveCall:
        async with proxied(Script(live=live or LiveScript())) as stack:
            async with connect(stack.proxy.url + path, max_size=None) as ws:
                await ws.send(json.dumps(start_event({"type": "audio/pcm", "rate": 24000})))
                started = await until(ws, "session.started")
                watcher = None
                if sideband:
                    attach = f"{path.rstrip('/')}/{started['session']['id']}/attach"
                    side = await connect(stack.proxy.url + attach, max_size=None)
                    watcher = asyncio.ensure_future(_drain(side))
                reader = asyncio.ensure_future(_drain(ws))
                loop = asyncio.get_running_loop()
                begin = loop.time()
                pieces = [
                    samples[i : i + 480] for i in range(0, len(samples), 480 * CHUNK_MS // 20)
                ]
                for n, piece in enumerate(pieces):
                    at_ms = n * CHUNK_MS
                    if mute_at_ms is not None and at_ms in mute_at_ms:
                        kind = (
                            "session.input_audio.mute"
                            if at_ms == mute_at_ms[0]
                            else "session.input_audio.unmute"
                        )
                        await ws.send(json.dumps({"type": kind}))
                    event = {
                        "type": "session.input_audio.append",
                        "audio": base64.b64encode(pcm16(piece)).decode(),
                    }
                    await ws.send(json.dumps(event))
                    due = begin + (n + 1) * CHUNK_MS / 1000 * pace
                    await asyncio.sleep(max(0.0, due - loop.time()))
                await ws.send(json.dumps({"type": "session.close"}))
                await reader
                if watcher is not None:
                    await watcher
            await stack.proxy.wait_for_sessions(2 if sideband else 1)
            files = stack.files()
            primary = next(f for f in files if "attach" not in _path_of(f))
            side_file = next((f for f in files if "attach" in _path_of(f)), None)
            return LiveCall(stack.records(primary), stack.server.live_truth[0], primary, side_file)

    return run(call(), timeout=30)


def _path_of(file: Path) -> str:
    return json.loads(file.read_text().splitlines()[0])["request"]["path"]


async def _drain(ws: Any) -> None:
    try:
        async for _ in ws:
            pass
    finally:
        await ws.close()


TWO_QUESTIONS = mic(("quiet", 300), ("talk", 1000), ("quiet", 2000), ("talk", 800), ("quiet", 2200))


def test_turns_voice_to_voice_and_ttfb_against_the_injected_truth(run, proxied):
    call = record_call(run, proxied, TWO_QUESTIONS, LiveScript(reply_delay_ms=600))
    facts = interpret(enumerate(call.records), call.path)
    assert facts.protocol == "live" and facts.model == "gpt-live-1"
    turns = [r for r in facts.responses if r.kind == "live_turn"]
    assert [t.response_id for t in turns] == ["live-1", "live-2"]
    assert len(call.truth.turns) == 2
    for turn, truth in zip(turns, call.truth.turns, strict=True):
        assert turn.voice_to_voice_ms == pytest.approx(600, abs=1)
        assert turn.trigger == "session.input_transcript.delta"
        injected_ttfb = (truth.first_audio_sent_t - truth.end_append_t) * 1000
        assert turn.ttfb_ms == pytest.approx(injected_ttfb, abs=10)
        assert turn.audio_out_ms == pytest.approx(1200, abs=20)
        assert turn.transcript == ("Sure, here it is.",)
    live = facts.live
    assert live is not None and live.close_reason == "close_requested"
    assert live.billed_seconds == pytest.approx(call.truth.billed_seconds)
    assert live.billed_seconds == pytest.approx(len(TWO_QUESTIONS) / 24000, abs=0.001)


def test_stats_and_sql_on_a_live_call_with_a_delegation_and_mute(run, proxied):
    script = LiveScript(reply_delay_ms=400, delegate_turn=1)
    call = record_call(run, proxied, TWO_QUESTIONS, script, mute_at_ms=(4600, 5000))
    runner = CliRunner()
    data = json.loads(runner.invoke(cli, ["stats", str(call.path), "--format", "json"]).stdout)
    rows = data["responses"]
    assert [(r["response_id"], r["kind"], r["voice_to_voice_ms"]) for r in rows] == [
        ("live-1", "live_turn", 400.0),
        ("live-2", "live_turn", 400.0),
    ]
    assert data["summary"]["by_kind"]["live_turn"] == 2
    assert data["summary"]["voice_to_voice_ms"]["p50"] == 400.0
    billed = len(TWO_QUESTIONS) / 24000
    delegated = (820 - 512) * 0.25 + 512 * 0.025 + 96 * 2.0  # gpt-5-mini, per 1M tokens
    cost = billed / 60 * 0.05 + delegated / 1e6
    (session,) = data["sessions"]
    assert session["protocol"] == "live" and session["model"] == "gpt-live-1"
    assert session["cost_usd"] == pytest.approx(cost)
    assert data["summary"]["cost_usd"] == pytest.approx(cost)
    query = (
        "SELECT live_seconds, live_cost_usd, live_close_reason, live_delegations, "
        "live_delegated_tokens, live_muted_ms FROM sessions"
    )
    out = runner.invoke(cli, ["sql", query, str(call.path), "--format", "json"])
    (row,) = json.loads(out.stdout)
    assert row["live_seconds"] == pytest.approx(billed)
    assert row["live_cost_usd"] == pytest.approx(cost)
    assert (row["live_close_reason"], row["live_delegations"]) == ("close_requested", 1)
    assert row["live_delegated_tokens"] == 820 + 96
    acks = {
        r["event"]["type"]: r["t"]
        for r in call.records
        if r["kind"] == "frame"
        and r["event"].get("type", "").startswith("session.input_audio.m")
        or r["kind"] == "frame"
        and r["event"].get("type") == "session.input_audio.unmuted"
    }
    muted = acks["session.input_audio.unmuted"] - acks["session.input_audio.muted"]
    assert row["live_muted_ms"] == pytest.approx(muted * 1000, abs=0.01)  # the server's acks


def test_a_live_model_without_a_price_says_so(run, proxied, tmp_path):
    call = record_call(
        run, proxied, mic(("talk", 400), ("quiet", 1200)), LiveScript(model="gpt-live-9")
    )
    result = CliRunner().invoke(cli, ["stats", str(call.path), "--format", "json"])
    assert json.loads(result.stdout)["sessions"][0]["cost_usd"] is None
    assert "no price for model 'gpt-live-9'" in result.stderr


@pytest.fixture(scope="module")
def delegated_call(tmp_path_factory):
    """A recorded call with a Responses delegation, a mute, and a sideband attached."""
    from conftest import ProxyStack, run_bounded
    from scripted_server import ScriptedRealtimeServer

    out = tmp_path_factory.mktemp("live")

    def proxied(script=None, **options):
        @contextlib.asynccontextmanager
        async def stack():
            async with (
                ScriptedRealtimeServer(script) as server,
                RecordingProxy(server.url, out, port=0, environ={}) as proxy,
            ):
                yield ProxyStack(server, proxy, out)

        return stack()

    script = LiveScript(reply_delay_ms=600, delegate_turn=1)
    return record_call(run_bounded, proxied, TWO_QUESTIONS, script, sideband=True)


def test_show_folds_the_silent_output_and_shows_who_said_what(delegated_call):
    result = CliRunner().invoke(cli, ["show", str(delegated_call.path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("protocol    live over websocket") for line in lines)
    said = [line for line in lines if "transcript.delta" in line]
    assert [line.split("  ")[-1].strip() for line in said] == [
        '"Hello there" · timeline 0.30–1.30 s · 2 deltas',
        '"Sure, here it is." · timeline 1.90–3.10 s · 4 deltas',
        '"Hello there" · timeline 3.30–4.10 s · 2 deltas',
        '"Sure, here it is." · timeline 4.70–5.90 s · 4 deltas',
    ]
    output = [line for line in lines if "session.output_audio.delta" in line]
    assert sum("speech" in line for line in output) >= 2 and any(
        "silence" in line for line in output
    )
    assert len(output) < 20  # hundreds of deltas, folded
    delegation = next(line for line in lines if "response.event" in line)
    assert (
        "response.completed · gpt-5-mini · completed · 820 in (512 cached) / 96 out tokens"
        in delegation
    )
    assert any(
        "session.closed" in line and "close_requested · 6.3 s billed" in line for line in lines
    )


def test_export_wav_plays_the_output_along_the_session_timeline(delegated_call, tmp_path):
    result = CliRunner().invoke(
        cli, ["export", "wav", str(delegated_call.path), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    stem = delegated_call.path.stem
    assistant, rate = sf.read(tmp_path / f"{stem}.assistant.wav", dtype="int16")
    assert rate == 24000 and len(assistant) == len(TWO_QUESTIONS)  # the track holds its silences
    mix, _ = sf.read(tmp_path / f"{stem}.mix.wav", dtype="int16")
    first_append = next(
        r["t"]
        for r in delegated_call.records
        if r["kind"] == "frame" and r["event"].get("type") == "session.input_audio.append"
    )

    def onsets(channel: np.ndarray) -> list[float]:
        audible = audible_windows(np.ascontiguousarray(channel), 24000).astype(int)
        return (np.flatnonzero(np.diff(np.concatenate([[0], audible])) == 1) * 0.02).tolist()

    # the user's speech at timeline 0.3 s and 3.3 s, the replies at 1.9 s and 4.7 s, all from
    # where the first append plays
    for found, expected in zip(onsets(mix[:, 0]), (0.3, 3.3), strict=True):
        assert found == pytest.approx(first_append + expected, abs=0.021)
    for found, expected in zip(onsets(mix[:, 1]), (1.9, 4.7), strict=True):
        assert found == pytest.approx(first_append + expected, abs=0.021)


def test_the_sideband_of_the_same_call_says_the_same(delegated_call):
    assert delegated_call.sideband is not None
    primary = interpret(enumerate(delegated_call.records), delegated_call.path)
    records = [record for _, record in iter_records(delegated_call.sideband)]
    side = interpret(enumerate(records), delegated_call.sideband)
    assert (side.protocol, side.transport) == ("live", "sideband")
    assert [r.voice_to_voice_ms for r in side.responses] == [600.0, 600.0]
    assert [r.transcript for r in side.responses] == [r.transcript for r in primary.responses]
    assert side.live is not None and side.live.billed_seconds == primary.live.billed_seconds
    assert side.conversation is not None and primary.conversation is not None
    assert side.conversation.assistant_talk_ms == primary.conversation.assistant_talk_ms == 2400.0


def test_report_of_a_live_call(delegated_call, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(delegated_call.path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    turns = re.findall(
        r'<li class="turn (\w+)" data-t="([\d.]+)">.*?<span class="said">([^<]*)', page
    )
    assert [(who, said) for who, _, said in turns] == [
        ("user", "Hello there"),
        ("assistant", "Sure, here it is."),
        ("user", "Hello there"),
        ("assistant", "Sure, here it is."),
    ]
    times = [float(t) for _, t, _ in turns]
    assert times == sorted(times)  # where each plays in the mix
    assert "#1 live" in page and "voice→voice 600 ms" in page
    assert 'class="chart strip"' in page


def test_replay_against_the_scripted_live_server(delegated_call, proxied, tmp_path, run):
    """A replay of a GPT-Live recording against a live (scripted) server: the appends go out at
    their recorded pace, so the new call has the same turns. (rt serve of a GPT-Live recording
    to its own replay: tests/test_samples.py, on the GPT-Live samples.)"""
    session = load_session(delegated_call.path)

    async def replay() -> Path:
        async with proxied(Script(live=LiveScript(reply_delay_ms=600))) as stack:
            plan = connection_plan(session, target=stack.proxy.url, environ={})
            schedule = replay_schedule(session, pace="reactive")
            result = await run_replay(
                schedule, plan, tmp_path / "replay", source=delegated_call.path
            )
            assert result.stopped is None, result.stopped
            await stack.proxy.wait_for_sessions(1)
            (recorded,) = stack.files()
            return recorded

    recorded = run(replay(), timeout=30)
    facts = interpret(iter_records(recorded), recorded)
    assert facts.protocol == "live"
    assert [r.voice_to_voice_ms for r in facts.responses] == [600.0, 600.0]
    assert facts.live is not None and facts.live.close_reason == "close_requested"


def test_a_barge_in_on_gpt_live(run, proxied):
    """The user talks over the first reply 400 ms into it; the model yields 240 ms later."""
    samples = mic(("quiet", 300), ("talk", 1000), ("quiet", 1000), ("talk", 1000), ("quiet", 2200))
    call = record_call(run, proxied, samples, LiveScript(reply_delay_ms=600, yield_ms=240))
    facts = interpret(enumerate(call.records), call.path)
    first, second = call.truth.turns
    assert first.cut_reply_at_ms == 2300 + 240
    turns = [r for r in facts.responses if r.kind == "live_turn"]
    assert [t.voice_to_voice_ms for t in turns] == [600.0, 600.0]  # the cut answer is one turn
    assert turns[0].audio_out_ms == pytest.approx(2540 - 1900, abs=20)
    timing = facts.conversation
    assert timing is not None
    assert timing.barge_ins == 1
    assert timing.barge_in_stop_ms == pytest.approx(240, abs=20)
    assert timing.talk_over_ms == pytest.approx(240, abs=20)
    assert timing.turns == 4
