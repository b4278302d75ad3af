"""What a session file says, kept between runs so `rt stats` reads each file once.

A finished recording never changes, so its interpretation (the facts, the warnings its lines
gave) is kept in a small JSON file in the user's cache directory and used again while the
session file is the same: same path, size, modification and change times, inode and device,
and the same interpretation code (a hash of the modules that decide what a file says, so a new
rt or an edited rule never reuses an old answer). A file modified in the last few seconds is
not cached: timestamps are coarser than writes, and it may still be growing.

    RT_CACHE_DIR=/path      where (default: $XDG_CACHE_HOME/rt/facts, ~/.cache/rt/facts)
    RT_CACHE=off            no cache at all

Entries are plain JSON (never pickle), written atomically, readable by their owner only; an
entry that cannot be read or written is ignored (the file is read instead). The frames
themselves (`rt sql`'s events, the Parquet export) are never cached.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import sys
import tempfile
import time
import types
import typing
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from recorder import __version__
from recorder.object_store import is_url

RECENT_SECONDS = 3.0
# the modules whose code decides what a file says
_RULE_MODULES = ("session.py", "reading.py", "vocabulary.py", "interpretation")


def cache_dir() -> Path | None:
    """Where entries live, or None when the cache is off."""
    if os.environ.get("RT_CACHE", "").lower() in ("off", "0", "no", "false"):
        return None
    explicit = os.environ.get("RT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "rt" / "facts"


@cache
def rules_id() -> str:
    """A hash of rt's version and of the code that interprets files."""
    digest = hashlib.sha256(__version__.encode())
    root = resources.files("recorder")
    for name in _RULE_MODULES:
        node = root.joinpath(name)
        files = (
            sorted(
                (child for child in node.iterdir() if child.name.endswith(".py")),
                key=lambda child: child.name,
            )
            if node.is_dir()
            else [node]
        )
        for file in files:
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:24]


def _identity(path: str) -> dict[str, Any] | None:
    """What must not change for an entry to hold; None: not cacheable (a URL, too recent)."""
    if is_url(path):
        return None
    try:
        real = os.path.realpath(path)
        info = os.stat(real)
    except OSError:
        return None
    if time.time() - info.st_mtime < RECENT_SECONDS:
        return None
    return {
        "path": real,
        "size": info.st_size,
        "mtime_ns": info.st_mtime_ns,
        "ctime_ns": info.st_ctime_ns,
        "inode": info.st_ino,
        "device": info.st_dev,
        "rules": rules_id(),
    }


def _entry_path(directory: Path, identity: Mapping[str, Any]) -> Path:
    name = hashlib.sha256(str(identity["path"]).encode()).hexdigest()[:32]
    return directory / f"{name}.json"


_DEFAULT: Any = object()


def load(path: str, kind: type[Any], directory: Path | None = _DEFAULT) -> Any | None:
    """The cached `kind` (a dataclass) for the session file `path`, or None. `directory`:
    where entries live (default: `cache_dir()`; None: no cache)."""
    if directory is _DEFAULT:
        directory = cache_dir()
    identity = _identity(path) if directory is not None else None
    if directory is None or identity is None:
        return None
    try:
        data = orjson.loads(_entry_path(directory, identity).read_bytes())
        if data.get("identity") != identity:
            return None
        value = from_json(kind, data["value"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return value


def store(path: str, value: Any, directory: Path | None = _DEFAULT) -> None:
    """Keep `value` (a dataclass) for the session file `path`; silently skipped on any error."""
    if directory is _DEFAULT:
        directory = cache_dir()
    identity = _identity(path) if directory is not None else None
    if directory is None or identity is None:
        return
    try:
        data = orjson.dumps({"identity": identity, "value": value})
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".entry-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(temporary, _entry_path(directory, identity))
        except BaseException:
            os.unlink(temporary)
            raise
    except (OSError, TypeError, ValueError):
        return


@cache
def _fields_of(kind: type[Any]) -> tuple[tuple[str, Any], ...]:
    """The init fields of a dataclass with their resolved types (resolving costs ~0.5 ms)."""
    hints = typing.get_type_hints(kind)
    return tuple(
        (field.name, hints[field.name]) for field in dataclasses.fields(kind) if field.init
    )


def from_json(kind: Any, data: Any) -> Any:
    """`data` (from orjson) as an instance of `kind`: dataclasses, their optional and tuple
    fields, datetimes and plain values."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        if data is None:
            return None
        options = [option for option in typing.get_args(kind) if option is not type(None)]
        return from_json(options[0], data) if len(options) == 1 else data
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return kind(
            **{name: from_json(hint, data[name]) for name, hint in _fields_of(kind) if name in data}
        )
    if origin is tuple:
        item = typing.get_args(kind)[0]
        return tuple(from_json(item, value) for value in data)
    if origin is list:
        item = typing.get_args(kind)[0]
        return [from_json(item, value) for value in data]
    if kind is dt.datetime:
        return dt.datetime.fromisoformat(data.replace("Z", "+00:00"))
    if kind is float and isinstance(data, int):
        return float(data)
    return data
