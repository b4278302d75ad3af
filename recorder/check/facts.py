"""What the checks read about recordings: plain data, no I/O.

`observations.py` makes these from session files (the one place that reads the analytics, the
diff's transcripts and the replay); everything else in `recorder.check` only reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Row = Mapping[str, Any]
RowKind = Literal["responses", "sessions", "errors"]
ROW_KINDS: tuple[RowKind, ...] = ("responses", "sessions", "errors")


@dataclass(frozen=True)
class ToolCall:
    """One function call the assistant made: its name and the keys of its arguments."""

    response: int  # position of its response in the recording, from 1
    response_id: str | None
    name: str
    argument_keys: tuple[str, ...] | None  # None: the arguments were not a JSON object

    @property
    def signature(self) -> tuple[str, tuple[str, ...] | None]:
        """What must stay the same between two runs (argument values may differ)."""
        return (self.name, self.argument_keys)

    def __str__(self) -> str:
        keys = "?" if self.argument_keys is None else ", ".join(self.argument_keys)
        return f"{self.name}({keys})"


@dataclass(frozen=True)
class ObservedRecording:
    """One session file as the checks see it. Rows are those of `rt stats --format json`."""

    file: str
    session: str | None  # the recording's session id
    responses: Sequence[Row]
    sessions: Sequence[Row]
    errors: Sequence[Row]
    tool_calls: Sequence[ToolCall]
    transcripts: Sequence[str]  # what the assistant said in each response, in `responses` order

    def rows(self, kind: RowKind) -> Sequence[Row]:
        return {"responses": self.responses, "sessions": self.sessions, "errors": self.errors}[kind]

    @property
    def name(self) -> str:
        return self.file


@dataclass(frozen=True)
class Observations:
    """Recordings, the fields their rows have (even when there are no rows), and warnings."""

    recordings: Sequence[ObservedRecording]
    fields: Mapping[RowKind, frozenset[str]]
    warnings: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class ReplayOutcome:
    """One recording replayed against a target: where the new recording is, and how it went."""

    original: str  # the recording replayed
    original_session: str | None
    replay: str | None  # the new recording; None when the target never answered (no file)
    target: str  # the URL dialled, secrets removed
    frames_sent: int
    frames_planned: int
    stopped: str | None  # why the replay ended early, if it did
    seconds: float
