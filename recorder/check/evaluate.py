"""The verdicts (pure): every check of a config applied to the recordings of a run, each
recording alone and all together, and compared with a baseline run where there is one.

    report = evaluate(config, checked)                          thresholds only
    report = evaluate(config, checked, pairs=pairs, ...)        and the comparison with a baseline
    report.passed, report.failures, report.to_json()

A failure's message names the recording, the metric and the responses (or errors) that broke
the limit; a check with nothing to measure (no response had audio, say) is skipped, not failed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from recorder.check import behaviour
from recorder.check.config import CheckConfig, CheckConfigError, Rule
from recorder.check.expressions import Expectation, Metric
from recorder.check.facts import Observations, ObservedRecording, ReplayOutcome, Row, RowKind
from recorder.check.rows import NotANumber, aggregate, measured, select
from recorder.check.runs import Pair

Outcome = Literal["pass", "fail", "skip"]
ALL = "all recordings"

_ROW_NAMES: Mapping[RowKind, str] = {
    "responses": "response",
    "sessions": "session",
    "errors": "error",
}


@dataclass(frozen=True)
class Verdict:
    """One check on one recording (or on all of them): what was expected, what was found."""

    check: str  # the check's name: the expression as written (or what is compared)
    kind: (
        str  # threshold, relative, tool_calls, transcript, statuses, error_types, replay, baseline
    )
    scope: str  # the recording, or ALL
    outcome: Outcome
    expected: str
    got: str
    message: str = ""  # one line: for a failure, what broke (recording, response, metric)
    details: tuple[str, ...] = ()
    value: float | None = None
    baseline: float | None = None
    limit: float | None = None
    source: str = ""  # where the check was written (config file:line)

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "kind": self.kind,
            "scope": self.scope,
            "outcome": self.outcome,
            "expected": self.expected,
            "got": self.got,
            "message": self.message,
            "details": list(self.details),
            "value": _finite(self.value),
            "baseline": _finite(self.baseline),
            "limit": _finite(self.limit),
            "source": self.source,
        }


@dataclass(frozen=True)
class CheckReport:
    config: str
    recordings: Sequence[str]  # the recordings checked, by name
    verdicts: Sequence[Verdict]
    baseline: str | None = None  # what the run was compared with (None: no comparison)
    target: str | None = None
    run_dir: str | None = None
    cost_usd: float | None = None  # of the recordings checked
    baseline_cost_usd: float | None = None  # of their baselines (paired recordings only)
    paired_cost_usd: float | None = None  # of the recordings checked that have a baseline
    warnings: Sequence[str] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.outcome == "fail"]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for v in self.verdicts if v.outcome == outcome)

    @property
    def cost_change_percent(self) -> float | None:
        return _percent(self.paired_cost_usd, self.baseline_cost_usd)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "counts": {o: self.count(o) for o in ("pass", "fail", "skip")},
            "config": self.config,
            "recordings": list(self.recordings),
            "baseline": self.baseline,
            "target": self.target,
            "run_dir": self.run_dir,
            "cost": {
                "checked_usd": _finite(self.cost_usd),
                "baseline_usd": _finite(self.baseline_cost_usd),
                "paired_usd": _finite(self.paired_cost_usd),
                "change_percent": _finite(self.cost_change_percent),
            },
            "verdicts": [v.to_json() for v in self.verdicts],
            "warnings": list(self.warnings),
        }


def evaluate(
    config: CheckConfig,
    checked: Observations,
    *,
    pairs: Sequence[Pair] | None = None,
    replays: Sequence[ReplayOutcome] = (),
    names: Mapping[str, str] | None = None,
    baseline: str | None = None,
    target: str | None = None,
    run_dir: str | None = None,
    warnings: Sequence[str] = (),
) -> CheckReport:
    """Apply `config` to the `checked` recordings and, with `pairs`, compare each with its
    baseline. `names` shows a recording under another name (a replay under its original's).

    Raises CheckConfigError (with the line of the expression or filter) for a field the rows
    do not have or a field that holds no numbers.
    """
    validate_fields(config, checked.fields)
    name_map = dict(names or {})

    def name(recording: ObservedRecording) -> str:
        return name_map.get(recording.file, recording.file)

    recordings = list(checked.recordings)
    verdicts: list[Verdict] = [_replay_verdict(o, name_map) for o in replays]
    for rule in config.rules:
        if rule.expectation.relative:
            verdicts += _relative(rule, pairs, name)
        else:
            verdicts += _absolute(rule, recordings, name)
    if pairs is not None:
        verdicts += [
            Verdict(
                "compared with a baseline",
                "baseline",
                name(p.candidate),
                "skip",
                "a baseline recording of the same call",
                "none",
                f"{name(p.candidate)}: no baseline recording of the same call",
            )
            for p in pairs
            if p.baseline is None
        ]
    verdicts += _behaviour(config, pairs, name)
    paired = [p for p in pairs or () if p.baseline is not None]
    return CheckReport(
        config=config.source,
        recordings=[name(r) for r in recordings],
        verdicts=verdicts,
        baseline=baseline,
        target=target,
        run_dir=run_dir,
        cost_usd=_cost(recordings),
        baseline_cost_usd=_cost([p.baseline for p in paired if p.baseline]) if paired else None,
        paired_cost_usd=_cost([p.candidate for p in paired]) if paired else None,
        warnings=tuple(checked.warnings) + tuple(warnings),
    )


def validate_fields(config: CheckConfig, fields: Mapping[RowKind, frozenset[str]]) -> None:
    """Every filter and metric names a field its rows have (CheckConfigError otherwise)."""
    for rule in config.rules:
        metric = rule.expectation.metric
        known = fields[metric.rows]
        for name in rule.where:
            if name not in known:
                raise CheckConfigError(
                    f"cannot filter on {name!r}: {_ROW_NAMES[metric.rows]} rows have no such "
                    f"field (they have {', '.join(sorted(known))})",
                    rule.where_origin,
                )
        if metric.field is not None and metric.field not in known:
            raise CheckConfigError(
                f"unknown metric {metric.field!r} in {rule.expectation.text!r}: "
                f"{_ROW_NAMES[metric.rows]} rows have {', '.join(sorted(known))}",
                rule.origin,
            )


# -- absolute limits ---------------------------------------------------------------------------


def _scopes(
    rule: Rule, recordings: Sequence[ObservedRecording], name: Callable[[ObservedRecording], str]
) -> list[tuple[str, list[ObservedRecording]]]:
    scopes: list[tuple[str, list[ObservedRecording]]] = []
    if rule.scope in ("all", "both") and not (rule.scope == "both" and len(recordings) == 1):
        scopes.append((ALL, list(recordings)))
    if rule.scope in ("recording", "both"):
        scopes += [(name(r), [r]) for r in recordings]
    return scopes


def _absolute(
    rule: Rule, recordings: Sequence[ObservedRecording], name: Callable[[ObservedRecording], str]
) -> list[Verdict]:
    expectation = rule.expectation
    verdicts = []
    for scope, members in _scopes(rule, recordings, name):
        values = _values(rule, members)
        value = aggregate([v for _, v in values], expectation.metric)
        base = partial(
            Verdict,
            check=rule.label,
            kind="threshold",
            scope=scope,
            expected=f"{expectation.op} {expectation.limit_text}",
            limit=expectation.limit,
            source=str(rule.origin),
        )
        if value is None:
            verdicts.append(base(outcome="skip", got="no values", message=_nothing(rule, scope)))
        elif expectation.holds(value):
            verdicts.append(base(outcome="pass", got=_number(value), value=value))
        else:
            offenders = _offenders(
                expectation, values, scope == ALL, name_of=_file_names(members, name)
            )
            message = (
                f"{scope}: {expectation.metric} = {_number(value)}, expected "
                f"{expectation.op} {expectation.limit_text}"
            )
            if offenders:
                message += f"; {_offender_title(expectation.metric)}: {offenders[0]}"
                if len(offenders) > 1:
                    message += f" (and {len(offenders) - 1} more)"
            verdicts.append(
                base(
                    outcome="fail",
                    got=_number(value),
                    value=value,
                    message=message,
                    details=tuple(offenders),
                )
            )
    return verdicts


def _values(rule: Rule, members: Sequence[ObservedRecording]) -> list[tuple[Row, float]]:
    metric = rule.expectation.metric
    rows = select([row for r in members for row in r.rows(metric.rows)], rule.where)
    try:
        return measured(rows, metric)
    except NotANumber as exc:
        raise CheckConfigError(f"{exc} (in {rule.expectation.text!r})", rule.origin) from None


def _nothing(rule: Rule, scope: str) -> str:
    metric = rule.expectation.metric
    return f"{scope}: nothing to measure: no {_ROW_NAMES[metric.rows]} row has a {metric.field}" + (
        " among those the filter selects" if rule.where else ""
    )


def _offender_title(metric: Metric) -> str:
    if metric.field is None:
        return metric.rows
    return "worst" if metric.aggregate in ("max", "min", "mean") else f"worst {metric.rows}"


def _offenders(
    expectation: Expectation,
    values: Sequence[tuple[Row, float]],
    with_file: bool,
    name_of: Callable[[Any], str],
) -> list[str]:
    """The rows that break the limit by themselves, worst first (a count names its rows)."""
    metric = expectation.metric
    if metric.field is None:
        if expectation.op in (">", ">="):
            return []  # too few rows: there is no row to name
        return [_row_name(metric.rows, row, with_file, name_of) for row, _ in values]
    if metric.aggregate in ("count", "sum"):
        return []
    bad = [(row, v) for row, v in values if not expectation.holds(v)]
    bad.sort(key=lambda pair: abs(pair[1] - expectation.limit), reverse=True)
    return [f"{_row_name(metric.rows, row, with_file, name_of)} {_number(v)}" for row, v in bad]


def _row_name(kind: RowKind, row: Row, with_file: bool, name_of: Callable[[Any], str]) -> str:
    where = f" in {name_of(row.get('file'))}" if with_file else ""
    if kind == "responses":
        return f"{row.get('response_id')}{where}"
    if kind == "errors":
        t = row.get("t")
        at = f" at {t:.3f} s" if isinstance(t, (int, float)) else ""
        return f"{behaviour.error_type(row)}{at}{where}"
    return f"{name_of(row.get('file'))}"


def _file_names(
    members: Sequence[ObservedRecording], name: Callable[[ObservedRecording], str]
) -> Callable[[Any], str]:
    by_file = {r.file: name(r) for r in members}
    return lambda file: by_file.get(file, str(file))


# -- relative limits ---------------------------------------------------------------------------


def _relative(
    rule: Rule, pairs: Sequence[Pair] | None, name: Callable[[ObservedRecording], str]
) -> list[Verdict]:
    expectation = rule.expectation
    common = partial(Verdict, check=rule.label, kind="relative", source=str(rule.origin))
    if pairs is None:
        return [
            common(
                scope=ALL,
                outcome="skip",
                expected=f"{expectation.op} {expectation.limit_text}",
                got="no baseline",
                message="a relative limit needs a baseline run: --target URL or --baseline DIR",
            )
        ]
    paired = [p for p in pairs if p.baseline is not None]
    scopes: list[tuple[str, list[Pair]]] = []
    if rule.scope in ("all", "both") and len(paired) > (1 if rule.scope == "both" else 0):
        scopes.append((ALL, paired))
    if rule.scope in ("recording", "both"):
        scopes += [(name(p.candidate), [p]) for p in paired]
    verdicts = []
    for scope, members in scopes:
        new_values = _values(rule, [p.candidate for p in members])
        old_values = _values(rule, [p.baseline for p in members if p.baseline is not None])
        new = aggregate([v for _, v in new_values], expectation.metric)
        old = aggregate([v for _, v in old_values], expectation.metric)
        if new is None or old is None:
            side = "the run checked" if new is None else "the baseline"
            verdicts.append(
                common(
                    scope=scope,
                    outcome="skip",
                    expected=f"{expectation.op} {expectation.limit_text}",
                    got="no values",
                    message=f"{_nothing(rule, scope)} in {side}",
                    value=new,
                    baseline=old,
                )
            )
            continue
        bound = expectation.bound(old)
        change = _percent(new, old)
        holds = expectation.holds(new, old)
        expected = f"{expectation.op} {expectation.limit_text} ({_number(bound)})"
        got = f"{_number(new)} ({_signed_percent(change)})"
        message = ""
        details: tuple[str, ...] = ()
        if not holds:
            message = (
                f"{scope}: {expectation.metric} = {_number(new)}, baseline {_number(old)} "
                f"({_signed_percent(change)}), expected {expectation.op} "
                f"{expectation.limit_text} ({_number(bound)})"
            )
            details = tuple(_largest_changes(rule, members, name))
            if details:
                message += f"; largest change: {details[0]}"
        verdicts.append(
            common(
                scope=scope,
                outcome="pass" if holds else "fail",
                expected=expected,
                got=got,
                message=message,
                details=details,
                value=new,
                baseline=old,
                limit=bound,
            )
        )
    return verdicts


def _largest_changes(
    rule: Rule, members: Sequence[Pair], name: Callable[[ObservedRecording], str]
) -> list[str]:
    """Response by response (paired by order), the changes that moved the metric the wrong
    way, largest first."""
    metric = rule.expectation.metric
    if metric.rows != "responses" or metric.field is None:
        return []
    worse_up = rule.expectation.op in ("<=", "<", "==")
    changes: list[tuple[float, str]] = []
    for pair in members:
        assert pair.baseline is not None
        new_rows = select(pair.candidate.responses, rule.where)
        old_rows = select(pair.baseline.responses, rule.where)
        for index, (old, new) in enumerate(zip(old_rows, new_rows, strict=False), start=1):
            a, b = _num(old.get(metric.field)), _num(new.get(metric.field))
            if a is None or b is None:
                continue
            delta = b - a
            if (delta > 0) != worse_up or delta == 0:
                continue
            where = f" of {name(pair.candidate)}" if len(members) > 1 else ""
            changes.append(
                (
                    abs(delta),
                    f"response {index}{where} ({new.get('response_id')}, was "
                    f"{old.get('response_id')}): {metric.field} {_number(a)} → "
                    f"{_number(b)} ({delta:+.1f})",
                )
            )
    changes.sort(key=lambda pair: pair[0], reverse=True)
    return [text for _, text in changes]


# -- what must stay the same -----------------------------------------------------------------


def _behaviour(
    config: CheckConfig, pairs: Sequence[Pair] | None, name: Callable[[ObservedRecording], str]
) -> list[Verdict]:
    compare = config.compare
    checks: list[tuple[str, str, Callable[[ObservedRecording, ObservedRecording], Any]]] = []
    if compare.tool_calls:
        checks.append(
            (
                "tool_calls",
                "tool calls unchanged",
                lambda old, new: behaviour.compare_tool_calls(old.tool_calls, new.tool_calls),
            )
        )
    if compare.transcript_similarity is not None:
        minimum = compare.transcript_similarity
        checks.append(
            (
                "transcript_similarity",
                f"transcript similarity >= {minimum:g}",
                lambda old, new: behaviour.compare_transcripts(
                    old.transcripts, new.transcripts, minimum
                ),
            )
        )
    if compare.statuses:
        checks.append(
            (
                "statuses",
                "response statuses unchanged",
                lambda old, new: behaviour.compare_statuses(old.responses, new.responses),
            )
        )
    if compare.error_types:
        checks.append(
            (
                "error_types",
                "error types unchanged",
                lambda old, new: behaviour.compare_error_types(old.errors, new.errors),
            )
        )
    verdicts = []
    for key, label, compare_one in checks:
        source = str(compare.origins.get(key, config.source))
        if pairs is None:
            verdicts.append(
                Verdict(
                    label,
                    key,
                    ALL,
                    "skip",
                    "the baseline's",
                    "no baseline",
                    "needs a baseline run: --target URL or --baseline DIR",
                    source=source,
                )
            )
            continue
        for pair in pairs:
            if pair.baseline is None:
                continue
            scope = name(pair.candidate)
            finding: behaviour.Finding = compare_one(pair.baseline, pair.candidate)
            verdicts.append(
                Verdict(
                    label,
                    key,
                    scope,
                    "pass" if finding.holds else "fail",
                    finding.expected,
                    finding.got,
                    "" if finding.holds else f"{scope}: {finding.message}",
                    finding.details,
                    value=finding.value,
                    source=source,
                )
            )
    return verdicts


def _replay_verdict(outcome: ReplayOutcome, names: Mapping[str, str]) -> Verdict:
    scope = names.get(outcome.replay or "", outcome.original)
    sent = f"{outcome.frames_sent}/{outcome.frames_planned} client frames"
    into = "no recording (never connected)" if outcome.replay is None else outcome.replay
    details = (f"replayed at {outcome.target} into {into}",)
    if outcome.stopped is None:
        return Verdict(
            "replay completed",
            "replay",
            scope,
            "pass",
            "all client frames sent",
            sent,
            details=details,
        )
    return Verdict(
        "replay completed",
        "replay",
        scope,
        "fail",
        "all client frames sent",
        sent,
        f"{scope}: {outcome.stopped}",
        details,
    )


# -- numbers ------------------------------------------------------------------------------------


def _cost(recordings: Sequence[ObservedRecording]) -> float | None:
    costs = [_num(row.get("cost_usd")) for r in recordings for row in r.sessions]
    known = [c for c in costs if c is not None]
    return math.fsum(known) if known else None


def _percent(new: float | None, old: float | None) -> float | None:
    if new is None or old is None:
        return None
    if old == 0:
        return 0.0 if new == 0 else math.copysign(math.inf, new)
    return (new - old) / abs(old) * 100


def _signed_percent(value: float | None) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "+inf%" if value > 0 else "-inf%"
    return f"{value:+.1f}%"


def _number(value: float) -> str:
    """A value as reports show it: whole numbers without decimals, others to 3 decimals (or
    6 significant digits below 1: costs)."""
    if math.isinf(value) or math.isnan(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1:
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{value:.6g}"


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _num(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None
