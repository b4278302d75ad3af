"""docs/python-api.md is executable: each of its Python blocks runs, from the repository's root,
and the public names it uses are the package's `__all__`."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

import recorder

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "python-api.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_each_example_runs(block: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, str(DOC), "exec"), {"__name__": "__doc_example__"})
    assert out.getvalue(), "every example prints what it shows"


def test_every_public_name_resolves_and_is_documented() -> None:
    text = DOC.read_text()
    for name in recorder.__all__:
        assert getattr(recorder, name) is not None
        if name != "__version__":
            assert name in text, f"docs/python-api.md does not mention {name}"


def test_importing_the_package_imports_nothing_heavy() -> None:
    code = "import recorder, sys; print(' '.join(sorted(m for m in ('duckdb', 'numpy', 'websockets') if m in sys.modules)))"
    import subprocess
    import sys

    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    ).stdout.strip()
    assert found == ""
