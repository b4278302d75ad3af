"""`rt check`'s config and expressions: what they mean, and errors that name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorder.check import (
    BUILT_IN,
    CheckConfigError,
    ExpressionError,
    default_config,
    load_config,
    parse_config,
    parse_expression,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "rt-check.toml"


# -- expressions ---------------------------------------------------------------------------------


def test_expressions_name_rows_fields_and_aggregates():
    cases = {
        "ttfb_ms.p95 <= 800": ("responses", "ttfb_ms", "p95", "<=", 800.0, False),
        "cost_usd.per_session.max<=0.05": ("sessions", "cost_usd", "max", "<=", 0.05, False),
        "errors == 0": ("errors", None, "count", "==", 0.0, False),
        "responses.count >= 1": ("responses", None, "count", ">=", 1.0, False),
        "ttfb_ms.p50 <= +20%": ("responses", "ttfb_ms", "p50", "<=", 20.0, True),
        "cost_usd.per_session.sum <= + 10 %": ("sessions", "cost_usd", "sum", "<=", 10.0, True),
        "output_tokens.mean >= -5%": ("responses", "output_tokens", "mean", ">=", -5.0, True),
        "voice_to_voice_ms.min > -250": (
            "responses",
            "voice_to_voice_ms",
            "min",
            ">",
            -250.0,
            False,
        ),
        "ttfb_final_ms.p75 < 1e3": ("responses", "ttfb_final_ms", "p75", "<", 1000.0, False),
        "turns.per_session.count != 0": ("sessions", "turns", "count", "!=", 0.0, False),
    }
    for text, (rows, field, aggregate, op, limit, relative) in cases.items():
        e = parse_expression(text)
        assert (e.metric.rows, e.metric.field, e.metric.aggregate) == (rows, field, aggregate), text
        assert (e.op, e.limit, e.relative) == (op, limit, relative), text
    assert parse_expression("ttfb_ms.p75 < 1e3").metric.quantile == 0.75
    assert parse_expression("cost_usd.per_session.sum <= + 10 %").text == (
        "cost_usd.per_session.sum <= +10%"
    )


def test_a_relative_limit_is_a_change_from_the_baseline():
    slower = parse_expression("ttfb_ms.p50 <= +20%")
    assert slower.bound(500.0) == pytest.approx(600.0)
    assert slower.holds(599.0, 500.0) and not slower.holds(601.0, 500.0)
    cheaper = parse_expression("cost_usd.per_session.sum >= -10%")
    assert cheaper.holds(0.9, 1.0) and not cheaper.holds(0.89, 1.0)
    with pytest.raises(ValueError):
        slower.bound(None)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ttfb_ms <= 800", "'ttfb_ms' needs an aggregate"),
        ("ttfb_ms.p97.5 <= 800", "cannot read the metric"),
        ("ttfb_ms.median <= 800", "unknown aggregate 'median'"),
        ("ttfb_ms.p100 <= 800", "unknown aggregate 'p100'"),
        ("ttfb_ms.p95 => 800", "expected METRIC OP LIMIT"),
        ("ttfb_ms.p95 <= fast", "cannot read the limit 'fast'"),
        ("ttfb_ms.p95 <= 20%", "signed percentage"),
        ("cost_usd.per_call.max <= 1", "cannot read the metric"),
    ],
)
def test_bad_expressions_say_what_is_wrong(text, says):
    with pytest.raises(ExpressionError, match=says.replace("(", r"\(").replace(".", r"\.")):
        parse_expression(text)


# -- the config ------------------------------------------------------------------------------------


def test_the_example_config_reads(tmp_path):
    config = load_config(EXAMPLE)
    labels = [rule.label for rule in config.rules]
    assert 'latency: ttfb_ms.p95 <= 800 where kind = "turn"' in labels
    assert (
        "voice to voice: voice_to_voice_ms.p95 <= 1200 "
        'where kind = "turn" and trigger = "input_audio_buffer.speech_stopped"' in labels
    )
    assert 'failed responses: responses == 0 where status in ["failed", "incomplete"]' in labels
    compare = config.compare
    assert (compare.tool_calls, compare.statuses, compare.error_types) == (True, True, True)
    assert compare.transcript_similarity == 0.6
    # each expression knows its line (the one a reader would point at)
    lines = EXAMPLE.read_text().splitlines()
    for rule in config.rules:
        assert rule.origin.file == str(EXAMPLE)
        assert rule.expectation.text.split(" ")[0] in lines[rule.origin.line - 1], rule.label


def test_groups_keep_their_filter_scope_and_lines():
    text = """\
