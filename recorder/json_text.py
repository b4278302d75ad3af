"""A value read from a session file, written back as compact JSON text (pure).

    to_json({"type": "x", "n": 2**70})   -> '{"type":"x","n":1180591620717411303424}'

The reader (`recorder.reading`) keeps every JSON object orjson accepts (nested up to 1024
levels) and, through the standard library, integers beyond 64 bits. Writing such a value back
must not fail where reading it did not: orjson's encoder stops at 255 levels and at 64-bit
integers, the standard library's at Python's recursion limit (about 1000 levels, less when
the call stack is deep). So: orjson (fast, the common case), else an encoder that keeps its own
stack, so has no depth limit, and takes integers of any size. Both write NaN and infinities as
`null`, as JSON has no spelling for them. Every reader that shows or stores an event as JSON
(`rt show --json`, the timeline's details, `rt sql`'s `event` column, replay) writes it through
here.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def to_json(value: Any) -> str:
    """`value` (JSON types only, as a JSON reader returns them) as compact JSON, not
    ASCII-escaped, however deep it is nested and however large its integers."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError: nested too deeply, or an integer too large
        return _dumps_without_recursion(value)


def _dumps_without_recursion(value: Any) -> str:
    parts: list[str] = []
    # what is left to write, last first: text as it is, or a value to encode
    todo: list[tuple[bool, Any]] = [(False, value)]
    while todo:
        is_text, item = todo.pop()
        if is_text:
            parts.append(item)
        elif isinstance(item, dict):
            steps: list[tuple[bool, Any]] = [(True, "{")]
            for index, (key, child) in enumerate(item.items()):
                steps.append((True, ("," if index else "") + _dumps(str(key)) + ":"))
                steps.append((False, child))
            steps.append((True, "}"))
            todo.extend(reversed(steps))
        elif isinstance(item, list):
            steps = [(True, "[")]
            for index, child in enumerate(item):
                if index:
                    steps.append((True, ","))
                steps.append((False, child))
            steps.append((True, "]"))
            todo.extend(reversed(steps))
        elif isinstance(item, float) and not math.isfinite(item):
            parts.append("null")
        else:
            parts.append(_dumps(item))
    return "".join(parts)
