"""The asyncio shell of a replay: dial, send on schedule, record both directions (`run_replay`)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.http11 import USER_AGENT
from websockets.typing import Subprotocol

from recorder.errors import InputError, RecorderError, UpstreamError
from recorder.recording import Recording, RecordingSummary
from recorder.replay.recording import RecordedFrame, event_type_of
from recorder.replay.schedule import MILESTONES, ConnectionPlan, Schedule

DEFAULT_TIMEOUT = 30.0
NO_CLOSE_FRAME = 1006  # what the proxy records too when a connection ends without a close frame

# Server events that come once per request or per turn, whichever model answers.


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

    Raises UpstreamError when the connection cannot be made (refused, unreachable, no answer
    within `timeout`), and then writes no file: there was no session to record. Once
    connected it never raises for what the server does: a timeout or an early close ends the
    replay with an `error` and a `close` line in the file and is returned in `stopped`.
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
        self.out_dir = out_dir
        self.on_write_error = on_write_error
        self.recording: Recording  # made once connected
        self.arrivals: defaultdict[str, list[float]] = defaultdict(list)
        self.changed = asyncio.Event()
        self.sent = 0
        self.receiver: asyncio.Task[None] | None = None
        self.ws: ClientConnection | None = None
        self.due = 0.0  # when the last frame sent was due, on the recording's clock

    async def run(self) -> ReplayResult:
        stopped: RecorderError | None = None
        began = (time.monotonic(), dt.datetime.now(dt.timezone.utc))
        ws = self.ws = await self._connect()  # no connection, no file
        plan = self.plan
        try:
            self.recording = Recording(
                self.out_dir,
                upstream=plan.upstream,
                path=plan.path,
                headers=plan.recorded_headers,
                subprotocols=plan.subprotocols,
                on_write_error=self.on_write_error,
                began=began,
            )
        except OSError as exc:
            ws.transport.abort()
            raise InputError(f"cannot write in {self.out_dir}: {exc.strerror or exc}") from None
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
        except ConnectionClosed:  # before the handshake ended (no 101, or no request sent)
            raise UpstreamError(
                f"cannot connect to {plan.safe_url}: the connection closed during the handshake"
            ) from None
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
            if self.receiver is not None and self.receiver.done():  # the frame, only then
                raise self._stopped(step.frame, (index, len(sends)))
            payload = step.payload
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
