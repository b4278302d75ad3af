"""`rt record --proxy`: argument errors, what it prints, and the real process under signals,
`kill -9` and a file-size limit that makes session-file writes fail."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import resource
import signal
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import scaled
from rich.console import Console
from rt_cli.main import cli
from rt_cli.record import session_line
from scripted_server import Script, ScriptedRealtimeServer
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from recorder.errors import SessionFormatError
from recorder.proxy import ProxySessionSummary
from recorder.reading import iter_records

pytestmark = pytest.mark.slow  # rt record in its own process

ROOT = Path(__file__).resolve().parent.parent
GA_PATH = "/v1/realtime?model=gpt-realtime"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["record", *args], catch_exceptions=False)


# -- arguments ---------------------------------------------------------------------------------


def test_help_has_an_example():
    result = invoke("--help")
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert 'AsyncOpenAI(websocket_base_url="ws://127.0.0.1:8765/v1")' in result.output


def test_proxy_flag_is_required():
    result = invoke()
    assert result.exit_code == 2
    assert "rt record needs --proxy" in result.output


def test_non_loopback_needs_allow_remote():
    result = invoke("--proxy", "--listen", "0.0.0.0:8765")
    assert result.exit_code == 2
    assert "Add --allow-remote" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "nonsense"], "--listen must be HOST:PORT"),
        (["--keyfile", __file__], "--keyfile needs --certfile"),
        (["--workers", "0"], "a number of processes, or auto"),
        (["--workers", "many"], "a number of processes, or auto"),
        (["--tls", "--certfile", __file__], "--tls makes its own certificate"),
        (["--tls-dir", "x"], "--tls-dir goes with --tls"),
    ],
)
def test_usage_errors(args, message):
    result = invoke("--proxy", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_port_in_use_is_a_one_line_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = invoke("--proxy", "--listen", f"127.0.0.1:{port}", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
    assert result.output.count("\n") == 1


@pytest.mark.parametrize(
    "upstream",
    ["wss://api.openai.com:99999", "wss://api open.com", "wss://api.openai.com/v1?model=m"],
)
def test_a_bad_upstream_is_a_one_line_error_at_start_up(upstream, tmp_path):
    result = invoke(
        "--proxy", "--listen", "127.0.0.1:0", "--upstream", upstream, "--out", str(tmp_path)
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: --upstream ") and result.output.count("\n") == 1


def test_unusable_out_directory_is_a_one_line_error(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = invoke("--proxy", "--listen", "127.0.0.1:0", "--out", str(not_a_dir / "sub"))
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot create the output directory")


# -- what it prints ----------------------------------------------------------------------------


def _summary(**changes: Any) -> ProxySessionSummary:
    base: dict[str, Any] = dict(
        path=Path("sessions/20261126T021530.123456Z-1a2b3c4d.jsonl"),
        session_id="20261126T021530.123456Z-1a2b3c4d",
        duration_s=12.34,
        frames_from_client=140,
        frames_from_server=982,
        bytes_from_client=85_200,
        bytes_from_server=1_234_567,
        frames_lost=0,
        write_error=None,
        closed_by="client",
        close_code=1000,
        close_reason="",
        error=None,
    )
    return ProxySessionSummary(**{**base, **changes})


def _render(summary: ProxySessionSummary) -> str:
    console = Console(file=io.StringIO(), width=100, soft_wrap=True)
    console.print(session_line(summary))
    return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


def test_session_line():
    assert _render(_summary()) == (
        "sessions/20261126T021530.123456Z-1a2b3c4d.jsonl  12.3 s  client 140 frames 85.2 kB"
        " · server 982 frames 1.2 MB  closed by client 1000\n"
    )
    refused = _summary(
        duration_s=0.0321,
        frames_from_client=0,
        bytes_from_client=0,
        error="upstream refused the connection: HTTP 401 Unauthorized",
    )
    assert _render(refused).endswith(
        ".jsonl  32 ms  client 0 frames 0 B · server 982 frames 1.2 MB"
        "  upstream refused the connection: HTTP 401 Unauthorized\n"
    )
    lost = _summary(
        frames_lost=3,
        write_error="[Errno 28] No space left on device",
        close_code=4000,
        close_reason="bye",
    )
    assert _render(lost).endswith(
        "closed by client 4000 'bye'  3 frames NOT recorded  write error: [Errno 28] No space left on device\n"
    )


# -- the real process --------------------------------------------------------------------------


@dataclass
class RecordProcess:
    process: asyncio.subprocess.Process
    url: str
    banner: str

    async def stderr_line(self, timeout: float = 5.0) -> str:
        assert self.process.stderr is not None
        line = await asyncio.wait_for(self.process.stderr.readline(), scaled(timeout))
        return line.decode()

    async def whole_banner(self) -> str:
        """The banner up to its last line ("Ctrl-C to stop")."""
        text = self.banner
        while "Ctrl-C to stop" not in text:
            text += await self.stderr_line()
        return text


@contextlib.asynccontextmanager
async def rt_record(
    *args: str,
    preexec_fn: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[RecordProcess]:
    """`rt record --proxy --listen 127.0.0.1:0 ARGS...` as a real process; yields its URL."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    env.pop("OPENAI_API_KEY", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rt_cli.main",
        "record",
        "--proxy",
        "--listen",
        "127.0.0.1:0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
        preexec_fn=preexec_fn,
    )
    try:
        assert process.stderr is not None
        banner = ""
        while (match := re.search(r"wss?://127\.0\.0\.1:\d+", banner)) is None:
            line = await asyncio.wait_for(process.stderr.readline(), scaled(10))
            assert line, f"rt record exited early: {banner}"
            banner += line.decode()
        yield RecordProcess(process, match.group(0), banner)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def test_banner_names_the_url_and_sdk_snippet(run, tmp_path):
    async def scenario() -> str:
        async with rt_record("--out", str(tmp_path)) as rt:
            assert rt.process.stderr is not None
            rest = await asyncio.wait_for(rt.process.stderr.readline(), scaled(5))
            return rt.banner + rest.decode() + f"\nURL={rt.url}"

    text = run(scenario())
    url = text.rsplit("URL=", 1)[1]
    assert f'AsyncOpenAI(websocket_base_url="{url}/v1")' in text
    assert "→ wss://api.openai.com" in text


