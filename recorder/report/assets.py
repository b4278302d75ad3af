"""The page's stylesheet and script, inlined into every report.

They are inline so the file opens anywhere with nothing to fetch, and the page's
Content-Security-Policy allows exactly these two blocks by their SHA-256 hashes: no other
style or script can run in the page, whatever a recording holds.
"""

STYLESHEET = """
:root {
  color-scheme: light dark;
  --bg: #f7f7f8; --panel: #ffffff; --text: #1d2230; --muted: #667085; --line: #e3e5ea;
  --accent: #3b5bdb; --good: #2f9e44; --warn: #e8a200; --slow: #e03131; --slow-bg: #fff0f0;
  --warn-bg: #fff8e1; --user: #0c8599; --assistant: #7048e8; --wait: #adb5bd;
  --k1: #74c0fc; --k2: #1c7ed6; --k3: #b197fc; --k4: #6741d9; --lane: #f1f3f5;
  --s0: #1c7ed6; --s1: #e8590c; --s2: #2f9e44; --s3: #ae3ec9;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #14161b; --panel: #1c1f26; --text: #e6e8ee; --muted: #9aa3b2; --line: #2e323c;
    --accent: #91a7ff; --good: #51cf66; --warn: #fcc419; --slow: #ff6b6b; --slow-bg: #3b1d1f;
    --warn-bg: #3a3117; --user: #3bc9db; --assistant: #b197fc; --wait: #5c6370;
    --k1: #a5d8ff; --k2: #4dabf7; --k3: #d0bfff; --k4: #9775fa; --lane: #23262e;
    --s0: #4dabf7; --s1: #ff922b; --s2: #51cf66; --s3: #da77f2;
  }
}
* { box-sizing: border-box; }
html { background: var(--bg); color: var(--text); }
body {
  margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
  "Liberation Sans", "DejaVu Sans", sans-serif; font-variant-numeric: tabular-nums;
}
header.top { padding: 28px max(24px, calc(50% - 580px)) 8px; }
header.top h1 { margin: 0 0 4px; font-size: 26px; letter-spacing: -0.01em; }
.meta, .note, .caption { color: var(--muted); font-size: 13px; }
nav { position: sticky; top: 0; z-index: 2; background: var(--bg); border-bottom: 1px solid var(--line);
  padding: 8px max(24px, calc(50% - 580px)); display: flex; gap: 18px; flex-wrap: wrap; }
nav a { color: var(--muted); text-decoration: none; font-size: 14px; }
nav a:hover { color: var(--accent); }
main { padding: 8px max(24px, calc(50% - 580px)) 48px; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 22px; margin: 18px 0; scroll-margin-top: 52px; }
h2 { margin: 0 0 12px; font-size: 19px; }
h3 { margin: 18px 0 8px; font-size: 15px; }
a { color: var(--accent); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 12px; margin-bottom: 16px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; }
.card .value { font-size: 24px; font-weight: 600; }
.card .value.good { color: var(--good); } .card .value.warn { color: var(--warn); }
.card .value.slow { color: var(--slow); }
.card .value small { font-size: 13px; font-weight: 400; color: var(--muted); }
figure { margin: 0; }
.grid-2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 18px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 13px; padding-top: 8px; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { color: var(--muted); font-weight: 600; font-size: 11.5px; text-transform: uppercase; letter-spacing: 0.02em;
  white-space: normal; vertical-align: bottom; }
.clip { display: inline-block; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; vertical-align: bottom; }
.clip.id { max-width: 15ch; } .clip.name { max-width: 20ch; }
td.num, th.num { text-align: right; }
td.wrap { white-space: normal; min-width: 260px; }
tbody tr:hover { background: var(--lane); }
td.good { color: var(--good); }
td.warn { color: var(--warn); background: var(--warn-bg); }
td.slow { color: var(--slow); background: var(--slow-bg); font-weight: 700; }
.status { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; border: 1px solid var(--line); }
.status.cancelled, .status.incomplete { color: var(--warn); border-color: var(--warn); }
.status.failed { color: var(--slow); border-color: var(--slow); }
.mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
dl.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(210px, 1fr)); gap: 4px 18px; margin: 0 0 14px; }
dl.facts dt { color: var(--muted); font-size: 12px; }
dl.facts dd { margin: 0; font-weight: 500; overflow-wrap: anywhere; }
.player { display: flex; align-items: center; gap: 14px; flex-wrap: wrap; margin: 4px 0 8px; }
.player audio { width: min(520px, 100%); height: 36px; }
.warnings li { color: var(--warn); }
ol.conversation { list-style: none; padding: 0; margin: 10px 0 0; max-height: 420px; overflow-y: auto; }
.turn { display: grid; grid-template-columns: 64px 92px 1fr; gap: 10px; padding: 6px 4px; border-bottom: 1px solid var(--line); }
.seekable .turn { cursor: pointer; }
.seekable .turn:hover { background: var(--lane); }
.turn .t { color: var(--muted); font-size: 13px; }
.turn .who { font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: 0.03em; }
.turn.user .who { color: var(--user); }
.turn.assistant .who { color: var(--assistant); }
.turn.function_call .who, .turn.function_output .who { color: var(--muted); }
.turn .said { white-space: pre-wrap; overflow-wrap: anywhere; }
.turn .chips { margin-left: 8px; font-size: 12px; color: var(--muted); }
.turn .chips .good { color: var(--good); } .turn .chips .warn { color: var(--warn); }
.turn .chips .slow { color: var(--slow); font-weight: 700; }
svg.chart { width: 100%; height: auto; display: block; font-size: 12px; }
svg.histogram { max-width: 640px; font-size: 14px; }
svg text { fill: var(--text); }
svg .tick, svg .axis-label, svg .legend-text, svg .row-note { fill: var(--muted); }
svg .lane-label, svg .row-label { fill: var(--muted); font-size: 12px; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .axis { stroke: var(--muted); stroke-width: 1; }
svg .bar { fill: var(--accent); }
svg .bar.good { fill: var(--good); } svg .bar.warn { fill: var(--warn); } svg .bar.slow { fill: var(--slow); }
svg .marker { stroke: var(--text); stroke-width: 1.2; stroke-dasharray: 4 3; }
svg .marker-label { font-weight: 600; }
svg .lane { fill: var(--lane); }
svg .wave-user { fill: var(--user); } svg .wave-assistant { fill: var(--assistant); }
svg .not-embedded { fill: var(--bg); opacity: 0.7; }
svg .wait { fill: var(--wait); } svg .wait.good { fill: var(--good); }
svg .wait.warn { fill: var(--warn); } svg .wait.slow { fill: var(--slow); }
svg .output { fill: var(--assistant); opacity: 0.75; }
svg .output.cancelled { opacity: 0.35; }
svg .trigger { fill: var(--panel); stroke: var(--text); stroke-width: 1.4; }
svg .vad-wait { stroke: var(--user); stroke-width: 1.5; stroke-dasharray: 3 3; }
svg .speech-end { fill: var(--user); }
svg .error-mark { fill: var(--slow); }
svg .response-row { cursor: pointer; }
svg .response-row:hover .row-label { fill: var(--accent); }
svg .playhead { stroke: var(--slow); stroke-width: 1.5; opacity: 0; }
svg .playhead.on { opacity: 0.9; }
svg.timeline.seekable { cursor: crosshair; }
svg .band-warn { fill: var(--warn-bg); } svg .band-slow { fill: var(--slow-bg); }
svg .series.line { fill: none; stroke-width: 2; }
svg .series-0.line { stroke: var(--s0); } svg .series-1.line { stroke: var(--s1); }
svg .series-2.line { stroke: var(--s2); } svg .series-3.line { stroke: var(--s3); }
svg .series-0.dot, svg .series-0.legend { fill: var(--s0); }
svg .series-1.dot, svg .series-1.legend { fill: var(--s1); }
svg .series-2.dot, svg .series-2.legend { fill: var(--s2); }
svg .series-3.dot, svg .series-3.legend { fill: var(--s3); }
svg .legend { font-weight: 600; }
svg .seg.k-in-text { fill: var(--k1); } svg .seg.k-in-audio { fill: var(--k2); }
svg .seg.k-out-text { fill: var(--k3); } svg .seg.k-out-audio { fill: var(--k4); }
svg a .row-label { fill: var(--accent); }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 0 0 32px; }
svg.timeline { min-width: 720px; }
svg.strip { min-width: 720px; }
svg.strip.seekable .talk, svg.strip.seekable .barge-in, svg.strip.seekable .dead-air { cursor: pointer; }
svg .talk-user { fill: var(--user); } svg .talk-assistant { fill: var(--assistant); }
svg .talk-over { fill: var(--slow); opacity: 0.45; }
svg .dead-air { fill: var(--wait); opacity: 0.35; } svg .dead-air-label { fill: var(--muted); font-size: 11px; }
svg .barge-in { fill: var(--slow); }
.strip-caption { margin: 2px 0 0; }
@media (max-width: 640px) {
  .turn { grid-template-columns: 52px 1fr; }
  .turn .who { grid-column: 2; grid-row: 1; }
  .turn .said { grid-column: 1 / -1; }
  section { padding: 14px; }
}
@media print { nav { display: none; } section { break-inside: avoid; } }
"""

