"""What never reaches disk or a terminal: secrets in requests, events, close reasons and errors
(pure, no I/O).

The forwarded traffic is never altered; the recorded copy and everything rt prints are. One
scrubber, `SecretScrubber`, knows two kinds of secret and is applied to every channel (frames,
close reasons, error lines, what the proxy prints):

- the session's own secrets: the values the client sent (its `Authorization` / `api-key`
  header, its `openai-insecure-api-key.` subprotocol, secret query parameters, the proxy's own
  token) and the key the proxy added from the environment; an upstream that quotes one back in
  an event, a close reason or an error page has it replaced by `<redacted>`;
- key-shaped strings, whoever sent them: OpenAI keys (`sk-…`, `sk-proj-…`, `sk-svcacct-…`),
  ephemeral keys (`ek_…`) and JSON Web Tokens (`eyJ….eyJ….…`).

Inside events it also knows where secrets sit by name (`redact_event`): `client_secret` anywhere
(the string, or the `value` of a beta `{"client_secret": {"value": …}}`), and in every `tools`
list (GA MCP tools) each tool's `authorization`, the values of its `headers` (names are kept)
and the secret query parameters of its `server_url`.

Only those values change, so CONTRACT §1's "the event, unchanged" holds for everything else, and
the proxy's fast path stays fast: the walk looks at each string of the event the writer parses
anyway (to check that a frame is a JSON object), and every key-shaped string holds one of `- _ .`
which an audio chunk's base64 never does, so three `memchr`s clear it; only an event in which
something changed is re-serialised.

Request headers, subprotocols and query parameters are redacted by name (`redact_headers`,
`redact_subprotocol`, `redact_url`): `Authorization`, `api-key`, `Cookie`, `Set-Cookie`,
`OpenAI-Organization`/`-Project`, `Ocp-Apim-Subscription-Key` (Azure API Management) and more;
`openai-insecure-api-key.<KEY>` in any letter case; `api-key`, `key`, `token`, `client_secret`,
`rt_token` and more (names compared after percent-decoding).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

REDACTED = "<redacted>"
# What is recorded for an event with a secret that cannot be re-serialised (nested ~1000 deep).
UNREDACTABLE = "<redacted: an event with a secret, nested too deeply to record>"

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "cookie",
        "set-cookie",
        "openai-organization",
        "openai-project",
        "ocp-apim-subscription-key",
        "x-rt-token",
    }
)
SECRET_QUERY_PARAMS = frozenset(
    {
        "api-key",
        "api_key",
        "key",
        "token",
        "client_secret",
        "authorization",
        "access_token",
        "subscription-key",
        "rt_token",
    }
)
SECRET_SUBPROTOCOL_PREFIXES = ("openai-insecure-api-key.",)
MIN_SECRET_LENGTH = 8  # shorter values would scrub ordinary words; real keys are long

_KEY_SHAPED = re.compile(
    r"(?<![A-Za-z0-9_-])(?:"
    r"ek_[A-Za-z0-9]{16,}"  # ephemeral client secrets
    r"|sk-[A-Za-z0-9_-]{20,}"  # sk-…, sk-proj-…, sk-svcacct-…, sk-admin-…
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"  # JSON Web Tokens
    r")"
)
_SHORTEST_KEY = 19  # `ek_` and 16 more; `sk-` keys and JWTs are longer
# Every key-shaped string holds one of these; an audio chunk's base64 holds none, so one memchr
# each clears it.
_KEY_CHARS = ("-", "_", ".")


class SecretScrubber:
    """Replaces secrets with `<redacted>` (see the module docstring); one per session.

    `secrets`: the session's own secret values (`secret_values`), any order.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        self.secrets = sorted(found, key=lambda s: (-len(s), s))  # longest first
        # A secret with one of _KEY_CHARS is looked for only in strings that hold one too.
        self._plain = [s for s in self.secrets if not any(c in s for c in _KEY_CHARS)]
        self._marked = [s for s in self.secrets if s not in self._plain]
        # Strings shorter than any secret and any key-shaped string need no look.
        self._shortest = min([_SHORTEST_KEY, *(len(s) for s in self.secrets)])

    def text(self, text: str) -> str:
        """`text` with the session's secrets and key-shaped strings replaced (itself if none)."""
        for secret in self._plain:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if "-" in text or "_" in text or "." in text:
            for secret in self._marked:
                if secret in text:
                    text = text.replace(secret, REDACTED)
            if "ek_" in text or "sk-" in text or "eyJ" in text:
                return _KEY_SHAPED.sub(REDACTED, text)  # `text` itself when nothing matched
        return text

    def event(self, event: dict[str, Any]) -> bool:
        """Redact a parsed event in place; whether anything changed. Iterative: a client's
        event may be nested as deep as the JSON parser allows. (Written for speed: it runs on
        every recorded frame.)"""
        changed = False
        stack: list[Any] = [event]
        pop, push, text, shortest = stack.pop, stack.append, self.text, self._shortest
        while stack:
            value = pop()
            items: Iterable[tuple[Any, Any]]
            if type(value) is dict:
                if "client_secret" in value:
                    changed = _redact_client_secret(value) or changed
                if "tools" in value and type(value["tools"]) is list:
                    changed = _redact_tools(value["tools"]) or changed
                items = value.items()
            else:
                items = enumerate(value)
            for key, item in items:
                kind = type(item)
                if kind is str:
                    if len(item) >= shortest:
                        redacted = text(item)
                        if redacted is not item:
                            value[key], changed = redacted, True
                elif kind is dict or kind is list:
                    push(item)
        return changed


