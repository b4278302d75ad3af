"""The recording proxy, end to end: real clients -> RecordingProxy -> real upstreams on loopback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trustme
from conftest import ProxyStack, scaled
from scripted_server import Script, sine_pcm16
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Request, Response

from recorder.errors import InputError
from recorder.proxy import (
    UPSTREAM_LOST_CODE,
    UPSTREAM_LOST_REASON,
    RecordingProxy,
    is_loopback,
    parse_listen_address,
    presented_token,
    without_token,
)

GA_PATH = "/v1/realtime?model=gpt-realtime"
FAST = Script(created_delay=0, first_delta_delay=0, response_audio_ms=300)


# -- helpers -----------------------------------------------------------------------------------


def frames(records: list[dict[str, Any]], direction: str | None = None) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == "frame" and direction in (None, r["from"])]


def wire(record: dict[str, Any]) -> Any:
    """A frame record's payload, comparable with what went over the wire (parsed if JSON)."""
    if "event" in record:
        return record["event"]
    if "text" in record:
        return record["text"]
    return base64.b64decode(record["binary"])


def comparable(message: str | bytes) -> Any:
    if isinstance(message, str):
        try:
            value = json.loads(message)
        except ValueError:
            return message
        return value if isinstance(value, dict) else message
    return message


def assert_recorded_exactly(
    path: Path,
    records: list[dict[str, Any]],
    from_client: list[str | bytes],
    from_server: list[str | bytes],
) -> None:
    """The file holds exactly these frames, in order, JSON spliced in verbatim."""
    assert [wire(r) for r in frames(records, "client")] == [comparable(m) for m in from_client]
    assert [wire(r) for r in frames(records, "server")] == [comparable(m) for m in from_server]
    every = frames(records)
    assert [r["seq"] for r in every] == list(range(len(every)))
    times = [r["t"] for r in records if "t" in r]
    assert times == sorted(times)
    raw_lines = path.read_text("utf-8").splitlines()
    frame_lines = [line for line in raw_lines if line.startswith('{"kind":"frame"')]
    assert len(frame_lines) == len(every)
    for line, record in zip(frame_lines, every, strict=True):
        if "event" in record:
            original = from_client if record["from"] == "client" else from_server
            index = [id(r) for r in frames(records, record["from"])].index(id(record))
            assert line.endswith('"event":' + str(original[index]) + "}")


async def read_until(ws: Any, event_type: str, into: list[str | bytes]) -> None:
    while True:
        message = await ws.recv()
        into.append(message)
        if isinstance(message, str) and f'"type": "{event_type}"' in message:
            return


def secret_free(directory: Path, *secrets: str) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"{secret!r} leaked into {path}"


@dataclass
class BareUpstream:
    """A plain echo server that reports how each connection ended, for close-code tests.

    Text commands: `close:<code>:<reason>`, `close-empty` (a close frame without a code),
    `drop` (TCP connection ended without a close frame); anything else is echoed.
    """

    url: str = ""
    ends: list[tuple[int | None, str]] = field(default_factory=list)
    headers: list[list[tuple[str, str]]] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.headers.append(list(ws.request.headers.raw_items()))
        try:
            async for message in ws:
                if message == "close-empty":
                    await ws.close(None)  # type: ignore[arg-type]
                elif message == "drop":
                    ws.transport.abort()
                elif isinstance(message, str) and message.startswith("close:"):
                    _, code, reason = message.split(":", 2)
                    await ws.close(int(code), reason)
                else:
                    await ws.send(message)
        except ConnectionClosed:
            pass
        finally:
            await ws.wait_closed()
            self.ends.append((ws.close_code, ws.close_reason or ""))
            self.ended.set()


@contextlib.asynccontextmanager
async def bare_upstream(**options: Any) -> AsyncIterator[BareUpstream]:
    upstream = BareUpstream()
    async with serve(upstream.handle, "127.0.0.1", 0, max_size=None, **options) as server:
        port = server.sockets[0].getsockname()[1]
        scheme = "wss" if options.get("ssl") else "ws"
        upstream.url = f"{scheme}://127.0.0.1:{port}"
        yield upstream


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- three real clients ------------------------------------------------------------------------


