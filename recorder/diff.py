"""Two sessions side by side (an original and its replay, say): events, per-response latency and
tokens, and what the assistant said.

    diff = diff_session_files("call.jsonl", "replay.jsonl")    # reads both (the one I/O step)
    diff.events          EventRow per timeline line: equal, changed, removed (A only), added (B only)
    diff.responses       ResponsePair per response, paired by order, with B − A per metric
    diff.transcript_diff unified diff of the assistant's words, one line per part of a response
    diff.to_json()       the object `rt diff --format json` prints

Everything but `diff_session_files` (and its `_side`) is pure. Events are compared as `rt show`
lists them (recorder/timeline/: GA names, runs of deltas and appends collapsed into one
line), by direction and type: ids and timings differ between two runs, so they are shown but
not compared. Responses are paired by order, since a replay gets new response ids.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from recorder.analytics import StatsWarning, open_views
from recorder.errors import InputError
from recorder.interpretation import ResponseFacts
from recorder.pricing import PriceTable
from recorder.reading import iter_records
from recorder.timeline import Entry, Timeline, TimelineItem
from recorder.warning_log import FileWarning

Op = Literal["equal", "changed", "removed", "added"]
Row = Mapping[str, Any]

# the per-response numbers compared, and the decimals their difference keeps
RESPONSE_METRICS: Mapping[str, int] = {
    "ttfb_ms": 3,
    "ttft_ms": 3,
    "duration_ms": 3,
    "voice_to_voice_ms": 3,
    "audio_out_ms": 3,
    "input_tokens": 0,
    "output_tokens": 0,
    "cost_usd": 8,
}
SUMMARY_METRICS: Mapping[str, int] = {
    "frames": 0,
    "responses": 0,
    "errors": 0,
    "ttfb_p50_ms": 3,
    "ttft_p50_ms": 3,
    "input_tokens": 0,
    "output_tokens": 0,
    "cost_usd": 8,
}
RESPONSE_FIELDS = ("response_id", "status", "trigger", *RESPONSE_METRICS)
NO_TEXT = "(no text)"


@dataclass(frozen=True)
class EventStep:
    """One line of a session's timeline, as compared: who sent it and what it was."""

    t: float
    source: str  # client, server, proxy
    type: str
    frames: int = 1
    response: int | None = None  # r1, r2... in order of appearance

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.type)

    def to_json(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "source": self.source,
            "type": self.type,
            "frames": self.frames,
            "response": self.response,
        }


@dataclass(frozen=True)
class EventRow:
    op: Op
    a: EventStep | None
    b: EventStep | None

    def to_json(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "a": None if self.a is None else self.a.to_json(),
            "b": None if self.b is None else self.b.to_json(),
        }


@dataclass(frozen=True)
class ResponsePair:
    """The n-th response of each session (None where a session has fewer)."""

    index: int
    a: Row | None
    b: Row | None

    def delta(self, key: str) -> float | int | None:
        """B − A for one metric, or None when either side lacks it."""
        return difference(
            None if self.a is None else self.a.get(key),
            None if self.b is None else self.b.get(key),
            RESPONSE_METRICS.get(key, 3),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "a": None if self.a is None else {k: self.a.get(k) for k in RESPONSE_FIELDS},
            "b": None if self.b is None else {k: self.b.get(k) for k in RESPONSE_FIELDS},
            "delta": {key: self.delta(key) for key in RESPONSE_METRICS},
        }


@dataclass(frozen=True)
class SessionSide:
    """What is compared of one session."""

    file: str
    session: str | None
    model: str | None
    started_at: str | None
    steps: Sequence[EventStep]
    responses: Sequence[Row]  # the `rt stats` response rows, in order
    summary: Mapping[str, Any]  # SUMMARY_METRICS
    transcripts: Mapping[str, Sequence[str]]  # response id -> the parts it said, in order

    def transcript_lines(self) -> list[str]:
        """`[rN] text` for every part of every response (`(no text)` for a silent one)."""
        lines: list[str] = []
        for number, row in enumerate(self.responses, start=1):
            parts = self.transcripts.get(str(row.get("response_id")), ()) or (NO_TEXT,)
            for part in parts:
                lines.extend(f"[r{number}] {line}" for line in part.splitlines() or [""])
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "session": self.session,
            "model": self.model,
            "started_at": self.started_at,
            **{key: self.summary.get(key) for key in SUMMARY_METRICS},
        }