pricing = "prices.toml"

[[checks]]
name = "turns"
where = { trigger = "input_audio_buffer.speech_stopped", status = ["completed", "cancelled"] }
scope = "recording"
expect = [
  "ttfb_ms.p95 <= 800",
  "ttfb_ms.p95 <= 800",
]

[[checks]]
expect = "errors == 0"
"""
    config = parse_config(text, "conf/rt-check.toml")
    first, again, errors = config.rules
    assert first.where == {
        "trigger": ("input_audio_buffer.speech_stopped",),
        "status": ("completed", "cancelled"),
    }
    assert (first.scope, first.group, first.origin.line, first.where_origin.line) == (
        "recording",
        "turns",
        8,
        5,
    )
    assert again.origin.line == 9  # the same text twice: each at its own line
    assert (errors.scope, errors.group, errors.where, errors.origin.line) == ("both", None, {}, 13)
    assert config.pricing == Path("conf/prices.toml")
    assert not config.compare.any


def test_the_built_in_defaults():
    config = default_config()
    assert config.source == BUILT_IN
    assert [rule.expectation.text for rule in config.rules] == ["errors == 0"]
    assert config.compare.tool_calls and config.compare.statuses and config.compare.error_types
    assert config.compare.transcript_similarity is None


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ('[[checks]]\nexpect = ["ttfb_ms.p95 <= 800"\n', 2, "not valid TOML: unclosed array"),
        (
            '[[checks]]\nexpect = ["errors == 0"]\nname = = "x"\n',
            3,
            "not valid TOML: invalid value (column 8)",
        ),
        (
            '[[checks]]\nexpect = [\n  "errors == 0",\n  "ttfb_ms.p95 <== 800",\n]\n',
            4,
            "cannot read",
        ),
        (
            '[[checks]]\nexpect = ["ttfb_ms.p95 <= 800"]\n\n[[checks]]\nexpekt = ["x"]\n',
            5,
            "unknown key 'expekt' in [[checks]]",
        ),
        ('[[checks]]\nexpect = ["errors == 0"]\nscope = "each"\n', 3, "scope must be one of"),
        (
            '[[checks]]\nwhere = "kind = turn"\nexpect = ["errors == 0"]\n',
            2,
            "where must be a table",
        ),
        (
            '[[checks]]\nwhere = { kind = { a = 1 } }\nexpect = ["errors == 0"]\n',
            2,
            "where.kind must be",
        ),
        ('[[checks]]\nname = "x"\n', 1, "expect must be a list of expressions"),
        ("[[checks]]\nexpect = []\n", 2, "expect must be a list"),
        ('\n[compare]\ntool_calls = "yes"\n', 3, "tool_calls must be true or false"),
        (
            "[compare]\n\ntranscript_similarity = 80\n",
            3,
            "transcript_similarity must be a number from 0 to 1",
        ),
        ("[compare]\nstatus = true\n", 2, "unknown key 'status' in [compare]"),
        ("checks = 3\n", 1, "checks must be tables"),
        ("thresholds = []\n", 1, "unknown key 'thresholds' in the top level"),
    ],
)
def test_config_errors_name_the_file_and_line(text, line, says):
    with pytest.raises(CheckConfigError) as caught:
        parse_config(text, "ci/rt-check.toml")
    message = str(caught.value)
    assert message.startswith(f"ci/rt-check.toml:{line}: "), message
    assert says in message
    assert "\n" not in message


def test_a_config_that_is_not_there_or_not_text(tmp_path):
    with pytest.raises(Exception, match="cannot read the check config"):
        load_config(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[[checks]]")
    with pytest.raises(CheckConfigError, match="binary.toml: not UTF-8 text"):
        load_config(binary)