def test_raw_client_every_frame_recorded_in_order_and_verbatim(run, proxied):
    audio = base64.b64encode(sine_pcm16(200)[:4800]).decode()
    outgoing: list[str | bytes] = [
        json.dumps(
            {"type": "session.update", "session": {"type": "realtime", "instructions": "Hi"}}
        ),
        json.dumps({"type": "input_audio_buffer.append", "audio": audio}),
        '{"type":"fake.echo", "note":"h\\u00e9llo ✓ 🎧", "nested": {"a": [1, 2.5, null]}}',
        "not json at all",
        "[1, 2, 3]",
        bytes(range(256)) * 4,
        json.dumps({"type": "response.create"}),
    ]

    async def scenario() -> tuple[ProxyStack, list[str | bytes]]:
        received: list[str | bytes] = []
        async with proxied(FAST) as stack:
            url = stack.proxy.url + GA_PATH
            headers = {"Authorization": "Bearer sk-raw-SECRET-1"}
            async with connect(url, additional_headers=headers, max_size=None) as ws:
                received.append(await ws.recv())
                for message in outgoing:
                    await ws.send(message)
                await read_until(ws, "rate_limits.updated", received)
            await stack.proxy.wait_for_sessions(1)
            return stack, received

    stack, received = run(scenario())
    log = stack.server.connections[0]
    assert log.received == outgoing
    assert log.sent == received
    records = stack.records()
    assert_recorded_exactly(stack.files()[0], records, outgoing, received)
    assert [r["kind"] for r in records][:2] == ["session", "open"]
    assert records[-1] == {**records[-1], "kind": "close", "by": "client", "code": 1000}
    assert records[0]["request"]["path"] == GA_PATH
    assert ["Authorization", "<redacted>"] in records[0]["request"]["headers"]
    assert ("Authorization", "Bearer sk-raw-SECRET-1") in log.headers
    secret_free(stack.out, "sk-raw-SECRET-1")
    summary = stack.proxy.finished[0]
    assert summary.frames_from_client == len(outgoing)
    assert summary.frames_from_server == len(received)
    assert summary.frames_lost == 0 and summary.write_error is None


def test_openai_sdk_through_the_proxy(run, proxied):
    from openai import AsyncOpenAI

    async def scenario() -> tuple[ProxyStack, list[str]]:
        env = {"OPENAI_API_KEY": "sk-env-NOT-USED"}
        async with proxied(FAST, environ=env) as stack:
            client = AsyncOpenAI(
                api_key="sk-sdk-SECRET-2", websocket_base_url=stack.proxy.url + "/v1"
            )
            types: list[str] = []
            async with client.realtime.connect(model="gpt-realtime") as conn:
                await conn.session.update(
                    session={
                        "type": "realtime",
                        "instructions": "Be brief.",
                        "output_modalities": ["audio"],
                    }
                )
                await conn.response.create()
                async for event in conn:
                    types.append(event.type)
                    if event.type == "response.done":
                        break
            await stack.proxy.wait_for_sessions(1)
            return stack, types

    stack, types = run(scenario())
    assert types[0] == "session.created" and "response.output_audio.delta" in types
    log = stack.server.connections[0]
    assert log.path == GA_PATH
    authorization = [v for n, v in log.headers if n.lower() == "authorization"]
    assert authorization == ["Bearer sk-sdk-SECRET-2"]  # the client's own key, not the env's
    user_agent = [v for n, v in log.headers if n.lower() == "user-agent"]
    assert len(user_agent) == 1 and "websockets" not in user_agent[0]  # the SDK's, forwarded
    records = stack.records()
    assert [wire(r) for r in frames(records, "client")] == [comparable(m) for m in log.received]
    sent_until_done = log.sent[: len(frames(records, "server"))]
    assert [wire(r) for r in frames(records, "server")] == [comparable(m) for m in sent_until_done]
    secret_free(stack.out, "sk-sdk-SECRET-2", "sk-env-NOT-USED")


def test_browser_client_authenticating_with_subprotocols(run, proxied):
    offered = ["realtime", "openai-insecure-api-key.sk-browser-SECRET-3", "openai-beta.realtime-v1"]

    async def scenario() -> tuple[ProxyStack, str | None, str]:
        env = {"OPENAI_API_KEY": "sk-env-NOT-USED"}
        async with proxied(FAST, environ=env) as stack:
            async with connect(stack.proxy.url + GA_PATH, subprotocols=offered) as ws:  # type: ignore[arg-type]
                first = await ws.recv()
                chosen = ws.subprotocol
            await stack.proxy.wait_for_sessions(1)
            return stack, chosen, str(first)

    stack, chosen, first = run(scenario())
    assert chosen == "realtime"
    log = stack.server.connections[0]
    assert log.subprotocol == "realtime"
    assert [v for n, v in log.headers if n == "Sec-WebSocket-Protocol"] == [", ".join(offered)]
    assert not [n for n, _ in log.headers if n.lower() == "authorization"]  # no key injected
    assert json.loads(first)["session"]["modalities"] == ["text", "audio"]  # beta shape upstream
    records = stack.records()
    assert records[0]["request"]["subprotocols"] == [
        "realtime",
        "openai-insecure-api-key.<redacted>",
        "openai-beta.realtime-v1",
    ]
    assert records[1]["subprotocol"] == "realtime"
    secret_free(stack.out, "sk-browser-SECRET-3", "sk-env-NOT-USED")


# -- credentials -------------------------------------------------------------------------------


