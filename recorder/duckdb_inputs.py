"""How session files are handed to DuckDB's `read_ndjson`: in batches, with literal paths.

Shared by `rt stats` and friends (recorder/analytics/views.py) and `rt export parquet`
(recorder/parquet.py), which both scan JSONL the same way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from recorder.object_store import is_url

# A batch is one read_ndjson scan; batches bound each statement and let progress advance.
BATCH_BYTES = 2**30
BATCH_FILES = 2000
# DuckDB's JSON buffers grow with this limit (a larger one slows every scan), and a line may be
# up to twice as long. 16 MiB covers the largest append (15 MiB of audio, 20 MiB of base64);
# a batch with a longer line is read again with a larger limit.
MAX_OBJECT_SIZE = 16 * 2**20
MAX_OBJECT_SIZE_CEILING = 2**30
GLOB_CHARS = frozenset("*?[{")


def batches(sizes: Sequence[int]) -> Iterator[tuple[int, int]]:
    """`(start, stop)` ranges of files, each at most BATCH_BYTES / BATCH_FILES (one file at least)."""
    start, size = 0, 0
    for index, file_size in enumerate(sizes):
        if index > start and (size + file_size > BATCH_BYTES or index - start >= BATCH_FILES):
            yield start, index
            start, size = index, 0
        size += file_size
    if start < len(sizes):
        yield start, len(sizes)


@contextmanager
def literal_paths(files: Sequence[str]) -> Iterator[list[str]]:
    """The paths to hand DuckDB, which expands `*`, `?`, `[...]` and `{...}` in every path it is
    given: a local file whose name holds one of those is read through a plain-named link."""
    if not any(GLOB_CHARS.intersection(file) for file in files if not is_url(file)):
        yield list(files)
        return
    with tempfile.TemporaryDirectory(prefix="rt-duckdb-links-") as links:
        readable = []
        for index, file in enumerate(files):
            if GLOB_CHARS.intersection(file) and not is_url(file):
                link = os.path.join(links, f"{index}.jsonl")
                _alias(os.path.abspath(file), link)
                file = link
            readable.append(file)
        yield readable


def _alias(target: str, link: str) -> None:
    try:
        os.symlink(target, link)
    except OSError:  # e.g. Windows without the symlink privilege
        try:
            os.link(target, link)
        except OSError:
            shutil.copyfile(target, link)
