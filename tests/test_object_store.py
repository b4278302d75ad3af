"""Object storage and the upload spool, against a real S3-compatible server on 127.0.0.1 (moto).

`local_s3()` starts moto's server on a free loopback port with dummy credentials and
AWS_ENDPOINT_URL pointing at it, so nothing can reach AWS; the other S3 test modules use it too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import run_bounded, scaled
from scripted_server import Script, ScriptedRealtimeServer
from websockets.asyncio.client import connect

from recorder.errors import InputError
from recorder.object_store import StorageError, is_url, list_files, register_filesystems
from recorder.proxy import RecordingProxy
from recorder.reading import iter_records
from recorder.upload_spool import (
    RetryPolicy,
    SessionUploader,
    Uploaded,
    UploadFailed,
    default_spool_root,
    object_name,
)

pytestmark = pytest.mark.slow  # an S3 server (moto) per test module

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

BUCKET = "rt-test"
FAST_RETRY = RetryPolicy(first_delay=0.05, max_delay=0.2, jitter=0.0)
# one attempt per try: these tests take the store down on purpose
ONE_ATTEMPT = {"config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 5}}
GA_PATH = "/v1/realtime?model=gpt-realtime"


# -- a local S3 ------------------------------------------------------------------------------


@dataclass
class LocalS3:
    """moto's S3 server on 127.0.0.1; `stop()` and `start()` take it down and bring it back
    on the same port with the same buckets (its state lives in this process)."""

    port: int
    server: Any
    running: bool = True

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop()
        self.running = False

    def start(self) -> None:
        self.server = moto_server.ThreadedMotoServer(
            ip_address="127.0.0.1", port=self.port, verbose=False
        )
        self.server.start()
        self.running = True

    def fresh(self) -> LocalS3:
        """Running, with nothing in it but an empty test bucket, for the next test."""
        if not self.running:
            self.start()
        request = urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
        s3fs.S3FileSystem.clear_instance_cache()
        self.make_bucket()
        return self

    def fs(self) -> Any:
        """A fresh client (not the cached one the code under test uses)."""
        return s3fs.S3FileSystem(skip_instance_cache=True)

    def make_bucket(self, name: str = BUCKET) -> str:
        fs = self.fs()
        if not fs.exists(name):
            fs.mkdir(name)
        return name

    def keys(self, prefix: str) -> list[str]:
        fs = self.fs()
        return sorted(fs.find(prefix))

    def read(self, key: str) -> bytes:
        return bytes(self.fs().cat_file(key))


@contextlib.contextmanager
def local_s3() -> Iterator[LocalS3]:
    """A moto S3 server on loopback, with the environment pointing every S3 client at it."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("AWS_"):
                env.delenv(name)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        env.setenv("AWS_CONFIG_FILE", os.devnull)
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        _, port = server.get_host_and_port()
        s3 = LocalS3(port, server)
        env.setenv("AWS_ENDPOINT_URL", s3.endpoint)
        try:
            # moto keeps its buckets in this process, across servers: start from none
            yield s3.fresh()
        finally:
            with contextlib.suppress(Exception):
                s3.server.stop()
            s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="module")
def s3_server() -> Iterator[LocalS3]:
    with local_s3() as server:
        yield server


@pytest.fixture
def s3(s3_server: LocalS3, monkeypatch: pytest.MonkeyPatch) -> LocalS3:
    """The module's S3 server, emptied, with a bucket `rt-test`."""
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    return s3_server.fresh()