def test_environment_key_added_only_for_clients_without_credentials(run, proxied):
    script = Script(require_credentials=True)

    async def scenario() -> tuple[ProxyStack, int]:
        async with proxied(script, environ={"OPENAI_API_KEY": "sk-env-SECRET-4"}) as stack:
            async with connect(stack.proxy.url + GA_PATH) as ws:
                await ws.recv()
            await stack.proxy.wait_for_sessions(1)
        async with proxied(script) as bare:  # no key anywhere: the upstream's 401 comes back
            with pytest.raises(InvalidStatus) as refused:
                await connect(bare.proxy.url + GA_PATH)
            await bare.proxy.wait_for_sessions(1)
        return stack, refused.value.response.status_code

    stack, status = run(scenario())
    assert ("Authorization", "Bearer sk-env-SECRET-4") in stack.server.connections[0].headers
    request_headers = stack.records()[0]["request"]["headers"]
    assert not [n for n, _ in request_headers if n.lower() == "authorization"]
    secret_free(stack.out, "sk-env-SECRET-4")
    assert status == 401


# -- frames ------------------------------------------------------------------------------------


def test_five_mebibyte_frames_both_ways(run, proxied):
    big_text = json.dumps({"type": "fake.echo", "pad": "x" * (5 * 2**20)})
    big_binary = bytes(range(256)) * (5 * 2**12)

    async def scenario() -> tuple[ProxyStack, list[str | bytes]]:
        async with proxied(FAST) as stack:
            async with connect(stack.proxy.url + GA_PATH, max_size=None) as ws:
                await ws.recv()
                await ws.send(big_text)
                await ws.send(big_binary)
                echoed = [await ws.recv(), await ws.recv()]
            await stack.proxy.wait_for_sessions(1)
            return stack, echoed

    stack, echoed = run(scenario())
    assert echoed == [big_text, big_binary]
    records = stack.records()
    assert [wire(r) for r in frames(records, "client")] == [json.loads(big_text), big_binary]
    assert [wire(r) for r in frames(records, "server")][1:] == [json.loads(big_text), big_binary]


# -- closing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "client_sees", "recorded"),
    [
        ("close:4001:server bye", (4001, "server bye"), (4001, "server bye")),
        ("close-empty", (1005, ""), (1005, "")),
        # the client learns that the upstream, not the proxy, went away (tests/test_faults.py)
        ("drop", (UPSTREAM_LOST_CODE, UPSTREAM_LOST_REASON), (1006, "")),
    ],
)
def test_upstream_close_relayed_to_client(run, tmp_path, command, client_sees, recorded):
    async def scenario() -> tuple[tuple[int, str], list[Any]]:
        async with (
            bare_upstream() as upstream,
            RecordingProxy(upstream.url, tmp_path, port=0, environ={}) as proxy,
        ):
            async with connect(proxy.url + "/x") as ws:
                await ws.send(command)
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
            seen = closed.value.rcvd
            code = 1006 if seen is None else seen.code
            (summary,) = await proxy.wait_for_sessions(1)
            ending = [summary.closed_by, summary.close_code, summary.close_reason]
            return (code, "" if seen is None else seen.reason), ending

    seen, summary = run(scenario())
    assert seen == client_sees
    assert summary == ["server", *recorded]
    (path,) = tmp_path.glob("*.jsonl")
    last = json.loads(path.read_text().splitlines()[-1])
    assert (last["kind"], last["by"], last["code"], last["reason"]) == (
        "close",
        "server",
        *recorded,
    )


@pytest.mark.parametrize(
    ("code", "reason"), [(4000, "client bye"), (1000, ""), (None, ""), (3000, "x" * 120)]
)
def test_client_close_relayed_to_upstream(run, tmp_path, code, reason):
    async def scenario() -> tuple[list[tuple[int | None, str]], list[dict[str, Any]]]:
        async with (
            bare_upstream() as upstream,
            RecordingProxy(upstream.url, tmp_path, port=0, environ={}) as proxy,
        ):
            async with connect(proxy.url + "/x") as ws:
                await ws.send("ping-pong")
                assert await ws.recv() == "ping-pong"
                await ws.close(code, reason)  # type: ignore[arg-type]
            await asyncio.wait_for(upstream.ended.wait(), scaled(5))
            await proxy.wait_for_sessions(1)
            return upstream.ends, [
                json.loads(x) for x in next(tmp_path.glob("*.jsonl")).read_text().splitlines()
            ]

    ends, records = run(scenario())
    expected = (1005 if code is None else code, reason)
    assert ends == [expected]
    assert records[-1] == {
        **records[-1],
        "kind": "close",
        "by": "client",
        "code": expected[0],
        "reason": reason,
    }


