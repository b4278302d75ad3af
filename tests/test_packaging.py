"""The wheel installs only rt's own top-level names (no generic `cli` package that another
distribution could overwrite), with the data files the library reads at run time."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (built,) = out.glob("*.whl")
    return zipfile.ZipFile(built)


def test_top_level_names_are_rt_own(wheel: zipfile.ZipFile) -> None:
    top = {name.split("/")[0] for name in wheel.namelist() if not name.endswith(".dist-info/")}
    packages = {name for name in top if not name.endswith(".dist-info")}
    assert packages == {"recorder", "rt_cli"}


def test_entry_point_is_the_renamed_cli(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "rt = rt_cli.main:main" in text


def test_runtime_data_files_are_packaged(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "recorder/py.typed" in names
    assert "recorder/pricing.json" in names
    queries = ROOT / "recorder" / "analytics" / "queries"
    for sql in queries.glob("*.sql"):
        assert f"recorder/analytics/queries/{sql.name}" in names
    for module in (ROOT / "cli").glob("*.py"):
        assert f"rt_cli/{module.name}" in names
