"""What must stay the same between a baseline run and the run checked (pure): the tool calls,
what the assistant said, how each response ended, and the errors.

The transcript measure: both transcripts are split into words (letters and digits, with
inner apostrophes, case-folded; punctuation and spacing are ignored), and their similarity is
difflib's Ratcliff/Obershelp ratio over the two word sequences, 2·M / T, where M is the number
of words in the longest matching blocks and T the number of words in both. 1.0 means the same
words in the same order, 0.0 no word in common; two empty transcripts are 1.0. Dropping a
word from a 15-word answer gives about 0.97, rewording half of it about 0.5.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from recorder.check.facts import Row, ToolCall

_WORD = re.compile(r"\w+(?:['’]\w+)*")


@dataclass(frozen=True)
class Finding:
    """The result of one comparison of a recording with its baseline."""

    holds: bool
    expected: str  # what the baseline had, short
    got: str  # what the run checked has, short
    message: str  # one line saying what differs (empty when it holds)
    details: tuple[str, ...] = ()
    value: float | None = None  # the similarity, for the transcript


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def similarity(a: str, b: str) -> float:
    """The documented transcript measure (see the module docstring)."""
    left, right = words(a), words(b)
    if not left and not right:
        return 1.0
    return difflib.SequenceMatcher(None, left, right, autojunk=False).ratio()


def compare_tool_calls(baseline: Sequence[ToolCall], checked: Sequence[ToolCall]) -> Finding:
    """The same calls (name and argument keys) in the same order."""
    expected = _calls(baseline)
    got = _calls(checked)
    a = [call.signature for call in baseline]
    b = [call.signature for call in checked]
    if a == b:
        return Finding(True, expected, got, "")
    differences = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            continue
        old, new = baseline[a0:a1], checked[b0:b1]
        for index in range(max(len(old), len(new))):
            before = old[index] if index < len(old) else None
            after = new[index] if index < len(new) else None
            differences.append(_call_change(a0 + index + 1, before, after))
    return Finding(False, expected, got, _first(differences), tuple(differences))


def _call_change(position: int, before: ToolCall | None, after: ToolCall | None) -> str:
    if before is None:
        assert after is not None
        return f"tool call {position} is new: {after} in response {after.response}"
    if after is None:
        return f"tool call {position} is missing: {before} (response {before.response})"
    return f"tool call {position}: {before} became {after} (response {after.response})"


def _calls(calls: Sequence[ToolCall]) -> str:
    return ", ".join(str(call) for call in calls) or "no tool calls"


def compare_transcripts(baseline: Sequence[str], checked: Sequence[str], minimum: float) -> Finding:
    """What the assistant said in the whole recording, at least `minimum` similar."""
    ratio = similarity("\n".join(baseline), "\n".join(checked))
    expected = f">= {minimum:g}"
    got = f"{ratio:.3f}"
    if ratio >= minimum:
        return Finding(True, expected, got, "", value=ratio)
    details = []
    for index in range(max(len(baseline), len(checked))):
        before = baseline[index] if index < len(baseline) else ""
        after = checked[index] if index < len(checked) else ""
        one = similarity(before, after)
        if one < 1.0:
            details.append(
                (one, f"response {index + 1} ({one:.2f}): {_quote(before)} → {_quote(after)}")
            )
    details.sort(key=lambda pair: pair[0])
    lines = tuple(text for _, text in details)
    message = f"similarity {ratio:.3f} < {minimum:g}" + (
        f"; least alike: {lines[0]}" if lines else ""
    )
    return Finding(False, expected, got, message, lines, ratio)


def _quote(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    if not flat:
        return "(nothing)"
    return repr(flat if len(flat) <= width else flat[: width - 1] + "…")


def compare_statuses(baseline: Sequence[Row], checked: Sequence[Row]) -> Finding:
    """Each response (paired by order: a replay gets new ids) ends with the same status."""
    a = [str(row.get("status")) for row in baseline]
    b = [str(row.get("status")) for row in checked]
    expected, got = _statuses(a), _statuses(b)
    if a == b:
        return Finding(True, expected, got, "")
    differences = []
    for index in range(max(len(a), len(b))):
        before = a[index] if index < len(a) else None
        after = b[index] if index < len(b) else None
        if before == after:
            continue
        row = checked[index] if index < len(checked) else baseline[index]
        rid = row.get("response_id")
        if before is None:
            differences.append(f"response {index + 1} ({rid}) is new: {after}")
        elif after is None:
            differences.append(f"response {index + 1} ({rid}) is missing: it was {before}")
        else:
            differences.append(f"response {index + 1} ({rid}): {before} became {after}")
    head = "" if len(a) == len(b) else f"{len(a)} responses became {len(b)}; "
    return Finding(False, expected, got, head + _first(differences), tuple(differences))


def _statuses(statuses: Sequence[str]) -> str:
    counts = Counter(statuses)
    return ", ".join(f"{n} {status}" for status, n in counts.items()) or "no responses"


def compare_error_types(baseline: Sequence[Row], checked: Sequence[Row]) -> Finding:
    """The same errors, by type and code, as many of each (their order and times may move)."""
    a = Counter(error_type(row) for row in baseline)
    b = Counter(error_type(row) for row in checked)
    expected, got = _errors(a), _errors(b)
    if a == b:
        return Finding(True, expected, got, "")
    differences = []
    for kind in sorted(set(a) | set(b)):
        change = b[kind] - a[kind]
        if change > 0:
            first = next(row for row in checked if error_type(row) == kind)
            differences.append(
                f"+{change} {kind} (first at {_t(first)}: {first.get('message') or ''})".rstrip()
            )
        elif change < 0:
            differences.append(f"{change} {kind}")
    return Finding(False, expected, got, _first(differences), tuple(differences))


def error_type(row: Row) -> str:
    """`type/code` of an error row (a proxy's own errors have neither: `rt/proxy`)."""
    kind, code = row.get("type"), row.get("code")
    if not kind and not code:
        return f"rt/{row.get('source') or 'error'}"
    return "/".join(str(part) for part in (kind, code) if part)


def _errors(counts: Counter[str]) -> str:
    return ", ".join(f"{n}× {kind}" for kind, n in sorted(counts.items())) or "no errors"


def _t(row: Row) -> str:
    t = row.get("t")
    return f"{t:.3f} s" if isinstance(t, (int, float)) else "?"


def _first(differences: Sequence[str]) -> str:
    if not differences:
        return ""
    more = len(differences) - 1
    return differences[0] + (f" (and {more} more)" if more else "")