def _redact_client_secret(value: dict[str, Any]) -> bool:
    secret = value["client_secret"]
    if isinstance(secret, str) and secret != REDACTED:
        value["client_secret"] = REDACTED
        return True
    if isinstance(secret, dict) and secret.get("value") not in (None, REDACTED):
        secret["value"] = REDACTED
        return True
    return False


NO_SECRETS = SecretScrubber()


def redact_event(event: dict[str, Any]) -> bool:
    """Redact key-shaped strings and named secrets in a parsed event, in place (no session
    secrets: see `SecretScrubber.event`). Returns whether anything changed."""
    return NO_SECRETS.event(event)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret, and every key-shaped string, replaced."""
    return SecretScrubber(secrets).text(text)


def _redact_tools(tools: list[Any]) -> bool:
    changed = False
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        if isinstance(tool.get("authorization"), str) and tool["authorization"] != REDACTED:
            tool["authorization"], changed = REDACTED, True
        headers = tool.get("headers")
        if isinstance(headers, dict):
            for name, value in headers.items():
                if value != REDACTED:
                    headers[name], changed = REDACTED, True
        url = tool.get("server_url")
        if isinstance(url, str):
            redacted = redact_url(url)
            if redacted != url:
                tool["server_url"], changed = redacted, True
    return changed


# -- requests ----------------------------------------------------------------------------------


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Header pairs with the values of secret-bearing headers replaced by `<redacted>`."""
    return [[name, _redact_header_value(name, value)] for name, value in headers]


def _redact_header_value(name: str, value: str) -> str:
    lowered = name.lower()
    if lowered in SECRET_HEADERS:
        return REDACTED
    # Browsers send their API key as a subprotocol, inside this header.
    if lowered == "sec-websocket-protocol" and is_secret_subprotocol(value, anywhere=True):
        return ", ".join(redact_subprotocol(p.strip()) for p in value.split(","))
    return value


def is_secret_subprotocol(subprotocol: str, *, anywhere: bool = False) -> bool:
    """Whether a subprotocol carries a key (`openai-insecure-api-key.…`, in any letter case)."""
    lowered = subprotocol.lower()
    if anywhere:
        return any(prefix in lowered for prefix in SECRET_SUBPROTOCOL_PREFIXES)
    return lowered.startswith(SECRET_SUBPROTOCOL_PREFIXES)


def subprotocol_secret(subprotocol: str) -> str | None:
    """The key inside a key-carrying subprotocol, else None."""
    lowered = subprotocol.lower()
    for prefix in SECRET_SUBPROTOCOL_PREFIXES:
        if lowered.startswith(prefix):
            return subprotocol[len(prefix) :]
    return None


def redact_subprotocol(subprotocol: str) -> str:
    if subprotocol_secret(subprotocol) is not None:
        prefix = subprotocol.partition(".")[0]
        return f"{prefix}.{REDACTED}"
    return subprotocol


def redact_subprotocols(subprotocols: Iterable[str]) -> list[str]:
    return [redact_subprotocol(s) for s in subprotocols]


def redact_query(query: str) -> str:
    """A query string with the values of secret parameters replaced by `<redacted>`."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(k.lower() in SECRET_QUERY_PARAMS for k, _ in pairs):
        return query
    return urlencode(
        [(k, REDACTED if k.lower() in SECRET_QUERY_PARAMS else v) for k, v in pairs],
        safe="<>",
        quote_via=quote,
    )


def redact_url(url: str) -> str:
    """A URL or request path with secret query parameters and userinfo removed."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, netloc, parts.path, redact_query(parts.query), parts.fragment))


def strip_redacted_query(url: str) -> str:
    """A recorded URL or path without the parameters whose values were redacted (for re-dialling)."""
    parts = urlsplit(url)
    if REDACTED not in parts.query:
        return url
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if v != REDACTED]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(pairs), parts.fragment))


def secret_values(
    headers: Iterable[tuple[str, str]], subprotocols: Iterable[str], url: str
) -> list[str]:
    """The secrets a request carries (header values and their tokens, a subprotocol key, secret
    query parameters), longest first: for a `SecretScrubber`."""
    found = set()
    for name, value in headers:
        if name.lower() in SECRET_HEADERS:
            found.add(value.strip())
            found.add(value.strip().rpartition(" ")[2])  # `Bearer sk-...` -> `sk-...`
    for subprotocol in subprotocols:
        secret = subprotocol_secret(subprotocol)
        if secret is not None:
            found.add(secret)
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if name.lower() in SECRET_QUERY_PARAMS:
            found.add(value)
    return sorted((v for v in found if len(v) >= MIN_SECRET_LENGTH), key=lambda v: (-len(v), v))
