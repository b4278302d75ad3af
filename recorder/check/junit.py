"""A check report as JUnit XML, the way CI systems read test results (pure).

    <testsuites name="rt check" tests failures errors skipped time>
      <testsuite name="RECORDING" tests failures errors skipped time timestamp>
        <testcase classname="rt-check.RECORDING" name="CHECK" file="RECORDING" time="0">
          <failure message="one line" type="KIND">the details</failure>   (or <skipped message>)
        </testcase>

One testsuite per recording (and one for all recordings together), one testcase per check
in it. Jenkins splits `classname` at its last dot into a package and a class, so the dots of a
recording's name become underscores there; the name itself is kept in the suite's name and
the testcase's `file`. Characters XML cannot hold (control characters from a recording) are
replaced by U+FFFD.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from recorder.check.evaluate import ALL, CheckReport, Verdict

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SUFFIX = ".jsonl"


def junit_xml(report: CheckReport, *, timestamp: str = "", seconds: float = 0.0) -> str:
    """The report as a JUnit XML document (UTF-8 text with its declaration)."""
    scopes: dict[str, list[Verdict]] = {}
    for verdict in report.verdicts:
        scopes.setdefault(verdict.scope, []).append(verdict)
    root = ET.Element("testsuites", _counts(report.verdicts, seconds))
    root.set("name", "rt check")
    for scope, verdicts in scopes.items():
        suite = ET.SubElement(root, "testsuite", {"name": _text(scope)})
        suite.attrib.update(_counts(verdicts, seconds if len(scopes) == 1 else 0.0))
        if timestamp:
            suite.set("timestamp", timestamp)
        properties = ET.SubElement(suite, "properties")
        for name, value in _properties(report):
            ET.SubElement(properties, "property", {"name": name, "value": _text(value)})
        for verdict in verdicts:
            _testcase(suite, verdict)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _testcase(suite: ET.Element, verdict: Verdict) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        {"classname": _classname(verdict.scope), "name": _text(verdict.check), "time": "0"},
    )
    if verdict.scope != ALL:
        case.set("file", _text(verdict.scope))
    said = f"expected {verdict.expected}, got {verdict.got}"
    if verdict.outcome == "fail":
        failure = ET.SubElement(
            case, "failure", {"message": _text(verdict.message), "type": verdict.kind}
        )
        failure.text = _text("\n".join([said, *verdict.details, f"check: {verdict.source}"]))
    elif verdict.outcome == "skip":
        ET.SubElement(case, "skipped", {"message": _text(verdict.message or said)})
    else:
        out = ET.SubElement(case, "system-out")
        out.text = _text("\n".join([said, *verdict.details]))


def _counts(verdicts: Sequence[Verdict], seconds: float) -> dict[str, str]:
    return {
        "tests": str(len(verdicts)),
        "failures": str(sum(1 for v in verdicts if v.outcome == "fail")),
        "errors": "0",
        "skipped": str(sum(1 for v in verdicts if v.outcome == "skip")),
        "time": f"{seconds:.3f}",
    }


def _properties(report: CheckReport) -> list[tuple[str, str]]:
    pairs = [("config", report.config)]
    pairs += [
        (name, value)
        for name, value in (
            ("target", report.target),
            ("baseline", report.baseline),
            ("run_dir", report.run_dir),
        )
        if value
    ]
    return pairs


def _classname(scope: str) -> str:
    name = scope.removesuffix(_SUFFIX) if scope != ALL else "all_recordings"
    return "rt-check." + _text(name).replace(".", "_")


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)
