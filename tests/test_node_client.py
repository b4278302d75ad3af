"""The official OpenAI Node SDK (`openai` on npm, `OpenAIRealtimeWS`) through the proxy.

The SDK always dials `wss://`, so it needs the proxy's TLS mode (`rt record --proxy --tls`) and
`NODE_EXTRA_CA_CERTS` pointing at the local CA; against a plain listener it fails, and the
proxy says why on stderr. Needs node and `npm install` in tests/node (.ci/run does both); where
they are missing the tests are skipped, unless RT_REQUIRE_NODE is set (CI), then they fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import ProxyStack, scaled
from scripted_server import Script

from recorder.tls import LocalCA

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE = shutil.which("node")
READY = NODE is not None and (NODE_DIR / "node_modules" / "openai").is_dir()
REASON = "node and tests/node/node_modules (npm install in tests/node) are needed"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not READY and not os.environ.get("RT_REQUIRE_NODE"), reason=REASON),
]
FAST = Script(created_delay=0, first_delta_delay=0, response_audio_ms=300)


async def run_node(base_url: str, ca_file: Path | None) -> dict[str, Any]:
    assert READY, REASON
    env = {**os.environ, "RT_BASE_URL": base_url, "OPENAI_API_KEY": "sk-node-SECRET-1"}
    env.pop("NODE_EXTRA_CA_CERTS", None)
    if ca_file is not None:
        env["NODE_EXTRA_CA_CERTS"] = str(ca_file)
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(NODE_DIR / "realtime_client.mjs"),
        cwd=NODE_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), scaled(30))
    assert out, f"node printed nothing: {err.decode()[-2000:]}"
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def test_the_node_sdk_records_a_call_through_the_tls_mode(run, proxied, tmp_path):
    certificate = LocalCA(tmp_path / "tls").certificate_for("127.0.0.1")

    async def scenario() -> tuple[dict[str, Any], ProxyStack]:
        async with proxied(FAST, ssl_context=certificate.context()) as stack:
            https = stack.proxy.url.replace("wss://", "https://")
            result = await run_node(https + "/v1", certificate.ca_file)
            await stack.proxy.wait_for_sessions(1)
            return result, stack

    result, stack = run(scenario(), scaled(60))
    assert result["types"][0] == "session.created", result
    assert "response.output_audio.delta" in result["types"] and "response.done" in result["types"]
    assert result["code"] == 1000 and not result["errors"]
    log = stack.server.connections[0]
    assert log.path == "/v1/realtime?model=gpt-realtime"
    assert ("Authorization", "Bearer sk-node-SECRET-1") in log.headers
    records = stack.records()
    sent = [r["event"]["type"] for r in records if r["kind"] == "frame" and r["from"] == "client"]
    assert sent == ["session.update", "response.create"]
    assert records[-1] == {**records[-1], "kind": "close", "by": "client", "code": 1000}
    for path in stack.out.rglob("*"):
        assert b"sk-node-SECRET-1" not in path.read_bytes()


def test_the_node_sdk_against_a_plain_listener_gets_a_line_on_stderr(run, proxied):
    notices: list[str] = []

    async def scenario() -> dict[str, Any]:
        async with proxied(FAST, on_notice=notices.append) as stack:
            https = stack.proxy.url.replace("ws://", "https://")
            result = await run_node(https + "/v1", None)
            assert not stack.files()
            return result

    result = run(scenario(), scaled(60))
    assert result["types"] == [] and result["errors"]
    (notice,) = notices
    assert "it spoke TLS (wss://) to this plain listener" in notice and "--tls" in notice
