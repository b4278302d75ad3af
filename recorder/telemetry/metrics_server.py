"""`/metrics` on a listener of its own, served from a thread (never the proxy's event loop).

    server = MetricsServer(exposition, host="127.0.0.1", port=9464, auth_token=None)
    server.start(); server.url; server.close()

`exposition()` returns the body and its content type (`PrometheusMetrics.exposition`). With
`auth_token`, a scrape must present it as the proxy's clients do (`X-Rt-Token` header or
`rt_token` query parameter) or as `Authorization: Bearer TOKEN` (what Prometheus sends with
`authorization: {credentials: TOKEN}`); otherwise it gets 401. Anything but `GET /metrics`
gets 404. Whether the address may be non-loopback is the caller's rule (`--allow-remote`).
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from recorder.connection import presented_token
from recorder.errors import InputError

Exposition = Callable[[], tuple[bytes, str]]
METRICS_PATH = "/metrics"


class MetricsServer:
    """A small HTTP server answering `GET /metrics` (see the module docstring)."""

    def __init__(
        self,
        exposition: Exposition,
        *,
        host: str = "127.0.0.1",
        port: int = 9464,
        auth_token: str | None = None,
    ) -> None:
        self.exposition = exposition
        self.host = host
        self.port = port
        self.auth_token = auth_token or None
        self.scrapes = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{METRICS_PATH}"

    def start(self) -> None:
        """Listen (InputError if the address cannot be used) and serve from a thread."""
        handler = _handler_for(self)
        server_class = _IPv6Server if ":" in self.host else ThreadingHTTPServer
        try:
            self._server = server_class((self.host, self.port), handler)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise InputError(
                f"cannot listen on {self.host}:{self.port} for --metrics: {reason}"
            ) from None
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="rt-metrics", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def allowed(self, headers: list[tuple[str, str]], path: str) -> bool:
        if self.auth_token is None:
            return True
        presented = presented_token(headers, path)
        if presented is None:
            for name, value in headers:
                scheme, _, credentials = value.partition(" ")
                if name.lower() == "authorization" and scheme.lower() == "bearer":
                    presented = credentials.strip()
        return presented is not None and hmac.compare_digest(
            presented.encode("utf-8"), self.auth_token.encode("utf-8")
        )


class _IPv6Server(ThreadingHTTPServer):
    import socket

    address_family = socket.AF_INET6


def _handler_for(owner: MetricsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "rt"
        sys_version = ""

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if urlsplit(self.path).path != METRICS_PATH:
                self._reply(404, b"not found: rt serves /metrics\n", "text/plain")
                return
            if not owner.allowed(list(self.headers.items()), self.path):
                self._reply(401, b"rt metrics: missing or wrong token\n", "text/plain")
                return
            body, content_type = owner.exposition()
            owner.scrapes += 1
            self._reply(200, body, content_type)

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the library never prints

    return Handler
