"""A scripted stand-in for the Realtime API, listening on loopback.

It answers client events the way the API does (beta or GA names, chosen like the API chooses:
`OpenAI-Beta: realtime=v1`, the `openai-beta.realtime-v1` subprotocol or an Azure `api-version`
query mean beta), with server VAD on the audio it is sent, audio and transcript deltas, function
calls, usage, rate limits and errors, after configurable delays. The tests, the benchmarks and the
sample-session generator run it; it never dials anything.

Behaviours of today's API (CONTRACT §4), each switched on by the `Script` or the request:
  out-of-band responses   `response.create` with `conversation: "none"` runs beside the
                          conversation's response (`conversation_id: null`, its `metadata` echoed)
  preamble + final answer `Script.preamble`: a `commentary` item spoken before the
                          `final_answer` item, whose first audio comes `final_answer_delay` after
                          the trigger
  idle timeout            `idle_timeout_ms` in the session's turn detection: when nobody speaks
                          for that long after an answer has played, `timeout_triggered`, a commit
                          and a response
  usage                   `Script.reasoning_tokens`, image tokens for `input_image` parts,
                          input transcription (`Script.transcribe`) billed by tokens or duration
                          as the transcription model is
  sideband                a `call_id=` URL: a WebRTC call's control stream (`Script.call`): VAD
                          events, transcripts and `output_audio_buffer.started/stopped`, no audio
  translation             `/v1/realtime/translations`: appended audio in, translated audio and
                          transcripts out, per 200 ms of audio
The log of each connection has the loop time of every frame sent and received (`sent_at`,
`received_at`): the truth the tests compare the recorder's metrics with.

Hooks for tests, sent by the client:
  {"type": "fake.echo", ...}            the frame comes back unchanged
  {"type": "fake.close", "code", "reason"}  the server closes with that code
  {"type": "fake.drop"}                 the server drops the TCP connection without a close frame
  {"type": "fake.stream", "count", "interval", "bytes"}  `count` audio deltas, `interval` s apart
  any non-JSON text frame or binary frame comes back unchanged
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import itertools
import json
import math
import secrets
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import soundfile as sf
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from recorder import vocabulary as vocab
from recorder.upstream import has_credentials
from recorder.vocabulary import PCM16, AudioFormat

_ALPHABET = string.ascii_letters + string.digits
# input transcription models billed by audio duration (the others report tokens)
DURATION_PRICED_TRANSCRIPTION = frozenset(
    {"whisper-1", "gpt-realtime-whisper", "gpt-live-transcribe", "gpt-transcribe"}
)


def _id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(21))


def sine_pcm16(
    ms: int, frequency: float = 440.0, rate: int = 24000, amplitude: int = 8000
) -> bytes:
    """`ms` milliseconds of a sine tone as pcm16 bytes."""
    n = rate * ms // 1000
    wave = amplitude * np.sin(2 * math.pi * frequency * np.arange(n) / rate)
    return wave.astype("<i2").tobytes()


def encode_audio(pcm16_24k: bytes, fmt: AudioFormat) -> bytes:
    """pcm16 at 24 kHz in the given format (G.711 via libsndfile, after taking every third sample)."""
    if fmt.encoding == "pcm16":
        return pcm16_24k
    samples = np.frombuffer(pcm16_24k, dtype="<i2")[::3]
    out = io.BytesIO()
    subtype = "ULAW" if fmt.encoding == "ulaw" else "ALAW"
    sf.write(out, samples, fmt.rate, format="RAW", subtype=subtype)
    return out.getvalue()


def decode_audio(data: bytes, fmt: AudioFormat) -> np.ndarray:
    """Samples as int16, whatever the format."""
    if fmt.encoding == "pcm16":
        return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")
    subtype = "ULAW" if fmt.encoding == "ulaw" else "ALAW"
    samples, _ = sf.read(
        io.BytesIO(data),
        format="RAW",
        subtype=subtype,
        samplerate=fmt.rate,
        channels=1,
        dtype="int16",
    )
    return samples


@dataclass
class Script:
    """How the scripted server behaves. Delays are in seconds."""

    model: str = "gpt-realtime"
    created_delay: float = 0.005
    first_delta_delay: float = 0.02
    delta_interval: float = 0.0
    response_audio_ms: int = 600
    delta_ms: int = 100
    transcript: str = "Sure, here is what I found for you."
    # per-response transcripts (response index -> text); `transcript` when None
    transcripts: Callable[[int], str] | None = None
    assistant_audio: Callable[[int], bytes] = field(default=lambda index: sine_pcm16(600, 440.0))
    function_name: str = "get_weather"
    function_arguments: str = '{"location":"Paris"}'
    vad_threshold: int = 500
    rate_limit_tokens: int = 40000
    rate_limit_requests: int = 5000
    tokens_per_response_floor: int = 0
    require_credentials: bool = False
    refuse_status: int | None = None
    # CONTRACT §4 behaviours (see the module docstring); all off by default
    preamble: Callable[[int], tuple[str, bytes] | None] | None = None  # (transcript, pcm16 24k)
    final_answer_delay: float = 0.6  # trigger -> first final-answer audio, with a preamble
    reasoning_tokens: int = 0  # reported inside output text tokens
    image_tokens: int = 0  # per input_image part in the conversation
    out_of_band_text: str = "classification: billing"
    transcribe: bool = False  # send input transcriptions when the session configures a model
    transcription_delay: float = 0.05
    user_transcripts: Callable[[int], str] | None = None
    call: tuple[CallTurn, ...] = ()  # a sideband's call, turn by turn
    translation_delay: float = 0.3  # appended audio -> its translation
    time_scale: float = 1.0  # wall seconds per scripted second (idle timeouts, calls, translation)
    live: Any = None  # a scripted_live.LiveScript: how GPT-Live sessions go (its defaults if None)


@dataclass(frozen=True)
class CallTurn:
    """One turn of a call seen from a sideband: the caller speaks, the assistant answers."""

    gap: float  # silence before the caller speaks, seconds
    speech: float  # how long the caller speaks
    said: str  # what the caller said (the input transcription)
    answer: str  # what the assistant says
    answer_ms: int  # how long the answer plays


@dataclass
class ConnectionLog:
    """What one client connection sent and received, in order (for tests), and when: the event
    loop's time of each frame (`received_at[i]` goes with `received[i]`)."""

    path: str
    headers: list[tuple[str, str]]
    subprotocol: str | None
    received: list[str | bytes] = field(default_factory=list)
    sent: list[str | bytes] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    received_at: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)

    def sent_events(self) -> list[tuple[float, dict[str, Any]]]:
        """(loop time, event) of every JSON event sent, in order."""
        return _events(self.sent_at, self.sent)

    def received_events(self) -> list[tuple[float, dict[str, Any]]]:
        """(loop time, event) of every JSON event received, in order."""
        return _events(self.received_at, self.received)


