"""The recording proxy: listen, accept, and hand each connection to a `ProxiedConnection`.

    async with RecordingProxy(upstream="wss://api.openai.com", out_dir="sessions", port=0) as proxy:
        ...  # point clients at proxy.url (e.g. the SDK's websocket_base_url=proxy.url + "/v1")
        summaries = await proxy.wait_for_sessions(1)

The layers, each a module: this one listens (plain or TLS, telling a client that speaks the
wrong one why it is refused); recorder/connection.py relays one connection's HTTP upgrade to the
upstream and its close; recorder/relay.py is the hot path, forwarding each direction's bytes as
they came and recording the messages in them (recorder/wire.py finds the frames, recording.py
and store.py write them). docs/guarantees.md states what each mode promises.

No private API of websockets (or any library) is used: the proxy is asyncio protocols over
sockets, numpy for unmasking and orjson for the JSON check. Several processes can share the
port (`reuse_port`; recorder/workers.py runs one per core).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from recorder.connection import (  # noqa: F401  (re-exported: the proxy's public names)
    AUTH_HEADER,
    AUTH_QUERY_PARAM,
    NO_CLOSE_FRAME,
    SHUTDOWN_CODE,
    SHUTDOWN_REASON,
    UPSTREAM_LOST_CODE,
    UPSTREAM_LOST_REASON,
    WRITE_FAILED_CODE,
    WRITE_FAILED_REASON,
    ProxiedConnection,
    ProxySessionSummary,
    _ClientLeg,
    no_delay,
    presented_token,
    without_token,
)
from recorder.errors import InputError
from recorder.handshake import looks_like_tls, proxy_response
from recorder.recording import FileOpener, RecordTap
from recorder.relay import RecordingQueue
from recorder.store import DEFAULT_MAX_PENDING_BYTES, WriteBudget, create_session_file
from recorder.upstream import DEFAULT_UPSTREAM, credentials_from_environment, normalise_upstream

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_FRAME_BYTES = 16 * 2**20
FINISHED_KEPT = 1000  # summaries kept in RecordingProxy.finished (a long run must not grow)

WriteErrorHandler = Callable[[Path, BaseException], None]


class SessionObserver(Protocol):
    """Gives each new session a tap on its records (`recorder.telemetry.LiveTelemetry`)."""

    def session_started(self) -> RecordTap: ...


NoticeHandler = Callable[[str], None]


class FinishedSessions:
    """What a proxy (or a set of worker processes) keeps about ended connections: the summaries
    of the last `FINISHED_KEPT` (`finished`; a long run must not grow), a count of all
    (`sessions_finished`), and `wait_for_sessions(n)`."""

    def __init__(self) -> None:
        self.finished: list[ProxySessionSummary] = []
        self.sessions_finished = 0
        self._finished_changed: asyncio.Condition | None = None

    def _note_finished(self, summary: ProxySessionSummary) -> None:
        self.finished.append(summary)
        if len(self.finished) > FINISHED_KEPT:
            del self.finished[0]
        self.sessions_finished += 1

    async def _notify_finished(self) -> None:
        if self._finished_changed is not None:
            async with self._finished_changed:
                self._finished_changed.notify_all()

    async def wait_for_sessions(
        self, count: int, timeout: float = 10.0
    ) -> list[ProxySessionSummary]:
        """Wait until `count` connections have ended and their files are complete."""
        condition = self._finished_changed
        if condition is None:
            raise RuntimeError("the proxy is not running")

        async def reached() -> None:
            async with condition:
                await condition.wait_for(lambda: self.sessions_finished >= count)

        await asyncio.wait_for(reached(), timeout)
        return list(self.finished)


class RecordingProxy(FinishedSessions):
    """A WebSocket proxy that records each connection to `<out_dir>/<session id>.jsonl`.

    `async with RecordingProxy(...) as proxy:` listens (port 0 picks a free port; see `url`),
    and on exit closes every connection with 1001 "proxy shutting down" and flushes every file.
    `finished` holds a `ProxySessionSummary` per ended connection (the last `FINISHED_KEPT`;
    `sessions_finished` counts them all); `wait_for_sessions(n)` waits for the n-th.

    Callbacks run on the event loop: `on_session_end(summary)` after each file is complete,
    `on_write_error(path, exc)` once per file that cannot be written (or per call that could
    not get one), `on_notice(line)` for each client turned away before a session began (wrong
    token, TLS spoken to a plain listener or the reverse, not a WebSocket request).
    `max_pending_bytes` bounds the frames waiting for the disk across all sessions
    (`write_budget`); `max_frame_bytes` is the largest message recorded whole;
    `open_file(out_dir, session_id)` creates each session file; `reuse_port` lets several
    processes listen on the same port (recorder/workers.py); `observer.session_started()`
    gives each session a tap that sees its records (live telemetry:
    `recorder.telemetry.LiveTelemetry`).
    """

    def __init__(
        self,
        upstream: str = DEFAULT_UPSTREAM,
        out_dir: str | os.PathLike[str] = "sessions",
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        auth_token: str | None = None,
        strict: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        upstream_ssl: ssl.SSLContext | None = None,
        environ: Mapping[str, str] | None = None,
        on_session_end: Callable[[ProxySessionSummary], None] | None = None,
        on_write_error: WriteErrorHandler | None = None,
        on_notice: NoticeHandler | None = None,
        on_session_start: Callable[[], None] | None = None,
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        open_file: FileOpener = create_session_file,
        reuse_port: bool = False,
        observer: SessionObserver | None = None,
    ) -> None:
        self.upstream = normalise_upstream(upstream)
        self.out_dir = Path(out_dir)
        self.host = host
        self.port = port
        self.auth_token = auth_token or None
        self.strict = strict
        self.ssl_context = ssl_context
        self.upstream_ssl = upstream_ssl
        self.on_session_end = on_session_end
        self.on_write_error = on_write_error
        self.on_notice = on_notice
        self.on_session_start = on_session_start
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.write_budget = WriteBudget(max_pending_bytes)
        self.max_frame_bytes = max_frame_bytes
        self.open_file = open_file
        self.reuse_port = reuse_port
        self.observer = observer
        super().__init__()
        self._fallback_credentials = credentials_from_environment(
            self.upstream, os.environ if environ is None else environ
        )
        self._sessions: set[ProxiedConnection] = set()
        self._clients: set[_ClientLeg] = set()  # connections still in their HTTP handshake
        self._background: set[asyncio.Task[Any]] = set()
        self._sockets: list[socket.socket] = []
        self.recording_queue = RecordingQueue(None)
        self._accepting: list[asyncio.Task[None]] = []

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL clients dial, e.g. `ws://127.0.0.1:8765` (append the API path)."""
        scheme = "wss" if self.ssl_context is not None else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def active(self) -> int:
        """Connections being proxied right now."""
        return len(self._sessions)

    @property
    def injects_credentials(self) -> bool:
        """Whether clients that send no credentials get the key from the environment."""
        return bool(self._fallback_credentials)

    async def __aenter__(self) -> RecordingProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _check_out_dir(self) -> None:
        try:
            self.out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the output directory {self.out_dir}: {exc}") from None
        if not os.access(self.out_dir, os.W_OK | os.X_OK):
            raise InputError(f"cannot write session files into {self.out_dir}: permission denied")

    async def start(self) -> None:
        """Check the output directory and start listening (InputError if either fails)."""
        self._check_out_dir()
        self._finished_changed = asyncio.Condition()
        self.recording_queue = RecordingQueue(asyncio.get_running_loop())
        try:
            self._sockets = listening_sockets(self.host, self.port, reuse_port=self.reuse_port)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise InputError(f"cannot listen on {self.host}:{self.port}: {reason}") from None
        self.port = self._sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        self._accepting = [loop.create_task(self._accept(sock)) for sock in self._sockets]

    async def aclose(self) -> None:
        """Stop listening, close every connection with 1001 and flush every file."""
        if not self._sockets:
            return
        for task in self._accepting:
            task.cancel()
        await asyncio.gather(*self._accepting, return_exceptions=True)
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        for client in list(self._clients):
            client.abort_handshake()
        sessions = list(self._sessions)
        for session in sessions:
            session.shutdown(SHUTDOWN_CODE, SHUTDOWN_REASON)
        if sessions:
            await asyncio.gather(*(s.ended_event.wait() for s in sessions), return_exceptions=True)
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # -- accepting -----------------------------------------------------------------------------

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, address = await loop.sock_accept(listener)
            except OSError as exc:  # out of file descriptors: say so, and try again soon
                self.notice(f"cannot accept a connection: {exc}")
                await asyncio.sleep(0.1)
                continue
            self._spawn(self._welcome(conn, address))

    async def _welcome(self, conn: socket.socket, address: Any) -> None:
        loop = asyncio.get_running_loop()
        peer = _peer(address)
        conn.setblocking(False)
        no_delay(conn)
        if self.ssl_context is None:
            with _closing_on_error(conn):
                await loop.connect_accepted_socket(lambda: _ClientLeg(self, peer), conn)
            return
        try:
            first = await asyncio.wait_for(_peek(loop, conn), self.open_timeout)
        except NotImplementedError:  # an event loop without add_reader (Windows' proactor)
            first = bytes([0x16])
        except (OSError, asyncio.TimeoutError):
            conn.close()
            return
        if not first:
            conn.close()
            return
        if not looks_like_tls(first):
            self.notice(
                f"refused {peer}: it spoke plain HTTP (ws://) to this TLS listener; "
                f"the client should dial {self.url}"
            )
            with contextlib.suppress(OSError):
                conn.send(proxy_response(400, f"this proxy speaks TLS: dial {self.url}"))
            conn.close()
            return
        try:
            await loop.connect_accepted_socket(
                lambda: _ClientLeg(self, peer),
                conn,
                ssl=self.ssl_context,
                ssl_handshake_timeout=self.open_timeout,
            )
        except (OSError, asyncio.TimeoutError) as exc:
            conn.close()
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            self.notice(
                f"refused {peer}: the TLS handshake failed ({reason}); the client must trust "
                "the proxy's certificate"
            )

    def notice(self, line: str) -> None:
        if self.on_notice is not None:
            self.on_notice(line)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _report_write_error(self, path: Path, exc: BaseException) -> None:
        if self.on_write_error is not None:
            self.on_write_error(path, exc)

    async def _session_finished(
        self, session: ProxiedConnection, summary: ProxySessionSummary
    ) -> None:
        self._sessions.discard(session)
        self._note_finished(summary)
        if self.on_session_end is not None:
            self.on_session_end(summary)
        await self._notify_finished()


