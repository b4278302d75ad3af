"""recorder/analytics/facts_cache.py: a finished file is interpreted once; any change to it
(or to rt's rules) means reading it again; the cache never changes an answer."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from recorder.analytics import collect_stats, facts_cache
from recorder.analytics.loading import LoadedSession
from recorder.analytics.loading import interpret_file as interpret_uncached

SAMPLE = Path(__file__).resolve().parent.parent / "sample_sessions" / "ga-function-call.jsonl"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("RT_CACHE_DIR", str(directory))
    monkeypatch.delenv("RT_CACHE", raising=False)
    return directory


def interpret_file(path: str) -> LoadedSession:
    """A file read as `rt stats` reads it: through the cache (RT_CACHE_DIR, RT_CACHE)."""
    return interpret_uncached(path, cache=facts_cache.cache_dir())


def aged_copy(tmp_path: Path) -> Path:
    """A copy of a sample that looks finished (modified a minute ago)."""
    path = tmp_path / "call.jsonl"
    shutil.copyfile(SAMPLE, path)
    old = time.time() - 60
    os.utime(path, (old, old))
    return path


def test_a_finished_file_is_kept_and_read_back_the_same(tmp_path: Path, cache: Path) -> None:
    path = aged_copy(tmp_path)
    first = interpret_file(str(path))
    (entry,) = cache.glob("*.json")
    assert entry.stat().st_mode & 0o077 == 0  # the owner's only
    again = facts_cache.load(str(path), LoadedSession)
    assert again == first  # every fact, warning and count, as computed
    assert collect_stats([path]).to_json() == collect_stats([path]).to_json()


def test_a_changed_file_is_read_again(tmp_path: Path, cache: Path) -> None:
    path = aged_copy(tmp_path)
    before = interpret_file(str(path))
    lines = path.read_text().splitlines(keepends=True)
    dropped = [line for line in lines if '"response.done"' not in line]
    path.write_text("".join(dropped))
    old = time.time() - 30
    os.utime(path, (old, old))
    after = interpret_file(str(path))
    assert [r.done_t for r in after.facts.responses] == [None, None]
    assert [r.done_t for r in before.facts.responses] != [None, None]


def test_recent_files_urls_and_off_are_not_cached(tmp_path: Path, cache: Path, monkeypatch) -> None:
    fresh = tmp_path / "fresh.jsonl"
    shutil.copyfile(SAMPLE, fresh)  # just written: it may still grow
    interpret_file(str(fresh))
    assert not cache.exists() or not list(cache.glob("*.json"))
    monkeypatch.setenv("RT_CACHE", "off")
    interpret_file(str(aged_copy(tmp_path)))
    assert not cache.exists() or not list(cache.glob("*.json"))


def test_a_damaged_or_foreign_entry_is_ignored(tmp_path: Path, cache: Path) -> None:
    path = aged_copy(tmp_path)
    expected = interpret_file(str(path))
    (entry,) = cache.glob("*.json")
    entry.write_text("{not json")
    assert interpret_file(str(path)) == expected
    data = json.loads(entry.read_text())
    data["identity"]["rules"] = "an older rt"
    entry.write_text(json.dumps(data))
    assert facts_cache.load(str(path), LoadedSession) is None


def test_the_same_file_by_another_path_is_named_as_given(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = aged_copy(tmp_path)
    interpret_file(str(path))  # cached under its absolute path
    monkeypatch.chdir(tmp_path)
    again = interpret_file("call.jsonl")  # the same file, from the cache
    assert again.facts.file == "call.jsonl"
    assert all(w.path == "call.jsonl" for w in again.warnings)
    assert [row["file"] for row in collect_stats(["call.jsonl"]).sessions] == ["call.jsonl"]


@pytest.mark.parametrize(
    "sample", sorted(SAMPLE.parent.glob("*.jsonl")), ids=lambda path: path.stem
)
def test_every_sample_reads_back_the_same(sample: Path, tmp_path: Path, cache: Path) -> None:
    """Every kind of fact survives the JSON entry: conversation timing, GPT-Live turns and
    billing, transcription usage, translated audio."""
    path = tmp_path / sample.name
    shutil.copyfile(sample, path)
    old = time.time() - 60
    os.utime(path, (old, old))
    first = interpret_file(str(path))
    assert list(cache.glob("*.json")), "not cached"
    again = facts_cache.load(str(path), LoadedSession)
    assert again == first