@dataclass(frozen=True)
class SessionDiff:
    a: SessionSide
    b: SessionSide
    events: Sequence[EventRow]
    responses: Sequence[ResponsePair]
    transcript_diff: Sequence[str]  # empty when the transcripts are the same
    warnings: Sequence[StatsWarning] = field(default_factory=list)

    def summary_delta(self, key: str) -> float | int | None:
        return difference(self.a.summary.get(key), self.b.summary.get(key), SUMMARY_METRICS[key])

    @property
    def events_differ(self) -> bool:
        return any(row.op != "equal" for row in self.events)

    def to_json(self) -> dict[str, Any]:
        """The object `rt diff --format json` prints."""
        return {
            "a": self.a.to_json(),
            "b": self.b.to_json(),
            "delta": {key: self.summary_delta(key) for key in SUMMARY_METRICS},
            "responses": [pair.to_json() for pair in self.responses],
            "transcripts": {
                "a": self.a.transcript_lines(),
                "b": self.b.transcript_lines(),
                "same": not self.transcript_diff,
                "diff": list(self.transcript_diff),
            },
            "events": [row.to_json() for row in self.events],
        }


# -- comparing (pure) --------------------------------------------------------------------------


def compare(a: SessionSide, b: SessionSide, warnings: Sequence[StatsWarning] = ()) -> SessionDiff:
    return SessionDiff(
        a=a,
        b=b,
        events=align_events(a.steps, b.steps),
        responses=pair_responses(a.responses, b.responses),
        transcript_diff=diff_transcripts(a, b),
        warnings=list(warnings),
    )


def align_events(a: Sequence[EventStep], b: Sequence[EventStep]) -> list[EventRow]:
    """Both sequences, lined up where they agree; a replaced stretch pairs its lines as
    `changed`, the longer side's rest is removed or added. Linear in the number of steps.

    Each side is cut where a response starts (its first step), and the n-th stretch of A is
    lined up with the n-th of B: responses pair by order, as everywhere in a diff. Within a
    stretch, difflib finds the longest matching blocks; its cost grows with the product of the
    two lengths, so a stretch longer than `ALIGN_WINDOW` steps (a long run between responses)
    is lined up window by window (`_align_stretch`).
    """
    rows: list[EventRow] = []
    for left, right in itertools.zip_longest(_by_response(a), _by_response(b), fillvalue=()):
        rows.extend(_align_stretch(left, right))
    return rows


# Steps a side that difflib lines up at once (its work grows with the product of the lengths).
ALIGN_WINDOW = 400


def _by_response(steps: Sequence[EventStep]) -> list[Sequence[EventStep]]:
    """`steps` cut before the first step of each response (the first stretch: what came
    before any response)."""
    cuts = [0]
    seen: set[int] = set()
    for index, step in enumerate(steps):
        if step.response is not None and step.response not in seen:
            seen.add(step.response)
            if index:
                cuts.append(index)
    cuts.append(len(steps))
    return [steps[start:stop] for start, stop in itertools.pairwise(cuts)]


def _align_stretch(a: Sequence[EventStep], b: Sequence[EventStep]) -> list[EventRow]:
    """One stretch of each side lined up: by difflib when it is short; otherwise its common
    ends first, then window by window, each window starting where the previous one's last
    match ended (so a step inserted early does not shift everything after it)."""
    if len(a) <= ALIGN_WINDOW and len(b) <= ALIGN_WINDOW:
        return _difflib_rows(a, b)
    head = 0
    while head < min(len(a), len(b)) and a[head].key == b[head].key:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail].key == b[-1 - tail].key:
        tail += 1
    rows = [EventRow("equal", x, y) for x, y in zip(a[:head], b[:head], strict=True)]
    i, j, end_a, end_b = head, head, len(a) - tail, len(b) - tail
    while end_a - i > ALIGN_WINDOW or end_b - j > ALIGN_WINDOW:
        left, right = a[i : min(end_a, i + ALIGN_WINDOW)], b[j : min(end_b, j + ALIGN_WINDOW)]
        matcher = difflib.SequenceMatcher(
            None, [s.key for s in left], [s.key for s in right], autojunk=False
        )
        blocks = [block for block in matcher.get_matching_blocks() if block.size]
        stop_a = stop_b = 0
        if blocks:
            stop_a, stop_b = blocks[-1].a + blocks[-1].size, blocks[-1].b + blocks[-1].size
        if max(stop_a, stop_b) < ALIGN_WINDOW // 2:  # little in common: the window goes whole
            stop_a, stop_b = len(left), len(right)
        rows += _difflib_rows(left[:stop_a], right[:stop_b])
        i, j = i + stop_a, j + stop_b
    rows += _difflib_rows(a[i:end_a], b[j:end_b])
    rows += [EventRow("equal", x, y) for x, y in zip(a[end_a:], b[end_b:], strict=True)]
    return rows


