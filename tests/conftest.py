"""Shared fixtures: real servers on 127.0.0.1 (port 0), no mocks.

pytest-asyncio is not used: tests stay synchronous and run their coroutines with `run`.

    def test_something(run, proxied):
        async def scenario():
            async with proxied(Script(first_delta_delay=0)) as stack:
                async with connect(stack.proxy.url + "/v1/realtime?model=gpt-realtime") as ws:
                    ...
                summaries = await stack.proxy.wait_for_sessions(1)
            return stack.records()          # the records of the (only) session file
        records = run(scenario())

- `run(coro, timeout=None)`: runs `coro` on a fresh event loop, bounded by `timeout` seconds
  (default `TIMEOUT`); every timeout in these tests is scaled by `RT_TEST_TIMEOUT_FACTOR`.
- `proxied(script=None, **proxy_options)`: an async context manager that starts a
  `ScriptedRealtimeServer(script)` and a `RecordingProxy` in front of it writing into a fresh
  directory; yields a `ProxyStack` (`.server`, `.proxy`, `.out`, `.files()`, `.records()`).
  `proxy_options` go to `RecordingProxy` (e.g. `environ={"OPENAI_API_KEY": "sk-test"}`,
  `auth_token="t"`, `strict=True`). By default the proxy sees an empty environment, so it adds
  no key unless a test asks for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import settings
from scripted_server import Script, ScriptedRealtimeServer

from recorder.errors import SessionFormatError

# Tests never read or fill the user's own cache of interpretations (recorder/analytics/
# facts_cache.py): one cache for the whole run, in a private directory.
os.environ.setdefault(
    "RT_CACHE_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), f"rt-test-cache-{os.getpid()}")
)
from recorder.proxy import RecordingProxy
from recorder.reading import iter_records

# The property tests draw new examples on every local run (that is how they find bugs); in CI
# they draw the same ones each time, so a red CI is a regression, not a new draw.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

T = TypeVar("T")

TIMEOUT_FACTOR = float(os.environ.get("RT_TEST_TIMEOUT_FACTOR", "1"))
TIMEOUT = 10.0 * TIMEOUT_FACTOR


def scaled(seconds: float) -> float:
    """A timeout for these tests, scaled for slow machines."""
    return seconds * TIMEOUT_FACTOR


def run_bounded(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout or TIMEOUT))


@pytest.fixture
def run() -> Callable[..., Any]:
    """Run a coroutine to completion on a fresh event loop, bounded in time."""
    return run_bounded


@dataclass
class ProxyStack:
    """A scripted upstream, a recording proxy in front of it, and the proxy's output directory."""

    server: ScriptedRealtimeServer
    proxy: RecordingProxy
    out: Path
    warnings: list[SessionFormatError] = field(default_factory=list)

    def files(self) -> list[Path]:
        """The session files written so far, oldest first."""
        return sorted(self.out.glob("*.jsonl"))

    def records(self, path: Path | None = None) -> list[dict[str, Any]]:
        """The records of one session file (the only one, if `path` is not given)."""
        if path is None:
            files = self.files()
            assert len(files) == 1, f"expected one session file, found {files}"
            path = files[0]
        return [record for _, record in iter_records(path, self.warnings.append)]


@pytest.fixture
def proxied(tmp_path: Path) -> Callable[..., contextlib.AbstractAsyncContextManager[ProxyStack]]:
    """`async with proxied(script=None, **proxy_options) as stack:` (see the module docstring)."""
    counter = iter(range(1_000_000))

    @contextlib.asynccontextmanager
    async def start(script: Script | None = None, **options: Any) -> AsyncIterator[ProxyStack]:
        out = tmp_path / f"sessions-{next(counter)}"
        options.setdefault("environ", {})
        options.setdefault("port", 0)
        async with (
            ScriptedRealtimeServer(script) as server,
            RecordingProxy(server.url, out, **options) as proxy,
        ):
            yield ProxyStack(server, proxy, out)

    return start