def test_sigterm_closes_sessions_with_1001_and_prints_them(run, tmp_path):
    async def scenario() -> tuple[Any, int, str]:
        async with (
            ScriptedRealtimeServer(Script()) as server,
            rt_record("--upstream", server.url, "--out", str(tmp_path)) as rt,
        ):
            ws = await connect(rt.url + GA_PATH)
            await ws.recv()
            rt.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ws.recv()
            code = await asyncio.wait_for(rt.process.wait(), scaled(10))
            assert rt.process.stdout is not None
            stdout = (await rt.process.stdout.read()).decode()
            await asyncio.wait_for(server.connections[0].closed.wait(), scaled(5))
        return closed.value.rcvd, code, stdout

    rcvd, code, stdout = run(scenario())
    assert (rcvd.code, rcvd.reason) == (1001, "proxy shutting down")
    assert code == 0
    (path,) = tmp_path.glob("*.jsonl")
    assert stdout.startswith(str(path)) and "closed by proxy 1001 'proxy shutting down'" in stdout
    last = json.loads(path.read_text().splitlines()[-1])
    assert (last["kind"], last["by"], last["code"]) == ("close", "proxy", 1001)


def test_kill_9_mid_session_loses_at_most_the_last_line(run, tmp_path):
    async def scenario() -> tuple[list[str | bytes], int]:
        async with ScriptedRealtimeServer(Script()) as server:
            async with rt_record("--upstream", server.url, "--out", str(tmp_path)) as rt:
                ws = await connect(rt.url + GA_PATH)
                await ws.recv()
                stream = {"type": "fake.stream", "count": 100000, "interval": 0.0005}
                await ws.send(json.dumps(stream))
                received = 0
                while received < 300:
                    await ws.recv()
                    received += 1
                rt.process.kill()  # SIGKILL: no flush, no close line
                await rt.process.wait()
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), scaled(5))
            return server.connections[0].sent, received

    sent, received = run(scenario())
    (path,) = tmp_path.glob("*.jsonl")
    problems: list[SessionFormatError] = []
    records = [r for _, r in iter_records(path, problems.append)]
    total_lines = len(path.read_bytes().splitlines())
    assert len(problems) <= 1
    if problems:
        assert problems[0].line == total_lines  # only the cut-off last line
    assert [r["kind"] for r in records[:2]] == ["session", "open"]
    server_frames = [r for r in records if r["kind"] == "frame" and r["from"] == "server"]
    assert [r["event"] for r in server_frames] == [
        json.loads(m) for m in sent[: len(server_frames)]
    ]
    # Flushed every 50 ms: nearly everything the client got before the kill is on disk.
    assert len(server_frames) >= received - 200


