"""A recording read for re-sending: its request, open and close, and its frames in order,
each with its payload exactly as recorded (`load_session`).

Frames are read through the one `Interpreter`: their numbers, times and canonical types are
what every other command says about them.

A recording may hold millions of frames, so what is kept of each is a compact index (about 50
bytes a frame in `RecordedFrames`: number, time, direction, line, type, audio size, and where
its payload lies in the file); a payload is read from the file when it is asked for, one frame
at a time. Replaying or serving a recording of any length thus takes memory for its index and
its interpretation, not for its frames.
"""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

from recorder import vocabulary as vocab
from recorder.errors import InputError, SessionFormatError
from recorder.handshake import is_header, is_token
from recorder.interpretation import Frame, Interpreter, SessionFacts
from recorder.interpretation.layout import INPUT_AUDIO
from recorder.reading import OnWarning as WarningHandler
from recorder.reading import iter_raw_records
from recorder.session import Direction, decode_line, frame_payload

_TYPE_FIRST = re.compile(r'\s*\{\s*"type"\s*:\s*"([^"\\]*)"')
Kind = Literal["event", "text", "binary"]
_KINDS: tuple[Kind, ...] = ("event", "text", "binary")
_SERVER = 1  # flag bits of a frame in RecordedFrames
_VERBATIM = 8  # its payload is a slice of its line (an event as it went over the wire)
_BUFFER_BYTES = 2**20
T = TypeVar("T")


class IndexedSequence(Sequence[T]):
    """A sequence of items made on demand by `_item(index)` from compact columns: indexing
    with negative numbers and slices as a list does, and IndexError past either end."""

    def _item(self, index: int) -> T:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._item(index)


# -- a recording, read for re-sending -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedFrame:
    """One recorded frame. `payload` is the data exactly as recorded (None if not kept), read
    from the file when it is asked for."""

    seq: int
    t: float
    direction: Direction
    line: int
    kind: Kind
    event_type: str | None  # canonical type of a JSON event
    audio_bytes: int = 0  # decoded size of an append's audio (Realtime or GPT-Live)
    _frames: RecordedFrames | None = field(default=None, repr=False, compare=False)
    _index: int = field(default=-1, repr=False, compare=False)

    @property
    def payload(self) -> str | bytes | None:
        if self._frames is None:
            return None
        return self._frames.payload(self._index)

    @property
    def label(self) -> str:
        """What the frame is, for messages: its event type, or `text`/`binary`."""
        return self.event_type or self.kind


