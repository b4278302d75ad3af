"""The recording proxy: accept a client, dial the upstream, relay both ways, record every frame.

    async with RecordingProxy(upstream="wss://api.openai.com", out_dir="sessions", port=0) as proxy:
        ...  # point clients at proxy.url (e.g. the SDK's websocket_base_url=proxy.url + "/v1")
        summaries = await proxy.wait_for_sessions(1)

One client connection is one `_Session`: the proxy dials the upstream while the client's
handshake is still open (in `process_request`), so the client gets the upstream's chosen
subprotocol, or the upstream's own HTTP refusal, exactly as if it had dialled the upstream
itself. The first leg that closes decides the `close` line and its code and reason are relayed
to the other leg; an upstream that vanishes without a close frame (reset, crash) gets the client
a 1014 "upstream connection lost" instead of an anonymous 1006.

The hot path has no queue and no task switch per frame. A `_Forwarder` per direction takes each
data frame where websockets parses it (`data_received`), stamps it and hands it to the session
file's writer (a list append: never blocks, never raises), and serialises it for the other leg;
the frames of one read go out in one write. Memory stays bounded however peers behave:

- a slow reader: while a leg's write buffer is above websockets' `write_limit` (32 KiB), the
  other leg is not read, so TCP holds the sender back (a client that stops reading stalls its
  upstream, not the proxy's memory); what one read brings is the overshoot;
- a slow disk: frames wait for the writer thread within one `WriteBudget` shared by every
  session (`max_pending_bytes`); beyond it frames are not recorded (forwarding goes on) and the
  file says how many were lost.

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
import struct
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import unquote_plus, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.frames import BINARY, CONT, TEXT, CloseCode, Frame, Opcode, apply_mask
from websockets.http11 import Request, Response
from websockets.protocol import Event, Side, State
from websockets.typing import BytesLike, Subprotocol

from recorder.errors import InputError
from recorder.recording import FileOpener, Recording, RecordingSummary, RecordTap
from recorder.session import REDACTED, Closer, Direction, redact_url, scrub, secret_values
from recorder.store import DEFAULT_MAX_PENDING_BYTES, WriteBudget, create_session_file
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
# The IANA code for "a gateway or proxy received an invalid response from the upstream": what the
# client gets when the upstream's connection ended without a close frame (reset, crash, FIN).
UPSTREAM_LOST_CODE = 1014
UPSTREAM_LOST_REASON = "rt proxy: upstream connection lost without a close frame"

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
_DATA = frozenset({TEXT, BINARY, CONT})
_MAX_WAITING_FRAMES = 16  # websockets' own max_queue

WriteErrorHandler = Callable[[Path, BaseException], None]


class SessionObserver(Protocol):
    """Gives each new session a tap on its records (`recorder.telemetry.LiveTelemetry`)."""

    def session_started(self) -> RecordTap: ...


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
    `max_pending_bytes` bounds the frames waiting for the disk across all sessions
    (`write_budget`); `open_file(out_dir, session_id)` creates each session file;
    `observer.session_started()` gives each session a tap that sees its records (live
    telemetry: `recorder.telemetry.LiveTelemetry`).
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
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        open_file: FileOpener = create_session_file,
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
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.write_budget = WriteBudget(max_pending_bytes)
        self.open_file = open_file
        self.observer = observer
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
        session.secrets = secret_values(upstream_headers + headers, offered, path)
        try:
            session.upstream = await self._dial(session, url, upstream_headers, offered)
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
        client.session = session
        client.forwarder = _Forwarder(session, "client", client)
        self._sessions.add(session)
        return None

    async def _dial(
        self,
        session: _Session,
        url: str,
        headers: list[tuple[str, str]],
        subprotocols: list[str],
    ) -> ClientConnection:
        options: dict[str, Any] = {}
        if self.upstream_ssl is not None and url.startswith("wss:"):
            options["ssl"] = self.upstream_ssl
        return await _Dial(
            url,
            create_connection=_upstream_leg(session),  # type: ignore[arg-type]
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
            budget=self.write_budget,
            open_file=self.open_file,
            tap=None if self.observer is None else self.observer.session_started(),
        )

    def _refused(self, session: _Session, conn: ServerConnection, refusal: Response) -> Response:
        status = f"HTTP {refusal.status_code} {refusal.reason_phrase}".rstrip()
        body = bytes(refusal.body)
        detail = body.decode("utf-8", "replace")[:_MAX_DETAIL] or None
        session.error = f"upstream refused the connection: {status}"
        session.record_error(session.error, detail)
        session.ended("server", None, status)
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
        # Some messages quote the URL, and with it the client's query (`api-key=...`).
        session.error = scrub(message.replace(url, redact_url(url)), session.secrets)
        session.record_error(session.error, redact_url(url))
        session.ended("proxy", None, "upstream unreachable")
        self._spawn(session.finish())
        return conn.respond(status, f"rt proxy: {session.error}\n")

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


class _Leg(Connection):
    """What both legs add to a websockets connection to relay frames without queueing them.

    A data frame is handed to `forwarder` right where websockets parses it (in
    `data_received`), never to the connection's message queue: `recv()` on a leg only ever
    raises ConnectionClosed. Backpressure goes the other way: while this leg's write buffer is
    above its high-water mark (websockets' `write_limit`, 32 KiB), the leg that feeds it stops
    reading, so a client that stops reading holds the upstream back through TCP instead of
    filling the proxy's memory.
    """

    forwarder: _Forwarder | None = None  # set before the first frame can arrive
    feeder: Connection | None = None  # the leg whose frames are written into this one

    def process_event(self, event: Event) -> None:
        if self.forwarder is not None and isinstance(event, Frame) and event.opcode in _DATA:
            self.forwarder.take(event)
        else:
            super().process_event(event)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.forwarder is not None:
            self.forwarder.flush()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.feeder is not None:
            self.feeder.transport.pause_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.feeder is not None:
            self.feeder.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.feeder is not None:  # nothing to wait for any more: read (and record) the rest
            self.feeder.transport.resume_reading()


class _ClientLeg(_Leg, ServerConnection):
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


class _UpstreamLeg(_Leg, ClientConnection):
    """The proxy's connection to the upstream. The `open` line is written as the handshake
    response is parsed, so that it comes before any frame that arrived with it."""

    def process_event(self, event: Event) -> None:
        super().process_event(event)
        if isinstance(event, Response) and self.protocol.state is State.OPEN:
            assert self.forwarder is not None
            self.forwarder.session.recording.opened(self.subprotocol, _response_headers(self))


def _upstream_leg(session: _Session) -> Callable[..., ClientConnection]:
    """A connection factory for `connect` whose frames belong to `session` from the first one:
    the upstream may send `session.created` in the same packet as its handshake response."""

    def create(*args: Any, **kwargs: Any) -> ClientConnection:
        leg = _UpstreamLeg(*args, **kwargs)
        leg.forwarder = _Forwarder(session, "server", leg)
        return leg

    return create


def _upstream_subprotocol(
    conn: ServerConnection, offered: Iterable[Subprotocol]
) -> Subprotocol | None:
    session = cast(_ClientLeg, conn).session
    return None if session is None else session.upstream.subprotocol


class _Forwarder:
    """One direction of a session: each message is recorded as it arrives on `src` (its time
    taken then, before forwarding) and its frames go to `dst` at once, as they came (a
    fragmented message stays fragmented). Until `dst` is open (the upstream can speak before
    the client's handshake is done), frames wait in order and reading pauses once a few wait.
    Once `dst` is closed, frames are still read and recorded, so that the closing handshake
    is not stuck behind them.
    """

    def __init__(self, session: _Session, direction: Direction, src: Connection) -> None:
        self.session = session
        self.direction: Direction = direction
        self.src = src
        self.dst: Connection | None = None
        self.waiting: list[Frame] = []
        self.parts: list[BytesLike] = []  # of a fragmented message
        self.text = False  # whether the message in `parts` is text
        self.forwarding = True
        self.unflushed = False

    def start(self, dst: Connection) -> None:
        """Forward to `dst` from now on, the frames that waited first."""
        self.dst = dst
        dst.feeder = self.src  # type: ignore[attr-defined]
        waiting, self.waiting = self.waiting, []
        for frame in waiting:
            self._send(frame)
        self.flush()
        if len(waiting) >= _MAX_WAITING_FRAMES and not dst.paused:  # else dst resumes it
            self.src.transport.resume_reading()

    def take(self, frame: Frame) -> None:
        if frame.fin and not self.parts:
            payload: str | bytes | None = self._payload(frame.opcode is TEXT, frame.data)
        else:
            if frame.opcode is not CONT:
                self.text = frame.opcode is TEXT
            self.parts.append(frame.data)
            payload = None
            if frame.fin:
                whole, self.parts = b"".join(self.parts), []
                payload = self._payload(self.text, whole)
        if payload is not None:
            self.session.recording.frame(self.direction, payload)
            if self.session.proxy.strict and self.session.recording.write_failed:
                self.session.stop_unrecorded_traffic()
        if self.dst is None:
            self.waiting.append(frame)
            if len(self.waiting) == _MAX_WAITING_FRAMES:
                self.src.transport.pause_reading()
        else:
            self._send(frame)

    def _payload(self, text: bool, data: BytesLike) -> str | bytes | None:
        if not text:
            return bytes(data)
        try:
            return bytes(data).decode()
        except UnicodeDecodeError as exc:  # as websockets itself does: fail with 1007
            self.src.protocol.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
            self.src.send_data()
            self.forwarding = False
            return None

    def _send(self, frame: Frame) -> None:
        """Serialise `frame` for `dst`; `flush` writes it."""
        dst = self.dst
        if dst is None or not self.forwarding or self.session.forwarding_stopped:
            return
        protocol = dst.protocol
        if protocol.state is not State.OPEN:
            return
        if frame.fin and not protocol.expect_continuation_frame and not protocol.extensions:
            # A whole message: websockets' send_text would do the same, slower (a BytesIO, and a
            # getrandom system call for each mask).
            mask = _MASKS.next() if protocol.side is Side.CLIENT else None
            protocol.writes.append(_frame_bytes(frame.opcode, frame.data, mask))
            self.unflushed = True
            return
        try:
            if frame.opcode is TEXT:
                protocol.send_text(frame.data, fin=frame.fin)
            elif frame.opcode is BINARY:
                protocol.send_binary(frame.data, fin=frame.fin)
            else:
                protocol.send_continuation(frame.data, fin=frame.fin)
        except WebSocketException:  # a fragmented message cut short by a close
            self.forwarding = False
            return
        self.unflushed = True

    def flush(self) -> None:
        """Write what `_send` serialised since the last flush, in one write: frames that came in
        one read go out in one write (one system call, one wake-up of the reader), so a proxy
        that falls behind catches up instead of paying per frame. Nothing waits for it: it runs
        at the end of every read."""
        if not self.unflushed or self.dst is None:
            return
        self.unflushed = False
        dst = self.dst
        writes = dst.protocol.data_to_send()
        try:
            if len(writes) == 1:
                dst.transport.write(writes[0])
            elif all(writes):
                dst.transport.write(b"".join(writes))
            else:  # an end-of-stream marker among them: websockets' own way
                dst.protocol.writes[:0] = writes  # type: ignore[attr-defined]
                dst.send_data()
        except Exception:  # a write error: the leg is closing and its own close says why
            self.forwarding = False


class _MaskSource:
    """Masking keys for frames to the upstream, 1024 of them per `os.urandom` call: RFC 6455
    wants them unpredictable (a strong source), not one system call each."""

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def next(self) -> bytes:
        if self._at >= len(self._pool):
            self._pool, self._at = os.urandom(4096), 0
        at = self._at
        self._at = at + 4
        return self._pool[at : at + 4]


_MASKS = _MaskSource()


def _frame_bytes(opcode: Opcode, data: BytesLike, mask: bytes | None) -> bytes:
    """One unfragmented data frame on the wire (RFC 6455 §5.2), masked when `mask` is given."""
    length = len(data)
    first, masked = 0x80 | opcode, 0x80 if mask is not None else 0
    if length < 126:
        head = bytes((first, masked | length))
    elif length < 65536:
        head = struct.pack("!BBH", first, masked | 126, length)
    else:
        head = struct.pack("!BBQ", first, masked | 127, length)
    if mask is None:
        return head + data
    return head + mask + apply_mask(data, mask)


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
        self.forwarding_stopped = False
        self.secrets: list[str] = []
        self._finished = False

    async def relay(self, client: ServerConnection) -> None:
        self.client = client
        upstream = self.upstream
        try:
            if self.closing is not None:  # the proxy began closing during the handshake
                await client.close(*self.closing)
            for leg, other in ((upstream, client), (client, upstream)):
                forwarder = cast(_Leg, leg).forwarder
                assert forwarder is not None  # set when the leg was made
                forwarder.start(other)
            await asyncio.gather(
                self._watch(client, upstream, "client"),
                self._watch(upstream, client, "server"),
            )
        finally:
            await self._close_both()
            await self.finish()

    async def _watch(self, src: Connection, dst: Connection, direction: Direction) -> None:
        """Wait for `src` to end (its frames are forwarded by its `_Forwarder`)."""
        while True:
            try:
                await src.recv()  # returns nothing: data frames never reach the queue
            except ConnectionClosed as closed:
                await self._ended(direction, closed, dst)
                return

    def record_error(self, message: str, detail: str | None = None) -> None:
        """An `error` line, without the secrets of this session's request (an upstream's error
        page may quote the key it was given)."""
        self.recording.error(
            scrub(message, self.secrets), None if detail is None else scrub(detail, self.secrets)
        )

    def stop_unrecorded_traffic(self) -> None:
        """--strict: a frame could not be recorded, so nothing more is forwarded."""
        if not self.forwarding_stopped:
            self.forwarding_stopped = True
            self.proxy._spawn(self.shutdown(WRITE_FAILED_CODE, WRITE_FAILED_REASON))

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
        if code == NO_CLOSE_FRAME and direction == "server":
            # A client cannot tell a dead upstream from a dead proxy by 1006: say which it was.
            await dst.close(UPSTREAM_LOST_CODE, UPSTREAM_LOST_REASON)
        elif code == NO_CLOSE_FRAME:
            dst.transport.close()  # mirror a vanished client: pending data, then FIN
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
            self.stop_unrecorded_traffic()

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
