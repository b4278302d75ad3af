"""Tables that fit the terminal: `rt stats` and `rt ls` at 80, 100, 120 and 200 columns keep the
columns that matter, cut nothing a reader needs to tell rows apart, and never wrap a sparkline;
and one session label for every view (recorder/session_labels.py)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.cells import cell_len
from rich.console import Console
from rt_cli.ls import sessions_table
from rt_cli.main import cli
from rt_cli.output import Column, Table, fit_table, number_column, print_tables
from rt_cli.stats import report_tables

from recorder.analytics import collect_stats, list_sessions
from recorder.pricing import builtin_prices
from recorder.session_labels import file_stem, parse_name_option, session_labels

SAMPLES = Path(__file__).resolve().parent.parent / "sample_sessions"
WIDTHS = (80, 100, 120, 200)
# the samples as rt's proxy names its files: start time and session id
RT_NAMES = {
    "ga-push-to-talk": "20261206T102558.394066Z-0b534222",
    "ga-server-vad-barge-in": "20261206T102558.401233Z-0b9e11f0",
    "beta-2024-10-01": "20261206T102601.120001Z-7c3d2a10",
    "ga-text-only": "20261206T102601.120002Z-7c3d9b44",
    "ga-function-call": "20261206T110001.000000Z-e1a2b3c4",
    "azure-preview-g711": "20261207T080000.000000Z-5f5f5f5f",
    "errors-and-rate-limits": "20261207T080000.500000Z-a0a0a0a0",
    "ga2-preamble-oob-idle": "20261207T090000.000000Z-2b2b2b2b",
    "sideband-webrtc-call": "20261207T090001.000000Z-5d5d5d5d",
    "translation-en-fr": "20261207T090002.000000Z-7e7e7e7e",
    "live-websocket": "20261206T141654.514688Z-2f95dab9",
    "live-g711": "20261206T141040.675964Z-c55eba4d",
}


@pytest.fixture(scope="module")
def rt_named(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sessions = tmp_path_factory.mktemp("sessions")
    for sample in SAMPLES.glob("*.jsonl"):
        shutil.copy(sample, sessions / f"{RT_NAMES[sample.stem]}.jsonl")
    return sessions


def terminal(width: int) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, force_terminal=True, color_system=None), out


def stats_text(path: Path, width: int, *args: str) -> str:
    report = collect_stats([str(path)], builtin_prices())
    console, out = terminal(width)
    print_tables(report_tables(report, "response", full=False), console, *args)
    return out.getvalue()


def table_lines(text: str, title: str) -> list[str]:
    """The lines of one titled table, from its title to the blank line after its rows."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == title)
    end = next(i for i in range(start + 3, len(lines)) if not lines[i].strip())
    return lines[start:end]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("source", ["samples", "rt-named"])
def test_stats_fits_the_terminal_and_keeps_what_matters(width, source, rt_named):
    path = SAMPLES if source == "samples" else rt_named
    text = stats_text(path, width)
    for line in text.splitlines():
        if not line.startswith("not shown at "):  # the note wraps at words, like any text
            assert cell_len(line) <= width, line
    responses = table_lines(text, "Responses")
    header = responses[2].split()
    for column in ("session", "response", "status", "trigger", "ttfb"):
        assert column in header
    rows = responses[4:]
    assert len(rows) == 24  # 4 of them GPT-Live turns
    # every session but the translation one (which has no responses) has rows
    files = [str(p) for p in path.glob("*.jsonl")]
    labels = {
        label
        for file, label in session_labels(files).items()
        if Path(file).name
        not in ("translation-en-fr.jsonl", f"{RT_NAMES['translation-en-fr']}.jsonl")
    }
    # every row starts with a session label, whole or cut at its end, never at its start
    for row in rows:
        cell = row.split("   ")[0].strip()
        assert any(label == cell or label.startswith(cell.rstrip("…")) for label in labels), row
    if width >= 100:  # labels are whole, so sessions can be told apart
        assert {row.split("   ")[0].strip() for row in rows} == labels
    if width >= 120:
        assert "voice→voice ms" in responses[2] and "cost $" in responses[2]
    if width == 200:
        assert "not shown at" not in "\n".join(responses)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_sparkline_is_never_wrapped(width):
    report = collect_stats([str(SAMPLES)], builtin_prices())
    (trend,) = [t for t in report.trends if t.name == "tokens"]
    text = stats_text(SAMPLES, width)
    rate_limits = table_lines(text, "Rate limits")
    (tokens,) = [line for line in rate_limits if line.split()[:1] == ["tokens"]]
    from rt_cli.output import sparkline

    assert tokens.rstrip().endswith(sparkline(trend.trend).rstrip())
    assert len(rate_limits) == 4 + len(report.trends)  # title, blank, header, rule, one line each


