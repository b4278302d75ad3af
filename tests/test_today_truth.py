"""CONTRACT §4 against the truth: the scripted server records when it sent and received each
frame; sessions recorded through rt's proxy must give those times back, within a few
milliseconds, through every reader: `rt stats --format json`, `rt sql`, the Parquet export and
`rt show` (which must also agree with one another).

The scenarios are the sample sessions of today's API (sample_sessions/generate.py), recorded
afresh at a higher speed: a gpt-realtime-2 call with a preamble, a parallel out-of-band
response, reasoning and image tokens, input transcription and an idle timeout; a sideband
watching a WebRTC call; the translation endpoint.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from conftest import run_bounded, scaled
from rt_cli.main import cli
from scripted_server import ConnectionLog

ROOT = Path(__file__).resolve().parent.parent
SPEED = 4.0
TOLERANCE_MS = 5.0  # two loopback hops between the proxy and the scripted server
NAMES = ("ga2-preamble-oob-idle", "sideband-webrtc-call", "translation-en-fr")

pytestmark = pytest.mark.slow

Events = list[tuple[float, dict[str, Any]]]


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "generate_today", ROOT / "sample_sessions" / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, ConnectionLog]]:
    """Each scenario recorded through the proxy, with the scripted server's log of it."""
    generator = _generator()
    out = tmp_path_factory.mktemp("today")
    found: dict[str, tuple[Path, ConnectionLog]] = {}

    async def record_all() -> None:
        for sample in generator.SAMPLES:
            if sample.name in NAMES:
                logs: list[ConnectionLog] = []
                path = await generator.record_sample(sample, out, SPEED, logs)
                found[sample.name] = (path, logs[0])

    run_bounded(record_all(), timeout=scaled(90))
    return found


# -- the truth, from the scripted server's log ---------------------------------------------------


def first(events: Events, kind: str, **match: Any) -> tuple[float, dict[str, Any]]:
    return next(found for found in all_of(events, kind, **match))


def all_of(events: Events, kind: str, **match: Any) -> Iterator[tuple[float, dict[str, Any]]]:
    for t, event in events:
        if event.get("type") == kind and all(event.get(k) == v for k, v in match.items()):
            yield t, event


def ms(later: float, earlier: float) -> float:
    return (later - earlier) * 1000


def item_of_phase(sent: Events, response_id: str, phase: str) -> str:
    for _, event in all_of(sent, "response.output_item.added", response_id=response_id):
        if event["item"].get("phase") == phase:
            return str(event["item"]["id"])
    raise AssertionError(f"no {phase} item in {response_id}")


def ga2_truth(log: ConnectionLog) -> dict[str, Any]:
    sent, received = log.sent_events(), log.received_events()
    stopped_t, stopped = first(sent, "input_audio_buffer.speech_stopped")
    created = [e["response"] for _, e in all_of(sent, "response.created")]
    turn = next(
        r["id"] for r in created if r["conversation_id"] is not None and r["metadata"] is None
    )
    oob = next(r["id"] for r in created if r["conversation_id"] is None)
    idle = [r["id"] for r in created if r["conversation_id"] is not None][1]
    preamble_item = item_of_phase(sent, turn, "commentary")
    final_item = item_of_phase(sent, turn, "final_answer")
    preamble_t, _ = first(
        sent, "response.output_audio.delta", response_id=turn, item_id=preamble_item
    )
    final_t, _ = first(sent, "response.output_audio.delta", response_id=turn, item_id=final_item)
    # the append whose audio covers audio_end_ms (G.711: 8 bytes a millisecond), as received
    appended = 0.0
    speech_end_t = None
    for t, event in all_of(received, "input_audio_buffer.append"):
        appended += len(base64.b64decode(event["audio"])) / 8
        if appended >= stopped["audio_end_ms"] - 1e-6:
            speech_end_t = t
            break
    assert speech_end_t is not None
    preamble_bytes = sum(
        len(base64.b64decode(e["delta"]))
        for _, e in all_of(sent, "response.output_audio.delta", item_id=preamble_item)
    )
    oob_request_t, _ = next(
        (t, e)
        for t, e in all_of(received, "response.create")
        if e.get("response", {}).get("conversation") == "none"
    )
    oob_text_t, _ = first(sent, "response.output_text.delta", response_id=oob)
    timeout_t, _ = first(sent, "input_audio_buffer.timeout_triggered")
    idle_audio_t, _ = first(sent, "response.output_audio.delta", response_id=idle)
    usages = {e["response"]["id"]: e["response"]["usage"] for _, e in all_of(sent, "response.done")}
    transcriptions = [
        e["usage"] for _, e in all_of(sent, "conversation.item.input_audio_transcription.completed")
    ]
    return {
        "turn": {
            "response_id": turn,
            "kind": "turn",
            "ttfb_ms": ms(preamble_t, stopped_t),
            "ttfb_final_ms": ms(final_t, stopped_t),
            "voice_to_voice_ms": ms(preamble_t, speech_end_t),
            "voice_to_voice_final_ms": ms(final_t, speech_end_t),
            "preamble_audio_ms": preamble_bytes / 8,
            "usage": usages[turn],
        },
        "out_of_band": {
            "response_id": oob,
            "kind": "out_of_band",
            "ttft_ms": ms(oob_text_t, oob_request_t),
            "ttfb_ms": None,
            "voice_to_voice_ms": None,
            "usage": usages[oob],
        },
        "idle_timeout": {
            "response_id": idle,
            "kind": "idle_timeout",
            "ttfb_ms": ms(idle_audio_t, timeout_t),
            "voice_to_voice_ms": None,
            "usage": usages[idle],
        },
        "transcriptions": transcriptions,
    }


