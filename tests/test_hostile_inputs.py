"""Every reader on hostile session files: `rt show`, `rt stats`, `rt export wav`, `rt serve`
(loading the recording) and `rt replay` (sending it, `--fast`, to a scripted server).

Hypothesis takes a real recording (a sample session, its audio runs cut short to keep examples
small) and truncates, garbles, retypes, reorders, duplicates and deletes its lines, and inserts
binary junk. Whatever it makes: no traceback (the CLI runs with `catch_exceptions=False`, so an
exception fails the test), exit status 0 or 1, a warning naming the file and the line for every
line that is not a valid record, and the valid records still used. A 20 MB line (valid, and cut
off) is a test of its own, as are the files with a NaN or an out-of-range `t`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import soundfile as sf
from click.testing import CliRunner, Result
from conftest import scaled
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from otlp_receiver import OtlpReceiver
from rt_cli.main import cli
from scripted_server import Script, ScriptedRealtimeServer
from websockets.asyncio.client import connect

from recorder.errors import InputError, SessionFormatError
from recorder.replay import load_session
from recorder.serve import playbook_from
from recorder.session import decode_line
from recorder.warning_log import FileWarning

pytestmark = pytest.mark.slow  # property tests through every reader, servers included

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_sessions"
AUDIO_TYPES = {
    "input_audio_buffer.append",
    "response.output_audio.delta",
    "response.audio.delta",
    "session.input_audio.append",  # GPT-Live
    "session.output_audio.delta",
}
# RT_HOSTILE_EXAMPLES=500 for a thorough hunt; the suite's default stays fast.
MAX_EXAMPLES = int(os.environ.get("RT_HOSTILE_EXAMPLES", "25"))
EXAMPLES = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def compact(name: str) -> tuple[bytes, ...]:
    """A sample session with each run of audio frames cut to its first two: every kind of
    record and event is still there, in a few dozen lines."""
    kept: list[bytes] = []
    run = 0
    for line in (SAMPLES / name).read_bytes().splitlines():
        record = json.loads(line)
        event = record.get("event") if record.get("kind") == "frame" else None
        if isinstance(event, dict) and event.get("type") in AUDIO_TYPES:
            run += 1
            if run > 2:
                continue
        else:
            run = 0
        kept.append(line)
    return tuple(kept)


BASES = (
    "ga-push-to-talk.jsonl",
    "azure-preview-g711.jsonl",
    "ga-function-call.jsonl",
    "live-websocket.jsonl",  # GPT-Live: its own events, usage in seconds, delegations
)

# -- making hostile files ------------------------------------------------------------------------

KEY_PATHS = (
    ("t",),
    ("seq",),
    ("from",),
    ("kind",),
    ("event",),
    ("text",),
    ("binary",),
    ("id",),
    ("started_at",),
    ("upstream",),
    ("request",),
    ("request", "path"),
    ("request", "headers"),
    ("request", "subprotocols"),
    ("subprotocol",),
    ("response_headers",),
    ("code",),
    ("reason",),
    ("by",),
    ("message",),
    ("event", "type"),
    ("event", "audio"),
    ("event", "delta"),
    ("event", "item_id"),
    ("event", "response_id"),
    ("event", "audio_end_ms"),
    ("event", "audio_start_ms"),
    ("event", "content_index"),
    ("event", "session"),
    ("event", "session", "audio"),
    ("event", "session", "input_audio_format"),
    ("event", "session", "output_audio_format"),
    ("event", "session", "model"),
    ("event", "response"),
    ("event", "response", "id"),
    ("event", "response", "status"),
    ("event", "response", "usage"),
    ("event", "response", "output"),
    ("event", "rate_limits"),
    ("event", "error"),
    ("event", "item"),
    ("event", "usage"),  # GPT-Live
    ("event", "usage", "seconds"),
    ("event", "offset_ms"),
    ("event", "delegation"),
    ("event", "session", "audio", "format"),
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, -1, 1e308, -1e308, 2**63, 1e-300, "", "audio/pcm", "pcm16", "inf"])
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)

# Nested values as JSON text, for what `json.dumps` cannot write: numbers out of range (some
# not JSON at all), integers beyond 64 bits, nesting up to and beyond what readers take.
nested_texts = st.one_of(
    st.sampled_from(["NaN", "-Infinity", "1e400", "-1e999", "1e-400", "-0.0", "5e-324"]),
    st.sampled_from(["1e308", "-1e308", "9223372036854775808", "-9223372036854775809"]),
    st.integers(min_value=-(2**200), max_value=2**200).map(str),
    st.tuples(st.sampled_from(["[", '{"a":']), st.sampled_from([2, 50, 254, 255, 600, 1030])).map(
        lambda shape: shape[0] * shape[1] + "1" + ("]" if shape[0] == "[" else "}") * shape[1]
    ),
    json_values.map(json.dumps),
)

positions = st.floats(min_value=0, max_value=1, exclude_max=True)
operations = st.one_of(
    st.tuples(st.just("truncate"), positions, positions),
    st.tuples(st.just("garble"), positions, positions, st.integers(0, 255)),
    st.tuples(st.just("insert"), positions, st.binary(max_size=200)),
    st.tuples(st.just("retype"), positions, st.sampled_from(KEY_PATHS), json_values),
    st.tuples(st.just("swap"), positions, positions),
    st.tuples(st.just("duplicate"), positions),
    st.tuples(st.just("delete"), positions),
    # any value anywhere in a record (a token count, an audio rate, a close code…)
    st.tuples(st.just("nest"), positions, positions, nested_texts),
    # a key of any object written twice, the hostile value first: every reader takes the last
    st.tuples(st.just("dupkey"), positions, positions, nested_texts),
)


@dataclass
class HostileFile:
    base: str
    lines: list[bytes]  # without their `\n`
    ends_with_newline: bool
    operations: list[tuple[Any, ...]]

    def content(self) -> bytes:
        data = b"\n".join(self.lines)
        return data + b"\n" if self.ends_with_newline and self.lines else data

    def write(self, directory: Path) -> Path:
        path = directory / "hostile.jsonl"
        path.write_bytes(self.content())
        return path


def _retype(line: bytes, key_path: tuple[str, ...], value: Any) -> bytes:
    try:
        record = json.loads(line)
    except ValueError:
        return line
    target = record
    for key in key_path[:-1]:
        inner = target.get(key) if isinstance(target, dict) else None
        if not isinstance(inner, dict):
            break
        target = inner
    if isinstance(target, dict):
        target[key_path[-1]] = value
    return json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass")


_MARK = "\u0000rt-hostile\u0000"


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value inside `value` (keys and list indices), outermost first."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        yield (*prefix, key)
        if isinstance(item, (dict, list)):
            yield from _paths(item, (*prefix, key))


def _nest(line: bytes, where: float, text: str, duplicate: bool) -> bytes:
    """`line` with the value at one of its paths replaced by the JSON `text` (`duplicate`:
    the key written twice instead, `text` first)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return line
    if not isinstance(record, dict):
        return line
    paths = [p for p in _paths(record) if not duplicate or isinstance(p[-1], str)]
    if not paths:
        return line
    path = paths[int(where * len(paths))]
    parent = record
    for key in path[:-1]:
        parent = parent[key]
    if duplicate:  # a marker key first, standing for `"key": text`
        mark = json.dumps(_MARK) + ": null"
        rest = dict(parent)
        parent.clear()
        parent.update({_MARK: None, **rest})
        out = json.dumps(record, ensure_ascii=False)
        return out.replace(mark, json.dumps(path[-1], ensure_ascii=False) + ": " + text).encode(
            "utf-8", "surrogatepass"
        )
    parent[path[-1]] = _MARK
    out = json.dumps(record, ensure_ascii=False)
    return out.replace(json.dumps(_MARK), text).encode("utf-8", "surrogatepass")


