"""Live telemetry for the proxy: its sessions interpreted on a thread of their own.

    telemetry = LiveTelemetry(sinks, prices, metrics=metrics_sink)
    telemetry.start()
    tap = telemetry.session_started()     # per connection (RecordingProxy does this)
    tap.record(record)                    # every non-frame record the session file gets
    tap.frame(direction, payload, t)      # every frame, as the session file gets it
    tap.ended()                           # the connection is over
    telemetry.close()                     # interpret what is left, end the thread

The proxy's side of a tap costs what a session writer's `frame()` costs: a length check and a
deque append. Nothing is decoded, interpreted or sent on the event loop. One thread for all
sessions wakes every `interval` (50 ms), turns each frame into the record the file gets
(`session.frame_record`: same `seq`, `t`, redaction), feeds it to that session's
`SessionWatcher` (the one interpretation) and hands the results to the sinks. It works in short
slices and lets go of the GIL between them, so a busy thread delays a frame on the loop by a
slice at most, not by the interpreter's 5 ms switch interval.

Memory is bounded: frames waiting for the thread hold at most `max_pending_bytes` (shared by
all sessions); a frame beyond it is not interpreted (its session's figures may then be
incomplete) and counted in `frames_dropped` and the `rt_telemetry_dropped_total{what="frames"}`
metric. Forwarding and recording never wait for telemetry.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from recorder.pricing import PriceTable
from recorder.session import Direction, frame_record
from recorder.telemetry.metrics_sink import MetricsSink
from recorder.telemetry.watcher import SessionWatcher, TelemetrySink

DEFAULT_INTERVAL = 0.05
DEFAULT_MAX_PENDING_BYTES = 64 * 2**20
_SLICE_S = 0.0005  # work this long, then let the event loop have the GIL
_END = object()  # the queue item that ends a session

OnFault = Callable[[BaseException], None]


class _TextBytes(bytes):
    """The payload of a text frame, still encoded (the proxy hands frames over as bytes)."""


class LiveTelemetry:
    """Interprets the proxy's live sessions off its event loop (see the module docstring)."""

    def __init__(
        self,
        sinks: Sequence[TelemetrySink],
        prices: PriceTable,
        *,
        metrics: MetricsSink | None = None,
        interval: float = DEFAULT_INTERVAL,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        on_fault: OnFault | None = None,
    ) -> None:
        self.sinks = list(sinks) if metrics is None else [metrics, *sinks]
        self.prices = prices
        self.metrics = metrics
        self.interval = interval
        self.max_pending_bytes = max_pending_bytes
        self.on_fault = on_fault
        self.queue: collections.deque[tuple[Any, ...]] = collections.deque()
        # Each counter has one writer: `queued_bytes` the loop, `taken_bytes` the thread.
        self.queued_bytes = 0
        self.taken_bytes = 0
        self.frames_dropped = 0
        self.faults = 0
        self._reported_drops = 0
        self._keys = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.after_drain: Callable[[], None] | None = None  # on the thread, after each round

    # -- the proxy's side ------------------------------------------------------------------------

    def session_started(self) -> SessionTap:
        """A tap for one new connection; give it the session's records as the file gets them."""
        self._keys += 1
        return SessionTap(self, self._keys)

    @property
    def pending_bytes(self) -> int:
        return self.queued_bytes - self.taken_bytes

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="rt-telemetry", daemon=True)
            self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued record is interpreted; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        while self.queue or self._busy:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Interpret what is queued, then end the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._wake.set()
        thread.join(timeout)

    # -- the thread ------------------------------------------------------------------------------

    _busy = False

    def _run(self) -> None:
        sessions: dict[int, _LiveSession] = {}
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            stopping = self._stopping
            self._busy = True
            try:
                self._drain(sessions)
            finally:
                self._busy = False
            if stopping:
                return

    def _drain(self, sessions: dict[int, _LiveSession]) -> None:
        queue = self.queue
        counts = {"client": [0, 0], "server": [0, 0]}
        taken = 0
        slice_end = time.perf_counter() + _SLICE_S
        while queue:
            tap, what, payload, t = queue.popleft()
            session = sessions.get(tap.key)
            if session is None:
                session = sessions[tap.key] = _LiveSession(self, tap.key)
            if what is _END:
                del sessions[tap.key]
                session.end()
            elif what is None:
                session.record(payload)
            else:
                size = len(payload)
                taken += size
                count = counts[what]
                count[0] += 1
                count[1] += size
                session.frame(what, payload, t)
            if time.perf_counter() > slice_end:
                self.taken_bytes += taken
                taken = 0
                time.sleep(0)  # hand the GIL to the event loop if it waits for it
                slice_end = time.perf_counter() + _SLICE_S
        self.taken_bytes += taken
        if self.metrics is not None:
            for direction, (frames, size) in counts.items():
                if frames:
                    self.metrics.frames(direction, frames, size)
            dropped = self.frames_dropped
            if dropped > self._reported_drops:
                self.metrics.dropped("frames", dropped - self._reported_drops)
                self._reported_drops = dropped
        if self.after_drain is not None:
            self.after_drain()

    def fault(self, exc: BaseException) -> None:
        self.faults += 1
        if self.on_fault is not None:
            self.on_fault(exc)


class SessionTap:
    """The proxy's handle on one session's telemetry: never blocks, never raises."""

    __slots__ = ("key", "_live")

    def __init__(self, live: LiveTelemetry, key: int) -> None:
        self._live = live
        self.key = key

    def frame(
        self, direction: Direction, payload: str | bytes, t: float, text: bool | None = None
    ) -> None:
        live = self._live
        size = len(payload)
        if live.queued_bytes - live.taken_bytes + size > live.max_pending_bytes:
            live.frames_dropped += 1
            return
        live.queued_bytes += size
        if text and isinstance(payload, bytes):  # decoded on the telemetry thread, not here
            payload = _TextBytes(payload)
        live.queue.append((self, direction, payload, t))

    def record(self, record: Mapping[str, Any]) -> None:
        """A `session`, `open`, `close` or `error` record (as written to the file)."""
        self._live.queue.append((self, None, record, None))

    def ended(self) -> None:
        self._live.queue.append((self, _END, None, None))
        self._live._wake.set()


class _LiveSession:
    """One session on the telemetry thread: its frame numbers and its watcher."""

    def __init__(self, live: LiveTelemetry, key: int) -> None:
        self.live = live
        self.watcher = SessionWatcher(key, live.sinks, live.prices)
        self.seq = 0
        self.line = 0
        self.broken = False

    def record(self, record: Mapping[str, Any]) -> None:
        self._feed(record)

    def frame(self, direction: Direction, payload: str | bytes, t: float) -> None:
        seq, self.seq = self.seq, self.seq + 1
        if isinstance(payload, _TextBytes):
            payload = bytes(payload).decode("utf-8", "replace")
        if not self.broken:
            self._feed(frame_record(seq, t, direction, payload))

    def _feed(self, record: Mapping[str, Any]) -> None:
        self.line += 1
        if self.broken:
            return
        try:
            self.watcher.feed(self.line, record)
        except Exception as exc:  # a bug must not end telemetry for every session
            self.broken = True
            self.live.fault(exc)

    def end(self) -> None:
        """Tell the sinks the session ended (even after a fault: the active count must fall)."""
        try:
            self.watcher.finish()
        except Exception as exc:
            self.live.fault(exc)