def session_file(
    directory: Path, name: str, started_at: str = "2026-11-26T10:00:00.000000Z"
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    lines = [
        {"kind": "session", "format": "rt-session/1", "id": path.stem, "started_at": started_at},
        {
            "kind": "frame",
            "seq": 0,
            "t": 0.1,
            "from": "client",
            "event": {"type": "response.create"},
        },
        {"kind": "close", "t": 0.2, "by": "client", "code": 1000, "reason": ""},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


# -- pure parts ----------------------------------------------------------------------------------


def test_urls_are_told_from_local_paths() -> None:
    assert is_url("s3://bucket/prefix/")
    assert is_url("gs://bucket/x.jsonl")
    assert is_url("az://container/x")
    assert not is_url("sessions/")
    assert not is_url("/tmp/x.jsonl")
    assert not is_url("file:///tmp/x.jsonl")
    assert not is_url(r"C:\sessions\x.jsonl")


def test_object_name_is_the_day_the_session_started(tmp_path: Path) -> None:
    path = session_file(tmp_path, "a.jsonl", started_at="2026-01-02T23:59:59.000001Z")
    assert object_name(path) == "date=2026-01-02/a.jsonl"
    # no session line (a crash before it was flushed, or a hand-written file): the file's day
    bare = tmp_path / "b.jsonl"
    bare.write_text('{"kind":"frame","seq":0,"t":0.1,"from":"cli')
    os.utime(bare, (1767225600, 1767225600))  # 2026-01-01T00:00:00Z
    assert object_name(bare) == "date=2026-01-01/b.jsonl"


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(first_delay=1.0, max_delay=5.0, factor=2.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    jittered = RetryPolicy(first_delay=10.0, jitter=0.2)
    assert all(8.0 <= jittered.delay(1) <= 12.0 for _ in range(50))


def test_default_spool_is_per_destination_under_the_user_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    a = default_spool_root("s3://bucket/a/")
    b = default_spool_root("s3://bucket/b/")
    assert a != b
    if os.name == "posix" and "darwin" not in os.sys.platform:
        assert a.parent == tmp_path / "rt" / "spool"


def test_a_scheme_without_its_package_is_a_one_line_error(tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match=r"gs://.*needs gcsfs"):
            list_files("gs://bucket/prefix/")
    else:
        pytest.skip("gcsfs is installed")


def test_the_destination_must_be_a_url(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not an object store URL"):
        SessionUploader(str(tmp_path), tmp_path / "spool")


# -- listing and DuckDB ------------------------------------------------------------------------


def test_list_files_under_a_prefix_and_by_glob(s3: LocalS3) -> None:
    fs = s3.fs()
    fs.pipe(f"{BUCKET}/rec/date=2026-11-25/a.jsonl", b"{}\n")
    fs.pipe(f"{BUCKET}/rec/date=2026-11-26/b.jsonl", b"{}\n{}\n")
    fs.pipe(f"{BUCKET}/rec/date=2026-11-26/notes.txt", b"x")
    everything = list_files(f"s3://{BUCKET}/rec/")
    assert [(f.url, f.size) for f in everything] == [
        (f"s3://{BUCKET}/rec/date=2026-11-25/a.jsonl", 3),
        (f"s3://{BUCKET}/rec/date=2026-11-26/b.jsonl", 6),
    ]
    assert [f.url for f in list_files(f"s3://{BUCKET}/rec/date=2026-11-2[6]/")] == [
        f"s3://{BUCKET}/rec/date=2026-11-26/b.jsonl"
    ]
    assert [f.url for f in list_files(f"s3://{BUCKET}/rec/*/a.jsonl")] == [
        f"s3://{BUCKET}/rec/date=2026-11-25/a.jsonl"
    ]
    # one object is taken whatever its name
    assert [f.size for f in list_files(f"s3://{BUCKET}/rec/date=2026-11-26/notes.txt")] == [1]
    assert list_files(f"s3://{BUCKET}/nothing-here/") == []


def test_listing_an_unreachable_store_is_a_storage_error(
    s3: LocalS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the user's setting wins over rt's default
    s3fs.S3FileSystem.clear_instance_cache()
    s3.stop()
    with pytest.raises(StorageError, match=r"cannot list s3://rt-test/rec/: "):
        list_files(f"s3://{BUCKET}/rec/")


def test_duckdb_reads_json_lines_and_parquet_from_s3_through_fsspec(
    s3: LocalS3, tmp_path: Path
) -> None:
    fs = s3.fs()
    fs.pipe(f"{BUCKET}/lines/a.jsonl", b'{"kind":"frame","t":1.5}\n{"kind":"frame","t":2.5}\n')
    con = duckdb.connect()
    register_filesystems(con, [f"s3://{BUCKET}/lines/a.jsonl"])
    register_filesystems(con, [f"s3://{BUCKET}/again"])  # registering twice is harmless
    rows = con.execute(
        "SELECT kind, t FROM read_ndjson(?, columns = {'kind': 'VARCHAR', 't': 'DOUBLE'})",
        [[f"s3://{BUCKET}/lines/a.jsonl"]],
    ).fetchall()
    assert rows == [("frame", 1.5), ("frame", 2.5)]
    local = tmp_path / "x.parquet"
    con.execute(f"COPY (SELECT 42 AS answer) TO '{local}' (FORMAT parquet)")
    fs.put_file(str(local), f"{BUCKET}/pq/x.parquet")
    assert con.execute(f"SELECT * FROM read_parquet('s3://{BUCKET}/pq/*.parquet')").fetchall() == [
        (42,)
    ]


# -- the uploader ------------------------------------------------------------------------------


def _collecting(**options: Any) -> tuple[SessionUploader, list[Uploaded], list[UploadFailed]]:
    uploaded: list[Uploaded] = []
    failed: list[UploadFailed] = []
    uploader = SessionUploader(
        options.pop("destination", f"s3://{BUCKET}/rec/"),
        options.pop("spool"),
        retry=options.pop("retry", FAST_RETRY),
        storage_options=options.pop("storage_options", ONE_ATTEMPT),
        on_uploaded=uploaded.append,
        on_failed=failed.append,
        **options,
    )
    return uploader, uploaded, failed


async def _one_call(url: str) -> None:
    async with connect(url + GA_PATH, max_size=None) as ws:
        json.loads(await ws.recv())  # session.created
        await ws.send(json.dumps({"type": "response.create"}))
        while json.loads(await ws.recv())["type"] != "response.done":
            pass


def test_each_session_is_uploaded_when_it_ends(s3: LocalS3, tmp_path: Path) -> None:
    uploader, uploaded, failed = _collecting(spool=tmp_path / "spool")
    fast = Script(created_delay=0, first_delta_delay=0, response_audio_ms=200)

    async def scenario() -> list[Any]:
        with uploader:
            async with (
                ScriptedRealtimeServer(fast) as server,
                RecordingProxy(
                    server.url,
                    uploader.directory,
                    port=0,
                    environ={},
                    on_session_end=lambda summary: uploader.submit(summary.path),
                ) as proxy,
            ):
                for _ in range(2):
                    before = proxy.sessions_finished  # a call may end before its close returns
                    await _one_call(proxy.url)
                    await proxy.wait_for_sessions(before + 1)
                    # uploaded before the next call starts: nothing waits for shutdown
                    assert await _until(lambda: uploader.pending == 0)
                return list(proxy.finished)

    finished = run_bounded(scenario(), scaled(30))
    assert failed == []
    assert [u.path for u in uploaded] == [s.path for s in finished]
    keys = s3.keys(f"{BUCKET}/rec")
    assert keys == sorted(f"{BUCKET}/rec/{object_name_of(s.path, s3)}" for s in finished)
    for summary in finished:
        assert not summary.path.exists()  # gone from the spool once stored
        records = _records(s3.read(f"{BUCKET}/rec/{object_name_of(summary.path, s3)}"), tmp_path)
        kinds = [r["kind"] for r in records]
        assert kinds[:2] == ["session", "open"] and kinds[-1] == "close"
        assert kinds.count("frame") == summary.frames_from_client + summary.frames_from_server
        assert records[0]["id"] == summary.session_id


def object_name_of(path: Path, s3: LocalS3) -> str:
    """The key suffix a session file went to (found in the bucket: the file itself is gone)."""
    matches = [key for key in s3.keys(f"{BUCKET}/rec") if key.endswith("/" + path.name)]
    assert len(matches) == 1, matches
    return matches[0].split(f"{BUCKET}/rec/", 1)[1]


async def _until(condition: Any, timeout: float = 10.0) -> bool:
    import asyncio

    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return bool(condition())


def _records(data: bytes, tmp_path: Path) -> list[dict[str, Any]]:
    copy = tmp_path / "downloaded.jsonl"
    copy.write_bytes(data)
    return [record for _, record in iter_records(copy)]


def test_uploads_are_retried_until_the_store_is_back(s3: LocalS3, tmp_path: Path) -> None:
    uploader, uploaded, failed = _collecting(spool=tmp_path / "spool")
    s3.stop()
    with uploader:
        path = session_file(uploader.directory, "call.jsonl")
        data = path.read_bytes()
        uploader.submit(path)
        deadline = time.monotonic() + scaled(20)
        while len(failed) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(failed) >= 2, "the first attempts should fail while the store is down"
        assert path.exists(), "a file stays in the spool until it is stored"
        assert failed[0].retry_in is not None and failed[0].attempts == 1
        assert "cannot upload call.jsonl to s3://rt-test/rec/date=2026-11-26/call.jsonl" in str(
            failed[0]
        )
        s3.start()
        assert uploader.wait_idle(scaled(20))
    assert s3.read(f"{BUCKET}/rec/date=2026-11-26/call.jsonl") == data
    assert not path.exists()
    assert len(uploaded) == 1 and uploaded[0].attempts == len(failed) + 1
    assert "after" in str(uploaded[0])


def test_a_restart_uploads_what_was_left(s3: LocalS3, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    s3.stop()
    first, _, failed = _collecting(spool=spool)
    with contextlib.ExitStack() as stack:
        first.start()
        stack.callback(first.close, 0.5)
        waiting = session_file(first.directory, "waiting.jsonl")
        first.submit(waiting)
        deadline = time.monotonic() + scaled(10)
        while not failed and time.monotonic() < deadline:
            time.sleep(0.02)
    assert waiting.exists()
    # another proxy was killed mid-call: its slot is unlocked and its last line cut off
    crashed_slot = spool / "slot-7"
    cut = session_file(crashed_slot, "cut.jsonl")
    cut.write_bytes(cut.read_bytes() + b'{"kind":"frame","seq":1,"t":0.3,"from":"ser')
    expected = {"waiting.jsonl": waiting.read_bytes(), "cut.jsonl": cut.read_bytes()}

    s3.start()
    second, uploaded, _ = _collecting(spool=spool)
    with second:
        leftovers = [path.name for path in second.leftovers]
        assert sorted(leftovers) == ["cut.jsonl", "waiting.jsonl"]
        assert second.wait_idle(scaled(20))
    stored = {key.rsplit("/", 1)[1]: s3.read(key) for key in s3.keys(f"{BUCKET}/rec")}
    assert stored == expected  # byte for byte, the cut-off line too
    assert sorted(u.path.name for u in uploaded) == ["cut.jsonl", "waiting.jsonl"]
    assert not list(spool.rglob("*.jsonl"))


def test_running_proxies_keep_their_own_slots(s3: LocalS3, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    a, _, _ = _collecting(spool=spool)
    b, b_uploaded, _ = _collecting(spool=spool)
    with a:
        mine = session_file(a.directory, "a.jsonl")
        with b:
            assert a.directory != b.directory
            assert b.leftovers == []  # A is alive: its files are A's to upload
            assert mine.exists()
            theirs = session_file(b.directory, "b.jsonl")
            b.submit(theirs)
            a.submit(mine)
            assert b.wait_idle(scaled(20))
            assert a.wait_idle(scaled(20))
    assert [u.path.name for u in b_uploaded] == ["b.jsonl"]
    assert [key.rsplit("/", 1)[1] for key in s3.keys(f"{BUCKET}/rec")] == ["a.jsonl", "b.jsonl"]


def test_close_gives_waiting_files_one_last_attempt(s3: LocalS3, tmp_path: Path) -> None:
    slow = RetryPolicy(first_delay=60.0, max_delay=60.0, jitter=0.0)
    uploader, uploaded, failed = _collecting(spool=tmp_path / "spool", retry=slow)
    s3.stop()
    uploader.start()
    path = session_file(uploader.directory, "late.jsonl")
    uploader.submit(path)
    deadline = time.monotonic() + scaled(10)
    while not failed and time.monotonic() < deadline:
        time.sleep(0.02)
    s3.start()  # back, but the next retry is a minute away
    started = time.monotonic()
    left = uploader.close(timeout=scaled(10))
    assert time.monotonic() - started < scaled(10)
    assert left == []
    assert [u.path.name for u in uploaded] == ["late.jsonl"]


def test_close_reports_what_stays_in_the_spool(s3: LocalS3, tmp_path: Path) -> None:
    uploader, _, failed = _collecting(spool=tmp_path / "spool")
    s3.stop()
    uploader.start()
    path = session_file(uploader.directory, "kept.jsonl")
    uploader.submit(path)
    left = uploader.close(timeout=scaled(2))
    assert left == [path] and path.exists()
    assert failed[-1].retry_in is None
    assert str(failed[-1]).endswith("; kept in the spool for the next start")


def test_uploader_threads_stop(s3: LocalS3, tmp_path: Path) -> None:
    before = {t.name for t in threading.enumerate()}
    uploader, _, _ = _collecting(spool=tmp_path / "spool")
    with uploader:
        pass
    leftover = {t.name for t in threading.enumerate() if t.name.startswith("rt-upload")}
    assert not (leftover - before)


# -- rt record --out s3://… --------------------------------------------------------------------


def record_uploads() -> bool:
    """Whether `rt record` takes an object store URL yet (the CLI side of this feature)."""
    from click.testing import CliRunner
    from rt_cli.main import cli

    return "--spool" in CliRunner().invoke(cli, ["record", "--help"]).output


@pytest.mark.skipif(
    not record_uploads(), reason="rt record --out URL not wired yet (cli/record.py patch)"
)
def test_rt_record_uploads_each_session_and_flushes_on_ctrl_c(s3: LocalS3, tmp_path: Path) -> None:
    import asyncio
    import re
    import signal
    import sys

    spool = tmp_path / "spool"

    async def scenario() -> tuple[int, str]:
        async with ScriptedRealtimeServer(Script(created_delay=0, first_delta_delay=0)) as server:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "rt_cli.main",
                "record",
                "--proxy",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                server.url,
                "--out",
                f"s3://{BUCKET}/rec/",
                "--spool",
                str(spool),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=Path(__file__).resolve().parent.parent,
            )
            assert process.stderr is not None and process.stdout is not None
            status: list[str] = []

            async def read_until(pattern: str) -> re.Match[str]:
                while True:
                    line = (await process.stderr.readline()).decode()  # type: ignore[union-attr]
                    assert line, "rt record ended early: " + "".join(status)
                    status.append(line)
                    found = re.search(pattern, line)
                    if found:
                        return found

            url = (await read_until(r"(ws://127\.0\.0\.1:\d+)")).group(1)
            await _one_call(url)
            await read_until(r"uploaded \S+\.jsonl to s3://rt-test/rec/date=")
            process.send_signal(signal.SIGINT)
            stderr_rest = (await process.stderr.read()).decode()
            code = await process.wait()
            return code, "".join(status) + stderr_rest

    code, stderr = run_bounded(scenario(), scaled(60))
    assert code == 0, stderr
    keys = s3.keys(f"{BUCKET}/rec")
    assert len(keys) == 1 and keys[0].endswith(".jsonl")
    assert not list(spool.rglob("*.jsonl"))
    records = _records(s3.read(keys[0]), tmp_path)
    assert records[0]["kind"] == "session" and records[-1]["kind"] == "close"
