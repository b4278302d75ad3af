"""One short, readable, distinct label per session file, the same in every view (pure).

    session_labels(files, names=None) -> {file: label}

`rt stats`, `rt ls`, `rt show` and `rt report` all name a session by this label:

- a name given for the file (`rt report --name FILE=LABEL`, or a `name` in its session line)
  is used as it is;
- otherwise the file's stem: `sessions/ga-push-to-talk.jsonl` reads `ga-push-to-talk`;
- rt names its own files by start time and session id (`20261206T102558.394066Z-0b534222`,
  33 characters that all begin alike); those read `12-06 10:25:58 0b53`: the UTC date and
  time to the second and the first characters of the id, four or as many as tell apart the
  sessions that started in the same second;
- two files with the same stem in different directories (`a/call.jsonl`, `b/call.jsonl`)
  read `a/call` and `b/call`, and failing that, their paths as given.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath

SESSION_SUFFIX = ".jsonl"
MIN_ID_CHARS = 4
RT_FILE_STEM = re.compile(
    r"(?P<year>\d{4})(?P<month>\d\d)(?P<day>\d\d)T(?P<hour>\d\d)(?P<minute>\d\d)(?P<second>\d\d)"
    r"(?:\.\d+)?Z-(?P<id>[0-9A-Za-z]+)"
)


def session_labels(files: Sequence[str], names: Mapping[str, str] | None = None) -> dict[str, str]:
    """The label of each file in `files` (paths or URLs, as the readers list them).

    `names` maps a file to the name it should carry; a key may be the file as listed, its
    name (`call.jsonl`) or its stem (`call`).
    """
    labels: dict[str, str] = {}
    rt_named: dict[str, re.Match[str]] = {}
    for file in dict.fromkeys(files):
        given = _given_name(file, names or {})
        if given is not None:
            labels[file] = given
            continue
        stem = file_stem(file)
        match = RT_FILE_STEM.fullmatch(stem)
        if match is None:
            labels[file] = stem
        else:
            rt_named[file] = match
    labels.update(_timestamp_labels(rt_named))
    labels = _told_apart(labels, names or {})
    return {file: labels[file] for file in dict.fromkeys(files)}


def file_stem(file: str) -> str:
    """`call` for `sessions/call.jsonl` or `s3://bucket/date=…/call.jsonl`."""
    name = PurePosixPath(file.replace("\\", "/").rstrip("/")).name
    return name[: -len(SESSION_SUFFIX)] if name.endswith(SESSION_SUFFIX) else name


def parse_name_option(values: Iterable[str]) -> dict[str, str]:
    """`FILE=LABEL` pairs (as `--name` takes them) as a mapping; ValueError names a bad one."""
    names: dict[str, str] = {}
    for value in values:
        file, sep, label = value.partition("=")
        if not sep or not file.strip() or not label.strip():
            raise ValueError(f"expected FILE=LABEL, not {value!r}")
        names[file.strip()] = label.strip()
    return names


def _given_name(file: str, names: Mapping[str, str]) -> str | None:
    if not names:
        return None
    name = PurePosixPath(file.replace("\\", "/")).name
    for key in (file, name, file_stem(file)):
        if key in names:
            return names[key]
    return None


def _timestamp_labels(matches: Mapping[str, re.Match[str]]) -> dict[str, str]:
    """`MM-DD HH:MM:SS` and the shortest id prefix (at least MIN_ID_CHARS) that tells apart
    the sessions that started in the same second."""
    by_second: dict[str, dict[str, str]] = defaultdict(dict)
    for file, m in matches.items():
        second = f"{m['month']}-{m['day']} {m['hour']}:{m['minute']}:{m['second']}"
        by_second[second][file] = m["id"]
    labels = {}
    for second, ids in by_second.items():
        length = MIN_ID_CHARS
        while len({i[:length] for i in ids.values()}) < len(set(ids.values())):
            length += 1
        labels.update({file: f"{second} {i[:length]}" for file, i in ids.items()})
    return labels


def _told_apart(labels: dict[str, str], names: Mapping[str, str]) -> dict[str, str]:
    """Labels that two files share get their directory in front, or else the whole path."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for file, label in labels.items():
        by_label[label].append(file)
    for label, files in by_label.items():
        if len(files) < 2:
            continue
        parents = {file: _parent_name(file) for file in files}
        distinct = len(set(parents.values())) == len(files) and all(parents.values())
        for file in files:
            if _given_name(file, names) is not None:
                continue  # the user's own name stays as given
            labels[file] = f"{parents[file]}/{label}" if distinct else file
    return labels


def _parent_name(file: str) -> str:
    return PurePosixPath(file.replace("\\", "/")).parent.name