def _difflib_rows(a: Sequence[EventStep], b: Sequence[EventStep]) -> list[EventRow]:
    """difflib's longest matching blocks (quadratic: for stretches of `ALIGN_WINDOW` or so)."""
    matcher = difflib.SequenceMatcher(None, [s.key for s in a], [s.key for s in b], autojunk=False)
    rows: list[EventRow] = []
    for tag, a_start, a_stop, b_start, b_stop in matcher.get_opcodes():
        left, right = a[a_start:a_stop], b[b_start:b_stop]
        if tag == "equal":
            rows.extend(EventRow("equal", x, y) for x, y in zip(left, right, strict=True))
            continue
        paired = min(len(left), len(right))
        rows.extend(EventRow("changed", left[i], right[i]) for i in range(paired))
        rows.extend(EventRow("removed", x, None) for x in left[paired:])
        rows.extend(EventRow("added", None, y) for y in right[paired:])
    return rows


def pair_responses(a: Sequence[Row], b: Sequence[Row]) -> list[ResponsePair]:
    count = max(len(a), len(b))
    return [
        ResponsePair(
            index + 1,
            a[index] if index < len(a) else None,
            b[index] if index < len(b) else None,
        )
        for index in range(count)
    ]


def diff_transcripts(a: SessionSide, b: SessionSide) -> list[str]:
    """A unified diff of the two transcripts (no lines when they are the same)."""
    return list(
        difflib.unified_diff(
            a.transcript_lines(), b.transcript_lines(), fromfile=a.file, tofile=b.file, lineterm=""
        )
    )


def difference(a: Any, b: Any, digits: int) -> float | int | None:
    if not _is_number(a) or not _is_number(b):
        return None
    if digits == 0 and isinstance(a, int) and isinstance(b, int):
        return b - a
    return round(float(b) - float(a), digits)


def event_steps(items: Iterable[TimelineItem]) -> list[EventStep]:
    """The timeline's lines (not its header) as steps to compare."""
    return [
        EventStep(item.t, item.source, item.type, item.frames, item.response_number)
        for item in items
        if isinstance(item, Entry)
    ]


# -- reading the two files -----------------------------------------------------------------------


def diff_session_files(
    a: str | os.PathLike[str], b: str | os.PathLike[str], prices: PriceTable | None = None
) -> SessionDiff:
    """Read both session files and compare them. Raises InputError for a missing file.

    The numbers come from one analytics pass over both files (the views of `rt sql`); the
    timelines and transcripts from reading each file once (once in all when A is B).
    """
    for path in (a, b):
        if not Path(path).is_file():
            raise InputError(f"{os.fspath(path)}: no such session file")
    with open_views([a, b], prices) as views:
        summaries = views.db.rows("session_summaries")
        responses = views.db.rows("response_rows")
        warnings = list(views.warnings)
    summary_a, summary_b = summaries[0], summaries[-1]
    side_a = _side(a, summary_a, [r for r in responses if r["file"] == summary_a["file"]])
    if summary_b is summary_a:  # the same file named twice is one session
        side_b = dataclasses.replace(side_a, file=os.fspath(b))
    else:
        side_b = _side(b, summary_b, [r for r in responses if r["file"] == summary_b["file"]])
    return compare(side_a, side_b, warnings)


def _side(path: str | os.PathLike[str], summary: Row, responses: Sequence[Row]) -> SessionSide:
    timeline = Timeline(path=os.fspath(path))
    items: list[TimelineItem] = []
    already_reported: list[FileWarning] = []  # the analytics report them, once per file
    for line, record in iter_records(path, already_reported.append):
        items.extend(timeline.feed(line, record))
    items.extend(timeline.finish())
    facts = timeline.interpreter.finish()
    return SessionSide(
        file=os.fspath(path),
        session=summary["session"],
        model=summary["model"],
        started_at=summary["started_at"],
        steps=event_steps(items),
        responses=responses,
        summary={key: summary[key] for key in SUMMARY_METRICS},
        transcripts={response.response_id: said(response) for response in facts.responses},
    )


def said(response: ResponseFacts) -> list[str]:
    """What a response said, for comparing: its text parts, then each call as name(arguments)."""
    calls = [f"{call.name}({call.arguments})" for call in response.tool_calls]
    return [*response.transcript, *calls]


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
