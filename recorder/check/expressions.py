"""The expressions of a check config (pure): `ttfb_ms.p95 <= 800`, `errors == 0`,
`cost_usd.per_session.max <= 0.05`, `ttfb_ms.p50 <= +20%`.

    EXPRESSION := METRIC OP LIMIT
    METRIC     := ROWS                       the number of rows: errors, responses, sessions
                | FIELD "." AGGREGATE        a field of the response rows
                | FIELD ".per_session." AGGREGATE   a field of the session rows
    AGGREGATE  := count | sum | mean | min | max | p50 | p90 | p95 | p99 | pN (1 <= N <= 99)
    OP         := <= | < | >= | > | == | !=
    LIMIT      := NUMBER                     an absolute limit on the run checked
                | (+|-) NUMBER %             a change from the baseline run (relative limit)

FIELD is any field the rows have (those of `rt stats --format json`), so a metric added to
the rows can be checked without a change here.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from recorder.check.facts import ROW_KINDS, RowKind

AGGREGATES = ("count", "sum", "mean", "min", "max", "p50", "p90", "p95", "p99")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
    "!=": operator.ne,
}
PER_SESSION = "per_session"

_SHAPE = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<limit>\S.*?)\s*$"
)
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_ABSOLUTE = re.compile(rf"^[+-]?{_NUMBER}$")
_RELATIVE = re.compile(rf"^(?P<sign>[+-])\s*(?P<number>{_NUMBER})\s*%$")
_PERCENTILE = re.compile(r"^p(?P<n>[1-9][0-9]?)$")


class ExpressionError(ValueError):
    """An expression that cannot be read; the message says what is wrong (no location)."""


@dataclass(frozen=True)
class Metric:
    """Which rows, which field, which aggregate. `field` is None for a count of rows."""

    rows: RowKind
    field: str | None
    aggregate: str  # "count" for a count of rows

    def __str__(self) -> str:
        if self.field is None:
            return self.rows
        middle = f".{PER_SESSION}" if self.rows == "sessions" else ""
        return f"{self.field}{middle}.{self.aggregate}"

    @property
    def quantile(self) -> float | None:
        """0.95 for p95; None for the other aggregates."""
        match = _PERCENTILE.match(self.aggregate)
        return int(match["n"]) / 100 if match else None


@dataclass(frozen=True)
class Expectation:
    """One parsed expression. A relative one limits the change from a baseline, in percent."""

    text: str  # as written, whitespace normalised
    metric: Metric
    op: str
    limit: float  # the number, or the percent change for a relative limit
    relative: bool

    def holds(self, value: float, baseline: float | None = None) -> bool:
        """Whether `value` (of the run checked) meets the limit; relative needs `baseline`."""
        return OPERATORS[self.op](value, self.bound(baseline))

    def bound(self, baseline: float | None = None) -> float:
        """The limit in the metric's units: `baseline × (1 + limit/100)` for a relative one."""
        if not self.relative:
            return self.limit
        if baseline is None:
            raise ValueError("a relative limit needs a baseline value")
        return baseline * (1 + self.limit / 100)

    @property
    def limit_text(self) -> str:
        return f"{self.limit:+g}%" if self.relative else f"{self.limit:g}"


def parse_expression(text: str) -> Expectation:
    """`"ttfb_ms.p95 <= 800"` -> Expectation. Raises ExpressionError naming what is wrong."""
    match = _SHAPE.match(text)
    if match is None:
        raise ExpressionError(
            f"cannot read {text!r}: expected METRIC OP LIMIT, e.g. 'ttfb_ms.p95 <= 800'"
        )
    metric = parse_metric(match["metric"])
    op = match["op"]
    limit_text = match["limit"]
    relative = _RELATIVE.match(limit_text)
    if relative is not None:
        sign = -1.0 if relative["sign"] == "-" else 1.0
        limit, is_relative = sign * float(relative["number"]), True
    elif _ABSOLUTE.match(limit_text):
        limit, is_relative = float(limit_text), False
    else:
        raise ExpressionError(
            f"cannot read the limit {limit_text!r} in {text!r}: a number (800, 0.05) "
            "or a signed percentage change from the baseline (+20%, -10%)"
        )
    normalised = f"{match['metric']} {op} {limit_text.replace(' ', '')}"
    return Expectation(normalised, metric, op, limit, is_relative)


def parse_metric(text: str) -> Metric:
    parts = text.split(".")
    if len(parts) == 1:
        if parts[0] in ROW_KINDS:
            return Metric(parts[0], None, "count")  # type: ignore[arg-type]
        raise ExpressionError(
            f"{text!r} needs an aggregate, e.g. '{text}.p95' or '{text}.max' "
            f"(or is it one of {', '.join(ROW_KINDS)}?)"
        )
    if len(parts) == 2 and parts[0] in ROW_KINDS and parts[1] == "count":
        return Metric(parts[0], None, "count")  # type: ignore[arg-type]
    if len(parts) == 2:
        return Metric("responses", parts[0], _aggregate(parts[1], text))
    if len(parts) == 3 and parts[1] == PER_SESSION:
        return Metric("sessions", parts[0], _aggregate(parts[2], text))
    raise ExpressionError(
        f"cannot read the metric {text!r}: FIELD.AGGREGATE (ttfb_ms.p95) or "
        f"FIELD.{PER_SESSION}.AGGREGATE (cost_usd.{PER_SESSION}.max)"
    )


def _aggregate(name: str, metric: str) -> str:
    if name in AGGREGATES or _PERCENTILE.match(name):
        return name
    raise ExpressionError(
        f"unknown aggregate {name!r} in {metric!r}: choose {', '.join(AGGREGATES)} or pN"
    )
