"""Several proxy processes on one port, so that recording uses every core.

One Python process forwards and records on one core (the GIL). `ProxyWorkers` runs `count`
processes, each a complete `RecordingProxy` with its own event loop, writer thread and share of
the calls: they listen on the same address with SO_REUSEPORT, and the kernel spreads incoming
connections across them. The parent process only reserves the port (a socket bound, never
listening, so that port 0 picks one port for all), starts the workers, and relays what they
report (finished sessions, write errors, refusals) to its own callbacks, so that the command
line prints one log and uploads from one place.

    async with ProxyWorkers(ProxyConfig(upstream=..., out_dir=...), count=2, on_session_end=print) as workers:
        ...  # clients dial workers.url

Each worker ends when told (`aclose`: SIGTERM, then every connection closes with 1001 and every
file is flushed), and also when its parent dies, however it dies (Linux: PR_SET_PDEATHSIG), so
that `kill -9` of `rt record` leaves no orphans and no file half-written. Linux only: elsewhere
SO_REUSEPORT does not spread connections (`available()`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from recorder.errors import InputError
from recorder.proxy import (
    DEFAULT_HOST,
    DEFAULT_MAX_FRAME_BYTES,
    DEFAULT_PORT,
    FinishedSessions,
    NoticeHandler,
    ProxySessionSummary,
    RecordingProxy,
    WriteErrorHandler,
)
from recorder.store import DEFAULT_MAX_PENDING_BYTES
from recorder.tls import client_context, server_context
from recorder.upstream import DEFAULT_UPSTREAM, credentials_from_environment, normalise_upstream

_READY_TIMEOUT = 60.0


def available() -> bool:
    """Whether several workers can share a port here (Linux's SO_REUSEPORT spreads connections)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def default_count() -> int:
    """One worker per core this process may run on (1 where workers are not available)."""
    if not available():
        return 1
    return max(1, len(os.sched_getaffinity(0)))


@dataclasses.dataclass(frozen=True)
class ProxyConfig:
    """What each worker needs to build its `RecordingProxy` (files, not SSL contexts: it is
    sent to another process)."""

    upstream: str = DEFAULT_UPSTREAM
    out_dir: Path = Path("sessions")
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    auth_token: str | None = None
    strict: bool = False
    certfile: Path | None = None
    keyfile: Path | None = None
    ca_file: Path | None = None
    environ: Mapping[str, str] | None = None
    open_timeout: float = 10.0
    close_timeout: float = 5.0
    max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES

    def proxy(self, **options: Any) -> RecordingProxy:
        """The `RecordingProxy` this configuration describes (`options`: callbacks, port...)."""
        settings: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "auth_token": self.auth_token,
            "strict": self.strict,
            "ssl_context": None
            if self.certfile is None
            else server_context(self.certfile, self.keyfile),
            "upstream_ssl": None if self.ca_file is None else client_context(self.ca_file),
            "environ": self.environ,
            "open_timeout": self.open_timeout,
            "close_timeout": self.close_timeout,
            "max_pending_bytes": self.max_pending_bytes,
            "max_frame_bytes": self.max_frame_bytes,
        }
        settings.update(options)
        return RecordingProxy(self.upstream, self.out_dir, **settings)


