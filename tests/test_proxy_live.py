"""The recording proxy on GPT-Live paths: `/v1/live/sessions` and its sideband
`/v1/live/sessions/{id}/attach`, OpenAI's and Azure's, recorded exactly and with their
credentials redacted as for Realtime."""

from __future__ import annotations

import base64
import json

import pytest
from scripted_live import LiveScript
from scripted_server import Script
from test_proxy import assert_recorded_exactly, secret_free
from websockets.asyncio.client import connect

from recorder.interpretation import interpret
from recorder.reading import iter_records

START = {
    "type": "session.start",
    "session": {"model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm", "rate": 24000}}},
}
APPEND = {"type": "session.input_audio.append", "audio": base64.b64encode(bytes(960)).decode()}


@pytest.mark.parametrize(
    ("prefix", "headers", "secret"),
    [
        ("/v1/live/sessions", {"Authorization": "Bearer sk-live-SECRET-1"}, "sk-live-SECRET-1"),
        ("/openai/v1/live/sessions", {"api-key": "az-live-SECRET-2"}, "az-live-SECRET-2"),
    ],
    ids=["openai", "azure"],
)
def test_live_session_and_its_sideband_are_recorded(run, proxied, prefix, headers, secret):
    async def scenario():
        async with proxied(Script(live=LiveScript())) as stack:
            async with connect(stack.proxy.url + prefix, additional_headers=headers) as ws:
                await ws.send(json.dumps(START))
                started = json.loads(await ws.recv())
                attach = f"{prefix}/{started['session']['id']}/attach"
                async with connect(stack.proxy.url + attach, additional_headers=headers) as side:
                    for _ in range(5):
                        await ws.send(json.dumps(APPEND))
                    await ws.send(json.dumps({"type": "session.close"}))
                    async for _ in ws:
                        pass
                    async for _ in side:
                        pass
            await stack.proxy.wait_for_sessions(2)
            return stack

    stack = run(scenario())
    primary_log, side_log = stack.server.connections
    assert primary_log.path == prefix and side_log.path.endswith("/attach")
    for log in (primary_log, side_log):
        assert all(item in log.headers for item in headers.items())  # forwarded upstream
    by_path = {}
    for path in stack.files():
        records = stack.records(path)
        by_path[records[0]["request"]["path"]] = (path, records)
    primary, primary_records = by_path[prefix]
    side, side_records = by_path[side_log.path]
    assert_recorded_exactly(primary, primary_records, primary_log.received, primary_log.sent)
    assert_recorded_exactly(side, side_records, side_log.received, side_log.sent)
    for records in (primary_records, side_records):
        header = dict((name.lower(), value) for name, value in records[0]["request"]["headers"])
        name = next(iter(headers)).lower()
        assert header[name] == "<redacted>"
    secret_free(stack.out, secret)
    facts = interpret(iter_records(primary), primary)
    assert (facts.protocol, facts.transport, facts.model) == ("live", "websocket", "gpt-live-1")
    side_facts = interpret(iter_records(side), side)
    assert (side_facts.protocol, side_facts.transport) == ("live", "sideband")
    assert side_facts.input_audio_ms == pytest.approx(100.0)  # the caller's audio, reflected
    assert facts.live is not None and facts.live.close_reason == "close_requested"
