"""`rt show` through click's CliRunner: the exact timeline, filters, --json, beta = GA, bad lines.

`SessionBuilder` writes session files with the recorder's own codec (`frame_line`,
`encode_record`), so they are byte for byte what `rt record` writes; test_tail.py uses it too.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console
from rt_cli.main import cli
from rt_cli.timeline_view import TimelinePrinter

from recorder.session import (
    close_record,
    encode_record,
    error_record,
    frame_line,
    open_record,
    session_record,
)
from recorder.session_labels import session_labels
from recorder.timeline import EntryFilter

STARTED = dt.datetime(2026, 11, 26, 10, 0, 0, tzinfo=dt.timezone.utc)
SAMPLES = sorted((Path(__file__).resolve().parent.parent / "sample_sessions").glob("*.jsonl"))
ANSI = re.compile(r"\x1b\[")


class SessionBuilder:
    """Lines of an rt-session/1 file, in the order they are added."""

    def __init__(self, session_id: str = "call-1", *, header: bool = True) -> None:
        self.lines: list[str] = []
        self.seq = 0
        if header:
            self.lines.append(
                encode_record(
                    session_record(
                        session_id,
                        STARTED,
                        "wss://api.openai.com/v1/realtime?model=gpt-realtime",
                        "/v1/realtime?model=gpt-realtime",
                        [("Authorization", "Bearer sk-secret")],
                        [],
                    )
                )
            )

    def opened(self, t: float, subprotocol: str | None = None) -> SessionBuilder:
        self.lines.append(encode_record(open_record(t, subprotocol, [])))
        return self

    def frame(self, t: float, sender: str, payload: str | bytes) -> SessionBuilder:
        self.lines.append(frame_line(self.seq, t, sender, payload))  # type: ignore[arg-type]
        self.seq += 1
        return self

    def server(self, t: float, event_type: str, **fields: Any) -> SessionBuilder:
        return self.frame(t, "server", json.dumps({"type": event_type, **fields}))

    def client(self, t: float, event_type: str, **fields: Any) -> SessionBuilder:
        return self.frame(t, "client", json.dumps({"type": event_type, **fields}))

    def append(self, t: float, ms: int, bytes_per_ms: int = 48) -> SessionBuilder:
        audio = base64.b64encode(bytes(ms * bytes_per_ms)).decode()
        return self.client(t, "input_audio_buffer.append", audio=audio)

    def closed(
        self, t: float, by: str = "client", code: int = 1000, reason: str = ""
    ) -> SessionBuilder:
        self.lines.append(encode_record(close_record(t, by, code, reason)))  # type: ignore[arg-type]
        return self

    def proxy_error(self, t: float, message: str) -> SessionBuilder:
        self.lines.append(encode_record(error_record(t, message)))
        return self

    def raw(self, line: str) -> SessionBuilder:
        self.lines.append(line)
        return self

    def text(self) -> str:
        return "".join(self.lines)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.text(), "utf-8")
        return path


def audio_b64(ms: int, bytes_per_ms: int = 48) -> str:
    return base64.b64encode(bytes(ms * bytes_per_ms)).decode()


def usage(inputs: int, outputs: int, cached: int = 0) -> dict[str, Any]:
    return {
        "total_tokens": inputs + outputs,
        "input_tokens": inputs,
        "output_tokens": outputs,
        "input_token_details": {"text_tokens": inputs, "audio_tokens": 0, "cached_tokens": cached},
        "output_token_details": {"text_tokens": 0, "audio_tokens": outputs},
    }


def voice_turn(beta: bool = False, session_id: str = "call-1") -> SessionBuilder:
    """A server-VAD turn: speech, one spoken response with a transcript, an error, the close.

    `beta=True` writes the same conversation with 2024 beta names and session shape."""
    audio_delta = "response.audio.delta" if beta else "response.output_audio.delta"
    audio_done = "response.audio.done" if beta else "response.output_audio.done"
    transcript = "response.audio_transcript" if beta else "response.output_audio_transcript"
    item_added = "conversation.item.created" if beta else "conversation.item.added"
    if beta:
        session = {
            "id": "sess_1",
            "model": "gpt-realtime",
            "modalities": ["text", "audio"],
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "turn_detection": {"type": "server_vad"},
            "voice": "marin",
        }
    else:
        session = {
            "type": "realtime",
            "id": "sess_1",
            "model": "gpt-realtime",
            "output_modalities": ["text", "audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "turn_detection": {"type": "server_vad"},
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"},
            },
        }
    ids = {"response_id": "resp_1", "item_id": "item_a1", "output_index": 0, "content_index": 0}
    b = SessionBuilder(session_id).opened(0.12)
    b.server(0.125, "session.created", event_id="event_1", session=session)
    b.append(0.5, 40).append(0.54, 40).append(0.58, 40)
    b.server(0.7, "input_audio_buffer.speech_started", audio_start_ms=300, item_id="item_u1")
    b.append(0.72, 40).append(0.76, 40)
    b.server(1.0, "input_audio_buffer.speech_stopped", audio_end_ms=900, item_id="item_u1")
    b.server(
        1.002,
        item_added,
        previous_item_id=None,
        item={
            "id": "item_u1",
            "type": "message",
            "role": "user",
            "content": [{"type": "input_audio"}],
        },
    )
    b.server(1.01, "response.created", response={"id": "resp_1", "status": "in_progress"})
    b.server(1.3, audio_delta, **ids, delta=audio_b64(100))
    b.server(1.305, f"{transcript}.delta", **ids, delta="Hello")
    b.append(1.31, 40)
    b.server(1.4, audio_delta, **ids, delta=audio_b64(150))
    b.server(1.405, f"{transcript}.delta", **ids, delta=" there!")
    b.server(1.5, audio_done, **ids)
    b.server(1.501, f"{transcript}.done", **ids, transcript="Hello there!")
    done = {"id": "resp_1", "status": "completed", "usage": usage(120, 30, cached=64)}
    b.server(1.6, "response.done", response=done)
    limits = [{"name": "tokens", "limit": 40000, "remaining": 39850, "reset_seconds": 0.2}]
    b.server(1.601, "rate_limits.updated", rate_limits=limits)
    error = {
        "type": "invalid_request_error",
        "code": "bad_thing",
        "message": "No.",
        "event_id": "c7",
    }
    b.server(2.0, "error", error=error)
    return b.closed(2.5)


EXPECTED_VOICE_TURN = """\
session     call-1
started     2026-11-26T10:00:00.000000Z
upstream    wss://api.openai.com/v1/realtime?model=gpt-realtime
path        /v1/realtime?model=gpt-realtime
model       gpt-realtime
subprotocol none  (handshake done at 0.120 s)

    0.125 ←     session.created                   sess_1 · gpt-realtime · text+audio · in pcm16 24 kHz · out pcm16 24 kHz · server_vad · voice marin
    0.500 →     input_audio_buffer.append         0.120 s audio · 3 appends over 0.080 s · 5,760 B
    0.700 ←     input_audio_buffer.speech_started audio_start_ms=300 · item_id=item_u1
    0.720 →     input_audio_buffer.append         0.080 s audio · 2 appends over 0.040 s · 3,840 B
    1.000 ←     input_audio_buffer.speech_stopped audio_end_ms=900 · item_id=item_u1
    1.002 ←     conversation.item.added           item_u1 · user message: input_audio
    1.010 ← r1  response.created                  resp_1
    1.300 ← r1  response.output_audio.delta       0.250 s audio · 2 deltas over 0.100 s · 12,000 B
    1.305 ← r1  response.output_audio_transcript.delta "Hello there!" · 2 deltas
    1.310 →     input_audio_buffer.append         0.040 s audio · 1 append over 0.000 s · 1,920 B
    1.600 ← r1  response.done                     resp_1 · completed · tokens 120 in (64 cached), 30 out
    1.601 ←     rate_limits.updated               tokens 39850/40000 (reset 0.2 s)
    2.000 ←     error                             invalid_request_error · bad_thing · No. · event c7
    2.500 ·     close                             by client · code 1000
