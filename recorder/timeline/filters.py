"""Which timeline lines to show: `--type` patterns and a `--grep` expression (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from recorder.errors import InputError
from recorder.interpretation.frame import TEXT_FRAME
from recorder.json_text import to_json
from recorder.timeline.entries import Entry
from recorder.vocabulary import canonical

# -- filters ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryFilter:
    """`--type` patterns and a `--grep` expression; proxy records (open, close, proxy errors)
    always pass, so a filtered timeline still says how the connection ended."""

    types: tuple[str, ...] = ()
    grep: re.Pattern[str] | None = None

    @classmethod
    def build(cls, types: Iterable[str] = (), grep: str | None = None) -> EntryFilter:
        """Patterns may be comma-separated; beta names are accepted (and mean the GA name).
        The expression is a Python regular expression, matched case-insensitively."""
        patterns = tuple(
            canonical(p.strip()) for value in types for p in value.split(",") if p.strip()
        )
        compiled = None
        if grep is not None:
            try:
                compiled = re.compile(grep, re.IGNORECASE)
            except re.error as exc:
                raise InputError(f"--grep: not a regular expression: {exc}") from None
        return cls(patterns, compiled)

    def type_matches(self, types: Iterable[str]) -> bool:
        if not self.types:
            return True
        return any(type_matches(pattern, t) for pattern in self.types for t in types)

    def accepts(self, entry: Entry) -> bool:
        if entry.source == "proxy":
            return True
        if not self.type_matches(entry.types):
            return False
        return self.grep is None or bool(self.grep.search(search_text(entry)))

    def accepts_frame(self, ctype: str | None, line: str) -> bool:
        """For `--json`: one normalised frame and the JSON line it prints as."""
        if self.types and not self.type_matches((ctype or TEXT_FRAME,)):
            return False
        return self.grep is None or bool(self.grep.search(line))


def type_matches(pattern: str, event_type: str) -> bool:
    """A glob (`response.*`), an exact type, or a dotted prefix (`input_audio_buffer`)."""
    if any(c in pattern for c in "*?["):
        return fnmatchcase(event_type, pattern)
    return event_type == pattern or event_type.startswith(pattern + ".")


def search_text(entry: Entry) -> str:
    """What `--grep` looks at: the type, ids and details, and a single frame's whole event."""
    parts = [entry.type, entry.response_id or "", entry.item_id or "", entry.summary]
    if entry.event is not None:
        parts.append(to_json(entry.event))
    return "\n".join(parts)
