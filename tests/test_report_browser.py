"""`rt report`'s page in a real headless Chromium: it loads with no console error, fetches
nothing, shows its charts, plays its audio, and a hostile recording stays text.

Needs Debian's `chromium` (or RT_TEST_CHROMIUM naming another build) and the `playwright`
package, whose wheel ships its driver: the test launches that Chromium, never a browser of
playwright's own. Skips, saying why, when there is no Chromium; fails when there is one but
no playwright, so CI cannot pass without running it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rt_cli.main import cli
from test_report import HOSTILE_ERROR, HOSTILE_SAID, HOSTILE_TYPED, SAMPLES, hostile_session

CHROMIUM = os.environ.get("RT_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM) and os.environ.get("RT_REQUIRE_CHROMIUM"):
    pytest.fail(f"RT_REQUIRE_CHROMIUM is set (as in CI) but there is no Chromium at {CHROMIUM}")
if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium, or set RT_TEST_CHROMIUM)",
        allow_module_level=True,
    )
try:
    from playwright import sync_api
except ImportError:  # Chromium is here, so the check must run: say what is missing
    pytest.fail(
        "Chromium is installed but the playwright package is not: pip install -e '.[test]'",
        pytrace=False,
    )

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
]
TIMEOUT_MS = 15_000

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]  # a headless Chromium


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The samples and a hostile session in one report."""
    sessions = tmp_path_factory.mktemp("sessions")
    for sample in SAMPLES.glob("*.jsonl"):
        shutil.copy(sample, sessions)
    hostile_session(sessions)
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(cli, ["report", str(sessions), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Visit:
    """A page opened on the report, with everything the browser complained about."""

    def __init__(self, browser: Any, report: Path, color_scheme: str = "light") -> None:
        self.context = browser.new_context(
            viewport={"width": 1280, "height": 900}, color_scheme=color_scheme
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.console: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("dialog", self._on_dialog)
        self.url = report.resolve().as_uri()
        self.page.goto(self.url, wait_until="load")

    def _on_console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.console.append(f"{message.type}: {message.text}")

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser: Any, report: Path) -> Iterator[Visit]:
    opened = Visit(browser, report)
    try:
        yield opened
    finally:
        opened.close()


def test_page_loads_with_no_console_errors_and_fetches_nothing(visit):
    page = visit.page
    page.wait_for_function("[...document.querySelectorAll('audio')].every(a => a.readyState >= 1)")
    assert visit.console == []
    # data: URIs (the audio) are not network requests; the file itself is the only load
    assert [url for url in visit.requests if not url.startswith("data:")] == [visit.url]
    assert visit.dialogs == []
    assert page.title() == "rt report"


def test_charts_are_shown(visit):
    page = visit.page
    for selector, count in (
        ("svg.histogram", 3),  # TTFB, voice to voice, TTFT of text-only responses
        ("svg.rate-limits", 1),
        ("svg.bars", 2),
        ("svg.timeline", 13),  # the twelve samples and the hostile session
    ):
        charts = page.locator(selector)
        assert charts.count() == count, selector
        for i in range(count):
            box = charts.nth(i).bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 40, selector
    bars = page.locator("svg.histogram rect.bar")
    assert bars.count() >= 3
    assert all(bars.nth(i).bounding_box()["height"] > 1 for i in range(bars.count()))
    waves = page.locator("svg.timeline path.wave-assistant")
    assert waves.count() == 11  # the samples with assistant audio, and the hostile session
    assert waves.first.bounding_box()["height"] > 10
    assert page.locator("#summary-table td.good").count() > 0


def test_audio_plays_and_the_playhead_follows(visit):
    page = visit.page
    section = page.locator("section.session", has=page.locator("audio")).first
    audio = section.locator("audio")
    audio.evaluate(
        "a => new Promise(done => a.readyState >= 1 ? done() : a.onloadedmetadata = done)"
    )
    duration = audio.evaluate("a => a.duration")
    assert 5 < duration < 20
    assert audio.evaluate("a => a.error") is None
    row = section.locator("g.response-row").first
    start = float(row.get_attribute("data-t"))
    row.click()
    page.wait_for_function(
        "([a, t]) => Math.abs(a.currentTime - t) < 0.5",
        arg=[audio.element_handle(), start],
    )
    head = section.locator("line.playhead")
    page.wait_for_function("h => h.classList.contains('on')", arg=head.element_handle())
    x = float(head.get_attribute("x1"))
    assert 112 < x < 985
    assert visit.console == []


def test_a_click_on_the_conversation_strip_plays_from_there(visit):
    page = visit.page
    section = page.locator("section.session", has=page.locator("svg.strip .barge-in")).first
    audio = section.locator("audio")
    audio.evaluate(
        "a => new Promise(done => a.readyState >= 1 ? done() : a.onloadedmetadata = done)"
    )
    spurt = section.locator("svg.strip rect.talk-assistant").last
    start = float(spurt.get_attribute("data-t"))
    assert start > 1
    spurt.click()
    page.wait_for_function(
        "([a, t]) => Math.abs(a.currentTime - t) < 0.5",
        arg=[audio.element_handle(), start],
    )
    assert visit.console == []


def test_hostile_recording_renders_as_text(visit):
    page = visit.page
    hostile = page.locator("section.session", has_text="hostile<b>")
    assert hostile.count() == 1
    said = hostile.locator("li.turn .said")
    texts = [said.nth(i).inner_text() for i in range(said.count())]
    assert any(HOSTILE_SAID in text for text in texts)
    assert any(HOSTILE_TYPED in text for text in texts)
    assert HOSTILE_ERROR in page.locator("#errors-table").inner_text()
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.locator("script").count() == 1
    assert visit.dialogs == [] and visit.console == []


def test_dark_scheme_has_its_own_colours(browser, report):
    colours = {}
    for scheme in ("light", "dark"):
        opened = Visit(browser, report, scheme)
        try:
            colours[scheme] = opened.page.evaluate(
                "getComputedStyle(document.documentElement).backgroundColor"
            )
            assert opened.console == []
        finally:
            opened.close()
    assert colours["light"] != colours["dark"]


# -- layout at laptop widths, and session names -------------------------------------------------

VIEWPORTS = (1280, 1340, 1400)
LONG_NAME = "Call with ACME about a delayed order, second attempt"
RECORDED_NAME = "Order status, recorded name"
# every box that must stay inside the viewport, and the content that must stay inside its card
LAYOUT_PROBLEMS = """() => {
  const vw = document.documentElement.clientWidth;
  const problems = [];
  if (document.documentElement.scrollWidth > vw) {
    problems.push(`the page is ${document.documentElement.scrollWidth} px wide`);
  }
  for (const card of document.querySelectorAll("section")) {
    const box = card.getBoundingClientRect();
    const name = card.id || card.className;
    if (box.right > vw + 0.5) { problems.push(`${name} ends at ${box.right} px`); }
    const inner = box.right - parseFloat(getComputedStyle(card).paddingRight) + 0.5;
    for (const part of card.querySelectorAll("table, svg.chart, dl, .player")) {
      const right = part.getBoundingClientRect().right;
      if (right > inner) { problems.push(`${part.tagName} ${part.id} in ${name} ends at ${right} > ${inner}`); }
    }
    for (const scroller of card.querySelectorAll(".scroll")) {
      if (scroller.scrollWidth > scroller.clientWidth + 1) {
        problems.push(`${name}: ${scroller.firstElementChild.id || "content"} scrolls sideways`);
      }
    }
  }
  return problems;
}"""
CUT_LABELS = """() => [...document.querySelectorAll("svg.bars text.row-label")]
  .filter(t => t.getBoundingClientRect().left < t.ownerSVGElement.getBoundingClientRect().left - 0.5)
  .map(t => t.textContent)"""


@pytest.fixture(scope="module")
def rt_named_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The samples under rt's own file names; one named with --name, one in its session line."""
    from test_terminal_width import RT_NAMES

    sessions = tmp_path_factory.mktemp("rt-named")
    for sample in SAMPLES.glob("*.jsonl"):
        target = sessions / f"{RT_NAMES[sample.stem]}.jsonl"
        lines = sample.read_text().splitlines(keepends=True)
        if sample.stem == "ga-push-to-talk":
            first = json.loads(lines[0])
            lines[0] = json.dumps({**first, "name": RECORDED_NAME}) + "\n"
        target.write_text("".join(lines))
    out = tmp_path_factory.mktemp("report") / "named.html"
    args = ["report", str(sessions), "--out", str(out)]
    args += ["--name", f"{RT_NAMES['ga-text-only']}={LONG_NAME}"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    expected = {
        "20261206T102558.394066Z-0b534222": RECORDED_NAME,
        "20261206T102601.120002Z-7c3d9b44": LONG_NAME,
        "20261206T102558.401233Z-0b9e11f0": "12-06 10:25:58 0b9e",
    }
    return out, expected


@pytest.mark.parametrize("width", VIEWPORTS)
@pytest.mark.parametrize("which", ["samples", "rt-named"])
def test_no_card_is_wider_than_the_viewport(browser, report, rt_named_report, width, which):
    page_file = report if which == "samples" else rt_named_report[0]
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.goto(page_file.resolve().as_uri(), wait_until="load")
        assert page.evaluate(LAYOUT_PROBLEMS) == []
        assert page.evaluate(CUT_LABELS) == []
        # the responses table shows every column, voice to voice included, inside its card
        headers = page.locator("#responses-table thead th").all_inner_texts()
        assert any("VOICE" in h.upper() for h in headers) and headers[-1].upper() == "COST $"
    finally:
        context.close()


def test_each_session_is_titled_once_by_its_name(browser, rt_named_report):
    page_file, expected = rt_named_report
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(page_file.resolve().as_uri(), wait_until="load")
        sections = page.locator("section.session")
        titles = {}
        for i in range(sections.count()):
            section = sections.nth(i)
            heading = section.locator("h2").inner_text()
            facts = section.locator("dl.facts").inner_text()
            session_id = facts.split("session id\n", 1)[1].split("\n", 1)[0]
            assert session_id not in heading  # the id is a fact, not a second title
            assert heading.count(heading.split()[0]) == 1
            stem = Path(facts.split("file\n", 1)[1].split("\n", 1)[0]).stem
            titles[stem] = heading
        for stem, name in expected.items():
            assert titles[stem] == name
        # the same names label the bars and the tables, cut to fit but whole in their tooltip
        bars = page.locator("svg.bars a text.row-label").all_text_contents()
        assert RECORDED_NAME in bars and "12-06 10:25:58 0b9e" in bars
        assert any(text.endswith("…") and LONG_NAME.startswith(text[:-1]) for text in bars)
        assert page.locator(f'#responses-table span.clip.name[title="{LONG_NAME}"]').count() == 2
    finally:
        context.close()
