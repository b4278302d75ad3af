"""The rt-session/1 file format: records, one JSON object per line (pure, no I/O).

A session file holds one WebSocket connection:

    {"kind":"session","format":"rt-session/1","id":…,"started_at":…,"upstream":…,"request":{…},"recorder":{…}}
    {"kind":"open","t":…,"subprotocol":…,"response_headers":[…]}
    {"kind":"frame","seq":0,"t":0.0123,"from":"server","event":{…}}   (or "text": str, or "binary": base64)
    {"kind":"close","t":…,"by":"client","code":1000,"reason":""}
    {"kind":"error","t":…,"message":…,"detail":…}

`frame_line` splices a text frame that holds a JSON object into the line as it came, without
re-serialising it, so the recorded event is the very object that went over the wire.

Secrets never reach disk, not even inside events. The forwarded traffic is never altered, but the
recorded copy of an event has these values replaced by `"<redacted>"` (`redact_event`):

- `client_secret` anywhere: the string, or the `value` of a beta `{"client_secret": {"value":
  "ek_...", "expires_at": ...}}` object;
- any ephemeral key `ek_...` (a GA `client_secrets` response's `"value"`), wherever it appears;
- in every `tools` list (GA MCP tools in `session.update`, `response.create` and the server's
  echoes): each tool's `authorization`, the values of its `headers` (names are kept) and the
  secret query parameters of its `server_url`.

Only those values change, so CONTRACT §1's "the event, unchanged" holds for everything else, and
the fast path stays fast: only an event that had a secret is re-serialised (compactly, key order
kept); every other frame, every audio chunk among them, is still spliced in byte for byte.
Finding out walks the event the writer parses anyway (to check that it is a JSON object): a
`client_secret` or `tools` key, or a string with `ek_` in it. On an audio chunk that costs a
third of what searching its text for the marker substrings (`"client_secret"`,
`"authorization"`, `"headers"`, `"server_url"`, `ek_`) did, which was half the writer's work per
frame (bench/load.py), and it finds the same events minus false alarms.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from recorder import __version__
from recorder.errors import SessionFormatError
from recorder.json_text import to_json

FORMAT = "rt-session/1"
REDACTED = "<redacted>"
KINDS = frozenset({"session", "open", "frame", "close", "error"})
PAYLOAD_KEYS = ("event", "text", "binary")
_DIRECTIONS = ("client", "server")
# The largest `t` a reader accepts (about 32 years): beyond it a value is corrupt, and datetimes
# and sample positions computed from it would overflow.
MAX_T = 1e9

Direction = Literal["client", "server"]
Closer = Literal["client", "server", "proxy"]

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
    }
)
SECRET_QUERY_PARAMS = frozenset(
    {"api-key", "api_key", "key", "token", "client_secret", "authorization", "access_token"}
)
SECRET_SUBPROTOCOL_PREFIXES = ("openai-insecure-api-key.",)
# What is recorded for an event with a secret that cannot be re-serialised (nested ~1000 deep).
UNREDACTABLE = "<redacted: an event with a secret, nested too deeply to record>"
_EPHEMERAL_KEY = re.compile(r"(?<![A-Za-z0-9_])ek_[A-Za-z0-9]{16,}")

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

# Checking that a frame is a JSON object is the writer's main cost per frame: orjson does it in
# a third of the time (bench/proxy.py). It is also stricter (no NaN, no lone surrogates, 64-bit
# integers), so such frames are kept as `text`, verbatim, which every JSON reader accepts.
from orjson import loads as _strict_loads  # noqa: E402

# -- identity and time -------------------------------------------------------------------------


def new_session_id(started_at: _dt.datetime) -> str:
    """A unique id that sorts by start time: `20261126T021530.123456Z-1a2b3c4d`."""
    return f"{started_at.strftime('%Y%m%dT%H%M%S.%fZ')}-{secrets.token_hex(4)}"


def iso_utc(moment: _dt.datetime) -> str:
    """ISO-8601 UTC with microseconds, e.g. `2026-11-26T02:15:30.123456Z` (four-digit years
    from 0001 to 9999: `strftime` does not pad a year before 1000)."""
    utc = moment.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def round_t(t: float) -> float:
    """Seconds since the session started, at microsecond resolution."""
    return round(t, 6)


# -- redaction ---------------------------------------------------------------------------------


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Header pairs with the values of secret-bearing headers replaced by `<redacted>`."""
    return [[name, _redact_header_value(name, value)] for name, value in headers]


