"""A check report as Markdown for a CI job's page (GitHub's step summary, a merge request
comment): the verdict, one table row per check, then every failure with its reason (pure)."""

from __future__ import annotations

import re

from recorder.check.evaluate import CheckReport
from recorder.check.summary import by_check, facts, headline, printable, value_range

_TAG = re.compile(r"<(?=[A-Za-z/!?])")  # what would open an HTML tag; `<= 800` stays as it is
_RESULT = {"pass": "✅ pass", "fail": "❌ FAIL", "skip": "⏭️ skip"}


def markdown_summary(report: CheckReport) -> str:
    lines = [f"## rt check: {headline(report)}", "", " · ".join(_md(f) for f in facts(report))]
    lines += [
        "",
        "| check | expected | all recordings | each recording | result |",
        "|---|---|---|---|---|",
    ]
    for summary in by_check(report):
        overall = summary.overall.got if summary.overall else ""
        if summary.recordings:
            each = f"{summary.count('pass')} pass"
            if summary.count("fail"):
                each += f", {summary.count('fail')} fail"
            if summary.count("skip"):
                each += f", {summary.count('skip')} skip"
            spread = value_range(summary.recordings)
            each += f" ({spread})" if spread else ""
        else:
            each = ""
        lines.append(
            f"| {_md(summary.check)} | {_md(summary.expected)} | {_md(overall)} | {_md(each)} "
            f"| {_RESULT[summary.outcome]} |"
        )
    failures = report.failures
    if failures:
        lines += ["", f"### Failures ({len(failures)})", ""]
        for verdict in failures:
            lines.append(f"- **{_md(verdict.check)}**: {_md(verdict.message)}")
            lines += [f"  - {_md(detail)}" for detail in verdict.details[1:6]]
            if len(verdict.details) > 6:
                lines.append(f"  - … and {len(verdict.details) - 6} more")
    if report.warnings:
        lines += ["", "### Warnings", ""] + [f"- {_md(w)}" for w in report.warnings]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Text in a table cell or list item: no pipes breaking the table, no HTML, one line."""
    flat = " ".join(printable(text).split())
    for char in "\\|*`[]":
        flat = flat.replace(char, "\\" + char)
    return _TAG.sub("&lt;", flat)
