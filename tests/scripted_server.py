"""A scripted stand-in for the Realtime API, listening on loopback.

It answers client events the way the API does (beta or GA names, chosen like the API chooses:
`OpenAI-Beta: realtime=v1`, the `openai-beta.realtime-v1` subprotocol or an Azure `api-version`
query mean beta), with server VAD on the audio it is sent, audio and transcript deltas, function
calls, usage, rate limits and errors, after configurable delays. The tests, the benchmarks and the
sample-session generator run it; it never dials anything.

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
    live: Any = None  # a scripted_live.LiveScript: how GPT-Live sessions go (its defaults if None)


@dataclass
class ConnectionLog:
    """What one client connection sent and received, in order (for tests)."""

    path: str
    headers: list[tuple[str, str]]
    subprotocol: str | None
    received: list[str | bytes] = field(default_factory=list)
    sent: list[str | bytes] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


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
        session = _Session(self, ws, log, _is_beta(request.path, request.headers, ws.subprotocol))
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

    async def send(self, event: dict[str, Any]) -> None:
        event = {"type": event.pop("type"), "event_id": _id("event_"), **event}
        await self._send_frame(json.dumps(event))

    async def _send_frame(self, message: str | bytes) -> None:
        # Once the client has closed, stop: websockets' send() would wait out its close
        # timeout for a TCP close it cannot see while reading is paused behind our backlog.
        if self.ws.state is not State.OPEN:
            raise ConnectionClosedOK(None, None)
        self.log.sent.append(message)
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
        async for message in self.ws:
            self.log.received.append(message)
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
        if handler is None:
            await self.error("invalid_request_error", "invalid_value", f"Invalid value: '{kind}'.")
            return
        if kind == "fake.echo":
            await self._echo(message)
            return
        await handler(event)

    async def _echo(self, message: str | bytes) -> None:
        await self._send_frame(message)

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

    async def _commit(self, item_id: str) -> None:
        previous = self.items[-1]["id"] if self.items else None
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

    async def on_input_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        self.buffer.clear()
        await self.send({"type": "input_audio_buffer.cleared"})

    # -- conversation items --------------------------------------------------------------------

    async def on_conversation_item_create(self, event: dict[str, Any]) -> None:
        item = dict(event.get("item") or {})
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
        if self.response_task is not None:
            await self.error(
                "invalid_request_error",
                "conversation_already_has_active_response",
                "Conversation already has an active response in progress.",
                event.get("event_id"),
            )
            return
        self._start_response(event.get("response") or {})

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

    def _start_response(self, options: dict[str, Any]) -> None:
        response_id = _id("resp_")
        self.active_response: dict[str, Any] = {"id": response_id, "output": [], "audio_bytes": 0}
        self.response_task = asyncio.get_running_loop().create_task(
            self._respond(response_id, options)
        )

    def cancel_response(self) -> None:
        if self.response_task is not None:
            self.response_task.cancel()
            self.response_task = None

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

    async def _respond(self, response_id: str, options: dict[str, Any]) -> None:
        script = self.script
        state = self.active_response
        started = asyncio.get_running_loop().time()
        await asyncio.sleep(script.created_delay)
        response: dict[str, Any] = {
            "object": "realtime.response",
            "id": response_id,
            "status": "in_progress",
            "status_details": None,
            "output": [],
            "conversation_id": self.conversation_id,
            "usage": None,
            "metadata": options.get("metadata"),
        }
        await self.send({"type": "response.created", "response": response})
        item_id = _id("item_")
        tools = options.get("tools") or self.config.get("tools") or []
        wants_call = bool(tools) and bool(self.items) and self.items[-1].get("type") == "message"
        wait = script.first_delta_delay - (asyncio.get_running_loop().time() - started)
        if wants_call:
            await self._function_call(response_id, item_id, state, max(0.0, wait))
        else:
            audio = "audio" in self._modalities(options)
            await self._message(
                response_id, item_id, state, audio, max(0.0, wait), next(self.response_index)
            )
        self.response_task = None
        await self._response_done(response_id, "completed", None, state)

    async def _message(
        self,
        response_id: str,
        item_id: str,
        state: dict[str, Any],
        audio: bool,
        wait: float,
        index: int,
    ) -> None:
        script = self.script
        ids = {
            "response_id": response_id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
        }
        item = {
            "id": item_id,
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        await self.send(
            {
                "type": "response.output_item.added",
                "response_id": response_id,
                "output_index": 0,
                "item": item,
            }
        )
        previous = self.items[-1]["id"] if self.items else None
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
        transcript = script.transcripts(index) if script.transcripts else script.transcript
        words = transcript.split(" ")
        if audio:
            pcm = encode_audio(script.assistant_audio(index), self.output_format)
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
                await self.send(
                    {"type": audio_type, **ids, "delta": base64.b64encode(chunks[i]).decode()}
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
        state["text_chars"] = len(transcript)
        await self.send(
            {
                "type": "response.output_item.done",
                "response_id": response_id,
                "output_index": 0,
                "item": done_item,
            }
        )
        if not self.beta:
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
        response: dict[str, Any] = {
            "object": "realtime.response",
            "id": response_id,
            "status": status,
            "status_details": details,
            "output": state["output"],
            "conversation_id": self.conversation_id,
            "usage": usage,
        }
        await self.send({"type": "response.done", "response": response})
        await self.send(
            {
                "type": "rate_limits.updated",
                "rate_limits": self.server.take_rate_limits(usage["total_tokens"]),
            }
        )

    def _usage(self, state: dict[str, Any]) -> dict[str, Any]:
        input_audio = int(self.appended_bytes / self.input_format.bytes_per_ms / 100)
        input_text = 120 + 12 * len(self.items) + self.script.tokens_per_response_floor
        cached = (input_text // 64) * 64 if len(self.items) > 2 else 0
        output_audio = int(state["audio_bytes"] / self.output_format.bytes_per_ms / 50)
        output_text = max(1, int(state.get("text_chars", 0) / 4))
        details: dict[str, Any] = {
            "text_tokens": input_text,
            "audio_tokens": input_audio,
            "cached_tokens": cached,
        }
        details["cached_tokens_details"] = {"text_tokens": cached, "audio_tokens": 0}
        if not self.beta:
            details["image_tokens"] = 0
            details["cached_tokens_details"]["image_tokens"] = 0
        inp = input_text + input_audio
        out = output_text + output_audio
        return {
            "total_tokens": inp + out,
            "input_tokens": inp,
            "output_tokens": out,
            "input_token_details": details,
            "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
        }


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