class ProxyWorkers(FinishedSessions):
    """`count` worker processes, each a `RecordingProxy`, listening on one port (see the module
    docstring). The callbacks run on the parent's event loop, as `RecordingProxy`'s do."""

    def __init__(
        self,
        config: ProxyConfig,
        count: int,
        *,
        on_session_end: Callable[[ProxySessionSummary], None] | None = None,
        on_write_error: WriteErrorHandler | None = None,
        on_notice: NoticeHandler | None = None,
    ) -> None:
        if count > 1 and not available():
            raise InputError("several workers need Linux (SO_REUSEPORT); use --workers 1")
        environ = None if config.environ is None else dict(config.environ)
        self.config = dataclasses.replace(
            config, upstream=normalise_upstream(config.upstream), environ=environ
        )
        self.count = count
        self.on_session_end = on_session_end
        self.on_write_error = on_write_error
        self.on_notice = on_notice
        self.port = config.port
        super().__init__()
        self.sessions_started = 0
        self._reserved: list[socket.socket] = []
        self._workers: list[_Worker] = []  # the ones still running
        self._all: list[_Worker] = []
        self.exited = asyncio.Event()  # set when every worker has ended by itself
        self._fallback = credentials_from_environment(
            self.config.upstream, os.environ if config.environ is None else config.environ
        )

    # -- what the command line shows -----------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "wss" if self.config.certfile is not None else "ws"
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def upstream(self) -> str:
        return self.config.upstream

    @property
    def out_dir(self) -> Path:
        return self.config.out_dir

    @property
    def strict(self) -> bool:
        return self.config.strict

    @property
    def auth_token(self) -> str | None:
        return self.config.auth_token

    @property
    def injects_credentials(self) -> bool:
        return bool(self._fallback)

    @property
    def active(self) -> int:
        return self.sessions_started - self.sessions_finished

    @property
    def sessions_per_worker(self) -> list[int]:
        """Calls each worker took so far (the kernel spreads them)."""
        return [w.sessions for w in self._all]

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> ProxyWorkers:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._finished_changed = asyncio.Condition()
        RecordingProxy(self.config.upstream, self.config.out_dir)._check_out_dir()
        try:
            self._reserved = _reserve_port(self.config.host, self.config.port)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise InputError(
                f"cannot listen on {self.config.host}:{self.config.port}: {reason}"
            ) from None
        self.port = self._reserved[0].getsockname()[1]
        config = pickle.dumps(dataclasses.replace(self.config, port=self.port))
        ready: list[asyncio.Future[Any]] = []
        for index in range(self.count):
            worker = _Worker(index + 1, _spawn(config), loop.create_future())
            self._workers.append(worker)
            self._all.append(worker)
            ready.append(worker.ready)
            worker.reader = threading.Thread(
                target=self._read,
                args=(worker, loop),
                name=f"rt-worker-{index + 1}-pipe",
                daemon=True,
            )
            worker.reader.start()
        try:
            await asyncio.wait_for(asyncio.gather(*ready), _READY_TIMEOUT)
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Tell every worker to stop (each closes its connections with 1001 and flushes its
        files) and wait until all have reported their last sessions."""
        workers, self._workers = self._workers, []
        for worker in workers:
            if worker.process.poll() is None:
                with contextlib.suppress(OSError):
                    worker.process.send_signal(signal.SIGTERM)
        loop = asyncio.get_running_loop()
        for worker in workers:
            await loop.run_in_executor(None, worker.process.wait)
            if worker.reader is not None:
                await loop.run_in_executor(None, worker.reader.join)
        for sock in self._reserved:
            sock.close()
        self._reserved = []

    # -- what the workers report ---------------------------------------------------------------

    def _read(self, worker: _Worker, loop: asyncio.AbstractEventLoop) -> None:
        """A thread per worker: receive its messages and hand them to the event loop."""
        while True:
            try:
                message = worker.pipe.recv()
            except (EOFError, OSError):
                break
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(self._handle, worker, message)
        code = worker.process.wait()  # its pipe closed: it is exiting
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._ended, worker, code)

    def _handle(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            if not worker.ready.done():
                worker.ready.set_result(None)
        elif kind == "failed":
            if not worker.ready.done():
                worker.ready.set_exception(InputError(message[1]))
        elif kind == "started":
            self.sessions_started += 1
            worker.sessions += 1
        elif kind == "session":
            self._session_ended(message[1])
        elif kind == "write_error" and self.on_write_error is not None:
            self.on_write_error(message[1], message[2])
        elif kind == "notice" and self.on_notice is not None:
            self.on_notice(message[1])

    def _session_ended(self, summary: ProxySessionSummary) -> None:
        self._note_finished(summary)
        if self.on_session_end is not None:
            self.on_session_end(summary)
        asyncio.get_running_loop().create_task(self._notify_finished())

    def _ended(self, worker: _Worker, code: int) -> None:
        if not worker.ready.done():
            worker.ready.set_exception(
                InputError(
                    f"proxy worker {worker.index} exited before listening (exit code {code})"
                )
            )
            return
        if worker not in self._workers:
            return  # aclose() stopped it
        self._workers.remove(worker)
        if code != 0 and self.on_notice is not None:
            self.on_notice(
                f"error: proxy worker {worker.index} exited unexpectedly (exit code {code})"
            )
        if not self._workers:
            self.exited.set()


@dataclasses.dataclass
class _Worker:
    index: int
    spawned: tuple[subprocess.Popen[bytes], Connection]
    ready: asyncio.Future[Any]
    reader: threading.Thread | None = None
    sessions: int = 0

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.spawned[0]

    @property
    def pipe(self) -> Connection:
        return self.spawned[1]


def _spawn(config: bytes) -> tuple[subprocess.Popen[bytes], Connection]:
    """`python -m recorder.workers FD`: the configuration on its stdin, its reports on a pipe.
    A fresh interpreter that imports only the library (not the caller's `__main__`)."""
    reading, writing = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "recorder.workers", str(writing)],
            stdin=subprocess.PIPE,
            pass_fds=(writing,),
            close_fds=True,
        )
    finally:
        os.close(writing)
    assert process.stdin is not None
    process.stdin.write(config)
    process.stdin.close()
    return process, Connection(reading, writable=False)


def _reserve_port(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to (host, port) with SO_REUSEPORT that never listen: they hold the port
    (port 0: one free port for every worker) but take no connections."""
    infos = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE | socket.AI_ADDRCONFIG
    )
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            if port == 0:
                port = sock.getsockname()[1]
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


# -- in the worker process -----------------------------------------------------------------------


def _worker_main(config: ProxyConfig, pipe: Connection, parent: int) -> None:
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop (SIGTERM)
    runner: Callable[[Any], Any] = asyncio.run
    if os.environ.get("RT_EVENT_LOOP", "auto") != "asyncio":
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            pass
    try:
        runner(_serve(config, pipe))
    finally:
        pipe.close()


async def _serve(config: ProxyConfig, pipe: Connection) -> None:
    def send(*message: Any) -> None:
        with contextlib.suppress(OSError, ValueError):  # the parent is gone
            pipe.send(message)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        proxy = config.proxy(
            reuse_port=True,
            on_session_start=lambda: send("started"),
            on_session_end=lambda summary: send("session", summary),
            on_write_error=lambda path, exc: send("write_error", path, _picklable(exc)),
            on_notice=lambda line: send("notice", line),
        )
        await proxy.start()
    except Exception as exc:
        send("failed", str(exc))
        return
    try:
        send("ready", proxy.port)
        await stop.wait()
    finally:
        await proxy.aclose()


def _picklable(exc: BaseException) -> BaseException:
    if isinstance(exc, OSError):
        return exc
    return RuntimeError(str(exc))


def _die_with_parent(parent: int) -> None:
    """Get SIGTERM when the parent process dies (Linux), and stop now if it already has."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    _report_to = Connection(int(sys.argv[1]), readable=False)
    _parent = os.getppid()
    _worker_main(pickle.loads(sys.stdin.buffer.read()), _report_to, _parent)