class RecordedFrames(IndexedSequence[RecordedFrame]):
    """The frames of a recording, in order: a compact index in memory, each payload read from
    the file when asked for (see the module docstring). Payloads are kept (readable) only for
    the directions in `keep`."""

    def __init__(self, path: Path, keep: frozenset[str]) -> None:
        self.path = path
        self.keep = keep
        self.client_count = 0
        self._seq = array("q")
        self._t = array("d")
        self._line = array("q")
        self._audio = array("q")
        self._start = array("q")  # where the payload (verbatim) or the whole line starts
        self._size = array("q")
        self._flags = bytearray()  # _SERVER | kind index << 1 | _VERBATIM
        self._type = array("i")  # index into _types; -1: no event type
        self._types: list[str] = []
        self._type_numbers: dict[str, int] = {}

    def add(self, frame: Frame, offset: int, raw: bytes, record: Mapping[str, Any]) -> None:
        """Index one frame: the interpretation's `frame`, its line `raw` at `offset`."""
        kind = 0 if frame.event is not None else 1 if frame.text is not None else 2
        flags = (frame.direction == "server") | kind << 1
        start, size = offset, len(raw)
        if kind == 0:
            payload = _verbatim_event(raw, record)
            if payload is not None:
                start, size = offset + payload[0], payload[1]
                flags |= _VERBATIM
        if frame.direction == "client":
            self.client_count += 1
        event_type = frame.type if frame.raw_type is not None else None
        number = -1
        if event_type is not None:
            number = self._type_numbers.setdefault(event_type, len(self._types))
            if number == len(self._types):
                self._types.append(event_type)
        self._seq.append(frame.number)
        self._t.append(frame.t)
        self._line.append(frame.line)
        self._audio.append(frame.audio_bytes if frame.type in INPUT_AUDIO else 0)
        self._start.append(start)
        self._size.append(size)
        self._flags.append(flags)
        self._type.append(number)

    def __len__(self) -> int:
        return len(self._t)

    def _item(self, index: int) -> RecordedFrame:
        return self.frame(index)

    def __iter__(self) -> Iterator[RecordedFrame]:
        frame = self.frame
        return (frame(index) for index in range(len(self)))

    def frame(self, index: int) -> RecordedFrame:
        """Frame `index` (from 0, unchecked)."""
        flags = self._flags[index]
        direction: Direction = "server" if flags & _SERVER else "client"
        number = self._type[index]
        return RecordedFrame(
            self._seq[index],
            self._t[index],
            direction,
            self._line[index],
            _KINDS[flags >> 1 & 3],
            None if number < 0 else self._types[number],
            self._audio[index],
            self if direction in self.keep else None,
            index,
        )

    # -- cheap views for loops over every frame (no object per frame) ---------------------------

    def direction(self, index: int) -> Direction:
        return "server" if self._flags[index] & _SERVER else "client"

    def outline(self) -> Iterator[tuple[int, float, bool, str | None, int]]:
        """`(index, t, from the client, event type, audio bytes)` of every frame, in order."""
        types = [*self._types, None]  # index -1: no type
        for index, (t, flags, number, audio) in enumerate(
            zip(self._t, self._flags, self._type, self._audio, strict=True)
        ):
            yield index, t, not flags & _SERVER, types[number], audio

    def t(self, index: int) -> float:
        return self._t[index]

    # -- payloads --------------------------------------------------------------------------------

    def kept(self, index: int) -> bool:
        """Whether the payload of frame `index` is kept (its direction's payloads are)."""
        return ("server" if self._flags[index] & _SERVER else "client") in self.keep

    def kept_payload(self, index: int) -> str | bytes | None:
        """The payload of frame `index` if its direction's payloads are kept, else None."""
        return self.payload(index) if self.kept(index) else None

    def payload(self, index: int) -> str | bytes:
        """The payload of frame `index` as it went over the wire, read from the file (which
        is opened for this one read: to read many, use `reading`)."""
        with self.reading() as read:
            return read(index)

    @contextmanager
    def reading(self) -> Iterator[Callable[[int], str | bytes]]:
        """`read(index) -> payload` while the file stays open (closed on leaving): for reading
        many payloads, mostly in file order, without holding a file open between uses."""
        try:
            file = open(self.path, "rb", buffering=_BUFFER_BYTES)  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InputError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        starts, sizes, flags = self._start, self._size, self._flags

        def read(index: int) -> str | bytes:
            file.seek(starts[index])  # buffered: a seek within the buffer costs no read
            data = file.read(sizes[index])
            if flags[index] & _VERBATIM:
                if not data.lstrip()[:1] == b"{":
                    raise self._changed(index)
                return data.decode("utf-8", "surrogatepass")
            try:
                record = decode_line(data)
            except SessionFormatError:
                raise self._changed(index) from None
            return frame_payload(record)

        with file:
            yield read

    def _changed(self, index: int) -> InputError:
        return InputError(
            f"{self.path}:{self._line[index]}: the file changed since it was read; read it again"
        )


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
    frames: RecordedFrames
    header: Mapping[str, Any] | None = None
    opened: Mapping[str, Any] | None = None
    close: RecordedClose | None = None
    facts: SessionFacts | None = None  # the interpretation of the whole recording

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
        pairs = _list(self._request.get("headers"))
        return [
            (p[0], p[1])
            for p in pairs
            if isinstance(p, list) and len(p) == 2 and _is_header(p[0], p[1])
        ]

    @property
    def request_subprotocols(self) -> list[str]:
        return [
            s
            for s in _list(self._request.get("subprotocols"))
            if isinstance(s, str) and is_token(s)
        ]

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
        return self.frames.t(0) if self.frames else 0.0

    @property
    def client_frames(self) -> list[RecordedFrame]:
        """The client's frames (an object each: for small recordings and tests)."""
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

    Payloads stay readable only for the directions asked for: replay needs the client's, serve
    the server's. A JSON event is kept as the very text recorded, not re-serialised.
    """
    path = Path(path)
    frames = RecordedFrames(path, frozenset(keep_payloads))
    session = RecordedSession(path, frames)
    interpreter = Interpreter(path, on_warning, measure_audio=False)
    try:
        for number, offset, raw, record in iter_raw_records(path, on_warning):
            kind = record["kind"]
            frame = interpreter.feed(number, record)
            if frame is not None:
                frames.add(frame, offset, raw, record)
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
    session.facts = interpreter.finish()
    return session


def _is_header(name: object, value: object) -> bool:
    """A recorded header HTTP could have carried (re-sending another would break the
    handshake)."""
    return isinstance(name, str) and isinstance(value, str) and is_header(name, value)


def _list(value: object) -> list[Any]:
    """A header field that should be a list, or none (a hostile file may hold anything)."""
    return value if isinstance(value, list) else []


def _verbatim_event(raw: bytes, record: Mapping[str, Any]) -> tuple[int, int] | None:
    """Where the event lies in its line `raw` (start, length), when the line has exactly the
    shape the writer gives it (session.frame_line: the wire text spliced after a fixed head);
    None otherwise (the event is then re-serialised from the record)."""
    if len(record) != 5:
        return None
    head = (
        f'{{"kind":"frame","seq":{record.get("seq")!r},"t":{record["t"]!r},'
        f'"from":"{record["from"]}","event":'
    ).encode()
    body = raw.rstrip()
    if body.startswith(head) and body.endswith(b"}"):
        return len(head), len(body) - len(head) - 1
    return None


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
