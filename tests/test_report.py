"""`rt report` through click's CliRunner on real session files, and its pure parts.

The page is parsed back with the standard library's HTMLParser and ElementTree, and its
embedded WAVs are decoded with soundfile: what a browser gets, without a browser (that is
test_report_browser.py).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import stat
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from rt_cli.main import cli
from stats_fixtures import SessionFile, ga_session_created, ga_usage

from recorder.analytics import collect_stats
from recorder.errors import SessionFormatError
from recorder.interpretation import Interpreter
from recorder.report import ReportOptions, format_size, write_report
from recorder.report.audio_embed import downmix, embed_mix, resample, waveform
from recorder.report.charts import histogram, level, session_timeline
from recorder.report.conversation import (
    ASSISTANT,
    FUNCTION_CALL,
    FUNCTION_OUTPUT,
    SPOKEN,
    USER,
    ConversationCollector,
)
from recorder.report.svg import nice_step, ticks
from recorder.session import decode_line

SAMPLES = Path(__file__).resolve().parent.parent / "sample_sessions"
HOSTILE_SAID = '</span></li><script>window.pwned = "transcript"</script>'
HOSTILE_TYPED = "<img src=x onerror=\"window.pwned = 'typed'\">"
HOSTILE_ERROR = "<svg onload=\"window.pwned = 'error'\"></svg> & more"


# -- fixtures ---------------------------------------------------------------------------------------


def tone(ms: int, freq: float = 440.0, rate: int = 24000) -> str:
    """Base64 pcm16 of a tone, so the waveform has something to draw."""
    n = rate * ms // 1000
    samples = np.rint(9000 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype("<i2")
    return base64.b64encode(samples.tobytes()).decode("ascii")


def hostile_session(directory: Path) -> Path:
    """A session whose every free-text field holds markup: transcript, typed text, error
    message and code, model name, session id and file name."""
    session = SessionFile("sess<b>bold</b>")
    session.server(0.0, "session.created", **ga_session_created(model="<i>gpt-realtime</i>"))
    for i in range(25):
        session.client(0.5 + i * 0.04, "input_audio_buffer.append", audio=tone(40, 300))
    session.server(1.6, "input_audio_buffer.committed", item_id="item_user")
    user = {"type": "input_text", "text": HOSTILE_TYPED}
    session.server(
        1.61,
        "conversation.item.added",
        item={"id": "item_user", "type": "message", "role": "user", "content": [user]},
    )
    session.client(1.7, "response.create")
    session.created(1.75, "resp_1")
    for i in range(10):
        session.server(
            2.0 + i * 0.02,
            "response.output_audio.delta",
            response_id="resp_1",
            item_id="item_1",
            output_index=0,
            content_index=0,
            delta=tone(100),
        )
    session.transcript_delta(2.01, "resp_1", HOSTILE_SAID)
    session.done(2.5, "resp_1", usage=ga_usage(input_text=20, output_audio=30))
    error = {"type": "invalid_request_error", "code": '"><b>code</b>', "message": HOSTILE_ERROR}
    session.server(3.0, "error", error=error)
    session.rate_limits(3.1, ("<b>tokens</b>", 40000, 1000, 2.0))
    return session.write(directory, "hostile<b>")


def slow_session(directory: Path) -> Path:
    """One response 2 s after response.create: slow by rt stats' thresholds."""
    session = SessionFile("slow-call", started_at="2026-11-26T11:00:00.000000Z")
    session.server(0.0, "session.created", **ga_session_created())
    session.client(1.0, "response.create")
    session.created(1.05, "resp_slow")
    session.audio_delta(3.0, "resp_slow", 200)
    session.done(3.3, "resp_slow", usage=ga_usage(input_text=50, output_audio=5))
    return session.write(directory)


def run_report(*args: str) -> Any:
    return CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def samples_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = run_report(str(SAMPLES), "-o", str(out))
    return out, result


