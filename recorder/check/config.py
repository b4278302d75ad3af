"""The check config (`rt-check.toml`): its model, and a parser whose every error names the
file and line (`load_config`, `parse_config`).

    pricing = "prices.toml"            # optional: prices for cost_usd, beside the built-in ones

    [[checks]]                         # a group of expectations, as many groups as needed
    name = "turn latency"              # optional: shown with each of its checks
    where = { trigger = "input_audio_buffer.speech_stopped" }   # optional: rows to measure
    scope = "both"                     # each recording and all together (or "recording", "all")
    expect = ["ttfb_ms.p95 <= 800", "ttfb_ms.p50 <= +20%"]

    [compare]                          # with a baseline run (--target or --baseline) only
    tool_calls = true                  # the same tool calls (names and argument keys), in order
    transcript_similarity = 0.8        # what the assistant said, at least this similar (0..1)
    statuses = true                    # each response ends with the same status
    error_types = true                 # the same errors (type and code), as many of each

The expressions are read by `expressions.py`; a `where` filter and a metric may name any field
of the rows, which is checked against the recordings' rows when they are read (`evaluate.py`
raises the same CheckConfigError, with the line of the expression or filter).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from recorder.check.expressions import Expectation, ExpressionError, parse_expression
from recorder.check.rows import Scalar, Where
from recorder.errors import InputError

Scope = Literal["recording", "all", "both"]
SCOPES: tuple[Scope, ...] = ("both", "recording", "all")
CONFIG_NAME = "rt-check.toml"
BUILT_IN = "<built-in defaults>"

# What `rt check` checks without a config file (docs/check.md shows it too).
DEFAULT_CONFIG = """\
[[checks]]
expect = ["errors == 0"]

[compare]
tool_calls = true
statuses = true
error_types = true
"""

_TOP_KEYS = ("pricing", "checks", "compare")
_GROUP_KEYS = ("name", "where", "scope", "expect")
_COMPARE_KEYS = ("tool_calls", "transcript_similarity", "statuses", "error_types")


@dataclass(frozen=True)
class Origin:
    """Where something was written: a file and, where known, a line."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"


class CheckConfigError(InputError):
    """A check config that cannot be used; `str()` is `FILE:LINE: reason`."""

    def __init__(self, reason: str, origin: Origin) -> None:
        self.reason = reason
        self.origin = origin
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.origin}: {self.reason}"


@dataclass(frozen=True)
class Rule:
    """One expectation of a `[[checks]]` group, with the group's filter and scope."""

    expectation: Expectation
    where: Where
    scope: Scope
    group: str | None
    origin: Origin  # the line of the expression
    where_origin: Origin  # the line of the filter (or of the group)

    @property
    def label(self) -> str:
        """The check's name in every report: group, expression and filter."""
        text = self.expectation.text
        if self.where:
            text += " where " + " and ".join(_condition(f, v) for f, v in self.where.items())
        return f"{self.group}: {text}" if self.group else text


@dataclass(frozen=True)
class Compare:
    """What must stay the same between a baseline run and the run checked."""

    tool_calls: bool = False
    transcript_similarity: float | None = None
    statuses: bool = False
    error_types: bool = False
    origins: Mapping[str, Origin] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return (
            self.tool_calls
            or self.transcript_similarity is not None
            or self.statuses
            or self.error_types
        )


@dataclass(frozen=True)
class CheckConfig:
    source: str  # the file, or BUILT_IN
    rules: Sequence[Rule]
    compare: Compare
    pricing: Path | None = None


