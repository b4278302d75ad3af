"""Security of the proxy and of everything the tool writes.

- Secrets never reach disk: request headers, subprotocol keys and query parameters (see also
  tests/test_proxy.py), an upstream's error page quoting the key, and secrets inside events:
  ephemeral `client_secret` values (`ek_...`) and MCP tool credentials, redacted in the recorded
  copy only (the forwarded frames are untouched), through the proxy and through `rt replay`.
- Only loopback unless asked; `--auth-token` refuses before anything is dialled upstream.
- Files owner-only (0600, directories 0700); network paths never become file paths.
- TLS: verified upstream certificates by default, a private CA with `--ca-file`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import ssl
import stat
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from click.testing import CliRunner
from conftest import ProxyStack, scaled
from rt_cli.main import cli
from rt_cli.record import banner
from scripted_server import Script
from test_proxy import bare_upstream, free_port, secret_free
from test_proxy_cli import rt_record
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from recorder.proxy import RecordingProxy
from recorder.reading import iter_records
from recorder.session import REDACTED, redact_event, scrub, secret_values

pytestmark = pytest.mark.slow  # the proxy, TLS and real clients

GA_PATH = "/v1/realtime?model=gpt-realtime"
FAST_SCRIPT = Script(created_delay=0, first_delta_delay=0, response_audio_ms=300)
EPHEMERAL_BETA = "ek_68af296e8e408191a1120ab6383263c2"
EPHEMERAL_GA = "ek_0123456789abcdef0123456789abcdef"


def records(path: Path) -> list[dict[str, Any]]:
    return [r for _, r in iter_records(path)]


def events(path: Path, direction: str) -> list[dict[str, Any]]:
    return [r["event"] for r in records(path) if r["kind"] == "frame" and r["from"] == direction]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- secrets inside events ---------------------------------------------------------------------

SESSION_UPDATE = {
    "type": "session.update",
    "session": {
        "type": "realtime",
        "tools": [
            {
                "type": "mcp",
                "server_label": "crm",
                "server_url": "https://mcp.example.com/sse?token=mcpURL-SECRET-1&v=2",
                "authorization": "Bearer mcpAUTH-SECRET-2",
                "headers": {"X-Api-Key": "mcpHEADER-SECRET-3", "X-Tenant": "acme"},
                "require_approval": "never",
            },
            {
                "type": "function",
                "name": "week_of_year_lookup",
                "parameters": {"type": "object", "properties": {"headers": {"type": "object"}}},
            },
        ],
    },
}
RESPONSE_CREATE = {
    "type": "response.create",
    "response": {
        "tools": [{"type": "mcp", "server_label": "x", "authorization": "mcpAUTH-SECRET-4"}]
    },
}
CLIENT_SENDS = [
    json.dumps(SESSION_UPDATE),
    json.dumps(RESPONSE_CREATE),
    '{"type":"input_audio_buffer.append","audio":"AAECAwQFBgc="}',
    '{"type":"conversation.item.create","item":{"type":"message","role":"user",'
    '"content":[{"type":"input_text","text":"the headers of week_of_year"}]}}',
]
SERVER_SENDS = [
    json.dumps(
        {
            "type": "session.created",
            "session": {
                "id": "sess_1",
                "object": "realtime.session",
                "client_secret": {"value": EPHEMERAL_BETA, "expires_at": 1766228400},
            },
        }
    ),
    json.dumps({"type": "realtime.client_secret", "value": EPHEMERAL_GA, "expires_at": 1}),
    json.dumps({"type": "response.output_text.delta", "delta": f"your key is {EPHEMERAL_GA}."}),
]
EVENT_SECRETS = [
    EPHEMERAL_BETA,
    EPHEMERAL_GA,
    "mcpURL-SECRET-1",
    "mcpAUTH-SECRET-2",
    "mcpHEADER-SECRET-3",
    "mcpAUTH-SECRET-4",
]


@dataclass
class SecretUpstream:
    """Greets with events that hold ephemeral keys, then echoes every client frame."""

    url: str = ""
    received: list[str | bytes] = field(default_factory=list)
    headers: list[list[tuple[str, str]]] = field(default_factory=list)

    async def handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.headers.append(list(ws.request.headers.raw_items()))
        with contextlib.suppress(ConnectionClosed):
            for message in SERVER_SENDS:
                await ws.send(message)
            async for message in ws:
                self.received.append(message)
                await ws.send(message)


@contextlib.asynccontextmanager
async def secret_upstream() -> AsyncIterator[SecretUpstream]:
    upstream = SecretUpstream()
    async with serve(upstream.handle, "127.0.0.1", 0) as server:
        upstream.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        yield upstream


def expected_recorded(event: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(event))
    redact_event(copy)
    return copy


def test_event_secrets_are_redacted_in_the_file_but_forwarded_unchanged(run, tmp_path):
    async def scenario() -> tuple[SecretUpstream, list[str | bytes]]:
        async with (
            secret_upstream() as upstream,
            RecordingProxy(upstream.url, tmp_path, port=0, environ={}) as proxy,
        ):
            got: list[str | bytes] = []
            async with connect(proxy.url + GA_PATH) as ws:
                for _ in SERVER_SENDS:
                    got.append(await ws.recv())
                for message in CLIENT_SENDS:
                    await ws.send(message)
                    got.append(await ws.recv())
            await proxy.wait_for_sessions(1)
        return upstream, got

    upstream, got = run(scenario())
    assert upstream.received == CLIENT_SENDS  # the upstream got the client's secrets
    assert got == SERVER_SENDS + CLIENT_SENDS  # and the client the upstream's, byte for byte
    secret_free(tmp_path, *EVENT_SECRETS)
    (path,) = tmp_path.glob("*.jsonl")
    recorded_client = events(path, "client")
    assert recorded_client == [expected_recorded(json.loads(m)) for m in CLIENT_SENDS]
    tools = recorded_client[0]["session"]["tools"]
    assert tools[0]["authorization"] == REDACTED
    assert tools[0]["headers"] == {"X-Api-Key": REDACTED, "X-Tenant": REDACTED}
    assert tools[0]["server_url"] == "https://mcp.example.com/sse?token=<redacted>&v=2"
    assert tools[0]["server_label"] == "crm" and tools[1] == SESSION_UPDATE["session"]["tools"][1]
    recorded_server = events(path, "server")
    assert recorded_server[0]["session"]["client_secret"] == {
        "value": REDACTED,
        "expires_at": 1766228400,
    }
    assert recorded_server[1]["value"] == REDACTED
    assert recorded_server[2]["delta"] == f"your key is {REDACTED}."
    # Frames without secrets are still spliced in byte for byte.
    lines = path.read_text().splitlines()
    for original in (CLIENT_SENDS[2], CLIENT_SENDS[3]):
        assert any(line.endswith('"event":' + original + "}") for line in lines)


@dataclass
class ThreadedUpstream:
    url: str
    upstream: SecretUpstream


@pytest.fixture
def threaded_secret_upstream() -> Iterator[ThreadedUpstream]:
    """A SecretUpstream on its own loop and thread, for CLI commands that run asyncio.run."""
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        state["stop"] = asyncio.Event()
        async with secret_upstream() as upstream:
            state["upstream"] = upstream
            ready.set()
            await state["stop"].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),))
    thread.start()
    assert ready.wait(scaled(10))
    yield ThreadedUpstream(state["upstream"].url, state["upstream"])
    loop.call_soon_threadsafe(state["stop"].set)
    thread.join(scaled(10))
    loop.close()


def test_replay_records_with_the_same_redaction(run, proxied, tmp_path, threaded_secret_upstream):
    # A recording whose client frames hold MCP credentials (redacted on disk already).
    async def record() -> Path:
        async with proxied(Script(created_delay=0, first_delta_delay=0)) as stack:
            async with connect(stack.proxy.url + GA_PATH) as ws:
                await ws.recv()
                for message in CLIENT_SENDS[:2]:
                    await ws.send(message)
                while json.loads(await ws.recv())["type"] != "response.done":
                    pass
            await stack.proxy.wait_for_sessions(1)
            return stack.files()[0]

    original = run(record())
    replays = tmp_path / "replays"
    result = CliRunner().invoke(
        cli,
        [
            "replay",
            str(original),
            "--target",
            threaded_secret_upstream.url + GA_PATH,
            "--pace",
            "timed",
            "--fast",
            "--header",
            "Authorization: Bearer sk-replay-SECRET-5",
            "--out",
            str(replays),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    upstream = threaded_secret_upstream.upstream
    assert ("Authorization", "Bearer sk-replay-SECRET-5") in upstream.headers[0]
    (path,) = replays.glob("*.jsonl")
    secret_free(replays, "sk-replay-SECRET-5", *EVENT_SECRETS)
    server = events(path, "server")
    assert server[0]["session"]["client_secret"]["value"] == REDACTED
    assert server[1]["value"] == REDACTED
    assert mode(path) == 0o600 and mode(replays) == 0o700


def test_redaction_leaves_events_without_secrets_alone():
    for event in (
        {"type": "x", "note": "week_of_year_abcdefghijklmnopqrstuvwxyz"},  # `ek_`, not a key
        {"type": "x", "tools": [{"type": "function", "name": "f"}]},
        {"type": "x", "headers": {"a": "b"}},  # `headers` outside a tool
        {"type": "x", "authorization": "not in a tool"},
        {"type": "x", "client_secret": REDACTED},
    ):
        assert not redact_event(json.loads(json.dumps(event)))


# -- secrets around the handshake --------------------------------------------------------------


def test_every_request_secret_stays_off_disk_even_when_the_upstream_quotes_it(run, tmp_path):
    def refuse_quoting_the_key(conn: ServerConnection, request: Any) -> Any:
        quoted = " ".join(v for _, v in request.headers.raw_items())
        return conn.respond(401, f"Incorrect API key provided: {quoted} {request.path}\n")

    path = (
        "/openai/realtime?api-version=2024-10-01-preview&deployment=d&api-key=azQUERY-SECRET-1"
        "&key=kQUERY-SECRET-2&token=tQUERY-SECRET-3&client_secret=csQUERY-SECRET-4"
    )
    headers = {
        "Authorization": "Bearer sk-HEADER-SECRET-5",
        "api-key": "azHEADER-SECRET-6",
        "Cookie": "session=cookie-SECRET-7",
        "OpenAI-Organization": "org-SECRET-8",
        "OpenAI-Project": "proj_SECRET-9",
    }
    subprotocols = ["realtime", "openai-insecure-api-key.sk-SUBPROTOCOL-SECRET-10"]

    async def scenario() -> int:
        async with (
            bare_upstream(process_request=refuse_quoting_the_key) as upstream,
            RecordingProxy(upstream.url, tmp_path, port=0, environ={}) as proxy,
        ):
            with pytest.raises(InvalidStatus) as refused:
                await connect(
                    proxy.url + path,
                    additional_headers=headers,
                    subprotocols=subprotocols,  # type: ignore[arg-type]
                )
            await proxy.wait_for_sessions(1)
        return refused.value.response.status_code

    assert run(scenario()) == 401
    secrets = [
        *(f"{w}QUERY-SECRET-{i}" for i, w in enumerate(("az", "k", "t", "cs"), 1)),
        *(v.rpartition(" ")[2].partition("=")[2] or v for v in headers.values()),
        "sk-HEADER-SECRET-5",
        "sk-SUBPROTOCOL-SECRET-10",
    ]
    secret_free(tmp_path, *secrets)
    (file,) = tmp_path.glob("*.jsonl")
    error = next(r for r in records(file) if r["kind"] == "error")
    assert error["detail"].startswith("Incorrect API key provided: ")
    assert error["detail"].count(REDACTED) >= 5


def test_the_environment_key_stays_off_disk_when_the_upstream_is_unreachable(run, tmp_path):
    async def scenario() -> None:
        dead = f"ws://127.0.0.1:{free_port()}"
        env = {"OPENAI_API_KEY": "sk-ENV-SECRET-11"}
        async with RecordingProxy(dead, tmp_path, port=0, environ=env) as proxy:
            with pytest.raises(InvalidStatus):
                await connect(proxy.url + "/v1/realtime?model=m&api-key=azQUERY-SECRET-12")
            (summary,) = await proxy.wait_for_sessions(1)
            assert summary.error is not None and "SECRET" not in summary.error

    run(scenario())
    secret_free(tmp_path, "sk-ENV-SECRET-11", "azQUERY-SECRET-12")


def test_what_rt_record_prints_holds_no_secret(run, tmp_path):
    # `rt record --proxy > sessions.log` keeps stdout as a log; stderr may be kept too.
    async def scenario() -> tuple[str, str]:
        async with bare_upstream() as upstream:
            with_userinfo = upstream.url.replace("ws://", "ws://user:pwUSERINFO-SECRET-14@")
            async with rt_record("--upstream", with_userinfo, "--out", str(tmp_path)) as rt:
                async with connect(
                    rt.url + "/v1/realtime?model=m&api-key=azQUERY-SECRET-15",
                    additional_headers={"Authorization": "Bearer sk-HEADER-SECRET-16"},
                    subprotocols=["openai-insecure-api-key.sk-SUBPROTOCOL-SECRET-17"],  # type: ignore[list-item]
                ) as ws:
                    await ws.send("hello")
                    await ws.recv()
                rt.process.send_signal(signal.SIGINT)
                await asyncio.wait_for(rt.process.wait(), scaled(10))
                assert rt.process.stdout is not None and rt.process.stderr is not None
                stdout = (await rt.process.stdout.read()).decode()
                stderr = rt.banner + (await rt.process.stderr.read()).decode()
        return stdout, stderr

    stdout, stderr = run(scenario())
    assert "client 1 frames" in stdout
    for secret in ("pwUSERINFO-SECRET-14", "azQUERY-SECRET-15", "HEADER-SECRET-16", "SECRET-17"):
        assert secret not in stdout and secret not in stderr
    secret_free(tmp_path, "USERINFO-SECRET-14", "QUERY-SECRET-15", "SECRET-16", "SECRET-17")


def test_secret_values_and_scrub():
    found = secret_values(
        [("Authorization", "Bearer sk-abcdefgh"), ("X-Other", "plain-value-1234")],
        ["openai-insecure-api-key.sk-browser-123", "realtime"],
        "/v1?model=m&api-key=az-12345678&token=short",
    )
    assert found == ["Bearer sk-abcdefgh", "sk-browser-123", "az-12345678", "sk-abcdefgh"]
    assert scrub("key sk-abcdefgh, again sk-abcdefgh", found) == f"key {REDACTED}, again {REDACTED}"


# -- who may connect ---------------------------------------------------------------------------


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", "192.0.2.10:0", "example.com:0"])
def test_listening_beyond_loopback_needs_allow_remote(listen):
    result = CliRunner().invoke(cli, ["record", "--proxy", "--listen", listen])
    assert result.exit_code == 2 and "Add --allow-remote" in result.output


def test_loopback_is_the_default_and_remote_listening_warns(tmp_path):
    proxy = RecordingProxy("wss://api.openai.com", tmp_path, environ={"OPENAI_API_KEY": "sk-x"})
    assert proxy.host == "127.0.0.1"
    warning = banner(proxy, remote=True)[-2].plain
    assert "reachable from other machines" in warning
    assert "the API key it adds (set --auth-token)" in warning


def test_a_refused_client_gets_nothing_dialled_upstream(run, proxied):
    token = "rt-TOKEN-SECRET-13"
    attempts = [
        ({}, GA_PATH),
        ({"X-Rt-Token": ""}, GA_PATH),
        ({"X-Rt-Token": "rt-TOKEN-SECRET-1"}, GA_PATH),  # a prefix of the token
        ({"X-Rt-Token": token + "x"}, GA_PATH),
        ({}, GA_PATH + "&rt_token=wrong"),
        ({}, GA_PATH + "&rt_token="),
    ]

    async def scenario() -> tuple[ProxyStack, list[tuple[int, bytes]]]:
        refusals = []
        async with proxied(Script(created_delay=0), auth_token=token) as stack:
            for headers, path in attempts:
                with pytest.raises(InvalidStatus) as refused:
                    await connect(stack.proxy.url + path, additional_headers=headers)
                response = refused.value.response
                refusals.append((response.status_code, bytes(response.body)))
            assert stack.server.connections == []  # nothing was dialled for them
            assert not stack.files() and stack.proxy.finished == []
            for headers, path in (
                ({"X-Rt-Token": token}, GA_PATH),
                ({}, GA_PATH + f"&rt_token={token}"),
            ):
                async with connect(stack.proxy.url + path, additional_headers=headers) as ws:
                    await ws.recv()
            await stack.proxy.wait_for_sessions(2)
        return stack, refusals

    stack, refusals = run(scenario())
    assert refusals == [(401, b"rt proxy: missing or wrong X-Rt-Token\n")] * len(attempts)
    assert len(stack.server.connections) == 2
    secret_free(stack.out, token)


# -- files -------------------------------------------------------------------------------------


def test_recordings_and_exports_are_owner_only(run, proxied, tmp_path):
    async def scenario() -> ProxyStack:
        async with proxied(Script(created_delay=0, first_delta_delay=0)) as stack:
            async with connect(stack.proxy.url + GA_PATH) as ws:
                await ws.recv()
                await ws.send(json.dumps({"type": "response.create"}))
                while json.loads(await ws.recv())["type"] != "response.done":
                    pass
            await stack.proxy.wait_for_sessions(1)
            return stack

    old_umask = os.umask(0o002)  # a permissive umask must not loosen them
    try:
        stack = run(scenario())
        (path,) = stack.files()
        wavs = tmp_path / "wavs" / "nested"
        result = CliRunner().invoke(
            cli, ["export", "wav", str(path), "--out", str(wavs)], catch_exceptions=False
        )
    finally:
        os.umask(old_umask)
    assert result.exit_code == 0, result.output
    assert mode(path) == 0o600 and mode(stack.out) == 0o700
    assert [mode(w) for w in wavs.glob("*.wav")] == [0o600] * 2
    assert mode(wavs) == 0o700


HOSTILE_PATHS = [
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/tmp/evil",
    "/v1/realtime?model=../../../../tmp/evil&session=..%2f..%2fx",
    "//evil.example/v1/realtime",
    "/v1/realtime/" + "a" * 4000,
    "/v1/realtime?x=%00%0a%0d",
    "/%5c..%5c..%5cwindows",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_request_paths_never_become_file_paths(run, tmp_path, path):
    out = tmp_path / "deep" / "sessions"

    async def handshake(port: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        status = await asyncio.wait_for(reader.readline(), scaled(5))
        writer.close()
        return status

    async def scenario() -> tuple[bytes, list[str]]:
        async with (
            bare_upstream() as upstream,
            RecordingProxy(upstream.url, out, port=0, environ={}) as proxy,
        ):
            status = await handshake(proxy.port)
            await proxy.wait_for_sessions(1)
            dialled = [v for headers in upstream.headers for n, v in headers if n.lower() == "host"]
        return status, dialled

    status, dialled = run(scenario())
    assert status.startswith(b"HTTP/1.1 101")
    assert dialled == [dialled[0]] and dialled[0].startswith("127.0.0.1:")  # our upstream only
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    (session_file,) = files
    assert session_file.parent == out
    assert session_file.name.endswith(".jsonl") and "/" not in session_file.stem
    assert ".." not in session_file.name
    assert records(session_file)[0]["request"]["path"] == path


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A private CA, a certificate from it for 127.0.0.1, and one from a CA nobody trusts."""
    directory = tmp_path_factory.mktemp("tls")
    ca, stranger = trustme.CA(), trustme.CA()
    files = {
        "ca": directory / "ca.pem",
        "cert": directory / "cert.pem",
        "key": directory / "key.pem",
        "untrusted": directory / "untrusted.pem",
        "wrong_host": directory / "wrong-host.pem",
    }
    ca.cert_pem.write_to_path(files["ca"])
    issued = ca.issue_cert("127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(files["cert"])
    for extra in issued.cert_chain_pems[1:]:
        extra.write_to_path(files["cert"], append=True)
    issued.private_key_pem.write_to_path(files["key"])
    stranger.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        files["untrusted"]
    )
    ca.issue_cert("upstream.example").private_key_and_cert_chain_pem.write_to_path(
        files["wrong_host"]
    )
    return files


