"""The recording proxy: accept a client, dial the upstream, relay both ways, record every frame.

    async with RecordingProxy(upstream="wss://api.openai.com", out_dir="sessions", port=0) as proxy:
        ...  # point clients at proxy.url (e.g. the SDK's websocket_base_url=proxy.url + "/v1")
        summaries = await proxy.wait_for_sessions(1)

One client connection is one `_Session`: the proxy dials the upstream while the client's
handshake is still open (in `process_request`), so the client gets the upstream's chosen
subprotocol, or the upstream's own HTTP refusal, exactly as if it had dialled the upstream
itself. Then two pumps copy frames: each frame is stamped and queued for the file (which never
blocks) before it is forwarded unchanged. The first leg that closes decides the `close` line and
its code and reason are relayed to the other leg.

Both legs run without permessage-deflate: the OpenAI SDK does not negotiate it either (it turns
compression off with max_size=None), and on 6.4 KB audio messages it makes a connection about
10x slower (bench/proxy.py --compression). Compression is per hop, so the frames themselves are
unchanged either way. Neither leg has a message size limit (clients send up to 15 MiB).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import ipaddress
import os
import ssl
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote_plus, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from recorder.errors import InputError
from recorder.recording import Recording, RecordingSummary
from recorder.session import REDACTED, Closer, Direction
from recorder.upstream import (
    DEFAULT_UPSTREAM,
    credentials_from_environment,
    forwarded_headers,
    has_credentials,
    normalise_upstream,
    upstream_url,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
AUTH_HEADER = "X-Rt-Token"
AUTH_QUERY_PARAM = "rt_token"
SHUTDOWN_CODE = 1001
SHUTDOWN_REASON = "proxy shutting down"
WRITE_FAILED_CODE = 1011
WRITE_FAILED_REASON = "rt proxy: session file write failed"
NO_CLOSE_FRAME = 1006  # what a WebSocket library reports when the TCP connection just ended
EMPTY_CLOSE_FRAME = 1005

# Headers of the upstream's HTTP response that belong to its own hop or handshake.
_NOT_RELAYED = frozenset(
    {
        "connection",
        "upgrade",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "date",
        "sec-websocket-accept",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
    }
)
_MAX_DETAIL = 2000

WriteErrorHandler = Callable[[Path, BaseException], None]


@dataclasses.dataclass(frozen=True)
class ProxySessionSummary(RecordingSummary):
    """A finished proxied connection: the recording, how it ended and any proxy fault."""

    closed_by: Closer | None = None
    close_code: int | None = None
    close_reason: str = ""
    error: str | None = None


class RecordingProxy:
    """A WebSocket proxy that records each connection to `<out_dir>/<session id>.jsonl`.

    `async with RecordingProxy(...) as proxy:` listens (port 0 picks a free port; see `url`),
    and on exit closes every connection with 1001 "proxy shutting down" and flushes every file.
    `finished` lists a `ProxySessionSummary` per ended connection; `wait_for_sessions(n)` waits
    for the n-th. Callbacks run on the event loop: `on_session_end(summary)` after each file is
    complete, `on_write_error(path, exc)` once per file that cannot be written.
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
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
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
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.finished: list[ProxySessionSummary] = []
        self._fallback_credentials = credentials_from_environment(
            self.upstream, os.environ if environ is None else environ
        )
        self._sessions: set[_Session] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._finished_changed: asyncio.Condition | None = None
        self._server: Server | None = None

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

    async def start(self) -> None:
        """Check the output directory and start listening (InputError if either fails)."""
        try:
            self.out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the output directory {self.out_dir}: {exc}") from None
        if not os.access(self.out_dir, os.W_OK | os.X_OK):
            raise InputError(f"cannot write session files into {self.out_dir}: permission denied")
        self._finished_changed = asyncio.Condition()
        try:
            self._server = await serve(
                self._relay,
                self.host,
                self.port,
                process_request=self._process_request,
                process_response=self._process_response,
                select_subprotocol=_upstream_subprotocol,
                create_connection=_ClientLeg,
                compression=None,
                max_size=None,
                server_header=None,
                # the client's handshake waits for the upstream's
                open_timeout=self.open_timeout + 5,
                close_timeout=self.close_timeout,
                ssl=self.ssl_context,
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise InputError(f"cannot listen on {self.host}:{self.port}: {reason}") from None
        self.port = self._server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        """Stop listening, close every connection with 1001 and flush every file."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=False)
        sessions = list(self._sessions)
        if sessions:
            await asyncio.gather(
                *(s.shutdown(SHUTDOWN_CODE, SHUTDOWN_REASON) for s in sessions),
                return_exceptions=True,
            )
        await server.wait_closed()
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def wait_for_sessions(
        self, count: int, timeout: float = 10.0
    ) -> list[ProxySessionSummary]:
        """Wait until `count` connections have ended and their files are complete."""
        condition = self._finished_changed
        if condition is None:
            raise RuntimeError("the proxy is not running")

        async def reached() -> None:
            async with condition:
                await condition.wait_for(lambda: len(self.finished) >= count)

        await asyncio.wait_for(reached(), timeout)
        return list(self.finished)

    # -- the handshake: authenticate, open the file, dial the upstream -------------------------

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if "websocket" not in request.headers.get("Upgrade", "").lower():
            return None  # not a WebSocket request: websockets answers 426 itself
        client = cast(_ClientLeg, conn)
        headers = list(request.headers.raw_items())
        if self.auth_token is not None and not _token_matches(
            presented_token(headers, request.path), self.auth_token
        ):
            return conn.respond(401, f"rt proxy: missing or wrong {AUTH_HEADER}\n")
        path = without_token(request.path)
        offered = offered_subprotocols(request.headers)
        url = upstream_url(self.upstream, path)
        session = _Session(self)
        try:
            session.recording = self._new_recording(
                upstream=url,
                path=without_token(request.path, replacement=REDACTED),
                headers=[(n, REDACTED if _is_auth_header(n) else v) for n, v in headers],
                subprotocols=offered,
                on_write_error=session.write_failed_from_thread,
            )
        except OSError as exc:
            self._report_write_error(self.out_dir, exc)
            return conn.respond(503, f"rt proxy: cannot create a session file: {exc}\n")
        upstream_headers = [(n, v) for n, v in forwarded_headers(headers) if not _is_auth_header(n)]
        if not has_credentials(upstream_headers, offered, path):
            upstream_headers += self._fallback_credentials
        try:
            session.upstream = await self._dial(url, upstream_headers, offered)
        except InvalidStatus as exc:
            return self._refused(session, conn, exc.response)
        except (TimeoutError, asyncio.TimeoutError):
            message = f"the upstream did not answer within {self.open_timeout:g} s"
            return self._unreachable(session, conn, 504, message, url)
        except (OSError, WebSocketException, ValueError) as exc:
            return self._unreachable(session, conn, 502, f"cannot reach the upstream: {exc}", url)
        except BaseException:  # cancelled: the client's handshake timed out or the proxy stops
            session.abandon_later("the client's handshake did not complete")
            raise
        session.recording.opened(session.upstream.subprotocol, _response_headers(session.upstream))
        client.session = session
        self._sessions.add(session)
        return None

    async def _dial(
        self, url: str, headers: list[tuple[str, str]], subprotocols: list[str]
    ) -> ClientConnection:
        options: dict[str, Any] = {}
        if self.upstream_ssl is not None and url.startswith("wss:"):
            options["ssl"] = self.upstream_ssl
        return await _Dial(
            url,
            additional_headers=headers,
            subprotocols=[Subprotocol(p) for p in subprotocols] or None,
            user_agent_header=None,  # the client's own User-Agent is among `headers`
            compression=None,
            max_size=None,
            open_timeout=self.open_timeout,
            close_timeout=self.close_timeout,
            **options,
        )

    def _new_recording(
        self,
        *,
        upstream: str,
        path: str,
        headers: Iterable[tuple[str, str]],
        subprotocols: list[str],
        on_write_error: Callable[[BaseException], None],
    ) -> Recording:
        return Recording(
            self.out_dir,
            upstream=upstream,
            path=path,
            headers=headers,
            subprotocols=subprotocols,
            on_write_error=on_write_error,
        )

    def _refused(self, session: _Session, conn: ServerConnection, refusal: Response) -> Response:
        status = f"HTTP {refusal.status_code} {refusal.reason_phrase}".rstrip()
        body = bytes(refusal.body)
        detail = body.decode("utf-8", "replace")[:_MAX_DETAIL] or None
        session.recording.error(f"upstream refused the connection: {status}", detail)
        session.ended("server", None, status)
        session.error = f"upstream refused the connection: {status}"
        self._spawn(session.finish())
        headers = Headers(
            (n, v) for n, v in refusal.headers.raw_items() if n.lower() not in _NOT_RELAYED
        )
        headers["Content-Length"] = str(len(body))
        headers["Connection"] = "close"
        return Response(refusal.status_code, refusal.reason_phrase, headers, body)

    def _unreachable(
        self, session: _Session, conn: ServerConnection, status: int, message: str, url: str
    ) -> Response:
        session.recording.error(message, url)
        session.ended("proxy", None, "upstream unreachable")
        session.error = message
        self._spawn(session.finish())
        return conn.respond(status, f"rt proxy: {message}\n")

    def _process_response(
        self, conn: ServerConnection, request: Request, response: Response
    ) -> None:
        session = cast(_ClientLeg, conn).session
        if session is None or response.status_code != 101:
            return
        # The client sees the upstream's response headers (request ids, Server, cookies...).
        for name, value in _response_headers(session.upstream):
            if name.lower() not in _NOT_RELAYED:
                response.headers[name] = value

    # -- relaying ------------------------------------------------------------------------------

    async def _relay(self, conn: ServerConnection) -> None:
        session = cast(_ClientLeg, conn).session
        assert session is not None  # set by _process_request before the handshake completes
        await session.relay(conn)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _report_write_error(self, path: Path, exc: BaseException) -> None:
        if self.on_write_error is not None:
            self.on_write_error(path, exc)

    async def _session_finished(self, session: _Session, summary: ProxySessionSummary) -> None:
        self._sessions.discard(session)
        self.finished.append(summary)
        if self.on_session_end is not None:
            self.on_session_end(summary)
        if self._finished_changed is not None:
            async with self._finished_changed:
                self._finished_changed.notify_all()


class _Dial(connect):
    """Dials the upstream without following redirects: the client gets the 3xx and decides."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


class _ClientLeg(ServerConnection):
    """The client's connection; carries its session from the handshake to the handler.

    A handshake can still fail after the upstream was dialled (the client went away, the proxy
    began shutting down, the open timeout expired): then nothing else would close the upstream.
    """

    session: _Session | None = None

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().handshake(*args, **kwargs)
        finally:
            if self.session is not None and self.protocol.state is not State.OPEN:
                self.session.abandon_later("the client's handshake did not complete")


def _upstream_subprotocol(
    conn: ServerConnection, offered: Iterable[Subprotocol]
) -> Subprotocol | None:
    session = cast(_ClientLeg, conn).session
    return None if session is None else session.upstream.subprotocol


class _Session:
    """One client connection, its upstream connection and its recording."""

    recording: Recording
    upstream: ClientConnection

    def __init__(self, proxy: RecordingProxy) -> None:
        self.proxy = proxy
        self.loop = asyncio.get_running_loop()
        self.client: ServerConnection | None = None
        self.closing: tuple[int, str] | None = None
        self.closed_by: Closer | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.error: str | None = None
        self._finished = False

    async def relay(self, client: ServerConnection) -> None:
        self.client = client
        try:
            if self.closing is not None:  # the proxy began closing during the handshake
                await client.close(*self.closing)
            await asyncio.gather(
                self._pump(client, self.upstream, "client"),
                self._pump(self.upstream, client, "server"),
            )
        finally:
            await self._close_both()
            await self.finish()

    async def _pump(self, src: Connection, dst: Connection, direction: Direction) -> None:
        """Copy frames from `src` to `dst`, recording each one before it is forwarded.

        Once `dst` is gone the pump keeps reading (and recording) `src` until it closes too, so
        that the closing handshake is not stuck behind unread frames.
        """
        record = self.recording.frame
        strict = self.proxy.strict
        forwarding = True
        while True:
            try:
                message = await src.recv()
            except ConnectionClosed as closed:
                await self._ended(direction, closed, dst)
                return
            record(direction, message)
            if strict and forwarding and self.recording.write_failed:
                forwarding = False  # unrecorded traffic must not flow
                self.proxy._spawn(self.shutdown(WRITE_FAILED_CODE, WRITE_FAILED_REASON))
            if forwarding:
                try:
                    await dst.send(message)
                except ConnectionClosed:
                    forwarding = False

    async def _ended(self, direction: Direction, closed: ConnectionClosed, dst: Connection) -> None:
        """The first leg to end decides the `close` line; its close is relayed to the other."""
        if self.closing is not None:
            return  # an echo of a close the proxy started
        rcvd, sent = closed.rcvd, closed.sent
        by: Closer
        if sent is not None and not closed.rcvd_then_sent:
            # websockets on the proxy failed the leg itself (protocol error, keepalive timeout).
            by, code, reason = "proxy", sent.code, sent.reason
        elif rcvd is not None:
            by, code, reason = direction, rcvd.code, rcvd.reason
        else:
            by, code, reason = direction, NO_CLOSE_FRAME, ""
        self.closing = (code, reason)
        self.ended(by, code, reason)
        if code == NO_CLOSE_FRAME:
            dst.transport.close()  # mirror a dropped connection: pending data, then FIN
        elif code == EMPTY_CLOSE_FRAME:
            # websockets sends a close frame without a status when the code is None.
            await dst.close(None)  # type: ignore[arg-type]
        else:
            await dst.close(code, reason)

    def ended(self, by: Closer, code: int | None, reason: str) -> None:
        """Note who ended the connection; the `close` line is written once both legs are done,
        after any frame still in flight, so that it is the file's last line."""
        if self.closed_by is None:
            self.closed_by, self.close_code, self.close_reason = by, code, reason

    async def shutdown(self, code: int, reason: str) -> None:
        """Close both legs on the proxy's own initiative (Ctrl-C, strict write failure)."""
        if self.closing is not None:
            return
        self.closing = (code, reason)
        self.ended("proxy", code, reason)
        legs = [leg for leg in (self.client, getattr(self, "upstream", None)) if leg is not None]
        await asyncio.gather(*(leg.close(code, reason) for leg in legs), return_exceptions=True)

    async def _close_both(self) -> None:
        legs = [leg for leg in (self.client, self.upstream) if leg is not None]
        code, reason = self.closing or (1000, "")
        if code in (NO_CLOSE_FRAME, EMPTY_CLOSE_FRAME):
            code, reason = 1000, ""
        await asyncio.gather(*(leg.close(code, reason) for leg in legs), return_exceptions=True)

    # -- write failures (reported by the writer thread) ----------------------------------------

    def write_failed_from_thread(self, exc: BaseException) -> None:
        # If the loop is gone, finish() still reports the failure in the summary.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._write_failed, exc)

    def _write_failed(self, exc: BaseException) -> None:
        self.proxy._report_write_error(self.recording.path, exc)
        if self.proxy.strict and not self._finished:
            self.proxy._spawn(self.shutdown(WRITE_FAILED_CODE, WRITE_FAILED_REASON))

    # -- the end -------------------------------------------------------------------------------

    def abandon_later(self, reason: str) -> None:
        """Close the upstream and finish the file of a client that never got connected."""
        if self._finished:
            return
        self.proxy._spawn(self._abandon(reason))

    async def _abandon(self, reason: str) -> None:
        if self.closing is None:
            self.closing = (SHUTDOWN_CODE, reason)
            self.recording.error(reason)
            self.ended("proxy", None, reason)
        upstream = getattr(self, "upstream", None)
        if upstream is not None:
            await upstream.close(SHUTDOWN_CODE, "client went away")
        await self.finish()

    async def finish(self) -> None:
        """Flush and close the file, then report the summary (once)."""
        if self._finished:
            return
        self._finished = True
        if self.closed_by is None:  # only after a bug in the relay: still end the file cleanly
            self.ended("proxy", None, "the proxy stopped relaying unexpectedly")
        self.recording.closed(self.closed_by or "proxy", self.close_code, self.close_reason)
        try:
            summary = await self.recording.afinish()
        except asyncio.CancelledError:
            self.recording.finish()  # the loop is going away: flush synchronously
            raise
        fields = {f.name: getattr(summary, f.name) for f in dataclasses.fields(summary)}
        await self.proxy._session_finished(
            self,
            ProxySessionSummary(
                **fields,
                closed_by=self.closed_by,
                close_code=self.close_code,
                close_reason=self.close_reason,
                error=self.error,
            ),
        )


# -- pure helpers ------------------------------------------------------------------------------


def _response_headers(upstream: ClientConnection) -> list[tuple[str, str]]:
    return [] if upstream.response is None else list(upstream.response.headers.raw_items())


def offered_subprotocols(headers: Headers) -> list[str]:
    """The subprotocols a client offered, in its order."""
    return [
        p.strip()
        for value in headers.get_all("Sec-WebSocket-Protocol")
        for p in value.split(",")
        if p.strip()
    ]


def presented_token(headers: Iterable[tuple[str, str]], path: str) -> str | None:
    """The proxy token a client presented: the `X-Rt-Token` header, else the `rt_token` query."""
    for name, value in headers:
        if _is_auth_header(name):
            return value.strip()
    for part in urlsplit(path).query.split("&"):
        name, _, value = part.partition("=")
        if unquote_plus(name) == AUTH_QUERY_PARAM:
            return unquote_plus(value)
    return None


def _is_auth_header(name: str) -> bool:
    return name.lower() == "x-rt-token"


def _token_matches(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(
        presented.encode("utf-8"), expected.encode("utf-8")
    )


def without_token(path: str, replacement: str | None = None) -> str:
    """`path` without its `rt_token` query parameter (or with its value replaced).

    The rest of the query is kept byte for byte, so the upstream sees what the client sent.
    """
    base, sep, query = path.partition("?")
    if not sep or AUTH_QUERY_PARAM not in query:
        return path
    kept = []
    for part in query.split("&"):
        name = part.partition("=")[0]
        if unquote_plus(name) != AUTH_QUERY_PARAM:
            kept.append(part)
        elif replacement is not None:
            kept.append(f"{name}={replacement}")
    return base + ("?" + "&".join(kept) if kept else "")


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
