"""The spool that uploads finished session files to object storage, retried.

    SessionUploader(destination, spool)    finished session files -> the bucket, retried

The uploader keeps every session on local disk until the object store holds all of its
bytes: the proxy writes into a spool slot (`<spool>/slot-N/`, locked by one process at a
time), each finished file is uploaded by a worker thread with exponential backoff, and a
proxy that starts takes over what stopped proxies left in their slots. So several proxies
can write into one bucket, and a crash or an outage loses nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import heapq
import itertools
import json
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from recorder.errors import InputError
from recorder.object_store import (
    SESSION_SUFFIX,
    is_url,
    open_filesystem,
    put_verified,
    reason_of,
)

SLOT_PREFIX = "slot-"
LOCK_NAME = ".lock"


# -- the spool ---------------------------------------------------------------------------------


def default_spool_root(destination: str) -> Path:
    """`<user cache>/rt/spool/<destination, made a directory name>`."""
    if sys.platform == "win32":
        cache = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        cache = Path.home() / "Library" / "Caches"
    else:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", destination).strip("_")[:80]
    digest = hashlib.sha256(destination.encode()).hexdigest()[:8]
    return cache / "rt" / "spool" / f"{readable}-{digest}"


class _SlotLock:
    """An exclusive, non-blocking lock on `<slot>/.lock`, held while the file stays open."""

    def __init__(self, slot: Path) -> None:
        self.slot = slot
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        self.slot.mkdir(mode=0o700, parents=True, exist_ok=True)
        file = open(self.slot / LOCK_NAME, "a+b")  # noqa: SIM115 - held until release()
        try:
            _lock_file(file)
        except OSError:
            file.close()
            return False
        file.seek(0)
        file.truncate()
        file.write(str(os.getpid()).encode())
        file.flush()
        self._file = file
        return True

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                _unlock_file(self._file)
            self._file.close()
            self._file = None


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock_file(file: IO[bytes]) -> None:
        file.seek(0)
        msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock_file(file: IO[bytes]) -> None:
        file.seek(0)
        msvcrt.locking(file.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_file(file: IO[bytes]) -> None:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock_file(file: IO[bytes]) -> None:
        fcntl.flock(file.fileno(), fcntl.LOCK_UN)


def object_name(session_file: Path) -> str:
    """Where a session file goes under the destination: `date=YYYY-MM-DD/<file name>`.

    The date is the UTC day the session started (from its `session` line; the file's
    modification time when it has none), so a day's sessions can be listed, analysed and
    exported on their own, and query engines see a Hive partition.
    """
    return f"date={_session_date(session_file)}/{session_file.name}"


def _session_date(session_file: Path) -> str:
    try:
        with open(session_file, "rb") as fh:
            first = json.loads(fh.readline(1 << 20))
        started = str(first["started_at"]) if first.get("kind") == "session" else ""
        if re.match(r"^\d{4}-\d{2}-\d{2}T", started):
            return started[:10]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    try:
        moment = dt.datetime.fromtimestamp(session_file.stat().st_mtime, dt.timezone.utc)
    except OSError:
        moment = dt.datetime.now(dt.timezone.utc)
    return moment.strftime("%Y-%m-%d")


# -- the uploader ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: `first_delay`, then times `factor` up to `max_delay`, ± `jitter`."""

    first_delay: float = 1.0
    max_delay: float = 300.0
    factor: float = 2.0
    jitter: float = 0.2  # a fraction of the delay, so proxies that failed together spread out

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        base = min(self.max_delay, self.first_delay * self.factor ** max(failures - 1, 0))
        spread = (rng or random).uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        return max(0.0, base * (1 + spread))


@dataclass(frozen=True)
class Uploaded:
    """A session file that is now in the object store (and no longer in the spool)."""

    path: Path
    url: str
    size: int
    attempts: int

    def __str__(self) -> str:
        tries = "" if self.attempts == 1 else f" after {self.attempts} attempts"
        return f"uploaded {self.path.name} to {self.url}{tries}"


