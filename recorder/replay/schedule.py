"""What a replay sends and when (pure): one `Send` per client frame with its gap and the server
events it waits for (`replay_schedule`), and where to connect (`connection_plan`).

Reactive pacing waits, before a client frame, until the server has sent as many *milestone*
events (`response.done`, `session.updated`, …: one per request, whatever the model) as it had
before that frame in the recording. Deltas are never awaited: another model streams a different
number of them. Appends inside a burst never wait either: server VAD only answers audio it
has, so holding audio back until VAD speaks would deadlock, and a microphone does not wait.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal
from urllib.parse import urlsplit

from recorder import vocabulary as vocab
from recorder.errors import InputError
from recorder.interpretation.layout import INPUT_AUDIO
from recorder.replay.recording import (
    IndexedSequence,
    RecordedFrame,
    RecordedFrames,
    RecordedSession,
)
from recorder.session import (
    REDACTED,
    redact_url,
    strip_redacted_query,
)
from recorder.upstream import (
    credentials_from_environment,
    forwarded_headers,
    has_credentials,
    normalise_upstream,
)

Pace = Literal["reactive", "timed"]
PACES: tuple[Pace, ...] = ("reactive", "timed")

# Server events that come once per request or per turn, whichever model answers (GPT-Live:
# its acks; its turns have no events of their own, and its appends never wait).
MILESTONES = frozenset(
    {
        "session.started",
        "session.input_audio.muted",
        "session.input_audio.unmuted",
        "session.instructions.appended",
        "session.thinking.appended",
        "session.commentary.appended",
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
# Close codes an endpoint may send (1005, 1006 and 1015 only describe what happened).
_SENDABLE_CLOSE_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)
_SECRET_NAME = re.compile(r"key|token|secret|auth|cookie|password|signature", re.IGNORECASE)


# -- the schedule (pure) ------------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: one is made per frame sent, three times as fast
class Send:
    """One client frame to re-send, and when.

    It is due `gap` after the previous frame was due (or the connection opened) and, once the
    server has sent `wait_for` (canonical type -> how many in all since the connection opened),
    no earlier than `delay` after the last of those arrived. Its `frame` (and `payload`) are
    read from the recording when asked for.
    """

    gap: float
    wait_for: Mapping[str, int]
    delay: float
    _frames: RecordedFrames = field(repr=False, compare=False)
    _index: int = field(repr=False, compare=False)
    _payload: str | bytes | None = field(default=None, repr=False, compare=False)

    @property
    def frame(self) -> RecordedFrame:
        return self._frames.frame(self._index)

    @property
    def payload(self) -> str | bytes | None:
        """The frame's payload (`frame.payload`, without making the frame)."""
        if self._payload is not None:
            return self._payload
        return self._frames.kept_payload(self._index)


_NO_WAIT: Mapping[str, int] = MappingProxyType({})


class Sends(IndexedSequence[Send]):
    """The sends of a schedule, in order: three numbers each in memory, the `Send` (and its
    frame, whose payload is read from the recording when asked for) made when it is needed."""

    def __init__(self, frames: RecordedFrames) -> None:
        self._frames = frames
        self._index = array("q")  # which frame of the recording
        self._gap = array("d")
        self._delay = array("d")
        self._waits: dict[int, Mapping[str, int]] = {}  # only the sends that wait

    def add(self, frame_index: int, gap: float, wait_for: Mapping[str, int], delay: float) -> None:
        if wait_for:
            self._waits[len(self._index)] = wait_for
        self._index.append(frame_index)
        self._gap.append(gap)
        self._delay.append(delay)

    def __len__(self) -> int:
        return len(self._index)

    def _item(self, index: int) -> Send:
        return Send(
            self._gap[index],
            self._waits.get(index, _NO_WAIT),
            self._delay[index],
            self._frames,
            self._index[index],
        )

    def __iter__(self) -> Iterator[Send]:
        """Each send with its payload, read in file order while the file stays open."""
        frames, waits = self._frames, self._waits
        with frames.reading() as read:
            for number, (index, gap, delay) in enumerate(
                zip(self._index, self._gap, self._delay, strict=True)
            ):
                payload = read(index) if frames.kept(index) else None
                yield Send(gap, waits.get(number, _NO_WAIT), delay, frames, index, payload)


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
    sends: Sequence[Send]
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
    if not session.frames.client_count:
        raise InputError(f"{session.path}: nothing to replay (the recording has no client frames)")
    scale = 0.0 if fast else 1.0 / speed
    reactive = pace == "reactive"
    counts: Counter[str] = Counter()
    awaited: Counter[str] = Counter()
    last_milestone_t: float | None = None
    previous_t = session.start_t
    previous_was_append = False
    sends = Sends(session.frames)
    for index, t, from_client, event_type, _ in session.frames.outline():
        if not from_client:
            if event_type in MILESTONES:
                counts[event_type] += 1
                last_milestone_t = t
            continue
        is_append = event_type in INPUT_AUDIO
        frame_scale = (0.0 if fast else 1.0) if is_append else scale
        wait_for: dict[str, int] = {}
        delay = 0.0
        if reactive and not (is_append and previous_was_append):
            wait_for = {k: n for k, n in counts.items() if n > awaited[k]}
            awaited = counts.copy()
            if wait_for and last_milestone_t is not None:
                delay = max(0.0, t - last_milestone_t) * frame_scale
        sends.add(index, max(0.0, t - previous_t) * frame_scale, wait_for, delay)
        previous_t = t
        previous_was_append = is_append
    end_t = session.close.t if session.close is not None else session.frames.t(-1)
    finish_wait = {k: n for k, n in counts.items() if n > awaited[k]} if reactive else {}
    finish_delay = 0.0
    if finish_wait and last_milestone_t is not None:
        finish_delay = max(0.0, end_t - last_milestone_t) * scale
    close = session.close
    ours = close is not None and close.by != "server"
    return Schedule(
        sends=sends,
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
