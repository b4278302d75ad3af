"""Parquet datasets written by `rt export parquet`, read back as inputs of `rt stats`/`sql`/`ls`.

    find_dataset("out/") -> ParquetDataset | None      a directory or URL holding one
    load_dataset(db, dataset, first_ordinal)           its rows into the base tables

A dataset holds the very views `rt sql` shows (`events`, `sessions`, `responses`,
`rate_limits`, `errors`), so reading one back is a copy into the base tables
(`tables.BASE_TABLES`): nothing is interpreted again. Costs are the ones computed when the
dataset was written. Format `rt-parquet/2`; an `rt-parquet/1` dataset (written before the
views had their present columns) is read too, its missing columns as null.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from recorder.analytics.tables import BASE_TABLES
from recorder.errors import InputError
from recorder.object_store import StorageError, is_url, join_url, list_files, open_filesystem

if TYPE_CHECKING:
    from recorder.analytics.db import AnalyticsDB

DATASET_FORMAT = "rt-parquet/2"
READABLE_FORMATS = ("rt-parquet/1", DATASET_FORMAT)
MARKER = "_rt_dataset.json"
TABLES = ("events", "sessions", "responses", "rate_limits", "errors")
PARTITION_COLUMNS = ("date", "model")
# view name -> base table
BASE_OF = {
    "sessions": "session_facts",
    "responses": "response_facts",
    "events": "event_facts",
    "rate_limits": "rate_limit_facts",
    "errors": "error_facts",
}


class DatasetError(InputError):
    """A directory or URL that claims to be a dataset but is not one rt can read."""


@dataclass(frozen=True)
class ParquetDataset:
    """An `rt-parquet` dataset at `root` (a local directory or a URL)."""

    root: str
    format: str = DATASET_FORMAT

    def table_root(self, table: str) -> str:
        return join_url(self.root, table) if is_url(self.root) else os.path.join(self.root, table)

    def files(self, table: str) -> list[str]:
        """The Parquet files of `table` (none when it has no rows yet), sorted."""
        root = self.table_root(table)
        if is_url(root):
            return [found.url for found in list_files(root, ".parquet")]
        if not os.path.isdir(root):
            return []
        return sorted(str(path) for path in Path(root).rglob("*.parquet") if path.is_file())


def find_dataset(path: str | os.PathLike[str]) -> ParquetDataset | None:
    """The dataset whose root is `path`, or None when `path` holds none.

    Raises DatasetError when the marker names a format this rt cannot read.
    """
    text = os.fspath(path)
    marker = join_url(text, MARKER) if is_url(text) else os.path.join(text, MARKER)
    content = _read_marker(marker)
    if content is None:
        return None
    try:
        found = json.loads(content).get("format")
    except (ValueError, AttributeError):
        found = None
    if found not in READABLE_FORMATS:
        raise DatasetError(f"{marker}: not an rt-parquet dataset this rt reads (format {found!r})")
    root = text.rstrip("/") if is_url(text) else os.path.normpath(text)
    return ParquetDataset(root, str(found))


def _read_marker(marker: str) -> bytes | None:
    if not is_url(marker):
        try:
            return Path(marker).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise DatasetError(f"cannot read {marker}: {exc}") from None
    fs, path = open_filesystem(marker)
    try:
        fs.invalidate_cache()
        if not fs.exists(path):
            return None
        return bytes(fs.cat_file(path))
    except Exception as exc:
        raise StorageError("read", marker, str(exc).strip().splitlines()[0]) from None


def load_dataset(db: AnalyticsDB, dataset: ParquetDataset, first_ordinal: int) -> int:
    """Add the sessions of `dataset` as inputs numbered from `first_ordinal` (in file order),
    and their rows to the base tables; returns how many inputs it added."""
    sessions = dataset.files("sessions")
    if not sessions:
        return 0
    db.load_parquet("dataset_rows", sessions)
    files = [row["file"] for row in db.rows("dataset_files")]
    db.append_rows("inputs", enumerate(files, start=first_ordinal))
    for view in TABLES:
        files = dataset.files(view)
        if files:
            db.load_parquet("dataset_rows", files)
            db.insert_base_rows(BASE_OF[view], BASE_TABLES[BASE_OF[view]], "dataset_rows")
    return len(files)
