"""How the proxy and the replayer dial the Realtime API (pure: URLs and headers, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import parse_qsl, urlsplit

from recorder.errors import InputError
from recorder.session import SECRET_QUERY_PARAMS, SECRET_SUBPROTOCOL_PREFIXES

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


def normalise_upstream(url: str) -> str:
    """`https://host` -> `wss://host`; `http` -> `ws`; a trailing slash removed."""
    parts = urlsplit(url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise InputError(f"upstream must be a ws://, wss:// or https:// URL with a host: {url!r}")
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def upstream_url(upstream: str, path_and_query: str) -> str:
    """The URL to dial: the upstream base (which may carry a path prefix) + the client's path."""
    base = normalise_upstream(upstream)
    if not path_and_query.startswith("/"):
        path_and_query = "/" + path_and_query
    return base + path_and_query


def forwarded_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The client's request headers that go upstream unchanged."""
    return [(name, value) for name, value in headers if name.lower() not in NOT_FORWARDED]


def has_credentials(
    headers: Iterable[tuple[str, str]], subprotocols: Sequence[str], path_and_query: str
) -> bool:
    """Whether the client authenticated itself (header, browser subprotocol or query parameter)."""
    if any(name.lower() in CREDENTIAL_HEADERS for name, _ in headers):
        return True
    if any(s.startswith(SECRET_SUBPROTOCOL_PREFIXES) for s in subprotocols):
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
