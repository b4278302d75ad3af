"""`rt stats` and `rt export parquet` over a bucket, on a real S3-compatible server on loopback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from rt_cli.main import cli
from test_object_store import BUCKET, ONE_ATTEMPT, LocalS3, local_s3
from test_parquet import SAMPLES, needs_stats_support

from recorder.object_store import register_filesystems
from recorder.parquet import TABLES, export_parquet
from recorder.upload_spool import SessionUploader

pytestmark = pytest.mark.slow  # an S3 server (moto)

pytest.importorskip("s3fs")


@pytest.fixture(scope="module")
def s3_server() -> Iterator[LocalS3]:
    with local_s3() as server:
        yield server


@pytest.fixture
def s3(s3_server: LocalS3) -> LocalS3:
    """The module's S3 server, emptied, with a bucket `rt-test`."""
    return s3_server.fresh()


# three samples keep these tests quick (moto serves S3 from Python): GA with server VAD, the
# beta shape, and errors with rate limits
S3_SAMPLES = (
    "beta-2024-10-01.jsonl",
    "errors-and-rate-limits.jsonl",
    "ga-server-vad-barge-in.jsonl",
)


@pytest.fixture
def samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "sessions").mkdir()
    for name in S3_SAMPLES:
        shutil.copy(SAMPLES / name, tmp_path / "sessions" / name)
    monkeypatch.chdir(tmp_path)
    return Path("sessions")


@pytest.fixture
def uploaded(s3: LocalS3, samples: Path, tmp_path: Path) -> str:
    """The sample sessions uploaded by the spool uploader, as a proxy would leave them."""
    spool = tmp_path / "spool"
    with SessionUploader(f"s3://{BUCKET}/rec/", spool, storage_options=ONE_ATTEMPT) as uploader:
        for path in sorted(samples.glob("*.jsonl")):
            uploader.submit(shutil.copy(path, uploader.directory / path.name))
        assert uploader.wait_idle(30)
    return f"s3://{BUCKET}/rec/"


def stats_json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["stats", *args, "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def by_name(report: dict[str, Any]) -> dict[str, Any]:
    """The report with each `file` reduced to its name (the bucket keys differ from the paths)."""
    for section in ("responses", "sessions", "errors"):
        for row in report[section]:
            row["file"] = Path(row["file"]).name
    return report


# -- the export writes to a bucket (no analytics support needed) ---------------------------------


def test_export_into_a_bucket_is_read_back_by_duckdb(s3: LocalS3, samples: Path) -> None:
    result = export_parquet([samples], f"s3://{BUCKET}/pq/")
    assert result.sessions == len(S3_SAMPLES)
    keys = s3.keys(f"{BUCKET}/pq")
    assert f"{BUCKET}/pq/_rt_dataset.json" in keys
    for table in TABLES:
        assert any(key.startswith(f"{BUCKET}/pq/{table}/date=") for key in keys), table
    con = duckdb.connect()
    register_filesystems(con, [f"s3://{BUCKET}/pq/"])
    count = con.execute(
        f"SELECT count(*) FROM read_parquet('s3://{BUCKET}/pq/responses/*/*/*.parquet', hive_partitioning = true)"
    ).fetchone()
    assert count == (len(stats_json(str(samples))["responses"]),)
    # the same command again finds the dataset in the bucket and adds nothing
    again = export_parquet([samples], f"s3://{BUCKET}/pq/")
    assert again.sessions == 0 and len(again.already_exported) == len(S3_SAMPLES)
    assert s3.keys(f"{BUCKET}/pq") == keys


def test_an_unreachable_bucket_is_a_one_line_error(
    s3: LocalS3, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    s3.stop()
    result = CliRunner().invoke(
        cli, ["export", "parquet", str(samples), "--out", f"s3://{BUCKET}/pq/"]
    )
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot read s3://{BUCKET}/pq/_rt_dataset.json: ")
    assert len(result.output.splitlines()) == 1


# -- rt stats reads the bucket -------------------------------------------------------------------


@needs_stats_support
def test_rt_stats_over_session_files_in_a_bucket(uploaded: str, samples: Path) -> None:
    local = by_name(stats_json(str(samples)))
    assert by_name(stats_json(uploaded)) == local
    # a glob over the day partitions the uploader writes
    assert by_name(stats_json(f"s3://{BUCKET}/rec/date=*/*.jsonl")) == local


@needs_stats_support
def test_export_from_a_bucket_into_a_bucket(uploaded: str, samples: Path) -> None:
    """Objects in, objects out, and rt stats over the dataset in the bucket as over the objects."""
    result = export_parquet([uploaded], f"s3://{BUCKET}/pq/")
    assert result.sessions == len(S3_SAMPLES)
    assert stats_json(f"s3://{BUCKET}/pq/") == stats_json(uploaded)


@needs_stats_support
def test_a_damaged_object_is_reported_by_its_url(s3: LocalS3, samples: Path) -> None:
    good = (samples / "beta-2024-10-01.jsonl").read_bytes()
    lines = good.count(b"\n")
    s3.fs().pipe(f"{BUCKET}/rec/cut.jsonl", good + b'{"kind":"frame","seq":99,"t":9')
    result = CliRunner().invoke(cli, ["stats", f"s3://{BUCKET}/rec/", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"warning: s3://{BUCKET}/rec/cut.jsonl:{lines + 1}: incomplete last line (cut off)\n"
    )
    assert json.loads(result.stdout)["summary"]["sessions"] == 1
