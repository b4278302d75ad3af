"""Object storage (s3://, gs://, az://, …) through fsspec, and the spool that uploads sessions.

    is_url("s3://bucket/prefix/")          a URL for fsspec, not a local path
    open_filesystem(url) -> (fs, path)     the fsspec filesystem for it and the path inside it
    list_files(url, suffix)                objects under a prefix, or matching a glob
    put_verified(fs, local, path)          upload, then check the store holds every byte
    local_copy(url)                        a temporary local copy, for readers of real files
    register_filesystems(con, urls)        let DuckDB's read_ndjson/read_parquet open those URLs

The spool that uploads finished sessions is `recorder.upload_spool`.

The storage libraries are fsspec's own: s3fs for `s3://`, gcsfs for `gs://`, adlfs for `az://`
(optional extras of rt). Credentials come from each library's usual chain (for S3: the
AWS_* variables, including AWS_ENDPOINT_URL, ~/.aws, instance roles) and are never read,
printed or written by rt.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recorder.errors import InputError, RecorderError

# the fsspec implementation of each scheme and rt's extra that installs it, for the message
# when it is missing
STORAGE_PACKAGES: Mapping[str, tuple[str, str]] = {
    "s3": ("s3fs", "s3"),
    "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcs"),
    "gcs": ("gcsfs", "gcs"),
    "az": ("adlfs", "azure"),
    "abfs": ("adlfs", "azure"),
    "abfss": ("adlfs", "azure"),
}
SESSION_SUFFIX = ".jsonl"
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_GLOB_CHARS = frozenset("*?[")
# botocore's default retries inside s3fs's own make an unreachable store take 10-25 s to
# report; three attempts still ride out a blip, and the uploader retries on its own schedule.
# AWS_MAX_ATTEMPTS / AWS_RETRY_MODE, when set, win.
_S3_DEFAULTS: Mapping[str, Any] = {
    "config_kwargs": {"retries": {"max_attempts": 3}, "connect_timeout": 10}
}


class StorageError(RecorderError):
    """An object store operation failed (network, credentials, permissions, missing bucket)."""

    def __init__(self, action: str, url: str, detail: str) -> None:
        self.action = action
        self.url = url
        self.detail = detail
        super().__init__(action, url, detail)

    def __str__(self) -> str:
        return f"cannot {self.action} {self.url}: {self.detail}"


# -- URLs and filesystems ----------------------------------------------------------------------


def is_url(text: str | os.PathLike[str]) -> bool:
    """Whether `text` names an object in storage (`s3://…`) rather than a local path."""
    match = _URL.match(os.fspath(text))
    return match is not None and match.group(1).lower() not in ("file", "local")


def scheme(url: str) -> str:
    match = _URL.match(url)
    return match.group(1).lower() if match else "file"


def open_filesystem(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec filesystem for `url` and the path inside it (InputError if not installed)."""
    try:
        import fsspec
    except ImportError:
        raise InputError(_missing_package(url)) from None
    options: dict[str, Any] = {}
    if scheme(url) in ("s3", "s3a") and not (
        os.environ.get("AWS_MAX_ATTEMPTS") or os.environ.get("AWS_RETRY_MODE")
    ):
        options.update(copy.deepcopy(dict(_S3_DEFAULTS)))  # botocore edits what it is given
    options.update(copy.deepcopy(dict(storage_options or {})))
    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
    except ImportError:
        raise InputError(_missing_package(url)) from None
    except ValueError as exc:  # unknown protocol
        raise InputError(f"{url}: {exc}") from None
    return fs, path


def _missing_package(url: str) -> str:
    known = STORAGE_PACKAGES.get(scheme(url))
    if known is None:
        return f"{url}: {scheme(url)}:// needs fsspec and its package for {scheme(url)}://"
    package, extra = known
    return f"{url}: {scheme(url)}:// needs {package} (pip install 'rt-recorder[{extra}]')"


def join_url(base: str, *parts: str) -> str:
    """`base` with `parts` appended, one slash between each."""
    return "/".join([base.rstrip("/"), *(part.strip("/") for part in parts if part)])


@dataclass(frozen=True)
class RemoteFile:
    url: str
    size: int


def list_files(url: str, suffix: str = SESSION_SUFFIX) -> list[RemoteFile]:
    """Files ending in `suffix` named by `url`, sorted by URL.

    `url` is an object (taken whatever its name), a prefix (every matching object under it,
    recursively) or a glob (`*`, `?`, `[…]`, `**`; a matching prefix stands for the files
    under it). Raises StorageError when the store cannot be listed.
    """
    fs, path = open_filesystem(url)
    protocol = scheme(url)
    try:
        fs.invalidate_cache()  # several proxies write into the same prefix
        if _GLOB_CHARS.intersection(path):
            found: dict[str, int] = {}
            for name, info in fs.glob(path, detail=True).items():
                if info.get("type") == "directory":
                    found.update(_sizes(fs.find(name, detail=True), suffix))
                elif info.get("type") == "file":
                    found[name] = int(info.get("size") or 0)
        elif fs.isfile(path):
            found = {path: int(fs.size(path) or 0)}
        else:
            found = _sizes(fs.find(path, detail=True), suffix)
    except Exception as exc:  # botocore and friends raise their own exception trees
        raise StorageError("list", url, reason_of(exc)) from None
    return [RemoteFile(f"{protocol}://{name}", size) for name, size in sorted(found.items())]


def _sizes(listing: Mapping[str, Mapping[str, Any]], suffix: str) -> dict[str, int]:
    return {
        name: int(info.get("size") or 0)
        for name, info in listing.items()
        if info.get("type") == "file" and name.endswith(suffix)
    }


def put_verified(fs: Any, local: str | os.PathLike[str], path: str) -> int:
    """Upload `local` to `path` on `fs` and check the store holds all of its bytes (OSError if
    not; the library's own errors otherwise); returns the size."""
    size = os.path.getsize(local)
    fs.put_file(os.fspath(local), path)
    fs.invalidate_cache(path)
    stored = int(fs.info(path).get("size") or 0)
    if stored != size:
        raise OSError(f"the store holds {stored} of {size} bytes")
    return size


@contextlib.contextmanager
def local_copy(url: str) -> Iterator[Path]:
    """A temporary local copy of the object at `url` (for readers that need a real file)."""
    fs, path = open_filesystem(url)
    with tempfile.TemporaryDirectory(prefix="rt-remote-") as directory:
        target = Path(directory) / (Path(path).name or "object")
        try:
            fs.get_file(path, os.fspath(target))
        except Exception as exc:
            raise StorageError("download", url, reason_of(exc)) from None
        yield target


def register_filesystems(con: Any, urls: Iterable[str]) -> None:
    """Register with the DuckDB connection `con` the filesystem of each scheme in `urls`.

    DuckDB's httpfs extension cannot always be installed (it is downloaded at run time); an
    fsspec filesystem registered this way lets read_ndjson and read_parquet open the URLs.
    """
    registered = set(con.list_filesystems())
    for protocol in sorted({scheme(url) for url in urls if is_url(url)}):
        fs, _ = open_filesystem(f"{protocol}://")
        name = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        if name not in registered and f"{name}://" not in registered:
            con.register_filesystem(fs)
            registered.add(name)


def reason_of(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
