"""The rt-session/1 file format: records, one JSON object per line (pure, no I/O).

A session file holds one WebSocket connection:

    {"kind":"session","format":"rt-session/1","id":…,"started_at":…,"upstream":…,"request":{…},"recorder":{…}}
    {"kind":"open","t":…,"subprotocol":…,"response_headers":[…]}
    {"kind":"frame","seq":0,"t":0.0123,"from":"server","event":{…}}   (or "text": str, or "binary": base64)
    {"kind":"close","t":…,"by":"client","code":1000,"reason":""}
    {"kind":"error","t":…,"message":…,"detail":…}

`frame_line` splices a text frame that holds a JSON object into the line as it came, without
re-serialising it, so the recorded event is the very object that went over the wire.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from recorder import __version__
from recorder.errors import SessionFormatError

FORMAT = "rt-session/1"
REDACTED = "<redacted>"
KINDS = frozenset({"session", "open", "frame", "close", "error"})
PAYLOAD_KEYS = ("event", "text", "binary")

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
    """ISO-8601 UTC with microseconds, e.g. `2026-11-26T02:15:30.123456Z`."""
    return moment.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def encode_record(record: Mapping[str, Any]) -> str:
    """One record as a line, `\\n`-terminated."""
    return _dumps(record) + "\n"


def frame_line(seq: int, t: float, direction: Direction, payload: str | bytes) -> str:
    """One frame as a line. A JSON-object text frame is spliced in verbatim as `event`."""
    head = f'{{"kind":"frame","seq":{seq},"t":{round_t(t)!r},"from":"{direction}",'
    if isinstance(payload, bytes):
        return head + '"binary":"' + base64.b64encode(payload).decode("ascii") + '"}\n'
    if _json_object(payload) is None:
        return head + '"text":' + _dumps(payload) + "}\n"
    if "\n" in payload or "\r" in payload:
        # Raw CR/LF can only be insignificant whitespace inside valid JSON.
        payload = payload.replace("\r", " ").replace("\n", " ")
    return head + '"event":' + payload + "}\n"


# -- reading records ---------------------------------------------------------------------------


def decode_line(line: str | bytes) -> dict[str, Any]:
    """Parse and check one line; raise SessionFormatError (without file/line) if it is invalid.

    Records of kinds this version does not know are returned as they are, for readers to skip.
    """
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SessionFormatError(f"not valid JSON ({_short(exc)})") from None
    if not isinstance(record, dict):
        raise SessionFormatError("not a JSON object")
    kind = record.get("kind")
    if not isinstance(kind, str):
        raise SessionFormatError("record has no 'kind'")
    if kind == "frame":
        _check_frame(record)
    elif kind in ("open", "close", "error") and not _is_number(record.get("t")):
        raise SessionFormatError(f"{kind} record has no numeric 't'")
    return record


def _check_frame(record: dict[str, Any]) -> None:
    if not _is_number(record.get("t")):
        raise SessionFormatError("frame has no numeric 't'")
    if record.get("from") not in ("client", "server"):
        raise SessionFormatError("frame 'from' is not 'client' or 'server'")
    present = [k for k in PAYLOAD_KEYS if k in record]
    if len(present) != 1:
        raise SessionFormatError("frame needs exactly one of 'event', 'text', 'binary'")
    key = present[0]
    expected: type = dict if key == "event" else str
    if not isinstance(record[key], expected):
        raise SessionFormatError(f"frame '{key}' has the wrong type")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 80 else text[:77] + "..."


def frame_payload(record: Mapping[str, Any]) -> str | bytes:
    """The data of a frame record as it went over the wire (JSON events re-serialised)."""
    if "event" in record:
        return _dumps(record["event"])
    if "text" in record:
        return str(record["text"])
    return base64.b64decode(record["binary"])
