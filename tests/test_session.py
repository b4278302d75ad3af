import base64
import datetime as dt
import json

import pytest

from recorder.errors import SessionFormatError
from recorder.session import (
    decode_line,
    encode_record,
    frame_line,
    frame_payload,
    new_session_id,
    redact_headers,
    redact_subprotocols,
    redact_url,
    session_record,
    strip_redacted_query,
)


def test_frame_line_splices_json_object_verbatim():
    raw = '{"type":"response.create","b": 1.50,"a":[1, 2]}'
    line = frame_line(3, 1.2345678, "client", raw)
    assert line.endswith("}\n") and line.count("\n") == 1
    assert raw in line
    record = decode_line(line)
    assert record == {
        "kind": "frame",
        "seq": 3,
        "t": 1.234568,
        "from": "client",
        "event": json.loads(raw),
    }


def test_frame_line_text_binary_and_multiline_json():
    assert decode_line(frame_line(0, 0.0, "server", "not json"))["text"] == "not json"
    assert decode_line(frame_line(0, 0.0, "server", "[1,2]"))["text"] == "[1,2]"
    record = decode_line(frame_line(1, 0.5, "server", b"\x00\xffab"))
    assert base64.b64decode(record["binary"]) == b"\x00\xffab"
    assert frame_payload(record) == b"\x00\xffab"
    pretty = json.dumps({"type": "x", "s": "a\nb"}, indent=2)
    line = frame_line(2, 1.0, "client", pretty)
    assert line.count("\n") == 1
    assert decode_line(line)["event"] == {"type": "x", "s": "a\nb"}


def test_unicode_text_survives():
    line = frame_line(0, 0.0, "client", '{"t":"héllo ✓ \\ud83d\\ude00"}')
    assert decode_line(line.encode("utf-8"))["event"]["t"] == "héllo ✓ 😀"


@pytest.mark.parametrize(
    "line, reason",
    [
        ("{not json", "not valid JSON"),
        ("[1]", "not a JSON object"),
        ('{"t":1}', "no 'kind'"),
        ('{"kind":"frame","seq":0,"t":"x","from":"client","event":{}}', "numeric 't'"),
        ('{"kind":"frame","seq":0,"t":1,"from":"nobody","event":{}}', "'from'"),
        ('{"kind":"frame","seq":0,"t":1,"from":"client"}', "exactly one"),
        ('{"kind":"frame","seq":0,"t":1,"from":"client","event":"s"}', "wrong type"),
    ],
)
def test_decode_line_rejects(line, reason):
    with pytest.raises(SessionFormatError, match=reason):
        decode_line(line)


def test_unknown_kind_passes_through():
    assert decode_line('{"kind":"future","x":1}')["kind"] == "future"


def test_redaction():
    headers = redact_headers(
        [("Authorization", "Bearer sk-abc"), ("api-key", "k"), ("OpenAI-Beta", "realtime=v1")]
    )
    assert headers == [
        ["Authorization", "<redacted>"],
        ["api-key", "<redacted>"],
        ["OpenAI-Beta", "realtime=v1"],
    ]
    assert redact_subprotocols(["realtime", "openai-insecure-api-key.sk-xyz"]) == [
        "realtime",
        "openai-insecure-api-key.<redacted>",
    ]
    url = redact_url("/openai/realtime?api-version=2024-10-01-preview&deployment=d&api-key=SECRET")
    assert "SECRET" not in url
    assert "api-version=2024-10-01-preview" in url and "api-key=<redacted>" in url
    assert (
        strip_redacted_query(url) == "/openai/realtime?api-version=2024-10-01-preview&deployment=d"
    )
    assert (
        redact_url("wss://user:pw@host/v1/realtime?model=m")
        == "wss://<redacted>@host/v1/realtime?model=m"
    )


def test_session_record_is_redacted_and_ids_sort():
    started = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc)
    record = session_record(
        new_session_id(started),
        started,
        "wss://api.openai.com",
        "/v1/realtime?model=gpt-realtime&key=SECRET",
        [("Authorization", "Bearer sk-secret")],
        ["openai-insecure-api-key.sk-secret"],
    )
    text = encode_record(record)
    assert "secret" not in text.lower().replace('"<redacted>"', "")
    assert record["started_at"] == "2026-01-02T03:04:05.000006Z"
    later = new_session_id(started + dt.timedelta(microseconds=1))
    assert new_session_id(started) < later
