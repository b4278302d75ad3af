"""GPT-Live sessions (`/v1/live/sessions`): who spoke on the session timeline, the assistant's
turns and their latencies, delegations, mute, usage and cost (CONTRACT §4.4; pure).

GPT-Live has no response objects, no VAD events and no truncation: one output audio track that
holds its silences, transcripts placed on a session timeline (milliseconds that advance with
the input audio), and billing by the second. The rules, one for every reader:

- user speech: the `session.input_transcript.delta`s, each a span `start_ms`..`end_ms` of the
  timeline;
- assistant output: the `session.output_transcript.delta`s (spans of the timeline) and the
  audible windows of the output audio (`energy.py`) where the output track plays on the timeline
  (`layout.along_timeline`: its millisecond k is the timeline's millisecond k, or the `start_ms`
  a reflected sideband delta carries);
- a turn (`kind: "live_turn"`, `response_id` `live-<n>`): the assistant output after user
  speech: taking every piece of output and user speech in timeline order, a piece of output
  starts a new turn when user speech started since the current turn began and the output
  paused since (by `PAUSE_MS`, 300 ms, as a talk spurt does); output that goes on while the
  user starts talking (a barge-in) stays in the turn it belongs to. The first output of the
  call starts a turn too;
- `voice_to_voice_ms`: the turn's first output `start_ms` minus the `end_ms` of the last user
  speech that started before it (timeline clock; negative when the assistant started before the
  user stopped, kept as it is); null for a turn no user speech precedes;
- `trigger_t`: when that user speech ended on the wall clock: the `t` of the append that carries
  the timeline's `end_ms` (the appended-audio counter, as for Realtime's `audio_end_ms`);
  `ttfb_ms` = the `t` of the turn's first delta with audible audio minus `trigger_t`; `ttft_ms`
  = the `t` of its first output of any kind minus `trigger_t`;
- `duration_ms`: from the turn's first output `start_ms` to its last output's end (timeline);
  `audio_out_ms`: its audible output audio; `created_t`/`done_t`: its first and last output's `t`;
- billed seconds: the largest `usage.seconds` seen, the one of `session.closed` when there is
  one (`usage.seconds` is a running total, never summed); cost (`live_cost_usd`): billed
  seconds x the model's per-minute price, plus each delegated Responses call's usage (inside
  `response.event`) at its model's token price;
- mute: from each `session.input_audio.muted` to the next `.unmuted` (or the end), on the wall
  clock (the client's `.mute`/`.unmute` where the server's acks are missing);
- an utterance (what the report and `rt show` print as one line): consecutive transcript deltas
  of one side; a pause of more than 1 s on the timeline (`UTTERANCE_GAP_MS`) starts a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recorder.interpretation.conversation import PAUSE_MS, LaidOut
from recorder.interpretation.facts import ResponseFacts, ToolCall
from recorder.interpretation.frame import Frame
from recorder.interpretation.layout import along_timeline
from recorder.interpretation.live_facts import DelegatedUsage, Delegation, LiveFacts, Utterance
from recorder.pricing import ModelPrices, PriceTable

LIVE_TURN = "live_turn"
INPUT_TRANSCRIPT = "session.input_transcript.delta"
OUTPUT_TRANSCRIPT = "session.output_transcript.delta"
DELEGATION_CREATED = "session.delegation.created"
RESPONSE_EVENT = "response.event"
USAGE_UPDATED = "session.usage.updated"
SESSION_CLOSED = "session.closed"
SESSION_STARTED = "session.started"
MUTED = "session.input_audio.muted"
UNMUTED = "session.input_audio.unmuted"
MUTE = "session.input_audio.mute"
UNMUTE = "session.input_audio.unmute"
UTTERANCE_GAP_MS = 1000.0
# Responses events whose `response` carries the delegated call's usage and model
_RESPONSES_DONE = frozenset({"response.completed", "response.done", "response.incomplete"})


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value) if abs(value) != float("inf") else None


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


@dataclass(frozen=True)
class Speech:
    """A transcript delta: its text, its span on the session timeline, when it came."""

    t: float
    seq: int
    start_ms: float
    end_ms: float
    text: str


@dataclass(frozen=True)
class _Piece:
    """User speech, or a piece of assistant output: a transcript delta or an audible window."""

    start: float  # timeline ms
    end: float
    t: float  # when its frame came
    seq: int
    user: Speech | None = None
    text: str = ""
    audible: bool = False


@dataclass
class _Turn:
    number: int
    after: Speech | None  # the last user speech that started before it
    pieces: list[_Piece] = field(default_factory=list)
    audible_ms: float = 0.0
    first_audio: tuple[float, int] | None = None  # (t, seq) of its first audible delta

    def add(self, piece: _Piece) -> None:
        self.pieces.append(piece)
        if piece.audible:
            self.audible_ms += piece.end - piece.start
            if self.first_audio is None or piece.t < self.first_audio[0]:
                self.first_audio = (piece.t, piece.seq)


class LiveTracker:
    """The GPT-Live events of one session, fed in order (see the module docstring)."""

    def __init__(self) -> None:
        self.session_id: str | None = None
        self.user: list[Speech] = []
        self.assistant: list[Speech] = []
        self.delegations: list[Delegation] = []
        self.delegated: list[DelegatedUsage] = []
        self.calls: list[ToolCall] = []  # function calls of delegated Responses calls
        self.usage_seconds: float | None = None
        self.closed_seconds: float | None = None
        self.close_reason: str | None = None
        self.delegation_model: str | None = None
        self._mute: list[tuple[float, bool, bool]] = []  # (t, muted, from the server)
        self.output: list[tuple[float, int]] = []  # (t, seq) of each output audio delta
        self._played_at: list[tuple[str, float]] = []

    def client(self, frame: Frame, event: Mapping[str, Any]) -> None:
        ctype = frame.type
        if ctype == "session.start":
            session = event.get("session")
            delegation = session.get("delegation") if isinstance(session, Mapping) else None
            responses = delegation.get("responses") if isinstance(delegation, Mapping) else None
            if isinstance(responses, Mapping):
                self.delegation_model = _str(responses.get("model"))
        elif ctype in (MUTE, UNMUTE):
            self._mute.append((frame.t, ctype == MUTE, False))

    def server(self, frame: Frame, event: Mapping[str, Any]) -> None:
        ctype = frame.type
        if ctype in (INPUT_TRANSCRIPT, OUTPUT_TRANSCRIPT):
            speech = _speech(frame, event)
            if speech is not None:
                (self.user if ctype == INPUT_TRANSCRIPT else self.assistant).append(speech)
        elif ctype == SESSION_STARTED:
            session = event.get("session")
            if isinstance(session, Mapping) and self.session_id is None:
                self.session_id = _str(session.get("id"))
        elif ctype == USAGE_UPDATED:
            self._seconds(event)
        elif ctype == SESSION_CLOSED:
            self.close_reason = _str(event.get("reason")) or "closed"
            self.closed_seconds = self._seconds(event)
        elif ctype == DELEGATION_CREATED:
            delegation = event.get("delegation")
            delegation = delegation if isinstance(delegation, Mapping) else {}
            self.delegations.append(
                Delegation(
                    frame.t,
                    _str(delegation.get("id")),
                    _str(delegation.get("target")),
                    _number(event.get("offset_ms")),
                )
            )
        elif ctype == RESPONSE_EVENT:
            self._responses_event(frame, event)
        elif ctype in (MUTED, UNMUTED):
            self._mute.append((frame.t, ctype == MUTED, True))

    def output_audio(self, frame: Frame) -> None:
        self.output.append((frame.t, frame.number))

    def _seconds(self, event: Mapping[str, Any]) -> float | None:
        usage = event.get("usage")
        seconds = _number(usage.get("seconds")) if isinstance(usage, Mapping) else None
        if seconds is not None and seconds >= 0:
            self.usage_seconds = max(self.usage_seconds or 0.0, seconds)
        return seconds

    def _responses_event(self, frame: Frame, event: Mapping[str, Any]) -> None:
        inner = event.get("event")
        if not isinstance(inner, Mapping):
            return
        delegation_id = _str(event.get("delegation_id"))
        kind = inner.get("type")
        response = inner.get("response")
        if kind in _RESPONSES_DONE and isinstance(response, Mapping):
            usage = response.get("usage")
            if isinstance(usage, Mapping):
                inputs = usage.get("input_tokens_details")
                outputs = usage.get("output_tokens_details")
                self.delegated.append(
                    DelegatedUsage(
                        frame.t,
                        delegation_id,
                        _str(response.get("model")) or self.delegation_model,
                        _count(usage.get("input_tokens")),
                        _count(inputs.get("cached_tokens")) if isinstance(inputs, Mapping) else 0,
                        _count(usage.get("output_tokens")),
                        _count(outputs.get("reasoning_tokens"))
                        if isinstance(outputs, Mapping)
                        else 0,
                    )
                )
        item = inner.get("item")
        if (
            kind == "response.output_item.done"
            and isinstance(item, Mapping)
            and item.get("type") == "function_call"
        ):
            self.calls.append(
                ToolCall(
                    _str(item.get("name")) or "?",
                    _str(item.get("call_id")),
                    _str(item.get("arguments")) or "",
                    frame.t,
                )
            )

    # -- results ---------------------------------------------------------------------------------

    def facts(self, end_t: float, laid_out: LaidOut | None = None) -> LiveFacts:
        billed = self.closed_seconds if self.closed_seconds is not None else self.usage_seconds
        return LiveFacts(
            session_id=self.session_id,
            billed_seconds=billed,
            close_reason=self.close_reason,
            delegations=tuple(self.delegations),
            delegated=tuple(self.delegated),
            muted_ms=round(self._muted_ms(end_t), 3),
            utterances=tuple(self._utterances(laid_out)),
            turns_played_at=tuple(self._played_at),
            delegation_model=self.delegation_model,
        )

    def _utterances(self, laid_out: LaidOut | None) -> list[Utterance]:
        groups: list[list[Speech]] = []
        for speech in sorted(self.user, key=lambda s: (s.start_ms, s.seq)):
            if groups and speech.start_ms - groups[-1][-1].end_ms <= UTTERANCE_GAP_MS:
                groups[-1].append(speech)
            else:
                groups.append([speech])
        starts = np.array([group[0].start_ms for group in groups], dtype=np.float64)
        if laid_out is not None and len(laid_out.user_lengths):
            heard = along_timeline(starts, laid_out.user_lengths, laid_out.user_starts, 0.0) / 1000
        else:
            heard = np.array([group[0].t for group in groups], dtype=np.float64)
        return [
            Utterance(
                round(float(at), 6),
                group[0].start_ms,
                max(speech.end_ms for speech in group),
                "".join(speech.text for speech in sorted(group, key=lambda s: s.seq)).strip(),
            )
            for group, at in zip(groups, heard.tolist(), strict=True)
        ]

    def _muted_ms(self, end_t: float) -> float:
        acked = any(server for _, _, server in self._mute)
        since: float | None = None
        total = 0.0
        for t, muted, server in self._mute:
            if server != acked:
                continue
            if muted and since is None:
                since = t
            elif not muted and since is not None:
                total += t - since
                since = None
        if since is not None:
            total += end_t - since
        return total * 1000

    def turns(
        self, laid_out: LaidOut | None, speech_end_t: Callable[[float], float | None], first: int
    ) -> list[ResponseFacts]:
        """The assistant's turns (see the module docstring), numbered from `first`.
        `speech_end_t(ms)` is the `t` of the append that carries timeline millisecond `ms`."""
        pieces: list[_Piece] = [_Piece(s.start_ms, s.end_ms, s.t, s.seq, user=s) for s in self.user]
        pieces += [_Piece(s.start_ms, s.end_ms, s.t, s.seq, text=s.text) for s in self.assistant]
        if laid_out is not None and len(laid_out.output_timeline):
            windows = laid_out.assistant_windows
            starts = laid_out.output_timeline[windows.chunk] + windows.offset_ms
            for start, length, chunk in zip(
                starts.tolist(), windows.length_ms.tolist(), windows.chunk.tolist(), strict=True
            ):
                if chunk < len(self.output):
                    t, seq = self.output[chunk]
                    pieces.append(_Piece(start, start + length, t, seq, audible=True))
        pieces.sort(key=lambda piece: (piece.start, piece.user is None))  # user speech first
        turns: list[_Turn] = []
        last_user: Speech | None = None
        user_since = False
        output_end = -float("inf")  # where the output heard so far ends (timeline)
        for piece in pieces:
            if piece.user is not None:
                last_user, user_since = piece.user, True
                continue
            if not turns or (user_since and piece.start - output_end >= PAUSE_MS):
                turns.append(_Turn(first + len(turns), last_user))
                user_since = False
            turns[-1].add(piece)
            output_end = max(output_end, piece.end)
        facts = [self._facts(turn, speech_end_t) for turn in turns]
        if laid_out is not None and len(laid_out.user_lengths) and turns:
            starts = np.array([min(p.start for p in turn.pieces) for turn in turns])
            played = along_timeline(starts, laid_out.user_lengths, laid_out.user_starts, 0.0)
            self._played_at = [
                (f.response_id, round(at / 1000, 6))
                for f, at in zip(facts, played.tolist(), strict=True)
            ]
        return facts

    def _facts(self, turn: _Turn, speech_end_t: Callable[[float], float | None]) -> ResponseFacts:
        first_start = min(piece.start for piece in turn.pieces)
        last_end = max(piece.end for piece in turn.pieces)
        first_t, first_seq = min((piece.t, piece.seq) for piece in turn.pieces)
        done_t = max(piece.t for piece in turn.pieces)
        words = [piece.text for piece in sorted(turn.pieces, key=lambda p: p.seq) if piece.text]
        after = turn.after
        trigger_t = speech_end_t(after.end_ms) if after is not None else None
        first_audio_t = turn.first_audio[0] if turn.first_audio is not None else None
        v2v = round(first_start - after.end_ms, 3) if after is not None else None
        ttfb = _ms(first_audio_t, trigger_t)
        calls = tuple(call for call in self.calls if first_t <= call.t <= done_t)
        return ResponseFacts(
            response_id=f"live-{turn.number}",
            number=turn.number,
            seq=first_seq,
            kind=LIVE_TURN,
            status="completed",
            reason=None,
            trigger=INPUT_TRANSCRIPT if after is not None else None,
            trigger_t=trigger_t,
            ttfb_ms=ttfb,
            ttfb_source="delta" if ttfb is not None else None,
            ttft_ms=_ms(first_t, trigger_t),
            duration_ms=round(last_end - first_start, 3),
            voice_to_voice_ms=v2v,
            ttfb_final_ms=ttfb,
            voice_to_voice_final_ms=v2v,
            preamble_audio_ms=0.0,
            audio_out_ms=round(turn.audible_ms, 3),
            usage=None,
            created_t=first_t,
            done_t=done_t,
            done_seq=None,
            first_audio_t=first_audio_t,
            first_delta_t=first_t,
            transcript=("".join(words).strip(),) if words else (),
            tool_calls=calls,
        )


def _ms(later: float | None, earlier: float | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier) * 1000, 3)


def _speech(frame: Frame, event: Mapping[str, Any]) -> Speech | None:
    start, end = _number(event.get("start_ms")), _number(event.get("end_ms"))
    if start is None:
        return None
    return Speech(
        frame.t,
        frame.number,
        start,
        max(start, end if end is not None else start),
        _str(event.get("delta")) or "",
    )


def delegated_cost_usd(usage: DelegatedUsage, prices: ModelPrices | None) -> float | None:
    """A delegated call's tokens at its model's text prices (None without a price)."""
    text = None if prices is None else prices.text
    if text is None or text.output is None:
        return None
    cached = min(usage.cached_tokens, usage.input_tokens)
    total = (
        (usage.input_tokens - cached) * text.input
        + cached * text.cached
        + usage.output_tokens * text.output
    )
    return round(total / 1e6, 8)


def unpriced_models(live: LiveFacts, table: PriceTable) -> list[str | None]:
    """The models of delegated calls that have no token price (their cost is unknown)."""
    unpriced: list[str | None] = []
    for usage in live.delegated:
        prices = table.prices(usage.model)
        if (prices is None or prices.text is None) and usage.model not in unpriced:
            unpriced.append(usage.model)
    return unpriced


def live_cost_usd(live: LiveFacts, model: str | None, table: PriceTable) -> float | None:
    """Billed seconds at the model's per-minute price plus the delegated calls at their models'
    token prices; None when a price (or the billed seconds) is unknown."""
    prices = table.prices(model)
    if live.billed_seconds is None or prices is None or prices.per_minute is None:
        return None
    total = live.billed_seconds / 60 * prices.per_minute
    for usage in live.delegated:
        cost = delegated_cost_usd(usage, table.prices(usage.model))
        if cost is None:
            return None
        total += cost
    return round(total, 8)
