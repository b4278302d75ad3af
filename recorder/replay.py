"""Re-send the client side of a recording to a server and record the new exchange.

    load_session(path)             a recording: request, open, close, and its frames in order
    replay_schedule(session, …)    pure: one `Send` per client frame (payload, gap, what to await)
    connection_plan(session, …)    pure: the URL, headers and subprotocols to dial
    run_replay(schedule, plan, …)  the asyncio shell: dial, send on schedule, record both directions
    summarise(records)             pure: frames, errors and each response's latency in one recording

Reactive pacing waits, before a client frame, until the server has sent as many *milestone*
events (`response.done`, `session.updated`, …: one per request, whatever the model) as it had
before that frame in the recording. Deltas are never awaited: another model streams a different
number of them. Appends inside a burst never wait either: server VAD only answers audio it
has, so holding audio back until VAD speaks would deadlock, and a microphone does not wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.http11 import USER_AGENT
from websockets.typing import Subprotocol

from recorder import vocabulary as vocab
from recorder.errors import InputError, RecorderError, UpstreamError
from recorder.recording import Recording, RecordingSummary
from recorder.session import (
    REDACTED,
    Direction,
    frame_payload,
    redact_url,
    strip_redacted_query,
)
from recorder.store import WarningHandler, iter_raw_records, iter_records
from recorder.upstream import (
    credentials_from_environment,
    forwarded_headers,
    has_credentials,
    normalise_upstream,
)

Pace = Literal["reactive", "timed"]
PACES: tuple[Pace, ...] = ("reactive", "timed")
DEFAULT_TIMEOUT = 30.0
NO_CLOSE_FRAME = 1006  # what the proxy records too when a connection ends without a close frame

# Server events that come once per request or per turn, whichever model answers.
MILESTONES = frozenset(
    {
        vocab.SESSION_CREATED,
        vocab.SESSION_UPDATED,
        "input_audio_buffer.committed",
        "input_audio_buffer.cleared",
        vocab.SPEECH_STARTED,
        vocab.SPEECH_STOPPED,
        vocab.ITEM_TRUNCATED,
        "conversation.item.deleted",
        "conversation.item.retrieved",
        vocab.RESPONSE_CREATED,
        vocab.RESPONSE_DONE,
    }
)
AUDIO_DELTAS = frozenset({vocab.AUDIO_DELTA})
# Close codes an endpoint may send (1005, 1006 and 1015 only describe what happened).
_SENDABLE_CLOSE_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)
_SECRET_NAME = re.compile(r"key|token|secret|auth|cookie|password|signature", re.IGNORECASE)
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
    audio_bytes: int = 0  # decoded size of an `input_audio_buffer.append`'s audio

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
    try:
        lines = list(iter_raw_records(path, on_warning))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    for number, raw, record in lines:
        kind = record["kind"]
        if kind == "frame":
            session.frames.append(_frame(number, raw, record, keep, len(session.frames)))
        elif kind == "session" and session.header is None:
            session.header = record
        elif kind == "open" and session.opened is None:
            session.opened = record
        elif kind == "close" and session.close is None:
            code = record.get("code")
            session.close = RecordedClose(
                float(record["t"]),
                str(record.get("by", "")),
                code if isinstance(code, int) and not isinstance(code, bool) else None,
                str(record.get("reason") or ""),
            )
    return session


def _frame(
    number: int, raw: bytes, record: dict[str, Any], keep: frozenset[str], index: int
) -> RecordedFrame:
    direction: Direction = record["from"]
    seq = record.get("seq")
    kind: Literal["event", "text", "binary"] = (
        "event" if "event" in record else "text" if "text" in record else "binary"
    )
    event_type = None
    audio_bytes = 0
    if kind == "event":
        value = record["event"].get("type")
        event_type = vocab.canonical(value) if isinstance(value, str) else None
        if event_type == vocab.AUDIO_APPEND:
            audio_bytes = base64_size(record["event"].get("audio"))
    payload: str | bytes | None = None
    if direction in keep:
        payload = _verbatim_event(raw, record) if kind == "event" else frame_payload(record)
    return RecordedFrame(
        seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else index,
        t=float(record["t"]),
        direction=direction,
        line=number,
        kind=kind,
        event_type=event_type,
        payload=payload,
        audio_bytes=audio_bytes,
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


def base64_size(value: object) -> int:
    """Decoded size of a base64 string, without decoding it (0 for anything else)."""
    if not isinstance(value, str) or not value:
        return 0
    return len(value) * 3 // 4 - (len(value) - len(value.rstrip("=")))


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


# -- the schedule (pure) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """One client frame to re-send, and when.

    It is due `gap` after the previous frame was due (or the connection opened) and, once the
    server has sent `wait_for` (canonical type -> how many in all since the connection opened),
    no earlier than `delay` after the last of those arrived.
    """

    frame: RecordedFrame
    gap: float
    wait_for: Mapping[str, int]
    delay: float


@dataclass(frozen=True)
class Finish:
    """How the replay ends, after the last client frame, in the same terms as `Send`."""

    gap: float
    wait_for: Mapping[str, int]
    delay: float
    server_closes: bool  # the recording was closed by the server: give it the chance again
    code: int
    reason: str


@dataclass(frozen=True)
class Schedule:
    sends: tuple[Send, ...]
    finish: Finish
    pace: Pace
    speed: float
    fast: bool


def replay_schedule(
    session: RecordedSession, pace: Pace = "reactive", speed: float = 1.0, fast: bool = False
) -> Schedule:
    """When to send each client frame of `session` (see `Send`).

    Gaps and delays are the recorded ones divided by `speed` (zero with `fast`), except around
    audio appends, which keep real time: the server's VAD hears the audio at the pace it is sent.
    """
    if pace not in PACES:
        raise InputError(f"unknown pace {pace!r}: choose reactive or timed")
    if not speed > 0:
        raise InputError(f"speed must be greater than 0, not {speed:g}")
    if not session.client_frames:
        raise InputError(f"{session.path}: nothing to replay (the recording has no client frames)")
    scale = 0.0 if fast else 1.0 / speed
    reactive = pace == "reactive"
    counts: Counter[str] = Counter()
    awaited: Counter[str] = Counter()
    last_milestone_t: float | None = None
    previous_t = session.start_t
    previous_was_append = False
    sends: list[Send] = []
    for frame in session.frames:
        if frame.direction == "server":
            if frame.event_type in MILESTONES:
                counts[frame.event_type] += 1
                last_milestone_t = frame.t
            continue
        is_append = frame.event_type == vocab.AUDIO_APPEND
        frame_scale = (0.0 if fast else 1.0) if is_append else scale
        wait_for: dict[str, int] = {}
        delay = 0.0
        if reactive and not (is_append and previous_was_append):
            wait_for = {k: n for k, n in counts.items() if n > awaited[k]}
            awaited = counts.copy()
            if wait_for and last_milestone_t is not None:
                delay = max(0.0, frame.t - last_milestone_t) * frame_scale
        gap = max(0.0, frame.t - previous_t) * frame_scale
        sends.append(Send(frame, gap, wait_for, delay))
        previous_t = frame.t
        previous_was_append = is_append
    end_t = session.close.t if session.close is not None else session.frames[-1].t
    finish_wait = {k: n for k, n in counts.items() if n > awaited[k]} if reactive else {}
    finish_delay = 0.0
    if finish_wait and last_milestone_t is not None:
        finish_delay = max(0.0, end_t - last_milestone_t) * scale
    close = session.close
    ours = close is not None and close.by != "server"
    return Schedule(
        sends=tuple(sends),
        finish=Finish(
            gap=max(0.0, end_t - previous_t) * scale,
            wait_for=finish_wait,
            delay=finish_delay,
            server_closes=close is not None and close.by == "server",
            code=sendable_close_code(close.code) if close is not None and ours else 1000,
            reason=close.reason if close is not None and ours else "",
        ),
        pace=pace,
        speed=speed,
        fast=fast,
    )


def sendable_close_code(code: int | None) -> int:
    """A recorded close code, or 1000 where it cannot be sent in a close frame."""
    if code is not None and (code in _SENDABLE_CLOSE_CODES or 3000 <= code < 5000):
        return code
    return 1000


# -- where to connect (pure) --------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionPlan:
    """What to dial. `url` and `headers` may hold credentials; the rest is safe to write."""

    url: str
    upstream: str  # scheme://host[:port][/prefix], for the new recording
    path: str  # path and query, for the new recording
    headers: tuple[tuple[str, str], ...]
    recorded_headers: tuple[tuple[str, str], ...]
    subprotocols: tuple[str, ...]

    @property
    def safe_url(self) -> str:
        return redact_url(self.url)


def parse_header(text: str) -> tuple[str, str]:
    """`"Name: value"` -> `("Name", "value")`."""
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name or any(c.isspace() for c in name):
        raise InputError(f"header must look like 'Name: value', not {text!r}")
    return name, value.strip()


def connection_plan(
    session: RecordedSession,
    target: str | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
    environ: Mapping[str, str] | None = None,
) -> ConnectionPlan:
    """Dial like the recorded client did, minus what was redacted, plus the caller's credentials.

    `target` is a URL: with a path (or query) it is dialled as it is; with only a scheme and host
    the recorded path and query are appended. Without it the recorded upstream is dialled.
    Credentials come from `extra_headers`, else from the environment (`OPENAI_API_KEY`, or
    `AZURE_OPENAI_API_KEY` for an Azure host).
    """
    recorded_path = session.request_path
    recorded_path = strip_redacted_query(recorded_path) if recorded_path else None
    if target is not None:
        parts = urlsplit(target)
        scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
        if scheme not in ("ws", "wss") or not parts.netloc:
            raise InputError(f"target must be a ws://, wss:// or https:// URL, not {target!r}")
        base = f"{scheme}://{parts.netloc}"
        if parts.path not in ("", "/") or parts.query:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        elif recorded_path is not None:
            path = recorded_path
        else:
            raise InputError(
                f"{session.path}: the recording has no request path; give --target a full URL"
            )
    else:
        upstream = session.upstream
        if upstream is None or recorded_path is None:
            raise InputError(
                f"{session.path}: the recording names no upstream and path; give --target"
            )
        parts = urlsplit(upstream)
        netloc = parts.netloc.rsplit("@", 1)[-1]  # a redacted userinfo cannot be re-sent
        prefix = parts.path
        recorded_route = urlsplit(recorded_path).path
        if recorded_route not in ("", "/") and prefix.endswith(recorded_route):
            prefix = prefix[: -len(recorded_route)]  # the proxy wrote the full URL it dialled
        base = normalise_upstream(f"{parts.scheme}://{netloc}{prefix}")
        path = recorded_path
    if not path.startswith("/"):
        path = "/" + path
    user = list(extra_headers)
    user_names = {name.lower() for name, _ in user}
    headers = [
        (name, value)
        for name, value in forwarded_headers(session.request_headers)
        if value != REDACTED and name.lower() not in user_names
    ] + user
    subprotocols = tuple(s for s in session.request_subprotocols if REDACTED not in s)
    if not has_credentials(headers, subprotocols, path):
        headers += credentials_from_environment(base, environ if environ is not None else {})
    recorded = [
        (name, REDACTED if name.lower() in user_names and _SECRET_NAME.search(name) else value)
        for name, value in headers
    ]
    return ConnectionPlan(
        url=base + path,
        upstream=base,
        path=path,
        headers=tuple(headers),
        recorded_headers=tuple(recorded),
        subprotocols=subprotocols,
    )


# -- errors -------------------------------------------------------------------------------------


def _waiting_for(wait_for: Mapping[str, int], arrived: Mapping[str, int]) -> str:
    missing = [
        f"{arrived.get(kind, 0)} of {count} {kind}"
        for kind, count in sorted(wait_for.items())
        if arrived.get(kind, 0) < count
    ]
    return ", ".join(missing) or "nothing"


class ReplayTimeout(RecorderError):
    """The server did not send what the recorded server had sent, in time."""

    def __init__(
        self,
        timeout: float,
        wait_for: Mapping[str, int],
        arrived: Mapping[str, int],
        before: RecordedFrame | None,
        position: tuple[int, int],
        source: Path,
    ) -> None:
        self.timeout = timeout
        self.wait_for = dict(wait_for)
        self.arrived = dict(arrived)
        self.before = before
        self.position = position
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        where = _where(self.before, self.position, self.source)
        got = _waiting_for(self.wait_for, self.arrived)
        return (
            f"replay timed out after {self.timeout:g} s {where}: the server sent {got} "
            "(the recording had all of them); try --timeout or --pace timed"
        )


class ReplayStopped(RecorderError):
    """The server closed the connection before the replay was over."""

    def __init__(
        self,
        code: int | None,
        reason: str,
        before: RecordedFrame | None,
        position: tuple[int, int],
        source: Path,
    ) -> None:
        self.code = code
        self.reason = reason
        self.before = before
        self.position = position
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        how = "dropped the connection" if self.code is None else f"closed with {self.code}"
        if self.reason:
            how += f" {self.reason!r}"
        return f"replay stopped: the server {how} {_where(self.before, self.position, self.source)}"


def _where(before: RecordedFrame | None, position: tuple[int, int], source: Path) -> str:
    if before is None:
        return f"after the last client frame ({position[1]} sent)"
    return (
        f"before client frame {position[0]} of {position[1]} "
        f"({before.label}, {source}:{before.line})"
    )


# -- the asyncio shell --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayResult:
    recording: RecordingSummary
    target: str  # the URL dialled, secrets removed
    frames_sent: int
    frames_planned: int
    frames_received: int
    stopped: RecorderError | None  # why the replay ended early, if it did


async def run_replay(
    schedule: Schedule,
    plan: ConnectionPlan,
    out_dir: str | Path,
    *,
    source: Path,
    timeout: float = DEFAULT_TIMEOUT,
    on_write_error: Any = None,
) -> ReplayResult:
    """Dial `plan`, send `schedule` and record both directions into a new file in `out_dir`.

    Never raises for what the server does: a refused handshake, a timeout or an early close
    ends the replay with an `error` and a `close` line in the file and is returned in `stopped`.
    """
    if not timeout > 0:
        raise InputError(f"timeout must be greater than 0, not {timeout:g}")
    return await _Replayer(schedule, plan, out_dir, source, timeout, on_write_error).run()


class _Replayer:
    def __init__(
        self,
        schedule: Schedule,
        plan: ConnectionPlan,
        out_dir: str | Path,
        source: Path,
        timeout: float,
        on_write_error: Any,
    ) -> None:
        self.schedule = schedule
        self.plan = plan
        self.source = source
        self.timeout = timeout
        self.recording = Recording(
            out_dir,
            upstream=plan.upstream,
            path=plan.path,
            headers=plan.recorded_headers,
            subprotocols=plan.subprotocols,
            on_write_error=on_write_error,
        )
        self.arrivals: defaultdict[str, list[float]] = defaultdict(list)
        self.changed = asyncio.Event()
        self.sent = 0
        self.receiver: asyncio.Task[None] | None = None
        self.ws: ClientConnection | None = None
        self.due = 0.0  # when the last frame sent was due, on the recording's clock

    async def run(self) -> ReplayResult:
        stopped: RecorderError | None = None
        try:
            ws = self.ws = await self._connect()
        except RecorderError as exc:
            self.recording.error(str(exc))
            self.recording.closed("server", None, "")
            return self._result(await self.recording.afinish(), exc)
        try:
            self.recording.opened(ws.subprotocol, _response_headers(ws))
            self.receiver = asyncio.create_task(self._receive(ws))
            await self._send_all(ws)
            await self._finish()
        except RecorderError as exc:
            stopped = exc
            self.recording.error(str(exc))
        except asyncio.CancelledError:
            self.recording.error("replay interrupted")
            raise
        finally:
            await self._close(ws, stopped=stopped is not None)
            summary = await asyncio.shield(self.recording.afinish())
        return self._result(summary, stopped)

    def _result(self, summary: RecordingSummary, stopped: RecorderError | None) -> ReplayResult:
        return ReplayResult(
            recording=summary,
            target=self.plan.safe_url,
            frames_sent=self.sent,
            frames_planned=len(self.schedule.sends),
            frames_received=summary.frames_from_server,
            stopped=stopped,
        )

    async def _connect(self) -> ClientConnection:
        plan = self.plan
        has_agent = any(name.lower() == "user-agent" for name, _ in plan.headers)
        try:
            return await connect(
                plan.url,
                additional_headers=list(plan.headers),
                subprotocols=[Subprotocol(s) for s in plan.subprotocols] or None,
                max_size=None,
                compression=None,
                open_timeout=self.timeout,
                user_agent_header=None if has_agent else USER_AGENT,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise UpstreamError(
                f"{plan.safe_url} refused the connection: HTTP {status}", status
            ) from None
        except (InvalidHandshake, InvalidURI) as exc:
            raise UpstreamError(f"cannot connect to {plan.safe_url}: {exc}") from None
        except (OSError, asyncio.TimeoutError) as exc:
            detail = getattr(exc, "strerror", None) or str(exc) or "no answer in time"
            raise UpstreamError(f"cannot connect to {plan.safe_url}: {detail}") from None

    async def _receive(self, ws: ClientConnection) -> None:
        recording = self.recording
        try:
            async for message in ws:
                recording.frame("server", message)
                kind = event_type_of(message)
                if kind in MILESTONES:
                    self.arrivals[kind].append(recording.now())
                    self.changed.set()
        except ConnectionClosed:
            pass
        finally:
            received = ws.protocol.close_rcvd
            sent = ws.protocol.close_sent
            if received is not None and (sent is None or ws.protocol.close_rcvd_then_sent):
                recording.closed("server", received.code, received.reason)
            elif sent is None:
                recording.closed("server", NO_CLOSE_FRAME, "")
            self.changed.set()

    async def _send_all(self, ws: ClientConnection) -> None:
        # Frames are due on a timeline (the previous frame's due time + gap), not after the
        # previous actual send: late wake-ups then do not add up, and audio stays real time.
        sends = self.schedule.sends
        self.due = self.recording.now()
        for index, step in enumerate(sends, start=1):
            due = self.due + step.gap
            if step.wait_for:
                arrived_at = await self._await(step.wait_for, step.frame, (index, len(sends)))
                due = max(due, arrived_at + step.delay)
            await _sleep_until(self.recording, due)
            self._check_open(step.frame, (index, len(sends)))
            payload = step.frame.payload
            assert payload is not None, "replay needs the client payloads (load_session keep)"
            self.recording.frame("client", payload)
            try:
                await ws.send(payload)
            except ConnectionClosed:
                if self.receiver is not None:
                    await asyncio.wait({self.receiver}, timeout=self.timeout)
                raise self._stopped(step.frame, (index, len(sends))) from None
            self.sent += 1
            self.due = due

    async def _finish(self) -> None:
        finish = self.schedule.finish
        position = (self.sent, len(self.schedule.sends))
        due = self.due + finish.gap
        if finish.wait_for:
            arrived_at = await self._await(finish.wait_for, None, position)
            due = max(due, arrived_at + finish.delay)
        await _sleep_until(self.recording, due)
        if finish.server_closes and self.schedule.pace == "reactive" and self.receiver:
            # The recorded server hung up by itself: give this one the same chance (a server
            # that does not is not an error; timed pace does not wait past the recorded end).
            await asyncio.wait({self.receiver}, timeout=self.timeout)

    async def _await(
        self, wait_for: Mapping[str, int], before: RecordedFrame | None, position: tuple[int, int]
    ) -> float:
        """Wait until the server sent `wait_for`; return when the last of them arrived."""
        deadline = self.recording.now() + self.timeout
        while True:
            self.changed.clear()
            arrivals = self.arrivals
            if all(len(arrivals[kind]) >= n for kind, n in wait_for.items()):
                return max(arrivals[kind][n - 1] for kind, n in wait_for.items())
            self._check_open(before, position)
            remaining = deadline - self.recording.now()
            if remaining <= 0:
                arrived = {kind: len(arrivals[kind]) for kind in wait_for}
                raise ReplayTimeout(self.timeout, wait_for, arrived, before, position, self.source)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)

    def _check_open(self, before: RecordedFrame | None, position: tuple[int, int]) -> None:
        if self.receiver is not None and self.receiver.done():
            raise self._stopped(before, position)

    def _stopped(self, before: RecordedFrame | None, position: tuple[int, int]) -> ReplayStopped:
        received = None if self.ws is None else self.ws.protocol.close_rcvd
        code = None if received is None else received.code
        reason = "" if received is None else received.reason
        return ReplayStopped(code, reason, before, position, self.source)

    async def _close(self, ws: ClientConnection, *, stopped: bool) -> None:
        receiver = self.receiver
        if receiver is None or not receiver.done():
            finish = self.schedule.finish
            code, reason = (1000, "rt replay stopped") if stopped else (finish.code, finish.reason)
            self.recording.closed("client", code, reason)
            try:
                await asyncio.wait_for(ws.close(code, reason), self.timeout)
            except (asyncio.TimeoutError, ConnectionClosed, OSError):
                ws.transport.abort()
        if receiver is not None:
            await asyncio.wait({receiver}, timeout=self.timeout)
            if not receiver.done():
                receiver.cancel()


def _response_headers(ws: ClientConnection) -> list[tuple[str, str]]:
    return list(ws.response.headers.raw_items()) if ws.response is not None else []


async def _sleep_until(recording: Recording, when: float) -> None:
    delay = when - recording.now()
    if delay > 0:
        await asyncio.sleep(delay)


# -- what a recording shows (pure) --------------------------------------------------------------


@dataclass(frozen=True)
class ResponseLatency:
    """One response: what triggered it and how long until its first audio (CONTRACT §3 ttfb)."""

    response_id: str
    trigger: str | None
    trigger_t: float | None
    ttfb_ms: float | None
    status: str | None


@dataclass(frozen=True)
class ServerError:
    t: float
    type: str | None
    code: str | None
    message: str | None


@dataclass(frozen=True)
class RecordingFacts:
    frames_from_client: int
    frames_from_server: int
    responses: tuple[ResponseLatency, ...]
    errors: tuple[ServerError, ...]


def summarise(records: Iterable[Mapping[str, Any]]) -> RecordingFacts:
    """Frames, server errors and per-response latency of one recording's records, in one pass.

    A response's trigger is the latest client `response.create` or server `speech_stopped`
    before its `response.created` that no earlier response claimed (CONTRACT §3).
    """
    frames: Counter[str] = Counter()
    triggers: list[tuple[float, str, bool]] = []  # (t, type, claimed)
    order: list[str] = []
    trigger_of: dict[str, tuple[str | None, float | None]] = {}
    first_audio: dict[str, float] = {}
    status: dict[str, str] = {}
    errors: list[ServerError] = []
    for record in records:
        if record.get("kind") != "frame":
            continue
        direction = str(record.get("from"))
        frames[direction] += 1
        event = record.get("event")
        if not isinstance(event, Mapping) or not isinstance(event.get("type"), str):
            continue
        kind = vocab.canonical(event["type"])
        t = float(record["t"])
        if direction == "client":
            if kind == vocab.RESPONSE_CREATE:
                triggers.append((t, kind, False))
            continue
        if kind == vocab.SPEECH_STOPPED:
            triggers.append((t, kind, False))
        elif kind == vocab.RESPONSE_CREATED:
            response = event.get("response")
            response_id = response.get("id") if isinstance(response, Mapping) else None
            if isinstance(response_id, str) and response_id not in trigger_of:
                order.append(response_id)
                trigger_of[response_id] = _claim_trigger(triggers)
        elif kind in AUDIO_DELTAS:
            response_id = event.get("response_id")
            if isinstance(response_id, str) and response_id not in first_audio:
                first_audio[response_id] = t
        elif kind == vocab.RESPONSE_DONE:
            response = event.get("response")
            if isinstance(response, Mapping) and isinstance(response.get("id"), str):
                status[response["id"]] = str(response.get("status"))
        elif kind == vocab.ERROR:
            detail = event.get("error")
            detail = detail if isinstance(detail, Mapping) else {}
            errors.append(
                ServerError(
                    t,
                    _opt_str(detail.get("type")),
                    _opt_str(detail.get("code")),
                    _opt_str(detail.get("message")),
                )
            )
    responses = []
    for response_id in order:
        trigger, trigger_t = trigger_of[response_id]
        audio_t = first_audio.get(response_id)
        ttfb = None
        if audio_t is not None and trigger_t is not None:
            ttfb = round((audio_t - trigger_t) * 1000, 3)
        responses.append(
            ResponseLatency(response_id, trigger, trigger_t, ttfb, status.get(response_id))
        )
    return RecordingFacts(frames["client"], frames["server"], tuple(responses), tuple(errors))


def _claim_trigger(triggers: list[tuple[float, str, bool]]) -> tuple[str | None, float | None]:
    for index in range(len(triggers) - 1, -1, -1):
        t, kind, claimed = triggers[index]
        if not claimed:
            triggers[index] = (t, kind, True)
            return kind, t
    return None, None


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def summarise_file(path: str | Path, on_warning: WarningHandler | None = None) -> RecordingFacts:
    """`summarise` over a session file, streaming (bad lines skipped with a warning)."""
    return summarise(record for _, record in iter_records(path, on_warning))


@dataclass(frozen=True)
class ResponseComparison:
    index: int
    original: ResponseLatency | None
    replayed: ResponseLatency | None

    @property
    def change_ms(self) -> float | None:
        if self.original is None or self.replayed is None:
            return None
        if self.original.ttfb_ms is None or self.replayed.ttfb_ms is None:
            return None
        return round(self.replayed.ttfb_ms - self.original.ttfb_ms, 3)


def compare_responses(
    original: RecordingFacts, replayed: RecordingFacts
) -> list[ResponseComparison]:
    """The responses of both recordings side by side, paired by order."""
    count = max(len(original.responses), len(replayed.responses))
    return [
        ResponseComparison(
            index + 1,
            original.responses[index] if index < len(original.responses) else None,
            replayed.responses[index] if index < len(replayed.responses) else None,
        )
        for index in range(count)
    ]
