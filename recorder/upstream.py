"""How the proxy and the replayer dial the Realtime API (pure: URLs and headers, no I/O)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import parse_qsl, urlsplit

from recorder.errors import InputError
from recorder.redaction import SECRET_QUERY_PARAMS, is_secret_subprotocol, redact_url

DEFAULT_UPSTREAM = "wss://api.openai.com"

# Headers that belong to one hop or to the WebSocket handshake itself: the client library on
# the upstream leg sets its own.
NOT_FORWARDED = frozenset(
    {
        "host",
        "connection",
        "upgrade",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "content-length",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "sec-websocket-accept",
    }
)
CREDENTIAL_HEADERS = frozenset({"authorization", "api-key"})


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def normalise_upstream(url: str) -> str:
    """`https://host` -> `wss://host`; `http` -> `ws`; a trailing slash removed.

    InputError (naming the fix) for anything else, a port outside 1-65535, a host that is not a
    host name or an IP address, or a query: the client's own path and query are appended.
    """
    parts = urlsplit(url.strip())
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme.lower(), parts.scheme.lower())
    shown = redact_url(url)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise InputError(
            f"--upstream must be a ws://, wss:// or https:// URL with a host, e.g. "
            f"wss://api.openai.com (got {shown!r})"
        )
    try:
        port = parts.port
    except ValueError:
        raise InputError(f"--upstream {shown}: the port must be a number from 1 to 65535") from None
    if port == 0:
        raise InputError(f"--upstream {shown}: the port must be a number from 1 to 65535")
    host = parts.hostname or ""
    if not _valid_host(host):
        raise InputError(f"--upstream {shown}: {host!r} is not a host name or IP address")
    if parts.query or parts.fragment:
        raise InputError(
            f"--upstream {shown}: leave out the query; clients send their own "
            "(e.g. ?model=gpt-realtime), and the proxy passes it on"
        )
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _valid_host(host: str) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


def upstream_url(upstream: str, path_and_query: str) -> str:
    """The URL to dial: the upstream base + the client's path and query.

    A path on the upstream is a base that the client's path goes under, without doubling: with
    `wss://api.openai.com/v1`, a client dialling `/v1/realtime` (as the SDK does with
    `websocket_base_url=.../v1`) reaches `/v1/realtime`, not `/v1/v1/realtime`; with
    `wss://gateway.example/openai-proxy`, `/v1/realtime` reaches `/openai-proxy/v1/realtime`.
    """
    base = normalise_upstream(upstream)
    if not path_and_query.startswith("/"):
        path_and_query = "/" + path_and_query
    prefix = urlsplit(base).path
    path = path_and_query.partition("?")[0]
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        base = base[: len(base) - len(prefix)]
    return base + path_and_query


def dial_address(url: str) -> tuple[str, int, bool, str]:
    """(host, port, tls, Host header value) for a ws:// or wss:// URL."""
    parts = urlsplit(url)
    tls = parts.scheme == "wss"
    default = 443 if tls else 80
    host = parts.hostname or ""
    port = parts.port or default
    shown = f"[{host}]" if ":" in host else host
    return host, port, tls, shown if port == default else f"{shown}:{port}"


def forwarded_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The client's request headers that go upstream unchanged."""
    return [(name, value) for name, value in headers if name.lower() not in NOT_FORWARDED]


def has_credentials(
    headers: Iterable[tuple[str, str]], subprotocols: Sequence[str], path_and_query: str
) -> bool:
    """Whether the client authenticated itself (header, browser subprotocol or query parameter)."""
    if any(name.lower() in CREDENTIAL_HEADERS for name, _ in headers):
        return True
    if any(is_secret_subprotocol(s) for s in subprotocols):
        return True
    query = urlsplit(path_and_query).query
    return any(k.lower() in SECRET_QUERY_PARAMS for k, _ in parse_qsl(query))


def credentials_from_environment(
    upstream: str, environ: Mapping[str, str]
) -> list[tuple[str, str]]:
    """Headers that authenticate with the key in the environment, for clients that sent none.

    `OPENAI_API_KEY` as a bearer token; for an Azure host, `AZURE_OPENAI_API_KEY` as `api-key`.
    """
    host = urlsplit(normalise_upstream(upstream)).hostname or ""
    azure_key = environ.get("AZURE_OPENAI_API_KEY")
    if host.endswith(".azure.com") and azure_key:
        return [("api-key", azure_key)]
    key = environ.get("OPENAI_API_KEY")
    return [("Authorization", f"Bearer {key}")] if key else []
