"""`rt check`'s verdicts and reports: aggregates as `rt stats` computes them, failures that
name the recording, the response and the metric, comparisons with a baseline, and the JUnit,
Markdown and JSON a CI system reads."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from junitparser import Failure, JUnitXml, Skipped

from recorder.analytics import collect_stats
from recorder.check import (
    ALL,
    CheckConfigError,
    ObservedRecording,
    Pair,
    ToolCall,
    evaluate,
    junit_xml,
    markdown_summary,
    observe,
    pair_recordings,
    parse_config,
    session_files,
    similarity,
)
from recorder.check.behaviour import compare_error_types, compare_statuses, compare_tool_calls

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_sessions"


# The Realtime samples: the figures below are theirs (the GPT-Live samples have tests of their own)
@pytest.fixture(scope="module")
def samples():
    """The samples, named as `rt check sample_sessions/` run from the repository names them."""
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        return observe(session_files(["sample_sessions/"]))
    finally:
        os.chdir(here)


def config(text: str):
    return parse_config(text, "rt-check.toml")


def recording(
    file: str,
    ttfb: list[float | None],
    *,
    statuses: list[str] | None = None,
    calls: list[ToolCall] = (),  # type: ignore[assignment]
    said: list[str] | None = None,
    errors: list[dict[str, Any]] = (),  # type: ignore[assignment]
    cost: float = 0.01,
) -> ObservedRecording:
    """A recording as `observe` returns it, with the rows `rt stats` would give."""
    responses = [
        {
            "file": file,
            "response_id": f"{Path(file).stem}-r{n}",
            "ttfb_ms": value,
            "status": (statuses or [])[n - 1] if statuses else "completed",
        }
        for n, value in enumerate(ttfb, start=1)
    ]
    return ObservedRecording(
        file=file,
        session=Path(file).stem,
        responses=responses,
        sessions=[{"file": file, "session": Path(file).stem, "cost_usd": cost}],
        errors=[{"file": file, **e} for e in errors],
        tool_calls=list(calls),
        transcripts=said if said is not None else ["" for _ in ttfb],
    )


def observations(*recordings: ObservedRecording):
    from recorder.check import Observations

    fields = {
        "responses": frozenset({"file", "response_id", "ttfb_ms", "status", "session"}),
        "sessions": frozenset({"file", "session", "cost_usd"}),
        "errors": frozenset({"file", "type", "code", "t", "message", "source"}),
    }
    return Observations(list(recordings), fields)  # type: ignore[arg-type]


# -- thresholds over the samples -----------------------------------------------------------------


def test_aggregates_over_the_turns_of_all_recordings_are_rt_stats_summary(samples):
    summary = collect_stats([SAMPLES]).summary
    aggregates = ("count", "mean", "p50", "p90", "p95", "p99", "max")
    metrics = ("ttfb_ms", "ttft_ms", "duration_ms", "voice_to_voice_ms")
    expressions = [f"{m}.{a} >= 0" for m in metrics for a in aggregates]
    # the summary's latencies cover turns, Realtime's and GPT-Live's (CONTRACT §4.1, §4.4): the
    # same filter here
    text = (
        '[[checks]]\nscope = "all"\nwhere = { kind = ["turn", "live_turn"] }\nexpect = ['
        + ", ".join(f'"{e}"' for e in expressions)
        + "]"
    )
    report = evaluate(config(text), samples)
    got = {v.check: v.value for v in report.verdicts}
    for metric in metrics:
        for aggregate in aggregates:
            expected = summary[metric][aggregate]
            check = f'{metric}.{aggregate} >= 0 where kind in ["turn", "live_turn"]'
            assert got[check] == pytest.approx(expected, abs=6e-4), (
                metric,
                aggregate,
            )
    cost = evaluate(config('[[checks]]\nexpect = ["cost_usd.per_session.sum >= 0"]'), samples)
    assert cost.verdicts[0].value == pytest.approx(summary["cost_usd"])
    assert cost.cost_usd == pytest.approx(summary["cost_usd"])


def test_a_failure_names_the_recording_the_metric_and_the_response(samples):
    report = evaluate(config('[[checks]]\nexpect = ["ttfb_ms.max <= 500", "errors == 0"]'), samples)
    assert not report.passed
    failures = {(v.check, v.scope): v for v in report.failures}
    azure = failures[("ttfb_ms.max <= 500", "sample_sessions/azure-preview-g711.jsonl")]
    assert azure.message.startswith(
        "sample_sessions/azure-preview-g711.jsonl: ttfb_ms.max = 602.812, expected <= 500; "
        "worst: resp_sbOLRSvAWRcsnTL9i57VN 602.812"
    )
    overall = failures[("ttfb_ms.max <= 500", ALL)]
    assert overall.details[:2] == (
        "live-1 in sample_sessions/live-g711.jsonl 740.561",  # a GPT-Live turn
        "live-1 in sample_sessions/live-websocket.jsonl 725.971",
    )
    assert "(and " in overall.message  # the beta, Azure and errors samples are over 500 ms too
    errors = failures[("errors == 0", "sample_sessions/errors-and-rate-limits.jsonl")]
    assert errors.got == "2"
    assert errors.details == (
        "invalid_request_error/input_audio_buffer_commit_empty at 0.058 s",
        "invalid_request_error/response_cancel_not_active at 14.858 s",
    )
    # the recordings that hold no error pass, the one without audio is skipped, not failed
    passed = {v.scope for v in report.verdicts if v.outcome == "pass"}
    assert "sample_sessions/ga-push-to-talk.jsonl" in passed
    text_only = [v for v in report.verdicts if v.scope.endswith("ga-text-only.jsonl")]
    assert [v.outcome for v in text_only] == ["skip", "pass"]
    assert "nothing to measure: no response row has a ttfb_ms" in text_only[0].message


def test_filters_and_scopes(samples):
    text = """