def test_client_vanishing_mid_stream_closes_upstream_promptly(run, proxied):
    async def scenario() -> tuple[ProxyStack, float]:
        async with proxied(FAST) as stack:
            ws = await connect(stack.proxy.url + GA_PATH)
            await ws.recv()
            await ws.send(json.dumps({"type": "fake.stream", "count": 5000, "interval": 0.002}))
            for _ in range(5):
                await ws.recv()
            loop = asyncio.get_running_loop()
            vanished = loop.time()
            ws.transport.abort()
            await asyncio.wait_for(stack.server.connections[0].closed.wait(), scaled(3))
            upstream_gone = loop.time() - vanished
            await stack.proxy.wait_for_sessions(1)
            return stack, upstream_gone

    stack, upstream_gone = run(scenario())
    assert upstream_gone < scaled(1.0)
    records = stack.records()
    assert not stack.warnings
    assert records[-1]["kind"] == "close" and records[-1]["by"] == "client"
    assert records[-1]["code"] == 1006
    assert len(frames(records, "server")) >= 6  # the stream went on until the client vanished


def test_client_closing_during_a_burst_finishes_promptly(run, proxied):
    # The upstream keeps sending after the client left; the proxy must keep reading (and
    # recording) so the upstream's close reply is not stuck behind unread frames.
    async def scenario() -> tuple[ProxyStack, float]:
        async with proxied(FAST, close_timeout=scaled(3)) as stack:
            ws = await connect(stack.proxy.url + GA_PATH)
            await ws.recv()
            await ws.send(json.dumps({"type": "fake.stream", "count": 20000, "bytes": 4800}))
            for _ in range(20):
                await ws.recv()

            async def drain() -> None:
                with contextlib.suppress(ConnectionClosed):
                    while True:
                        await ws.recv()

            draining = asyncio.create_task(drain())
            loop = asyncio.get_running_loop()
            started = loop.time()
            await ws.close(4000, "enough")
            await stack.proxy.wait_for_sessions(1)
            await draining
            return stack, loop.time() - started

    stack, elapsed = run(scenario())
    assert elapsed < scaled(1.5)
    records = stack.records()
    assert records[-1] == {**records[-1], "kind": "close", "by": "client", "code": 4000}
    assert len(frames(records, "server")) > 20


def test_proxy_shutdown_closes_both_sides_with_1001_and_flushes(run, tmp_path):
    async def scenario() -> tuple[Any, list[tuple[int | None, str]], list[dict[str, Any]]]:
        async with bare_upstream() as upstream:
            proxy = RecordingProxy(upstream.url, tmp_path, port=0, environ={})
            async with proxy:
                ws = await connect(proxy.url + "/x")
                await ws.send("hello")
                assert await ws.recv() == "hello"
            # leaving the block is Ctrl-C: the files are complete when it returns
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            await asyncio.wait_for(upstream.ended.wait(), scaled(5))
            records = [
                json.loads(x) for x in next(tmp_path.glob("*.jsonl")).read_text().splitlines()
            ]
            return closed.value.rcvd, upstream.ends, records

    rcvd, upstream_ends, records = run(scenario())
    assert (rcvd.code, rcvd.reason) == (1001, "proxy shutting down")
    assert upstream_ends == [(1001, "proxy shutting down")]
    assert records[-1] == {**records[-1], "kind": "close", "by": "proxy", "code": 1001}


# -- the upstream refuses or is missing --------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 404])
def test_upstream_refusal_reaches_the_client_with_status_and_body(run, proxied, status):
    async def scenario() -> tuple[ProxyStack, Response]:
        async with proxied(Script(refuse_status=status)) as stack:
            with pytest.raises(InvalidStatus) as refused:
                await connect(stack.proxy.url + GA_PATH)
            await stack.proxy.wait_for_sessions(1)
            return stack, refused.value.response

    stack, response = run(scenario())
    assert response.status_code == status
    assert response.body == b"refused by the scripted server\n"
    records = stack.records()
    assert [r["kind"] for r in records] == ["session", "error", "close"]
    assert f"HTTP {status}" in records[1]["message"]
    assert records[1]["detail"] == "refused by the scripted server\n"
    assert records[2]["by"] == "server" and records[2]["code"] is None
    assert stack.proxy.finished[0].error == records[1]["message"]


def test_unreachable_upstream_gives_502_and_an_error_line(run, tmp_path):
    async def scenario() -> tuple[Response, Any]:
        upstream = f"ws://127.0.0.1:{free_port()}"
        async with RecordingProxy(upstream, tmp_path, port=0, environ={}) as proxy:
            with pytest.raises(InvalidStatus) as refused:
                await connect(proxy.url + GA_PATH)
            (summary,) = await proxy.wait_for_sessions(1)
        return refused.value.response, summary

    response, summary = run(scenario())
    assert response.status_code == 502
    assert b"cannot reach the upstream" in response.body
    (path,) = tmp_path.glob("*.jsonl")
    kinds = [json.loads(x)["kind"] for x in path.read_text().splitlines()]
    assert kinds == ["session", "error", "close"]
    assert summary.error.startswith("cannot reach the upstream")


