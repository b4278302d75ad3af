"""One proxied connection: the HTTP upgrade relayed to the upstream, the two legs, the close.

One client connection is one `ProxiedConnection`. The proxy reads the client's HTTP upgrade
request, sends the upstream the same request (recorder/handshake.py: `Host` rewritten, the
proxy's token and `Sec-WebSocket-Extensions` removed, a key from the environment added for a
client that sent none) and gives the client the upstream's answer byte for byte: its 101 (the
accept key is computed from the client's own `Sec-WebSocket-Key`), its chosen subprotocol, or
its refusal with status, headers and body. The client sees what it would have seen dialling the
upstream itself. Then two `Relay`s (recorder/relay.py) carry the frames.

Closes pass through like any frame: the side that sends the first close frame is the one the
`close` line names, with its code and reason. The proxy speaks itself only when it must: to
give a client 1014 "upstream connection lost" when the upstream vanished without a close frame
(reset, crash, FIN), to close both sides with 1001 when it stops, with 1011 under --strict when
a frame cannot be recorded, and with 1002 when a peer breaks the protocol.

Memory stays bounded however peers behave: a leg whose writes back up (a client that stops
reading) pauses the reading of the other leg, so TCP holds the sender back.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hmac
import socket
import ssl
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, unquote_plus, urlsplit

from recorder.handshake import (
    MAX_HEAD_BYTES,
    MAX_RESPONSE_HEAD_BYTES,
    BodyReader,
    HandshakeError,
    RequestHead,
    ResponseHead,
    forwarded_request_headers,
    head_end,
    looks_like_tls,
    parse_request_head,
    parse_response_head,
    proxy_response,
    request_bytes,
    response_bytes,
    websocket_problem,
)
from recorder.recording import Recording, RecordingSummary, Unrecorded
from recorder.redaction import REDACTED, SecretScrubber, redact_url, secret_values
from recorder.relay import Relay
from recorder.session import Closer, Direction
from recorder.upstream import dial_address, has_credentials, upstream_url

if TYPE_CHECKING:
    from recorder.proxy import RecordingProxy

AUTH_HEADER = "X-Rt-Token"
AUTH_QUERY_PARAM = "rt_token"
SHUTDOWN_CODE = 1001
SHUTDOWN_REASON = "proxy shutting down"
WRITE_FAILED_CODE = 1011
WRITE_FAILED_REASON = "rt proxy: session file write failed"
NOT_RECORDED_REASON = "rt proxy: a frame could not be recorded (--strict)"
PROTOCOL_ERROR_CODE = 1002
NO_CLOSE_FRAME = 1006  # what a WebSocket library reports when the TCP connection just ended
# The IANA code for "a gateway or proxy received an invalid response from the upstream": what the
# client gets when the upstream's connection ended without a close frame (reset, crash, FIN).
UPSTREAM_LOST_CODE = 1014
UPSTREAM_LOST_REASON = "rt proxy: upstream connection lost without a close frame"
_MAX_DETAIL = 2000


@dataclasses.dataclass(frozen=True)
class ProxySessionSummary(RecordingSummary):
    """A finished proxied connection: the recording, how it ended and any proxy fault."""

    closed_by: Closer | None = None
    close_code: int | None = None
    close_reason: str = ""
    error: str | None = None


def no_delay(sock: Any) -> None:
    """Send each write at once (no Nagle delay): frames are latency-sensitive."""
    if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# -- the two legs --------------------------------------------------------------------------------


class _Leg(asyncio.Protocol):
    """One TCP (or TLS) connection of a session. While its writes back up, the leg that feeds
    it is not read (so TCP holds that sender back instead of the proxy's memory filling up)."""

    transport: asyncio.Transport
    relay: Relay | None = None  # the direction whose frames this leg receives
    feeder: _Leg | None = None  # the leg whose frames are written into this one
    lost = False

    def pause_writing(self) -> None:
        if self.feeder is not None and not self.feeder.lost:
            self.feeder.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.feeder is not None and not self.feeder.lost:
            self.feeder.transport.resume_reading()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.lost and not self.transport.is_closing():
            self.transport.write(data)


class _ClientLeg(_Leg):
    """The client's connection: its HTTP upgrade request, then its frames."""

    def __init__(self, proxy: RecordingProxy, peer: str) -> None:
        self.proxy = proxy
        self.peer = peer
        self.head = bytearray()
        self.session: ProxiedConnection | None = None
        self.early = bytearray()  # bytes sent after the request, before the upgrade completed
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.proxy._clients.add(self)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.proxy.open_timeout + 5, self.abort_handshake)

    def data_received(self, data: bytes) -> None:
        relay = self.relay
        if relay is not None:
            relay.feed(data)
            return
        if self.session is not None:  # the upstream has not answered yet
            self.early += data
            self.transport.pause_reading()
            return
        self.head += data
        if looks_like_tls(self.head):
            self.proxy.notice(
                f"refused {self.peer}: it spoke TLS (wss://) to this plain listener; "
                f"the client should dial {self.proxy.url}, or start the proxy with --tls"
            )
            self._done_with_handshake()
            self.transport.abort()
            return
        end = head_end(self.head)
        if end < 0:
            if len(self.head) > MAX_HEAD_BYTES:
                self.refuse(431, "the request head is too large")
            return
        head, self.early = bytes(self.head[:end]), bytearray(self.head[end:])
        self.head = bytearray()
        try:
            request = parse_request_head(head)
        except HandshakeError as exc:
            self.refuse(exc.status, exc.reason)
            return
        self.transport.pause_reading()
        self.session = ProxiedConnection(self.proxy, self, request)
        self.proxy._spawn(self.session.open())

    def refuse(self, status: int, reason: str, notice: str | None = None) -> None:
        """Answer the handshake with `status` and close (no session, no file)."""
        if notice is not None:
            self.proxy.notice(notice)
        self.write(proxy_response(status, reason))
        self._done_with_handshake()
        self.transport.close()

    def relay_from_now(self, relay: Relay) -> None:
        self.relay = relay
        self._done_with_handshake()

    def _done_with_handshake(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.proxy._clients.discard(self)

    def abort_handshake(self) -> None:
        """The handshake took too long, or the proxy is stopping before it completed."""
        if self.relay is None:
            self._done_with_handshake()
            if self.session is not None:
                self.session.cancel_open()
            else:
                self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._done_with_handshake()
        if self.session is not None:
            self.session.leg_lost("client")


class _UpstreamLeg(_Leg):
    """The proxy's connection to the upstream: its HTTP response, then its frames."""

    def __init__(self, session: ProxiedConnection) -> None:
        self.session = session
        self.buffer = bytearray()
        loop = asyncio.get_running_loop()
        self.head: asyncio.Future[tuple[ResponseHead, bytes]] = loop.create_future()
        self.body: BodyReader | None = None
        self.body_done: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        relay = self.relay
        if relay is not None:
            relay.feed(data)
            return
        if self.body is not None:
            if self.body.feed(data) and not self.body_done.done():
                self.body_done.set_result(None)
            return
        self.buffer += data
        if self.head.done():  # frames that came with the 101, before the relay started
            self.transport.pause_reading()
            return
        end = head_end(self.buffer)
        if end < 0:
            if len(self.buffer) > MAX_RESPONSE_HEAD_BYTES:
                self.head.set_exception(ValueError("the upstream's response head is too large"))
            return
        try:
            head = parse_response_head(bytes(self.buffer[:end]))
        except ValueError as exc:
            self.head.set_exception(exc)
            return
        rest = bytes(self.buffer[end:])
        self.buffer = bytearray()
        if head.status != 101:
            self.body = BodyReader(head)
            if self.body.feed(rest):
                self.body_done.set_result(None)
            rest = b""
        self.head.set_result((head, rest))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.head.done():
            self.head.set_exception(ConnectionError("the upstream closed the connection"))
        if not self.body_done.done():
            self.body_done.set_result(None)
        self.session.leg_lost("server")


class ProxiedConnection:
    """One client connection, its upstream connection and its recording (see the module
    docstring)."""

    recording: Recording

    def __init__(self, proxy: RecordingProxy, client: _ClientLeg, request: RequestHead) -> None:
        self.proxy = proxy
        self.loop = asyncio.get_running_loop()
        self.client = client
        self.request = request
        self.upstream: _UpstreamLeg | None = None
        self.scrubber = SecretScrubber()
        self.closed_by: Closer | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.error: str | None = None
        self.proxy_closing = False
        self.close_from: dict[Direction, bool] = {"client": False, "server": False}
        self.close_to: dict[Direction, bool] = {"client": False, "server": False}
        self.relays: list[Relay] = []
        self.ended_event = asyncio.Event()
        self._opening: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._finished = False
        self._recording_started = False
        self._reported = False

    # -- the handshake -------------------------------------------------------------------------

    async def open(self) -> None:
        self._opening = asyncio.current_task()
        try:
            await self._open()
        except asyncio.CancelledError:
            self._abandon("the client's handshake did not complete")
        except Exception as exc:  # a bug: the client gets 502, the file says what happened
            self._unreachable(502, f"rt proxy error: {type(exc).__name__}: {exc}", "")

    async def _open(self) -> None:
        proxy, request = self.proxy, self.request
        problem = websocket_problem(request)
        if problem is not None:
            notice = f"refused {self.client.peer}: {problem.reason} ({request.method} {redact_url(request.target)})"
            self._refuse_before_session(problem.status, problem.reason, notice)
            return
        target = request.target
        headers = request.headers
        if proxy.auth_token is not None and not _token_matches(
            presented_token(headers, target), proxy.auth_token
        ):
            notice = f"refused {self.client.peer}: missing or wrong {AUTH_HEADER} (HTTP 401)"
            self._refuse_before_session(401, f"missing or wrong {AUTH_HEADER}", notice)
            return
        path = without_token(target)
        offered = offered_subprotocols(request)
        url = upstream_url(proxy.upstream, path)
        upstream_headers = forwarded_request_headers(request)
        upstream_headers += _userinfo_credentials(proxy.upstream)
        if not has_credentials(upstream_headers, offered, path):
            upstream_headers += proxy._fallback_credentials
        secrets = secret_values(upstream_headers + headers, offered, target)
        self.scrubber = SecretScrubber(
            [*secrets, *([proxy.auth_token] if proxy.auth_token else [])]
        )
        recorded_headers = [(n, REDACTED if _is_auth_header(n) else v) for n, v in headers]
        if not self._start_recording(
            url, without_token(target, REDACTED), recorded_headers, offered
        ):
            return
        proxy._sessions.add(self)
        if proxy.on_session_start is not None:
            proxy.on_session_start()
        host, port, tls, host_header = dial_address(url)
        context = None
        if tls:
            context = proxy.upstream_ssl or ssl.create_default_context()
        deadline = self.loop.time() + proxy.open_timeout
        try:
            _, upstream = await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: _UpstreamLeg(self),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if tls else None,
                    ssl_handshake_timeout=proxy.open_timeout if tls else None,
                ),
                proxy.open_timeout,
            )
            self.upstream = upstream
            sock = upstream.transport.get_extra_info("socket")
            if sock is not None:
                no_delay(sock)
            upstream.write(request_bytes(_target(url), host_header, upstream_headers))
            head, rest = await asyncio.wait_for(upstream.head, deadline - self.loop.time())
        except (asyncio.TimeoutError, TimeoutError):
            self._unreachable(
                504, f"the upstream did not answer within {proxy.open_timeout:g} s", url
            )
            return
        except (OSError, ValueError, ConnectionError) as exc:
            self._unreachable(502, f"cannot reach the upstream: {exc}", url)
            return
        if head.status != 101:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(upstream.body_done, max(0.5, deadline - self.loop.time()))
            assert upstream.body is not None
            self._refused(head, upstream.body.body())
            return
        if self.client.lost:
            self._abandon("the client went away before the upgrade completed")
            return
        self.recording.opened(head.get("Sec-WebSocket-Protocol"), head.headers)
        self.client.write(head.raw)
        self._start_relaying(upstream, rest)

    def _start_recording(
        self, url: str, recorded_path: str, headers: list[tuple[str, str]], offered: list[str]
    ) -> bool:
        proxy = self.proxy
        try:
            self.recording = Recording(
                proxy.out_dir,
                upstream=url,
                path=recorded_path,
                headers=headers,
                subprotocols=offered,
                on_write_error=self.write_failed_from_thread,
                budget=proxy.write_budget,
                open_file=proxy.open_file,
                scrubber=self.scrubber,
                tap=None if proxy.observer is None else proxy.observer.session_started(),
            )
        except OSError as exc:
            proxy._report_write_error(proxy.out_dir, exc)
            if proxy.strict:
                # No path in the body: the client is not the proxy's operator.
                self._refuse_before_session(
                    503, "cannot record this call, and --strict lets no unrecorded call through"
                )
                return False
            self.recording = Unrecorded(proxy.out_dir, exc, scrubber=self.scrubber)
        self._recording_started = True
        return True

    def _refuse_before_session(self, status: int, reason: str, notice: str | None = None) -> None:
        self.client.session = None
        self.client.refuse(status, reason, notice)

    def _refused(self, head: ResponseHead, body: bytes) -> None:
        status = f"HTTP {head.status} {head.reason}".rstrip()
        detail = body.decode("utf-8", "replace")[:_MAX_DETAIL] or None
        self.error = f"upstream refused the connection: {status}"
        self.recording.error(self.error, detail)
        self.ended("server", None, status)
        self.client.write(response_bytes(head.status, head.reason, head.headers, body))
        self._close_legs()

    def _unreachable(self, status: int, message: str, url: str) -> None:
        # Some messages quote the URL, and with it the client's query (`api-key=...`).
        if url:
            message = message.replace(url, redact_url(url))
        self.error = self.scrubber.text(message)
        if self._recording_started:
            self.recording.error(self.error, redact_url(url) if url else None)
        self.ended("proxy", None, "upstream unreachable")
        self.client.write(proxy_response(status, self.error))
        self._close_legs()

    def _abandon(self, reason: str) -> None:
        if self.closed_by is None:
            self.ended("proxy", None, reason)
        if self._recording_started:
            self.recording.error(reason)
        if self.upstream is not None and not self.upstream.lost and self.upstream.relay is None:
            self.upstream.transport.abort()
        self._close_legs(abort=True)

    def cancel_open(self) -> None:
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()

    def _close_legs(self, abort: bool = False) -> None:
        for leg in (self.client, self.upstream):
            if leg is not None and not leg.lost:
                if abort:
                    leg.transport.abort()
                else:
                    leg.transport.close()
        if not self._recording_started:
            return
        if self.client.lost and (self.upstream is None or self.upstream.lost):
            self._finish_soon()

    def _start_relaying(self, upstream: _UpstreamLeg, rest: bytes) -> None:
        client = self.client
        proxy = self.proxy
        # the largest message recorded whole: no larger than the budget it must fit in
        largest = min(proxy.max_frame_bytes, proxy.write_budget.limit)
        options: dict[str, Any] = {
            "max_frame_bytes": largest,
            "strict": proxy.strict,
            "later": proxy.recording_queue,
        }
        to_server = Relay(self, self.recording, "client", client, upstream, **options)
        to_client = Relay(self, self.recording, "server", upstream, client, **options)
        self.relays = [to_server, to_client]
        upstream.feeder, client.feeder = client, upstream
        upstream.relay = to_client
        client.relay_from_now(to_server)
        early_server, upstream.buffer = bytes(upstream.buffer), bytearray()
        if rest or early_server:
            to_client.feed(rest + early_server)
        if client.early:
            early, client.early = bytes(client.early), bytearray()
            to_server.feed(early)
        if not upstream.lost:
            upstream.transport.resume_reading()
        if not client.lost:
            client.transport.resume_reading()

    # -- closing -------------------------------------------------------------------------------

    def ended(self, by: Closer, code: int | None, reason: str) -> None:
        """Note who ended the connection (the first call counts); the `close` line is written
        once both legs are done, after any frame still in flight, as the file's last line."""
        if self.closed_by is None:
            self.closed_by, self.close_code = by, code
            self.close_reason = self.scrubber.text(reason)

    def close_frame(self, direction: Direction, code: int, reason: str, *, forwarded: bool) -> None:
        """`direction`'s side sent a close frame (relayed when `forwarded`)."""
        self.close_from[direction] = True
        other: Direction = "server" if direction == "client" else "client"
        if forwarded:
            self.close_to[other] = True
        self.ended(direction, code, reason)
        leg = self.client if direction == "client" else self.upstream
        # A reply to a close the proxy sent: that side's closing handshake is complete.
        replied = not forwarded or (self.upstream is not None and self.upstream.lost)
        if replied and leg is not None and not leg.lost:
            leg.transport.close()
        self._arm_close_timer()

    def close_sent_to(self, leg: _Leg) -> None:
        self.close_to["client" if leg is self.client else "server"] = True

    def shutdown(self, code: int, reason: str) -> None:
        """Close both legs on the proxy's own initiative (Ctrl-C, --strict, a protocol error)."""
        if not self.relays:
            self.cancel_open()
            return
        self.proxy_closing = True
        self.ended("proxy", code, reason)
        for relay in self.relays:
            if not relay.dst.lost and not self.close_to[_direction_of(self, relay.dst)]:
                relay.send_close(code, reason)
        self._arm_close_timer()

    def strict_stop(self, why: str) -> None:
        """--strict: a frame would go unrecorded (refused by the budget, too large, or the file
        failed): it was not forwarded, and both sides are closed with 1011."""
        failed = self.recording.writer.failed
        if failed is not None:
            self._write_failed(failed)
        elif not self.proxy_closing:
            self._report(_NotRecorded(why))
            self.shutdown(WRITE_FAILED_CODE, NOT_RECORDED_REASON)

    def violation(self, direction: Direction, problem: str) -> None:
        message = f"protocol error from the {direction}: {problem}"
        self.proxy.recording_queue.drain()  # the frames before it come first in the file
        if self.error is None:
            self.error = message
            self.recording.error(message)
        self.shutdown(PROTOCOL_ERROR_CODE, f"rt proxy: {message}"[:123])

    def leg_lost(self, direction: Direction) -> None:
        if not self.relays:  # still in the handshake: open() answers the client and ends
            if self._opening is not None and not self._opening.done():
                if direction == "client":
                    self.cancel_open()
                return
            self._close_legs()
            return
        client, upstream = self.client, self.upstream
        assert upstream is not None
        if direction == "server":
            if not self.close_from["server"]:
                self.ended("server", NO_CLOSE_FRAME, "")
            if not client.lost:
                if not self.close_to["client"]:
                    # A client cannot tell a dead upstream from a dead proxy by 1006: say which.
                    to_client = self.relays[1]
                    if to_client.cutter.at_boundary and to_client.forwarding:
                        to_client.send_close(UPSTREAM_LOST_CODE, UPSTREAM_LOST_REASON)
                    if self.close_from["client"] or not self.close_to["client"]:
                        client.transport.close()
                    else:
                        self._arm_close_timer()
                else:
                    client.transport.close()
        else:
            if not self.close_from["client"]:
                self.ended("client", NO_CLOSE_FRAME, "")
            if not upstream.lost:
                upstream.transport.close()  # mirror a vanished client: pending data, then FIN
        if client.lost and upstream.lost:
            self._finish_soon()

    def _arm_close_timer(self) -> None:
        if self._timer is None:
            self._timer = self.loop.call_later(self.proxy.close_timeout, self._abort)

    def _abort(self) -> None:
        for leg in (self.client, self.upstream):
            if leg is not None and not leg.lost:
                leg.transport.abort()

    # -- write failures (reported by the writer thread) ----------------------------------------

    def write_failed_from_thread(self, exc: BaseException) -> None:
        # If the loop is gone, finish() still reports the failure in the summary.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._write_failed, exc)

    def _write_failed(self, exc: BaseException) -> None:
        self._report(exc)
        if self.proxy.strict and not self._finished:
            self.shutdown(WRITE_FAILED_CODE, WRITE_FAILED_REASON)

    def _report(self, exc: BaseException) -> None:
        """One line per session about its file: the first failure is the one that matters."""
        if not self._reported:
            self._reported = True
            self.proxy._report_write_error(self.recording.path, exc)

    # -- the end -------------------------------------------------------------------------------

    def _finish_soon(self) -> None:
        if not self._finished:
            self._finished = True
            self.proxy._spawn(self._finish())

    async def _finish(self) -> None:
        """Flush and close the file, then report the summary (once)."""
        if self._timer is not None:
            self._timer.cancel()
        self.proxy.recording_queue.drain()  # every frame before the `close` line
        for relay in self.relays:
            relay.release()
        if self.closed_by is None:  # only after a bug in the relay: still end the file cleanly
            self.ended("proxy", None, "the proxy stopped relaying unexpectedly")
        self.recording.closed(self.closed_by or "proxy", self.close_code, self.close_reason)
        try:
            summary = await self.recording.afinish()
        except asyncio.CancelledError:
            self.recording.finish()  # the loop is going away: flush synchronously
            raise
        finally:
            self.ended_event.set()
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


