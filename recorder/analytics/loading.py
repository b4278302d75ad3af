"""Session files -> their interpretation, in worker processes when there is much to read.

    for loaded in interpret_files(files, with_events=…, on_progress=…):
        loaded.facts            SessionFacts (recorder.interpretation)
        loaded.events           the frames as columns (only with `with_events`)
        loaded.warnings         what the reader and the interpreter reported, in line order

Every file goes through `recorder.reading` and one `Interpreter`, exactly as `rt show` or
`rt export wav` read it, so the analytics cannot disagree with them. Reading is the slow part
(parsing JSON lines in Python), so large inputs are spread over processes, one file at a time
each; results come back in the order of `files`. A finished file's interpretation is kept in
the user's cache (`facts_cache`) and used again while the file and rt's rules are the same.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, cast

from recorder.analytics import facts_cache
from recorder.interpretation import Frame, Interpreter, SessionFacts
from recorder.interpretation.layout import audio_of
from recorder.json_text import to_json
from recorder.reading import RecordChecker, iter_records
from recorder.warning_log import FileWarning

ProgressCallback = Callable[[int, int], None]  # (bytes read, total bytes)

# Below this much input one process reads everything: starting workers costs more.
PARALLEL_MIN_BYTES = 48 * 2**20
EVENT_COLUMNS = (
    "seq",
    "t",
    "direction",
    "type",
    "raw_type",
    "response_id",
    "item_id",
    "audio_bytes",
    "audio_ms",
    "event",
    "text",
    "binary",
)


@dataclass
class LoadedSession:
    facts: SessionFacts
    warnings: list[FileWarning] = field(default_factory=list)
    events: dict[str, list[Any]] | None = None
    records: int = 0  # usable records the file held (0: empty, or not a session file)


def interpret_file(
    path: str,
    with_events: bool = False,
    with_audio: bool = False,
    cache: Path | None = None,
) -> LoadedSession:
    """One file, read and interpreted (in this process), or its interpretation from `cache`
    (`facts_cache`: a finished file is read once) when its frames are not asked for."""
    if not with_events and cache is not None:
        cached = cached_file(path, cache)
        if cached is not None:
            return cached
    warnings: list[FileWarning] = []
    interpreter = Interpreter(path, warnings.append)
    checker = RecordChecker(path, warnings.append)
    events: dict[str, list[Any]] | None = None
    if with_events:
        events = {name: [] for name in EVENT_COLUMNS}
        add = _event_adder(events, with_audio)
        for line, record in iter_records(path, checker=checker):
            frame = interpreter.feed(line, record)
            if frame is not None:
                add(frame)
    else:
        feed = interpreter.feed
        for line, record in iter_records(path, checker=checker):
            feed(line, record)
    warnings.sort(key=lambda w: w.line if w.line is not None else float("inf"))
    loaded = LoadedSession(interpreter.finish(), warnings, events, checker.records)
    if not with_events and cache is not None:
        facts_cache.store(path, loaded, cache)
    return loaded


def cached_file(path: str, cache: Path) -> LoadedSession | None:
    """The kept interpretation of `path`, named as given this time, or None."""
    cached = facts_cache.load(path, LoadedSession, cache)
    return None if cached is None else _named(cast(LoadedSession, cached), path)


def _named(loaded: LoadedSession, path: str) -> LoadedSession:
    """A cached interpretation, naming the file as it was named this time (the same file may
    have been given by another path when it was cached)."""
    facts = loaded.facts
    if facts.file == path:
        return loaded
    stem = PurePath(path).stem
    session = stem if facts.session == PurePath(facts.file).stem else facts.session
    return dataclasses.replace(
        loaded,
        facts=dataclasses.replace(facts, file=path, session=session),
        warnings=[dataclasses.replace(w, path=path) for w in loaded.warnings],
    )


def interpret_files(
    files: Sequence[str],
    sizes: Sequence[int],
    *,
    with_events: bool = False,
    with_audio: bool = False,
    on_progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> Iterator[LoadedSession]:
    """Each file interpreted, in the order given (see the module docstring): files the cache
    knows come from it, the others are read, in worker processes when there is much to read."""
    total = sum(sizes)
    done = 0
    if on_progress is not None:
        on_progress(0, total)
    cache = None if with_events else facts_cache.cache_dir()
    known: dict[int, LoadedSession] = {}
    if cache is not None:
        for index, path in enumerate(files):
            found = cached_file(path, cache)
            if found is not None:
                known[index] = found
    unread = [index for index in range(len(files)) if index not in known]
    count = worker_count(len(unread), sum(sizes[i] for i in unread), workers)
    pool = ProcessPoolExecutor(count, mp_context=worker_context()) if count > 1 else None
    try:
        futures: dict[int, Future[LoadedSession]] = {}
        if pool is not None:
            for index in unread:
                futures[index] = pool.submit(
                    interpret_file, files[index], with_events, with_audio, cache
                )
        for index, (path, size) in enumerate(zip(files, sizes, strict=True)):
            if index in known:
                loaded = known.pop(index)
            elif pool is not None:
                loaded = futures.pop(index).result()
            else:
                loaded = interpret_file(path, with_events, with_audio, cache)
            done += size
            if on_progress is not None:
                on_progress(done, total)
            yield loaded
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def worker_count(files: int, total_bytes: int, wanted: int | None) -> int:
    """How many processes read `files` files of `total_bytes` in all: `wanted` if given (at
    most one per file), else one per core when there is enough to read, else 1 (read here)."""
    if wanted is not None:
        return max(1, min(wanted, files))
    if files < 2 or total_bytes < PARALLEL_MIN_BYTES or not _can_start_workers():
        return 1
    return max(1, min(os.cpu_count() or 1, files))


def _can_start_workers() -> bool:
    """Whether worker processes can start: they re-import the main script, which a program
    read from stdin or `-c` does not have (then everything is read in this process)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return path is None or os.path.exists(path)