@dataclass(frozen=True)
class UploadFailed:
    """One failed attempt; the file stays in the spool and is tried again in `retry_in` s."""

    path: Path
    url: str
    attempts: int
    reason: str
    retry_in: float | None  # None: not retried (the uploader is closing)

    def __str__(self) -> str:
        then = (
            f"retrying in {self.retry_in:.0f} s"
            if self.retry_in is not None
            else "kept in the spool for the next start"
        )
        return f"cannot upload {self.path.name} to {self.url} (attempt {self.attempts}): {self.reason}; {then}"


class SessionUploader:
    """Uploads finished session files from a local spool to `destination` (a URL prefix).

        with SessionUploader("s3://bucket/recordings/") as uploader:
            proxy = RecordingProxy(upstream, uploader.directory,
                                   on_session_end=lambda s: uploader.submit(s.path))

    `start()` (or entering the context) locks a free slot of the spool for this process
    (`directory`) and queues every session file left there, or in slots no running process
    holds, by earlier runs. `submit(path)` never blocks. A file is deleted locally only after
    the store reports all of its bytes; a failed attempt is retried with `retry` backoff for
    as long as the uploader runs. `close(timeout)` gives every waiting file one last attempt
    within `timeout` seconds and returns the files left in the spool.

    `on_uploaded` and `on_failed` are called from the worker threads.
    """

    def __init__(
        self,
        destination: str,
        spool: str | os.PathLike[str] | None = None,
        *,
        retry: RetryPolicy | None = None,
        workers: int = 2,
        storage_options: Mapping[str, Any] | None = None,
        on_uploaded: Callable[[Uploaded], None] | None = None,
        on_failed: Callable[[UploadFailed], None] | None = None,
    ) -> None:
        if not is_url(destination):
            raise InputError(f"{destination!r} is not an object store URL (s3://bucket/prefix/)")
        self.destination = destination.rstrip("/") + "/"
        self.spool = Path(spool) if spool is not None else default_spool_root(destination)
        self.retry = retry or RetryPolicy()
        self.on_uploaded = on_uploaded
        self.on_failed = on_failed
        self.uploaded: list[Uploaded] = []
        self.leftovers: list[Path] = []  # what start() found of earlier runs
        self._workers = max(1, workers)
        self._fs, self._root = open_filesystem(self.destination, storage_options)
        self._lock: _SlotLock | None = None
        self._queue: list[tuple[float, int, Path]] = []  # (due, tiebreak, path)
        self._failures: dict[Path, int] = {}
        self._busy: set[Path] = set()
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._closing = False
        self._deadline: float | None = None
        self._threads: list[threading.Thread] = []
        self._rng = random.Random()

    @property
    def directory(self) -> Path:
        """This process's spool slot: point the proxy's output here."""
        if self._lock is None:
            raise RuntimeError("SessionUploader.start() has not been called")
        return self._lock.slot

    def url_for(self, path: Path) -> str:
        """The object URL a session file is uploaded to."""
        return self.destination + object_name(path)

    # -- lifetime ------------------------------------------------------------------------------

    def start(self) -> list[Path]:
        """Lock a spool slot, queue what earlier runs left, start the workers; returns that."""
        try:
            self.spool.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the spool directory {self.spool}: {exc}") from None
        self._lock = self._take_slot()
        found = self._adopt_abandoned_slots() + _session_files(self._lock.slot)
        self.leftovers = sorted(set(found))
        for path in self.leftovers:
            self.submit(path)
        for index in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"rt-upload-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return list(self.leftovers)

    def _take_slot(self) -> _SlotLock:
        for index in itertools.count():
            lock = _SlotLock(self.spool / f"{SLOT_PREFIX}{index}")
            try:
                if lock.acquire():
                    return lock
            except OSError as exc:
                raise InputError(f"cannot use the spool directory {lock.slot}: {exc}") from None
        raise AssertionError("unreachable")

    def _adopt_abandoned_slots(self) -> list[Path]:
        """Move the files of slots no running process holds into ours."""
        assert self._lock is not None
        adopted: list[Path] = []
        for slot in sorted(self.spool.glob(f"{SLOT_PREFIX}*")):
            if slot == self._lock.slot or not slot.is_dir():
                continue
            other = _SlotLock(slot)
            try:
                if not other.acquire():
                    continue  # a live proxy uploads its own files
            except OSError:
                continue
            try:
                for path in _session_files(slot):
                    target = self._lock.slot / path.name
                    if target.exists():
                        continue
                    with contextlib.suppress(OSError):
                        path.rename(target)
                        adopted.append(target)
            finally:
                other.release()
        return adopted

    def submit(self, path: str | os.PathLike[str]) -> None:
        """Queue a finished session file for upload (returns at once)."""
        file = Path(path)
        with self._changed:
            if file in self._failures or file in self._busy:
                return
            self._failures[file] = 0
            heapq.heappush(self._queue, (time.monotonic(), next(self._order), file))
            self._changed.notify()

    @property
    def pending(self) -> int:
        """Files submitted and not uploaded yet."""
        with self._changed:
            return len(self._failures)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every submitted file is uploaded; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._failures:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def close(self, timeout: float = 30.0) -> list[Path]:
        """Give waiting files one last attempt within `timeout` s; return the files left."""
        with self._changed:
            self._closing = True
            self._deadline = time.monotonic() + timeout
            # one last attempt each, now, whatever their backoff said
            self._queue = [(0.0, order, path) for _, order, path in self._queue]
            heapq.heapify(self._queue)
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(max(0.0, self._deadline - time.monotonic()) + 1.0)
        with self._changed:
            left = sorted(self._failures)
            self._queue.clear()
        if self._lock is not None:
            self._lock.release()
        return left

    def __enter__(self) -> SessionUploader:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the workers ---------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._next_job()
            if job is None:
                return
            self._attempt(job)

    def _next_job(self) -> Path | None:
        with self._changed:
            while True:
                now = time.monotonic()
                if self._closing and (not self._queue or now >= (self._deadline or now)):
                    self._changed.notify_all()
                    return None
                if self._queue and self._queue[0][0] <= now:
                    _, _, path = heapq.heappop(self._queue)
                    self._busy.add(path)
                    return path
                wait = self._queue[0][0] - now if self._queue else None
                if self._closing and self._deadline is not None:
                    wait = min(wait or 1.0, self._deadline - now)
                self._changed.wait(wait)

    def _attempt(self, path: Path) -> None:
        url = self.url_for(path)
        try:
            size = self._upload(path, url)
        except Exception as exc:  # every failure is retried; none may stop the worker
            self._failed(path, url, reason_of(exc))
            return
        with self._changed:
            attempts = self._failures.pop(path, 0) + 1
            self._busy.discard(path)
            self._changed.notify_all()
        done = Uploaded(path, url, size, attempts)
        self.uploaded.append(done)
        if self.on_uploaded is not None:
            self.on_uploaded(done)

    def _upload(self, path: Path, url: str) -> int:
        if not path.exists():
            raise FileNotFoundError(f"{path} is gone from the spool")
        target = f"{self._root.rstrip('/')}/{url[len(self.destination) :]}"
        size = put_verified(self._fs, path, target)
        path.unlink()
        return size

    def _failed(self, path: Path, url: str, reason: str) -> None:
        with self._changed:
            failures = self._failures.get(path, 0) + 1
            self._busy.discard(path)
            if not path.exists():  # nothing left to upload: forget it
                self._failures.pop(path, None)
                self._changed.notify_all()
                retry_in = None
            elif self._closing:
                self._failures[path] = failures
                retry_in = None
            else:
                self._failures[path] = failures
                retry_in = self.retry.delay(failures, self._rng)
                heapq.heappush(self._queue, (time.monotonic() + retry_in, next(self._order), path))
                self._changed.notify_all()
        if self.on_failed is not None:
            self.on_failed(UploadFailed(path, url, failures, reason, retry_in))


def _session_files(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.glob(f"*{SESSION_SUFFIX}") if p.is_file())
    except OSError:
        return []