def mutate(base: str, ops: list[tuple[Any, ...]], ends_with_newline: bool) -> HostileFile:
    lines = list(compact(base))
    for op in ops:
        if not lines:
            break
        at = int(op[1] * len(lines))
        name = op[0]
        if name == "truncate":
            lines[at] = lines[at][: int(op[2] * len(lines[at]))]
        elif name == "garble" and lines[at]:
            pos = int(op[2] * len(lines[at]))
            lines[at] = lines[at][:pos] + bytes([op[3]]) + lines[at][pos + 1 :]
        elif name == "insert":
            lines.insert(at, op[2].replace(b"\n", b" "))
        elif name == "retype":
            lines[at] = _retype(lines[at], op[2], op[3])
        elif name == "swap":
            other = int(op[2] * len(lines))
            lines[at], lines[other] = lines[other], lines[at]
        elif name == "duplicate":
            lines.insert(at, lines[at])
        elif name == "delete":
            del lines[at]
        elif name in ("nest", "dupkey"):
            lines[at] = _nest(lines[at], op[2], op[3], duplicate=name == "dupkey")
    # A line may now hold a `\n` (a garbled byte): the file is what a reader sees, so split again.
    content = b"\n".join(lines)
    return HostileFile(base, content.split(b"\n"), ends_with_newline, ops)


hostile_files = st.builds(
    mutate,
    st.sampled_from(BASES),
    st.lists(operations, min_size=1, max_size=6),
    st.booleans(),
)


# -- what every reader must do -------------------------------------------------------------------


def bad_lines(path: Path) -> list[int]:
    """The numbers of the non-blank lines that are not valid records, or a `session` header that
    is not the first record (what readers must name)."""
    bad = []
    records = 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                record = decode_line(raw)
            except SessionFormatError:
                bad.append(number)
                continue
            if record["kind"] == "session" and (
                records
                or not re.match(r"^rt-session/\d+$", str(record.get("format", "rt-session/1")))
            ):
                bad.append(number)
                continue
            records += 1
    return bad


INTERPRETATION_NOTICES = re.compile(
    r"^(t goes back|seq .* does not follow|a rate limit of|a token count of|started_at)"
)


def interpretation_notice(warning: FileWarning) -> bool:
    """A warning about what valid records say (time going back, frames renumbered), not a
    skipped line."""
    return bool(INTERPRETATION_NOTICES.match(warning.reason))


def not_json_objects(path: Path) -> list[int]:
    """The numbers of the non-blank lines that are not even JSON objects."""
    bad = []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                ok = not raw.strip() or isinstance(json.loads(raw), dict)
            except ValueError:
                ok = False
            if not ok:
                bad.append(number)
    return bad


def valid_records(path: Path) -> list[dict[str, Any]]:
    records = []
    with open(path, "rb") as fh:
        for raw in fh:
            with contextlib.suppress(SessionFormatError):
                if raw.strip():
                    records.append(decode_line(raw))
    return records


