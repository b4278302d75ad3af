"""One session's section of the report: its facts, its audio on its timeline, what was said (pure)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from recorder.interpretation.conversation import ConversationTiming
from recorder.report.audio_embed import EmbeddedAudio, Waveform
from recorder.report.charts import Marker, TimelineRow, level, session_timeline
from recorder.report.conversation import ASSISTANT, Conversation, Turn
from recorder.report.markup import (
    PageContext,
    Row,
    as_number,
    clip,
    clock,
    dollars,
    fixed,
    integer,
    status_badge,
    when,
)
from recorder.report.strip import conversation_strip, strip_caption
from recorder.wording import trigger_label

TRIGGER_LABELS = {
    "input_audio_buffer.speech_stopped": "VAD",
    "response.create": "create",
    "session.input_transcript.delta": "live",  # a GPT-Live turn
}
TOOLTIP_TEXT = 240


@dataclass(frozen=True)
class SessionPage:
    """One session's section: its `rt stats` rows and what was read from its file."""

    file: str
    row: Row  # its row of `StatsReport.sessions`
    responses: Sequence[Row]
    errors: Sequence[Row]
    conversation: Conversation
    audio: EmbeddedAudio | None
    user_wave: Waveform | None
    assistant_wave: Waveform | None
    seconds: float  # the length of its timeline
    audio_note: str  # why there is no player, or what the player holds
    warnings: Sequence[str] = ()
    timing: ConversationTiming | None = None  # who talked when (None without audio)


def session_section(session: SessionPage, context: PageContext) -> str:
    """One session: what `rt stats` says of it, its audio on its timeline, what was said."""
    row = session.row
    anchor = context.anchors.get(session.file, "")
    name = context.names.get(session.file, session.file)
    facts = [
        ("file", session.file),
        ("session id", str(row.get("session") or "unknown")),
        ("started at", when(row.get("started_at"))),
        ("duration", f"{as_number(row.get('duration_s')) or 0:.1f} s"),
        ("model", str(row.get("model") or "unknown")),
        ("responses", str(row.get("responses") or 0)),
        (
            "tokens in / out",
            f"{integer(row.get('input_tokens'))} / {integer(row.get('output_tokens'))}",
        ),
        ("cost", dollars(row.get("cost_usd"))),
    ]
    if row.get("protocol") not in (None, "realtime") or row.get("transport") == "sideband":
        facts.append(("connection", f"{row.get('protocol')} over {row.get('transport')}"))
    if row.get("transcription_model"):
        facts.append(
            (
                "input transcription",
                f"{row['transcription_model']} · {dollars(row.get('transcription_cost_usd'))}",
            )
        )
    facts_html = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in facts)
    player = f'<p class="note">{escape(session.audio_note)}</p>'
    if session.audio is not None:
        data = base64.b64encode(session.audio.wav).decode("ascii")
        player = (
            f'<audio controls preload="metadata" src="data:audio/wav;base64,{data}"></audio>'
            f'<span class="note">{escape(session.audio_note)}</span>'
        )
    rows = _timeline_rows(session, context)
    waves = session.user_wave is not None or session.assistant_wave is not None
    timeline = session_timeline(
        session.seconds,
        rows,
        user=session.user_wave,
        assistant=session.assistant_wave,
        audio_seconds=session.audio.seconds if session.audio is not None else None,
        errors=[
            Marker(
                as_number(e.get("t")) or 0.0,
                f"{e.get('code') or e.get('type')}: {e.get('message')}",
            )
            for e in session.errors
        ],
        label=f"Timeline of {name}",
    )
    if not (rows or waves or session.errors):
        timeline = '<p class="note">Nothing happened in this session: no response, no error.</p>'
    strip = ""
    if session.timing is not None:
        chart = conversation_strip(session.timing, session.seconds, f"Who talked when in {name}")
        strip = f'<div class="scroll">{chart}</div>{strip_caption(session.timing)}'
    conversation = _conversation(session, context)
    warnings = ""
    if session.warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in session.warnings)
        warnings = f'<ul class="warnings">{items}</ul>'
    return (
        f'<section class="session" id="{escape(anchor)}">'
        f"<h2>{escape(name)}</h2>"
        f'<dl class="facts">{facts_html}</dl><div class="player">{player}</div>'
        f'<div class="scroll">{timeline}</div>{strip}{conversation}{warnings}</section>\n'
    )


