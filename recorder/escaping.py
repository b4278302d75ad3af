"""One escaping rule for untrusted text on its way to a terminal or a spreadsheet (pure).

Everything in a session file came off the wire: an event `type`, a transcript, a close reason
may hold ESC sequences that retitle or clear a terminal, and a cell of a CSV file that starts
with `=`, `+`, `-` or `@` is a formula to Excel and LibreOffice.

    escape_control("a\\x1b]0;owned\\x07b")   -> 'a\\\\x1b]0;owned\\\\x07b'   (one printable line)
    json_line_safe('"\\x9b"')               -> '"\\\\u009b"'              (JSON: the same string)
    neutralise_formula("=HYPERLINK(…)")    -> "'=HYPERLINK(…)"
"""

from __future__ import annotations

import re

# C0 controls, DEL, and the C1 controls (0x80-0x9f: some terminals act on them too)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\x{ord(char):02x}"


def escape_control(text: str) -> str:
    """`text` with every control character written as an escape (`\\n`, `\\x1b`), so it prints
    as one line and cannot drive the terminal."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(_escape, text)


_JSON_UNESCAPED = re.compile(r"[\x7f-\x9f]")  # JSON escapes C0 controls itself, not these


def json_line_safe(line: str) -> str:
    """A JSON text with DEL and the C1 controls written as `\\u` escapes too (still valid JSON
    for the same value), so printing it cannot drive a terminal."""
    if not _JSON_UNESCAPED.search(line):
        return line
    return _JSON_UNESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def neutralise_formula(text: str) -> str:
    """A CSV cell that a spreadsheet would run as a formula, made plain text (OWASP's advice: a
    leading apostrophe). Numbers such as `-1.5` are left alone."""
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