def invoke(*args: str) -> Result:
    """The CLI as a user runs it; an exception escapes and fails the test (no traceback allowed)."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 1:  # a user error: one line on stderr
        assert result.stderr.count("Error: ") == 1, result.stderr
    return result


def assert_names_every_bad_line(path: Path, stderr: str, following: bool = False) -> None:
    """Each bad line is named (`FILE:LINE:`), or, past the first few warnings of the file,
    counted in its summary line (`FILE: N more warnings not shown (lines A-B)`).

    `following`: `rt tail`, for which a last line without a line ending is still being
    written (it is named once the line is complete)."""
    held = [
        (int(m.group(1)), int(m.group(2) or m.group(1)))
        for m in re.finditer(rf"{re.escape(str(path))}: \d+ more warnings? not shown "
                             r"\(lines? (\d+)(?:-(\d+))?\)", stderr)
    ]  # fmt: skip
    unfinished = following and not path.read_bytes().endswith(b"\n")
    for number in bad_lines(path)[: -1 if unfinished else None]:
        covered = any(first <= number <= last for first, last in held)
        assert f"{path}:{number}:" in stderr or covered, f"no warning for line {number}"


@contextlib.contextmanager
def hostile_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rt-hostile-") as directory:
        yield Path(directory)


# -- show --------------------------------------------------------------------------------------


@EXAMPLES
@given(hostile_files)
def test_show_survives_hostile_files(hostile: HostileFile):
    with hostile_dir() as directory:
        path = hostile.write(directory)
        timeline = invoke("show", str(path))
        as_json = invoke("show", str(path), "--json")
        everything = invoke("show", str(path), "--all")
        assert_names_every_bad_line(path, timeline.stderr)
        assert timeline.exit_code == as_json.exit_code == everything.exit_code == 0
        frames = [r for r in valid_records(path) if r["kind"] == "frame"]
        assert len(as_json.stdout.splitlines()) == len(frames)  # every valid frame, no other


# -- stats -------------------------------------------------------------------------------------


@EXAMPLES
@given(hostile_files)
def test_stats_survives_hostile_files(hostile: HostileFile):
    with hostile_dir() as directory:
        path = hostile.write(directory)
        result = invoke("stats", str(path), "--format", "json")
        # the same reader as every other command: each bad line named, or counted in a summary
        assert_names_every_bad_line(path, result.stderr)
        if result.exit_code == 0:
            found = {r["response_id"] for r in json.loads(result.stdout)["responses"]}
            assert intact_responses(hostile) <= found  # the valid records are still used


def intact_responses(hostile: HostileFile) -> set[str]:
    """The base's responses whose `response.created` and `response.done` lines are untouched."""
    intact = set()
    lines = set(hostile.lines)
    for line in compact(hostile.base):
        record = json.loads(line)
        event = record.get("event") or {}
        if event.get("type") == "response.created" and line in lines:
            done = [
                other
                for other in compact(hostile.base)
                if b"response.done" in other and event["response"]["id"].encode() in other
            ]
            if done and all(other in lines for other in done):
                intact.add(event["response"]["id"])
    return intact


def test_stats_on_untouched_compact_bases_counts_every_response():
    for base in BASES:
        hostile = mutate(base, [], True)
        with hostile_dir() as directory:
            path = hostile.write(directory)
            report = json.loads(invoke("stats", str(path), "--format", "json").stdout)
            done = [
                line
                for line in compact(base)
                if b'"type":"response.done"' in line.replace(b" ", b"")
            ]
            if base.startswith("live-"):  # GPT-Live's responses are its turns
                assert report["responses"]
                continue
            assert len(report["responses"]) == len(done) > 0


# -- export wav --------------------------------------------------------------------------------


@functools.cache
def base_wav_frames(base: str) -> dict[str, int]:
    with hostile_dir() as directory:
        path = mutate(base, [], True).write(directory)
        invoke("export", "wav", str(path), "--out", str(directory / "wav"))
        return {
            wav.name.split(".")[-2]: sf.info(str(wav)).frames
            for wav in (directory / "wav").glob("*.wav")
        }


def touches_audio(hostile: HostileFile) -> bool:
    """Whether any line that shapes the audio (formats, appends, deltas, truncation) changed."""
    base = [line for line in compact(hostile.base) if _shapes_audio(line)]
    now = [line for line in hostile.lines if _shapes_audio(line)]
    return base != now


def _shapes_audio(line: bytes) -> bool:
    return any(
        word in line
        for word in (b"audio", b"session", b"truncate", b"response.created", b"response.done")
    )


@EXAMPLES
@given(hostile_files)
def test_export_wav_survives_hostile_files(hostile: HostileFile):
    with hostile_dir() as directory:
        path = hostile.write(directory)
        result = invoke("export", "wav", str(path), "--out", str(directory / "wav"))
        assert_names_every_bad_line(path, result.stderr)
        wavs = {w.name.split(".")[-2]: w for w in (directory / "wav").glob("*.wav")}
        for wav in wavs.values():
            assert sf.info(str(wav)).frames > 0  # a real WAV, read back
        if result.exit_code == 0:
            assert wavs
        if not touches_audio(hostile):  # the audio lines are intact: the same audio comes out
            frames = {name: sf.info(str(w)).frames for name, w in wavs.items()}
            assert frames == base_wav_frames(hostile.base)


# -- serve and replay --------------------------------------------------------------------------