# Moves each session's playhead with its audio; a click on the timeline or a turn seeks there.
SCRIPT = """
"use strict";
document.querySelectorAll("section.session").forEach(function (section) {
  var audio = section.querySelector("audio");
  var chart = section.querySelector("svg.timeline");
  if (!audio || !chart) { return; }
  var seconds = parseFloat(chart.dataset.seconds);
  var left = parseFloat(chart.dataset.left);
  var right = parseFloat(chart.dataset.right);
  var head = chart.querySelector(".playhead");
  chart.classList.add("seekable");
  function place() {
    var x = left + (right - left) * Math.min(Math.max(audio.currentTime / seconds, 0), 1);
    head.setAttribute("x1", x);
    head.setAttribute("x2", x);
    head.classList.toggle("on", audio.currentTime > 0 || !audio.paused);
  }
  function follow() {
    place();
    if (!audio.paused) { window.requestAnimationFrame(follow); }
  }
  function seek(t) {
    if (!isFinite(t)) { return; }
    audio.currentTime = Math.max(0, Math.min(t, audio.duration || t));
    place();
    audio.play().catch(function () {});
  }
  audio.addEventListener("play", follow);
  audio.addEventListener("seeked", place);
  audio.addEventListener("timeupdate", place);
  chart.addEventListener("click", function (event) {
    var row = event.target.closest(".response-row");
    if (row) { seek(parseFloat(row.dataset.t)); return; }
    var point = chart.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    var x = point.matrixTransform(chart.getScreenCTM().inverse()).x;
    if (x >= left && x <= right) { seek((x - left) / (right - left) * seconds); }
  });
  section.querySelectorAll(".turn[data-t]").forEach(function (turn) {
    turn.addEventListener("click", function () { seek(parseFloat(turn.dataset.t)); });
  });
  section.querySelectorAll("svg.strip").forEach(function (strip) {
    strip.classList.add("seekable");
    strip.addEventListener("click", function (event) {
      var mark = event.target.closest("[data-t]");
      if (mark) { seek(parseFloat(mark.dataset.t)); }
    });
  });
});
"""
