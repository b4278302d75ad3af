"""Sampling profiles of a running proxy process with py-spy (`pip install py-spy`), for the
benchmarks' `--py-spy` option: where the process's time goes while it is under load, without
slowing it the way cProfile does.

    sampler = await PySpy.attach(pid, seconds=5, gil=True)
    ...  # the load
    print(sampler.summary())
"""

from __future__ import annotations

import asyncio
import collections
import shutil
import sys
import tempfile
from pathlib import Path


def py_spy_binary() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


class PySpy:
    """`py-spy record --format raw` on a process for a fixed time; `summary()` reads the stacks."""

    def __init__(self, process: asyncio.subprocess.Process, output: Path, gil: bool) -> None:
        self.process = process
        self.output = output
        self.gil = gil

    @classmethod
    async def attach(
        cls, pid: int, seconds: float, *, gil: bool = False, rate: int = 250, native: bool = False
    ) -> PySpy:
        binary = py_spy_binary()
        if binary is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        output = Path(tempfile.mkdtemp(prefix="rt-pyspy-")) / "stacks.txt"
        command = [binary, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
        command += ["--duration", str(max(1, round(seconds))), "--output", str(output)]
        command += ["--threads"] + (["--native"] if native else ["--nonblocking"])
        if gil:
            command.append("--gil")
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        return cls(process, output, gil)

    async def wait(self) -> None:
        _, err = await self.process.communicate()
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote nothing: {err.decode().strip()[-300:]}")

    def summary(self, top: int = 18) -> str:
        """Own time (the innermost frame) and total time per function, in % of the samples."""
        own: collections.Counter[str] = collections.Counter()
        total: collections.Counter[str] = collections.Counter()
        samples = 0
        for line in self.output.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not count_text.isdigit():
                continue
            count = int(count_text)
            samples += count
            frames = [_short(f) for f in stack.split(";")]
            own[frames[-1]] += count
            for frame in set(frames):
                total[frame] += count
        if not samples:
            return "  (no samples)"
        what = "holding the GIL" if self.gil else "on CPU or waiting"
        lines = [f"  {samples} samples {what}; own time, then total time, % of samples:"]
        for name, count in own.most_common(top):
            lines.append(
                f"    {100 * count / samples:5.1f}%  {100 * total[name] / samples:5.1f}%  {name}"
            )
        shutil.rmtree(self.output.parent, ignore_errors=True)
        return "\n".join(lines)


def _short(frame: str) -> str:
    """`function (path/to/module.py:123)` -> `function (module.py)`."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({Path(path).name})" if path else name
