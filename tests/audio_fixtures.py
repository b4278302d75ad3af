"""Session files with known audio, for the export tests and the export benchmark.

Frames go through `recorder.session.frame_line`, the recorder's own codec, so the fixtures are
byte for byte what `rt record` writes.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

from recorder.session import Direction, encode_record, frame_line, session_record

PCM_RATE = 24000
G711_RATE = 8000

BETA_FORMATS = {"pcm16": "pcm16", "ulaw": "g711_ulaw", "alaw": "g711_alaw"}
GA_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "ulaw": {"type": "audio/pcmu"},
    "alaw": {"type": "audio/pcma"},
}


def sine(
    freq: float, ms: int, rate: int = PCM_RATE, amplitude: int = 12000
) -> npt.NDArray[np.int16]:
    """`ms` milliseconds of a sine wave as 16-bit samples."""
    n = rate * ms // 1000
    return np.rint(amplitude * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.int16)


def pcm16(samples: npt.NDArray[np.int16]) -> bytes:
    return samples.astype("<i2").tobytes()


def g711(samples: npt.NDArray[np.int16], law: str) -> bytes:
    """Samples encoded by libsndfile itself (RAW ULAW / ALAW), the reference for round trips."""
    buffer = io.BytesIO()
    sf.write(buffer, samples, G711_RATE, format="RAW", subtype=law.upper())
    return buffer.getvalue()


def g711_decoded(data: bytes, law: str) -> npt.NDArray[np.int16]:
    """G.711 bytes decoded by libsndfile, what an exported track must equal."""
    samples, _ = sf.read(
        io.BytesIO(data),
        dtype="int16",
        format="RAW",
        subtype=law.upper(),
        samplerate=G711_RATE,
        channels=1,
    )
    return np.asarray(samples, dtype=np.int16)


def split(data: bytes, sizes: list[int]) -> list[bytes]:
    """`data` cut into pieces of the given sizes, cycling through them."""
    pieces = []
    start = 0
    index = 0
    while start < len(data):
        size = sizes[index % len(sizes)]
        pieces.append(data[start : start + size])
        start += size
        index += 1
    return pieces


class SessionBuilder:
    """Builds an rt-session/1 file line by line; every method returns the line number it wrote."""

    def __init__(self, ga: bool = True, header: bool = True) -> None:
        self.ga = ga
        self.lines: list[str] = []
        self.seq = 0
        if header:
            started = dt.datetime(2026, 11, 26, 2, 15, 30, tzinfo=dt.timezone.utc)
            record = session_record(
                "20261126T021530.000000Z-test",
                started,
                "wss://api.openai.com",
                "/v1/realtime",
                [],
                [],
            )
            self.lines.append(encode_record(record))

    # -- generic -----------------------------------------------------------------------------

    def frame(self, t: float, direction: Direction, event: dict[str, Any]) -> int:
        self.lines.append(frame_line(self.seq, t, direction, json.dumps(event)))
        self.seq += 1
        return len(self.lines)

    def raw(self, text: str) -> int:
        self.lines.append(text + "\n")
        return len(self.lines)

    def text(self) -> str:
        return "".join(self.lines)

    def write(self, path: Path) -> Path:
        path.write_text(self.text(), encoding="utf-8")
        return path

    def format_value(self, name: str) -> Any:
        return GA_FORMATS[name] if self.ga else BETA_FORMATS[name]

    def session_object(self, input: str | None, output: str | None) -> dict[str, Any]:
        if self.ga:
            audio: dict[str, Any] = {}
            if input:
                audio["input"] = {"format": self.format_value(input)}
            if output:
                audio["output"] = {"format": self.format_value(output), "voice": "marin"}
            return {"type": "realtime", "model": "gpt-realtime", "audio": audio}
        session: dict[str, Any] = {"model": "gpt-4o-realtime-preview-2024-10-01"}
        if input:
            session["input_audio_format"] = self.format_value(input)
        if output:
            session["output_audio_format"] = self.format_value(output)
        return session

    # -- session configuration -----------------------------------------------------------------

    def session_created(self, t: float = 0.0, input: str = "pcm16", output: str = "pcm16") -> int:
        event = {"type": "session.created", "session": self.session_object(input, output)}
        return self.frame(t, "server", event)

    def session_updated(self, t: float, input: str | None = None, output: str | None = None) -> int:
        event = {"type": "session.updated", "session": self.session_object(input, output)}
        return self.frame(t, "server", event)

    def session_update(
        self, t: float, input: str | None = None, output: str | None = None, event_id: str = ""
    ) -> int:
        event: dict[str, Any] = {
            "type": "session.update",
            "session": self.session_object(input, output),
        }
        if event_id:
            event["event_id"] = event_id
        return self.frame(t, "client", event)

    # -- audio ---------------------------------------------------------------------------------

    def append(self, t: float, data: bytes | str) -> int:
        audio = data if isinstance(data, str) else base64.b64encode(data).decode("ascii")
        return self.frame(t, "client", {"type": "input_audio_buffer.append", "audio": audio})

    def appends(self, t: float, pieces: list[bytes], interval: float) -> list[int]:
        return [self.append(t + i * interval, piece) for i, piece in enumerate(pieces)]

    def response_created(self, t: float, response_id: str, output: str | None = None) -> int:
        response: dict[str, Any] = {"object": "realtime.response", "id": response_id}
        response["status"] = "in_progress"
        if output and self.ga:
            response["audio"] = {"output": {"format": self.format_value(output)}}
        elif output:
            response["output_audio_format"] = self.format_value(output)
        return self.frame(t, "server", {"type": "response.created", "response": response})

    def response_create(self, t: float, output: str | None = None) -> int:
        event: dict[str, Any] = {"type": "response.create"}
        if output and self.ga:
            event["response"] = {"audio": {"output": {"format": self.format_value(output)}}}
        elif output:
            event["response"] = {"output_audio_format": self.format_value(output)}
        return self.frame(t, "client", event)

    def delta(self, t: float, response_id: str, item_id: str, data: bytes | str) -> int:
        payload = data if isinstance(data, str) else base64.b64encode(data).decode("ascii")
        kind = "response.output_audio.delta" if self.ga else "response.audio.delta"
        event = {
            "type": kind,
            "response_id": response_id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "delta": payload,
        }
        return self.frame(t, "server", event)

    def deltas(
        self, t: float, response_id: str, item_id: str, pieces: list[bytes], interval: float
    ) -> list[int]:
        return [
            self.delta(t + i * interval, response_id, item_id, piece)
            for i, piece in enumerate(pieces)
        ]

    def response_done(
        self, t: float, response_id: str, status: str = "completed", reason: str | None = None
    ) -> int:
        response: dict[str, Any] = {"object": "realtime.response", "id": response_id}
        response["status"] = status
        response["status_details"] = {"type": status, "reason": reason} if reason else None
        return self.frame(t, "server", {"type": "response.done", "response": response})

    def truncate(self, t: float, item_id: str, audio_end_ms: float) -> int:
        event = {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": audio_end_ms,
        }
        return self.frame(t, "client", event)

    def truncated(self, t: float, item_id: str, audio_end_ms: float) -> int:
        event = {
            "type": "conversation.item.truncated",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": audio_end_ms,
        }
        return self.frame(t, "server", event)