def response_cost(usage: dict[str, Any]) -> float:
    """gpt-realtime-2 per 1M: text 4 / 0.4 / 24, audio 32 / 0.4 / 64, image 5 / 0.5."""
    details, cached = (
        usage["input_token_details"],
        usage["input_token_details"]["cached_tokens_details"],
    )
    out = usage["output_token_details"]
    return (
        (details["text_tokens"] - cached["text_tokens"]) * 4 + cached["text_tokens"] * 0.4
        + (details["audio_tokens"] - cached["audio_tokens"]) * 32 + cached["audio_tokens"] * 0.4
        + (details["image_tokens"] - cached["image_tokens"]) * 5 + cached["image_tokens"] * 0.5
        + out["text_tokens"] * 24 + out["audio_tokens"] * 64
    ) / 1e6  # fmt: skip


# -- the readers ------------------------------------------------------------------------------------

RESPONSE_COLUMNS = (
    "response_id", "kind", "trigger", "ttfb_ms", "ttfb_source", "ttft_ms", "ttfb_final_ms",
    "voice_to_voice_ms", "voice_to_voice_final_ms", "preamble_audio_ms", "output_reasoning_tokens",
    "output_text_tokens", "input_image_tokens", "cost_usd",
)  # fmt: skip
SESSION_COLUMNS = (
    "file", "protocol", "transport", "cost_usd", "transcription_model", "transcription_seconds",
    "transcription_tokens", "transcription_cost_usd", "translation_seconds", "translation_cost_usd",
)  # fmt: skip


