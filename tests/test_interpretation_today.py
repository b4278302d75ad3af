"""CONTRACT §4.1 and §4.3 on hand-built sessions with known times: kinds, metadata matching,
parallel and out-of-band responses, preambles (item phases), idle timeouts, sideband playback.

Each test builds a session whose every `t` is chosen, interprets it once (the one
interpretation every reader uses) and checks the facts against the times it was built with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from stats_fixtures import PCM16_BYTES_PER_MS, SessionFile, audio_b64, ga_session_created, ga_usage

from recorder.interpretation import ResponseFacts, SessionFacts, interpret
from recorder.reading import iter_records


def facts_of(session: SessionFile, tmp_path: Path) -> SessionFacts:
    path = session.write(tmp_path)
    return interpret(iter_records(path), path)


def by_id(facts: SessionFacts) -> dict[str, ResponseFacts]:
    return {r.response_id: r for r in facts.responses}


def item(item_id: str, phase: str | None, kind: str = "audio") -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": f"output_{kind}", "transcript": "…"}],
    }
    if phase is not None:
        found["phase"] = phase
    return found


def delta(session: SessionFile, t: float, response_id: str, item_id: str, ms: float) -> None:
    session.server(
        t,
        "response.output_audio.delta",
        response_id=response_id,
        item_id=item_id,
        output_index=0,
        content_index=0,
        delta=audio_b64(ms),
    )


def vad_turn(session: SessionFile, speech_stopped_t: float = 3.0) -> None:
    """Appends from 1.0 s (append i covers up to 40 (i + 1) ms of audio) and a speech_stopped at
    1000 ms of audio: the append that covers it was sent at 1.96 s."""
    session.server(0.0, "session.created", **ga_session_created(model="gpt-realtime-2"))
    session.appends(start=1.0, count=60, ms=40)
    session.server(speech_stopped_t, "input_audio_buffer.speech_stopped", audio_end_ms=1000)


# -- preamble and final answer (item phases) ---------------------------------------------------------


def preamble_session(where: str) -> SessionFile:
    """A reasoning response that speaks a 400 ms preamble, then its final answer.

    Trigger 3.000; preamble audio from 3.200; final answer audio from 3.900. The phases are
    carried by `where`: the output items, the conversation items, or only `response.done`.
    """
    s = SessionFile(f"preamble-{where}")
    vad_turn(s)
    s.created(3.05, "resp_1", conversation_id="conv_1")
    pre, fin = item("item_pre", "commentary"), item("item_fin", "final_answer")
    if where == "output_item":
        s.server(3.1, "response.output_item.added", response_id="resp_1", item=pre)
        s.server(3.6, "response.output_item.added", response_id="resp_1", item=fin)
    elif where == "conversation_item":
        s.server(3.1, "conversation.item.added", item=pre)
        s.server(3.6, "conversation.item.added", item=fin)
    delta(s, 3.2, "resp_1", "item_pre", 200)
    delta(s, 3.25, "resp_1", "item_pre", 200)
    delta(s, 3.9, "resp_1", "item_fin", 300)
    delta(s, 3.95, "resp_1", "item_fin", 300)
    s.server(
        4.5,
        "response.done",
        response={
            "id": "resp_1",
            "status": "completed",
            "conversation_id": "conv_1",
            "output": [pre, fin]
            if where == "done"
            else [item("item_pre", None), item("item_fin", None)],
            "usage": ga_usage(input_text=10, output_text=20, output_audio=50),
        },
    )
    return s


@pytest.mark.parametrize("where", ["output_item", "conversation_item", "done"])
def test_a_preamble_is_measured_apart_from_the_final_answer(where, tmp_path):
    (r,) = facts_of(preamble_session(where), tmp_path).responses
    assert r.kind == "turn"
    assert r.trigger == "input_audio_buffer.speech_stopped" and r.trigger_t == 3.0
    assert r.ttfb_ms == 200.0  # the preamble's first audio, 3.2 - 3.0
    assert r.ttfb_final_ms == 900.0  # the final answer's first audio, 3.9 - 3.0
    assert r.voice_to_voice_ms == 1240.0  # 3.2 - 1.96 (the append covering 1000 ms)
    assert r.voice_to_voice_final_ms == 1940.0  # 3.9 - 1.96
    assert r.preamble_audio_ms == 400.0
    assert r.audio_out_ms == 1000.0
    assert r.phases == ("commentary", "final_answer")


def test_without_phases_the_final_figures_are_the_plain_ones(tmp_path):
    s = SessionFile("no-phase")
    vad_turn(s)
    s.created(3.05, "resp_1", conversation_id="conv_1")
    delta(s, 3.2, "resp_1", "item_a", 200)
    delta(s, 3.9, "resp_1", "item_b", 300)  # a second audio item, but nothing says "preamble"
    s.done(4.5, "resp_1")
    (r,) = facts_of(s, tmp_path).responses
    assert (r.ttfb_ms, r.ttfb_final_ms) == (200.0, 200.0)
    assert r.voice_to_voice_final_ms == r.voice_to_voice_ms == 1240.0
    assert r.preamble_audio_ms == 0.0


def test_a_response_whose_final_answer_has_no_audio_has_no_final_latency(tmp_path):
    s = SessionFile("final-text")
    vad_turn(s)
    s.created(3.05, "resp_1", conversation_id="conv_1")
    s.server(3.1, "response.output_item.added", response_id="resp_1", item=item("i1", "commentary"))
    delta(s, 3.2, "resp_1", "i1", 200)
    s.server(
        3.5,
        "response.output_item.added",
        response_id="resp_1",
        item=item("i2", "final_answer", "text"),
    )
    s.text_delta(3.6, "resp_1")
    s.done(4.0, "resp_1")
    (r,) = facts_of(s, tmp_path).responses
    assert r.ttfb_ms == 200.0 and r.ttfb_final_ms is None and r.voice_to_voice_final_ms is None


# -- out-of-band and parallel responses ----------------------------------------------------------------


def parallel_session() -> SessionFile:
    """The user stops talking (3.0); the client starts a classification out of band (3.01) with
    metadata; both responses run at once, their deltas interleaved."""
    s = SessionFile("parallel")
    vad_turn(s)
    oob_request = {
        "conversation": "none",
        "metadata": {"topic": "classify"},
        "output_modalities": ["text"],
    }
    s.client(3.01, "response.create", response=oob_request)
    # the out-of-band response is created first, the turn's right after
    s.created(3.03, "resp_oob", conversation_id=None, metadata={"topic": "classify"})
    s.created(3.04, "resp_turn", conversation_id="conv_1", metadata=None)
    s.text_delta(3.10, "resp_oob", "billing")
    delta(s, 3.30, "resp_turn", "item_t", 100)
    s.text_delta(3.31, "resp_oob", " question")
    delta(s, 3.35, "resp_turn", "item_t", 100)
    s.done(3.40, "resp_oob", usage=ga_usage(input_text=50, output_text=3))
    s.done(3.80, "resp_turn", usage=ga_usage(input_text=60, output_audio=20))
    return s


def test_an_out_of_band_response_neither_steals_the_turn_nor_its_deltas(tmp_path):
    facts = facts_of(parallel_session(), tmp_path)
    responses = by_id(facts)
    turn, oob = responses["resp_turn"], responses["resp_oob"]
    assert (turn.kind, turn.trigger, turn.trigger_t) == (
        "turn",
        "input_audio_buffer.speech_stopped",
        3.0,
    )
    assert (oob.kind, oob.trigger, oob.trigger_t) == ("out_of_band", "response.create", 3.01)
    assert turn.ttfb_ms == 300.0 and turn.voice_to_voice_ms == 1340.0
    assert turn.audio_out_ms == 200.0 and turn.transcript == ()
    assert oob.ttfb_ms is None and oob.ttft_ms == 90.0 and oob.voice_to_voice_ms is None
    assert oob.transcript == ("billing question",)
    assert oob.metadata == {"topic": "classify"}


def test_metadata_links_each_request_to_its_response_whatever_the_order(tmp_path):
    s = SessionFile("metadata")
    s.server(0.0, "session.created", **ga_session_created(model="gpt-realtime-2"))
    for t, tag in ((1.0, "a"), (1.1, "b"), (1.2, "c")):
        s.client(t, "response.create", response={"conversation": "none", "metadata": {"tag": tag}})
    # created in the order c, a, b
    s.created(1.5, "resp_c", conversation_id=None, metadata={"tag": "c"})
    s.created(1.6, "resp_a", conversation_id=None, metadata={"tag": "a"})
    s.created(1.7, "resp_b", conversation_id=None, metadata={"tag": "b"})
    for response_id in ("resp_a", "resp_b", "resp_c"):
        s.done(2.0, response_id)
    responses = by_id(facts_of(s, tmp_path))
    assert {k: r.trigger_t for k, r in responses.items()} == {
        "resp_a": 1.0,
        "resp_b": 1.1,
        "resp_c": 1.2,
    }
    assert {r.kind for r in responses.values()} == {"out_of_band"}


def test_an_out_of_band_request_before_the_speech_stop_is_not_the_turns_trigger(tmp_path):
    s = SessionFile("oob-first")
    vad_turn(s)
    s.client(2.9, "response.create", response={"conversation": "none"})
    s.created(3.04, "resp_turn", conversation_id="conv_1")
    s.created(3.06, "resp_oob", conversation_id=None)
    s.done(3.5, "resp_turn")
    s.done(3.6, "resp_oob")
    responses = by_id(facts_of(s, tmp_path))
    assert responses["resp_turn"].trigger_t == 3.0
    assert responses["resp_oob"].trigger_t == 2.9
    assert responses["resp_oob"].kind == "out_of_band"


def test_out_of_band_responses_never_claim_a_speech_stop(tmp_path):
    s = SessionFile("oob-no-request")
    vad_turn(s)
    s.created(3.04, "resp_oob", conversation_id=None)  # no request recorded (a sideband started it)
    s.created(3.05, "resp_turn", conversation_id="conv_1")
    responses = by_id(facts_of(s, tmp_path))
    assert responses["resp_oob"].trigger is None and responses["resp_oob"].kind == "out_of_band"
    assert responses["resp_turn"].trigger_t == 3.0


# -- idle timeout ----------------------------------------------------------------------------------------


def test_an_idle_timeout_response_is_not_a_turn_and_has_no_voice_to_voice(tmp_path):
    s = SessionFile("idle")
    vad_turn(s)
    s.created(3.05, "resp_1", conversation_id="conv_1")
    delta(s, 3.3, "resp_1", "i1", 500)
    s.done(3.5, "resp_1")
    s.server(
        9.3,
        "input_audio_buffer.timeout_triggered",
        audio_start_ms=2400,
        audio_end_ms=2400,
        item_id="item_idle",
    )
    s.server(9.31, "input_audio_buffer.committed", item_id="item_idle")
    s.created(9.35, "resp_2", conversation_id="conv_1")
    delta(s, 9.75, "resp_2", "i2", 500)
    s.done(10.2, "resp_2")
    responses = by_id(facts_of(s, tmp_path))
    idle = responses["resp_2"]
    assert idle.kind == "idle_timeout" and idle.trigger == "input_audio_buffer.timeout_triggered"
    assert idle.ttfb_ms == 450.0 and idle.voice_to_voice_ms is None  # 9.75 - 9.3
    assert idle.voice_to_voice_final_ms is None
    assert responses["resp_1"].kind == "turn"


# -- connections: sideband and playback ------------------------------------------------------------------


def test_a_sideband_takes_its_first_audio_from_playback(tmp_path):
    s = SessionFile("sideband", path="/v1/realtime?call_id=rtc_abc")
    s.server(0.0, "session.created", **ga_session_created(model="gpt-realtime-2"))
    s.server(2.0, "input_audio_buffer.speech_stopped", audio_end_ms=1500)
    s.created(2.05, "resp_1", conversation_id="conv_1")
    s.transcript_delta(2.3, "resp_1", "Hello")
    s.server(2.45, "output_audio_buffer.started", response_id="resp_1")
    s.done(2.6, "resp_1")
    s.server(4.0, "output_audio_buffer.stopped", response_id="resp_1")
    facts = facts_of(s, tmp_path)
    assert (facts.protocol, facts.transport) == ("realtime", "sideband")
    (r,) = facts.responses
    assert r.ttfb_ms == 450.0 and r.ttfb_source == "playback"
    assert r.ttfb_final_ms == 450.0
    assert r.voice_to_voice_ms is None  # no appended audio to place audio_end_ms on
    assert facts.input_audio_ms == 0.0 and facts.output_audio_ms == 0.0


def test_a_delta_wins_over_playback(tmp_path):
    s = SessionFile("both")
    s.server(0.0, "session.created", **ga_session_created())
    s.client(1.0, "response.create")
    s.created(1.05, "resp_1")
    s.server(1.2, "output_audio_buffer.started", response_id="resp_1")
    delta(s, 1.3, "resp_1", "i1", 100)
    s.done(1.5, "resp_1")
    (r,) = facts_of(s, tmp_path).responses
    assert (r.ttfb_ms, r.ttfb_source) == (300.0, "delta")


@pytest.mark.parametrize(
    ("path", "protocol", "transport"),
    [
        ("/v1/realtime?model=gpt-realtime-2", "realtime", "websocket"),
        ("/v1/realtime?call_id=rtc_1", "realtime", "sideband"),
        ("/v1/realtime/translations?model=gpt-realtime-translate", "translation", "websocket"),
        ("/v1/live/sessions", "live", "websocket"),
        ("/v1/live/sessions/live_1/attach", "live", "sideband"),
    ],
)
def test_protocol_and_transport_from_the_path(path, protocol, transport, tmp_path):
    s = SessionFile("c", path=path)
    s.server(0.0, "session.created", session={"id": "sess_1"})
    facts = facts_of(s, tmp_path)
    assert (facts.protocol, facts.transport) == (protocol, transport)


def test_input_audio_is_measured_at_the_pcm16_rate(tmp_path):
    s = SessionFile("pcm")
    s.server(0.0, "session.created", **ga_session_created())
    s.appends(start=0.1, count=10, ms=40)
    facts = facts_of(s, tmp_path)
    assert facts.input_audio_ms == 400.0
    assert facts.input_audio_bytes == 400 * PCM16_BYTES_PER_MS