def test_upstream_that_never_answers_gives_504(run, tmp_path):
    async def scenario() -> tuple[Response, Any]:
        silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        upstream = f"ws://127.0.0.1:{silent.sockets[0].getsockname()[1]}"
        async with (
            silent,
            RecordingProxy(upstream, tmp_path, port=0, environ={}, open_timeout=0.3) as proxy,
        ):
            with pytest.raises(InvalidStatus) as refused:
                await connect(proxy.url + GA_PATH)
            (summary,) = await proxy.wait_for_sessions(1)
        return refused.value.response, summary

    response, summary = run(scenario())
    assert response.status_code == 504
    assert summary.error == "the upstream did not answer within 0.3 s"


def test_upstream_redirect_is_relayed_not_followed(run, tmp_path):
    def redirect(conn: ServerConnection, request: Request) -> Response:
        response = conn.respond(302, "moved\n")
        response.headers["Location"] = "ws://elsewhere.invalid/v1/realtime"
        return response

    class NoRedirect(connect):
        def process_redirect(self, exc: Exception) -> Exception | str:
            return exc

    async def scenario() -> Response:
        async with (
            bare_upstream(process_request=redirect) as upstream,
            RecordingProxy(upstream.url, tmp_path, port=0, environ={}) as proxy,
        ):
            with pytest.raises(InvalidStatus) as refused:
                await NoRedirect(proxy.url + GA_PATH)
            await proxy.wait_for_sessions(1)
        return refused.value.response

    response = run(scenario())
    assert response.status_code == 302
    assert response.headers["Location"] == "ws://elsewhere.invalid/v1/realtime"


def test_upstream_response_headers_reach_the_client_and_the_file(run, tmp_path):
    def add_request_id(conn: ServerConnection, request: Request, response: Response) -> None:
        response.headers["X-Request-Id"] = "req_123"

    async def scenario() -> tuple[str | None, list[dict[str, Any]]]:
        async with (
            bare_upstream(process_response=add_request_id) as upstream,
            RecordingProxy(upstream.url, tmp_path, port=0, environ={}) as proxy,
        ):
            async with connect(proxy.url + "/x") as ws:
                assert ws.response is not None
                request_id = ws.response.headers.get("X-Request-Id")
            await proxy.wait_for_sessions(1)
        path = next(tmp_path.glob("*.jsonl"))
        return request_id, [json.loads(x) for x in path.read_text().splitlines()]

    request_id, records = run(scenario())
    assert request_id == "req_123"
    assert ["X-Request-Id", "req_123"] in records[1]["response_headers"]


def test_plain_http_request_is_refused_without_a_file(run, tmp_path):
    async def scenario() -> bytes:
        async with RecordingProxy("ws://127.0.0.1:9", tmp_path, port=0, environ={}) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"GET /v1/realtime HTTP/1.1\r\nHost: x\r\n\r\n")
            status = await reader.readline()
            writer.close()
        return status

    assert b" 426 " in run(scenario())
    assert not list(tmp_path.glob("*.jsonl"))


# -- many sessions, URLs, tokens, TLS ----------------------------------------------------------


def test_twenty_concurrent_sessions_each_in_its_own_file(run, proxied):
    async def one(stack: ProxyStack, index: int) -> None:
        async with connect(stack.proxy.url + GA_PATH + f"&client={index}") as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "fake.echo", "client": index}))
            await ws.send(json.dumps({"type": "response.create"}))
            await read_until(ws, "rate_limits.updated", [])

    async def scenario() -> ProxyStack:
        async with proxied(FAST) as stack:
            await asyncio.gather(*(one(stack, i) for i in range(20)))
            await stack.proxy.wait_for_sessions(20)
            return stack

    stack = run(scenario())
    files = stack.files()
    assert len(files) == 20
    seen = set()
    for path in files:
        records = stack.records(path)
        index = frames(records, "client")[0]["event"]["client"]
        seen.add(index)
        assert records[0]["request"]["path"].endswith(f"&client={index}")
        log = next(c for c in stack.server.connections if c.path.endswith(f"&client={index}"))
        assert_recorded_exactly(path, records, log.received, log.sent)
    assert seen == set(range(20))


@pytest.mark.parametrize(
    "path",
    [
        "/openai/realtime?api-version=2024-10-01-preview&deployment=gpt-4o-realtime-preview&api-key=azSECRET5",
        "/openai/v1/realtime?model=my-deployment",
    ],
)
def test_azure_paths_and_queries_pass_through(run, proxied, path):
    async def scenario() -> ProxyStack:
        async with proxied(FAST) as stack:
            async with connect(
                stack.proxy.url + path, additional_headers={"api-key": "azSECRET6"}
            ) as ws:
                await ws.recv()
            await stack.proxy.wait_for_sessions(1)
            return stack

    stack = run(scenario())
    log = stack.server.connections[0]
    assert log.path == path
    assert ("api-key", "azSECRET6") in log.headers
    session = stack.records()[0]
    assert "azSECRET5" not in session["request"]["path"]
    assert session["upstream"] == stack.server.url + path.replace("azSECRET5", "<redacted>")
    secret_free(stack.out, "azSECRET5", "azSECRET6")


