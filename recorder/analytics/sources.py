"""Which session files a list of PATH arguments names: files, directories, globs, object
store URLs (s3://…), and Parquet datasets written by `rt export parquet`."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from recorder.analytics.datasets import ParquetDataset, find_dataset
from recorder.errors import InputError
from recorder.object_store import is_url, list_files

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


@dataclass(frozen=True)
class Sources:
    """What PATH arguments name: session files (local paths or URLs, with sizes) and datasets."""

    files: list[str]
    sizes: list[int]
    datasets: list[ParquetDataset]

    @property
    def urls(self) -> list[str]:
        """The object store URLs among them (DuckDB needs their filesystems registered)."""
        roots = [dataset.root for dataset in self.datasets]
        return [name for name in [*self.files, *roots] if is_url(name)]


def resolve_sources(paths: Iterable[str | os.PathLike[str]]) -> Sources:
    """The session files and Parquet datasets named by `paths`, in argument order, each once.

    A path holding an `rt export parquet` dataset is that dataset; a URL is an object, a
    prefix (every `*.jsonl` under it) or a glob; anything else is resolved as by
    `resolve_session_files`. A path that names nothing raises InputError.
    """
    files: dict[str, int] = {}
    datasets: dict[str, ParquetDataset] = {}
    for raw in paths:
        text = os.fspath(raw)
        dataset = find_dataset(text)
        if dataset is not None:
            datasets.setdefault(dataset.root, dataset)
        elif is_url(text):
            found = list_files(text, SESSION_SUFFIX)
            if not found:
                raise InputError(f"no session files match {text!r}")
            for remote in found:
                files.setdefault(remote.url, remote.size)
        else:
            for path in resolve_session_files([text]):
                files.setdefault(str(path), _size(path))
    return Sources(list(files), list(files.values()), list(datasets.values()))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


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
