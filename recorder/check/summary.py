"""The verdicts of a report gathered per check (pure): what the terminal table and the
Markdown summary show, one line per check with its failures under it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from recorder.check.evaluate import ALL, CheckReport, Verdict

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Control characters (an escape sequence from a recording, say) written out as `\\xNN`,
    so a report never drives the terminal or the page that shows it."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match[0]):02x}", text)


@dataclass
class CheckSummary:
    """One check: its verdict over all recordings (if any), and those of each recording."""

    check: str
    kind: str
    source: str
    overall: Verdict | None = None
    recordings: list[Verdict] = field(default_factory=list)

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.recordings if v.outcome == "fail"]

    def count(self, outcome: str) -> int:
        return sum(1 for v in self.recordings if v.outcome == outcome)

    @property
    def outcome(self) -> str:
        verdicts = ([self.overall] if self.overall else []) + self.recordings
        if any(v.outcome == "fail" for v in verdicts):
            return "fail"
        if verdicts and all(v.outcome == "skip" for v in verdicts):
            return "skip"
        return "pass"

    @property
    def expected(self) -> str:
        first = self.overall or (self.recordings[0] if self.recordings else None)
        return "" if first is None else first.expected


def by_check(report: CheckReport) -> list[CheckSummary]:
    """The report's verdicts per check, in the order the checks first appear."""
    summaries: dict[tuple[str, str], CheckSummary] = {}
    for verdict in report.verdicts:
        key = (verdict.kind, verdict.check)
        summary = summaries.setdefault(
            key, CheckSummary(verdict.check, verdict.kind, verdict.source)
        )
        if verdict.scope == ALL:
            summary.overall = verdict
        else:
            summary.recordings.append(verdict)
    return list(summaries.values())


def headline(report: CheckReport) -> str:
    """`PASSED: 30 checks passed, 3 skipped` / `FAILED: 2 of 33 checks failed (…)`."""
    passed, failed, skipped = (report.count(o) for o in ("pass", "fail", "skip"))
    total = passed + failed + skipped
    rest = f"{passed} passed" + (f", {skipped} skipped" if skipped else "")
    if failed:
        return f"FAILED: {failed} of {total} checks failed ({rest})"
    return f"PASSED: {rest}" + (" (nothing was checked)" if not passed else "")


def facts(report: CheckReport) -> list[str]:
    """What was checked against what, and what it cost, one short phrase each."""
    count = len(report.recordings)
    out = [f"{count} recording{'s' if count != 1 else ''}", f"config {report.config}"]
    if report.target:
        out.append(f"replayed at {report.target}")
    if report.run_dir:
        out.append(f"new recordings in {report.run_dir}")
    if report.baseline:
        out.append(f"baseline: {report.baseline}")
    out.append(cost_text(report))
    return out


def cost_text(report: CheckReport) -> str:
    if report.cost_usd is None:
        return "cost unknown"
    text = f"cost ${report.cost_usd:.4f}"
    if report.baseline_cost_usd is not None and report.paired_cost_usd is not None:
        change = report.cost_change_percent
        shown = "n/a" if change is None else f"{change:+.1f}%"
        text += f" (baseline ${report.baseline_cost_usd:.4f}, {shown})"
    return text


def value_range(verdicts: Sequence[Verdict]) -> str:
    """The spread of the values the recordings got, e.g. `383.976 – 602.812`."""
    shown = [v.got for v in verdicts if v.outcome != "skip"]
    values = [v.value for v in verdicts if v.value is not None and v.outcome != "skip"]
    if not shown:
        return ""
    if len(values) == len(shown) and values:
        low = min(range(len(values)), key=lambda i: values[i])
        high = max(range(len(values)), key=lambda i: values[i])
        return shown[low] if low == high else f"{shown[low]} – {shown[high]}"
    return shown[0] if len(set(shown)) == 1 else f"{shown[0]} …"
