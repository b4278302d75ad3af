"""Recordings turned into what the checks read (`observe`), and recordings replayed against a
target (`replay_recordings`).

This is the one module of `recorder.check` that reads the shared interpretation of a session:
the numbers come from `rt stats` (`collect_stats`: its response, session and error rows, the
same as `rt stats --format json`), what the assistant said and the tool calls it made from the
same pass's interpretation (`ResponseFacts.transcript`, `.tool_calls`, what `rt diff` and the
report show), and replays from `recorder.replay`. Everything else in the
package works on the plain data of `facts.py`, so a new interpretation of sessions only
changes this module.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from recorder.analytics import ProgressCallback, collect_stats, resolve_session_files
from recorder.analytics.report import ERROR_KEYS, RESPONSE_KEYS, SESSION_KEYS
from recorder.check.facts import (
    Observations,
    ObservedRecording,
    ReplayOutcome,
    Row,
    RowKind,
    ToolCall,
)
from recorder.errors import InputError, UpstreamError
from recorder.interpretation import SessionFacts
from recorder.pricing import PriceTable
from recorder.replay import (
    DEFAULT_TIMEOUT,
    connection_plan,
    load_session,
    parse_header,
    replay_schedule,
    run_replay,
)
from recorder.warning_log import FileWarning

__all__ = ["DEFAULT_TIMEOUT", "observe", "parse_header", "replay_recordings", "session_files"]

_KNOWN_FIELDS: Mapping[RowKind, tuple[str, ...]] = {
    "responses": RESPONSE_KEYS,
    "sessions": SESSION_KEYS,
    "errors": ERROR_KEYS,
}


def session_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The session files PATH arguments name (files, directories, globs), each once.
    Raises InputError for a path that names none."""
    return resolve_session_files(paths)


def observe(
    files: Sequence[str | os.PathLike[str]],
    prices: PriceTable | None = None,
    *,
    on_progress: ProgressCallback | None = None,
) -> Observations:
    """What the checks need of each file: its `rt stats` rows, tool calls and transcripts
    (none for no files: every replay may have failed to connect, leaving no recording)."""
    names = [os.fspath(f) for f in files]
    if not names:
        return Observations([], {kind: frozenset(keys) for kind, keys in _KNOWN_FIELDS.items()})
    report = collect_stats(names, prices, on_progress=on_progress)
    rows: dict[RowKind, Sequence[Row]] = {
        "responses": report.responses,
        "sessions": report.sessions,
        "errors": report.errors,
    }
    facts_of = {os.path.realpath(f.file): f for f in report.facts}
    recordings = []
    for name in names:
        same = _same_file(name)
        of_file = {kind: [r for r in rows[kind] if same(r.get("file"))] for kind in rows}
        if not of_file["sessions"]:
            continue  # nothing readable in it: the analytics warned
        recordings.append(_recording(name, of_file, facts_of.get(os.path.realpath(name))))
    fields = {
        kind: frozenset(_KNOWN_FIELDS[kind]).union(*(row.keys() for row in rows[kind]))
        for kind in _KNOWN_FIELDS
    }
    return Observations(recordings, fields, tuple(str(w) for w in report.warnings))


def _same_file(name: str) -> Callable[[Any], bool]:
    real = os.path.realpath(name)
    return lambda other: (
        other == name or (isinstance(other, str) and os.path.realpath(other) == real)
    )


def _recording(
    name: str, rows: Mapping[RowKind, Sequence[Row]], facts: SessionFacts | None
) -> ObservedRecording:
    by_id = {r.response_id: r for r in facts.responses} if facts is not None else {}
    responses = rows["responses"]
    calls: list[ToolCall] = []
    said: list[str] = []
    for number, row in enumerate(responses, start=1):
        response_id = row.get("response_id")
        response = by_id.get(response_id) if isinstance(response_id, str) else None
        if response is None:
            said.append("")
            continue
        calls.extend(
            _tool_call(number, response_id, call.name, call.arguments)
            for call in response.tool_calls
        )
        said.append("\n".join(response.transcript))
    session = rows["sessions"][0].get("session")
    return ObservedRecording(
        file=name,
        session=session if isinstance(session, str) else None,
        responses=responses,
        sessions=rows["sessions"],
        errors=rows["errors"],
        tool_calls=calls,
        transcripts=said,
    )


def _tool_call(number: int, response_id: Any, name: str, arguments: str) -> ToolCall:
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        parsed = None
    keys = tuple(sorted(parsed)) if isinstance(parsed, dict) else None
    return ToolCall(number, response_id if isinstance(response_id, str) else None, name, keys)


# -- replays ----------------------------------------------------------------------------------


async def replay_recordings(
    files: Sequence[Path],
    target: str,
    out_dir: Path,
    *,
    concurrency: int = 4,
    headers: Sequence[tuple[str, str]] = (),
    environ: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    on_warning: Callable[[FileWarning], None] | None = None,
    on_done: Callable[[ReplayOutcome], None] | None = None,
) -> list[ReplayOutcome]:
    """Replay each recording's client side at `target` (reactive pace), `concurrency` at
    once, recording each new call into `out_dir`; outcomes in the order of `files`.

    Every recording is planned before the first call goes out, so one that cannot be replayed
    (no client frames, a bad target) raises InputError without a call made. What the target
    does (refuses, times out, closes early) is an outcome, never an exception.
    """
    if concurrency < 1:
        raise InputError(f"concurrency must be at least 1, not {concurrency}")
    plans = []
    for file in files:
        session = load_session(file, keep_payloads=("client",), on_warning=on_warning)
        original_session = (session.header or {}).get("id")
        plans.append(
            (
                file,
                original_session if isinstance(original_session, str) else None,
                replay_schedule(session, pace="reactive"),
                connection_plan(session, target, headers, environ or {}),
            )
        )
    slots = asyncio.Semaphore(concurrency)

    async def one(file: Path, original_session: str | None, schedule: Any, plan: Any) -> Any:
        async with slots:
            started = time.monotonic()
            try:
                result = await run_replay(schedule, plan, out_dir, source=file, timeout=timeout)
            except UpstreamError as exc:  # never connected: no new recording
                outcome = ReplayOutcome(
                    original=os.fspath(file),
                    original_session=original_session,
                    replay=None,
                    target=plan.safe_url,
                    frames_sent=0,
                    frames_planned=len(schedule.sends),
                    stopped=str(exc),
                    seconds=time.monotonic() - started,
                )
            else:
                outcome = ReplayOutcome(
                    original=os.fspath(file),
                    original_session=original_session,
                    replay=os.fspath(result.recording.path),
                    target=result.target,
                    frames_sent=result.frames_sent,
                    frames_planned=result.frames_planned,
                    stopped=None if result.stopped is None else str(result.stopped),
                    seconds=time.monotonic() - started,
                )
            if on_done is not None:
                on_done(outcome)
            return outcome

    return list(await asyncio.gather(*(one(*plan) for plan in plans)))