def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a dead process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize("strict", [False, True])
def test_write_failure_reported_once_and_strict_closes_with_1011(run, tmp_path, strict):
    frame = json.dumps({"type": "fake.echo", "pad": "x" * 1000})

    async def scenario() -> tuple[int, Any, str, str]:
        async with ScriptedRealtimeServer(Script()) as server:
            args = ["--upstream", server.url, "--out", str(tmp_path)] + (
                ["--strict"] if strict else []
            )
            async with rt_record(*args, preexec_fn=_limit_file_size(16_000)) as rt:
                echoed, rcvd = 0, None
                async with connect(rt.url + GA_PATH) as ws:
                    await ws.recv()
                    try:
                        for _ in range(100):
                            await ws.send(frame)
                            await ws.recv()
                            echoed += 1
                            await asyncio.sleep(0.002)  # let the writer hit the limit mid-call
                    except ConnectionClosed as closed:
                        rcvd = closed.rcvd
                rt.process.send_signal(signal.SIGINT)
                await asyncio.wait_for(rt.process.wait(), scaled(10))
                assert rt.process.stdout is not None and rt.process.stderr is not None
                stdout = (await rt.process.stdout.read()).decode()
                stderr = (await rt.process.stderr.read()).decode()
        return echoed, rcvd, stdout, stderr

    echoed, rcvd, stdout, stderr = run(scenario())
    assert stderr.count("error: cannot write") == 1
    assert "File too large" in stderr
    if strict:
        assert rcvd is not None and rcvd.code == 1011
        assert echoed < 100
        assert "closing both sides (--strict)" in stderr
    else:
        assert rcvd is None and echoed == 100  # the call went on
        assert "the call goes on" in stderr
    assert "frames NOT recorded" in stdout and "write error" in stdout
    (path,) = tmp_path.glob("*.jsonl")
    assert path.stat().st_size <= 16_000
    # Every relayed frame is either a complete line in the file or counted as not recorded.
    counts = re.search(r"client (\d+) frames .* server (\d+) frames .*  (\d+) frames NOT", stdout)
    assert counts is not None
    client, server, lost = map(int, counts.groups())
    recorded = [r for _, r in iter_records(path, lambda problem: None) if r["kind"] == "frame"]
    assert len(recorded) + lost == client + server


def test_tls_mode_makes_and_keeps_a_local_ca_that_python_clients_can_trust(run, tmp_path):
    tls_dir = tmp_path / "tls"

    async def scenario() -> tuple[str, str, str, str]:
        async with ScriptedRealtimeServer(Script(created_delay=0)) as server:
            args = ["--upstream", server.url, "--out", str(tmp_path / "out")]
            async with rt_record(*args, "--tls", "--tls-dir", str(tls_dir)) as rt:
                banner = await rt.whole_banner()
                client_tls = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
                async with connect(rt.url + GA_PATH, ssl=client_tls) as ws:
                    first = str(await ws.recv())
                with pytest.raises(ssl.SSLCertVerificationError):  # not trusted without the CA
                    await connect(rt.url + GA_PATH)
                notice = await rt.stderr_line()
                url = rt.url
            async with rt_record(*args, "--tls", "--tls-dir", str(tls_dir)) as rt:
                again = await rt.whole_banner()
        return url, banner + f"\nfirst={first}", again, notice

    url, banner, again, notice = run(scenario(), scaled(40))
    assert url.startswith("wss://127.0.0.1:")
    ca = str(tls_dir / "ca.pem")
    assert f"NODE_EXTRA_CA_CERTS={ca}" in banner and f"SSL_CERT_FILE={ca}" in banner
    assert "(created now)" in banner and "(kept from an earlier run)" in again
    assert "session.created" in banner
    assert "TLS handshake failed" in notice and "trust" in notice
    assert oct((tls_dir / "ca-key.pem").stat().st_mode & 0o777) == "0o600"