def worker_context() -> multiprocessing.context.BaseContext:
    """How worker processes start (for a `ProcessPoolExecutor`'s `mp_context`)."""
    # forkserver: workers start from a clean process (forking a process that runs a progress
    # thread can deadlock); where it does not exist, spawn
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _event_adder(columns: dict[str, list[Any]], with_audio: bool) -> Callable[[Frame], None]:
    appends = [columns[name].append for name in EVENT_COLUMNS]

    def add(frame: Frame) -> None:
        event = None
        if frame.event is not None:
            event = to_json(frame.event if with_audio else without_audio(frame))
        values = (
            frame.number,
            frame.t,
            frame.direction,
            frame.type,
            frame.raw_type,
            frame.response_id,
            frame.item_id,
            frame.audio_bytes if frame.audio_format is not None else None,
            round(frame.audio_ms, 3) if frame.audio_format is not None else None,
            event,
            frame.text,
            frame.binary,
        )
        for append, value in zip(appends, values, strict=True):
            append(value)

    return add


def without_audio(frame: Frame) -> Mapping[str, Any]:
    """The frame's event without its base64 audio (its size stays in `audio_bytes`): the
    payload of a frame the interpretation says carries audio (`layout.audio_of`), and the
    `audio` of input_audio parts in items, are
    left out (the key with them)."""
    event = frame.event or {}
    audio = audio_of(frame)  # an append or output delta: Realtime's, GPT-Live's, translation's
    if audio is not None and audio[1] in event:
        return {key: value for key, value in event.items() if key != audio[1]}
    item = event.get("item")
    if isinstance(item, Mapping) and isinstance(item.get("content"), list):
        content = [
            {key: value for key, value in part.items() if key != "audio"}
            if isinstance(part, Mapping) and "audio" in part
            else part
            for part in item["content"]
        ]
        return {**event, "item": {**item, "content": content}}
    return event
