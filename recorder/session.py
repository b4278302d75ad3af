"""The rt-session/1 file format: records, one JSON object per line (pure, no I/O).

A session file holds one WebSocket connection:

    {"kind":"session","format":"rt-session/1","id":…,"started_at":…,"upstream":…,"request":{…},"recorder":{…}}
    {"kind":"open","t":…,"subprotocol":…,"response_headers":[…]}
    {"kind":"frame","seq":0,"t":0.0123,"from":"server","event":{…}}   (or "text": str, or "binary": base64)
    {"kind":"close","t":…,"by":"client","code":1000,"reason":""}
    {"kind":"error","t":…,"message":…,"detail":…}

`frame_pieces` builds a frame's line from the bytes received: a text frame that holds a JSON
object is spliced into the line as it came, without re-serialising it, so the recorded event is
the very object that went over the wire, and the payload is one of the pieces handed to the
writer (`os.writev`), not copied into a line. `frame_line` is the same as a string.

Secrets never reach disk, not even inside events: the recorded copy of an event goes through
the session's `SecretScrubber` (recorder/redaction.py, which says what is redacted where); only
an event that held a secret is re-serialised (compactly, key order kept).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import orjson

from recorder import __version__
from recorder.errors import SessionFormatError
from recorder.json_text import to_json
from recorder.redaction import (  # noqa: F401  (re-exported: the format's redaction rules)
    NO_SECRETS,
    REDACTED,
    SECRET_HEADERS,
    SECRET_QUERY_PARAMS,
    SECRET_SUBPROTOCOL_PREFIXES,
    UNREDACTABLE,
    SecretScrubber,
    redact_event,
    redact_headers,
    redact_query,
    redact_subprotocol,
    redact_subprotocols,
    redact_url,
    scrub,
    secret_values,
    strip_redacted_query,
)

FORMAT = "rt-session/1"
KINDS = frozenset({"session", "open", "frame", "close", "error"})
PAYLOAD_KEYS = ("event", "text", "binary")
_DIRECTIONS = ("client", "server")
# The largest `t` a reader accepts (about 32 years): beyond it a value is corrupt, and datetimes
# and sample positions computed from it would overflow.
MAX_T = 1e9

Direction = Literal["client", "server"]
Closer = Literal["client", "server", "proxy"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_strict_loads = orjson.loads  # strict JSON (no NaN, no lone surrogates, 64-bit integers)

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


_FRAME_HEADS = {
    (direction, field): (
        f'{{"kind":"frame","seq":%d,"t":%b,"from":"{direction}","{field}":'.encode()
        + (b'"' if field == "binary" else b"")
    )
    for direction in ("client", "server")
    for field in PAYLOAD_KEYS
}
_WHITESPACE = b" \t\r\n"


def frame_pieces(
    seq: int,
    t: float,
    direction: Direction,
    payload: bytes | bytearray,
    *,
    text: bool,
    scrubber: SecretScrubber = NO_SECRETS,
) -> list[bytes | bytearray]:
    """One frame's line as pieces to write one after the other (`b"".join` them for the line).

    A text frame holding a JSON object is spliced in as `event`, verbatim (re-serialised only
    when `scrubber` redacted something in it); other text as a JSON string `text` (invalid UTF-8
    replaced by U+FFFD); a binary frame as base64 `binary`.
    """
    stamp = _t_text(t)
    if not text:
        head = _FRAME_HEADS[direction, "binary"] % (seq, stamp)
        return [head, binascii.b2a_base64(payload, newline=False), b'"}\n']
    event = _json_object(payload)
    if event is None:
        head = _FRAME_HEADS[direction, "text"] % (seq, stamp)
        return [head, orjson.dumps(payload.decode("utf-8", "replace")), b"}\n"]
    if scrubber.event(event):
        try:
            redacted = _dumps(event).encode("utf-8")
        except (RecursionError, ValueError):  # nested deeper than the encoder goes
            head = _FRAME_HEADS[direction, "text"] % (seq, stamp)
            return [head, _dumps(UNREDACTABLE).encode("utf-8"), b"}\n"]
        return [_FRAME_HEADS[direction, "event"] % (seq, stamp), redacted, b"}\n"]
    if b"\n" in payload or b"\r" in payload:
        # Raw CR/LF can only be insignificant whitespace inside valid JSON.
        payload = payload.replace(b"\r", b" ").replace(b"\n", b" ")
    return [_FRAME_HEADS[direction, "event"] % (seq, stamp), payload, b"}\n"]


def _t_text(t: float) -> bytes:
    """`t` as it is written: `round_t` (microseconds) in Python's shortest float spelling, the
    spelling readers (replay's verbatim-event check) rebuild the line head with."""
    return repr(round_t(t)).encode("ascii")


def _json_object(payload: bytes | bytearray) -> dict[str, Any] | None:
    """The JSON object a text frame holds, else None. orjson is strict (no NaN, no lone
    surrogates, 64-bit integers), so such frames are kept as `text`, which every reader takes."""
    if payload[:1] != b"{" and payload.lstrip(_WHITESPACE)[:1] != b"{":
        return None
    try:
        # orjson copies any other buffer into bytes first, at twice the cost of the parse
        value = orjson.loads(payload if isinstance(payload, bytes) else bytes(payload))
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _as_bytes(payload: str | bytes) -> tuple[bytes, bool]:
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogatepass"), True
    return payload, False


def frame_line(
    seq: int,
    t: float,
    direction: Direction,
    payload: str | bytes,
    scrubber: SecretScrubber = NO_SECRETS,
) -> str:
    """One frame as a line (`frame_pieces` joined): a `str` payload is a text frame, `bytes` a
    binary one."""
    data, text = _as_bytes(payload)
    pieces = frame_pieces(seq, t, direction, data, text=text, scrubber=scrubber)
    return b"".join(pieces).decode("utf-8")


def frame_record(seq: int, t: float, direction: Direction, payload: str | bytes) -> dict[str, Any]:
    """A frame record as a dict (`frame_line` parsed)."""
    record: dict[str, Any] = json.loads(frame_line(seq, t, direction, payload))
    return record


def encode_record(record: Mapping[str, Any]) -> str:
    """One record as a line, `\\n`-terminated."""
    return _dumps(record) + "\n"


# -- reading records ---------------------------------------------------------------------------


def decode_line(line: str | bytes | memoryview) -> dict[str, Any]:
    """Parse and check one line; raise SessionFormatError (without file/line) if it is invalid.

    Records of kinds this version does not know are returned as they are, for readers to skip.
    A `t` must be seconds since the start: a finite number from 0 to `MAX_T` (`NaN`, which
    Python's JSON reader would accept, is not JSON). Duplicate keys: the last one wins.
    """
    return check_record(parse_line(line))


def parse_line(line: str | bytes | memoryview) -> dict[str, Any]:
    """One line as a JSON object (not yet checked against the format: see `check_record`)."""
    try:
        record = _strict_loads(line)
    except ValueError:
        record = _lenient_loads(line)
    if type(record) is not dict:
        raise SessionFormatError("not a JSON object")
    return record


def check_record(record: dict[str, Any]) -> dict[str, Any]:
    """`record` if it is a valid rt-session/1 record (see `decode_line`), else SessionFormatError."""
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
