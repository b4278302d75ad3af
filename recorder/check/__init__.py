"""`rt check`: a regression gate over recorded calls.

    config = load_config("rt-check.toml")          config: the model, file:line errors
    checked = observe(session_files(["calls/"]))   observations: rt stats rows, tool calls, words
    report = evaluate(config, checked)             evaluate: one verdict per check and recording
    report.passed; junit_xml(report); markdown_summary(report); report.to_json()

With a baseline: `replay_recordings` (observations) re-sends each recording's client side to a
target, `write_manifest`/`read_origins` (runs) remember which new call replays which
original, `pair_recordings` pairs them, and `evaluate(..., pairs=...)` adds relative limits
and the comparisons of `behaviour` (tool calls, transcript similarity, statuses, error types).

Modules: `expressions` (the threshold language), `config`, `rows` (filters, aggregates),
`facts` (the plain data checks read), `observations` (the only reader of the analytics, the
diff and the replay), `runs`, `behaviour`, `evaluate`, `summary`, `junit`, `markdown`.
"""

from recorder.check.behaviour import similarity
from recorder.check.config import (
    BUILT_IN,
    CONFIG_NAME,
    CheckConfig,
    CheckConfigError,
    Compare,
    Origin,
    Rule,
    default_config,
    load_config,
    parse_config,
)
from recorder.check.evaluate import ALL, CheckReport, Verdict, evaluate, validate_fields
from recorder.check.expressions import Expectation, ExpressionError, Metric, parse_expression
from recorder.check.facts import Observations, ObservedRecording, ReplayOutcome, ToolCall
from recorder.check.junit import junit_xml
from recorder.check.markdown import markdown_summary
from recorder.check.observations import (
    DEFAULT_TIMEOUT,
    observe,
    parse_header,
    replay_recordings,
    session_files,
)
from recorder.check.runs import (
    MANIFEST,
    Pair,
    origins_of,
    pair_recordings,
    read_origins,
    write_manifest,
)

__all__ = [
    "ALL",
    "BUILT_IN",
    "CONFIG_NAME",
    "DEFAULT_TIMEOUT",
    "MANIFEST",
    "CheckConfig",
    "CheckConfigError",
    "CheckReport",
    "Compare",
    "Expectation",
    "ExpressionError",
    "Metric",
    "ObservedRecording",
    "Observations",
    "Origin",
    "Pair",
    "ReplayOutcome",
    "Rule",
    "ToolCall",
    "Verdict",
    "default_config",
    "evaluate",
    "junit_xml",
    "load_config",
    "markdown_summary",
    "observe",
    "origins_of",
    "pair_recordings",
    "parse_config",
    "parse_expression",
    "parse_header",
    "read_origins",
    "replay_recordings",
    "session_files",
    "similarity",
    "validate_fields",
    "write_manifest",
]