@pytest.fixture(scope="module")
def samples_stats() -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["stats", str(SAMPLES), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- reading the page back ------------------------------------------------------------------------


class Page(HTMLParser):
    """The parts of the page the tests look at: tags with their attributes, table cells by
    (row, key), text inside <style>/<script>, and all visible text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.cells: dict[tuple[str, str], tuple[str, str]] = {}  # (row, key) -> (text, class)
        self.blocks: dict[str, list[str]] = {"style": [], "script": []}
        self.text: list[str] = []
        self._row: str | None = None
        self._cell: tuple[str, str] | None = None
        self._cell_text: list[str] = []
        self._cell_class = ""
        self._block: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        if tag == "tr":
            self._row = values.get("data-row")
        elif tag == "td" and self._row is not None and "data-key" in values:
            self._cell, self._cell_text = (self._row, values["data-key"]), []
            self._cell_class = values.get("class", "")
        elif tag in self.blocks:
            self._block = tag
            self.blocks[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells[self._cell] = ("".join(self._cell_text), self._cell_class)
            self._cell = None
        elif tag in self.blocks:
            self._block = None

    def handle_data(self, data: str) -> None:
        if self._block is not None:
            self.blocks[self._block][-1] += data
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell_text.append(data)

    def all(self, tag: str, **match: str) -> list[dict[str, str]]:
        return [
            attrs
            for name, attrs in self.tags
            if name == tag and all(match[k] in attrs.get(k, "").split() for k in match)
        ]


def read_page(path: Path) -> tuple[str, Page]:
    html = path.read_text(encoding="utf-8")
    return html, Page(html)


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def embedded_wavs(page: Page) -> list[tuple[np.ndarray, int]]:
    wavs = []
    for audio in page.all("audio"):
        prefix = "data:audio/wav;base64,"
        assert audio["src"].startswith(prefix)
        data = base64.b64decode(audio["src"][len(prefix) :], validate=True)
        samples, rate = sf.read(io.BytesIO(data), dtype="int16")
        info = sf.info(io.BytesIO(data))
        assert (info.subtype, info.channels) == ("PCM_16", 1)
        wavs.append((samples, rate))
    return wavs


# -- the command -------------------------------------------------------------------------------


def test_report_on_the_samples_says_what_it_wrote(samples_report):
    out, result = samples_report
    assert result.exit_code == 0
    size = format_size(out.stat().st_size)
    assert re.fullmatch(
        rf"wrote {re.escape(str(out))}  {size}  12 sessions, audio for 10 \([\d.]+ [KM]B\)\n",
        result.stdout,
    )
    # the only warning is the sample's cancelled response without a truncate
    assert result.stderr.count("warning: ") == 1
    assert "errors-and-rate-limits.jsonl:" in result.stderr


def test_report_is_self_contained(samples_report):
    out, _ = samples_report
    html, page = read_page(out)
    references = [
        value for _, attrs in page.tags for key, value in attrs.items() if key in ("src", "href")
    ]
    assert references
    assert all(ref.startswith(("#", "data:")) for ref in references), {
        ref[:40] for ref in references if not ref.startswith(("#", "data:"))
    }
    assert not re.search(r"(?i)@import|url\(|https?://(?!www\.w3\.org/2000/svg\")", html)
    assert not page.all("link", rel="stylesheet") and not page.all("iframe")


def test_report_has_a_strict_content_security_policy(samples_report):
    out, _ = samples_report
    _, page = read_page(out)
    metas = page.all("meta")
    policy = next(m["content"] for m in metas if m.get("http-equiv") == "Content-Security-Policy")
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["img-src"] == "data:" and directives["media-src"] == "data:"
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'none'"
    # exactly the page's own stylesheet and script may run, by hash
    (style,), (script,) = page.blocks["style"], page.blocks["script"]
    assert directives["style-src"] == sha256(style)
    assert directives["script-src"] == sha256(script)
    assert "unsafe" not in policy
    # the policy comes before anything it governs
    names = [name for name, _ in page.tags]
    csp_at = next(i for i, (n, a) in enumerate(page.tags) if a.get("http-equiv"))
    assert csp_at < names.index("style") < names.index("script")
    assert not any(key.startswith("on") for _, attrs in page.tags for key in attrs)
    assert not any("style" in attrs for _, attrs in page.tags)


def test_summary_numbers_are_rt_stats_numbers(samples_report, samples_stats):
    out, _ = samples_report
    _, page = read_page(out)
    summary = samples_stats["summary"]
    for metric in ("ttfb_ms", "ttft_ms", "duration_ms", "voice_to_voice_ms"):
        for key in ("count", "mean", "p50", "p90", "p95", "p99", "max"):
            digits = 0 if key == "count" else 1
            assert page.cells[(metric, key)][0] == f"{summary[metric][key]:,.{digits}f}"
    assert page.cells[("ttfb_ms", "p50")][0] == f"{summary['ttfb_ms']['p50']:.1f}"
    text = " ".join(page.text)
    assert f"${summary['cost_usd']:.4f}" in text
    responses = page.all("table", id="responses-table")
    assert responses
    rows = re.findall(
        r"<tr>", out.read_text().split('id="responses-table"')[1].split("</table>")[0]
    )
    assert len(rows) - 1 == len(samples_stats["responses"])  # less the header row
    for response in samples_stats["responses"]:
        assert response["response_id"] in text


def test_each_session_has_a_section_with_its_timeline_and_conversation(samples_report):
    out, _ = samples_report
    html, page = read_page(out)
    sections = page.all("section", **{"class": "session"})
    assert [s["id"] for s in sections] == [f"session-{i}" for i in range(1, 13)]
    timelines = page.all("svg", **{"class": "timeline"})
    assert len(timelines) == 12
    assert len(page.all("g", **{"class": "response-row"})) == 20 + 4  # 4 GPT-Live turns
    assert page.all("path", **{"class": "wave-user"}) and page.all(
        "path", **{"class": "wave-assistant"}
    )
    text = " ".join(page.text)
    assert "Of course. What is your order number?" in text  # a spoken answer's transcript
    assert "Sure, what is your order number?" in text  # a text answer
    assert "Can you check the status of my order?" in text  # what the user typed
    assert 'get_weather({"location":"Paris","unit":"celsius"})' in text
    # every chart is well-formed SVG
    for chart in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        ET.fromstring(chart)


def test_sessions_are_titled_once_by_their_label_or_given_name(tmp_path):
    sessions = tmp_path / "in"
    sessions.mkdir()
    rt_named = "20261126T025839.002772Z-a127d81f"
    shutil.copy(SAMPLES / "ga-push-to-talk.jsonl", sessions / f"{rt_named}.jsonl")
    lines = (SAMPLES / "ga-text-only.jsonl").read_text().splitlines(keepends=True)
    lines[0] = json.dumps({**json.loads(lines[0]), "name": "Typed <chat>"}) + "\n"
    (sessions / "typed.jsonl").write_text("".join(lines))
    shutil.copy(SAMPLES / "beta-2024-10-01.jsonl", sessions / "beta.jsonl")
    out = tmp_path / "named.html"
    result = run_report(str(sessions), "--out", str(out), "--no-audio", "--name", "beta=Old beta")
    assert result.exit_code == 0, result.output
    html, _ = read_page(out)
    titles = re.findall(r'<section class="session"[^>]*><h2>(.*?)</h2>', html)
    assert sorted(titles) == ["11-26 02:58:39 a127", "Old beta", "Typed &lt;chat&gt;"]
    # the id is one of the facts, no longer a second title
    assert f"<dt>session id</dt><dd>{rt_named}</dd>" in html
    assert f"<h2>{rt_named}" not in html
    # the names label the tables' links and the bars too
    assert 'title="Old beta">Old beta</span></a>' in html
    assert ">11-26 02:58:39 a127</text>" in html


def test_a_bad_name_option_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(SAMPLES), "--name", "no-label"])
    assert result.exit_code == 2
    assert "Invalid value for '--name': expected FILE=LABEL, not 'no-label'" in result.stderr


def test_each_session_with_audio_embeds_a_playable_16_bit_wav(samples_report):
    out, _ = samples_report
    _, page = read_page(out)
    wavs = embedded_wavs(page)
    assert len(wavs) == 10  # every sample but the text-only one and the sideband
    rates = sorted(rate for _, rate in wavs)
    assert rates == [8000] * 3 + [16000] * 7  # G.711 stays at 8 kHz
    for samples, rate in wavs:
        assert 4 < len(samples) / rate < 20
        assert np.abs(samples).max() > 1000  # speech, not silence


def test_slow_responses_are_highlighted_like_rt_stats(tmp_path):
    slow_session(tmp_path / "in")
    out = tmp_path / "report.html"
    assert run_report(str(tmp_path / "in"), "-o", str(out)).exit_code == 0
    html, page = read_page(out)
    assert page.cells[("ttfb_ms", "p50")] == ("2,000.0", "num slow")
    row = html.split('id="responses-table"')[1]
    assert '<td class="num slow" data-key="ttfb_ms">2,000.0</td>' in row
    assert page.all("rect", **{"class": "slow"})  # the histogram bar and the timeline wait


def test_text_from_recordings_is_escaped(tmp_path):
    hostile_session(tmp_path / "in")
    out = tmp_path / "report.html"
    result = run_report(str(tmp_path / "in"), "-o", str(out))
    assert result.exit_code == 0, result.output
    html, page = read_page(out)
    assert len(page.blocks["script"]) == 1 and "pwned" not in page.blocks["script"][0]
    assert "<script>window" not in html and "<img src=x" not in html and "<svg onload" not in html
    assert "<b>" not in html and "<i>gpt" not in html
    assert "&lt;script&gt;window.pwned = &quot;transcript&quot;&lt;/script&gt;" in html
    text = " ".join(page.text)
    for said in (HOSTILE_SAID, HOSTILE_TYPED, HOSTILE_ERROR, "<i>gpt-realtime</i>", "hostile<b>"):
        assert said in text, said
    assert not any(key.startswith("on") for _, attrs in page.tags for key in attrs)
    for chart in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        ET.fromstring(chart)


def test_no_audio_leaves_the_players_out_and_keeps_the_waveforms(tmp_path, samples_report):
    out = tmp_path / "report.html"
    result = run_report(str(SAMPLES), "-o", str(out), "--no-audio")
    assert result.exit_code == 0
    assert result.stdout.endswith("12 sessions, no audio\n")
    _, page = read_page(out)
    assert not page.all("audio")
    assert (
        len(page.all("path", **{"class": "wave-assistant"})) == 10
    )  # every sample with assistant audio (the sideband and text-only have none)
    assert out.stat().st_size < samples_report[0].stat().st_size / 5
    assert "not included in this report" in " ".join(page.text)


def test_audio_minutes_caps_each_session(tmp_path):
    session = SAMPLES / "beta-2024-10-01.jsonl"
    out = tmp_path / "report.html"
    result = run_report(str(session), "-o", str(out), "--audio-minutes", "0.05")
    assert result.exit_code == 0
    assert "1 cut at --audio-minutes" in result.stdout
    _, page = read_page(out)
    ((samples, rate),) = embedded_wavs(page)
    assert (len(samples), rate) == (3 * 16000, 16000)
    assert "first 0:03 of 0:12" in " ".join(page.text)
    assert page.all("rect", **{"class": "not-embedded"})


def test_the_report_is_replaced_whole_and_private(tmp_path):
    out = tmp_path / "new" / "dir" / "report.html"
    assert run_report(str(SAMPLES / "ga-text-only.jsonl"), "-o", str(out)).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert run_report(str(SAMPLES / "ga-push-to-talk.jsonl"), "-o", str(out)).exit_code == 0
    assert "ga-push-to-talk" in out.read_text() and "ga-text-only" not in out.read_text()
    assert os.listdir(out.parent) == ["report.html"]  # no temporary file left behind


def test_a_corrupt_line_is_a_warning_and_the_rest_is_reported(tmp_path):
    session = SessionFile("cut-call")
    session.server(0.0, "session.created", **ga_session_created())
    session.client(1.0, "response.create")
    session.created(1.05, "resp_1")
    session.text_delta(1.3, "resp_1", "Still here.")
    session.raw(1.4, '{"kind": "frame", "t": 1.4, "from": "ser')
    session.done(1.5, "resp_1", usage=ga_usage(input_text=5, output_text=3))
    path = session.write(tmp_path / "in")
    out = tmp_path / "report.html"
    result = run_report(str(path), "-o", str(out))
    assert result.exit_code == 0
    bad_line = session.lines.index('{"kind": "frame", "t": 1.4, "from": "ser') + 1
    assert f"warning: {path}:{bad_line}: not valid JSON" in result.stderr
    assert "Still here." in " ".join(read_page(out)[1].text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/sessions"], "Error: no session files match '/nonexistent/sessions'\n"),
        (["SAMPLE", "-o", "FILE/report.html"], "Error: cannot write FILE/report.html: "),
    ],
)
def test_user_errors_are_one_line(tmp_path, args, message):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    args = [
        a.replace("SAMPLE", str(SAMPLES / "ga-text-only.jsonl")).replace("FILE", str(blocker))
        for a in args
    ]
    result = CliRunner().invoke(cli, ["report", *args])
    assert result.exit_code == 1
    assert result.stderr.startswith(message.replace("FILE", str(blocker)))
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_help_has_an_example():
    result = CliRunner().invoke(cli, ["report", "--help"])
    assert result.exit_code == 0
    assert "Example:\n    rt report sessions/ --out report.html\n" in result.stdout
    assert "-o, --out FILE" in result.stdout
    assert "--output" not in result.stdout and "--no-audio" in result.stdout


def test_library_call_writes_the_same_page(tmp_path):
    stats = collect_stats([SAMPLES / "ga-text-only.jsonl"])
    written = write_report(
        stats, tmp_path / "r.html", ReportOptions(title="Calls", generated_at="today")
    )
    assert (written.sessions, written.audio_sessions, written.audio_bytes) == (1, 0, 0)
    result = run_report(str(SAMPLES / "ga-text-only.jsonl"), "-o", str(tmp_path / "cli.html"))
    assert result.stdout.endswith("  1 session, none with audio\n")
    html = (tmp_path / "r.html").read_text()
    assert "<title>Calls</title>" in html and "generated today by rt" in html


# -- the pure parts ---------------------------------------------------------------------------------


def sine(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.rint(16000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def rms(samples: np.ndarray) -> float:
    middle = samples[len(samples) // 10 : -len(samples) // 10].astype(np.float64)
    return float(np.sqrt(np.mean(middle**2)))


@pytest.mark.parametrize(("freq", "kept"), [(440, 1.0), (3000, 1.0), (6500, 1.0), (9000, 0.0)])
def test_resample_keeps_speech_and_drops_what_would_alias(freq, kept):
    out = resample(sine(freq, 1.0, 24000), 24000, 16000)
    assert out.dtype == np.int16 and len(out) == 16000
    assert rms(out) / (16000 / np.sqrt(2)) == pytest.approx(kept, abs=0.02)


def test_resample_keeps_the_timing_of_what_it_keeps():
    click = np.zeros(24000, np.int16)
    click[12000] = 30000
    out = resample(click, 24000, 16000)
    assert int(np.argmax(out)) == 8000
    up = resample(sine(440, 0.5, 8000), 8000, 16000)
    assert len(up) == 8000 and rms(up) == pytest.approx(rms(sine(440, 0.5, 16000)), rel=0.02)
    assert resample(np.zeros(0, np.int16), 24000, 16000).size == 0


def test_downmix_sums_both_sides_and_clips():
    stereo = np.array([[1000, 2000], [30000, 30000], [-30000, -30000]], np.int16)
    assert downmix(stereo).tolist() == [3000, 32767, -32768]


def test_embed_mix_is_a_mono_wav_of_the_first_seconds():
    from recorder.audio import Track

    stereo = np.stack([sine(300, 4.0, 24000), np.zeros(96000, np.int16)], axis=1)
    audio = embed_mix(Track("mix", 24000, stereo), max_seconds=1.5)
    samples, rate = sf.read(io.BytesIO(audio.wav), dtype="int16")
    assert (rate, len(samples), audio.cut, audio.full_seconds) == (16000, 24000, True, 4.0)
    g711 = embed_mix(Track("mix", 8000, np.zeros((800, 2), np.int16)), max_seconds=60)
    assert (g711.rate, g711.seconds, g711.cut) == (8000, 0.1, False)


def test_waveform_is_min_and_max_per_column():
    samples = np.array([0, 16384, -8192, 0, 32767, -32768, 0, 0], np.int16)
    wave = waveform(samples, rate=4, seconds=3.0, columns=6)  # 2 samples a column, then none
    assert wave.high.tolist() == [0.5, 0.0, 32767 / 32768, 0.0, 0.0, 0.0]
    assert wave.low.tolist() == [0.0, -0.25, -1.0, 0.0, 0.0, 0.0]


def feed(records: list[dict[str, Any]]) -> Any:
    """The conversation of some records, read as every reader reads them (bad ones skipped)."""
    interpreter = Interpreter()
    collector = ConversationCollector()
    for line, record in enumerate(records, start=1):
        try:
            checked = decode_line(json.dumps(record))
        except SessionFormatError:
            continue
        frame = interpreter.feed(line, checked)
        if frame is not None:
            collector.feed(frame)
    return collector.finish(interpreter.finish())


def frame(t: float, sender: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "frame", "t": t, "from": sender, "event": {"type": kind, **fields}}


def test_conversation_orders_turns_where_they_begin():
    conversation = feed(
        [
            frame(0.5, "client", "input_audio_buffer.append", audio=""),
            frame(1.5, "server", "input_audio_buffer.committed", item_id="u1"),
            frame(
                1.6,
                "server",
                "conversation.item.added",
                item={"id": "u1", "type": "message", "role": "user", "content": []},
            ),
            frame(1.7, "server", "response.created", response={"id": "r1"}),
            frame(2.0, "server", "response.output_audio.delta", response_id="r1", delta=""),
            frame(
                2.1,
                "server",
                "response.output_audio_transcript.delta",
                response_id="r1",
                item_id="i1",
                delta="Hel",
            ),  # fmt: skip
            frame(
                2.2,
                "server",
                "response.output_audio_transcript.delta",
                response_id="r1",
                item_id="i1",
                delta="lo",
            ),  # fmt: skip
            frame(
                2.3,
                "server",
                "conversation.item.input_audio_transcription.completed",
                item_id="u1",
                transcript="Hi there",
            ),  # fmt: skip
            frame(3.0, "server", "response.done", response={"id": "r1", "output": []}),
        ]
    )
    assert [(t.t, t.role, t.text) for t in conversation.turns] == [
        (0.5, USER, "Hi there"),
        (2.0, ASSISTANT, "Hello"),
    ]
    assert conversation.responses["r1"].created_t == 1.7
    assert conversation.responses["r1"].done_t == 3.0


def test_conversation_prefers_full_texts_and_keeps_deltas_of_cancelled_responses():
    message = {"id": "i2", "type": "message", "content": [{"type": "audio", "transcript": "Full."}]}
    call = {"id": "c1", "type": "function_call", "name": "lookup", "arguments": '{"q":1}'}
    conversation = feed(
        [
            frame(1.0, "server", "response.created", response={"id": "r1"}),
            frame(
                1.1,
                "server",
                "response.output_text.delta",
                response_id="r1",
                item_id="i1",
                delta="Partial, cut",
            ),  # fmt: skip
            frame(
                1.2,
                "server",
                "response.done",
                response={"id": "r1", "status": "cancelled", "output": []},
            ),  # fmt: skip
            frame(2.0, "server", "response.created", response={"id": "r2"}),
            frame(
                2.1,
                "server",
                "response.audio_transcript.delta",
                response_id="r2",
                item_id="i2",
                delta="Ful",
            ),  # fmt: skip
            frame(2.3, "server", "response.done", response={"id": "r2", "output": [message, call]}),
            frame(
                2.4,
                "server",
                "conversation.item.added",
                item={"id": "o1", "type": "function_call_output", "output": "42"},
            ),  # fmt: skip
            frame(
                2.5,
                "server",
                "conversation.item.added",
                item={
                    "id": "u2",
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_audio", "transcript": None}],
                },
            ),  # fmt: skip
        ]
    )
    assert [(t.role, t.text, t.response_id) for t in conversation.turns] == [
        (ASSISTANT, "Partial, cut", "r1"),
        (ASSISTANT, "Full.", "r2"),
        (FUNCTION_CALL, 'lookup({"q":1})', "r2"),
        (FUNCTION_OUTPUT, "42", None),
        (USER, SPOKEN, None),
    ]


def test_conversation_ignores_what_it_cannot_read():
    conversation = feed(
        [
            {"kind": "session", "id": "x"},
            {"kind": "frame", "t": 1.0, "from": "server", "text": "not json"},
            frame(1.0, "server", "response.created", response="nope"),
            frame(1.1, "server", "response.output_text.delta", response_id=7, delta=None),
            frame(1.2, "server", "conversation.item.added", item=[1, 2]),
            {"kind": "frame", "t": "soon", "from": "server", "event": {"type": 5}},
        ]
    )
    assert conversation.turns == () and dict(conversation.responses) == {}


def test_chart_helpers():
    assert nice_step(1000, 5) == 200 and nice_step(0.7, 7) == 0.1 and nice_step(0, 5) == 1
    assert ticks(0, 1000, 5) == [0, 200, 400, 600, 800, 1000]
    assert (level(799, (800, 1500)), level(801, (800, 1500)), level(1501, (800, 1500))) == (
        "good",
        "warn",
        "slow",
    )
    assert level(None, (800, 1500)) is None and level(5, None) is None
    for values in ([500.0], [400.0, 400.0], [10.0, 20000.0], [0.0, 1.0, 2.5]):
        svg = histogram(values, "h", thresholds=(800, 1500), markers={"p50": values[0]})
        ET.fromstring(svg)
        assert sum(1 for _ in re.finditer(r'class="bar', svg)) >= 1
    ET.fromstring(session_timeline(0.5, []))
