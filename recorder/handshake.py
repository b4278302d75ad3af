"""The HTTP/1.1 side of the WebSocket upgrade, for a proxy that relays it (pure: bytes in and
out, no I/O).

The proxy reads the client's upgrade request, sends the upstream the same request with `Host`
rewritten, its own token removed and no `Sec-WebSocket-Extensions` (so that no compression is
negotiated and the frames it records are the frames on the wire), and gives the client the
upstream's response byte for byte: its 101 with the accept key computed from the client's own
`Sec-WebSocket-Key`, its chosen subprotocol, or its refusal with status, headers and body.

Heads are parsed strictly (CRLF line ends, no obsolete line folding, bounded size and header
count), in the spirit of websockets' own parser: the request comes from anyone who can connect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from recorder.upstream import NOT_FORWARDED

MAX_HEAD_BYTES = 16 * 1024  # a request head (websockets allows 8 KiB lines, 128 headers)
MAX_RESPONSE_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 128
MAX_BODY_BYTES = 1 << 20  # of a refusal relayed to the client

# Not sent upstream: the headers of one hop (upstream.NOT_FORWARDED) but the upgrade's own, which
# go on unchanged so that the upstream's accept key answers the client's; and the proxy's token.
_NOT_FORWARDED = (
    NOT_FORWARDED
    - {"connection", "upgrade", "sec-websocket-key", "sec-websocket-version"}
    - {"sec-websocket-protocol", "sec-websocket-accept"}
) | {"x-rt-token"}
# Headers of a refusal that belong to the upstream's own hop.
_NOT_RELAYED = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}
)
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: (.*))?")
_TLS_RECORD = 0x16  # the first byte a TLS client sends (a handshake record)


class HandshakeError(Exception):
    """A request the proxy answers itself: `status` and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str  # the path and query, as sent
    headers: list[tuple[str, str]]

    def get(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for n, v in self.headers if n.lower() == lowered), None)

    def get_all(self, name: str) -> list[str]:
        lowered = name.lower()
        return [v for n, v in self.headers if n.lower() == lowered]


@dataclass(frozen=True)
class ResponseHead:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    raw: bytes  # the head as received, blank line included

    def get(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for n, v in self.headers if n.lower() == lowered), None)


def head_end(buffer: bytes | bytearray) -> int:
    """Where the head ends (after its blank line) in `buffer`, or -1 if it has not yet."""
    at = buffer.find(b"\r\n\r\n")
    return -1 if at < 0 else at + 4


def looks_like_tls(first_bytes: bytes | bytearray) -> bool:
    """Whether a connection starts like a TLS client hello (a client dialling wss:// here)."""
    return len(first_bytes) >= 1 and first_bytes[0] == _TLS_RECORD


def parse_request_head(head: bytes) -> RequestHead:
    """The client's request line and headers; HandshakeError (400) if it is not HTTP/1.1."""
    lines = head.split(b"\r\n")
    try:
        method, target, version = lines[0].split(b" ")
    except ValueError:
        raise HandshakeError(400, "not an HTTP/1.1 request line") from None
    if version != b"HTTP/1.1" or not target.startswith(b"/"):
        raise HandshakeError(400, "not an HTTP/1.1 request for a path")
    if not _VALUE.fullmatch(target) or b" " in target:
        raise HandshakeError(400, "invalid characters in the request target")
    return RequestHead(method.decode("ascii", "replace"), target.decode("latin-1"), _headers(lines))


