"""Counts in words: `1 session`, `2 sessions`, the same in every message (pure)."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, plural unless `count` is 1 (`plural` for a noun that is not + "s")."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {plural or noun + 's'}"
