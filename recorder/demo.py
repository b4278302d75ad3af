"""The whole loop, offline: serve recordings as mock APIs, replay them through the recording
proxy, and record what comes back (used by `rt demo`; no network beyond loopback)."""

from __future__ import annotations

import asyncio
import importlib.resources
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from recorder.errors import InputError, RecorderError
from recorder.proxy import RecordingProxy
from recorder.replay import connection_plan, load_session, replay_schedule, run_replay
from recorder.serve import MockRealtimeServer, playbook_from
from recorder.store import ensure_directory

SAMPLES_PACKAGE = "recorder.samples"  # sample_sessions/ in the repository (pyproject.toml)


def installed_samples() -> Path:
    """The directory of the sample sessions installed with rt."""
    try:
        root = importlib.resources.files(SAMPLES_PACKAGE)
    except ModuleNotFoundError:
        raise InputError("the sample sessions are not installed: reinstall rt-recorder") from None
    if not isinstance(root, Path):  # e.g. inside a zip: the files have no path to replay from
        raise InputError(f"the sample sessions are in {root}, which is not a directory")
    return root


@dataclass(frozen=True)
class LoopResult:
    """One recording's trip round the loop."""

    original: Path
    recorded: Path | None  # what the proxy wrote; None if the replay failed
    frames_sent: int
    frames_received: int
    problem: str | None


async def replay_through_proxy(
    original: Path,
    out_dir: Path,
    *,
    fast: bool = False,
    on_done: Callable[[LoopResult], None] | None = None,
) -> LoopResult:
    """Serve `original` as a mock API, put a recording proxy writing into `out_dir` in front of
    it, and replay `original`'s client side through the proxy (its own copy goes nowhere)."""
    session = load_session(original)
    with tempfile.TemporaryDirectory(prefix="rt-demo-") as replay_copy:
        async with (
            MockRealtimeServer(playbook_from(session), fast=fast) as mock,
            RecordingProxy(upstream=mock.url, out_dir=out_dir, port=0, environ={}) as proxy,
        ):
            plan = connection_plan(session, target=proxy.url, environ={})
            schedule = replay_schedule(session, pace="reactive", fast=fast)
            try:
                result = await run_replay(schedule, plan, replay_copy, source=original)
            except RecorderError as exc:  # could not connect: nothing was recorded
                outcome = LoopResult(original, None, 0, 0, str(exc))
                if on_done is not None:
                    on_done(outcome)
                return outcome
            summaries = await proxy.wait_for_sessions(1)
    outcome = LoopResult(
        original=original,
        recorded=summaries[0].path if result.stopped is None else None,
        frames_sent=result.frames_sent,
        frames_received=result.frames_received,
        problem=None if result.stopped is None else str(result.stopped),
    )
    if on_done is not None:
        on_done(outcome)
    return outcome


async def replay_all(
    originals: Sequence[Path],
    out_dir: Path,
    *,
    fast: bool = False,
    on_done: Callable[[LoopResult], None] | None = None,
) -> list[LoopResult]:
    """`replay_through_proxy` for every recording, all at once."""
    if not originals:
        raise RecorderError("no session files to replay")
    ensure_directory(out_dir)  # owner-only, like rt record's: recordings hold voices
    return list(
        await asyncio.gather(
            *(replay_through_proxy(p, out_dir, fast=fast, on_done=on_done) for p in originals)
        )
    )