@EXAMPLES
@given(hostile_files)
def test_serve_loads_hostile_files(hostile: HostileFile):
    with hostile_dir() as directory:
        path = hostile.write(directory)
        warnings: list[FileWarning] = []
        recorded = load_session(path, keep_payloads=("server",), on_warning=warnings.append)
        playbook_from(recorded)
        assert [w.line for w in warnings if not interpretation_notice(w)] == bad_lines(path)
        assert all(str(w).startswith(f"{path}:{w.line}: ") for w in warnings)
        frames = [r for r in valid_records(path) if r["kind"] == "frame"]
        assert len(recorded.frames) == len(frames)


@dataclass
class BackgroundServer:
    url: str
    loop: asyncio.AbstractEventLoop


@pytest.fixture(scope="module")
def scripted_upstream() -> Iterator[BackgroundServer]:
    """A scripted Realtime server on its own thread, for the CLI's replays to talk to."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve_forever() -> None:
        stop = asyncio.Event()
        holder["stop"] = stop
        async with ScriptedRealtimeServer(Script(created_delay=0, first_delta_delay=0)) as server:
            holder["url"] = server.url
            ready.set()
            await stop.wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve_forever(),))
    thread.start()
    assert ready.wait(scaled(10))
    yield BackgroundServer(holder["url"], loop)
    loop.call_soon_threadsafe(holder["stop"].set)
    thread.join(scaled(10))
    loop.close()


@settings(
    max_examples=max(5, MAX_EXAMPLES * 4 // 5),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(hostile=hostile_files)
# found in CI: the header's request headers turned into a number (1e400) crashed rt replay
@example(hostile=mutate("ga-push-to-talk.jsonl", [("nest", 0.0, 0.21875, "1e400")], False))
# and a header name that is not HTTP (here "Ā") broke the handshake of the replay
@example(hostile=mutate("ga-push-to-talk.jsonl", [("nest", 0.0, 0.65625, '"\\u0100"')], False))
def test_replay_survives_hostile_files(scripted_upstream: BackgroundServer, hostile: HostileFile):
    target = scripted_upstream.url + "/v1/realtime?model=gpt-realtime"
    with hostile_dir() as directory:
        path = hostile.write(directory)
        result = invoke(
            "replay",
            str(path),
            "--target",
            target,
            "--fast",
            "--pace",
            "timed",
            "--timeout",
            "2",
            "--out",
            str(directory / "out"),
        )
        assert_names_every_bad_line(path, result.stderr)
        client_frames = [
            r for r in valid_records(path) if r["kind"] == "frame" and r["from"] == "client"
        ]
        replays = list((directory / "out").glob("*.jsonl"))
        if client_frames and result.exit_code == 0:
            (replayed,) = replays
            sent = [r for r in valid_records(replayed) if r["kind"] == "frame"]
            assert len([r for r in sent if r["from"] == "client"]) == len(client_frames)


# -- every reader -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def collector() -> Iterator[str]:
    """An OTLP/HTTP collector's URL, for rt export otlp to send its traces to."""
    with OtlpReceiver() as receiver:
        yield receiver.url


