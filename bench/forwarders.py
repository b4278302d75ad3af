"""Reference forwarders for the proxy benchmarks: socat and haproxy, run beside `rt record` in the
same run so that the proxy is measured against what a C forwarder does on this machine today.

Both forward TCP byte for byte (they never parse WebSocket frames, never record), so they are the
floor a recording proxy can approach, not a rival it must beat:

  socat     a process per connection (`fork`), a read/write loop
  haproxy   one process, epoll, `mode tcp`, one thread per core (`nbthread`)

They are Debian packages (as root: `apt-get install -y socat haproxy`; elsewhere your system's
package manager or Homebrew). A benchmark that asks for one that is missing says so and skips it.

    forwarder = await start_forwarder("haproxy", upstream_port=9000)
    ...  # clients dial forwarder.url
    await forwarder.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from process_tree import tree_cpu_seconds, tree_cpu_split  # noqa: F401  (re-exported)

FORWARDERS = ("socat", "haproxy")
INSTALL_HINT = "apt-get install -y socat haproxy (Debian/Ubuntu, as root)"


def missing(name: str) -> str | None:
    """Why forwarder `name` cannot run here, or None when it can."""
    if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").exists():
        return f"{name} is not installed ({INSTALL_HINT})"
    return None


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Forwarder:
    name: str
    process: asyncio.subprocess.Process
    port: int
    workdir: Path

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                # socat forks a child per connection: end the whole process group
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.process.wait(), 10)
            if self.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def haproxy_config(port: int, upstream_port: int, *, threads: int, tls_upstream: bool) -> str:
    server = f"server upstream 127.0.0.1:{upstream_port}"
    if tls_upstream:
        server += " ssl verify none"  # the cost of TLS itself; rt verifies, so this flatters it
    return "\n".join(
        [
            "global",
            f"    nbthread {threads}",
            "    maxconn 5000",
            "defaults",
            "    mode tcp",
            "    timeout connect 10s",
            "    timeout client 1h",
            "    timeout server 1h",
            "frontend listen",
            f"    bind 127.0.0.1:{port}",
            "    default_backend upstream",
            "backend upstream",
            f"    {server}",
            "",
        ]
    )


async def start_forwarder(
    name: str,
    upstream_port: int,
    *,
    tls_upstream: bool = False,
    threads: int | None = None,
    cpus: set[int] | None = None,
) -> Forwarder:
    """Start `name` ("socat" or "haproxy") forwarding 127.0.0.1:<free port> to `upstream_port`."""
    problem = missing(name)
    if problem is not None:
        raise RuntimeError(problem)
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"rt-bench-{name}-"))
    if name == "socat":
        target = (
            f"OPENSSL:127.0.0.1:{upstream_port},verify=0"
            if tls_upstream
            else f"TCP:127.0.0.1:{upstream_port},nodelay"
        )
        command = [_binary("socat"), f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,nodelay"]
        command.append(target)
    elif name == "haproxy":
        config = workdir / "haproxy.cfg"
        threads = threads or len(os.sched_getaffinity(0))
        config.write_text(
            haproxy_config(port, upstream_port, threads=threads, tls_upstream=tls_upstream)
        )
        command = [_binary("haproxy"), "-db", "-f", str(config)]
    else:
        raise ValueError(f"unknown forwarder {name!r}")
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    if cpus is not None:
        os.sched_setaffinity(process.pid, cpus)
    forwarder = Forwarder(name, process, port, workdir)
    deadline = time.monotonic() + 10
    while True:  # listening once a connection succeeds
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if process.returncode is not None or time.monotonic() > deadline:
                await forwarder.stop()
                raise RuntimeError(f"{name} did not start listening on {port}") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return forwarder
