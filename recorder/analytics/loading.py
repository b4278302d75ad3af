"""Session files -> their interpretation, in worker processes when there is much to read.

    for loaded in interpret_files(files, with_events=…, on_progress=…):
        loaded.facts            SessionFacts (recorder.interpretation)
        loaded.events           the frames as columns (only with `with_events`)
        loaded.warnings         what the reader and the interpreter reported, in line order

Every file goes through `recorder.reading` and one `Interpreter`, exactly as `rt show` or
`rt export wav` read it, so the analytics cannot disagree with them. Reading is the slow part
(parsing JSON lines in Python), so large inputs are spread over processes, one file at a time
each; results come back in the order of `files`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from recorder import vocabulary as vocab
from recorder.interpretation import Frame, Interpreter, SessionFacts
from recorder.json_text import to_json
from recorder.reading import iter_records
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


def interpret_file(path: str, with_events: bool = False, with_audio: bool = False) -> LoadedSession:
    """One file, read and interpreted (in this process)."""
    warnings: list[FileWarning] = []
    interpreter = Interpreter(path, warnings.append)
    events: dict[str, list[Any]] | None = None
    if with_events:
        events = {name: [] for name in EVENT_COLUMNS}
        add = _event_adder(events, with_audio)
        for line, record in iter_records(path, warnings.append):
            frame = interpreter.feed(line, record)
            if frame is not None:
                add(frame)
    else:
        feed = interpreter.feed
        for line, record in iter_records(path, warnings.append):
            feed(line, record)
    warnings.sort(key=lambda w: w.line if w.line is not None else float("inf"))
    return LoadedSession(interpreter.finish(), warnings, events)


def interpret_files(
    files: Sequence[str],
    sizes: Sequence[int],
    *,
    with_events: bool = False,
    with_audio: bool = False,
    on_progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> Iterator[LoadedSession]:
    """Each file interpreted, in the order given (see the module docstring)."""
    total = sum(sizes)
    done = 0
    if on_progress is not None:
        on_progress(0, total)
    count = _worker_count(len(files), total, workers)
    if count <= 1:
        for path, size in zip(files, sizes, strict=True):
            loaded = interpret_file(path, with_events, with_audio)
            done += size
            if on_progress is not None:
                on_progress(done, total)
            yield loaded
        return
    with ProcessPoolExecutor(count, mp_context=_context()) as pool:
        futures: list[Future[LoadedSession]] = [
            pool.submit(interpret_file, path, with_events, with_audio) for path in files
        ]
        for future, size in zip(futures, sizes, strict=True):
            loaded = future.result()
            done += size
            if on_progress is not None:
                on_progress(done, total)
            yield loaded


def _worker_count(files: int, total_bytes: int, wanted: int | None) -> int:
    if wanted is not None:
        return max(1, min(wanted, files))
    if files < 2 or total_bytes < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, files))


def _context() -> multiprocessing.context.BaseContext:
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
    payload of an append or audio delta, and the `audio` of input_audio parts in items, are
    left out (the key with them)."""
    event = frame.event or {}
    if frame.type == vocab.AUDIO_APPEND and "audio" in event:
        return {key: value for key, value in event.items() if key != "audio"}
    if frame.type == vocab.AUDIO_DELTA and "delta" in event:
        return {key: value for key, value in event.items() if key != "delta"}
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