def server_context(certfile: Path, keyfile: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


@pytest.mark.parametrize(
    ("cert", "why"),
    [
        ("untrusted", "unable to get local issuer certificate"),
        ("wrong_host", "IP address mismatch"),
    ],
)
def test_an_upstream_certificate_that_does_not_verify_is_refused(
    run, tmp_path, tls_files, cert, why
):
    async def scenario() -> tuple[int, list[dict[str, Any]]]:
        async with bare_upstream(ssl=server_context(tls_files[cert])) as upstream:
            trusting_the_ca = ssl.create_default_context(cafile=str(tls_files["ca"]))
            async with RecordingProxy(
                upstream.url, tmp_path, port=0, environ={}, upstream_ssl=trusting_the_ca
            ) as proxy:
                with pytest.raises(InvalidStatus) as refused:
                    await connect(proxy.url + "/x")
                await proxy.wait_for_sessions(1)
            assert upstream.headers == []  # no handshake reached it
        (path,) = tmp_path.glob("*.jsonl")
        return refused.value.response.status_code, records(path)

    status, lines = run(scenario())
    assert status == 502
    assert [r["kind"] for r in lines] == ["session", "error", "close"]
    assert "CERTIFICATE_VERIFY_FAILED" in lines[1]["message"] and why in lines[1]["message"]


def test_rt_record_with_tls_on_both_sides_and_a_private_ca(run, tmp_path, tls_files):
    client_tls = ssl.create_default_context(cafile=str(tls_files["ca"]))

    async def scenario() -> tuple[str, str]:
        async with bare_upstream(ssl=server_context(tls_files["cert"], tls_files["key"])) as up:
            args = ["--upstream", up.url, "--out", str(tmp_path / "out")]
            args += ["--certfile", str(tls_files["cert"]), "--keyfile", str(tls_files["key"])]
            async with rt_record(*args, "--ca-file", str(tls_files["ca"])) as rt:
                assert rt.url.startswith("wss://")
                async with connect(rt.url + "/x", ssl=client_tls) as ws:
                    await ws.send("over tls both ways")
                    echoed = str(await ws.recv())
            # Without --ca-file the same upstream is not trusted.
            async with rt_record("--upstream", up.url, "--out", str(tmp_path / "no-ca")) as rt:
                with pytest.raises(InvalidStatus) as refused:
                    await connect(rt.url + "/x")
                status = str(refused.value.response.status_code)
        return echoed, status

    echoed, status = run(scenario(), scaled(30))
    assert (echoed, status) == ("over tls both ways", "502")


def test_plain_clients_cannot_talk_to_a_tls_proxy(run, tmp_path, tls_files):
    notices: list[str] = []

    async def scenario() -> InvalidStatus:
        async with (
            bare_upstream() as upstream,
            RecordingProxy(
                upstream.url,
                tmp_path,
                port=0,
                environ={},
                ssl_context=server_context(tls_files["cert"], tls_files["key"]),
                on_notice=notices.append,
            ) as proxy,
        ):
            plain = proxy.url.replace("wss://", "ws://")
            with pytest.raises(InvalidStatus) as refused:
                await connect(plain + "/x", open_timeout=scaled(2))
            assert upstream.headers == []
            return refused.value

    refused = run(scenario())
    assert refused.response.status_code == 400
    assert b"this proxy speaks TLS: dial wss://127.0.0.1:" in refused.response.body
    assert not list(tmp_path.glob("*.jsonl"))
    (notice,) = notices
    assert "plain HTTP (ws://) to this TLS listener" in notice


# -- the session's own secrets and key-shaped strings (issue 14, items 5-7) ------------------


def test_a_percent_encoded_rt_token_is_stripped_like_the_plain_one(run, proxied):
    token = "rt-TOKEN-SECRET-18"

    async def scenario() -> ProxyStack:
        async with proxied(Script(created_delay=0), auth_token=token) as stack:
            for name in ("rt%5Ftoken", "rt%5ftoken", "rt_token"):
                async with connect(stack.proxy.url + GA_PATH + f"&{name}={token}") as ws:
                    await ws.recv()
            await stack.proxy.wait_for_sessions(3)
            return stack

    stack = run(scenario())
    assert [c.path for c in stack.server.connections] == [GA_PATH] * 3
    secret_free(stack.out, token)
    paths = [records(path)[0]["request"]["path"] for path in stack.files()]
    assert paths == [f"{GA_PATH}&rt_token={REDACTED}"] * 3


KEY_SHAPED = {
    "sk": "sk-" + "A1b2C3d4" * 6,
    "sk-proj": "sk-proj-" + "Zz9_Yy8-Xx7" * 8,
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}


@dataclass
class QuotingUpstream:
    """Quotes the client's key back in an event and in its close reason, and sends events
    holding key-shaped strings that belong to nobody in this session."""

    async def handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        key = ws.request.headers["Authorization"].removeprefix("Bearer ")
        await ws.send(json.dumps({"type": "error", "error": {"message": f"bad key {key}"}}))
        for name, value in KEY_SHAPED.items():
            await ws.send(
                json.dumps({"type": "response.output_text.delta", "delta": f"{name}: {value}"})
            )
        await ws.send(json.dumps({"type": "fake.audio", "delta": "QUJD" * 500}))
        await ws.recv()
        await ws.close(4001, f"key {key} refused")


def test_the_sessions_own_key_and_key_shaped_strings_never_reach_the_file_or_stdout(run, tmp_path):
    client_key = "sk-CLIENT-KEY-SECRET-19-abcdefghijklmnop"
    upstream = QuotingUpstream()

    async def scenario() -> tuple[list[str | bytes], str, str]:
        async with serve(upstream.handle, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            async with rt_record("--upstream", url, "--out", str(tmp_path)) as rt:
                got: list[str | bytes] = []
                async with connect(
                    rt.url + GA_PATH, additional_headers={"Authorization": f"Bearer {client_key}"}
                ) as ws:
                    for _ in range(2 + len(KEY_SHAPED)):
                        got.append(await ws.recv())
                    await ws.send(json.dumps({"type": "response.create"}))
                    with pytest.raises(ConnectionClosed) as closed:
                        await ws.recv()
                rt.process.send_signal(signal.SIGINT)
                await asyncio.wait_for(rt.process.wait(), scaled(10))
                assert rt.process.stdout is not None and rt.process.stderr is not None
                stdout = (await rt.process.stdout.read()).decode()
                stderr = (await rt.process.stderr.read()).decode()
        assert closed.value.rcvd is not None and client_key in closed.value.rcvd.reason
        return got, stdout, stderr

    got, stdout, stderr = run(scenario(), scaled(30))
    assert client_key in str(got[0])  # forwarded unchanged
    assert all(value in "".join(map(str, got)) for value in KEY_SHAPED.values())
    secret_free(tmp_path, client_key, *KEY_SHAPED.values())
    for text in (stdout, stderr):
        assert client_key not in text and "SECRET-19" not in text
    assert f"closed by server 4001 'key {REDACTED} refused'" in stdout
    (path,) = tmp_path.glob("*.jsonl")
    server = events(path, "server")
    assert server[0]["error"]["message"] == f"bad key {REDACTED}"
    assert [e["delta"] for e in server[1:4]] == [f"{n}: {REDACTED}" for n in KEY_SHAPED]
    assert server[4]["delta"] == "QUJD" * 500  # audio is not touched
    assert records(path)[-1]["reason"] == f"key {REDACTED} refused"


def test_azure_apim_keys_and_subprotocol_keys_in_any_case_are_redacted(run, proxied):
    offered = ["realtime", "OpenAI-Insecure-Api-Key.sk-CASE-SECRET-20"]

    async def scenario() -> ProxyStack:
        async with proxied(FAST_SCRIPT) as stack:
            async with connect(
                stack.proxy.url + GA_PATH,
                subprotocols=offered,  # type: ignore[arg-type]
                additional_headers={"Ocp-Apim-Subscription-Key": "apimSECRET21abc"},
            ) as ws:
                await ws.recv()
            await stack.proxy.wait_for_sessions(1)
            return stack

    stack = run(scenario())
    log = stack.server.connections[0]
    assert ("Ocp-Apim-Subscription-Key", "apimSECRET21abc") in log.headers  # forwarded
    assert not [n for n, _ in log.headers if n.lower() == "authorization"]  # it authenticated
    secret_free(stack.out, "sk-CASE-SECRET-20", "apimSECRET21abc")
    request = stack.records()[0]["request"]
    assert request["subprotocols"][1] == f"OpenAI-Insecure-Api-Key.{REDACTED}"
    assert ["Ocp-Apim-Subscription-Key", REDACTED] in request["headers"]


def test_auth_token_on_the_command_line_gets_a_warning_and_the_help_says_why(run, tmp_path):
    help_text = CliRunner().invoke(cli, ["record", "--help"]).output
    assert "RT_AUTH_TOKEN" in help_text and "list" in help_text and "processes" in help_text

    async def banner_of(*args: str, env: dict[str, str] | None = None) -> str:
        async with rt_record("--out", str(tmp_path), *args, env=env) as rt:
            return rt.banner

    warned = run(banner_of("--auth-token", "rt-TOKEN-SECRET-22"))
    assert "--auth-token on the command line is readable" in warned
    assert "rt-TOKEN-SECRET-22" not in warned
    quiet = run(banner_of(env={"RT_AUTH_TOKEN": "rt-TOKEN-SECRET-22"}))
    assert "readable" not in quiet


def test_one_scrubber_for_texts_and_events():
    from recorder.redaction import SecretScrubber

    scrubber = SecretScrubber(["azPLAINkey0123456789", "sk-session-key-1234"])
    assert scrubber.text("a azPLAINkey0123456789 b") == f"a {REDACTED} b"
    assert scrubber.text("Bearer sk-session-key-1234.") == f"Bearer {REDACTED}."
    assert scrubber.text("risk-free week_of_year e.g. eyJ") == "risk-free week_of_year e.g. eyJ"
    event = {"type": "x", "nested": [{"k": KEY_SHAPED["jwt"]}], "audio": "QUJD" * 100}
    assert scrubber.event(event) and event["nested"] == [{"k": REDACTED}]
    assert not scrubber.event({"type": "x", "audio": "QUJD" * 100, "event_id": "evt_1"})
