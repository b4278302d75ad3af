"""A recording read for re-sending: its request, open and close, and its frames in order,
each with its payload exactly as recorded (`load_session`).

Frames are read through the one `Interpreter`: their numbers, times and canonical types are
what every other command says about them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from recorder import vocabulary as vocab
from recorder.errors import InputError
from recorder.interpretation import Frame, Interpreter
from recorder.interpretation.layout import INPUT_AUDIO
from recorder.reading import OnWarning as WarningHandler
from recorder.reading import iter_raw_records
from recorder.session import (
    Direction,
    frame_payload,
)

_TYPE_FIRST = re.compile(r'\s*\{\s*"type"\s*:\s*"([^"\\]*)"')


# -- a recording, read for re-sending -----------------------------------------------------------


@dataclass(frozen=True)
class RecordedFrame:
    """One recorded frame. `payload` is the data exactly as recorded (None if not kept)."""

    seq: int
    t: float
    direction: Direction
    line: int
    kind: Literal["event", "text", "binary"]
    event_type: str | None  # canonical type of a JSON event
    payload: str | bytes | None
    audio_bytes: int = 0  # decoded size of an append's audio (Realtime or GPT-Live)

    @property
    def label(self) -> str:
        """What the frame is, for messages: its event type, or `text`/`binary`."""
        return self.event_type or self.kind


@dataclass(frozen=True)
class RecordedClose:
    t: float
    by: str
    code: int | None
    reason: str


@dataclass
class RecordedSession:
    """The parts of a session file that replay and serve need."""

    path: Path
    header: Mapping[str, Any] | None = None
    opened: Mapping[str, Any] | None = None
    close: RecordedClose | None = None
    frames: list[RecordedFrame] = field(default_factory=list)

    @property
    def upstream(self) -> str | None:
        value = (self.header or {}).get("upstream")
        return value if isinstance(value, str) and value else None

    @property
    def request_path(self) -> str | None:
        value = self._request.get("path")
        return value if isinstance(value, str) and value else None

    @property
    def request_headers(self) -> list[tuple[str, str]]:
        pairs = self._request.get("headers") or []
        return [(str(p[0]), str(p[1])) for p in pairs if isinstance(p, list) and len(p) == 2]

    @property
    def request_subprotocols(self) -> list[str]:
        return [str(s) for s in self._request.get("subprotocols") or [] if isinstance(s, str)]

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server chose, as recorded."""
        value = (self.opened or {}).get("subprotocol")
        return value if isinstance(value, str) else None

    @property
    def start_t(self) -> float:
        """When the connection opened, on the recording's clock."""
        if self.opened is not None:
            return float(self.opened["t"])
        return self.frames[0].t if self.frames else 0.0

    @property
    def client_frames(self) -> list[RecordedFrame]:
        return [f for f in self.frames if f.direction == "client"]

    @property
    def _request(self) -> Mapping[str, Any]:
        request = (self.header or {}).get("request")
        return request if isinstance(request, Mapping) else {}


def load_session(
    path: str | Path,
    keep_payloads: Iterable[Direction] = ("client", "server"),
    on_warning: WarningHandler | None = None,
) -> RecordedSession:
    """Read a session file, skipping bad lines with a warning each (like `iter_records`).

    Payloads are kept only for the directions asked for: replay needs the client's, serve the
    server's. A JSON event is kept as the very text recorded, not re-serialised.
    """
    path = Path(path)
    keep = frozenset(keep_payloads)
    session = RecordedSession(path)
    interpreter = Interpreter(path, on_warning, measure_audio=False)
    try:
        for number, raw, record in iter_raw_records(path, on_warning):
            kind = record["kind"]
            frame = interpreter.feed(number, record)
            if frame is not None:
                session.frames.append(_frame(frame, raw, record, keep))
            elif kind == "session" and session.header is None:
                session.header = record
            elif kind == "open" and session.opened is None:
                session.opened = record
            elif kind == "close" and session.close is None:
                connection = interpreter.connection
                session.close = RecordedClose(
                    interpreter.max_t,
                    connection.closed_by or "",
                    connection.close_code,
                    connection.close_reason or "",
                )
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return session


def _frame(frame: Frame, raw: bytes, record: dict[str, Any], keep: frozenset[str]) -> RecordedFrame:
    kind: Literal["event", "text", "binary"] = (
        "event" if frame.event is not None else "text" if frame.text is not None else "binary"
    )
    payload: str | bytes | None = None
    if frame.direction in keep:
        payload = _verbatim_event(raw, record) if kind == "event" else frame_payload(record)
    return RecordedFrame(
        seq=frame.number,
        t=frame.t,
        direction=frame.direction,
        line=frame.line,
        kind=kind,
        event_type=frame.type if frame.raw_type is not None else None,
        payload=payload,
        audio_bytes=frame.audio_bytes if frame.type in INPUT_AUDIO else 0,
    )


def _verbatim_event(raw: bytes, record: Mapping[str, Any]) -> str:
    # The writer splices the wire text after a fixed head (session.frame_line); when the line has
    # exactly that shape the text between head and final brace is what went over the wire.
    if len(record) == 5:
        head = (
            f'{{"kind":"frame","seq":{record.get("seq")!r},"t":{record["t"]!r},'
            f'"from":"{record["from"]}","event":'
        )
        text = raw.decode("utf-8", "surrogatepass").rstrip()
        if text.startswith(head) and text.endswith("}"):
            return text[len(head) : -1]
    return str(frame_payload(record))


def event_type_of(payload: str | bytes) -> str | None:
    """The canonical type of a JSON event frame, read cheaply when `type` comes first."""
    if isinstance(payload, bytes):
        return None
    match = _TYPE_FIRST.match(payload)
    if match is not None:
        return vocab.canonical(match.group(1))
    if not payload.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    return vocab.canonical(kind) if isinstance(kind, str) else None
