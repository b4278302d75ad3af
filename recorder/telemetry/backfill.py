"""`rt export otlp`: the traces of existing recordings, as the live proxy would have sent them.

    result = export_otlp(paths, endpoint, prices=prices, on_progress=..., on_warning=...)

Each file is read through `recorder.reading` and fed to a `SessionWatcher` with the same
`TraceSink` the proxy uses, so a backfilled trace has the same spans, attributes and times
(the recording's `started_at` + `t`) as a live one. Spans go through the same bounded queue;
`close()` waits for it (within `timeout`) and the result says how many the collector took.
Metrics are not backfilled: counters of the past have no meaning to a collector (rt stats and
the Parquet export hold them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from recorder.pricing import PriceTable
from recorder.reading import iter_records
from recorder.telemetry.otlp import OtlpExport
from recorder.telemetry.traces import TraceSink
from recorder.telemetry.watcher import SessionWatcher
from recorder.warning_log import FileWarning

OnProgress = Callable[[str, int, int], None]  # (file, files done, files in all)


@dataclass(frozen=True)
class BackfillResult:
    sessions: int
    responses: int
    spans_sent: int
    spans_dropped: int


def export_otlp(
    files: Iterable[str | os.PathLike[str]],
    endpoint: str,
    *,
    prices: PriceTable,
    on_progress: OnProgress | None = None,
    on_warning: Callable[[FileWarning], None] | None = None,
    timeout: float = 10.0,
    otlp_options: dict[str, object] | None = None,
) -> BackfillResult:
    """Send one trace per session file to the OTLP/HTTP collector at `endpoint`."""
    paths = [os.fspath(path) for path in files]
    # a file may wait for the collector (a dead one: up to `timeout` per span)
    options = {"wait_when_full": timeout, **(otlp_options or {})}
    export = OtlpExport(endpoint, metrics=False, timeout=timeout, **options)  # type: ignore[arg-type]
    sink = TraceSink(export.tracer)
    responses = 0
    try:
        for done, path in enumerate(paths):
            watcher = SessionWatcher(done, [sink], prices, path, on_warning)
            for line, record in iter_records(path, on_warning):
                watcher.feed(line, record)
            responses += len(watcher.finish().responses)
            if on_progress is not None:
                on_progress(path, done + 1, len(paths))
    finally:
        export.close(timeout)
    return BackfillResult(
        sessions=len(paths),
        responses=responses,
        spans_sent=export.spans.sent,
        spans_dropped=export.spans_dropped,
    )