def load_config(path: str | Path) -> CheckConfig:
    """Read and parse a config file. Raises CheckConfigError (file and line) for bad content
    and InputError for a file that cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CheckConfigError(f"not UTF-8 text ({exc.reason})", Origin(str(path))) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the check config: {exc.strerror}") from None
    return parse_config(text, str(path))


def default_config() -> CheckConfig:
    return parse_config(DEFAULT_CONFIG, BUILT_IN)


def parse_config(text: str, source: str) -> CheckConfig:
    """Parse the text of a config; `source` names it in errors (and anchors `pricing`)."""
    data = _toml(text, source)
    lines = _Lines(text, source)
    top = lines.section(None)
    _no_unknown_keys(data, _TOP_KEYS, "the top level", top, lines)
    pricing = None
    if "pricing" in data:
        value = data["pricing"]
        if not isinstance(value, str) or not value:
            raise CheckConfigError("pricing must be a file name", lines.key("pricing", top))
        base = Path(source).parent if source != BUILT_IN else Path(".")
        pricing = base / value
    groups = data.get("checks", [])
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise CheckConfigError(
            "checks must be tables: write each group as [[checks]]", lines.key("checks", top)
        )
    rules = [rule for n, group in enumerate(groups) for rule in _group(group, n, lines)]
    compare = data.get("compare", {})
    if not isinstance(compare, dict):
        raise CheckConfigError("compare must be a table: [compare]", lines.key("compare", top))
    return CheckConfig(source, rules, _compare(compare, lines), pricing)


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        import tomllib as toml  # Python 3.11+
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10 has the tomli dependency
        import tomli as toml  # type: ignore[no-redef]
    try:
        return toml.loads(text)
    except toml.TOMLDecodeError as exc:
        message = str(exc)
        at = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if at is None:  # "(at end of document)": the last line is where it went wrong
            reason = re.sub(r"\s*\(at end of document\)$", "", message)
            last = max(1, len(text.splitlines()))
            return _raise(
                f"not valid TOML: {_lower_first(reason)} at the end of the file",
                Origin(source, last),
            )
        reason = message[: at.start()]
        return _raise(
            f"not valid TOML: {_lower_first(reason)} (column {at[2]})",
            Origin(source, int(at[1])),
        )


def _raise(reason: str, origin: Origin) -> Any:
    raise CheckConfigError(reason, origin)


def _group(group: Mapping[str, Any], index: int, lines: _Lines) -> list[Rule]:
    section = lines.section(("checks", index))
    here = lines.header(section)
    _no_unknown_keys(group, _GROUP_KEYS, "[[checks]]", section, lines)
    name = group.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise CheckConfigError("name must be a non-empty string", lines.key("name", section))
    scope = group.get("scope", "both")
    if scope not in SCOPES:
        raise CheckConfigError(
            f"scope must be one of {', '.join(map(repr, SCOPES))}, not {scope!r}",
            lines.key("scope", section),
        )
    where_origin = lines.key("where", section) if "where" in group else here
    where = _where(group.get("where", {}), where_origin)
    expect = group.get("expect")
    if isinstance(expect, str):
        expect = [expect]
    if not isinstance(expect, list) or not expect or not all(isinstance(e, str) for e in expect):
        origin = lines.key("expect", section) if "expect" in group else here
        raise CheckConfigError(
            'expect must be a list of expressions, e.g. expect = ["ttfb_ms.p95 <= 800"]', origin
        )
    rules: list[Rule] = []
    cursor = lines.cursor(lines.key("expect", section), section)
    for text in expect:
        origin, cursor = lines.find(text, section, cursor)
        try:
            expectation = parse_expression(text)
        except ExpressionError as exc:
            raise CheckConfigError(str(exc), origin) from None
        rules.append(Rule(expectation, where, scope, name, origin, where_origin))
    return rules


def _where(value: Any, origin: Origin) -> Where:
    if not isinstance(value, dict):
        raise CheckConfigError(
            'where must be a table of field = value, e.g. where = { kind = "turn" }', origin
        )
    where: dict[str, tuple[Scalar, ...]] = {}
    for name, accepted in value.items():
        values = accepted if isinstance(accepted, list) else [accepted]
        if not values or not all(isinstance(v, (str, int, float, bool)) for v in values):
            raise CheckConfigError(
                f"where.{name} must be a value or a list of values (string, number, boolean)",
                origin,
            )
        where[name] = tuple(values)
    return where


def _compare(table: Mapping[str, Any], lines: _Lines) -> Compare:
    section = lines.section(("compare", 0))
    _no_unknown_keys(table, _COMPARE_KEYS, "[compare]", section, lines)
    origins = {key: lines.key(key, section) for key in table}
    for key in ("tool_calls", "statuses", "error_types"):
        if key in table and not isinstance(table[key], bool):
            raise CheckConfigError(f"{key} must be true or false", origins[key])
    similarity = table.get("transcript_similarity")
    if similarity is not None and (
        isinstance(similarity, bool)
        or not isinstance(similarity, (int, float))
        or not 0 <= similarity <= 1
    ):
        raise CheckConfigError(
            "transcript_similarity must be a number from 0 to 1, e.g. 0.8",
            origins["transcript_similarity"],
        )
    return Compare(
        tool_calls=table.get("tool_calls", False),
        transcript_similarity=None if similarity is None else float(similarity),
        statuses=table.get("statuses", False),
        error_types=table.get("error_types", False),
        origins=origins,
    )


def _no_unknown_keys(
    table: Mapping[str, Any], known: Sequence[str], where: str, section: range, lines: _Lines
) -> None:
    for key in table:
        if key not in known:
            raise CheckConfigError(
                f"unknown key {key!r} in {where} (expected {', '.join(known)})",
                lines.key(key, section),
            )


def _condition(name: str, values: tuple[Scalar, ...]) -> str:
    shown = [f'"{v}"' if isinstance(v, str) else str(v).lower() for v in values]
    return f"{name} = {shown[0]}" if len(shown) == 1 else f"{name} in [{', '.join(shown)}]"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


# -- where things were written --------------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


class _Lines:
    """Line numbers of tables, keys and strings in the config text.

    tomllib returns values without positions; this finds where a value was written the way a
    reader would: a group's section runs from its header to the next header, a key is the line
    that starts with it, an expression is the first line of its section (after the previous
    one) that holds its text. Where that fails (an escaped string, an inline table) the error
    points at the key or the header instead.
    """

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines = text.splitlines()
        self.headers: list[tuple[int, str]] = []  # (index of the line, table name)
        for index, line in enumerate(self.lines):
            match = _HEADER.match(line)
            if match is not None:
                self.headers.append((index, match[2].strip().strip("\"'")))

    def section(self, table: tuple[str, int] | None) -> range:
        """The lines of the top level (None) or of the n-th table of that name."""
        starts = [index for index, _ in self.headers]
        if table is None:
            return range(0, starts[0] if starts else len(self.lines))
        name, nth = table
        found = [index for index, header in self.headers if header == name]
        if nth >= len(found):
            return range(0, 0)  # an inline table: only the top-level key says where
        start = found[nth]
        end = next((s for s in starts if s > start), len(self.lines))
        return range(start, end)

    def header(self, section: range) -> Origin:
        return Origin(self.source, section.start + 1 if section else None)

    def key(self, key: str, section: range) -> Origin:
        pattern = re.compile(rf"^\s*([\"']?){re.escape(key)}\1\s*[=.]")
        for index in section:
            if pattern.match(self.lines[index]):
                return Origin(self.source, index + 1)
        return self.header(section) if section else Origin(self.source)

    def cursor(self, origin: Origin, section: range) -> tuple[int, int]:
        """Where to start looking for values: the start of `origin`'s line."""
        return (origin.line - 1 if origin.line is not None else section.start, 0)

    def find(
        self, text: str, section: range, cursor: tuple[int, int]
    ) -> tuple[Origin, tuple[int, int]]:
        """The line of `text` at or after `cursor` within `section`, and the cursor after it
        (so the same text written twice is found twice)."""
        line, column = cursor
        for index in range(max(line, section.start), section.stop):
            found = self.lines[index].find(text, column if index == line else 0)
            if found >= 0:
                return Origin(self.source, index + 1), (index, found + len(text))
        fallback = Origin(self.source, line + 1) if section else Origin(self.source)
        return fallback, cursor