def test_auth_token_is_required_stripped_and_never_recorded(run, proxied):
    token = "rt-TOKEN-SECRET-7"

    async def scenario() -> tuple[ProxyStack, list[int]]:
        statuses = []
        async with proxied(FAST, auth_token=token) as stack:
            for attempt in ({}, {"X-Rt-Token": "wrong"}):
                with pytest.raises(InvalidStatus) as refused:
                    await connect(stack.proxy.url + GA_PATH, additional_headers=attempt)
                statuses.append(refused.value.response.status_code)
            assert not stack.files()  # refused clients leave no file behind
            async with connect(
                stack.proxy.url + GA_PATH, additional_headers={"x-rt-token": token}
            ) as ws:
                await ws.recv()
            async with connect(
                stack.proxy.url + "/v1/realtime?rt_token=" + token + "&model=m"
            ) as ws:
                await ws.recv()
            await stack.proxy.wait_for_sessions(2)
            return stack, statuses

    stack, statuses = run(scenario())
    assert statuses == [401, 401]
    first, second = stack.server.connections
    assert not [n for n, _ in first.headers if n.lower() == "x-rt-token"]
    assert second.path == "/v1/realtime?model=m"
    secret_free(stack.out, token)
    paths = [stack.records(p)[0]["request"]["path"] for p in stack.files()]
    assert paths == [GA_PATH, "/v1/realtime?rt_token=<redacted>&model=m"]


@pytest.fixture(scope="module")
def local_ca() -> trustme.CA:
    return trustme.CA()


def test_tls_listening_and_private_upstream_ca(run, tmp_path, local_ca):
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    local_ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    local_ca.configure_trust(client_tls)

    async def scenario() -> tuple[str, int]:
        async with bare_upstream(ssl=server_tls) as upstream:
            async with RecordingProxy(
                upstream.url,
                tmp_path / "trusted",
                port=0,
                environ={},
                ssl_context=server_tls,
                upstream_ssl=client_tls,
            ) as proxy:
                assert proxy.url.startswith("wss://")
                async with connect(proxy.url + "/x", ssl=client_tls) as ws:
                    await ws.send("over tls")
                    echoed = await ws.recv()
                await proxy.wait_for_sessions(1)
            # Without the private CA, the upstream's certificate is not trusted: 502.
            async with RecordingProxy(
                upstream.url, tmp_path / "default", port=0, environ={}
            ) as proxy:
                with pytest.raises(InvalidStatus) as refused:
                    await connect(proxy.url + "/x")
                await proxy.wait_for_sessions(1)
        return str(echoed), refused.value.response.status_code

    echoed, status = run(scenario())
    assert echoed == "over tls"
    assert status == 502


def test_listening_on_a_busy_port_is_a_one_line_error(run, tmp_path):
    async def scenario() -> None:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            with pytest.raises(InputError, match=f"cannot listen on 127.0.0.1:{port}"):
                async with RecordingProxy("ws://127.0.0.1:9", tmp_path, port=port):
                    pass

    run(scenario())


# -- pure helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:8765", ("127.0.0.1", 8765)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("[::1]:9000", ("::1", 9000)),
        ("localhost:1", ("localhost", 1)),
        ("8765", ("127.0.0.1", 8765)),
    ],
)
def test_parse_listen_address(value, expected):
    assert parse_listen_address(value) == expected


@pytest.mark.parametrize("value", ["", "host:", "host:port", "1.2.3.4:70000"])
def test_parse_listen_address_rejects(value):
    with pytest.raises(InputError, match="HOST:PORT"):
        parse_listen_address(value)


def test_loopback_detection():
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.2", "example.com"]))


def test_token_helpers_keep_the_rest_of_the_query_byte_for_byte():
    path = "/v1/realtime?model=gpt%2Drealtime&rt_token=a%20b&x=1+2"
    assert presented_token([], path) == "a b"
    assert presented_token([("X-RT-TOKEN", " t ")], path) == "t"
    assert without_token(path) == "/v1/realtime?model=gpt%2Drealtime&x=1+2"
    assert (
        without_token(path, "<redacted>")
        == "/v1/realtime?model=gpt%2Drealtime&rt_token=<redacted>&x=1+2"
    )
    assert without_token("/v1/realtime?rt_token=x") == "/v1/realtime"
    assert without_token("/v1/realtime?model=m") == "/v1/realtime?model=m"


# -- bytes on the wire ---------------------------------------------------------------------------


@dataclass
class RawUpstream:
    """A WebSocket server written by hand: answers the upgrade, then records every byte it
    receives and sends what a test gives it, so that tests can compare bytes on the wire."""

    url: str = ""
    received: bytearray = field(default_factory=bytearray)
    writer: asyncio.StreamWriter | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.writer = writer
        self.connected.set()
        while data := await reader.read(65536):
            self.received += data
        writer.close()


