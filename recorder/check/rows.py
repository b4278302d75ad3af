"""Selecting rows and aggregating a field over them (pure).

Filters and aggregates know no field by name: whatever fields the rows have can be filtered on
and measured. Aggregates skip nulls, as SQL's do; percentiles interpolate linearly between the
two nearest values, as DuckDB's `quantile_cont` does (the `rt stats` summary), so an unfiltered
`ttfb_ms.p95` over all recordings is the `summary.ttfb_ms.p95` that `rt stats` prints.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from recorder.check.expressions import Metric
from recorder.check.facts import Row

Scalar = str | int | float | bool
Where = Mapping[str, tuple[Scalar, ...]]  # field -> the values a row may have there


class NotANumber(ValueError):
    """A field measured with an aggregate other than count holds something that is no number."""

    def __init__(self, field: str, value: Any, row: Row) -> None:
        self.field = field
        self.value = value
        self.row = row
        super().__init__(
            f"{field} is not a number (it holds {value!r}"
            + (f" in {row['file']}" if isinstance(row.get("file"), str) else "")
            + "): only count can measure it"
        )


def select(rows: Iterable[Row], where: Where) -> list[Row]:
    """The rows whose every field in `where` holds one of the values listed for it."""
    if not where:
        return list(rows)
    return [row for row in rows if all(_matches(row.get(f), ok) for f, ok in where.items())]


def _matches(value: Any, accepted: tuple[Scalar, ...]) -> bool:
    # True == 1 in Python; a filter on a boolean field must not match a count of one
    return any(value == a and isinstance(value, bool) == isinstance(a, bool) for a in accepted)


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def measured(rows: Sequence[Row], metric: Metric) -> list[tuple[Row, float]]:
    """Each row with a value for the metric's field, with that value (nulls left out).
    For a count of rows, every row counts with the value 1."""
    if metric.field is None:
        return [(row, 1.0) for row in rows]
    out: list[tuple[Row, float]] = []
    for row in rows:
        value = row.get(metric.field)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if not is_number(value):
            if metric.aggregate == "count":
                out.append((row, 1.0))
                continue
            raise NotANumber(metric.field, value, row)
        out.append((row, float(value)))
    return out


def aggregate(values: Sequence[float], metric: Metric) -> float | None:
    """The metric's aggregate of `values`; None when there is nothing to aggregate (a count
    is then 0 and a sum 0.0: no errors is zero errors)."""
    name = metric.aggregate
    if name == "count":
        return float(len(values))
    if name == "sum":
        return math.fsum(values)
    if not values:
        return None
    if name == "mean":
        return math.fsum(values) / len(values)
    if name == "min":
        return min(values)
    if name == "max":
        return max(values)
    q = metric.quantile
    assert q is not None, f"unknown aggregate {name}"
    return quantile_cont(sorted(values), q)


def quantile_cont(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values, linearly interpolated (DuckDB's `quantile_cont`)."""
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])
