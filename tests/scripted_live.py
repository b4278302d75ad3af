"""The scripted stand-in for GPT-Live (`/v1/live/sessions`), served by `ScriptedRealtimeServer`
on Live paths (OpenAI `/v1/live/sessions`, Azure `/openai/v1/live/sessions`, and the sideband
`…/live/sessions/{id}/attach`).

It behaves like the protocol facts of shared/protocol/realtime-2026-addendum.md §5: the first
client frame must be `session.start` (answered by `session.started`); the session timeline
advances with the input audio; for every append the server sends the same length of output
audio (one continuous track, silence included); the user's speech is found by an energy gate on
each append, and once it ended (`end_of_speech_ms` of silence) its words come as
`session.input_transcript.delta`s spread over its span; the reply starts `reply_delay_ms` of
timeline after the speech ended, its words as `session.output_transcript.delta`s spread over
the reply's audio; `session.usage.updated` every `usage_every_ms` of timeline (a running total);
an optional Responses delegation (`session.delegation.created`, then `response.event`s with the
nested usage); mute/unmute acks; `session.close` -> `session.closed` and a 1000 close. A sideband
attached to the session id gets a copy of every server event, the caller's audio reflected as
server `session.input_audio.append`s and the output deltas with `start_ms`/`end_ms`, in PCM16
24 kHz.

What it did is kept, on its own clock, in `LiveTruth` (`server.live_truth`): each user speech's
span, each reply's start, when the append carrying the speech's end arrived and when the reply's
first audible delta left: the injected truth tests compare rt's figures with.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scripted_server import _id, decode_audio, encode_audio, sine_pcm16
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.protocol import State

from recorder.vocabulary import PCM16, AudioFormat, audio_format

LIVE_PATH = re.compile(r"^(?:/openai)?/v1/live/sessions(?:/(?P<id>[^/?]+)/attach)?/?(?:\?.*)?$")
RATE = 24000  # the script's audio is PCM16 at 24 kHz, converted to the session's format


def is_live_path(path: str) -> bool:
    return LIVE_PATH.match(path) is not None


@dataclass
class LiveScript:
    """How the scripted GPT-Live sessions go. Times in ms are on the session timeline."""

    model: str = "gpt-live-1"
    started_delay: float = 0.02  # s: session.start -> session.started
    reply_delay_ms: int = 600  # from the end of the user's speech to the reply (voice to voice)
    end_of_speech_ms: int = 300  # the silence after which the user has stopped
    yield_ms: int | None = 240  # a reply the user talks over stops this long after (None: never)
    replies: Callable[[int], bytes] = field(default=lambda index: sine_pcm16(1200, 500.0))
    reply_texts: Callable[[int], str] = field(default=lambda index: "Sure, here it is.")
    user_texts: Callable[[int], str] = field(default=lambda index: "Hello there")
    output_lag: float = 0.0  # s: before each output delta goes out
    usage_every_ms: int = 5000
    delegate_turn: int | None = None  # the user turn whose answer needs a delegation
    delegate_target: str = "responses"  # or "client": the client answers with *.append
    delegation_model: str = "gpt-5-mini"
    delegation_usage: dict[str, Any] = field(
        default_factory=lambda: {
            "input_tokens": 820,
            "input_tokens_details": {"cached_tokens": 512},
            "output_tokens": 96,
            "output_tokens_details": {"reasoning_tokens": 64},
            "total_tokens": 916,
        }
    )
    vad_threshold: int = 500


@dataclass
class LiveTurnTruth:
    speech_start_ms: float
    speech_end_ms: float
    cut_reply_at_ms: float | None = None  # the user talked over a reply: where it stopped
    end_append_t: float | None = None  # when the append carrying the speech's end arrived
    reply_start_ms: float | None = None
    first_audio_sent_t: float | None = None  # when the reply's first audible delta left


@dataclass
class LiveTruth:
    """What the scripted server did, on its own clock."""

    turns: list[LiveTurnTruth] = field(default_factory=list)
    timeline_ms: float = 0.0
    billed_seconds: float | None = None
    session_id: str | None = None


@dataclass
class _Reply:
    index: int
    start_ms: float
    audio: np.ndarray  # PCM16 24 kHz
    words: list[str]
    sent_words: int = 0
    turn: LiveTurnTruth | None = None
    span_ms: float | None = None  # each word's share of the reply (fixed once it was cut)

    @property
    def end_ms(self) -> float:
        return self.start_ms + len(self.audio) * 1000 / RATE


class LiveSession:
    """One scripted GPT-Live session (its primary WebSocket, and any sidebands attached)."""

    def __init__(self, server: Any, ws: ServerConnection, log: Any) -> None:
        self.server = server
        self.script: LiveScript = server.script.live or LiveScript()
        self.ws = ws
        self.log = log
        self.id = _id("live_")
        self.format = PCM16
        self.started = False
        self.muted = False
        self.timeline_ms = 0.0
        self.appends: list[tuple[float, float]] = []  # (timeline end, arrival t)
        self.speaking = False
        self.speech_start = 0.0
        self.last_loud_end = 0.0
        self.utterances = 0
        self.replies: list[_Reply] = []
        self.next_usage_ms = float(self.script.usage_every_ms)
        self.sidebands: list[tuple[ServerConnection, Any]] = []  # (connection, its log)
        self.truth = LiveTruth(session_id=self.id)
        self.closed = asyncio.Event()
        server.live_truth.append(self.truth)
        server.live_sessions[self.id] = self

    # -- sending ---------------------------------------------------------------------------------

    async def send(self, event: dict[str, Any], reflect: bool = True) -> None:
        event = {"type": event.pop("type"), "event_id": _id("event_"), **event}
        await self._send(json.dumps(event))
        if reflect:
            await self._reflect(event)

    async def _send(self, message: str) -> None:
        # Once the client has closed, stop (as scripted_server does): websockets' send() would
        # wait out its close timeout for a TCP close it cannot see behind our backlog.
        if self.ws.state is not State.OPEN:
            raise ConnectionClosedOK(None, None)
        self.log.sent.append(message)
        await self.ws.send(message)

    async def _reflect(self, event: dict[str, Any]) -> None:
        for sideband in list(self.sidebands):
            ws, log = sideband
            message = json.dumps(event)
            try:
                await ws.send(message)
                log.sent.append(message)
            except ConnectionClosed:
                self.sidebands.remove(sideband)

    def resource(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "live.session",
            "type": "live",
            "model": self.script.model,
            "status": "active",
            "expires_at": 1766232000,
            "audio": {"format": _format_object(self.format), "output": {"voice": "marin"}},
            "delegation": None,
        }

    # -- the primary connection ------------------------------------------------------------------

    async def run(self) -> None:
        try:
            async for message in self.ws:
                self.log.received.append(message)
                event = json.loads(message) if isinstance(message, str) else {}
                kind = str(event.get("type"))
                if not self.started and kind != "session.start":
                    await self.error("invalid_request_error", "session_not_started", kind)
                    continue
                handler = getattr(self, "on_" + kind.replace(".", "_"), None)
                if handler is None:
                    await self.error("invalid_request_error", "unknown_event", kind)
                    continue
                try:
                    await handler(event)
                except ConnectionClosed:
                    continue  # the client left: read what it sent until its close frame
        finally:
            self.closed.set()
            self.server.live_sessions.pop(self.id, None)

    async def error(self, type_: str, code: str, about: str) -> None:
        error = {"type": type_, "code": code, "message": f"Unexpected {about}.", "param": None}
        await self.send({"type": "error", "error": error}, reflect=False)

    async def on_session_start(self, event: dict[str, Any]) -> None:
        session = event.get("session") or {}
        audio = session.get("audio") or {}
        self.format = audio_format(audio.get("format")) or PCM16
        await asyncio.sleep(self.script.started_delay)
        self.started = True
        await self.send({"type": "session.started", "session": self.resource()})

    async def on_session_update(self, event: dict[str, Any]) -> None:
        await self.send({"type": "session.updated", "session": self.resource()})

    async def on_session_input_audio_mute(self, event: dict[str, Any]) -> None:
        self.muted = True
        await self.send({"type": "session.input_audio.muted"})

    async def on_session_input_audio_unmute(self, event: dict[str, Any]) -> None:
        self.muted = False
        await self.send({"type": "session.input_audio.unmuted"})

    async def on_session_instructions_append(self, event: dict[str, Any]) -> None:
        await self._placed("session.instructions.appended", event)

    async def on_session_thinking_append(self, event: dict[str, Any]) -> None:
        await self._placed("session.thinking.appended", event)

    async def on_session_commentary_append(self, event: dict[str, Any]) -> None:
        await self._placed("session.commentary.appended", event)

    async def _placed(self, kind: str, event: dict[str, Any]) -> None:
        """Text appended to the context: placed at the timeline's present."""
        placed = {"type": kind, "start_ms": int(self.timeline_ms), "end_ms": int(self.timeline_ms)}
        if isinstance(event.get("event_id"), str):
            placed["client_event_id"] = event["event_id"]
        await self.send(placed)

    async def on_session_close(self, event: dict[str, Any]) -> None:
        seconds = round(self.timeline_ms / 1000, 3)
        self.truth.billed_seconds = seconds
        await self.send(
            {
                "type": "session.closed",
                "reason": "close_requested",
                "session": self.resource(),
                "usage": {"seconds": seconds},
            }
        )
        for sideband, _ in self.sidebands:
            await sideband.close(1000, "")
        await self.ws.close(1000, "")

    async def on_session_input_audio_append(self, event: dict[str, Any]) -> None:
        arrived = asyncio.get_running_loop().time()
        data = base64.b64decode(str(event.get("audio", "")))
        start = self.timeline_ms
        self.timeline_ms += len(data) / self.format.bytes_per_ms
        self.truth.timeline_ms = self.timeline_ms
        self.appends.append((self.timeline_ms, arrived))
        samples = decode_audio(data, self.format)
        if self.sidebands:
            reflected = _to_24k(samples, self.format)
            await self._reflect(
                {"type": "session.input_audio.append", "audio": _b64(reflected.tobytes())}
            )
        loud = (
            bool(samples.size)
            and float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) > self.script.vad_threshold
        )
        await self._listen(start, self.timeline_ms, loud and not self.muted)
        await self._speak(start, self.timeline_ms)
        if self.timeline_ms >= self.next_usage_ms:
            self.next_usage_ms += self.script.usage_every_ms
            usage = {"seconds": round(self.timeline_ms / 1000, 3)}
            await self.send({"type": "session.usage.updated", "usage": usage})

    async def _listen(self, start: float, end: float, loud: bool) -> None:
        """The user's speech: its start, its end after `end_of_speech_ms` of silence."""
        if loud:
            if not self.speaking:
                self.speaking, self.speech_start = True, start
                self._yield(start)
            self.last_loud_end = end
            return
        if not self.speaking or end - self.last_loud_end < self.script.end_of_speech_ms:
            return
        self.speaking = False
        index = self.utterances
        self.utterances += 1
        turn = LiveTurnTruth(self.speech_start, self.last_loud_end)
        turn.end_append_t = next(t for ends, t in self.appends if ends >= self.last_loud_end - 1e-6)
        self.truth.turns.append(turn)
        words = self.script.user_texts(index).split()
        span = (self.last_loud_end - self.speech_start) / max(len(words), 1)
        for n, word in enumerate(words):
            await self.send(
                {
                    "type": "session.input_transcript.delta",
                    "delta": word if n == 0 else " " + word,
                    "start_ms": round(self.speech_start + n * span),
                    "end_ms": round(self.speech_start + (n + 1) * span),
                }
            )
        if index == self.script.delegate_turn:
            await self._delegate(turn)
        reply = self.script.replies(len(self.replies))
        turn.reply_start_ms = self.last_loud_end + self.script.reply_delay_ms
        self.replies.append(
            _Reply(
                len(self.replies),
                turn.reply_start_ms,
                np.frombuffer(reply, dtype="<i2"),
                self.script.reply_texts(len(self.replies)).split(),
                turn=turn,
            )
        )

    def _yield(self, at_ms: float) -> None:
        """The user starts talking over a reply: it stops `yield_ms` later (the model decides)."""
        if self.script.yield_ms is None:
            return
        for reply in self.replies:
            if reply.start_ms <= at_ms < reply.end_ms:
                cut = at_ms + self.script.yield_ms
                keep = max(0, round((cut - reply.start_ms) * RATE / 1000))
                if keep < len(reply.audio):
                    span = (reply.end_ms - reply.start_ms) / max(len(reply.words), 1)
                    reply.audio = reply.audio[:keep]
                    reply.words = reply.words[
                        : max(reply.sent_words, int((cut - reply.start_ms) // span) + 1)
                    ]
                    reply.span_ms = span
                    if reply.turn is not None:
                        reply.turn.cut_reply_at_ms = reply.start_ms + keep * 1000 / RATE

    async def _delegate(self, turn: LiveTurnTruth) -> None:
        delegation_id, response_id = _id("del_"), _id("resp_")
        target = self.script.delegate_target
        delegation = {"id": delegation_id, "type": "delegation", "target": target}
        if target == "responses":
            delegation["response_id"] = response_id
        await self.send(
            {
                "type": "session.delegation.created",
                "delegation": delegation,
                "offset_ms": round(turn.speech_end_ms),
            }
        )
        if target != "responses":
            return
        response = {"id": response_id, "object": "response", "model": self.script.delegation_model}
        for inner in (
            {"type": "response.created", "response": {**response, "status": "in_progress"}},
            {"type": "response.output_text.delta", "item_id": _id("msg_"), "delta": "72°F, sunny"},
            {
                "type": "response.completed",
                "response": {
                    **response,
                    "status": "completed",
                    "usage": self.script.delegation_usage,
                },
            },
        ):
            await self.send(
                {"type": "response.event", "delegation_id": delegation_id, "event": inner}
            )

    async def _speak(self, start: float, end: float) -> None:
        """The output track for timeline [start, end): silence, or the replies playing there."""
        count = round((end - start) * RATE / 1000)
        track = np.zeros(count, dtype=np.int16)
        words: list[dict[str, Any]] = []
        audible: list[_Reply] = []
        for reply in self.replies:
            if reply.end_ms <= start or reply.start_ms >= end:
                continue
            offset = round((max(reply.start_ms, start) - start) * RATE / 1000)
            source = round((max(reply.start_ms, start) - reply.start_ms) * RATE / 1000)
            piece = reply.audio[source : source + count - offset]
            track[offset : offset + len(piece)] = piece
            if np.abs(piece.astype(np.int32)).max(initial=0) > self.script.vad_threshold:
                audible.append(reply)
            span = reply.span_ms or (reply.end_ms - reply.start_ms) / max(len(reply.words), 1)
            while reply.sent_words < len(reply.words):
                word_start = reply.start_ms + reply.sent_words * span
                if word_start >= end:
                    break
                n = reply.sent_words
                words.append(
                    {
                        "type": "session.output_transcript.delta",
                        "delta": reply.words[n] if n == 0 else " " + reply.words[n],
                        "start_ms": round(word_start),
                        "end_ms": round(word_start + span),
                    }
                )
                reply.sent_words += 1
        for word in words:
            await self.send(word)
        if self.script.output_lag:
            await asyncio.sleep(self.script.output_lag)
        payload = _b64(_from_24k(track, self.format))
        await self._send(json.dumps({"type": "session.output_audio.delta", "delta": payload}))
        sent = asyncio.get_running_loop().time()
        for reply in audible:
            if reply.turn is not None and reply.turn.first_audio_sent_t is None:
                reply.turn.first_audio_sent_t = sent
        if self.sidebands:
            await self._reflect(
                {
                    "type": "session.output_audio.delta",
                    "delta": _b64(track.tobytes()),
                    "start_ms": round(start, 3),
                    "end_ms": round(end, 3),
                }
            )


async def attach(server: Any, ws: ServerConnection, log: Any, session_id: str) -> None:
    """A sideband: copies of one session's server events until it closes."""
    session = server.live_sessions.get(session_id)
    if session is None:
        await ws.close(4004, "no such live session")
        return
    session.sidebands.append((ws, log))
    reader = asyncio.ensure_future(_drain(ws, log))
    try:
        await session.closed.wait()
        await asyncio.wait_for(reader, 2.0)
    except (asyncio.TimeoutError, ConnectionClosed):
        pass
    finally:
        reader.cancel()


async def _drain(ws: ServerConnection, log: Any) -> None:
    async for message in ws:  # a sideband sends nothing the script answers
        log.received.append(message)


def _format_object(fmt: AudioFormat) -> dict[str, Any]:
    if fmt.encoding == "pcm16":
        return {"type": "audio/pcm", "rate": fmt.rate}
    return {"type": "audio/pcmu" if fmt.encoding == "ulaw" else "audio/pcma", "rate": 8000}


def _resample(samples: np.ndarray, rate: int, to_rate: int) -> np.ndarray:
    if rate == to_rate:
        return samples.astype("<i2")
    count = len(samples) * to_rate // rate
    positions = np.arange(count) * rate / to_rate
    return np.rint(np.interp(positions, np.arange(len(samples)), samples)).astype("<i2")


def _to_24k(samples: np.ndarray, fmt: AudioFormat) -> np.ndarray:
    """Caller audio as a sideband reflects it: PCM16 at 24 kHz."""
    return _resample(samples, fmt.rate, RATE)


def _from_24k(track: np.ndarray, fmt: AudioFormat) -> bytes:
    """The script's 24 kHz audio in the session's format."""
    if fmt.encoding != "pcm16":
        return encode_audio(track.astype("<i2").tobytes(), fmt)
    return _resample(track, RATE, fmt.rate).tobytes()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