def _timeline_rows(session: SessionPage, context: PageContext) -> list[TimelineRow]:
    texts = {t.response_id: t.text for t in session.conversation.turns if t.role == ASSISTANT}
    rows = []
    for number, row in enumerate(session.responses, start=1):
        response_id = str(row.get("response_id"))
        times = session.conversation.responses.get(response_id)
        created = times.created_t if times else None
        trigger_t = as_number(row.get("trigger_t"))
        start = trigger_t if trigger_t is not None else created
        if start is None:
            continue
        ttfb, ttft = as_number(row.get("ttfb_ms")), as_number(row.get("ttft_ms"))
        wait, metric = (ttfb, "ttfb") if ttfb is not None else (ttft, "ttft")
        first = start + wait / 1000 if wait is not None else None
        audio_ms = as_number(row.get("audio_out_ms")) or 0.0
        end = times.done_t if times else None
        if ttfb is not None and first is not None and audio_ms > 0:
            end = first + audio_ms / 1000
        v2v = as_number(row.get("voice_to_voice_ms"))
        speech_end = first - v2v / 1000 if v2v is not None and first is not None else None
        wait_text = f"{metric} {wait:.0f} ms" if wait is not None else "no output"
        final = as_number(row.get("ttfb_final_ms"))
        if final is not None and final != ttfb:
            wait_text += f" · final answer {final:.0f} ms"
        if v2v is not None:
            wait_text += f" · voice→voice {v2v:.0f} ms"
        status = str(row.get("status") or "")
        kind = str(row.get("kind") or "turn")
        if kind != "turn":
            wait_text += f" · {kind.replace('_', ' ')}"
        tip = [
            f"{response_id} · {status} · {trigger_label(row.get('trigger'))} at {start:.3f} s",
            wait_text,
            f"duration {fixed(row.get('duration_ms'), 1)} ms · audio {audio_ms / 1000:.2f} s",
            f"{integer(row.get('input_tokens'))} in / {integer(row.get('output_tokens'))} out tokens · "
            f"{dollars(row.get('cost_usd'))}",
        ]
        said = texts.get(response_id)
        if said:
            tip.append(f"“{clip(said, TOOLTIP_TEXT)}”")
        rows.append(
            TimelineRow(
                label=f"#{number} {TRIGGER_LABELS.get(str(row.get('trigger')), 'response')}",
                start_t=start,
                first_t=first,
                end_t=end,
                speech_end_t=speech_end,
                wait_level=level(wait, context.thresholds.get(f"{metric}_ms")),
                wait_text=wait_text,
                tooltip="\n".join(tip),
                cancelled=status in ("cancelled", "failed", "incomplete"),
            )
        )
    return rows


def _conversation(session: SessionPage, context: PageContext) -> str:
    turns = session.conversation.turns
    if not turns:
        return ""
    responses = {str(row.get("response_id")): row for row in session.responses}
    items = "".join(_turn(turn, responses.get(turn.response_id or ""), context) for turn in turns)
    css = "conversation seekable" if session.audio is not None else "conversation"
    return f'<h3>Conversation</h3><ol class="{css}">{items}</ol>'


def _turn(turn: Turn, row: Row | None, context: PageContext) -> str:
    who = {"function_call": "function", "function_output": "result"}.get(turn.role, turn.role)
    chips = ""
    if row is not None and turn.role == ASSISTANT:
        parts = []
        first = "ttfb_ms" if row.get("ttfb_ms") is not None else "ttft_ms"
        keys = [(first, first[:4]), ("voice_to_voice_ms", "voice→voice")]
        if row.get("ttfb_final_ms") not in (None, row.get("ttfb_ms")):
            keys.insert(1, ("ttfb_final_ms", "final answer"))
        for key, label in keys:
            value = as_number(row.get(key))
            if value is not None:
                css = level(value, context.thresholds.get(key)) or ""
                parts.append(f'<span class="{css}">{label} {value:.0f} ms</span>')
        status = str(row.get("status") or "")
        if status and status != "completed":
            parts.append(status_badge(status))
        chips = f'<span class="chips">{" · ".join(parts)}</span>' if parts else ""
    return (
        f'<li class="turn {escape(turn.role)}" data-t="{turn.t:.3f}">'
        f'<span class="t">{clock(turn.t)}</span><span class="who">{escape(who)}</span>'
        f'<span class="said">{escape(turn.text)}{chips}</span></li>'
    )