def listening_sockets(host: str, port: int, *, reuse_port: bool = False) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for `host` (each address it names) and `port`."""
    infos = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE | socket.AI_ADDRCONFIG
    )
    sockets: list[socket.socket] = []
    seen = set()
    try:
        for family, kind, proto, _, address in infos:
            if address in seen:
                continue
            seen.add(address)
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:  # the same free port on every address
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(1024)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


async def _peek(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> bytes:
    """The first bytes a client sent, left in the socket for whoever reads it next."""
    ready = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(conn.fileno(), readable)
    try:
        await ready
    finally:
        loop.remove_reader(conn.fileno())
    return conn.recv(8, socket.MSG_PEEK)


@contextlib.contextmanager
def _closing_on_error(conn: socket.socket) -> Any:
    try:
        yield
    except OSError:
        conn.close()


def _peer(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = f"[{address[0]}]" if ":" in str(address[0]) else address[0]
        return f"{host}:{address[1]}"
    return str(address) or "a client"


def parse_listen_address(value: str) -> tuple[str, int]:
    """`HOST:PORT`, `[IPv6]:PORT` or a bare `PORT` (on 127.0.0.1) -> (host, port)."""
    host, sep, port_text = value.strip().rpartition(":")
    if not sep:
        host, port_text = "", value.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port_text.isdigit() or int(port_text) > 65535:
        raise InputError(f"--listen must be HOST:PORT, e.g. 127.0.0.1:8765 (got {value!r})")
    return host or DEFAULT_HOST, int(port_text)


def is_loopback(host: str) -> bool:
    """Whether `host` is only reachable from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