@pytest.fixture(scope="module")
def readers(
    recorded: dict[str, tuple[Path, ConnectionLog]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """What `rt stats --format json`, `rt sql` and the Parquet export say: responses and
    sessions, with the same columns, in the same order."""
    paths = [str(recorded[name][0]) for name in NAMES]
    runner = CliRunner()
    result = runner.invoke(cli, ["stats", *paths, "--format", "json"])
    assert result.exit_code == 0 and result.stderr == "", result.output
    stats = json.loads(result.stdout)
    order = "ORDER BY file, seq"

    def pick(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[dict[str, Any]]:
        return [{c: row[c] for c in columns} for row in rows]

    from_stats = {
        "responses": pick(stats["responses"], RESPONSE_COLUMNS),
        "sessions": pick(stats["sessions"], SESSION_COLUMNS),
    }
    sql = {}
    for view, columns, sort in (
        ("responses", RESPONSE_COLUMNS, order),
        ("sessions", SESSION_COLUMNS, "ORDER BY file"),
    ):
        query = f"SELECT {', '.join(columns)} FROM {view} {sort}"
        result = runner.invoke(cli, ["sql", query, *paths, "--format", "json"])
        assert result.exit_code == 0, result.output
        sql[view] = json.loads(result.stdout)
    dataset = tmp_path_factory.mktemp("parquet") / "rt"
    result = runner.invoke(cli, ["export", "parquet", *paths, "--out", str(dataset)])
    assert result.exit_code == 0, result.output
    parquet = {}
    with duckdb.connect() as con:
        for view, columns, sort in (
            ("responses", RESPONSE_COLUMNS, "ORDER BY file, seq"),
            ("sessions", SESSION_COLUMNS, "ORDER BY file"),
        ):
            cursor = con.execute(
                f"SELECT {', '.join(columns)} FROM read_parquet('{dataset}/{view}/**/*.parquet', "
                f"hive_partitioning = true) {sort}"
            )
            names = [d[0] for d in cursor.description]
            parquet[view] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {"stats": from_stats, "sql": sql, "parquet": parquet}


def test_stats_sql_and_parquet_agree_value_for_value(readers):
    stats, sql, parquet = readers["stats"], readers["sql"], readers["parquet"]
    assert sql["sessions"] == stats["sessions"]  # the files sort in the order given
    assert parquet["sessions"] == sql["sessions"]
    by_id = {r["response_id"]: r for r in stats["responses"]}
    assert {r["response_id"]: r for r in sql["responses"]} == by_id
    assert {r["response_id"]: r for r in parquet["responses"]} == by_id


def response(readers: dict[str, Any], reader: str, response_id: str) -> dict[str, Any]:
    return next(r for r in readers[reader]["responses"] if r["response_id"] == response_id)


def session(readers: dict[str, Any], reader: str, path: Path) -> dict[str, Any]:
    return next(r for r in readers[reader]["sessions"] if r["file"] == str(path))


@pytest.mark.parametrize("reader", ["stats", "sql", "parquet"])
def test_a_preamble_parallel_and_idle_call_gives_the_injected_truth(reader, recorded, readers):
    path, log = recorded["ga2-preamble-oob-idle"]
    truth = ga2_truth(log)
    for kind in ("turn", "out_of_band", "idle_timeout"):
        expected = truth[kind]
        found = response(readers, reader, expected["response_id"])
        assert found["kind"] == kind
        for metric in (
            "ttfb_ms",
            "ttfb_final_ms",
            "ttft_ms",
            "voice_to_voice_ms",
            "voice_to_voice_final_ms",
        ):
            if metric not in expected:
                continue
            if expected[metric] is None:
                assert found[metric] is None, (kind, metric)
            else:
                assert found[metric] == pytest.approx(expected[metric], abs=TOLERANCE_MS), (
                    kind,
                    metric,
                )
        usage = expected["usage"]
        assert found["output_reasoning_tokens"] == usage["output_token_details"].get(
            "reasoning_tokens"
        )
        assert found["output_text_tokens"] == usage["output_token_details"]["text_tokens"]
        assert found["input_image_tokens"] == usage["input_token_details"]["image_tokens"]
        assert found["cost_usd"] == pytest.approx(response_cost(usage), abs=1e-8)
    turn = response(readers, reader, truth["turn"]["response_id"])
    assert turn["preamble_audio_ms"] == truth["turn"]["preamble_audio_ms"]
    # the preamble hides the answer's wait: final_answer_delay 1.4 s against a first delta at 0.35 s
    assert turn["ttfb_final_ms"] - turn["ttfb_ms"] > 0.8 * (1.4 - 0.35) / SPEED * 1000
    assert turn["output_reasoning_tokens"] == 48 and turn["input_image_tokens"] == 255
    row = session(readers, reader, path)
    tokens = truth["transcriptions"]
    assert row["transcription_model"] == "gpt-4o-mini-transcribe"
    assert row["transcription_tokens"] == sum(u["total_tokens"] for u in tokens)
    transcription_cost = sum(
        u["input_token_details"]["text_tokens"] * 1.25 + u["input_token_details"]["audio_tokens"] * 3.0
        + u["output_tokens"] * 5.0
        for u in tokens
    ) / 1e6  # fmt: skip
    assert row["transcription_cost_usd"] == pytest.approx(transcription_cost, abs=1e-8)
    responses_cost = sum(
        response_cost(truth[k]["usage"]) for k in ("turn", "out_of_band", "idle_timeout")
    )
    assert row["cost_usd"] == pytest.approx(responses_cost + transcription_cost, abs=1e-7)


@pytest.mark.parametrize("reader", ["stats", "sql", "parquet"])
def test_a_sideband_gives_playback_latency_and_per_minute_transcription(reader, recorded, readers):
    path, log = recorded["sideband-webrtc-call"]
    sent = log.sent_events()
    stops = [t for t, _ in all_of(sent, "input_audio_buffer.speech_stopped")]
    for stopped_t, (started_t, started) in zip(
        stops, all_of(sent, "output_audio_buffer.started"), strict=True
    ):
        found = response(readers, reader, started["response_id"])
        assert found["ttfb_source"] == "playback"
        assert found["ttfb_ms"] == pytest.approx(ms(started_t, stopped_t), abs=TOLERANCE_MS)
        assert found["ttfb_final_ms"] == found["ttfb_ms"]
        assert found["voice_to_voice_ms"] is None  # no audio on the connection
    seconds = sum(
        e["usage"]["seconds"]
        for _, e in all_of(sent, "conversation.item.input_audio_transcription.completed")
    )
    row = session(readers, reader, path)
    assert (row["transport"], row["transcription_model"]) == ("sideband", "gpt-realtime-whisper")
    assert row["transcription_seconds"] == pytest.approx(seconds)
    assert row["transcription_cost_usd"] == pytest.approx(seconds / 60 * 0.017, abs=1e-8)


@pytest.mark.parametrize("reader", ["stats", "sql", "parquet"])
def test_translation_is_billed_by_the_audio_appended(reader, recorded, readers):
    path, log = recorded["translation-en-fr"]
    appended = sum(
        len(base64.b64decode(e["audio"]))
        for _, e in all_of(log.received_events(), "session.input_audio_buffer.append")
    )
    row = session(readers, reader, path)
    assert row["protocol"] == "translation"
    assert row["translation_seconds"] == pytest.approx(appended / 48 / 1000, abs=1e-6)
    assert row["translation_cost_usd"] == pytest.approx(appended / 48 / 1000 / 60 * 0.034, abs=1e-8)
    assert row["cost_usd"] == row["translation_cost_usd"]


# -- rt show ---------------------------------------------------------------------------------------------


def timeline(path: Path) -> list[str]:
    result = CliRunner().invoke(cli, ["show", str(path)])
    assert result.exit_code == 0 and result.stderr == "", result.output
    return result.stdout.splitlines()


def at(lines: list[str], pattern: str) -> float:
    (found,) = [line for line in lines if re.search(pattern, line)]
    return float(found.split()[0])


def test_show_places_the_same_moments(recorded, readers):
    path, log = recorded["ga2-preamble-oob-idle"]
    truth = ga2_truth(log)
    lines = timeline(path)
    stopped = at(lines, r"input_audio_buffer\.speech_stopped")
    preamble = at(lines, r"response\.output_audio\.delta\s+preamble")
    final = at(lines, r"response\.output_audio\.delta\s+final answer")
    half_ms = 1.0  # show prints milliseconds: each time is within half of one
    turn = response(readers, "stats", truth["turn"]["response_id"])
    assert ms(preamble, stopped) == pytest.approx(turn["ttfb_ms"], abs=half_ms)
    assert ms(final, stopped) == pytest.approx(turn["ttfb_final_ms"], abs=half_ms)
    assert ms(final, stopped) == pytest.approx(
        truth["turn"]["ttfb_final_ms"], abs=TOLERANCE_MS + half_ms
    )
    (done,) = [
        line for line in lines if "response.done" in line and truth["turn"]["response_id"] in line
    ]
    assert f"ttfb {turn['ttfb_ms']:.1f} ms · final answer {turn['ttfb_final_ms']:.1f} ms" in done
    timeout = at(lines, r"input_audio_buffer\.timeout_triggered")
    idle = at(lines, r"r3\s+response\.output_audio\.delta")
    idle_row = response(readers, "stats", truth["idle_timeout"]["response_id"])
    assert ms(idle, timeout) == pytest.approx(idle_row["ttfb_ms"], abs=half_ms)
    assert at(lines, r"response\.created\s+\S+ · metadata purpose=intent · out of band") > stopped
    sideband = timeline(recorded["sideband-webrtc-call"][0])
    assert (
        sum(bool(re.search(r"r\d +output_audio_buffer\.started", line)) for line in sideband) == 2
    )
    assert not any("output_audio.delta" in line for line in sideband)


def test_each_scenario_is_a_committed_sample(recorded):
    for name in NAMES:
        assert (ROOT / "sample_sessions" / f"{name}.jsonl").is_file()
