"""A run of replays and its baseline: the manifest `rt check --target` leaves beside the new
recordings, and the pairing of a run's recordings with a baseline's.

A replay gets a new session id, so recordings are paired by *origin*: the session id of the
original call they replay (from the manifest of the directory they are in), or their own
session id when they are originals. An original, its replay today and its replay last week
all share one origin.

    rt-check-run.json   {"format": "rt-check-run/1", "target": "ws://…", "started_at": "…",
                         "replays": [{"original": "calls/a.jsonl", "original_session": "…",
                                      "replay": "2026….jsonl", "stopped": null, …}]}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from recorder.check.facts import ObservedRecording, ReplayOutcome
from recorder.errors import InputError

MANIFEST = "rt-check-run.json"
FORMAT = "rt-check-run/1"


@dataclass(frozen=True)
class Pair:
    """A recording of the run checked and its counterpart in the baseline (None: none)."""

    candidate: ObservedRecording
    baseline: ObservedRecording | None


def write_manifest(
    out_dir: Path, target: str, started_at: str, outcomes: Sequence[ReplayOutcome]
) -> Path:
    """Write the manifest of a run into `out_dir` (beside its recordings)."""
    replays = []
    for outcome in outcomes:
        entry = asdict(outcome)
        if outcome.replay is not None:
            entry["replay"] = os.path.relpath(outcome.replay, out_dir)
        replays.append(entry)
    path = out_dir / MANIFEST
    document = {"format": FORMAT, "target": target, "started_at": started_at, "replays": replays}
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_origins(directory: Path) -> dict[str, str]:
    """Real path of each replay recorded in `directory` -> the session id of its original
    (empty when the directory holds no manifest). Raises InputError for a bad manifest."""
    path = directory / MANIFEST
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the run manifest: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError(f"{path}: not an {FORMAT} manifest")
    origins: dict[str, str] = {}
    for entry in document.get("replays") or []:
        if not isinstance(entry, dict):
            continue
        replay, original = entry.get("replay"), entry.get("original_session")
        if isinstance(replay, str) and isinstance(original, str):
            origins[os.path.realpath(directory / replay)] = original
    return origins


def origins_of(outcomes: Sequence[ReplayOutcome]) -> dict[str, str]:
    """The same mapping, for replays just made."""
    return {
        os.path.realpath(o.replay): o.original_session
        for o in outcomes
        if o.original_session is not None and o.replay is not None
    }


def pair_recordings(
    candidates: Sequence[ObservedRecording],
    baseline: Sequence[ObservedRecording],
    origins: Mapping[str, str],
) -> list[Pair]:
    """Each candidate with the baseline recording of the same origin (the first one, if a
    corpus holds the same call twice). `origins` maps real paths of replays to originals."""
    by_origin: dict[str, ObservedRecording] = {}
    for recording in baseline:
        key = _origin(recording, origins)
        if key is not None:
            by_origin.setdefault(key, recording)
    pairs = []
    for recording in candidates:
        key = _origin(recording, origins)
        pairs.append(Pair(recording, None if key is None else by_origin.get(key)))
    return pairs


def _origin(recording: ObservedRecording, origins: Mapping[str, str]) -> str | None:
    return origins.get(os.path.realpath(recording.file), recording.session)