@settings(
    max_examples=max(4, MAX_EXAMPLES // 3),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(hostile=hostile_files)
def test_every_reader_survives_hostile_files(
    scripted_upstream: BackgroundServer, collector: str, hostile: HostileFile
):
    """show, tail, stats, sql, ls, diff, export wav, parquet and otlp, report, check, serve and
    replay on the same hostile file: none crashes, each names every bad line, and the valid
    frames are all in `rt sql`'s events."""
    target = scripted_upstream.url + "/v1/realtime?model=gpt-realtime"
    with hostile_dir() as directory:
        path = hostile.write(directory)
        readings = read_everywhere(path, directory, target, collector)
        for name, reading in readings.items():
            if reading.exit_code == 0 or name == "replay":  # a replay may stop, yet it read
                assert_names_every_bad_line(path, reading.stderr, name.startswith("tail"))
        frames = [r for r in valid_records(path) if r["kind"] == "frame"]
        if readings["sql"].exit_code == 0:
            assert len(orjson.loads(readings["sql"].stdout)) == len(frames)
        if readings["show --json"].exit_code == 0:
            assert len(readings["show --json"].stdout.splitlines()) == len(frames)


# -- one 20 MB line, valid and cut off ---------------------------------------------------------

HUGE = 20 * 2**20


@pytest.fixture(scope="module")
def huge_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A compact session with a 20 MB audio append in the middle, and a 20 MB line cut off."""
    lines = list(compact("ga-push-to-talk.jsonl"))
    audio = base64.b64encode(bytes(HUGE * 3 // 4)).decode()
    template = json.loads(next(line for line in lines if b"input_audio_buffer.append" in line))
    template["event"]["audio"] = audio
    huge = json.dumps(template).encode()
    first_append = next(i for i, line in enumerate(lines) if b"input_audio_buffer.append" in line)
    lines.insert(first_append + 1, huge)
    lines.insert(first_append + 2, huge[: len(huge) // 2])  # cut off, mid-base64
    path = tmp_path_factory.mktemp("huge") / "huge.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize(
    "command", ["show", "stats", "sql", "parquet", "export", "serve", "replay"]
)
def test_a_20_mb_line_is_read_and_a_cut_off_one_named(
    command, huge_file, tmp_path, scripted_upstream
):
    cut = bad_lines(huge_file)
    assert len(cut) == 1
    if command in ("sql", "parquet"):
        assert_reads_a_huge_append(huge_file, tmp_path, command, HUGE)
    elif command == "show":
        result = invoke("show", str(huge_file), "--json", "--type", "input_audio_buffer.append")
        assert any(len(line) > HUGE for line in result.stdout.splitlines())
        assert_names_every_bad_line(huge_file, result.stderr)
    elif command == "stats":
        result = invoke("stats", str(huge_file), "--format", "json")
        assert_names_every_bad_line(huge_file, result.stderr)
        assert json.loads(result.stdout)["responses"]
    elif command == "export":
        result = invoke("export", "wav", str(huge_file), "--track", "user", "--out", str(tmp_path))
        assert_names_every_bad_line(huge_file, result.stderr)
        (wav,) = tmp_path.glob("*.user.wav")
        assert sf.info(str(wav)).frames >= HUGE * 3 // 4 // 2  # the 20 MB append's samples
    elif command == "serve":
        warnings: list[FileWarning] = []
        recorded = load_session(huge_file, keep_payloads=("client",), on_warning=warnings.append)
        assert [w.line for w in warnings if not interpretation_notice(w)] == cut
        assert max(f.audio_bytes for f in recorded.frames) == HUGE * 3 // 4
    else:
        target = scripted_upstream.url + "/v1/realtime?model=gpt-realtime"
        result = invoke(
            "replay",
            str(huge_file),
            "--target",
            target,
            "--fast",
            "--pace",
            "timed",
            "--out",
            str(tmp_path),
        )
        assert_names_every_bad_line(huge_file, result.stderr)
        (replayed,) = tmp_path.glob("*.jsonl")
        assert any(len(line) > HUGE for line in replayed.read_bytes().splitlines())


def assert_reads_a_huge_append(path: Path, directory: Path, command: str, size: int) -> None:
    """`rt sql --with-audio` over `events` (each event whole, its audio too) or `rt export
    parquet`: the huge append is a row like any other, its decoded size in `audio_bytes`."""
    sql = "SELECT max(audio_bytes) AS most, max(length(event::VARCHAR)) AS longest FROM events"
    if command == "sql":
        result = invoke("sql", sql, str(path), "--format", "json", "--with-audio")
        assert_names_every_bad_line(path, result.stderr)
    else:
        dataset = directory / "dataset"
        exported = invoke("export", "parquet", str(path), "--out", str(dataset))
        assert exported.exit_code == 0
        assert_names_every_bad_line(path, exported.stderr)
        result = invoke("sql", sql, str(dataset), "--format", "json")
    (row,) = json.loads(result.stdout)
    assert row["most"] == size * 3 // 4
    if command == "sql":
        assert row["longest"] > size  # the base64 audio kept


@pytest.mark.slow
@pytest.mark.parametrize("command", ["sql", "parquet"])
def test_a_100_mb_line_is_read_by_the_duckdb_readers(command, tmp_path):
    """The proxy records frames up to its write budget; a 100 MB one (an image, say) is read
    within DuckDB's memory limit."""
    size = 100 * 2**20
    lines = list(compact("ga-push-to-talk.jsonl"))
    at = next(i for i, line in enumerate(lines) if b"input_audio_buffer.append" in line)
    record = json.loads(lines[at])
    record["event"]["audio"] = base64.b64encode(bytes(size * 3 // 4)).decode()
    lines.insert(at + 1, json.dumps(record).encode())
    path = tmp_path / "huge.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    del record, lines
    assert_reads_a_huge_append(path, tmp_path, command, size)


# -- out-of-range times ------------------------------------------------------------------------


@pytest.mark.parametrize("t", ["NaN", "-Infinity", "1e400", "-3.5", "2e9"])
def test_a_time_that_is_not_a_time_is_a_skipped_line(t, tmp_path):
    lines = list(compact("ga-push-to-talk.jsonl"))
    at = next(i for i, line in enumerate(lines) if b"input_audio_buffer.append" in line)
    lines[at] = re.sub(rb'"t":[0-9.e-]+', b'"t":' + t.encode(), lines[at], count=1)
    path = tmp_path / "times.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert bad_lines(path) == [at + 1]
    for args in (["show", str(path)], ["export", "wav", str(path), "--out", str(tmp_path)]):
        result = invoke(*args)
        assert result.exit_code == 0
        assert f"{path}:{at + 1}:" in result.stderr


def test_a_frame_far_in_the_future_skips_the_mix_not_the_export(tmp_path):
    lines = list(compact("ga-push-to-talk.jsonl"))
    at = max(i for i, line in enumerate(lines) if b"input_audio_buffer.append" in line)
    lines[at] = re.sub(rb'"t":[0-9.e-]+', b'"t":9e8', lines[at], count=1)  # 28 years in
    path = tmp_path / "future.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = invoke("export", "wav", str(path), "--out", str(tmp_path / "wav"))
    assert result.exit_code == 0
    assert "no mix: it would last 250,000.0 h" in result.stderr
    assert sorted(w.name for w in (tmp_path / "wav").glob("*.wav")) == [
        "future.assistant.wav",
        "future.user.wav",
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("t", b"NaN"),
        ("t", b"1e400"),
        ("t", b"-3.5"),
        ("t", b"2e9"),
        ("kind", b"[]"),
        ("event", b"[1]"),
    ],
)
def test_stats_warns_about_every_record_the_format_rejects(field, value, tmp_path):
    lines = list(compact("ga-push-to-talk.jsonl"))
    at = next(i for i, line in enumerate(lines) if b"input_audio_buffer.append" in line)
    record = json.loads(lines[at])
    record[field] = "PLACEHOLDER"
    lines[at] = json.dumps(record).encode().replace(b'"PLACEHOLDER"', value)
    path = tmp_path / "rejected.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert bad_lines(path) == [at + 1]
    result = invoke("stats", str(path), "--format", "json")
    assert f"{path}:{at + 1}: " in result.stderr


# -- rt serve, the real process, on a hostile file ---------------------------------------------


def test_rt_serve_process_warns_about_each_bad_line_and_serves_the_rest(tmp_path, run):
    lines = list(compact("ga-text-only.jsonl"))
    lines.insert(3, b"\x00\xff garbage")
    lines.insert(6, lines[6][:40])
    path = tmp_path / "served.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rt_cli.main",
            "serve",
            str(path),
            "--listen",
            "127.0.0.1:0",
            "--fast",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stderr is not None
    seen = ""
    try:
        while (match := re.search(r"ws://127\.0\.0\.1:\d+", seen)) is None:
            line = process.stderr.readline()
            assert line, seen
            seen += line

        async def converse(url: str) -> str:
            async with connect(url + "/v1/realtime") as ws:
                return str(await asyncio.wait_for(ws.recv(), scaled(5)))

        first = run(converse(match.group(0)))
        process.wait(timeout=scaled(10))
        seen += process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert json.loads(first)["type"] == "session.created"
    assert process.returncode == 0
    for number in bad_lines(path):
        assert f"{path}:{number}:" in seen


# -- issue 14, items 10 and 11: each reproduction through every reader ---------------------------
#
# Each case below is a file that once crashed a reader or was misread without a word. Every
# reader reads it: show (text and --json), tail (text and --json), stats, sql (over `events`,
# which keeps each event whole), ls (CSV), diff, export wav, export parquet, report, check, serve
# (loading the recording and building its playbook) and replay (sending it to a scripted
# server). None may crash; each must say the same thing about the file (the same lines skipped,
# named on stderr) and keep what is valid.

PASSING_CHECK = '[[checks]]\nname = "readable"\nexpect = ["sessions >= 0"]\n'


@dataclass(frozen=True)
class Reading:
    exit_code: int
    stdout: str
    stderr: str


def read_everywhere(
    path: Path, directory: Path, target: str | None, collector: str | None = None
) -> dict[str, Reading]:
    """What every reader makes of `path` (the CLI as a user runs it; serve as its library);
    `replay` with a `target`, `export otlp` with a `collector`."""
    p = str(path)
    config = directory / "rt-check.toml"
    config.write_text(PASSING_CHECK)
    commands = {
        "show": ["show", p],
        "show --json": ["show", p, "--json"],
        "tail": ["tail", p, "--max-seconds", "0"],
        "tail --json": ["tail", p, "--max-seconds", "0", "--json"],
        "stats": ["stats", p, "--format", "json"],
        "sql": ["sql", "SELECT * FROM events", p, "--format", "json"],
        "ls": ["ls", p, "--format", "csv"],
        "diff": ["diff", p, p, "--format", "json"],
        "export wav": ["export", "wav", p, "--out", str(directory / "wav")],
        "export parquet": ["export", "parquet", p, "--out", str(directory / "parquet")],
        "report": ["report", p, "--no-audio", "-o", str(directory / "report.html")],
        "check": ["check", p, "--config", str(config), "--format", "json"],
    }
    if collector is not None:
        commands["export otlp"] = ["export", "otlp", p, "--endpoint", collector, "--timeout", "5"]
    if target is not None:
        commands["replay"] = [
            "replay", p, "--target", target, "--fast", "--pace", "timed", "--timeout", "2",
            "--out", str(directory / "replayed"),
        ]  # fmt: skip
    readings = {}
    for name, args in commands.items():
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        expected = (0, 1, 2) if name == "check" else (0, 1)  # check: 2 when it cannot run
        assert result.exit_code in expected, (name, result.output)
        if result.exit_code:
            assert result.stderr.count("Error: ") == 1, (name, result.stderr)
        readings[name] = Reading(result.exit_code, result.stdout, result.stderr)
    readings["serve"] = serve_reading(path)
    return readings


def serve_reading(path: Path) -> Reading:
    """`rt serve`'s loading of a recording, its warnings printed the way the command does."""
    warnings: list[FileWarning] = []
    try:
        playbook_from(load_session(path, keep_payloads=("server",), on_warning=warnings.append))
    except InputError as exc:
        return Reading(1, "", f"Error: {exc}\n")
    return Reading(0, "", "".join(f"warning: {w}\n" for w in warnings))


def compact_lines(base: str = "ga-push-to-talk.jsonl") -> list[dict[str, Any]]:
    return [json.loads(line) for line in compact(base)]


def write_records(directory: Path, records: list[Any], name: str = "case.jsonl") -> Path:
    """Records (dicts, or lines as bytes) as a session file."""
    path = directory / name
    lines = [r if isinstance(r, bytes) else json.dumps(r).encode() for r in records]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def first(records: list[dict[str, Any]], event_type: str) -> int:
    return next(
        i for i, r in enumerate(records) if (r.get("event") or {}).get("type") == event_type
    )


def assert_every_reader_names(readings: dict[str, Reading], path: Path, line: int) -> None:
    for name, reading in readings.items():
        assert f"{path}:{line}: " in reading.stderr, (name, reading.stderr)


def assert_every_reader_succeeds(readings: dict[str, Reading]) -> None:
    for name, reading in readings.items():
        assert reading.exit_code == 0, (name, reading.stderr)


@pytest.fixture
def everywhere(tmp_path, scripted_upstream, collector):
    target = scripted_upstream.url + "/v1/realtime?model=gpt-realtime"

    def read(path: Path) -> dict[str, Reading]:
        out = tmp_path / f"out-{len(list(tmp_path.glob('out-*')))}"
        out.mkdir()
        return read_everywhere(path, out, target, collector)

    return read


def test_binary_frames_with_bad_base64_are_named_by_every_reader(tmp_path, everywhere):
    records: list[Any] = compact_lines()
    t = records[3]["t"]
    records.insert(4, {"kind": "frame", "seq": 3, "t": t, "from": "server", "binary": "!!@@"})
    records.insert(5, {"kind": "frame", "seq": 3, "t": t, "from": "client", "binary": "abc"})
    path = write_records(tmp_path, records)
    assert bad_lines(path) == [5, 6]
    readings = everywhere(path)
    assert_every_reader_succeeds(readings)
    assert_every_reader_names(readings, path, 5)
    assert_every_reader_names(readings, path, 6)


def test_a_delta_before_its_response_create_gives_no_negative_latency(tmp_path, everywhere):
    records = compact_lines()
    create, delta = first(records, "response.create"), first(records, "response.output_audio.delta")
    moved = records.pop(delta)
    moved["t"] = records[create - 1]["t"]
    records.insert(create, moved)
    readings = everywhere(write_records(tmp_path, records))
    assert_every_reader_succeeds(readings)
    for row in json.loads(readings["stats"].stdout)["responses"]:
        for key in ("ttfb_ms", "ttft_ms", "duration_ms"):
            assert row[key] is None or row[key] >= 0, (key, row)


@pytest.mark.parametrize(
    "started_at",
    [
        "9999-12-31T23:59:59.999999Z",
        "+275760-09-13T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "not a date",
    ],
)
def test_a_start_time_out_of_range_or_not_a_date(started_at, tmp_path, everywhere):
    records = compact_lines()
    records[0]["started_at"] = started_at
    path = write_records(tmp_path, records)
    readings = everywhere(path)
    assert_every_reader_succeeds(readings)
    for line in readings["show --json"].stdout.splitlines():
        at = json.loads(line)["at"]
        assert at is None or at.startswith(("0001-", "9999-")), at
    if started_at == "not a date":
        assert f"{path}:1: started_at" in readings["stats"].stderr


@pytest.mark.parametrize("value", [2**63, 2**64 + 5, -(2**70), 1e308])
def test_rate_limits_beyond_64_bits_read_as_null(value, tmp_path, everywhere):
    records = compact_lines()
    at = (
        first(records, "rate_limits.updated")
        if any((r.get("event") or {}).get("type") == "rate_limits.updated" for r in records)
        else 5
    )
    entry = {"name": "tokens", "limit": value, "remaining": value, "reset_seconds": 1.0}
    event = {"type": "rate_limits.updated", "rate_limits": [entry]}
    records.insert(
        at, {"kind": "frame", "seq": 0, "t": records[at]["t"], "from": "server", "event": event}
    )
    readings = everywhere(write_records(tmp_path, records))
    assert_every_reader_succeeds(readings)
    limits = json.loads(readings["stats"].stdout)["rate_limits"]
    assert {(row["limit"], row["remaining"]) for row in limits if row["name"] == "tokens"} >= {
        (None, None)
    }


@pytest.mark.parametrize("value", [2**63, 2**80, -5, 1e308, 1.5])
def test_token_counts_out_of_range_read_as_null(value, tmp_path, everywhere):
    records = compact_lines()
    done = first(records, "response.done")
    usage = records[done]["event"]["response"]["usage"]
    usage.update(input_tokens=value, output_tokens=value, total_tokens=value)
    usage["input_token_details"]["text_tokens"] = value
    path = write_records(tmp_path, records)
    readings = everywhere(path)
    assert_every_reader_succeeds(readings)
    response = json.loads(readings["stats"].stdout)["responses"][0]
    assert (response["input_tokens"], response["output_tokens"]) == (None, None)
    assert response["input_text_tokens"] is None and response["cost_usd"] is None
    assert f"{path}:{done + 1}: a token count of" in readings["stats"].stderr


@pytest.mark.parametrize("code", [2**63, 2**64, -1, 70000])
def test_a_close_code_out_of_range_reads_as_null(code, tmp_path, everywhere):
    records = compact_lines()
    close = next(i for i, r in enumerate(records) if r["kind"] == "close")
    records[close]["code"] = code
    readings = everywhere(write_records(tmp_path, records))
    assert_every_reader_succeeds(readings)
    code, out, _ = sql_query("SELECT close_code FROM sessions", tmp_path / "case.jsonl")
    assert json.loads(out) == [{"close_code": None}]


@pytest.mark.parametrize("rate", [2**63, 1, -24000, 1e308])
def test_an_audio_rate_out_of_range_is_not_used(rate, tmp_path, everywhere):
    records = compact_lines()
    for record in records:
        event = record.get("event") or {}
        if event.get("type") in ("session.created", "session.updated"):
            for side in ("input", "output"):
                event["session"]["audio"][side]["format"]["rate"] = rate
    readings = everywhere(write_records(tmp_path, records))
    assert_every_reader_succeeds(readings)
    for wav in tmp_path.glob("out-*/wav/*.wav"):
        assert sf.info(str(wav)).samplerate == 24000


def test_time_going_back_is_read_as_the_latest_time(tmp_path, everywhere):
    records = compact_lines()
    delta = first(records, "response.output_audio.delta")
    records[delta]["t"] = 0.0  # a clock that stepped back
    path = write_records(tmp_path, records)
    readings = everywhere(path)
    assert_every_reader_succeeds(readings)
    for name in ("show", "stats", "sql", "export wav", "report", "serve", "replay"):
        assert f"{path}:{delta + 1}: t goes back" in readings[name].stderr, name
    for row in json.loads(readings["stats"].stdout)["responses"]:
        assert row["ttfb_ms"] is None or row["ttfb_ms"] >= 0


def test_a_newer_format_is_refused_by_every_reader(tmp_path, everywhere):
    records = compact_lines()
    records[0]["format"] = "rt-session/999"
    path = write_records(tmp_path, records)
    readings = everywhere(path)
    for name, reading in readings.items():
        assert reading.exit_code == (2 if name == "check" else 1), name
        assert "format rt-session/999 is newer than this rt reads" in reading.stderr, name
        assert str(path) in reading.stderr, name


@pytest.mark.parametrize("where", ["second header", "frames before the header"])
def test_a_misplaced_header_is_named_by_every_reader(where, tmp_path, everywhere):
    records: list[Any] = compact_lines()
    if where == "second header":
        records.insert(5, records[0])
        line = 6
    else:
        records.insert(0, records.pop(2))
        line = 2
    path = write_records(tmp_path, records)
    assert line in bad_lines(path)
    readings = everywhere(path)
    assert_every_reader_succeeds(readings)
    assert_every_reader_names(readings, path, line)


def test_duplicate_keys_read_the_same_by_every_reader(tmp_path, everywhere):
    lines = list(compact("ga-push-to-talk.jsonl"))
    done = next(i for i, line in enumerate(lines) if b"response.done" in line)
    lines[done] = re.sub(
        rb'"type": ?"response.done"', b'"type":"x.first","type":"response.done"', lines[done]
    )
    path = write_records(tmp_path, lines)
    readings = everywhere(path)
    assert_every_reader_succeeds(readings)
    types = {json.loads(line)["type"] for line in readings["show --json"].stdout.splitlines()}
    assert "response.done" in types and "x.first" not in types
    rows = json.loads(readings["sql"].stdout)
    assert "response.done" in {row["type"] for row in rows}
    assert "x.first" not in {row["type"] for row in rows} | {row["event"]["type"] for row in rows}
    assert json.loads(readings["stats"].stdout)["responses"][0]["status"] == "completed"


def test_cr_only_line_endings_read_whole(tmp_path, everywhere):
    path = tmp_path / "mac.jsonl"
    path.write_bytes(b"\r".join(compact("ga-push-to-talk.jsonl")) + b"\r")
    readings = everywhere(path)
    assert_every_reader_succeeds(readings)
    frames = [json.loads(line) for line in compact("ga-push-to-talk.jsonl")]
    frames = [r for r in frames if r["kind"] == "frame"]
    for name in ("show --json", "tail --json"):
        assert len(readings[name].stdout.splitlines()) == len(frames), name
    assert len(json.loads(readings["sql"].stdout)) == len(frames)
    for reading in readings.values():
        assert "cut off" not in reading.stderr


@pytest.mark.parametrize("depth", [300, 1020, 100_000])
def test_deep_nesting_reads_the_same_everywhere(depth, tmp_path, everywhere):
    """Up to orjson's limit (1024) a deep event is a valid record that every reader keeps
    (and writes back as JSON); beyond it, a line every reader skips and names."""
    lines: list[Any] = list(compact("ga-push-to-talk.jsonl"))
    deep = b"[" * depth + b"]" * depth
    head = b'{"kind":"frame","seq":3,"t":0.02,"from":"server","event":{"type":"x.deep","v":'
    lines.insert(4, head + deep + b"}}")
    path = write_records(tmp_path, lines)
    readings = everywhere(path)
    assert_every_reader_succeeds(readings)
    if depth < 1024:
        assert 5 not in bad_lines(path)
        shown = [orjson.loads(line) for line in readings["show --json"].stdout.splitlines()]
        assert any(frame["type"] == "x.deep" for frame in shown)
        assert any(row["type"] == "x.deep" for row in orjson.loads(readings["sql"].stdout))
    else:
        assert bad_lines(path) == [5]
        assert_every_reader_names(readings, path, 5)


def sql_query(sql: str, path: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["sql", sql, str(path), "--format", "json"])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("heard_ms", [1e308, 2**80, -1])
def test_a_truncation_beyond_any_audio(heard_ms, tmp_path, everywhere):
    sample = (SAMPLES / "ga-server-vad-barge-in.jsonl").read_bytes()
    records = [json.loads(line) for line in sample.splitlines()]  # whole: the cut item's audio
    for kind in ("conversation.item.truncate", "conversation.item.truncated"):
        records[first(records, kind)]["event"]["audio_end_ms"] = heard_ms  # the cut, both sides
    readings = everywhere(write_records(tmp_path, records))
    assert_every_reader_succeeds(readings)
    assert list(tmp_path.glob("out-*/wav/*.mix.wav"))


@pytest.mark.parametrize("value", [[1], {"a": 1}, 7, None])
def test_an_event_type_that_is_not_a_string(value, tmp_path, everywhere):
    """A client event whose `type` is a list, an object, a number or null is an event of no
    type to every reader (an append's type test once hashed it)."""
    records = compact_lines()
    append = first(records, "input_audio_buffer.append")
    records[append]["event"]["type"] = value
    readings = everywhere(write_records(tmp_path, records))
    assert_every_reader_succeeds(readings)
