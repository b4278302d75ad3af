"""Regenerate the sample sessions: scripted clients talk to a scripted Realtime server through
rt's own recording proxy, on loopback. No API key, no network.

    python sample_sessions/generate.py                 # rewrite sample_sessions/*.jsonl
    python sample_sessions/generate.py --out /tmp/x --speed 20   # a fast copy, e.g. for a test

The speech comes from `speech/*.flac` (made once by `speech/make_speech.sh` with espeak-ng).
Each scenario's file is renamed to `<scenario>.jsonl`. `--speed` compresses every wait and
delay, so the structure of a fast copy matches; only the timings shrink.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from websockets.asyncio.client import ClientConnection, connect

from recorder.proxy import RecordingProxy
from recorder.vocabulary import PCM16, ULAW, AudioFormat, canonical

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from scripted_live import LiveScript  # noqa: E402  (a test double)
from scripted_server import (  # noqa: E402  (a test double)
    CallTurn,
    ConnectionLog,
    Script,
    ScriptedRealtimeServer,
    encode_audio,
)

HERE = Path(__file__).resolve().parent
SPEECH = HERE / "speech"
FAKE_KEY = "sk-sample-not-a-real-key"


def clip(name: str) -> bytes:
    samples, rate = sf.read(SPEECH / f"{name}.flac", dtype="int16")
    assert rate == 24000, f"{name}: expected 24 kHz speech clips"
    return samples.astype("<i2").tobytes()


def silence(ms: int) -> bytes:
    return bytes(48 * ms)


@dataclass
class Client:
    """A scripted Realtime client: sends events, paces audio in real time, waits for events."""

    ws: ClientConnection
    speed: float
    input_format: AudioFormat = PCM16
    seen: list[dict[str, Any]] = field(default_factory=list)
    _queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)

    async def read_forever(self) -> None:
        with contextlib.suppress(Exception):
            async for message in self.ws:
                event = json.loads(message)
                self.seen.append(event)
                self._queue.put_nowait(event)

    async def send(self, type_: str, **fields: Any) -> None:
        await self.ws.send(json.dumps({"type": type_, **fields}))

    async def until(self, type_: str, timeout: float = 30.0) -> dict[str, Any]:
        return await asyncio.wait_for(self._next(canonical(type_)), timeout)

    async def _next(self, wanted: str) -> dict[str, Any]:
        while True:
            event = await self._queue.get()
            if canonical(event["type"]) == wanted:
                return event

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)

    async def speak(
        self, pcm16_24k: bytes, chunk_ms: int = 40, event: str = "input_audio_buffer.append"
    ) -> None:
        """Append audio in `chunk_ms` chunks, at the pace a microphone produces it."""
        audio = to_format(pcm16_24k, self.input_format)
        step = int(chunk_ms * self.input_format.bytes_per_ms)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, offset in enumerate(range(0, len(audio), step)):
            chunk = base64.b64encode(audio[offset : offset + step]).decode()
            await self.send(event, audio=chunk)
            due = start + (n + 1) * chunk_ms / 1000 / self.speed
            await asyncio.sleep(max(0.0, due - loop.time()))


def to_format(pcm16_24k: bytes, fmt: AudioFormat) -> bytes:
    """24 kHz PCM16 in `fmt` (PCM16 at 16 kHz by linear interpolation, G.711 via libsndfile)."""
    if fmt.encoding != "pcm16" or fmt.rate == 24000:
        return encode_audio(pcm16_24k, fmt)
    samples = np.frombuffer(pcm16_24k, dtype="<i2")
    positions = np.arange(len(samples) * fmt.rate // 24000) * 24000 / fmt.rate
    return np.rint(np.interp(positions, np.arange(len(samples)), samples)).astype("<i2").tobytes()


Scenario = Callable[[Client], Awaitable[None]]


@dataclass(frozen=True)
class Sample:
    name: str
    path: str
    script: Script
    scenario: Scenario
    headers: tuple[tuple[str, str], ...] = (("Authorization", f"Bearer {FAKE_KEY}"),)
    subprotocols: tuple[str, ...] = ()
    description: str = ""


def replies(*names: str) -> Callable[[int], bytes]:
    return lambda index: clip(names[min(index, len(names) - 1)])


def texts(*lines: str) -> Callable[[int], str]:
    return lambda index: lines[min(index, len(lines) - 1)]


GA_NO_VAD = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}


async def ga_push_to_talk(c: Client) -> None:
    await c.until("session.created")
    await c.send(
        "session.update",
        session={
            **GA_NO_VAD,
            "instructions": "You are a concise support agent.",
            "audio": {"input": {"turn_detection": None}, "output": {"voice": "marin"}},
        },
    )
    await c.until("session.updated")
    for user in ("user-order", "user-number"):
        await c.sleep(0.8)
        await c.speak(clip(user))
        await c.send("input_audio_buffer.commit")
        await c.send("response.create")
        await c.until("response.done")
    await c.sleep(0.5)


async def ga_server_vad_barge_in(c: Client) -> None:
    await c.until("session.created")
    await c.send(
        "session.update",
        session={
            "type": "realtime",
            "audio": {
                "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}
            },
        },
    )
    await c.until("session.updated")
    await c.speak(silence(400) + clip("user-weather") + silence(700))
    first = await c.until("response.output_audio.delta")
    played_from = asyncio.get_running_loop().time()
    await c.speak(silence(1600))  # the user listens for a while, then talks over the assistant
    speaking = asyncio.create_task(c.speak(clip("user-interrupt") + silence(900)))
    await c.until("input_audio_buffer.speech_started")
    played_ms = int((asyncio.get_running_loop().time() - played_from) * 1000 * c.speed)
    await c.send(
        "conversation.item.truncate",
        item_id=first["item_id"],
        content_index=0,
        audio_end_ms=played_ms,
    )
    await c.until("conversation.item.truncated")
    await speaking
    await c.until("response.done")
    await c.speak(silence(600))


async def beta_2024_10_01(c: Client) -> None:
    await c.until("session.created")
    await c.send(
        "session.update",
        session={
            "input_audio_transcription": {"model": "whisper-1"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
        },
    )
    await c.until("session.updated")
    await c.speak(silence(300) + clip("user-order") + silence(700))
    await c.until("response.done")
    await c.speak(silence(500) + clip("user-number") + silence(700))
    await c.until("response.done")
    await c.speak(silence(300))


async def ga_text_only(c: Client) -> None:
    await c.until("session.created")
    await c.send(
        "session.update",
        session={
            "type": "realtime",
            "output_modalities": ["text"],
            "audio": {"input": {"turn_detection": None}},
        },
    )
    await c.until("session.updated")
    for question in ("Can you check the status of my order?", "It's order 4271."):
        await c.sleep(1.5)
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": question}],
        }
        await c.send("conversation.item.create", item=item)
        await c.send("response.create")
        await c.until("response.done")


WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}


async def ga_function_call(c: Client) -> None:
    await c.until("session.created")
    await c.send(
        "session.update", session={**GA_NO_VAD, "tools": [WEATHER_TOOL], "tool_choice": "auto"}
    )
    await c.until("session.updated")
    await c.sleep(0.6)
    await c.speak(clip("user-weather"))
    await c.send("input_audio_buffer.commit")
    await c.send("response.create")
    call = await c.until("response.function_call_arguments.done")
    await c.until("response.done")
    await c.sleep(0.25)  # the client calls its weather service
    output = {
        "type": "function_call_output",
        "call_id": call["call_id"],
        "output": '{"temperature_c":20,"sky":"sunny"}',
    }
    await c.send("conversation.item.create", item=output)
    await c.send("response.create")
    await c.until("response.done")
    await c.sleep(0.4)


async def azure_g711(c: Client) -> None:
    await c.until("session.created")
    await c.send(
        "session.update",
        session={
            "input_audio_format": "g711_ulaw",
            "output_audio_format": "g711_ulaw",
            "turn_detection": None,
        },
    )
    await c.until("session.updated")
    c.input_format = ULAW
    await c.sleep(0.7)
    await c.speak(clip("user-order"), chunk_ms=20)
    await c.send("input_audio_buffer.commit")
    await c.send("response.create")
    await c.until("response.done")
    await c.sleep(0.5)


async def errors_and_rate_limits(c: Client) -> None:
    await c.until("session.created")
    await c.send("session.update", session={**GA_NO_VAD, "output_modalities": ["audio"]})
    await c.until("session.updated")
    await c.speak(silence(40))
    await c.send("input_audio_buffer.commit", event_id="cli_commit_too_early")
    await c.until("error")
    for n, user in enumerate(("user-order", "user-thanks", "user-weather", "user-thanks")):
        await c.sleep(0.5)
        await c.speak(clip(user))
        await c.send("input_audio_buffer.commit")
        await c.send("response.create")
        if n == 2:  # the user hangs up on a long answer: the client cancels it
            await c.until("response.output_audio.delta")
            await c.sleep(0.15)
            await c.send("response.cancel")
        await c.until("response.done")
    await c.send("response.cancel", event_id="cli_cancel_nothing")
    await c.until("error")
    await c.sleep(0.3)


# -- today's API (CONTRACT §4) ---------------------------------------------------------------------

# a 1x1 PNG: the shape of an image input, not a picture
PNG_PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
GA2_SESSION = {
    "type": "realtime",
    "instructions": "You are a concise travel assistant on a phone line.",
    "reasoning": {"effort": "low"},
    "audio": {
        "input": {
            "format": {"type": "audio/pcmu"},
            "transcription": {"model": "gpt-4o-mini-transcribe"},
            "turn_detection": {
                "type": "server_vad",
                "silence_duration_ms": 500,
                "idle_timeout_ms": 5000,
            },
        },
        "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"},
    },
}
GA2_PLAYBACK_MS = 1680 + 3010  # the preamble and the final answer (assistant-checking, -forecast)


async def ga2_preamble_oob_idle(c: Client) -> None:
    await c.until("session.created")
    await c.send("session.update", session=GA2_SESSION)
    await c.until("session.updated")
    c.input_format = ULAW
    photo = {"type": "input_image", "image_url": PNG_PIXEL}
    await c.send(
        "conversation.item.create", item={"type": "message", "role": "user", "content": [photo]}
    )
    await c.until("conversation.item.done")
    await c.sleep(0.5)
    speaking = asyncio.create_task(c.speak(silence(300) + clip("user-weather") + silence(700), 20))
    await c.until("input_audio_buffer.speech_stopped")
    # beside the turn: classify the request, out of band, linked by its metadata
    await c.send(
        "response.create",
        response={
            "conversation": "none",
            "metadata": {"purpose": "intent"},
            "output_modalities": ["text"],
            "instructions": "Classify the caller's intent in one word.",
        },
    )
    await speaking
    for _ in range(2):  # the out-of-band response and the turn's
        await c.until("response.done")
    # the caller says nothing: once the answer has played, the idle timeout (5 s) answers
    await c.speak(silence(GA2_PLAYBACK_MS + 5000 + 2500), 20)
    await c.until("response.done")


SIDEBAND_CALL = (
    CallTurn(
        0.8,
        2.3,
        "Hi, can you check the status of my order?",
        "Of course. What is your order number?",
        2500,
    ),
    CallTurn(
        1.2,
        2.2,
        "Sure. It's order four two seven one.",
        "Thanks. Your order shipped on Monday.",
        3000,
    ),
)


async def sideband_webrtc_call(c: Client) -> None:
    await c.until("session.created")
    update = {
        "type": "realtime",
        "instructions": "You are a concise support agent.",
        "audio": {"input": {"transcription": {"model": "gpt-realtime-whisper"}}},
    }
    await c.send("session.update", session=update)
    await c.until("session.updated")
    for _ in SIDEBAND_CALL:
        await c.until("output_audio_buffer.stopped")
    await c.sleep(0.3)


async def translation_en_fr(c: Client) -> None:
    await c.until("session.created")
    update = {
        "audio": {
            "input": {"transcription": {"model": "gpt-realtime-whisper"}},
            "output": {"language": "fr"},
        }
    }
    await c.send("session.update", session=update)
    await c.until("session.updated")
    await c.sleep(0.4)
    await c.speak(clip("user-order") + silence(800), event="session.input_audio_buffer.append")
    await c.send("session.close")
    await c.until("session.closed")


LIVE_APPEND = "session.input_audio.append"


def live_start(model: str, fmt: dict[str, Any], **session: Any) -> dict[str, Any]:
    return {"model": model, "audio": {"format": fmt, "output": {"voice": "marin"}}, **session}


async def live_websocket(c: Client) -> None:
    """GPT-Live over its WebSocket at 16 kHz: a question; the caller talks over the answer and
    the model yields; the corrected question is answered through a Responses delegation; then
    session.close. The microphone streams all the time."""
    c.input_format = AudioFormat("pcm16", 16000)
    delegation = {"type": "responses", "responses": {"model": "gpt-5-mini"}}
    await c.send(
        "session.start",
        session=live_start(
            "gpt-live-1", {"type": "audio/pcm", "rate": 16000}, delegation=delegation
        ),
    )
    await c.until("session.started")
    mic = (
        silence(400) + clip("user-weather") + silence(1600) + clip("user-interrupt") + silence(4400)
    )
    await c.speak(mic, chunk_ms=40, event=LIVE_APPEND)
    await c.send("session.close")
    await c.until("session.closed")


async def live_g711(c: Client) -> None:
    """GPT-Live at 8 kHz µ-law (telephony): the app answers a client delegation with a thinking
    note, the caller mutes for a moment, then hangs up with session.close."""
    c.input_format = ULAW
    await c.send(
        "session.start", session=live_start("gpt-live-1.1", {"type": "audio/pcmu", "rate": 8000})
    )
    await c.until("session.started")
    answering = asyncio.create_task(answer_delegation(c))
    await c.speak(silence(400) + clip("user-order") + silence(4000), chunk_ms=20, event=LIVE_APPEND)
    await c.send("session.input_audio.mute")
    await c.speak(silence(600), chunk_ms=20, event=LIVE_APPEND)
    await c.send("session.input_audio.unmute")
    await c.speak(clip("user-number") + silence(3600), chunk_ms=20, event=LIVE_APPEND)
    await answering
    await c.send("session.close")
    await c.until("session.closed")


async def answer_delegation(c: Client) -> None:
    created = await c.until("session.delegation.created")
    await c.send(
        "session.thinking.append",
        content="Order 4271: shipped Monday, arriving Thursday.",
        delegation_id=created["delegation"]["id"],
    )


# Realistic server timing at speed 1: response.created ~40 ms after the trigger, first audio
# ~350-600 ms after it, audio generated about three times faster than real time.
def timing(first: float, **more: Any) -> dict[str, Any]:
    return {
        "created_delay": 0.04,
        "first_delta_delay": first,
        "delta_interval": 0.03,
        "delta_ms": 100,
        **more,
    }


SAMPLES: tuple[Sample, ...] = (
    Sample(
        "ga-push-to-talk",
        "/v1/realtime?model=gpt-realtime",
        Script(
            model="gpt-realtime",
            assistant_audio=replies("assistant-order", "assistant-shipped"),
            transcripts=texts(
                "Of course. What is your order number?",
                "Thanks. Your order shipped on Monday and should arrive by Thursday.",
            ),
            **timing(0.42),
        ),
        ga_push_to_talk,
        description="GA, push-to-talk: audio appended, committed, `response.create`; two voice turns.",
    ),
    Sample(
        "ga-server-vad-barge-in",
        "/v1/realtime?model=gpt-realtime",
        Script(
            model="gpt-realtime",
            assistant_audio=replies("assistant-weather", "assistant-lyon"),
            transcripts=texts(
                "It is sunny in Paris today, around twenty degrees, with a light breeze from the west, so a good afternoon for a walk.",
                "In Lyon it is cloudy, around seventeen degrees.",
            ),
            **timing(0.38, delta_interval=0.08),
        ),
        ga_server_vad_barge_in,
        description="GA, server VAD (`speech_started`/`speech_stopped`), the user talks over the assistant: `conversation.item.truncate` at the millisecond heard.",
    ),
    Sample(
        "beta-2024-10-01",
        "/v1/realtime?model=gpt-4o-realtime-preview-2024-10-01",
        Script(
            model="gpt-4o-realtime-preview-2024-10-01",
            assistant_audio=replies("assistant-order", "assistant-shipped"),
            transcripts=texts(
                "Of course. What is your order number?",
                "Thanks. Your order shipped on Monday and should arrive by Thursday.",
            ),
            **timing(0.55),
        ),
        beta_2024_10_01,
        headers=(("Authorization", f"Bearer {FAKE_KEY}"), ("OpenAI-Beta", "realtime=v1")),
        description="Beta shape (2024-10-01 event names, `OpenAI-Beta: realtime=v1`), server VAD, two turns.",
    ),
    Sample(
        "ga-text-only",
        "/v1/realtime?model=gpt-realtime-mini",
        Script(
            model="gpt-realtime-mini",
            transcripts=texts(
                "Sure, what is your order number?",
                "Order 4271 shipped on Monday and should arrive by Thursday.",
            ),
            **timing(0.25),
        ),
        ga_text_only,
        description='GA, text only (`output_modalities: ["text"]`): `conversation.item.create` with typed text, text deltas, no audio.',
    ),
    Sample(
        "ga-function-call",
        "/v1/realtime?model=gpt-realtime",
        Script(
            model="gpt-realtime",
            assistant_audio=replies("assistant-weather"),
            transcripts=texts(
                "It is sunny in Paris today, around twenty degrees, with a light breeze from the west, so a good afternoon for a walk."
            ),
            function_arguments='{"location":"Paris","unit":"celsius"}',
            **timing(0.45),
        ),
        ga_function_call,
        description="GA, a function call: `response.function_call_arguments.delta/done`, the client's `function_call_output`, then the spoken answer.",
    ),
    Sample(
        "azure-preview-g711",
        "/openai/realtime?api-version=2024-10-01-preview&deployment=gpt-4o-realtime-preview",
        Script(
            model="gpt-4o-realtime-preview",
            assistant_audio=replies("assistant-order"),
            transcripts=texts("Of course. What is your order number?"),
            **timing(0.6),
        ),
        azure_g711,
        headers=(("api-key", "azure-sample-not-a-real-key"),),
        description="Azure OpenAI preview URL (`/openai/realtime?api-version=…&deployment=…`, `api-key` header), beta shape, G.711 µ-law audio both ways at 8 kHz.",
    ),
    Sample(
        "errors-and-rate-limits",
        "/v1/realtime?model=gpt-realtime-mini",
        Script(
            model="gpt-realtime-mini",
            assistant_audio=replies(
                "assistant-order", "assistant-welcome", "assistant-weather", "assistant-welcome"
            ),
            transcripts=texts(
                "Of course. What is your order number?",
                "You're welcome. Have a nice day!",
                "It is sunny in Paris today, around twenty degrees.",
                "You're welcome. Have a nice day!",
            ),
            rate_limit_tokens=2400,
            tokens_per_response_floor=300,
            **timing(0.5),
        ),
        errors_and_rate_limits,
        description="GA mini: an `error` (commit with too little audio), a response cancelled by the client, an error for cancelling nothing, and the tokens rate limit falling towards zero.",
    ),
    Sample(
        "ga2-preamble-oob-idle",
        "/v1/realtime?model=gpt-realtime-2",
        Script(
            model="gpt-realtime-2",
            preamble=lambda index: (
                ("Let me check that for you.", clip("assistant-checking")) if index == 0 else None
            ),
            final_answer_delay=1.4,
            assistant_audio=replies("assistant-forecast", "assistant-still-there"),
            transcripts=texts(
                "In Paris it is sunny, around twenty degrees.", "Are you still there?"
            ),
            reasoning_tokens=48,
            image_tokens=255,
            transcribe=True,
            user_transcripts=texts("What's the weather like in Paris today?"),
            **timing(0.35),
        ),
        ga2_preamble_oob_idle,
        description='gpt-realtime-2 on a phone line (G.711 µ-law): an image in the context, a spoken preamble (`commentary`) before the `final_answer`, an out-of-band classification (`conversation: "none"`, `metadata`) beside the turn, input transcription billed by tokens, reasoning tokens, then an idle timeout (`timeout_triggered`) answered by the server.',
    ),
    Sample(
        "sideband-webrtc-call",
        "/v1/realtime?call_id=rtc_u1SeD9fWcJtTTuRnY5BoX",
        Script(
            model="gpt-realtime-2",
            call=SIDEBAND_CALL,
            transcribe=True,
            transcripts=texts(*(turn.answer for turn in SIDEBAND_CALL)),
            **timing(0.45),
        ),
        sideband_webrtc_call,
        description="A sideband (`?call_id=`) watching a WebRTC call: VAD events, input transcription billed per minute, transcripts and `output_audio_buffer.started`/`stopped`, no audio on the connection.",
    ),
    Sample(
        "translation-en-fr",
        "/v1/realtime/translations?model=gpt-realtime-translate",
        Script(
            model="gpt-realtime-translate",
            transcripts=texts("Bonjour, pouvez-vous vérifier l'état de ma commande ?"),
            user_transcripts=texts("Hi, can you check the status of my order?"),
            assistant_audio=replies("translated-order"),
            translation_delay=0.6,
        ),
        translation_en_fr,
        description="The translation endpoint (`/v1/realtime/translations`): English audio appended, French audio and transcripts streamed back per 200 ms, billed per minute of audio appended.",
    ),
    Sample(
        "live-websocket",
        "/v1/live/sessions",
        Script(
            live=LiveScript(
                model="gpt-live-1",
                reply_delay_ms=640,
                replies=replies("assistant-weather", "assistant-lyon"),
                reply_texts=texts(
                    "It is sunny in Paris today, around twenty degrees, with a light breeze from the west, so a good afternoon for a walk.",
                    "In Lyon it is cloudy, around seventeen degrees.",
                ),
                user_texts=texts(
                    "What's the weather like in Paris today?", "Sorry, wait, I meant Lyon."
                ),
                delegate_turn=1,
                end_of_speech_ms=700,  # espeak pauses up to ~320 ms inside a sentence
            )
        ),
        live_websocket,
        description="GPT-Live (`/v1/live/sessions`, gpt-live-1, PCM 16 kHz): continuous output audio with its silences, transcripts on the session timeline, the caller talking over the answer (the model yields), a Responses delegation with its usage, `session.usage.updated`, `session.close` → `session.closed`.",
    ),
    Sample(
        "live-g711",
        "/openai/v1/live/sessions",
        Script(
            live=LiveScript(
                model="gpt-live-1.1",
                reply_delay_ms=520,
                replies=replies("assistant-order", "assistant-shipped"),
                reply_texts=texts(
                    "Of course. What is your order number?",
                    "Thanks. Your order shipped on Monday and should arrive by Thursday.",
                ),
                user_texts=texts("Can you check the status of my order?", "It's order 4271."),
                delegate_turn=1,
                delegate_target="client",
                end_of_speech_ms=700,
            )
        ),
        live_g711,
        headers=(("api-key", "azure-sample-not-a-real-key"),),
        description="GPT-Live on an Azure path (`/openai/v1/live/sessions`, gpt-live-1.1, G.711 µ-law): a client delegation answered with `session.thinking.append`, mute and unmute, `session.closed`.",
    ),
)


def _scaled(script: Script, speed: float) -> Script:
    return replace(
        script,
        created_delay=script.created_delay / speed,
        first_delta_delay=script.first_delta_delay / speed,
        delta_interval=script.delta_interval / speed,
        final_answer_delay=script.final_answer_delay / speed,
        transcription_delay=script.transcription_delay / speed,
        translation_delay=script.translation_delay / speed,
        time_scale=script.time_scale / speed,
    )


async def record_sample(
    sample: Sample, out_dir: Path, speed: float, server_logs: list[ConnectionLog] | None = None
) -> Path:
    """Record `sample` through the proxy into `out_dir`; `server_logs` receives what the
    scripted server sent and received, with the time of each frame (the truth of the tests)."""
    async with ScriptedRealtimeServer(_scaled(sample.script, speed)) as server:
        with tempfile.TemporaryDirectory() as tmp:
            async with (
                RecordingProxy(upstream=server.url, out_dir=tmp, port=0, environ={}) as proxy,
                connect(
                    proxy.url + sample.path,
                    additional_headers=list(sample.headers),
                    subprotocols=list(sample.subprotocols) or None,  # type: ignore[arg-type]
                    max_size=None,
                    compression=None,
                ) as ws,
            ):
                client = Client(ws, speed)
                reader = asyncio.create_task(client.read_forever())
                await sample.scenario(client)
                await ws.close(1000, "")
                await reader
            if server_logs is not None:
                server_logs.extend(server.connections)
            files = list(Path(tmp).glob("*.jsonl"))
            assert len(files) == 1, files
            target = out_dir / f"{sample.name}.jsonl"
            shutil.move(str(files[0]), target)
            target.chmod(0o644)  # samples are meant to be shared; real recordings stay 0600
            return target


async def generate(out_dir: Path, speed: float, only: set[str] | None = None) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = [s for s in SAMPLES if only is None or s.name in only]
    return list(await asyncio.gather(*(record_sample(s, out_dir, speed) for s in chosen)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument(
        "--speed", type=float, default=1.0, help="compress all waits by this factor"
    )
    parser.add_argument("--only", action="append", help="regenerate only this sample (repeatable)")
    args = parser.parse_args(argv)
    paths = asyncio.run(generate(args.out, args.speed, set(args.only) if args.only else None))
    for path in paths:
        print(f"{path}  {path.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