def test_columns_left_out_are_named_and_wide_keeps_them():
    text = stats_text(SAMPLES, 80)
    assert "not shown at 80 columns: trigger t, ttft ms" in text
    assert "(--wide shows every column)" in text
    console, out = terminal(80)
    report = collect_stats([str(SAMPLES)], builtin_prices())
    print_tables(report_tables(report, "response", full=False), console, wide=True)
    assert "not shown" not in out.getvalue()
    assert "out audio tok" not in out.getvalue()  # --wide is the table view, not the CSV


def test_rt_stats_has_wide():
    result = CliRunner().invoke(cli, ["stats", "--help"])
    assert "--wide" in result.stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_ls_fits_the_terminal(width, rt_named):
    listing = list_sessions([str(rt_named)], builtin_prices())
    console, out = terminal(width)
    print_tables([sessions_table(listing, full=False)], console)
    lines = out.getvalue().splitlines()
    assert all(cell_len(line) <= width for line in lines if not line.startswith("not shown"))
    header = lines[0].split()
    for column in ("session", "turns", "ttfb", "cost", "errors"):
        assert column in header
    assert "12-06 10:25:58 0b53" in out.getvalue()


def test_fit_prefers_priority_and_cuts_only_what_may_be_cut():
    rows = [{"name": "x" * 30, "a": 1, "b": 22, "c": 333}]
    table = Table(
        "T",
        [
            Column("name", min_width=10),
            number_column("a", priority=2),
            number_column("b", priority=1),
            number_column("c"),
        ],
        rows,
    )
    # name may be cut to 10: 2 edges + 10 + 3 + 3 for c = 18; b joins at 23, a at 27
    fitted = fit_table(table, 25)
    assert [c.key for c in fitted.columns] == ["name", "b", "c"]
    assert fitted.columns[0].max_width == 12  # the room left goes back to name
    assert fitted.caption == "not shown at 25 columns: a (--wide shows every column)"
    assert [c.key for c in fit_table(table, 27).columns] == ["name", "a", "b", "c"]
    narrow = fit_table(table, 20)
    assert [c.key for c in narrow.columns] == ["name", "c"]
    assert narrow.columns[0].max_width == 12
    whole = fit_table(table, 60)
    assert whole.caption == "" and whole.columns[0].max_width is None


# -- labels -------------------------------------------------------------------------------------


def test_labels_are_file_stems():
    files = ["sessions/call.jsonl", "s3://bucket/date=2026-12-06/other.jsonl", "x.json"]
    assert session_labels(files) == {
        "sessions/call.jsonl": "call",
        "s3://bucket/date=2026-12-06/other.jsonl": "other",
        "x.json": "x.json",
    }
    assert file_stem("C:\\rec\\call.jsonl") == "call"


def test_rt_file_names_read_as_time_and_a_short_unique_id():
    files = [f"s/{name}.jsonl" for name in RT_NAMES.values()]
    labels = session_labels(files)
    assert labels["s/20261206T102558.394066Z-0b534222.jsonl"] == "12-06 10:25:58 0b53"
    assert len(set(labels.values())) == len(files)
    same_second = ["s/20261206T102558.1Z-0b53aaaa.jsonl", "s/20261206T102558.2Z-0b53bbbb.jsonl"]
    assert list(session_labels(same_second).values()) == [
        "12-06 10:25:58 0b53a",
        "12-06 10:25:58 0b53b",
    ]


def test_the_same_stem_in_two_directories_gets_its_directory():
    labels = session_labels(["a/call.jsonl", "b/call.jsonl", "c.jsonl"])
    assert labels == {"a/call.jsonl": "a/call", "b/call.jsonl": "b/call", "c.jsonl": "c"}
    assert session_labels(["call.jsonl", "./x/call.jsonl"])["call.jsonl"] == "call.jsonl"


def test_given_names_win_by_path_name_or_stem():
    files = ["s/20261206T102558.394066Z-0b534222.jsonl", "s/b.jsonl", "s/c.jsonl"]
    names = parse_name_option(
        ["20261206T102558.394066Z-0b534222=Call with ACME", "b.jsonl=Bee", "s/c.jsonl = Sea"]
    )
    assert list(session_labels(files, names).values()) == ["Call with ACME", "Bee", "Sea"]
    with pytest.raises(ValueError, match="expected FILE=LABEL, not 'nolabel'"):
        parse_name_option(["nolabel"])
