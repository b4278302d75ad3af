"""Words for what rt shows, the same in every command (pure): counts (`1 session`, `2 sessions`)
and what triggered a response."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, plural unless `count` is 1 (`plural` for a noun that is not + "s")."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {plural or noun + 's'}"


# what triggered a response, in short (CONTRACT §3, §4.1, §4.4); other triggers as they are
TRIGGER_LABELS = {
    "input_audio_buffer.speech_stopped": "speech_stopped",
    "input_audio_buffer.timeout_triggered": "idle timeout",
    "session.input_transcript.delta": "user speech",  # a GPT-Live turn
}


def trigger_label(trigger: object) -> str:
    """A response's `trigger` as rt stats and rt report show it ("" for none)."""
    return "" if trigger is None else TRIGGER_LABELS.get(str(trigger), str(trigger))
