"""Which session files a list of PATH arguments names: files, directories, globs."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from recorder.errors import InputError

SESSION_SUFFIX = ".jsonl"
_GLOB_CHARS = frozenset("*?[")


def resolve_session_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Session files named by `paths`, in argument order, each once.

    A file is taken as it is (whatever its suffix); a directory stands for every `*.jsonl`
    under it, recursively, sorted; anything else is a glob (`**` allowed). A path that names
    no session file raises InputError.
    """
    found: dict[str, Path] = {}
    for raw in paths:
        text = os.fspath(raw)
        matches = _expand(text)
        if not matches:
            raise InputError(f"no session files match {text!r}")
        for path in matches:
            found.setdefault(os.path.realpath(path), path)
    return list(found.values())


def _expand(text: str) -> list[Path]:
    path = Path(text)
    if path.is_file():
        return [path]
    if path.is_dir():
        return _jsonl_under(path)
    if not _GLOB_CHARS.intersection(text):
        return []
    matches: list[Path] = []
    for match in sorted(glob.glob(text, recursive=True)):
        candidate = Path(match)
        if candidate.is_dir():
            matches.extend(_jsonl_under(candidate))
        elif candidate.is_file():
            matches.append(candidate)
    return matches


def _jsonl_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob(f"*{SESSION_SUFFIX}") if p.is_file())