class _NotRecorded(Exception):
    """--strict: a frame that would have gone unrecorded, and why."""

    def __str__(self) -> str:
        return f"a frame could not be recorded ({self.args[0]})"


def _direction_of(session: ProxiedConnection, leg: object) -> Direction:
    return "client" if leg is session.client else "server"


# -- the request -------------------------------------------------------------------------------


def _target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _userinfo_credentials(upstream: str) -> list[tuple[str, str]]:
    """HTTP Basic credentials from a `user:password@` in the upstream URL."""
    parts = urlsplit(upstream)
    if parts.username is None:
        return []
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return [("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())]


def offered_subprotocols(request: RequestHead) -> list[str]:
    """The subprotocols a client offered, in its order."""
    return [
        p.strip()
        for value in request.get_all("Sec-WebSocket-Protocol")
        for p in value.split(",")
        if p.strip()
    ]


def presented_token(headers: Iterable[tuple[str, str]], path: str) -> str | None:
    """The proxy token a client presented: the `X-Rt-Token` header, else the `rt_token` query
    parameter (its name compared after percent-decoding, as `rt%5Ftoken`)."""
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
    """`path` without its `rt_token` query parameter (or with its value replaced), whatever the
    spelling of its name (`rt_token`, `rt%5Ftoken`, `rt%5ftoken`).

    The rest of the query is kept byte for byte, so the upstream sees what the client sent.
    """
    base, sep, query = path.partition("?")
    if not sep:
        return path
    kept = []
    for part in query.split("&"):
        name = part.partition("=")[0]
        if unquote_plus(name) != AUTH_QUERY_PARAM:
            kept.append(part)
        elif replacement is not None:
            kept.append(f"{name}={replacement}")
    if len(kept) == len(query.split("&")) and replacement is None:
        return path
    return base + ("?" + "&".join(kept) if kept else "")
