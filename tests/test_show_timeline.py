"""recorder.timeline, the pure core of `rt show` and `rt tail`: records in, entries out."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.errors import InputError
from recorder.interpretation import base64_size
from recorder.timeline import (
    Entry,
    EntryFilter,
    FrameStream,
    SessionHeader,
    Timeline,
    TimelineItem,
    build_timeline,
    describe_event,
    type_matches,
)
from recorder.vocabulary import ULAW


class Frames:
    """Frame records with increasing seq (times as given)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def add(self, t: float, sender: str, event_type: str, **fields: Any) -> Frames:
        event = {"type": event_type, **fields}
        seq = len(self.records)
        self.records.append({"kind": "frame", "seq": seq, "t": t, "from": sender, "event": event})
        return self

    def server(self, t: float, event_type: str, **fields: Any) -> Frames:
        return self.add(t, "server", event_type, **fields)

    def client(self, t: float, event_type: str, **fields: Any) -> Frames:
        return self.add(t, "client", event_type, **fields)


def numbered(records: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Records with line numbers, as recorder.reading gives them."""
    return list(enumerate(records, start=1))


def audio(ms: int, bytes_per_ms: int = 48) -> str:
    return base64.b64encode(bytes(ms * bytes_per_ms)).decode()


def entries(items: list[TimelineItem]) -> list[Entry]:
    return [item for item in items if isinstance(item, Entry)]


def lines(items: list[TimelineItem]) -> list[tuple[float, str, int | None, str]]:
    return [(e.t, e.type, e.response_number, e.summary) for e in entries(items)]


def response_turn(f: Frames, t: float, response_id: str, item_id: str) -> Frames:
    ids = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
    f.server(t, "response.created", response={"id": response_id})
    f.server(t + 0.1, "response.output_audio.delta", **ids, delta=audio(100))
    f.server(t + 0.11, "response.output_audio_transcript.delta", **ids, delta="Hi")
    f.server(t + 0.2, "response.output_audio.delta", **ids, delta=audio(100))
    f.server(t + 0.21, "response.output_audio_transcript.delta", **ids, delta=" you")
    f.server(t + 0.3, "response.output_audio.done", **ids)
    f.server(t + 0.31, "response.output_audio_transcript.done", **ids, transcript="Hi you")
    return f.server(t + 0.4, "response.done", response={"id": response_id, "status": "completed"})


def test_deltas_collapse_into_one_line_each_at_their_first_frame():
    f = response_turn(Frames(), 1.0, "resp_a", "item_a")
    assert lines(build_timeline(numbered(f.records))) == [
        (1.0, "response.created", 1, "resp_a"),
        (1.1, "response.output_audio.delta", 1, "0.200 s audio · 2 deltas over 0.100 s · 9,600 B"),
        (1.11, "response.output_audio_transcript.delta", 1, '"Hi you" · 2 deltas'),
        (1.4, "response.done", 1, "resp_a · completed"),
    ]
    audio_line = entries(build_timeline(numbered(f.records)))[1]
    assert audio_line.collapsed and audio_line.frames == 2 and audio_line.end_t == 1.2
    assert audio_line.types == {"response.output_audio.delta", "response.output_audio.done"}


def test_a_collapsed_line_holds_back_later_lines_until_it_is_complete():
    f = Frames()
    ids = {"response_id": "resp_a", "item_id": "item_a", "output_index": 0, "content_index": 0}
    f.server(1.0, "response.created", response={"id": "resp_a"})
    f.server(1.1, "response.output_audio.delta", **ids, delta=audio(100))
    f.server(1.2, "input_audio_buffer.speech_started", audio_start_ms=900, item_id="item_u")
    f.server(1.3, "response.output_audio.delta", **ids, delta=audio(100))
    f.server(1.4, "response.done", response={"id": "resp_a", "status": "cancelled"})
    timeline = Timeline()
    released = [[e.type for e in entries(timeline.feed(i, r))] for i, r in enumerate(f.records, 1)]
    assert released == [
        ["response.created"],
        [],  # the audio line is not complete yet
        [],  # speech_started waits behind it
        [],
        [  # response.done completes the audio: everything comes out, in order of first frame
            "response.output_audio.delta",
            "input_audio_buffer.speech_started",
            "response.done",
        ],
    ]
    assert timeline.finish() == []


def test_a_collapsed_line_with_no_end_is_complete_after_five_idle_seconds_or_at_the_end():
    f = Frames()
    f.server(1.0, "response.output_text.delta", response_id="r", item_id="i", delta="Hel")
    f.server(1.1, "response.output_text.delta", response_id="r", item_id="i", delta="lo")
    f.server(5.0, "input_audio_buffer.speech_started")
    f.server(6.2, "rate_limits.updated", rate_limits=[])
    timeline = Timeline()
    out = [[e.type for e in entries(timeline.feed(i, r))] for i, r in enumerate(f.records, 1)]
    assert out == [
        [],
        [],
        [],
        ["response.output_text.delta", "input_audio_buffer.speech_started", "rate_limits.updated"],
    ]
    timeline = Timeline()
    for line, record in enumerate(f.records[:2], 1):
        assert entries(timeline.feed(line, record)) == []
    (entry,) = entries(timeline.finish())
    assert entry.summary == '"Hello" · 2 deltas'


def test_runs_of_appends_end_at_the_next_line():
    f = Frames()
    for i in range(5):
        f.client(0.04 * i, "input_audio_buffer.append", audio=audio(40))
    f.client(0.2, "input_audio_buffer.commit")
    f.client(0.3, "input_audio_buffer.append", audio=audio(20))
    items = build_timeline(numbered(f.records))
    assert lines(items) == [
        (
            0.0,
            "input_audio_buffer.append",
            None,
            "0.200 s audio · 5 appends over 0.160 s · 9,600 B",
        ),
        (0.2, "input_audio_buffer.commit", None, ""),
        (0.3, "input_audio_buffer.append", None, "0.020 s audio · 1 append over 0.000 s · 960 B"),
    ]


def test_audio_durations_follow_the_session_formats():
    f = Frames()
    session = {"input_audio_format": "g711_ulaw", "output_audio_format": "g711_alaw"}
    f.server(0.0, "session.updated", session=session)
    f.client(0.1, "input_audio_buffer.append", audio=audio(100, 8))
    ga = {"audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}}}}
    f.server(0.2, "response.created", response={"id": "r1", **ga})
    f.server(0.3, "response.output_audio.delta", response_id="r1", delta=audio(100))
    f.server(0.4, "response.done", response={"id": "r1", "status": "completed"})
    f.server(0.5, "response.created", response={"id": "r2"})
    f.server(0.6, "response.audio.delta", response_id="r2", delta=audio(100, 8))
    summaries = [e.summary for e in entries(build_timeline(numbered(f.records)))]
    assert summaries[0].startswith("sess") is False
    assert "in ulaw 8 kHz · out alaw 8 kHz" in summaries[0]
    assert summaries[1] == "0.100 s audio · 1 append over 0.000 s · 800 B"
    assert summaries[3] == "0.100 s audio · 1 delta over 0.000 s · 4,800 B"  # pcm16 for r1
    assert summaries[6] == "0.100 s audio · 1 delta over 0.000 s · 800 B"  # session's G.711


def test_function_calls_show_their_name_and_assembled_arguments():
    f = Frames()
    item = {"id": "item_f", "type": "function_call", "name": "get_weather", "call_id": "call_1"}
    f.server(1.0, "response.created", response={"id": "resp_f"})
    f.server(1.01, "response.output_item.added", response_id="resp_f", output_index=0, item=item)
    for part in ('{"loc', 'ation":', '"Paris"}'):
        f.server(
            1.1,
            "response.function_call_arguments.delta",
            response_id="resp_f",
            item_id="item_f",
            call_id="call_1",
            delta=part,
        )
    # a beta `.done` has no name: it comes from the item
    f.server(
        1.2,
        "response.function_call_arguments.done",
        response_id="resp_f",
        item_id="item_f",
        call_id="call_1",
        arguments='{"location":"Paris"}',
    )
    f.server(1.3, "response.done", response={"id": "resp_f", "status": "completed"})
    assert lines(build_timeline(numbered(f.records)))[2] == (
        1.1,
        "response.function_call_arguments.delta",
        1,
        'get_weather({"location":"Paris"}) · call_1 · 3 deltas',
    )  # fmt: skip


def test_user_transcription_deltas_are_assembled():
    f = Frames()
    for i, word in enumerate(("Can", " you", " help?")):
        f.server(
            2 + i / 10,
            "conversation.item.input_audio_transcription.delta",
            item_id="item_u",
            content_index=0,
            delta=word,
        )
    f.server(2.5, "response.done", response={"id": "other", "status": "completed"})
    f.server(
        2.6,
        "conversation.item.input_audio_transcription.completed",
        item_id="item_u",
        content_index=0,
        transcript="Can you help?",
    )
    f.server(
        3.0,
        "conversation.item.input_audio_transcription.completed",
        item_id="item_v",
        content_index=0,
        transcript="Yes.",
    )
    assert lines(build_timeline(numbered(f.records))) == [
        (2.0, "conversation.item.input_audio_transcription.delta", None, '"Can you help?" · 3 deltas'),
        (2.5, "response.done", 1, "other · completed"),
        (3.0, "conversation.item.input_audio_transcription.completed", None, '"Yes."'),
    ]  # fmt: skip


def test_frames_are_attributed_to_their_response():
    f = Frames()
    item = {"id": "item_a", "type": "message", "role": "assistant"}
    f.server(1.0, "response.created", response={"id": "resp_a"})
    f.server(1.0, "response.output_item.added", response_id="resp_a", item=item)
    f.server(1.0, "conversation.item.added", item=item)
    f.server(1.1, "response.done", response={"id": "resp_a", "status": "completed"})
    f.server(1.2, "rate_limits.updated", rate_limits=[])
    f.client(1.5, "conversation.item.truncate", item_id="item_a", content_index=0, audio_end_ms=300)
    f.server(
        1.6, "conversation.item.added", item={"id": "item_u", "type": "message", "role": "user"}
    )
    f.server(2.0, "response.created", response={"id": "resp_b"})
    numbers = [
        (e.type, e.response_id, e.response_number)
        for e in entries(build_timeline(numbered(f.records)))
    ]
    assert numbers == [
        ("response.created", "resp_a", 1),
        ("response.output_item.added", "resp_a", 1),
        ("conversation.item.added", "resp_a", 1),
        ("response.done", "resp_a", 1),
        ("rate_limits.updated", None, None),  # names no response: belongs to none
        ("conversation.item.truncate", "resp_a", 1),
        ("conversation.item.added", None, None),
        ("response.created", "resp_b", 2),
    ]


def test_the_header_waits_until_the_model_is_known():
    session: dict[str, Any] = {
        "kind": "session",
        "id": "s1",
        "started_at": "2026-11-26T10:00:00.000000Z",
        "upstream": "wss://x.openai.azure.com/openai/realtime?api-version=1&deployment=dep",
        "request": {"path": "/openai/realtime?api-version=1&deployment=dep"},
    }
    created = {
        "kind": "frame",
        "seq": 0,
        "t": 0.1,
        "from": "server",
        "event": {"type": "session.created", "session": {"model": "gpt-realtime-2025-08-28"}},
    }
    timeline = Timeline()
    assert timeline.feed(1, session) == []
    # the URL names a deployment; the server may name the model itself: the header waits (and
    # tells when the handshake finished: the open line is no entry of its own)
    assert timeline.feed(2, {"kind": "open", "t": 0.05, "subprotocol": "realtime"}) == []
    header, session_created = timeline.feed(3, created)
    assert header == SessionHeader(
        "s1",
        "2026-11-26T10:00:00.000000Z",
        session["upstream"],
        session["request"]["path"],
        "gpt-realtime-2025-08-28",  # what rt stats says too (the server's word)
        "realtime",
        0.05,
    )
    assert isinstance(session_created, Entry) and session_created.type == "session.created"
    # without a word from the server, the URL's model, once the file ends
    timeline = Timeline()
    timeline.feed(1, session)
    frame = {"kind": "frame", "seq": 0, "t": 0.1, "from": "client", "event": {"type": "x"}}
    assert timeline.feed(2, frame) == []
    header, entry = timeline.finish()
    assert isinstance(header, SessionHeader) and header.subprotocol is None
    assert header.model == "dep" and header.opened_t is None and isinstance(entry, Entry)
    only_header = Timeline()
    only_header.feed(1, session)
    assert [type(i) for i in only_header.finish()] == [SessionHeader]


def test_descriptions_and_severities():
    done = {
        "response": {
            "id": "r",
            "status": "failed",
            "status_details": {"error": {"type": "server_error", "code": "x", "message": "boom"}},
        }
    }
    assert describe_event("response.done", done) == (
        "r · failed · server_error · x · boom",
        "error",
    )
    cancelled = {
        "response": {
            "id": "r",
            "status": "cancelled",
            "status_details": {"reason": "turn_detected"},
        }
    }
    assert describe_event("response.done", cancelled) == (
        "r · cancelled (turn_detected)",
        "warning",
    )
    low = {
        "rate_limits": [{"name": "tokens", "limit": 1000, "remaining": 50, "reset_seconds": 1.5}]
    }
    assert describe_event("rate_limits.updated", low) == ("tokens 50/1000 (reset 1.5 s)", "warning")
    assert describe_event("input_audio_buffer.append", {"audio": audio(20, 8)}, ULAW) == (
        "0.020 s audio · 160 B",
        "info",
    )
    failed = {"item_id": "i", "error": {"type": "transcription_error", "message": "nope"}}
    assert describe_event("conversation.item.input_audio_transcription.failed", failed) == (
        "i · transcription_error · nope",
        "error",
    )
    assert describe_event("mcp_list_tools.failed", {"item_id": "i"}) == ("item_id=i", "error")
    assert describe_event("x.y", {"a": {"b": "two words", "c": None}, "event_id": "e"}) == (
        'a.b="two words" · a.c=null',
        "info",
    )
    newline = {
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "a\nb"}],
        }
    }
    assert describe_event("conversation.item.create", newline) == (
        'user message: input_text "a\\nb"',
        "info",
    )
    assert describe_event("response.function_call_arguments.delta", {"delta": '{\n"a"'}) == (
        '{\\n"a"',
        "info",
    )
    summary, _ = describe_event("session.update", {"session": {"instructions": "Be brief. " * 20}})
    assert summary == "instructions=" + ('"' + "Be brief. " * 8)[:79] + "…"
    assert describe_event("x", {"id": "x" * 100})[0] == "id=" + "x" * 79 + "…"


@given(st.binary(max_size=300))
def test_base64_size_is_exact(data):
    encoded = base64.b64encode(data).decode()
    assert base64_size(encoded) == len(data)
    assert base64_size(encoded.rstrip("=")) == len(data)


def test_type_patterns():
    assert type_matches("response.done", "response.done")
    assert type_matches("response.done", "response.done.extra")  # a dotted prefix
    assert type_matches("response", "response.done")
    assert not type_matches("response", "responses.done")
    assert type_matches("response.*.delta", "response.output_audio.delta")
    assert not type_matches("response.output_audio", "response.output_audio_transcript.delta")
    built = EntryFilter.build(["response.audio.delta, error", ""], None)
    assert built.types == ("response.output_audio.delta", "error")
    with pytest.raises(InputError, match="--grep: not a regular expression"):
        EntryFilter.build((), "[")


def test_frame_stream_adds_type_response_time_and_session():
    stream = FrameStream()
    assert (
        stream.feed(1, {"kind": "session", "id": "s", "started_at": "2026-11-26T23:59:59.500000Z"})
        is None
    )
    record = {
        "kind": "frame",
        "seq": 0,
        "t": 0.75,
        "from": "server",
        "event": {"type": "response.text.delta", "response_id": "r"},
    }
    assert stream.feed(2, record) == {
        "seq": 0,
        "t": 0.75,
        "at": "2026-11-27T00:00:00.250000Z",
        "from": "server",
        "type": "response.output_text.delta",
        "response_id": "r",
        "session": "s",
        "event": record["event"],
    }  # fmt: skip
    assert (
        stream.feed(3, {"kind": "close", "t": 1.0, "by": "client", "code": 1000, "reason": ""})
        is None
    )


# -- properties of any stream of events ----------------------------------------------------------

EVENT_KINDS = [
    ("server", "response.created"),
    ("server", "response.output_audio.delta"),
    ("server", "response.output_audio.done"),
    ("server", "response.output_audio_transcript.delta"),
    ("server", "response.output_audio_transcript.done"),
    ("server", "response.function_call_arguments.delta"),
    ("server", "response.function_call_arguments.done"),
    ("server", "response.done"),
    ("server", "input_audio_buffer.speech_started"),
    ("server", "conversation.item.input_audio_transcription.delta"),
    ("server", "conversation.item.input_audio_transcription.completed"),
    ("client", "input_audio_buffer.append"),
    ("client", "input_audio_buffer.commit"),
]
COLLAPSIBLE = {
    "response.output_audio.delta",
    "response.output_audio_transcript.delta",
    "response.function_call_arguments.delta",
    "conversation.item.input_audio_transcription.delta",
    "input_audio_buffer.append",
}


@st.composite
def event_streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from(EVENT_KINDS),
                st.sampled_from(["r1", "r2"]),
                st.floats(0, 7),
            ),
            max_size=60,
        )
    )
    f, t = Frames(), 0.0
    for (sender, event_type), response_id, gap in steps:
        t = round(t + gap, 6)
        fields: dict[str, Any] = {"response_id": response_id, "item_id": f"item_{response_id}"}
        if event_type in ("response.created", "response.done"):
            fields = {"response": {"id": response_id, "status": "completed"}}
        fields["delta"] = "x"
        fields["audio"] = audio(1)
        f.add(t, sender, event_type, **fields)
    return f.records


@settings(max_examples=200, deadline=None)
@given(event_streams())
def test_entries_come_out_in_order_and_account_for_every_delta(records):
    timeline = Timeline()
    out: list[Entry] = []
    for line, record in enumerate(records, 1):
        out.extend(entries(timeline.feed(line, record)))
    out.extend(entries(timeline.finish()))
    seqs = [e.seq if e.seq is not None else -1 for e in out]
    assert min(seqs, default=0) >= 0
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert [e.t for e in out] == sorted(e.t for e in out)
    collapsible = sum(1 for r in records if r["event"]["type"] in COLLAPSIBLE)
    assert sum(e.frames for e in out if e.collapsed) == collapsible
    assert all(e.type not in COLLAPSIBLE for e in out if not e.collapsed)
    every = entries(build_timeline(numbered(records), collapse=False))
    assert [e.seq for e in every] == [r["seq"] for r in records]
