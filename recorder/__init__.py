"""rt: record, replay, analyse and export OpenAI Realtime API and GPT-Live sessions.

The public Python API (docs/python-api.md has examples, run by the tests):

    Reading and interpreting a session file
        iter_records(path, on_warning)      (line, record) for every usable line
        interpret_file(path)                SessionFacts: responses, metrics, errors, model, …
        Interpreter(path)                   feed(line, record) -> Frame; finish() -> SessionFacts
    Many sessions at once (DuckDB)
        collect_stats(paths)                StatsReport: what `rt stats` prints
        open_sessions(paths)                the views of `rt sql`; .sql(query) -> DuckDB relation
    Recording
        RecordingProxy(upstream, out_dir)   the recording WebSocket proxy, in your event loop
        Recording(out_dir, …)               record a connection your own code makes, no proxy
    Exporting
        export_wav(path, out_dir)           user, assistant and stereo mix WAV files
        export_parquet(paths, destination)  the views of `rt sql` as a Parquet dataset

The library never imports click, never prints and never exits; the `rt_cli` package does that.
Names load on first use, so `import recorder` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recorder.lazy_names import lazy_names

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "iter_records": "recorder.reading",
    "interpret_file": "recorder.interpretation",
    "Interpreter": "recorder.interpretation",
    "Frame": "recorder.interpretation",
    "SessionFacts": "recorder.interpretation",
    "ResponseFacts": "recorder.interpretation",
    "collect_stats": "recorder.analytics",
    "StatsReport": "recorder.analytics",
    "open_sessions": "recorder.analytics",
    "RecordingProxy": "recorder.proxy",
    "Recording": "recorder.recording",
    "export_wav": "recorder.wav",
    "export_parquet": "recorder.parquet",
    "FileWarning": "recorder.warning_log",
    "RecorderError": "recorder.errors",
    "InputError": "recorder.errors",
}

__all__ = [
    "FileWarning",
    "Frame",
    "InputError",
    "Interpreter",
    "RecorderError",
    "Recording",
    "RecordingProxy",
    "ResponseFacts",
    "SessionFacts",
    "StatsReport",
    "__version__",
    "collect_stats",
    "export_parquet",
    "export_wav",
    "interpret_file",
    "iter_records",
    "open_sessions",
]

if TYPE_CHECKING:
    from recorder.analytics import StatsReport, collect_stats, open_sessions
    from recorder.errors import InputError, RecorderError
    from recorder.interpretation import (
        Frame,
        Interpreter,
        ResponseFacts,
        SessionFacts,
        interpret_file,
    )
    from recorder.parquet import export_parquet
    from recorder.proxy import RecordingProxy
    from recorder.reading import iter_records
    from recorder.recording import Recording
    from recorder.warning_log import FileWarning
    from recorder.wav import export_wav


__getattr__, __dir__ = lazy_names(__name__, _EXPORTS, __all__)
