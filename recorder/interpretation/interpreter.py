"""The one interpretation of a session: records in, annotated frames and facts out (pure).

    interpreter = Interpreter(path, on_warning)
    for line, record in iter_records(path, on_warning):   # recorder.reading
        frame = interpreter.feed(line, record)           # a Frame for each frame record, else None
    facts = interpreter.finish()                          # SessionFacts: responses, errors, …

Every reader of a session (show, tail, stats, sql, export wav/parquet, report, diff, replay,
serve, check, the proxy's live metrics) feeds its records through an `Interpreter` and uses what
it says: the frame's number and canonical type, the response it belongs to, the audio format in
effect, the model, the response metrics. The rules live in the modules beside this one:
`connection` (model, protocol, transport), `formats` (audio formats), `responses`
(attribution, triggers, kinds, latencies), `usage` (tokens and cost), `transcription` (input
transcription usage), `translation` (the translation endpoint's audio and cost), `conversation`
(each side's audio on the call's timeline, `layout`, measured by `energy`: who talked when),
`live` (GPT-Live's turns, billing and delegations).

What the interpreter itself decides:

- frame numbers: a frame's `seq` when it is a whole number above the previous frame's number
  (and below 2^53), else the previous number + 1 (hand-written files without `seq`); a `seq`
  that does not go up is reported once per file;
- time: a record's `t` (already checked to be a number from 0 to 1e9 by the reader) is taken as
  recorded; one smaller than a `t` seen before (the contract says they never decrease) is
  reported once per file, and a latency that would come out negative is unknown (null), so one
  bad line spoils no number but its own;
- rate limits: numbers beyond a 64-bit integer are read as unknown (null), with a warning;
- token counts that are not counts (negative, fractional, beyond `usage.MAX_TOKENS`) are read as
  unknown, with a warning;
- errors: server `error` events, failed responses and the proxy's own `error` records.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any

from recorder import vocabulary as vocab
from recorder.interpretation.connection import Connection
from recorder.interpretation.conversation import CallAudio
from recorder.interpretation.facts import ErrorFacts, RateLimitFacts, ResponseFacts, SessionFacts
from recorder.interpretation.formats import AudioFormats
from recorder.interpretation.frame import NO_TYPE, Frame, base64_size
from recorder.interpretation.layout import LIVE_APPEND, LIVE_AUDIO_DELTA, live_timeline_ms
from recorder.interpretation.live import (
    DELEGATION_CREATED,
    INPUT_TRANSCRIPT,
    MUTE,
    MUTED,
    OUTPUT_TRANSCRIPT,
    RESPONSE_EVENT,
    SESSION_CLOSED,
    SESSION_STARTED,
    UNMUTE,
    UNMUTED,
    USAGE_UPDATED,
    LiveTracker,
)
from recorder.interpretation.responses import OUT_OF_BAND, ResponseTracker
from recorder.interpretation.transcription import TRANSCRIPTION_COMPLETED, TranscriptionTracker
from recorder.interpretation.translation import (
    INPUT_FORMAT,
    TRANSLATION,
    TRANSLATION_APPEND,
    TRANSLATION_AUDIO_DELTA,
    output_format,
)
from recorder.interpretation.usage import TokenUsage
from recorder.vocabulary import PCM16, AudioFormat, canonical
from recorder.warning_log import FileWarning

OnWarning = Callable[[FileWarning], None]
_INT64 = 2**63
_MAX_SEQ = 2**53  # a frame number every reader (JSON, DuckDB, JavaScript) holds exactly
# what makes an event belong to a response or an item (see responses.py); an append without
# any of these takes the short way
_NAMES_SOMETHING = frozenset({"response_id", "item_id", "item", "response"})
_APPENDS = frozenset({vocab.AUDIO_APPEND, LIVE_APPEND})
_SESSION_REQUESTS = frozenset({"session.update", "session.start"})  # session.start: GPT-Live
_SESSION_STATES = frozenset({vocab.SESSION_CREATED, vocab.SESSION_UPDATED, SESSION_STARTED})
_LIVE_CLIENT = frozenset({"session.start", MUTE, UNMUTE})
_LIVE_SERVER = frozenset(
    {
        INPUT_TRANSCRIPT,
        OUTPUT_TRANSCRIPT,
        SESSION_STARTED,
        USAGE_UPDATED,
        SESSION_CLOSED,
        DELEGATION_CREATED,
        RESPONSE_EVENT,
        MUTED,
        UNMUTED,
    }
)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _ignore(warning: FileWarning) -> None:
    pass


class Interpreter:
    """Interprets one session's records, in order (see the module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike[str] = "<session>",
        on_warning: OnWarning | None = None,
        *,
        measure_audio: bool = True,
    ) -> None:
        """`measure_audio=False`: leave the audio unmeasured (no conversation timing, GPT-Live
        turns from transcripts only), for readers that need none of it (rt show, replay)."""
        self.path = os.fspath(path)
        self._warn_handler = on_warning or _ignore
        self.connection = Connection()
        self.formats = AudioFormats()
        self.responses = ResponseTracker(self.formats)
        self.transcription = TranscriptionTracker()
        self.call = CallAudio(enabled=measure_audio)
        self.live = LiveTracker()
        self.errors: list[ErrorFacts] = []
        self.rate_limits: list[RateLimitFacts] = []
        self.frames = 0
        self.client_frames = 0
        self.server_frames = 0
        self.input_audio_bytes = 0
        self.output_audio_bytes = 0
        self.input_audio_ms = 0.0
        self.output_audio_ms = 0.0
        self.max_t = 0.0
        self._number = -1
        self._warned: set[str] = set()

    # -- feeding ---------------------------------------------------------------------------------

    def feed(self, line: int, record: Mapping[str, Any]) -> Frame | None:
        """Take the next record (as `recorder.reading` yields it); the annotated frame for a
        frame record, None for the others."""
        kind = record.get("kind")
        if kind == "session":
            self.connection.header(record)
            if record.get("started_at") is not None and self.connection.started_at is None:
                self._warn_once(
                    "started_at", line, "started_at is not an ISO-8601 time; absolute times unknown"
                )
            return None
        if kind == "frame":
            return self._frame(line, record)
        if kind in ("open", "close", "error"):
            t = self._time(line, record["t"])
            if kind == "open":
                self.connection.opened(record, t)
            elif kind == "close":
                self.connection.closed(record, t)
            else:
                message = _str(record.get("message"))
                self.errors.append(ErrorFacts(t, "proxy", "proxy_error", None, message))
        return None

    def _time(self, line: int, t: float) -> float:
        """The `t` of a record, noting the largest (the session's duration)."""
        t = float(t)
        if t < self.max_t:
            self._went_back(line, t)
        else:
            self.max_t = t
        return t

    def _went_back(self, line: int, t: float) -> None:
        self._warn_once(
            "time",
            line,
            f"t goes back from {self.max_t:g} to {t:g} (reported once per file); latencies that "
            "would come out negative are null",
        )

    def _frame(self, line: int, record: Mapping[str, Any]) -> Frame:
        t = float(record["t"])
        if t < self.max_t:
            self._went_back(line, t)
        else:
            self.max_t = t
        seq = record.get("seq")
        if type(seq) is int and self._number < seq < _MAX_SEQ:
            self._number = number = seq
        else:
            if seq is not None:
                self._warn_once(
                    "seq", line, f"seq {seq!r} does not follow {self._number}; frames renumbered"
                )
            self._number = number = self._number + 1
        direction = record["from"]
        self.frames += 1
        event = record.get("event")
        if direction == "client":
            self.client_frames += 1
            if event is not None:
                raw_type = event.get("type")
                if (
                    type(raw_type) is str
                    and raw_type in _APPENDS
                    and _NAMES_SOMETHING.isdisjoint(event)
                ):
                    return self._append(line, number, t, raw_type, event)
        else:
            self.server_frames += 1
        if event is None:
            return Frame(
                line,
                number,
                t,
                direction,
                None,
                None,
                None,
                text=_str(record.get("text")),
                binary=_str(record.get("binary")),
            )
        raw_type = _str(event.get("type"))
        ctype = canonical(raw_type) if raw_type is not None else NO_TYPE
        response_id, item_id = self.responses.attribute(direction, ctype, event)
        frame = Frame(line, number, t, direction, ctype, raw_type, event, response_id, item_id)
        if direction == "client":
            self._client(frame, ctype, event)
        else:
            self._server(line, frame, ctype, event)
        return frame

    def _append(
        self, line: int, number: int, t: float, kind: str, event: Mapping[str, Any]
    ) -> Frame:
        """The hot path: a client append (most frames of a call), which names no response:
        `_user_audio` inlined (a call less per frame)."""
        fmt = self.formats.input
        payload = event.get("audio")
        size = base64_size(payload)
        frame = Frame(line, number, t, "client", kind, kind, event, None, None, fmt, size)
        ms = size / fmt.bytes_per_ms
        self.input_audio_bytes += size
        self.input_audio_ms += ms
        self.responses.appended(t, ms)
        self.call.user(t, payload, fmt)
        return frame

    def _user_audio(self, frame: Frame, event: Mapping[str, Any], fmt: AudioFormat) -> None:
        """An append (or, on a GPT-Live sideband, the caller audio the server reflects)."""
        payload = event.get("audio")
        size = base64_size(payload)
        frame.audio_format = fmt
        frame.audio_bytes = size
        ms = size / fmt.bytes_per_ms
        self.input_audio_bytes += size
        self.input_audio_ms += ms
        self.responses.appended(frame.t, ms)
        self.call.user(frame.t, payload, fmt)

    def _client(self, frame: Frame, ctype: str, event: Mapping[str, Any]) -> None:
        if ctype in _APPENDS:
            self._user_audio(frame, event, self.formats.input)
        elif ctype in _SESSION_REQUESTS:
            self.formats.client_update(event)
            self.transcription.client_update(event)
        elif ctype == TRANSLATION_APPEND and self.connection.protocol == TRANSLATION:
            self._user_audio(frame, event, INPUT_FORMAT)
        elif ctype == vocab.ITEM_TRUNCATE:
            self.call.cuts.feed(frame)
        if ctype in _LIVE_CLIENT:
            self.live.client(frame, event)
        self.connection.client_event(ctype, event, first=self.client_frames == 1)
        self.responses.client_frame(frame)

    def _server(self, line: int, frame: Frame, ctype: str, event: Mapping[str, Any]) -> None:
        if ctype == vocab.AUDIO_DELTA:
            frame.audio_bytes = base64_size(event.get("delta"))
        elif ctype == TRANSLATION_AUDIO_DELTA and self.connection.protocol == TRANSLATION:
            frame.audio_format = output_format(event)  # the same name as GPT-Live's output
            frame.audio_bytes = base64_size(event.get("delta"))
            self._assistant_audio(frame, event)
        elif ctype == LIVE_AUDIO_DELTA:
            self._live_output(frame, event)
        elif ctype == LIVE_APPEND:  # a GPT-Live sideband reflects the caller's audio
            self._user_audio(frame, event, PCM16)
        elif ctype in _SESSION_STATES:
            self.formats.server_session(event, created=ctype == vocab.SESSION_CREATED)
            self.transcription.server_session(event)
        elif ctype == TRANSCRIPTION_COMPLETED:
            self.transcription.completed(frame.t, frame.number, event)
        elif ctype == vocab.ERROR:
            self.formats.server_error(event)
            error = event.get("error")
            error = error if isinstance(error, Mapping) else {}
            self.errors.append(
                ErrorFacts(
                    frame.t,
                    "event",
                    _text(error.get("type")),
                    _text(error.get("code")),
                    _text(error.get("message")),
                    seq=frame.number,
                )
            )
        elif ctype == vocab.RATE_LIMITS_UPDATED:
            self._rate_limits(line, frame, event)
        elif ctype == vocab.RESPONSE_DONE:
            self._check_usage(line, event)
        elif ctype == vocab.ITEM_TRUNCATED:
            self.call.cuts.feed(frame)
        if ctype in _LIVE_SERVER:
            self.live.server(frame, event)
        self.connection.server_event(ctype, event)
        self.responses.server_frame(frame)
        if ctype == vocab.AUDIO_DELTA:
            if frame.audio_format is None:  # a delta of no response: the session's format
                frame.audio_format = self.formats.output
            self._assistant_audio(frame, event)

    def _assistant_audio(self, frame: Frame, event: Mapping[str, Any]) -> None:
        """A delta of output audio (a response's, or the translation endpoint's), its format
        already settled."""
        assert frame.audio_format is not None
        self.output_audio_bytes += frame.audio_bytes
        self.output_audio_ms += frame.audio_ms
        if frame.response_kind != OUT_OF_BAND:  # side work the user does not hear (audio.py)
            self.call.assistant(
                frame.t, event.get("delta"), frame.audio_format, frame.response_id, frame.item_id
            )

    def _live_output(self, frame: Frame, event: Mapping[str, Any]) -> None:
        """GPT-Live output audio: one track, in the session's format (PCM16 24 kHz on a
        sideband, whose reflected deltas say where they sit on the timeline)."""
        sideband = self.connection.transport == "sideband"
        frame.audio_format = PCM16 if sideband else self.formats.output
        payload = event.get("delta")
        frame.audio_bytes = base64_size(payload)
        self.output_audio_bytes += frame.audio_bytes
        self.output_audio_ms += frame.audio_ms
        self.call.live = True
        self.live.output_audio(frame)
        self.call.assistant(
            frame.t, payload, frame.audio_format, None, None, live_timeline_ms(event)
        )

    def _rate_limits(self, line: int, frame: Frame, event: Mapping[str, Any]) -> None:
        entries = event.get("rate_limits")
        for entry in entries if isinstance(entries, list) else ():
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                continue
            self.rate_limits.append(
                RateLimitFacts(
                    frame.t,
                    frame.number,
                    entry["name"],
                    self._count(line, entry.get("limit")),
                    self._count(line, entry.get("remaining")),
                    _finite(entry.get("reset_seconds")),
                )
            )

    def _count(self, line: int, value: object) -> int | None:
        """A whole number of a rate limit; None when absent, not finite or beyond 64 bits."""
        if isinstance(value, int) and not isinstance(value, bool):
            number: float | int = value
        else:
            finite = _finite(value)
            if finite is None:
                return None
            number = finite
        if abs(number) >= _INT64:
            self._warn_once(
                "int64", line, f"a rate limit of {value!r} is out of range; read as null"
            )
            return None
        return round(number)

    def _check_usage(self, line: int, event: Mapping[str, Any]) -> None:
        response = event.get("response")
        usage = response.get("usage") if isinstance(response, Mapping) else None
        rejected = TokenUsage.rejected(usage)
        if rejected is not None:
            self._warn_once(
                "tokens", line, f"a token count of {rejected!r} is out of range; read as null"
            )

    def _warn_once(self, key: str, line: int | None, reason: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._warn_handler(FileWarning(self.path, line, reason))

    # -- results ---------------------------------------------------------------------------------

    @property
    def frame_number(self) -> int:
        """The number of the last frame (-1 before the first)."""
        return self._number

    def finish(self) -> SessionFacts:
        """Everything the session says, as it stands after the last record fed."""
        connection = self.connection
        responses = self.responses.all_facts()
        laid_out = self.call.lay_out() if self.call.has_audio else None
        live = None
        if connection.protocol == "live":
            responses += self.live.turns(laid_out, self.responses.speech_end_t, len(responses) + 1)
            live = self.live.facts(self.max_t, laid_out)
        failed = [error for r in responses if (error := response_error(r, self.max_t)) is not None]
        errors = sorted(
            [*self.errors, *failed],
            key=lambda e: (e.t, e.seq if e.seq is not None else float("inf")),
        )
        return SessionFacts(
            file=self.path,
            session=connection.session_id or PurePath(self.path).stem,
            started_at=connection.started_at,
            upstream=connection.upstream,
            request_path=connection.path,
            model=connection.model,
            protocol=connection.protocol,
            transport=connection.transport,
            subprotocol=connection.subprotocol,
            recorder_version=connection.recorder_version,
            duration_s=self.max_t,
            frames=self.frames,
            client_frames=self.client_frames,
            server_frames=self.server_frames,
            input_audio_ms=round(self.input_audio_ms, 3),
            output_audio_ms=round(self.output_audio_ms, 3),
            input_audio_bytes=self.input_audio_bytes,
            output_audio_bytes=self.output_audio_bytes,
            closed_by=connection.closed_by,
            close_code=connection.close_code,
            close_reason=connection.close_reason,
            responses=tuple(responses),
            errors=tuple(errors),
            rate_limits=tuple(self.rate_limits),
            transcriptions=tuple(self.transcription.usages),
            conversation=self.call.timing(laid_out),
            live=live,
        )


def response_error(response: ResponseFacts, last_t: float) -> ErrorFacts | None:
    """The error a failed response counts as (None for any other status); `last_t`, the
    session's latest time, dates a failure that never got its `response.done`."""
    if response.status != "failed":
        return None
    error = response.error or {}
    return ErrorFacts(
        response.done_t if response.done_t is not None else last_t,
        "response",
        _text(error.get("type")) or "response_failed",
        _text(error.get("code")),
        _text(error.get("message")) or f"response {response.response_id} failed",
        response_id=response.response_id,
        seq=response.done_seq,
    )


def _text(value: object) -> str | None:
    """A string field of an error, or a scalar shown as text (a numeric `code`)."""
    if value is None or isinstance(value, (Mapping, list)):
        return None
    return value if isinstance(value, str) else str(value)


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None
