"""The wheel installs only rt's own top-level names (no generic `cli` package that another
distribution could overwrite), with the data files the library reads at run time."""

from __future__ import annotations

import os
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


def test_the_sample_sessions_are_packaged(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    samples = sorted((ROOT / "sample_sessions").glob("*.jsonl"))
    assert samples
    for sample in samples:
        assert f"recorder/samples/{sample.name}" in names
    assert "recorder/samples/README.md" in names
    assert not any(name.startswith("recorder/samples/speech/") for name in names)


def test_rt_demo_runs_from_anywhere_after_a_plain_install(
    wheel: zipfile.ZipFile, tmp_path: Path
) -> None:
    """The wheel installed on its own (its dependencies from this environment), run from a
    directory with no sample_sessions/ in it."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
        + [str(wheel.filename)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = "import recorder, sys; print(recorder.__file__, file=sys.stderr)"
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert where.stderr.startswith(str(target)), where.stderr  # the installed copy, not ours
    done = subprocess.run(
        [sys.executable, "-m", "rt_cli.main", "demo", "--fast"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"from the samples installed with rt, in {target}" in done.stderr
    assert len(list((elsewhere / "rt-demo" / "sessions").glob("*.jsonl"))) == 12
    assert (elsewhere / "rt-demo" / "sessions").stat().st_mode & 0o777 == 0o700


def test_test_constraints_fit_the_declared_requirements() -> None:
    """tests/constraints.txt pins what pip would backtrack through; each pin must satisfy what
    pyproject.toml asks of that package, or installing the test extras fails."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pyproject = (ROOT / "pyproject.toml").read_text()
    declared = {}
    for line in pyproject.splitlines():
        text = line.strip().rstrip(",")
        if text.startswith('"') and text.endswith('"') and " " not in text.strip('"'):
            try:
                requirement = Requirement(text.strip('"'))
            except ValueError:
                continue
            declared[canonicalize_name(requirement.name)] = requirement
    pins = [
        Requirement(line)
        for line in (ROOT / "tests" / "constraints.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert pins and {"s3fs", "moto"} <= declared.keys()
    for pin in pins:
        (spec,) = pin.specifier
        assert spec.operator == "==", pin
        wanted = declared.get(canonicalize_name(pin.name))
        if wanted is not None:
            assert wanted.specifier.contains(spec.version), f"{pin} vs {wanted}"