def _redact_header_value(name: str, value: str) -> str:
    lowered = name.lower()
    if lowered in SECRET_HEADERS:
        return REDACTED
    # Browsers send their API key as a subprotocol, inside this header.
    if lowered == "sec-websocket-protocol" and any(p in value for p in SECRET_SUBPROTOCOL_PREFIXES):
        return ", ".join(redact_subprotocol(p.strip()) for p in value.split(","))
    return value


def redact_subprotocol(subprotocol: str) -> str:
    for prefix in SECRET_SUBPROTOCOL_PREFIXES:
        if subprotocol.startswith(prefix):
            return prefix + REDACTED
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
    query parameters), longest first: to scrub text that may quote them, such as an upstream's
    error body, before it is recorded."""
    found = set()
    for name, value in headers:
        if name.lower() in SECRET_HEADERS:
            found.add(value.strip())
            found.add(value.strip().rpartition(" ")[2])  # `Bearer sk-...` -> `sk-...`
    for subprotocol in subprotocols:
        for prefix in SECRET_SUBPROTOCOL_PREFIXES:
            if subprotocol.startswith(prefix):
                found.add(subprotocol[len(prefix) :])
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if name.lower() in SECRET_QUERY_PARAMS:
            found.add(value)
    # Short values would scrub ordinary words; real keys are long.
    return sorted((v for v in found if len(v) >= 8), key=lambda v: (-len(v), v))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret replaced by `<redacted>`."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_event(event: dict[str, Any]) -> bool:
    """Replace the secrets inside a parsed event in place (see the module docstring).

    Returns whether anything changed, so that an event without secrets is kept verbatim.
    Iterative: a client's event may be nested as deep as the JSON parser allows.
    """
    changed = False
    stack: list[dict[str, Any] | list[Any]] = [event]
    while stack:
        value = stack.pop()
        items: Iterable[tuple[Any, Any]]
        if isinstance(value, dict):
            secret = value.get("client_secret")
            if isinstance(secret, str) and secret != REDACTED:
                value["client_secret"], changed = REDACTED, True
            elif isinstance(secret, dict) and secret.get("value") not in (None, REDACTED):
                secret["value"], changed = REDACTED, True
            if isinstance(value.get("tools"), list):
                changed = _redact_tools(value["tools"]) or changed
            items = value.items()
        else:
            items = enumerate(value)
        for key, item in items:
            if isinstance(item, str):
                redacted = _redact_string(item)
                if redacted is not item:
                    value[key], changed = redacted, True  # type: ignore[index]
            elif isinstance(item, (dict, list)):
                stack.append(item)
    return changed


def _redact_string(text: str) -> str:
    """`text` itself when it holds no ephemeral key, else a copy without it."""
    # `_` first: one memchr over an audio chunk (base64 has none), where a search for the
    # three letters `ek_` takes ten times longer.
    if "_" not in text or "ek_" not in text:
        return text
    redacted = _EPHEMERAL_KEY.sub(REDACTED, text)
    return text if redacted == text else redacted


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


# -- building records --------------------------------------------------------------------------


def session_record(
    session_id: str,
    started_at: _dt.datetime,
    upstream: str,
    path: str,
    headers: Iterable[tuple[str, str]],
    subprotocols: Sequence[str],
) -> dict[str, Any]:
    """The first line of a file, with every secret already removed."""
    return {
        "kind": "session",
        "format": FORMAT,
        "id": session_id,
        "started_at": iso_utc(started_at),
        "upstream": redact_url(upstream),
        "request": {
            "path": redact_url(path),
            "headers": redact_headers(headers),
            "subprotocols": redact_subprotocols(subprotocols),
        },
        "recorder": {"name": "rt", "version": __version__},
    }


def open_record(
    t: float, subprotocol: str | None, response_headers: Iterable[tuple[str, str]]
) -> dict[str, Any]:
    return {
        "kind": "open",
        "t": round_t(t),
        "subprotocol": None if subprotocol is None else redact_subprotocol(subprotocol),
        "response_headers": redact_headers(response_headers),
    }


def close_record(t: float, by: Closer, code: int | None, reason: str) -> dict[str, Any]:
    return {"kind": "close", "t": round_t(t), "by": by, "code": code, "reason": reason}


def error_record(t: float, message: str, detail: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"kind": "error", "t": round_t(t), "message": message}
    if detail is not None:
        record["detail"] = detail
    return record


def frame_record(seq: int, t: float, direction: Direction, payload: str | bytes) -> dict[str, Any]:
    """A frame record as a dict (the slow path; `frame_line` is what writers use)."""
    record: dict[str, Any] = {"kind": "frame", "seq": seq, "t": round_t(t), "from": direction}
    if isinstance(payload, bytes):
        record["binary"] = base64.b64encode(payload).decode("ascii")
        return record
    event = _json_object(payload)
    if event is None:
        record["text"] = payload
    else:
        if redact_event(event):
            try:
                _dumps(event)
            except (RecursionError, ValueError):
                record["text"] = UNREDACTABLE
                return record
        record["event"] = event
    return record


def _json_object(text: str) -> dict[str, Any] | None:
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return None
    try:
        value = _strict_loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _redacted_event_field(event: dict[str, Any]) -> str:
    try:
        return '"event":' + _dumps(event)
    except (RecursionError, ValueError):  # nested deeper than the encoder goes
        return '"text":' + _dumps(UNREDACTABLE)


def encode_record(record: Mapping[str, Any]) -> str:
    """One record as a line, `\\n`-terminated."""
    return _dumps(record) + "\n"


def frame_line(seq: int, t: float, direction: Direction, payload: str | bytes) -> str:
    """One frame as a line. A JSON-object text frame is spliced in verbatim as `event`
    (re-serialised only when it held a secret, see `redact_event`)."""
    head = f'{{"kind":"frame","seq":{seq},"t":{round_t(t)!r},"from":"{direction}",'
    if isinstance(payload, bytes):
        return head + '"binary":"' + base64.b64encode(payload).decode("ascii") + '"}\n'
    event = _json_object(payload)
    if event is None:
        return head + '"text":' + _dumps(payload) + "}\n"
    if redact_event(event):
        return head + _redacted_event_field(event) + "}\n"
    if "\n" in payload or "\r" in payload:
        # Raw CR/LF can only be insignificant whitespace inside valid JSON.
        payload = payload.replace("\r", " ").replace("\n", " ")
    return head + '"event":' + payload + "}\n"


# -- reading records ---------------------------------------------------------------------------


def decode_line(line: str | bytes | memoryview) -> dict[str, Any]:
    """Parse and check one line; raise SessionFormatError (without file/line) if it is invalid.

    Records of kinds this version does not know are returned as they are, for readers to skip.
    A `t` must be seconds since the start: a finite number from 0 to `MAX_T` (`NaN`, which
    Python's JSON reader would accept, is not JSON). Duplicate keys: the last one wins.
    """
    try:
        record = _strict_loads(line)
    except ValueError:
        record = _lenient_loads(line)
    if type(record) is not dict:
        raise SessionFormatError("not a JSON object")
    kind = record.get("kind")
    if kind == "frame":
        # the common case, checked inline: a usable t, a direction, an event and nothing else
        t = record.get("t")
        event = record.get("event")
        if (
            (type(t) is float or type(t) is int)
            and 0 <= t <= MAX_T
            and type(event) is dict
            and record.get("from") in _DIRECTIONS
            and "text" not in record
            and "binary" not in record
        ):
            return record
        _check_frame(record)
    elif not isinstance(kind, str):
        raise SessionFormatError("record has no 'kind'")
    elif kind in ("open", "close", "error"):
        _check_t(kind, record)
    return record


def _lenient_loads(line: str | bytes | memoryview) -> Any:
    """What orjson refuses but JSON allows (integers beyond 64 bits), or the reason it is not
    JSON: the stdlib reader, which rejects NaN, deep nesting and half surrogate pairs too."""
    text = line if isinstance(line, str) else bytes(line)
    try:
        record = json.loads(text, parse_constant=_not_json)
    except RecursionError:
        raise SessionFormatError("not valid JSON (nested too deeply)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SessionFormatError(f"not valid JSON ({_short(exc)})") from None
    if _nested_deeper_than(record, _LENIENT_MAX_DEPTH):
        raise SessionFormatError("not valid JSON (nested too deeply)")
    if isinstance(record, dict) and _has_lone_surrogate(text, record):
        raise SessionFormatError("not valid JSON (a \\u escape of half a UTF-16 surrogate pair)")
    return record


# How deep a line read by the stdlib may nest: whether it parses would otherwise depend on
# Python's recursion limit and on how deep the reading code's own stack is (which differs from
# one command to another); this is well inside both. (orjson, which reads nearly every line,
# takes 1024 levels whatever the stack.)
_LENIENT_MAX_DEPTH = 512


def _nested_deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend(
                (child, depth + 1) for child in children if isinstance(child, (dict, list))
            )
    return False


def _has_lone_surrogate(line: str | bytes, record: dict[str, Any]) -> bool:
    """Whether a string in `record` holds half a surrogate pair, which no UTF-8 output takes.

    Only a line with a `\\ud8..`-`\\udf..` escape can: the writer never writes one (orjson
    refuses them, so such a frame is kept as `text`), so this costs nothing on real files.
    """
    escapes = ("\\ud", "\\uD") if isinstance(line, str) else (b"\\ud", b"\\uD")
    if not any(e in line for e in escapes):  # type: ignore[operator]
        return False
    try:
        _dumps(record).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _check_t(kind: str, record: dict[str, Any]) -> None:
    t = record.get("t")
    what = "frame" if kind == "frame" else f"{kind} record"
    if not isinstance(t, (int, float)) or isinstance(t, bool):
        raise SessionFormatError(f"{what} has no numeric 't'")
    if not 0 <= t <= MAX_T:  # also false for NaN
        raise SessionFormatError(f"{what} has 't' out of range ({t!r})")


def _check_frame(record: dict[str, Any]) -> None:
    _check_t("frame", record)
    if record.get("from") not in ("client", "server"):
        raise SessionFormatError("frame 'from' is not 'client' or 'server'")
    present = [k for k in PAYLOAD_KEYS if k in record]
    if len(present) != 1:
        raise SessionFormatError("frame needs exactly one of 'event', 'text', 'binary'")
    key = present[0]
    expected: type = dict if key == "event" else str
    if not isinstance(record[key], expected):
        raise SessionFormatError(f"frame '{key}' has the wrong type")
    if key == "binary" and not _is_base64(record["binary"]):
        raise SessionFormatError("frame 'binary' is not base64")


def _is_base64(text: str) -> bool:
    """Whether a binary frame's payload decodes (the writer's own `b64encode` always does)."""
    try:
        base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, and non-ASCII text
        return False
    return True


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 80 else text[:77] + "..."


def frame_payload(record: Mapping[str, Any]) -> str | bytes:
    """The data of a frame record as it went over the wire (JSON events re-serialised)."""
    if "event" in record:
        return to_json(record["event"])
    if "text" in record:
        return str(record["text"])
    return base64.b64decode(record["binary"])