def ws_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None) -> bytes:
    """One frame, encoded by hand (RFC 6455 §5.2)."""
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    masked = 0x80 if mask is not None else 0
    if size < 126:
        head = bytes((first, masked | size))
    elif size < 65536:
        head = bytes((first, masked | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, masked | 127)) + size.to_bytes(8, "big")
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_frames_are_forwarded_byte_for_byte_masks_and_fragments_kept(run, tmp_path):
    """What the proxy forwards is what it received, bytes for bytes, both ways: the client's own
    masking keys, a message in three fragments with a ping between them, a pong, a binary frame,
    the close; and the recording holds the messages, reassembled and unmasked."""
    client_sends = [
        ws_frame(0x1, b'{"type":"fake.echo","part":', fin=False, mask=b"\x01\x02\x03\x04"),
        ws_frame(0x9, b"are you there", mask=b"\xaa\xbb\xcc\xdd"),
        ws_frame(0x0, b'"one of three",', fin=False, mask=b"\x00\x00\x00\x00"),
        ws_frame(0x0, b'"n":3}', mask=b"\xfe\xdc\xba\x98"),
        ws_frame(0x2, bytes(range(256)) * 300, mask=b"\x11\x22\x33\x44"),
    ]
    server_sends = [
        ws_frame(0xA, b"are you there"),
        ws_frame(0x1, b"not ", fin=False),
        ws_frame(0x0, b"json"),
        ws_frame(0x2, b"\x00\x01\x02"),
    ]
    client_close = ws_frame(0x8, (4000).to_bytes(2, "big") + b"done", mask=b"\x0f\x0e\x0d\x0c")
    server_close = ws_frame(0x8, (4000).to_bytes(2, "big") + b"done")

    async def scenario() -> tuple[bytes, bytes, list[dict[str, Any]]]:
        upstream = RawUpstream()
        server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0)
        upstream.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with server, RecordingProxy(upstream.url, tmp_path, port=0, environ={}) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(
                b"GET /v1/realtime?model=m HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101")
            assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head  # the upstream's accept key, unchanged
            await upstream.connected.wait()
            assert upstream.writer is not None
            for frame in client_sends:  # one write each: the proxy gets them in separate reads
                writer.write(frame)
                await writer.drain()
                await asyncio.sleep(0.01)
            expected = b"".join(server_sends) + server_close
            for frame in server_sends:
                upstream.writer.write(frame)
                await asyncio.sleep(0.01)
            writer.write(client_close)
            await asyncio.sleep(0.05)
            upstream.writer.write(server_close)
            upstream.writer.close()
            got = await asyncio.wait_for(reader.read(), scaled(5))
            writer.close()
            await proxy.wait_for_sessions(1)
            assert got == expected
        (path,) = tmp_path.glob("*.jsonl")
        records = [json.loads(line) for line in path.read_text().splitlines()]
        return bytes(upstream.received), got, records

    received, got, records = run(scenario())
    assert received == b"".join(client_sends) + client_close
    assert [wire(r) for r in frames(records, "client")] == [
        {"type": "fake.echo", "part": "one of three", "n": 3},
        bytes(range(256)) * 300,
    ]
    assert [wire(r) for r in frames(records, "server")] == ["not json", b"\x00\x01\x02"]
    assert records[-1] == {**records[-1], "kind": "close", "by": "client", "code": 4000}
    assert records[-1]["reason"] == "done"


# -- resources and processes -----------------------------------------------------------------


def test_the_summaries_kept_are_bounded(run, proxied, monkeypatch):
    import recorder.proxy

    monkeypatch.setattr(recorder.proxy, "FINISHED_KEPT", 5)

    async def scenario() -> ProxyStack:
        async with proxied(FAST) as stack:
            for index in range(12):
                async with connect(stack.proxy.url + GA_PATH + f"&n={index}") as ws:
                    await ws.recv()
            await stack.proxy.wait_for_sessions(12)
            return stack

    stack = run(scenario())
    assert stack.proxy.sessions_finished == 12 and len(stack.proxy.finished) == 5
    assert [s.path for s in stack.proxy.finished] == stack.files()[-5:]


def test_worker_processes_share_the_port_and_record_every_call(run, tmp_path):
    from recorder.workers import ProxyConfig, ProxyWorkers

    async def scenario() -> tuple[BareUpstream, ProxyWorkers]:
        async with bare_upstream() as upstream:
            config = ProxyConfig(upstream=upstream.url, out_dir=tmp_path, port=0, environ={})
            async with ProxyWorkers(config, 2) as workers:

                async def one(index: int) -> None:
                    async with connect(workers.url + f"/x?n={index}") as ws:
                        await ws.send(f"hello {index}")
                        assert await ws.recv() == f"hello {index}"

                await asyncio.gather(*(one(i) for i in range(24)))
                await workers.wait_for_sessions(24, timeout=scaled(10))
                assert workers.active == 0
            return upstream, workers

    upstream, workers = run(scenario(), scaled(30))
    assert len(upstream.ends) == 24 and len(list(tmp_path.glob("*.jsonl"))) == 24
    assert sorted(s.frames_from_client for s in workers.finished) == [1] * 24
    assert all(count > 0 for count in workers.sessions_per_worker)  # the kernel spread them