def _events(times: list[float], messages: list[str | bytes]) -> list[tuple[float, dict[str, Any]]]:
    found = []
    for t, message in zip(times, messages, strict=True):
        try:
            event = json.loads(message) if isinstance(message, str) else None
        except ValueError:
            continue
        if isinstance(event, dict):
            found.append((t, event))
    return found


class ScriptedRealtimeServer:
    """`async with ScriptedRealtimeServer(script) as server:` then dial `server.url + path`."""

    def __init__(
        self, script: Script | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.script = script or Script()
        self.host = host
        self.port = port
        self.connections: list[ConnectionLog] = []
        self.live_sessions: dict[str, Any] = {}  # GPT-Live session id -> scripted_live.LiveSession
        self.live_truth: list[Any] = []  # scripted_live.LiveTruth of each GPT-Live session
        self._server: Server | None = None
        self._tokens_used = 0
        self._requests_used = 0

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def __aenter__(self) -> ScriptedRealtimeServer:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            max_size=None,
            compression=None,
            process_request=self._process_request,
            select_subprotocol=_choose_realtime,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        script = self.script
        if script.refuse_status is not None:
            return conn.respond(script.refuse_status, "refused by the scripted server\n")
        offered = request.headers.get_all("Sec-WebSocket-Protocol")
        protocols = [p.strip() for value in offered for p in value.split(",")]
        if script.require_credentials and not has_credentials(
            request.headers.raw_items(), protocols, request.path
        ):
            return conn.respond(401, "missing credentials\n")
        return None

    # -- one connection ------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        log = ConnectionLog(request.path, list(request.headers.raw_items()), ws.subprotocol)
        self.connections.append(log)
        import scripted_live  # GPT-Live: another protocol, its own module

        if scripted_live.is_live_path(request.path):
            await self._live(ws, log, request.path, scripted_live)
            return
        beta = _is_beta(request.path, request.headers, ws.subprotocol)
        kind = _TranslationSession if _is_translation(request.path) else _Session
        session = kind(self, ws, log, beta)
        query = dict(parse_qsl(urlsplit(request.path).query))
        session.config["model"] = query.get("model") or query.get("deployment") or self.script.model
        try:
            await session.run()
        except ConnectionClosed:
            # Read what is still queued: websockets pauses reading behind unread messages, and
            # would then wait out its close timeout for a TCP close it cannot see.
            with contextlib.suppress(ConnectionClosed):
                async for _ in ws:
                    pass
        finally:
            session.cancel_response()
            log.closed.set()

    async def _live(self, ws: ServerConnection, log: ConnectionLog, path: str, live: Any) -> None:
        match = live.LIVE_PATH.match(path)
        try:
            if match and match.group("id"):
                await live.attach(self, ws, log, match.group("id"))
            else:
                await live.LiveSession(self, ws, log).run()
        except ConnectionClosed:
            pass
        finally:
            log.closed.set()

    def take_rate_limits(self, tokens: int) -> list[dict[str, Any]]:
        self._tokens_used += tokens
        self._requests_used += 1
        script = self.script
        return [
            {
                "name": "requests",
                "limit": script.rate_limit_requests,
                "remaining": max(0, script.rate_limit_requests - self._requests_used),
                "reset_seconds": 0.012,
            },
            {
                "name": "tokens",
                "limit": script.rate_limit_tokens,
                "remaining": max(0, script.rate_limit_tokens - self._tokens_used),
                "reset_seconds": round(0.06 + self._tokens_used / 1000, 3),
            },
        ]


def _choose_realtime(conn: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    # Like the API: pick `realtime` when offered, accept other subprotocols without choosing one.
    return Subprotocol("realtime") if "realtime" in offered else None


def _is_translation(path: str) -> bool:
    return urlsplit(path).path.rstrip("/").endswith("/realtime/translations")


def _is_beta(path: str, headers: Headers, subprotocol: str | None) -> bool:
    if headers.get("OpenAI-Beta", "").startswith("realtime"):
        return True
    offered = ",".join(headers.get_all("Sec-WebSocket-Protocol"))
    return "openai-beta.realtime-v1" in offered or "api-version=" in path


class _Session:
    """The state of one scripted Realtime session."""

    def __init__(
        self, server: ScriptedRealtimeServer, ws: ServerConnection, log: ConnectionLog, beta: bool
    ) -> None:
        self.server = server
        self.script = server.script
        self.ws = ws
        self.log = log
        self.beta = beta
        self.config: dict[str, Any] = _default_session(self.script.model, beta)
        self.input_format = PCM16
        self.output_format = PCM16
        self.appended_bytes = 0
        self.buffer = bytearray()
        self.speaking = False
        self.speech_item: str | None = None
        self.silence_ms = 0.0
        self.items: list[dict[str, Any]] = []
        self.response_task: asyncio.Task[None] | None = None
        self.response_index = itertools.count()
        self.conversation_id = _id("conv_")
        self.active_response: dict[str, Any] = {}
        self.tasks: set[asyncio.Task[Any]] = set()  # out-of-band responses, timers, a call
        self.idle_task: asyncio.Task[None] | None = None
        self.idle_fired = False  # the idle timeout answered this silence already
        self.images = 0  # input_image parts in the conversation
        self.transcription_index = itertools.count()
        query = dict(parse_qsl(urlsplit(log.path).query))
        self.sideband = "call_id" in query

    async def send(self, event: dict[str, Any]) -> None:
        event = {"type": event.pop("type"), "event_id": _id("event_"), **event}
        await self._send_frame(json.dumps(event))

    async def _send_frame(self, message: str | bytes) -> None:
        # Once the client has closed, stop: websockets' send() would wait out its close
        # timeout for a TCP close it cannot see while reading is paused behind our backlog.
        if self.ws.state is not State.OPEN:
            raise ConnectionClosedOK(None, None)
        self.log.sent.append(message)
        self.log.sent_at.append(asyncio.get_running_loop().time())
        await self.ws.send(message)

    def name(self, ga_name: str) -> str:
        """The event name in this session's shape."""
        if not self.beta:
            return ga_name
        for beta_name, canonical in vocab.ALIASES.items():
            if canonical == ga_name and not beta_name.startswith("transcription_"):
                return beta_name
        return ga_name

    async def run(self) -> None:
        await self.send({"type": "session.created", "session": self.config})
        if self.beta:
            await self.send(
                {
                    "type": "conversation.created",
                    "conversation": {"id": self.conversation_id, "object": "realtime.conversation"},
                }
            )
        if self.sideband and self.script.call:
            self._keep(asyncio.get_running_loop().create_task(self._call()))
        await self._read()

    async def _read(self) -> None:
        async for message in self.ws:
            self.log.received.append(message)
            self.log.received_at.append(asyncio.get_running_loop().time())
            await self.on_message(message)

    async def on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            await self._echo(message)
            return
        try:
            event = json.loads(message)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            await self._echo(message)
            return
        kind = str(event.get("type"))
        handler = getattr(self, "on_" + kind.replace(".", "_"), None)
        if handler is None or not self.accepts(kind):
            await self.error("invalid_request_error", "invalid_value", f"Invalid value: '{kind}'.")
            return
        if kind == "fake.echo":
            await self._echo(message)
            return
        await handler(event)

    def accepts(self, kind: str) -> bool:
        """Whether this endpoint knows the client event `kind` (all that have a handler)."""
        return True

    async def _echo(self, message: str | bytes) -> None:
        await self._send_frame(message)

    # -- a sideband: the control stream of a call ----------------------------------------------

    async def _call(self) -> None:
        """The caller and the assistant take turns on the call's media path (not on this
        connection): the sideband sees VAD events, transcripts and playback markers."""
        loop = asyncio.get_running_loop()
        scale = self.script.time_scale
        start = loop.time()

        def call_ms() -> int:  # the call's audio timeline
            return int((loop.time() - start) / scale * 1000)

        for turn in self.script.call:
            await asyncio.sleep(turn.gap * scale)
            item_id = _id("item_")
            await self.send(
                {
                    "type": "input_audio_buffer.speech_started",
                    "audio_start_ms": call_ms(),
                    "item_id": item_id,
                }
            )
            await asyncio.sleep(turn.speech * scale)
            await self.send(
                {
                    "type": "input_audio_buffer.speech_stopped",
                    "audio_end_ms": call_ms(),
                    "item_id": item_id,
                }
            )
            await self._commit(item_id, said=turn.said, ms=turn.speech * 1000)
            silence = bytes(int(48 * turn.answer_ms))  # its length is all that matters here
            response = self._start_response({}, transcript=turn.answer, pcm=silence, playback=True)
            await response
            await asyncio.sleep(turn.answer_ms / 1000 * scale)  # the caller listens

    async def error(
        self, type_: str, code: str | None, message: str, event_id: str | None = None
    ) -> None:
        await self.send(
            {
                "type": "error",
                "error": {
                    "type": type_,
                    "code": code,
                    "message": message,
                    "param": None,
                    "event_id": event_id,
                },
            }
        )

    # -- test hooks ----------------------------------------------------------------------------

    async def on_fake_echo(self, event: dict[str, Any]) -> None:  # handled in on_message
        pass

    async def on_fake_close(self, event: dict[str, Any]) -> None:
        await self.ws.close(int(event.get("code", 1000)), str(event.get("reason", "")))

    async def on_fake_drop(self, event: dict[str, Any]) -> None:
        self.ws.transport.abort()

    async def on_fake_stream(self, event: dict[str, Any]) -> None:
        chunk = base64.b64encode(b"\x01\x00" * (int(event.get("bytes", 960)) // 2)).decode()
        for i in range(int(event.get("count", 10))):
            await self.send(
                {"type": self.name("response.output_audio.delta"), "seq": i, "delta": chunk}
            )
            if event.get("interval"):
                await asyncio.sleep(float(event["interval"]))

    # -- session -------------------------------------------------------------------------------

    async def on_session_update(self, event: dict[str, Any]) -> None:
        update = event.get("session")
        if not isinstance(update, dict):
            await self.error(
                "invalid_request_error",
                "missing_required_parameter",
                "Missing 'session'.",
                event.get("event_id"),
            )
            return
        _deep_merge(self.config, update)
        inp, out = vocab.session_audio_formats(self.config)
        self.input_format = inp or PCM16
        self.output_format = out or PCM16
        await self.send({"type": "session.updated", "session": self.config})

    on_transcription_session_update = on_session_update

    def turn_detection(self) -> dict[str, Any] | None:
        if self.beta:
            td = self.config.get("turn_detection")
        else:
            td = self.config.get("audio", {}).get("input", {}).get("turn_detection")
        return td if isinstance(td, dict) else None

    # -- input audio and VAD -------------------------------------------------------------------

    async def on_input_audio_buffer_append(self, event: dict[str, Any]) -> None:
        try:
            audio = base64.b64decode(str(event.get("audio", "")), validate=True)
        except ValueError:
            await self.error(
                "invalid_request_error",
                "invalid_value",
                "Invalid 'audio': not base64.",
                event.get("event_id"),
            )
            return
        start_ms = self.appended_bytes / self.input_format.bytes_per_ms
        self.appended_bytes += len(audio)
        self.buffer += audio
        td = self.turn_detection()
        if td is not None and td.get("type") in ("server_vad", "semantic_vad"):
            await self._vad(audio, start_ms, td)

    async def _vad(self, audio: bytes, start_ms: float, td: dict[str, Any]) -> None:
        samples = decode_audio(audio, self.input_format).astype(np.float64)
        loud = (
            bool(samples.size) and float(np.sqrt(np.mean(samples**2))) > self.script.vad_threshold
        )
        chunk_ms = len(audio) / self.input_format.bytes_per_ms
        now_ms = start_ms + chunk_ms
        if loud and not self.speaking:
            self.speaking = True
            self._cancel_idle()
            self.idle_fired = False
            self.silence_ms = 0.0
            self.speech_item = _id("item_")
            padding = int(td.get("prefix_padding_ms", 300))
            await self.send(
                {
                    "type": "input_audio_buffer.speech_started",
                    "audio_start_ms": max(0, int(start_ms) - padding),
                    "item_id": self.speech_item,
                }
            )
            if self.response_task is not None and td.get("interrupt_response", True):
                await self._cancel_active("turn_detected")
        elif self.speaking and not loud:
            self.silence_ms += chunk_ms
            if self.silence_ms >= int(td.get("silence_duration_ms", 500)):
                self.speaking = False
                item_id = self.speech_item or _id("item_")
                await self.send(
                    {
                        "type": "input_audio_buffer.speech_stopped",
                        # like the API: where the speech ended, not where the silence wait did
                        "audio_end_ms": int(now_ms - self.silence_ms),
                        "item_id": item_id,
                    }
                )
                await self._commit(item_id)
                if td.get("create_response", True):
                    self._start_response({})
        elif self.speaking:
            self.silence_ms = 0.0

    async def on_input_audio_buffer_commit(self, event: dict[str, Any]) -> None:
        buffered_ms = len(self.buffer) / self.input_format.bytes_per_ms
        if buffered_ms < 100:
            await self.error(
                "invalid_request_error",
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has {buffered_ms:.2f}ms of audio.",
                event.get("event_id"),
            )
            return
        await self._commit(_id("item_"))

    async def _commit(
        self, item_id: str, *, transcribe: bool = True, said: str | None = None, ms: float = 0.0
    ) -> None:
        """Commit the buffer as a user item (and transcribe it, when the session asks for it)."""
        previous = self.items[-1]["id"] if self.items else None
        ms = ms or len(self.buffer) / self.input_format.bytes_per_ms
        self.buffer.clear()
        await self.send(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": previous,
                "item_id": item_id,
            }
        )
        item = {
            "id": item_id,
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        await self._item_added(item, previous)
        model = self.transcription_model()
        if transcribe and self.script.transcribe and model is not None:
            index = next(self.transcription_index)
            if said is None:
                said = self.script.user_transcripts(index) if self.script.user_transcripts else ""
            transcription = self._transcribe(item_id, model, said, ms)
            self._keep(asyncio.get_running_loop().create_task(transcription))

    def transcription_model(self) -> str | None:
        if self.beta:
            config = self.config.get("input_audio_transcription")
        else:
            config = self.config.get("audio", {}).get("input", {}).get("transcription")
        model = config.get("model") if isinstance(config, dict) else None
        return model if isinstance(model, str) else None

    async def _transcribe(self, item_id: str, model: str, said: str, ms: float) -> None:
        """The input transcription of a committed item: deltas, then `completed` with its
        usage (duration for the models billed per minute, else tokens)."""
        await asyncio.sleep(self.script.transcription_delay)
        ids = {"item_id": item_id, "content_index": 0}
        words = said.split(" ") if said else []
        for i, word in enumerate(words):
            delta = word if i == 0 else " " + word
            await self.send(
                {"type": "conversation.item.input_audio_transcription.delta", **ids, "delta": delta}
            )
        usage: dict[str, Any]
        if model in DURATION_PRICED_TRANSCRIPTION:
            usage = {"type": "duration", "seconds": round(ms / 1000, 3)}
        else:
            audio_tokens = max(1, round(ms / 100))  # a token per 100 ms of input audio
            output = max(1, len(said) // 4)
            usage = {
                "type": "tokens",
                "input_tokens": audio_tokens,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
                "output_tokens": output,
                "total_tokens": audio_tokens + output,
            }
        await self.send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                **ids,
                "transcript": said,
                "usage": usage,
            }
        )

    async def on_input_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        self.buffer.clear()
        await self.send({"type": "input_audio_buffer.cleared"})

    # -- conversation items --------------------------------------------------------------------

    async def on_conversation_item_create(self, event: dict[str, Any]) -> None:
        item = dict(event.get("item") or {})
        content = item.get("content")
        parts = content if isinstance(content, list) else []
        self.images += sum(
            1 for part in parts if isinstance(part, dict) and part.get("type") == "input_image"
        )
        item.setdefault("id", _id("item_"))
        item.setdefault("status", "completed")
        previous = self.items[-1]["id"] if self.items else None
        await self._item_added(item, previous)

    async def _item_added(
        self, item: dict[str, Any], previous: str | None, complete: bool = True
    ) -> None:
        """`conversation.item.added` (beta: `.created`); GA adds `.done` once it is complete."""
        self.items.append(item)
        await self.send(
            {
                "type": self.name("conversation.item.added"),
                "previous_item_id": previous,
                "item": item,
            }
        )
        if complete and not self.beta:
            await self.send(
                {"type": "conversation.item.done", "previous_item_id": previous, "item": item}
            )

    async def on_conversation_item_truncate(self, event: dict[str, Any]) -> None:
        await self.send(
            {
                "type": "conversation.item.truncated",
                "item_id": event.get("item_id"),
                "content_index": event.get("content_index", 0),
                "audio_end_ms": event.get("audio_end_ms", 0),
            }
        )

    async def on_conversation_item_delete(self, event: dict[str, Any]) -> None:
        await self.send({"type": "conversation.item.deleted", "item_id": event.get("item_id")})

    # -- responses -----------------------------------------------------------------------------

    async def on_response_create(self, event: dict[str, Any]) -> None:
        options = event.get("response") or {}
        if options.get("conversation") == "none":  # out of band: beside the conversation's
            self._start_response(options, out_of_band=True)
            return
        if self.response_task is not None:
            await self.error(
                "invalid_request_error",
                "conversation_already_has_active_response",
                "Conversation already has an active response in progress.",
                event.get("event_id"),
            )
            return
        self._start_response(options)

    async def on_response_cancel(self, event: dict[str, Any]) -> None:
        if self.response_task is None:
            await self.error(
                "invalid_request_error",
                "response_cancel_not_active",
                "Cancellation failed: no active response found",
                event.get("event_id"),
            )
            return
        await self._cancel_active("client_cancelled")

    def _start_response(
        self, options: dict[str, Any], *, out_of_band: bool = False, **plan: Any
    ) -> asyncio.Task[None]:
        """Start a response. `plan` may set what it says (`transcript`, `pcm`) and `playback`
        (a sideband: the audio plays on the call, only its start and end are told)."""
        response_id = _id("resp_")
        state: dict[str, Any] = {"id": response_id, "output": [], "audio_bytes": 0, **plan}
        state["metadata"] = options.get("metadata")
        state["out_of_band"] = out_of_band
        task = asyncio.get_running_loop().create_task(self._respond(response_id, options, state))
        if out_of_band:
            self._keep(task)
        else:
            self._cancel_idle()
            self.active_response = state
            self.response_task = task
        return task

    def _keep(self, task: asyncio.Task[Any]) -> None:
        """A task that runs beside the session's (cancelled with it)."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def cancel_response(self) -> None:
        if self.response_task is not None:
            self.response_task.cancel()
            self.response_task = None
        for task in list(self.tasks):
            task.cancel()

    async def _cancel_active(self, reason: str) -> None:
        task, self.response_task = self.response_task, None
        if task is None:
            return
        task.cancel()
        state = self.active_response
        await self._response_done(
            state["id"], "cancelled", {"type": "cancelled", "reason": reason}, state
        )

    def _modalities(self, options: dict[str, Any]) -> list[str]:
        key = "modalities" if self.beta else "output_modalities"
        value = options.get(key) or self.config.get(key) or ["audio"]
        return list(value)

    async def _respond(
        self, response_id: str, options: dict[str, Any], state: dict[str, Any]
    ) -> None:
        script = self.script
        loop = asyncio.get_running_loop()
        out_of_band = state["out_of_band"]
        started = loop.time()
        await asyncio.sleep(script.created_delay)
        response: dict[str, Any] = {
            "object": "realtime.response",
            "id": response_id,
            "status": "in_progress",
            "status_details": None,
            "output": [],
            "conversation_id": None if out_of_band else self.conversation_id,
            "usage": None,
            "metadata": state["metadata"],
        }
        await self.send({"type": "response.created", "response": response})
        item_id = _id("item_")
        tools = options.get("tools") or self.config.get("tools") or []
        wants_call = (
            not out_of_band
            and bool(tools)
            and bool(self.items)
            and self.items[-1].get("type") == "message"
        )
        wait = max(0.0, script.first_delta_delay - (loop.time() - started))
        audio = "audio" in self._modalities(options)
        if wants_call:
            await self._function_call(response_id, item_id, state, wait)
        elif out_of_band:
            pcm = sine_pcm16(400, 880.0) if audio else b""
            text = script.out_of_band_text
            await self._message(response_id, item_id, state, audio, wait, None, text, pcm)
        else:
            index = next(self.response_index)
            preamble = script.preamble(index) if script.preamble is not None and audio else None
            if preamble is None:
                await self._message(
                    response_id, item_id, state, audio, wait, index,
                    state.get("transcript"), state.get("pcm"),
                )  # fmt: skip
            else:  # a spoken preamble, then the final answer
                said, pcm = preamble
                await self._message(
                    response_id, item_id, state, True, wait, index, said, pcm, phase="commentary"
                )
                wait = max(0.0, script.final_answer_delay - (loop.time() - started))
                await self._message(
                    response_id, _id("item_"), state, True, wait, index, phase="final_answer",
                    output_index=1,
                )  # fmt: skip
        if not out_of_band:
            self.response_task = None
        await self._response_done(response_id, "completed", None, state)

    async def _message(
        self,
        response_id: str,
        item_id: str,
        state: dict[str, Any],
        audio: bool,
        wait: float,
        index: int | None,
        transcript: str | None = None,
        pcm16_24k: bytes | None = None,
        *,
        phase: str | None = None,
        output_index: int = 0,
    ) -> None:
        script = self.script
        in_conversation = not state["out_of_band"]
        ids = {
            "response_id": response_id,
            "item_id": item_id,
            "output_index": output_index,
            "content_index": 0,
        }
        item: dict[str, Any] = {
            "id": item_id,
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        if phase is not None:
            item["phase"] = phase
        await self.send(
            {
                "type": "response.output_item.added",
                "response_id": response_id,
                "output_index": output_index,
                "item": item,
            }
        )
        previous = self.items[-1]["id"] if self.items else None
        if in_conversation:
            await self._item_added(dict(item), previous, complete=False)
        part_type = "audio" if audio else "text"
        await self.send(
            {
                "type": "response.content_part.added",
                **ids,
                "part": {"type": part_type, "transcript" if audio else "text": ""},
            }
        )
        await asyncio.sleep(wait)
        if transcript is None:
            assert index is not None
            transcript = script.transcripts(index) if script.transcripts else script.transcript
        words = transcript.split(" ")
        if audio:
            if pcm16_24k is None:
                assert index is not None
                pcm16_24k = script.assistant_audio(index)
            pcm = encode_audio(pcm16_24k, self.output_format)
            step = max(1, int(script.delta_ms * self.output_format.bytes_per_ms))
            chunks = [pcm[i : i + step] for i in range(0, len(pcm), step)] or [b""]
        else:
            chunks = []
        text_type = self.name(
            "response.output_audio_transcript.delta" if audio else "response.output_text.delta"
        )
        audio_type = self.name("response.output_audio.delta")
        for i in range(max(len(chunks), len(words))):
            if i < len(chunks):
                state["audio_bytes"] += len(chunks[i])
                if not state.get("playback"):
                    await self.send(
                        {"type": audio_type, **ids, "delta": base64.b64encode(chunks[i]).decode()}
                    )
                elif "playing_since" not in state:  # a call: the audio plays on its media path
                    state["playing_since"] = asyncio.get_running_loop().time()
                    await self.send(
                        {"type": "output_audio_buffer.started", "response_id": response_id}
                    )
            if i < len(words):
                await self.send(
                    {"type": text_type, **ids, "delta": words[i] if i == 0 else " " + words[i]}
                )
            if script.delta_interval:
                await asyncio.sleep(script.delta_interval)
        if audio:
            await self.send({"type": self.name("response.output_audio.done"), **ids})
            await self.send(
                {
                    "type": self.name("response.output_audio_transcript.done"),
                    **ids,
                    "transcript": transcript,
                }
            )
        else:
            await self.send(
                {"type": self.name("response.output_text.done"), **ids, "text": transcript}
            )
        part = {"type": part_type, "transcript" if audio else "text": transcript}
        await self.send({"type": "response.content_part.done", **ids, "part": part})
        done_item = {**item, "status": "completed", "content": [part]}
        state["output"].append(done_item)
        state["text_chars"] = state.get("text_chars", 0) + len(transcript)
        await self.send(
            {
                "type": "response.output_item.done",
                "response_id": response_id,
                "output_index": output_index,
                "item": done_item,
            }
        )
        if in_conversation and not self.beta:
            await self.send(
                {"type": "conversation.item.done", "previous_item_id": previous, "item": done_item}
            )

    async def _function_call(
        self, response_id: str, item_id: str, state: dict[str, Any], wait: float
    ) -> None:
        script = self.script
        call_id = _id("call_")
        item = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "name": script.function_name,
            "call_id": call_id,
            "arguments": "",
        }
        await self.send(
            {
                "type": "response.output_item.added",
                "response_id": response_id,
                "output_index": 0,
                "item": item,
            }
        )
        await asyncio.sleep(wait)
        ids = {
            "response_id": response_id,
            "item_id": item_id,
            "output_index": 0,
            "call_id": call_id,
        }
        arguments = script.function_arguments
        for i in range(0, len(arguments), 8):
            await self.send(
                {
                    "type": "response.function_call_arguments.delta",
                    **ids,
                    "delta": arguments[i : i + 8],
                }
            )
        await self.send(
            {
                "type": "response.function_call_arguments.done",
                **ids,
                "name": script.function_name,
                "arguments": arguments,
            }
        )
        done_item = {**item, "status": "completed", "arguments": arguments}
        state["output"].append(done_item)
        state["text_chars"] = len(arguments)
        self.items.append(done_item)
        await self.send(
            {
                "type": "response.output_item.done",
                "response_id": response_id,
                "output_index": 0,
                "item": done_item,
            }
        )

    async def _response_done(
        self, response_id: str, status: str, details: dict[str, Any] | None, state: dict[str, Any]
    ) -> None:
        usage = self._usage(state)
        out_of_band = state.get("out_of_band", False)
        response: dict[str, Any] = {
            "object": "realtime.response",
            "id": response_id,
            "status": status,
            "status_details": details,
            "output": state["output"],
            "conversation_id": None if out_of_band else self.conversation_id,
            "usage": usage,
            "metadata": state.get("metadata"),
        }
        await self.send({"type": "response.done", "response": response})
        await self.send(
            {
                "type": "rate_limits.updated",
                "rate_limits": self.server.take_rate_limits(usage["total_tokens"]),
            }
        )
        playing_ms = state["audio_bytes"] / self.output_format.bytes_per_ms
        if "playing_since" in state:  # a call: the buffer drains after the response is done
            self._keep(asyncio.get_running_loop().create_task(self._playback_end(state)))
        if not out_of_band and status == "completed":
            self._arm_idle(playing_ms)

    async def _playback_end(self, state: dict[str, Any]) -> None:
        playing_s = state["audio_bytes"] / self.output_format.bytes_per_ms / 1000
        until = state["playing_since"] + playing_s * self.script.time_scale
        await asyncio.sleep(max(0.0, until - asyncio.get_running_loop().time()))
        await self.send({"type": "output_audio_buffer.stopped", "response_id": state["id"]})

    # -- idle timeout ----------------------------------------------------------------------------

    def _arm_idle(self, playing_ms: float) -> None:
        """After an answer: when nobody speaks for `idle_timeout_ms` once it has played, the
        server commits the silence and answers it (once per silence: speech re-arms it)."""
        td = self.turn_detection()
        idle_ms = td.get("idle_timeout_ms") if td is not None else None
        if not isinstance(idle_ms, (int, float)) or idle_ms <= 0 or self.idle_fired:
            return
        self._cancel_idle()
        self.idle_task = asyncio.get_running_loop().create_task(self._idle(playing_ms, idle_ms))
        self._keep(self.idle_task)

    def _cancel_idle(self) -> None:
        if self.idle_task is not None:
            self.idle_task.cancel()
            self.idle_task = None

    async def _idle(self, playing_ms: float, idle_ms: float) -> None:
        await asyncio.sleep((playing_ms + idle_ms) / 1000 * self.script.time_scale)
        self.idle_task = None
        if self.speaking or self.response_task is not None:
            return
        self.idle_fired = True
        end_ms = int(self.appended_bytes / self.input_format.bytes_per_ms)
        item_id = _id("item_")
        await self.send(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "audio_start_ms": max(0, end_ms - int(idle_ms)),
                "audio_end_ms": end_ms,
                "item_id": item_id,
            }
        )
        await self._commit(item_id, transcribe=False)
        self._start_response({})

    def _usage(self, state: dict[str, Any]) -> dict[str, Any]:
        input_audio = int(self.appended_bytes / self.input_format.bytes_per_ms / 100)
        input_text = 120 + 12 * len(self.items) + self.script.tokens_per_response_floor
        cached = (input_text // 64) * 64 if len(self.items) > 2 else 0
        output_audio = int(state["audio_bytes"] / self.output_format.bytes_per_ms / 50)
        output_text = max(1, int(state.get("text_chars", 0) / 4))
        reasoning = self.script.reasoning_tokens if not state.get("out_of_band") else 0
        output_text += reasoning  # reasoning is text output, billed as such
        details: dict[str, Any] = {
            "text_tokens": input_text,
            "audio_tokens": input_audio,
            "cached_tokens": cached,
        }
        details["cached_tokens_details"] = {"text_tokens": cached, "audio_tokens": 0}
        image = self.images * self.script.image_tokens
        if not self.beta:
            details["image_tokens"] = image
            details["cached_tokens_details"]["image_tokens"] = 0
        inp = input_text + input_audio + (image if not self.beta else 0)
        out = output_text + output_audio
        output_details: dict[str, Any] = {"text_tokens": output_text, "audio_tokens": output_audio}
        if reasoning:
            output_details["reasoning_tokens"] = reasoning
        return {
            "total_tokens": inp + out,
            "input_tokens": inp,
            "output_tokens": out,
            "input_token_details": details,
            "output_token_details": output_details,
        }


class _TranslationSession(_Session):
    """The translation endpoint: audio in, translated audio and transcripts out, per 200 ms of
    appended audio, `translation_delay` later (no conversation, no responses, no usage)."""

    FRAME_MS = 200
    EVENTS = frozenset({"session.update", "session.input_audio_buffer.append", "session.close"})

    def __init__(
        self, server: ScriptedRealtimeServer, ws: ServerConnection, log: ConnectionLog, beta: bool
    ) -> None:
        super().__init__(server, ws, log, False)
        self.config = {
            "id": _id("sess_"),
            "type": "translation",
            "model": self.script.model,
            "expires_at": 1766228400,
            "audio": {
                "input": {"transcription": None, "noise_reduction": None},
                "output": {"language": "fr"},
            },
        }
        self.pending = bytearray()
        self.frames = 0
        self.translated = io.BytesIO()
        self.translations: list[asyncio.Task[None]] = []

    def accepts(self, kind: str) -> bool:
        return kind in self.EVENTS or kind.startswith("fake.")

    async def run(self) -> None:
        text = self.script.transcripts(0) if self.script.transcripts else self.script.transcript
        self.words = text.split(" ")
        said = self.script.user_transcripts(0) if self.script.user_transcripts else ""
        self.source_words = said.split(" ") if said else []
        self.translated = io.BytesIO(self.script.assistant_audio(0))
        await self.send({"type": "session.created", "session": self.config})
        await self._read()

    async def on_session_update(self, event: dict[str, Any]) -> None:
        update = event.get("session")
        if isinstance(update, dict):
            _deep_merge(self.config, update)
        await self.send({"type": "session.updated", "session": self.config})

    async def on_session_input_audio_buffer_append(self, event: dict[str, Any]) -> None:
        self.pending += base64.b64decode(str(event.get("audio", "")))
        step = int(self.FRAME_MS * PCM16.bytes_per_ms)
        while len(self.pending) >= step:
            del self.pending[:step]
            self._translate_frame()

    def _translate_frame(self) -> None:
        self.frames += 1
        task = asyncio.get_running_loop().create_task(self._translation(self.frames))
        self.translations.append(task)
        self._keep(task)

    async def _translation(self, frame: int) -> None:
        await asyncio.sleep(self.script.translation_delay)
        elapsed = {"elapsed_ms": frame * self.FRAME_MS}
        transcription = self.config["audio"]["input"].get("transcription")
        if transcription and frame <= len(self.source_words):
            word = self.source_words[frame - 1] + " "
            await self.send({"type": "session.input_transcript.delta", "delta": word, **elapsed})
        if frame <= len(self.words):
            word = self.words[frame - 1] + " "
            await self.send({"type": "session.output_transcript.delta", "delta": word, **elapsed})
        audio = self.translated.read(int(self.FRAME_MS * PCM16.bytes_per_ms))
        if audio:
            await self.send(
                {
                    "type": "session.output_audio.delta",
                    "delta": base64.b64encode(audio).decode(),
                    "sample_rate": 24000,
                    "channels": 1,
                    "format": "pcm16",
                    **elapsed,
                }
            )

    async def on_session_close(self, event: dict[str, Any]) -> None:
        """Flush what is pending, emit the remaining output, then `session.closed`."""
        if self.pending:
            self.pending.clear()
            self._translate_frame()
        await asyncio.gather(*self.translations, return_exceptions=True)
        await self.send({"type": "session.closed"})


def _default_session(model: str, beta: bool) -> dict[str, Any]:
    vad = {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 200,
    }
    if beta:
        return {
            "id": _id("sess_"),
            "object": "realtime.session",
            "model": model,
            "expires_at": 1729001700,
            "modalities": ["text", "audio"],
            "voice": "alloy",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_transcription": None,
            "turn_detection": vad,
            "tools": [],
            "tool_choice": "auto",
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
        }
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": _id("sess_"),
        "model": model,
        "output_modalities": ["audio"],
        "max_output_tokens": "inf",
        "expires_at": 1766228400,
        "tools": [],
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": None,
                "turn_detection": {
                    **vad,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "voice": "alloy",
                "speed": 1.0,
            },
        },
    }


def _deep_merge(target: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value