"""


def with_file(expected: str, path: Path | str) -> str:
    """An expected timeline with the header lines naming the file shown and its label."""
    session, rest = expected.split("\n", 1)
    label = session_labels([str(path)])[str(path)]
    return f"{session}\nfile        {path}\nlabel       {label}\n{rest}"


def show(*args: str) -> Any:
    return CliRunner().invoke(cli, ["show", *args], catch_exceptions=False)


def body(output: str) -> list[str]:
    """The timeline lines of `rt show` output, without the header."""
    return output.split("\n\n", 1)[1].splitlines()


def type_of(line: str) -> str:
    """The type column of a timeline line (time, arrow and response come first)."""
    return line[16:].split()[0]


def test_the_timeline_of_a_small_session_exactly(tmp_path):
    path = voice_turn().write(tmp_path / "call.jsonl")
    result = show(str(path))
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout == with_file(EXPECTED_VOICE_TURN, path)
    assert not ANSI.search(result.stdout)


def test_rendering_into_a_fixed_width_console_without_colour(tmp_path):
    path = voice_turn().write(tmp_path / "call.jsonl")
    out = io.StringIO()
    printer = TimelinePrinter(Console(file=out, width=100), EntryFilter(), collapse=True)
    from recorder.reading import iter_records

    for line, record in iter_records(path):
        printer.feed(line, record)
    printer.finish()
    assert out.getvalue() == EXPECTED_VOICE_TURN  # a pipe: one entry per line, never wrapped


def test_on_a_terminal_long_details_wrap_under_their_column(tmp_path):
    path = voice_turn().write(tmp_path / "call.jsonl")
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, color_system=None)
    printer = TimelinePrinter(console, EntryFilter.build(["session.created"]), collapse=True)
    from recorder.reading import iter_records

    for line, record in iter_records(path):
        printer.feed(line, record)
    printer.finish()
    lines = out.getvalue().splitlines()
    start = lines.index("") + 1
    assert lines[start:] == [
        "    0.125 ←     session.created                   sess_1 · gpt-realtime · text+audio · in pcm16 24",
        "                                                  kHz · out pcm16 24 kHz · server_vad · voice marin",
        "    2.500 ·     close                             by client · code 1000",
    ]
    assert all(len(line) <= 100 for line in lines)


def test_colours_only_on_a_terminal(tmp_path):
    path = voice_turn().write(tmp_path / "call.jsonl")
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=True, color_system="standard")
    printer = TimelinePrinter(console, EntryFilter.build(["error"]), collapse=True)
    from recorder.reading import iter_records

    for line, record in iter_records(path):
        printer.feed(line, record)
    printer.finish()
    error_line = next(line for line in out.getvalue().splitlines() if "bad_thing" in line)
    assert "\x1b[1;31m" in error_line  # errors in red
    assert not ANSI.search(show(str(path)).stdout)


def test_beta_and_ga_recordings_render_the_same(tmp_path):
    ga_path = voice_turn().write(tmp_path / "ga.jsonl")
    beta_path = voice_turn(beta=True).write(tmp_path / "beta.jsonl")
    ga, beta = show(str(ga_path)), show(str(beta_path))
    assert beta.stdout == with_file(EXPECTED_VOICE_TURN, beta_path)
    assert ga.stdout == with_file(EXPECTED_VOICE_TURN, ga_path)
    ga_json = [
        json.loads(line) for line in show(str(tmp_path / "ga.jsonl"), "--json").stdout.splitlines()
    ]
    beta_json = [
        json.loads(line)
        for line in show(str(tmp_path / "beta.jsonl"), "--json").stdout.splitlines()
    ]
    assert [r["type"] for r in beta_json] == [r["type"] for r in ga_json]
    assert beta_json[10]["event"]["type"] == "response.audio.delta"  # the event stays as recorded
    assert beta_json[10]["type"] == ga_json[10]["type"] == "response.output_audio.delta"


def test_type_filter_takes_names_prefixes_globs_and_beta_names(tmp_path):
    path = str(voice_turn().write(tmp_path / "call.jsonl"))

    def types_shown(*args: str) -> list[str]:
        return [type_of(line) for line in body(show(path, *args).stdout)]

    assert types_shown("--type", "response.done") == ["response.done", "close"]
    assert types_shown("--type", "response.done,error") == ["response.done", "error", "close"]
    assert types_shown("--type", "input_audio_buffer.speech_started", "--type", "error") == [
        "input_audio_buffer.speech_started",
        "error",
        "close",
    ]
    assert types_shown("--type", "input_audio_buffer") == [
        "input_audio_buffer.append",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.append",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.append",
        "close",
    ]
    assert types_shown("--type", "response.output_*.delta") == [
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
        "close",
    ]
    # a beta name means its GA name; the `.done` folded into a collapsed line selects it
    assert types_shown("--type", "response.audio_transcript.done") == [
        "response.output_audio_transcript.delta",
        "close",
    ]


def test_grep_searches_details_ids_and_the_event(tmp_path):
    path = str(voice_turn().write(tmp_path / "call.jsonl"))
    assert body(show(path, "--grep", "hello THERE").stdout) == [
        '    1.305 ← r1  response.output_audio_transcript.delta "Hello there!" · 2 deltas',
        "    2.500 ·     close                             by client · code 1000",
    ]
    # event_id is not shown but is in the event
    lines = body(show(path, "--grep", "event_1").stdout)
    assert [type_of(line) for line in lines] == ["session.created", "close"]
    lines = body(show(path, "--grep", "item_u1", "--type", "input_audio_buffer").stdout)
    assert [type_of(line) for line in lines] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "close",
    ]


def test_a_bad_regular_expression_is_a_usage_error(tmp_path):
    path = str(voice_turn().write(tmp_path / "call.jsonl"))
    result = CliRunner().invoke(cli, ["show", path, "--grep", "("])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--grep': not a regular expression: "
        "missing ), unterminated subpattern at position 0"
    )


def test_all_shows_every_frame(tmp_path):
    path = str(voice_turn().write(tmp_path / "call.jsonl"))
    lines = body(show(path, "--all").stdout)
    frames = [line for line in lines if line[10] in "→←"]
    assert len(frames) == 20
    assert lines[1] == "    0.500 →     input_audio_buffer.append         0.040 s audio · 1,920 B"
    assert '    1.305 ← r1  response.output_audio_transcript.delta "Hello"' in lines
    assert "    1.500 ← r1  response.output_audio.done        item_id=item_a1" in lines
    assert show(path, "--raw").stdout == show(path, "--all").stdout


def test_json_is_one_normalised_frame_per_line(tmp_path):
    path = str(voice_turn().write(tmp_path / "call.jsonl"))
    result = show(path, "--json")
    assert result.exit_code == 0 and result.stderr == ""
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 20
    first = records[0]
    assert list(first) == ["seq", "t", "at", "from", "type", "response_id", "session", "event"]
    assert first["seq"] == 0 and first["t"] == 0.125 and first["from"] == "server"
    assert first["at"] == "2026-11-26T10:00:00.125000Z"
    assert first["session"] == "call-1" and first["response_id"] is None
    assert [r["seq"] for r in records] == list(range(20))
    by_type = {r["type"]: r for r in records}
    assert by_type["response.output_audio_transcript.delta"]["response_id"] == "resp_1"
    assert by_type["rate_limits.updated"]["response_id"] is None  # it names no response
    assert by_type["input_audio_buffer.speech_stopped"]["response_id"] is None
    filtered = show(path, "--json", "--type", "response.output_audio.delta").stdout.splitlines()
    assert [json.loads(line)["seq"] for line in filtered] == [10, 13]
    grepped = show(path, "--json", "--grep", "bad_thing").stdout.splitlines()
    assert [json.loads(line)["type"] for line in grepped] == ["error"]


def test_json_keeps_text_and_binary_frames(tmp_path):
    b = SessionBuilder(header=False)
    b.frame(0.1, "client", "not json").frame(0.2, "server", b"\x00\x01\x02")
    path = str(b.write(tmp_path / "raw.jsonl"))
    records = [json.loads(line) for line in show(path, "--json").stdout.splitlines()]
    assert records == [
        {"seq": 0, "t": 0.1, "at": None, "from": "client", "type": None, "response_id": None, "session": None, "text": "not json"},
        {"seq": 1, "t": 0.2, "at": None, "from": "server", "type": None, "response_id": None, "session": None, "binary": "AAEC"},
    ]  # fmt: skip
    assert show(path).stdout == (
        "    0.100 →     (text)                            not json\n"
        "    0.200 ←     (binary)                          3 B\n"
        "(no close line: the session is still being recorded, or the recorder stopped)\n"
    )


def test_corrupt_lines_are_skipped_with_a_warning_and_the_rest_renders(tmp_path):
    b = voice_turn()
    b.lines.insert(5, "this is not json\n")
    b.lines.insert(9, '{"kind":"frame","seq":99,"t":"soon","from":"server","event":{}}\n')
    b.lines.append('{"kind":"frame","seq":22,"t":2.6,"from":"ser')  # cut off by a crash
    path = b.write(tmp_path / "call.jsonl")
    result = show(str(path))
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"warning: {path}:6: not valid JSON (Expecting value: line 1 column 1 (char 0))",
        f"warning: {path}:10: frame has no numeric 't'",
        f"warning: {path}:26: incomplete last line (cut off)",
    ]
    assert result.stdout == with_file(EXPECTED_VOICE_TURN, path)
    assert show(str(path), "--json").stdout.count("\n") == 20


def test_a_file_of_frames_only_and_a_session_cut_off_before_its_close(tmp_path):
    b = SessionBuilder(header=False)
    b.server(0.5, "response.created", response={"id": "resp_9"})
    b.server(0.6, "response.output_text.delta", response_id="resp_9", item_id="i", delta="Hi")
    path = str(b.write(tmp_path / "frames.jsonl"))
    assert show(path).stdout == (
        "    0.500 ← r1  response.created                  resp_9\n"
        '    0.600 ← r1  response.output_text.delta        "Hi" · 1 delta\n'
        "(no close line: the session is still being recorded, or the recorder stopped)\n"
    )


def test_proxy_errors_and_an_abnormal_close_are_shown(tmp_path):
    b = SessionBuilder().opened(0.01, "realtime")
    b.server(0.02, "session.created", session={"id": "sess_x", "model": "gpt-realtime"})
    b.proxy_error(3.0, "write failed: [Errno 28] No space left on device")
    b.closed(3.1, by="proxy", code=1011, reason="rt proxy: session file write failed")
    lines = show(str(b.write(tmp_path / "s.jsonl"))).stdout.splitlines()
    assert lines[7] == "subprotocol realtime  (handshake done at 0.010 s)"
    assert lines[-2:] == [
        "    3.000 ·     proxy error                       write failed: [Errno 28] No space left on device",
        '    3.100 ·     close                             by proxy · code 1011 · "rt proxy: session file write failed"',
    ]


def test_a_directory_shows_its_newest_session(tmp_path):
    import os

    old = voice_turn(session_id="old").write(tmp_path / "a.jsonl")
    new = voice_turn(session_id="new").write(tmp_path / "b.jsonl")
    os.utime(old, (2_000_000_000, 2_000_000_000))
    os.utime(new, (1_000_000_000, 1_000_000_000))
    result = show(str(tmp_path))
    assert result.stdout.startswith(f"session     old\nfile        {old}\nlabel       a\n")
    assert result.stderr == f"rt show: the newest session in {tmp_path}/ is {old}\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["show", str(empty)])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {empty}: no session files (*.jsonl) in this directory\n"


def test_a_recorded_name_is_the_label(tmp_path):
    builder = voice_turn()
    first = json.loads(builder.lines[0])
    builder.lines[0] = json.dumps({**first, "name": "Call  with ACME"}) + "\n"
    path = builder.write(tmp_path / "20261126T100000.000000Z-abcdef12.jsonl")
    lines = show(str(path)).stdout.splitlines()
    assert lines[1:3] == [f"file        {path}", "label       Call with ACME"]


@pytest.mark.parametrize("as_json", [False, True])
def test_filters_that_match_nothing_say_so(tmp_path, as_json):
    path = voice_turn().write(tmp_path / "call.jsonl")
    json_flag = ["--json"] if as_json else []
    result = show(str(path), "--type", "response.nothing", "--grep", "x", *json_flag)
    assert result.exit_code == 0
    assert result.stderr == "no events matched --type response.nothing --grep x\n"
    if as_json:
        assert result.stdout == ""
    else:  # the header and how the connection ended, nothing else
        assert body(result.stdout) == [
            "    2.500 ·     close                             by client · code 1000"
        ]
    assert show(str(path), "--type", "error", *json_flag).stderr == ""


def test_a_missing_file_is_a_usage_error():
    result = CliRunner().invoke(cli, ["show", "/nonexistent/x.jsonl"])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_help_has_an_example():
    for command in ("show", "tail"):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.stdout
        assert f"rt {command} sessions/" in result.stdout


@pytest.mark.skipif(not SAMPLES, reason="sample_sessions/*.jsonl not generated yet")
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_sample_sessions_render(sample):
    result = show(str(sample))
    assert result.exit_code == 0
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("session     ")
    assert lines[-1].split()[2] == "close"
    frames = [json.loads(line) for line in show(str(sample), "--json").stdout.splitlines()]
    assert frames and all(
        f["type"] is None or "." in f["type"] or f["type"] == "error" for f in frames
    )
    assert not any(
        f["type"] and f["type"].startswith(("response.audio", "response.text.")) for f in frames
    )
    responses = {f["response_id"] for f in frames if f["type"] == "response.created"}
    shown = {m.group(1) for m in re.finditer(r"response\.created +(resp_\w+)", result.stdout)}
    assert shown == responses
    followed = CliRunner().invoke(
        cli, ["tail", str(sample), "--exit-on-close", "--interval", "0.01"]
    )
    assert followed.stdout == result.stdout


def test_a_reader_that_stops_early_ends_show_quietly(tmp_path):
    import subprocess
    import sys

    b = SessionBuilder()
    for i in range(3000):
        b.append(i * 0.04, 40)
    path = b.write(tmp_path / "long.jsonl")
    process = subprocess.Popen(
        [sys.executable, "-m", "rt_cli.main", "show", str(path), "--all"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith(b"session ")
    process.stdout.close()  # like `rt show … | head -1`
    assert process.wait(timeout=30) == 0
    assert process.stderr.read() == b""
