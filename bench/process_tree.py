"""A process and its descendants (rt's worker processes, socat's per-connection children): their
CPU time and memory, from /proc (Linux)."""

from __future__ import annotations

import os
import re
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def descendants(pid: int) -> list[int]:
    """Every living process below `pid`."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            parents[int(entry)] = int(fields[1])
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        children = [child for child, parent in parents.items() if parent == current]
        found += children
        todo += children
    return found


def tree_cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of `pid` and its descendants, living or reaped."""
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0.0
    for member in [pid, *descendants(pid)]:
        fields = _stat(member)
        if fields is None:
            continue
        # utime + cutime, stime + cstime: with children that ended and were reaped (socat's)
        user += (int(fields[11]) + int(fields[13])) / tick
        system += (int(fields[12]) + int(fields[14])) / tick
    return user, system


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its descendants, living or reaped."""
    user, system = tree_cpu_split(pid)
    return user + system


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, peak RSS) in MB over the process tree (peak: the sum of each one's VmHWM)."""
    rss = peak = 0
    for member in [pid, *descendants(pid)]:
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        rss += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        peak += int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return rss / 1024, peak / 1024