[[checks]]
where = { trigger = "input_audio_buffer.speech_stopped" }
scope = "all"
expect = ["voice_to_voice_ms.count == 5", "responses == 7"]  # 2 of a sideband: no audio

[[checks]]
where = { status = "cancelled" }
scope = "recording"
expect = ["responses == 0"]
"""
    report = evaluate(config(text), samples)
    assert [(v.scope, v.outcome) for v in report.verdicts[:2]] == [(ALL, "pass"), (ALL, "pass")]
    cancelled = [v.scope for v in report.failures]
    assert cancelled == [
        "sample_sessions/errors-and-rate-limits.jsonl",
        "sample_sessions/ga-server-vad-barge-in.jsonl",
    ]
    assert all(v.scope != ALL for v in report.verdicts[2:])


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        (
            '[[checks]]\nwhere = { mood = "sunny" }\nexpect = ["ttfb_ms.p95 <= 800"]',
            2,
            "cannot filter on 'mood': response rows have no such field (they have ",
        ),
        (
            '[[checks]]\nexpect = [\n  "errors == 0",\n  "ttfb_finale_ms.p95 <= 800",\n]',
            4,
            "unknown metric 'ttfb_finale_ms' in 'ttfb_finale_ms.p95 <= 800': response rows have ",
        ),
        (
            '[[checks]]\nwhere = { model = "x" }\nexpect = ["errors == 0"]',
            2,
            "cannot filter on 'model': error rows have no such field",
        ),
        (
            '[[checks]]\nexpect = ["status.p95 <= 1"]',
            2,
            "status is not a number (it holds 'completed' in sample_sessions/",
        ),
    ],
)
def test_fields_the_rows_do_not_have_are_config_errors_with_their_line(samples, text, line, says):
    with pytest.raises(CheckConfigError) as caught:
        evaluate(config(text), samples)
    assert str(caught.value).startswith(f"rt-check.toml:{line}: {says}")


def test_any_field_of_the_rows_is_a_metric_and_a_filter():
    # any field of the rows (kind, ttfb_final_ms, and those added later) needs no change here
    rows = observations(recording("a.jsonl", [300.0, 900.0]))
    for row, kind in zip(rows.recordings[0].responses, ["turn", "out_of_band"], strict=True):
        row["kind"] = kind  # type: ignore[index]
        row["ttfb_final_ms"] = row["ttfb_ms"] + 50  # type: ignore[index]
    fields = dict(rows.fields)
    fields["responses"] = fields["responses"] | {"kind", "ttfb_final_ms"}
    rows = type(rows)(rows.recordings, fields)
    text = '[[checks]]\nwhere = { kind = "turn" }\nexpect = ["ttfb_final_ms.max <= 400"]'
    report = evaluate(config(text), rows)
    assert [(v.outcome, v.value) for v in report.verdicts] == [("pass", 350.0)]


# -- comparisons with a baseline ---------------------------------------------------------------


def test_a_relative_limit_passes_the_same_and_fails_300_ms_slower():
    old = [recording("a.jsonl", [400.0, 420.0]), recording("b.jsonl", [500.0, 510.0])]
    same = [recording("a2.jsonl", [401.0, 425.0]), recording("b2.jsonl", [502.0, 505.0])]
    slower = [recording("a2.jsonl", [401.0, 720.0]), recording("b2.jsonl", [502.0, 505.0])]
    rule = config('[[checks]]\nexpect = ["ttfb_ms.max <= +20%"]')
    names = {"a2.jsonl": "a.jsonl", "b2.jsonl": "b.jsonl"}

    def check(new: list[ObservedRecording]):
        pairs = [Pair(n, o) for n, o in zip(new, old, strict=True)]
        return evaluate(rule, observations(*new), pairs=pairs, names=names, baseline="originals")

    assert check(same).passed
    report = check(slower)
    assert [(v.scope, v.outcome) for v in report.verdicts] == [
        (ALL, "fail"),
        ("a.jsonl", "fail"),
        ("b.jsonl", "pass"),
    ]
    failure = report.verdicts[1]
    assert failure.message == (
        "a.jsonl: ttfb_ms.max = 720, baseline 420 (+71.4%), expected <= +20% (504); "
        "largest change: response 2 (a2-r2, was a-r2): ttfb_ms 420 → 720 (+300.0)"
    )
    assert (failure.value, failure.baseline, failure.limit) == (720.0, 420.0, pytest.approx(504))
    assert failure.got == "720 (+71.4%)" and failure.expected == "<= +20% (504)"


def test_recordings_pair_by_the_call_they_replay():
    originals = [recording("calls/a.jsonl", [1.0]), recording("calls/b.jsonl", [1.0])]
    replays = [recording("run/x.jsonl", [1.0]), recording("run/y.jsonl", [1.0])]
    origins = {str(Path("run/y.jsonl").resolve()): "a", str(Path("run/x.jsonl").resolve()): "b"}
    pairs = pair_recordings(replays, originals, origins)
    assert [(p.candidate.file, p.baseline and p.baseline.file) for p in pairs] == [
        ("run/x.jsonl", "calls/b.jsonl"),
        ("run/y.jsonl", "calls/a.jsonl"),
    ]
    lonely = pair_recordings([recording("new.jsonl", [1.0])], originals, {})
    report = evaluate(
        config('[[checks]]\nexpect = ["ttfb_ms.p50 <= +20%"]'), observations(), pairs=lonely
    )
    assert [(v.check, v.outcome, v.message) for v in report.verdicts] == [
        ("compared with a baseline", "skip", "new.jsonl: no baseline recording of the same call")
    ]


def test_relative_limits_and_comparisons_are_skipped_without_a_baseline(samples):
    text = '[[checks]]\nexpect = ["ttfb_ms.p50 <= +20%"]\n[compare]\ntool_calls = true\n'
    report = evaluate(config(text), samples)
    assert report.passed
    assert [(v.check, v.scope, v.outcome) for v in report.verdicts] == [
        ("ttfb_ms.p50 <= +20%", ALL, "skip"),
        ("tool calls unchanged", ALL, "skip"),
    ]
    assert "--target URL or --baseline DIR" in report.verdicts[0].message


def weather(response: int, *keys: str, name: str = "get_weather") -> ToolCall:
    return ToolCall(response, f"r{response}", name, tuple(sorted(keys)))


def test_tool_calls_compare_by_name_and_argument_keys():
    before = [weather(1, "location"), weather(3, "location", "unit")]
    assert compare_tool_calls(
        before, [weather(1, "location"), weather(2, "unit", "location")]
    ).holds
    renamed = compare_tool_calls(before, [weather(1, "location", name="get_time"), before[1]])
    assert not renamed.holds
    assert renamed.message == (
        "tool call 1: get_weather(location) became get_time(location) (response 1)"
    )
    assert renamed.expected == "get_weather(location), get_weather(location, unit)"
    keys = compare_tool_calls(before, [before[0], weather(3, "location")])
    assert keys.message == (
        "tool call 2: get_weather(location, unit) became get_weather(location) (response 3)"
    )
    missing = compare_tool_calls(before, before[:1])
    assert missing.message == "tool call 2 is missing: get_weather(location, unit) (response 3)"
    extra = compare_tool_calls([], [weather(2)])
    assert (extra.expected, extra.message) == (
        "no tool calls",
        "tool call 1 is new: get_weather() in response 2",
    )
    unreadable = ToolCall(1, "r1", "lookup", None)
    assert str(unreadable) == "lookup(?)"


def test_the_transcript_measure():
    answer = (
        "Your order 4271 shipped on Monday and should arrive by Thursday, said the courier today."
    )
    assert similarity(answer, answer.upper().replace(",", " ")) == 1.0  # case and punctuation
    assert similarity("", "") == 1.0 and similarity("hello", "") == 0.0
    one_word_less = answer.replace(" today", "")
    assert similarity(answer, one_word_less) == pytest.approx(2 * 14 / 29)
    half = "Your order 4271 shipped on Monday and will come next week by post."
    assert 0.4 < similarity(answer, half) < 0.7
    assert similarity("don't stop", "dont stop") == 0.5  # an apostrophe keeps a word whole


def test_statuses_and_error_types():
    rows = [
        {"response_id": "a", "status": "completed"},
        {"response_id": "b", "status": "completed"},
    ]
    changed = [
        {"response_id": "x", "status": "completed"},
        {"response_id": "y", "status": "cancelled"},
    ]
    assert compare_statuses(rows, rows).holds
    finding = compare_statuses(rows, changed)
    assert finding.message == "response 2 (y): completed became cancelled"
    assert (finding.expected, finding.got) == ("2 completed", "1 completed, 1 cancelled")
    fewer = compare_statuses(rows, changed[:1])
    assert fewer.message == "2 responses became 1; response 2 (b) is missing: it was completed"
    empty = {"type": "invalid_request_error", "code": "input_audio_buffer_commit_empty", "t": 0.1}
    busy = {
        "type": "invalid_request_error",
        "code": "conversation_already_has_active_response",
        "t": 2.5,
        "message": "Conversation already has an active response in progress.",
    }
    proxy = {"type": None, "code": None, "source": "proxy", "t": 3.0, "message": "replay timed out"}
    assert compare_error_types([empty, busy], [busy, empty]).holds  # order may move
    errors = compare_error_types([empty], [busy, proxy])
    assert errors.details == (
        "+1 invalid_request_error/conversation_already_has_active_response (first at 2.500 s: "
        "Conversation already has an active response in progress.)",
        "-1 invalid_request_error/input_audio_buffer_commit_empty",
        "+1 rt/proxy (first at 3.000 s: replay timed out)",
    )


def test_behaviour_verdicts_per_recording():
    calls = [weather(1, "location")]
    old = recording("a.jsonl", [400.0], calls=calls, said=["It is sunny in Paris today."])
    new = recording(
        "a2.jsonl", [400.0], calls=[weather(1, "city")], said=["I cannot look that up."]
    )
    text = "[compare]\ntool_calls = true\ntranscript_similarity = 0.8\nstatuses = true\nerror_types = true\n"
    report = evaluate(
        config(text), observations(new), pairs=[Pair(new, old)], names={"a2.jsonl": "a.jsonl"}
    )
    verdicts = {v.kind: v for v in report.verdicts}
    assert [v.outcome for v in report.verdicts] == ["fail", "fail", "pass", "pass"]
    assert verdicts["tool_calls"].message == (
        "a.jsonl: tool call 1: get_weather(location) became get_weather(city) (response 1)"
    )
    assert verdicts["transcript_similarity"].message == (
        "a.jsonl: similarity 0.000 < 0.8; least alike: response 1 (0.00): "
        "'It is sunny in Paris today.' → 'I cannot look that up.'"
    )
    assert verdicts["tool_calls"].source == "rt-check.toml:2"


# -- the reports -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def failing_report(samples):
    text = '[[checks]]\nexpect = ["ttfb_ms.p95 <= 500", "errors == 0", "ttfb_ms.p50 <= +10%"]\n'
    return evaluate(config(text), samples)


def test_junit_reads_back_as_ci_systems_read_it(failing_report, tmp_path):
    path = tmp_path / "rt-check.xml"
    path.write_text(junit_xml(failing_report, timestamp="2026-12-06T10:00:00+00:00", seconds=1.5))
    xml = JUnitXml.fromfile(str(path))  # junitparser, as CI plugins parse it
    suites = list(xml)
    assert [s.name for s in suites][:2] == [ALL, "sample_sessions/azure-preview-g711.jsonl"]
    assert len(suites) == 13  # all recordings, and each of the 12
    cases = [(suite, case) for suite in suites for case in suite]
    assert len(cases) == len(failing_report.verdicts)
    failed = [(s.name, c.name) for s, c in cases if any(isinstance(r, Failure) for r in c.result)]
    assert sorted(failed) == sorted((f.scope, f.check) for f in failing_report.failures)
    skipped = [c for _, c in cases if any(isinstance(r, Skipped) for r in c.result)]
    assert len(skipped) == failing_report.count("skip")
    for suite in suites:
        assert suite.tests == len(list(suite))
        assert suite.failures == sum(1 for c in suite if not c.is_passed and not c.is_skipped)
        assert suite.skipped == sum(1 for c in suite if c.is_skipped)
        assert suite.errors == 0
    # the attributes Jenkins and GitHub's reporters key on
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and root.get("name") == "rt check"
    assert int(root.get("tests")) == len(failing_report.verdicts)
    assert int(root.get("failures")) == len(failing_report.failures)
    for suite in root.iter("testsuite"):
        assert {"name", "tests", "failures", "errors", "skipped", "time", "timestamp"} <= set(
            suite.keys()
        )
        for case in suite.iter("testcase"):
            classname = case.get("classname")
            assert classname.startswith("rt-check.") and "." not in classname[len("rt-check.") :]
            assert case.get("name") and case.get("time") == "0"
    azure = next(
        s for s in root.iter("testsuite") if s.get("name").endswith("azure-preview-g711.jsonl")
    )
    case = next(c for c in azure.iter("testcase") if c.get("name") == "ttfb_ms.p95 <= 500")
    assert case.get("classname") == "rt-check.sample_sessions/azure-preview-g711"
    assert case.get("file") == "sample_sessions/azure-preview-g711.jsonl"
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "threshold"
    assert failure.get("message").startswith(
        "sample_sessions/azure-preview-g711.jsonl: ttfb_ms.p95 = 602.812, expected <= 500"
    )
    assert failure.text.splitlines()[0] == "expected <= 500, got 602.812"
    assert failure.text.splitlines()[-1] == "check: rt-check.toml:2"


def test_junit_survives_what_a_recording_may_hold():
    nasty = recording(
        "a\x1b[31m.jsonl", [1.0], errors=[{"type": "x\x00y", "code": "<&>", "t": 1.0}]
    )
    report = evaluate(config('[[checks]]\nexpect = ["errors == 0"]'), observations(nasty))
    root = ET.fromstring(junit_xml(report))
    failure = next(root.iter("failure"))
    assert "x\ufffdy/<&> at 1.000 s" in failure.text
    assert next(root.iter("testsuite")).get("name") == "a\ufffd[31m.jsonl"


def test_markdown_cannot_be_broken_by_a_recording():
    nasty = recording(
        "a|b<script>.jsonl", [1.0], errors=[{"type": "x\n*y*", "code": None, "t": 1.0}]
    )
    report = evaluate(config('[[checks]]\nexpect = ["errors == 0"]'), observations(nasty))
    text = markdown_summary(report)
    assert "<script>" not in text and "a\\|b&lt;script>.jsonl" in text
    assert "x \\*y\\* at 1.000 s" in text


def test_markdown_summary(failing_report):
    text = markdown_summary(failing_report)
    lines = text.splitlines()
    assert lines[0].startswith("## rt check: FAILED: ")
    assert "12 recordings · config rt-check.toml · cost $0.1429" in lines[2]
    assert (
        "| ttfb_ms.p95 <= 500 | <= 500 | 726.701 | 5 pass, 5 fail, 2 skip (353.104 – 739.043) "
        "| ❌ FAIL |" in lines
    )
    assert "| errors == 0 | == 0 | 2 | 11 pass, 1 fail (0 – 2) | ❌ FAIL |" in lines
    assert "| ttfb_ms.p50 <= +10% | <= +10% | no baseline |  | ⏭️ skip |" in lines
    failures = lines[lines.index(f"### Failures ({len(failing_report.failures)})") + 2 :]
    assert failures[0].startswith("- **ttfb_ms.p95 <= 500**: all recordings: ttfb_ms.p95 = 726.701")
    assert failures[1] == "  - live-1 in sample_sessions/live-websocket.jsonl 725.971"
    assert any("errors-and-rate-limits.jsonl: errors = 2" in line for line in failures)


def test_json(failing_report):
    document = json.loads(json.dumps(failing_report.to_json(), allow_nan=False))
    assert document["passed"] is False
    assert document["counts"] == {
        "pass": failing_report.count("pass"),
        "fail": len(failing_report.failures),
        "skip": failing_report.count("skip"),
    }
    first = document["verdicts"][0]
    assert first == {
        "check": "ttfb_ms.p95 <= 500",
        "kind": "threshold",
        "scope": ALL,
        "outcome": "fail",
        "expected": "<= 500",
        "got": "726.701",
        "message": first["message"],
        "details": first["details"],
        "value": pytest.approx(726.701, abs=1e-3),
        "baseline": None,
        "limit": 500.0,
        "source": "rt-check.toml:2",
    }
    assert document["cost"]["checked_usd"] == pytest.approx(0.14289081)