def parse_response_head(head: bytes) -> ResponseHead:
    """The upstream's status line and headers; ValueError if they are not HTTP/1.x."""
    lines = head.split(b"\r\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise ValueError(f"not an HTTP response: {lines[0][:80]!r}")
    try:
        headers = _headers(lines)
    except HandshakeError as exc:
        raise ValueError(f"invalid response headers: {exc.reason}") from None
    reason = (match.group(2) or b"").decode("latin-1")
    return ResponseHead(int(match.group(1)), reason, headers, head)


def is_token(text: str) -> bool:
    """Whether `text` may be a header name (or a subprotocol): HTTP's token characters."""
    return text.isascii() and _TOKEN.fullmatch(text.encode("ascii")) is not None


def is_header(name: str, value: str) -> bool:
    """Whether HTTP/1.1 can carry `name: value` (the rule the proxy reads requests by)."""
    if not is_token(name):
        return False
    try:
        return _VALUE.fullmatch(value.encode("latin-1")) is not None
    except UnicodeEncodeError:
        return False


def _headers(lines: list[bytes]) -> list[tuple[str, str]]:
    headers = []
    for line in lines[1:]:
        if not line:
            continue  # the blank line that ends the head
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise HandshakeError(400, "invalid header line")
        value = value.strip(b" \t")
        if not _VALUE.fullmatch(value):
            raise HandshakeError(400, "invalid characters in a header value")
        headers.append((name.decode("ascii"), value.decode("latin-1")))
        if len(headers) > MAX_HEADERS:
            raise HandshakeError(431, "too many headers")
    return headers


def websocket_problem(request: RequestHead) -> HandshakeError | None:
    """Why `request` is not a WebSocket upgrade the proxy can relay, or None."""
    if request.method != "GET":
        return HandshakeError(405, "only GET can open a WebSocket")
    if "websocket" not in (request.get("Upgrade") or "").lower():
        return HandshakeError(426, "this is a WebSocket proxy: send Upgrade: websocket")
    connection = {t.strip().lower() for v in request.get_all("Connection") for t in v.split(",")}
    if "upgrade" not in connection:
        return HandshakeError(400, "missing Connection: Upgrade")
    if not request.get("Sec-WebSocket-Key") or request.get("Sec-WebSocket-Version") != "13":
        return HandshakeError(400, "missing Sec-WebSocket-Key or Sec-WebSocket-Version: 13")
    if request.get("Content-Length") not in (None, "0") or request.get("Transfer-Encoding"):
        return HandshakeError(400, "a WebSocket upgrade has no body")
    return None


def forwarded_request_headers(request: RequestHead) -> list[tuple[str, str]]:
    """The client's headers that go upstream unchanged (in order, duplicates kept)."""
    return [(n, v) for n, v in request.headers if n.lower() not in _NOT_FORWARDED]


def request_bytes(target: str, host: str, headers: list[tuple[str, str]]) -> bytes:
    """The upgrade request for the upstream: `Host` first, then `headers`."""
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response_bytes(
    status: int, reason: str, headers: list[tuple[str, str]], body: bytes = b""
) -> bytes:
    """A complete response that closes the connection (refusals, the proxy's own answers)."""
    kept = [(n, v) for n, v in headers if n.lower() not in _NOT_RELAYED]
    kept += [("Content-Length", str(len(body))), ("Connection", "close")]
    lines = [f"HTTP/1.1 {status} {reason}".rstrip()] + [f"{n}: {v}" for n, v in kept]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    405: "Method Not Allowed",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def proxy_response(status: int, text: str, headers: list[tuple[str, str]] | None = None) -> bytes:
    """The proxy's own answer: `status` with a one-line plain-text body."""
    base = [("Content-Type", "text/plain; charset=utf-8")] + (headers or [])
    if status == 426:
        base.append(("Upgrade", "websocket"))
    return response_bytes(status, REASONS.get(status, ""), base, f"rt proxy: {text}\n".encode())


class BodyReader:
    """Collects a response body per its framing (Content-Length, chunked, or until the
    connection ends), up to MAX_BODY_BYTES."""

    def __init__(self, head: ResponseHead) -> None:
        length = head.get("Content-Length")
        chunked = "chunked" in (head.get("Transfer-Encoding") or "").lower()
        self.chunked = chunked
        self.length: int | None = None
        if not chunked and length is not None and length.strip().isdigit():
            self.length = int(length)
        if head.status in (204, 304) or 100 <= head.status < 200:
            self.length = 0
        self.raw = bytearray()
        self.truncated = False

    def feed(self, data: bytes) -> bool:
        """Add received bytes; True once the body is complete (or capped)."""
        self.raw += data
        if len(self.raw) > MAX_BODY_BYTES + 64 * 1024:
            self.truncated = True
            return True
        if self.length is not None:
            return len(self.raw) >= self.length
        if self.chunked:
            return _chunked_end(self.raw) >= 0
        return False

    def body(self) -> bytes:
        if self.length is not None:
            return bytes(self.raw[: self.length])
        if self.chunked:
            return _dechunk(bytes(self.raw))[:MAX_BODY_BYTES]
        return bytes(self.raw[:MAX_BODY_BYTES])


def _chunked_end(raw: bytes | bytearray) -> int:
    at = 0
    while True:
        line_end = raw.find(b"\r\n", at)
        if line_end < 0:
            return -1
        size_text = bytes(raw[at:line_end]).split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return len(raw)  # not chunked after all: take what came
        if size == 0:
            end = raw.find(b"\r\n\r\n", line_end)
            return -1 if end < 0 else end + 4
        at = line_end + 2 + size + 2
        if at > len(raw):
            return -1


def _dechunk(raw: bytes) -> bytes:
    out, at = bytearray(), 0
    while True:
        line_end = raw.find(b"\r\n", at)
        if line_end < 0:
            return bytes(out)
        try:
            size = int(raw[at:line_end].split(b";")[0].strip(), 16)
        except ValueError:
            return bytes(out)
        if size == 0:
            return bytes(out)
        out += raw[line_end + 2 : line_end + 2 + size]
        at = line_end + 2 + size + 2