def test_the_proxy_uses_no_websockets_internals():
    """The relay is asyncio and sockets; a websockets release cannot break recording (the
    library is only a test dependency of the proxy: replay and serve use its public API)."""
    import ast

    root = Path(__file__).resolve().parent.parent / "recorder"
    modules = ("proxy.py", "connection.py", "relay.py", "wire.py", "handshake.py", "store.py")
    for module in (*modules, "recording.py", "workers.py", "redaction.py"):
        tree = ast.parse((root / module).read_text())
        imported = [
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        ]
        assert not [m for m in imported if m and m.startswith("websockets")], module


def test_a_path_on_the_upstream_is_a_base_without_doubling(run, tmp_path):
    async def scenario() -> list[list[tuple[str, str]]]:
        async with bare_upstream() as upstream:
            for base in ("/v1", "/gateway"):
                async with RecordingProxy(
                    upstream.url + base, tmp_path / base.strip("/"), port=0, environ={}
                ) as proxy:
                    async with connect(proxy.url + "/v1/realtime?model=m") as ws:
                        await ws.send("x")
                        await ws.recv()
                    await proxy.wait_for_sessions(1)
        return upstream.headers

    run(scenario())
    paths = [
        json.loads(p.read_text().splitlines()[0])["upstream"]
        for p in sorted(tmp_path.rglob("*.jsonl"))
    ]
    assert [urlsplit(p).path for p in paths] == ["/gateway/v1/realtime", "/v1/realtime"]


@pytest.mark.parametrize(
    ("upstream", "message"),
    [
        ("wss://api.openai.com:99999", "the port must be a number from 1 to 65535"),
        ("wss://api.openai.com:0", "the port must be a number from 1 to 65535"),
        ("wss://api open.com", "is not a host name or IP address"),
        ("wss://api.openai.com/v1?model=x", "leave out the query"),
        ("ftp://api.openai.com", "must be a ws://, wss:// or https:// URL"),
    ],
)
def test_the_upstream_is_checked_at_start_up(upstream, message):
    with pytest.raises(InputError, match=re.escape(message)):
        RecordingProxy(upstream, "unused")


def test_refusals_are_logged_one_line_each(run, proxied, tmp_path):
    notices: list[str] = []

    async def scenario() -> None:
        async with proxied(FAST, auth_token="rt-TOKEN-x1234567", on_notice=notices.append) as stack:
            with pytest.raises(InvalidStatus):
                await connect(stack.proxy.url + GA_PATH)
            reader, writer = await asyncio.open_connection("127.0.0.1", stack.proxy.port)
            writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a TLS client hello
            assert await reader.read() == b""
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", stack.proxy.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b" 426 " in await reader.readline()
            writer.close()
            await asyncio.sleep(0.05)

    run(scenario())
    assert len(notices) == 3, notices
    assert "missing or wrong X-Rt-Token (HTTP 401)" in notices[0]
    assert "it spoke TLS (wss://) to this plain listener" in notices[1] and "--tls" in notices[1]
    assert "Upgrade: websocket" in notices[2]
    assert "rt-TOKEN" not in "".join(notices)


def test_a_peer_that_breaks_the_protocol_gets_both_sides_closed_with_1002(run, tmp_path):
    async def scenario() -> tuple[bytes, list[tuple[int | None, str]], list[dict[str, Any]]]:
        async with (
            bare_upstream() as upstream,
            RecordingProxy(upstream.url, tmp_path, port=0, environ={}) as proxy,
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(
                b"GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            await reader.readuntil(b"\r\n\r\n")
            writer.write(ws_frame(0x1, b"hi", mask=b"abcd") + ws_frame(0x1, b"unmasked"))
            got = await asyncio.wait_for(reader.read(), scaled(5))
            writer.close()
            await asyncio.wait_for(upstream.ended.wait(), scaled(5))
            await proxy.wait_for_sessions(1)
        (path,) = tmp_path.glob("*.jsonl")
        return got, upstream.ends, [json.loads(x) for x in path.read_text().splitlines()]

    got, upstream_ends, records = run(scenario())
    assert got[0] in (0x81, 0x88)  # the echo of "hi" may come first
    close = got[got.index(b"\x88") :]
    assert close[1] == len(close) - 2
    assert int.from_bytes(close[2:4], "big") == 1002
    assert b"protocol error from the client: an unmasked frame from a client" in close
    assert upstream_ends == [(1002, close[4:].decode())]
    error = next(r for r in records if r["kind"] == "error")
    assert error["message"] == "protocol error from the client: an unmasked frame from a client"
    assert records[-1] == {**records[-1], "kind": "close", "by": "proxy", "code": 1002}
    assert [wire(r) for r in frames(records, "client")] == ["hi"]
