"""CONTRACT §4.2 on hand-built sessions, through `rt stats` (real DuckDB): reasoning tokens are
not billed twice, image tokens at the image price, cached tokens per modality, input
transcription per token and per minute, the translation endpoint's audio per minute."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rt_cli.main import cli
from stats_fixtures import SessionFile, audio_b64, ga_session_created, ga_usage

from recorder.analytics import StatsReport, UnknownModel, collect_stats


def analyse(*paths: Path) -> StatsReport:
    return collect_stats([str(p) for p in paths])


def usage(**fields: int) -> dict[str, Any]:
    """A GA usage with reasoning and image tokens (`ga_usage` fields plus `image`,
    `cached_image` and `reasoning`)."""
    image = fields.pop("image", 0)
    cached_image = fields.pop("cached_image", 0)
    reasoning = fields.pop("reasoning", None)
    body = ga_usage(**fields)
    details = body["input_token_details"]
    details["image_tokens"] = image
    details["cached_tokens"] += cached_image
    details["cached_tokens_details"]["image_tokens"] = cached_image
    body["input_tokens"] += image
    body["total_tokens"] += image
    if reasoning is not None:
        body["output_token_details"]["reasoning_tokens"] = reasoning
    return body


def one_response(model: str, body: dict[str, Any], name: str = "s") -> SessionFile:
    s = SessionFile(name)
    s.server(0.0, "session.created", **ga_session_created(model=model))
    s.client(1.0, "response.create")
    s.created(1.1, "r1")
    s.done(1.5, "r1", usage=body)
    return s


def test_reasoning_tokens_are_shown_and_billed_once_as_text(tmp_path):
    body = usage(input_text=1000, output_text=500, reasoning=400, output_audio=100)
    (row,) = analyse(one_response("gpt-realtime-2", body).write(tmp_path)).responses
    assert row["output_reasoning_tokens"] == 400
    assert row["output_text_tokens"] == 500 and row["output_tokens"] == 600
    # gpt-realtime-2: text 4 in / 24 out, audio 64 out per 1M; the 400 are inside the 500
    assert row["cost_usd"] == pytest.approx((1000 * 4 + 500 * 24 + 100 * 64) / 1e6)


def test_image_tokens_at_the_image_price_and_cached_per_modality(tmp_path):
    body = usage(
        input_text=1000, cached_text=600, input_audio=200, cached_audio=100, image=800,
        cached_image=300, output_text=10,
    )  # fmt: skip
    (row,) = analyse(one_response("gpt-realtime-2.1", body).write(tmp_path)).responses
    assert (row["input_image_tokens"], row["cached_image_tokens"]) == (800, 300)
    assert (row["cached_text_tokens"], row["cached_audio_tokens"]) == (600, 100)
    expected = (
        400 * 4.0 + 600 * 0.4  # text: 4 in, 0.4 cached
        + 100 * 32.0 + 100 * 0.4  # audio: 32 in, 0.4 cached
        + 500 * 5.0 + 300 * 0.5  # image: 5 in, 0.5 cached
        + 10 * 24.0
    ) / 1e6  # fmt: skip
    assert row["cost_usd"] == pytest.approx(expected)


def test_a_model_without_an_image_price_leaves_image_responses_unpriced(tmp_path):
    body = usage(input_text=10, image=100, output_text=5)
    (row,) = analyse(one_response("gpt-realtime-mini", body).write(tmp_path)).responses
    assert row["input_image_tokens"] == 100 and row["cost_usd"] is None


def test_gpt_realtime_2_1_has_its_own_price(tmp_path):
    body = usage(output_text=1_000_000)
    (row,) = analyse(one_response("gpt-realtime-2.1", body).write(tmp_path)).responses
    assert row["cost_usd"] == pytest.approx(24.0)  # not gpt-realtime's 16


# -- input transcription ----------------------------------------------------------------------


def transcription_config(model: str | None) -> dict[str, Any]:
    transcription = None if model is None else {"model": model}
    return {"type": "realtime", "audio": {"input": {"transcription": transcription}}}


def completed(s: SessionFile, t: float, item_id: str, body: dict[str, Any]) -> None:
    s.server(
        t,
        "conversation.item.input_audio_transcription.completed",
        item_id=item_id,
        content_index=0,
        transcript="hello",
        usage=body,
    )


def transcribed_session() -> SessionFile:
    """Two turns transcribed by gpt-4o-mini-transcribe (tokens), then the client switches to
    gpt-realtime-whisper (duration) for a third."""
    s = SessionFile("transcribed")
    s.server(0.0, "session.created", **ga_session_created(model="gpt-realtime-2"))
    s.client(0.1, "session.update", session=transcription_config("gpt-4o-mini-transcribe"))
    s.server(
        0.2,
        "session.updated",
        session={"model": "gpt-realtime-2", **transcription_config("gpt-4o-mini-transcribe")},
    )
    tokens = {
        "type": "tokens",
        "input_tokens": 120,
        "input_token_details": {"text_tokens": 20, "audio_tokens": 100},
        "output_tokens": 30,
        "total_tokens": 150,
    }
    completed(s, 2.0, "item_1", tokens)
    completed(s, 4.0, "item_2", tokens)
    s.client(5.0, "session.update", session=transcription_config("gpt-realtime-whisper"))
    # the server's answer comes after the next completion: the request is already in effect
    completed(s, 5.1, "item_3", {"type": "duration", "seconds": 90.0})
    s.server(
        5.2,
        "session.updated",
        session={"model": "gpt-realtime-2", **transcription_config("gpt-realtime-whisper")},
    )
    s.client(6.0, "response.create")
    s.created(6.1, "r1")
    s.done(6.5, "r1", usage=usage(input_text=1_000_000))
    return s


def test_transcription_usage_and_cost_per_session(tmp_path):
    report = analyse(transcribed_session().write(tmp_path))
    (session,) = report.to_json()["sessions"]
    tokens_cost = 2 * (20 * 1.25 + 100 * 3.0 + 30 * 5.0) / 1e6  # gpt-4o-mini-transcribe
    minutes_cost = 90 / 60 * 0.017  # gpt-realtime-whisper
    assert session["transcription_model"] == "gpt-4o-mini-transcribe, gpt-realtime-whisper"
    assert session["transcription_seconds"] == 90.0
    assert session["transcription_tokens"] == 300
    assert session["transcription_cost_usd"] == pytest.approx(tokens_cost + minutes_cost)
    response_cost = 4.0  # 1M text input tokens of gpt-realtime-2
    assert session["cost_usd"] == pytest.approx(response_cost + tokens_cost + minutes_cost)
    summary = report.to_json()["summary"]
    assert summary["cost_usd"] == pytest.approx(session["cost_usd"])
    assert summary["transcription_cost_usd"] == pytest.approx(tokens_cost + minutes_cost)
    assert report.warnings == []


def test_a_session_without_transcription(tmp_path):
    s = one_response("gpt-realtime-2", usage(input_text=10))
    report = analyse(s.write(tmp_path))
    (session,) = report.to_json()["sessions"]
    assert session["transcription_model"] is None and session["transcription_cost_usd"] is None
    assert report.to_json()["summary"]["transcription_cost_usd"] == 0.0


def test_transcription_turned_off_names_no_model(tmp_path):
    s = SessionFile("off")
    s.server(
        0.0,
        "session.created",
        session={"model": "gpt-realtime", **transcription_config("whisper-1")},
    )
    s.client(1.0, "session.update", session=transcription_config(None))
    s.server(1.1, "session.updated", session=transcription_config(None))
    completed(s, 2.0, "i1", {"type": "duration", "seconds": 3.0})  # late, but billed to no model
    (session,) = analyse(s.write(tmp_path)).to_json()["sessions"]
    assert session["transcription_model"] is None
    assert session["transcription_seconds"] == 3.0 and session["transcription_cost_usd"] is None


def test_an_unpriced_transcription_model_is_one_warning(tmp_path):
    paths = []
    for name in ("a", "b"):
        s = SessionFile(name)
        s.server(
            0.0,
            "session.created",
            session={"model": "gpt-realtime", **transcription_config("my-asr")},
        )
        completed(s, 1.0, "i1", {"type": "duration", "seconds": 3.0})
        paths.append(s.write(tmp_path))
    report = analyse(*paths)
    assert report.warnings == [UnknownModel("my-asr", 2, transcription=True)]
    assert "transcription_cost_usd is null" in str(report.warnings[0])
    assert report.to_json()["summary"]["transcription_cost_usd"] is None


def test_beta_transcription_config_and_a_per_minute_price_file(tmp_path):
    s = SessionFile("beta")
    s.server(
        0.0,
        "session.created",
        session={
            "model": "gpt-4o-realtime-preview",
            "input_audio_transcription": {"model": "my-asr"},
        },
    )
    completed(s, 1.0, "i1", {"type": "duration", "seconds": 120.0})
    path = s.write(tmp_path)
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({"models": {"my-asr": {"per_minute": 0.5, "kind": "transcription"}}})
    )
    result = CliRunner().invoke(
        cli, ["stats", str(path), "--format", "json", "--pricing", str(prices)]
    )
    assert result.exit_code == 0, result.output
    (session,) = json.loads(result.stdout)["sessions"]
    assert session["transcription_cost_usd"] == 1.0 and session["cost_usd"] == 1.0


# -- the translation endpoint ------------------------------------------------------------------------


def translation_session() -> SessionFile:
    s = SessionFile("translation", path="/v1/realtime/translations?model=gpt-realtime-translate")
    s.server(
        0.0,
        "session.created",
        session={"id": "sess_1", "type": "translation", "model": "gpt-realtime-translate"},
    )
    for i in range(30):  # 30 appends of 200 ms: 6 s of audio, sent over 12 s (pauses are free)
        s.client(0.5 + i * 0.4, "session.input_audio_buffer.append", audio=audio_b64(200))
    for i in range(10):
        s.server(
            1.0 + i * 0.5, "session.output_audio.delta", delta=audio_b64(200, 32), sample_rate=16000
        )
        s.server(1.0 + i * 0.5, "session.output_transcript.delta", delta="hola ")
    s.client(12.5, "session.close")
    s.server(12.6, "session.closed")
    return s


def test_translation_cost_comes_from_the_appended_audio(tmp_path):
    report = analyse(translation_session().write(tmp_path))
    (session,) = report.to_json()["sessions"]
    assert (session["protocol"], session["responses"]) == ("translation", 0)
    assert session["translation_seconds"] == 6.0
    assert session["translation_cost_usd"] == pytest.approx(6 / 60 * 0.034)
    assert session["cost_usd"] == pytest.approx(6 / 60 * 0.034)
    facts = report.facts[0]
    assert facts.input_audio_ms == 6000.0
    assert facts.output_audio_ms == 2000.0  # 10 deltas of 200 ms at 16 kHz
    assert report.warnings == []
