"""Build session files with known timestamps for the `rt stats` tests.

session = SessionFile("call-1")
session.server(0.0, "session.created", session={"model": "gpt-realtime"})
session.appends(start=1.0, count=50, ms=40)
session.server(3.0, "input_audio_buffer.speech_stopped", audio_end_ms=1000)
...
path = session.write(tmp_path)
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from recorder.analytics.report import BILLED_AUDIO_KEYS

STARTED_AT = "2026-11-26T10:00:00.000000Z"
# the CONTRACT §4.2 fields of a session without input transcription or translation
NOT_TRANSCRIBED = dict.fromkeys(BILLED_AUDIO_KEYS)
PCM16_BYTES_PER_MS = 48
G711_BYTES_PER_MS = 8


# What the sessions rows say of a call whose audio is digital silence (CONTRACT §4.6)...
SILENT_CALL_TIMING = {
    "user_talk_ms": 0.0,
    "assistant_talk_ms": 0.0,
    "talk_over_ms": 0.0,
    "barge_ins": 0,
    "barge_in_stop_ms": None,
    "dead_air_ms": 0.0,
    "turns": 0,
}
# ... and of one that is not a GPT-Live session (§4.4)
NOT_LIVE = {
    "live_seconds": None,
    "live_cost_usd": None,
    "live_close_reason": None,
    "live_delegations": None,
    "live_delegated_tokens": None,
    "live_muted_ms": None,
}


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def audio_b64(ms: float, bytes_per_ms: int = PCM16_BYTES_PER_MS) -> str:
    """Base64 of `ms` milliseconds of silence (the analyser only measures the length)."""
    return base64.b64encode(bytes(int(ms * bytes_per_ms))).decode("ascii")


def ga_usage(
    input_text: int = 0,
    input_audio: int = 0,
    cached_text: int = 0,
    cached_audio: int = 0,
    output_text: int = 0,
    output_audio: int = 0,
) -> dict[str, Any]:
    """A GA (and late beta) `response.usage` object with consistent totals."""
    inputs, outputs = input_text + input_audio, output_text + output_audio
    return {
        "total_tokens": inputs + outputs,
        "input_tokens": inputs,
        "output_tokens": outputs,
        "input_token_details": {
            "text_tokens": input_text,
            "audio_tokens": input_audio,
            "image_tokens": 0,
            "cached_tokens": cached_text + cached_audio,
            "cached_tokens_details": {
                "text_tokens": cached_text,
                "audio_tokens": cached_audio,
                "image_tokens": 0,
            },
        },
        "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
    }


class SessionFile:
    """An rt-session/1 file built from frames in any order: `text()` puts the lines in time
    order (ties keep the order they were added) and numbers the frames with `seq`, as the
    recorder does."""

    def __init__(
        self,
        session_id: str = "session-1",
        *,
        header: bool = True,
        started_at: str = STARTED_AT,
        path: str = "/v1/realtime?model=gpt-realtime",
    ) -> None:
        self.session_id = session_id
        self.header: str | None = None
        self._entries: list[tuple[float, int, dict[str, Any] | str]] = []
        if header:
            self.header = dumps(
                {
                    "kind": "session",
                    "format": "rt-session/1",
                    "id": session_id,
                    "started_at": started_at,
                    "upstream": "wss://api.openai.com",
                    "request": {"path": path, "headers": [], "subprotocols": []},
                    "recorder": {"name": "rt", "version": "0.1.0"},
                }
            )

    # -- frames ------------------------------------------------------------------------------

    def frame(self, t: float, sender: str, event: dict[str, Any]) -> SessionFile:
        return self._add(t, {"kind": "frame", "t": t, "from": sender, "event": event})

    def _add(self, t: float, entry: dict[str, Any] | str) -> SessionFile:
        self._entries.append((t, len(self._entries), entry))
        return self

    def text_frame(self, t: float, sender: str, text: str) -> SessionFile:
        """A text frame that is not a JSON object."""
        return self._add(t, {"kind": "frame", "t": t, "from": sender, "text": text})

    def binary_frame(self, t: float, sender: str, data: bytes) -> SessionFile:
        payload = base64.b64encode(data).decode("ascii")
        return self._add(t, {"kind": "frame", "t": t, "from": sender, "binary": payload})

    def server(self, t: float, event_type: str, **fields: Any) -> SessionFile:
        return self.frame(t, "server", {"type": event_type, **fields})

    def client(self, t: float, event_type: str, **fields: Any) -> SessionFile:
        return self.frame(t, "client", {"type": event_type, **fields})

    def append(self, t: float, ms: float, bytes_per_ms: int = PCM16_BYTES_PER_MS) -> SessionFile:
        return self.client(t, "input_audio_buffer.append", audio=audio_b64(ms, bytes_per_ms))

    def appends(
        self,
        start: float,
        count: int,
        ms: int = 40,
        bytes_per_ms: int = PCM16_BYTES_PER_MS,
    ) -> SessionFile:
        """`count` appends of `ms` each, sent in real time from `start`: append i at
        start + i*ms/1000, covering audio up to (i+1)*ms."""
        for i in range(count):
            self.append(round(start + i * ms / 1000, 6), ms, bytes_per_ms)
        return self

    def created(self, t: float, response_id: str, **response: Any) -> SessionFile:
        body = {"object": "realtime.response", "id": response_id, "status": "in_progress"}
        return self.server(t, "response.created", response={**body, "usage": None, **response})

    def done(
        self,
        t: float,
        response_id: str,
        status: str = "completed",
        usage: dict[str, Any] | None = None,
        status_details: dict[str, Any] | None = None,
    ) -> SessionFile:
        response: dict[str, Any] = {
            "object": "realtime.response",
            "id": response_id,
            "status": status,
            "status_details": status_details,
            "output": [],
            "usage": usage,
        }
        return self.server(t, "response.done", response=response)

    def audio_delta(
        self,
        t: float,
        response_id: str,
        ms: float,
        bytes_per_ms: int = PCM16_BYTES_PER_MS,
        *,
        beta: bool = False,
    ) -> SessionFile:
        event_type = "response.audio.delta" if beta else "response.output_audio.delta"
        return self.server(
            t,
            event_type,
            response_id=response_id,
            item_id=f"item_{response_id}",
            output_index=0,
            content_index=0,
            delta=audio_b64(ms, bytes_per_ms),
        )

    def transcript_delta(
        self, t: float, response_id: str, text: str = "Hi", *, beta: bool = False
    ) -> SessionFile:
        event_type = (
            "response.audio_transcript.delta" if beta else "response.output_audio_transcript.delta"
        )
        return self.server(t, event_type, response_id=response_id, delta=text)

    def text_delta(
        self, t: float, response_id: str, text: str = "Hi", *, beta: bool = False
    ) -> SessionFile:
        event_type = "response.text.delta" if beta else "response.output_text.delta"
        return self.server(t, event_type, response_id=response_id, delta=text)

    def rate_limits(self, t: float, *entries: tuple[str, int, int, float]) -> SessionFile:
        limits = [
            {"name": name, "limit": limit, "remaining": remaining, "reset_seconds": reset}
            for name, limit, remaining, reset in entries
        ]
        return self.server(t, "rate_limits.updated", rate_limits=limits)

    # -- other records and raw lines ---------------------------------------------------------

    def record(self, record: dict[str, Any]) -> SessionFile:
        """A non-frame record (`open`, `close`, `error`) at its `t`."""
        return self._add(float(record["t"]), dumps(record))

    def raw(self, t: float, line: str) -> SessionFile:
        """A line exactly as given (for corrupt input), placed at time `t`."""
        return self._add(t, line)

    @property
    def lines(self) -> list[str]:
        lines = [] if self.header is None else [self.header]
        seq = 0
        for _, _, entry in sorted(self._entries, key=lambda e: (e[0], e[1])):
            if isinstance(entry, str):
                lines.append(entry)
                continue
            lines.append(
                dumps(
                    {"kind": "frame", "seq": seq, **{k: v for k, v in entry.items() if k != "kind"}}
                )
            )
            seq += 1
        return lines

    def text(self, *, cut_last: int = 0) -> str:
        text = "\n".join(self.lines) + "\n"
        return text[: len(text) - cut_last] if cut_last else text

    def write(self, directory: Path, name: str | None = None, *, cut_last: int = 0) -> Path:
        """Write `<directory>/<name or session id>.jsonl`; `cut_last` cuts that many
        characters off the end, like a crash mid-write."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name or self.session_id}.jsonl"
        path.write_text(self.text(cut_last=cut_last), encoding="utf-8")
        return path


def ga_session_created(t: float = 0.0, model: str = "gpt-realtime", **audio: Any) -> dict[str, Any]:
    """Fields of a GA session.created; `input=`/`output=` set the format objects."""
    session: dict[str, Any] = {"type": "realtime", "id": "sess_1", "model": model}
    formats = {
        direction: {"format": fmt}
        for direction, fmt in audio.items()
        if direction in ("input", "output")
    }
    if formats:
        session["audio"] = formats
    return {"session": session}
