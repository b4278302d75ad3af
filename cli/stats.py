"""`rt stats`: latency, tokens, cost, rate limits and errors over many session files."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click

from recorder.analytics import StatsReport, collect_stats
from recorder.analytics.report import FINAL_ANSWER_METRICS, LATENCY_METRICS
from recorder.session_labels import session_labels
from recorder.wording import counted, trigger_label

from .options import format_option, prices_with, pricing_option, wide_option
from .output import (
    Column,
    Row,
    Table,
    echo_warnings,
    make_console,
    number_column,
    print_tables,
    reading_progress,
    sparkline,
    write_csv,
    write_json,
    write_markdown,
)

# (good up to, slow from) in ms: green below the first, yellow up to the second, red above
THRESHOLDS_MS = {
    "ttfb_ms": (800.0, 1500.0),
    "ttft_ms": (800.0, 1500.0),
    "voice_to_voice_ms": (1000.0, 2000.0),
    "ttfb_final_ms": (800.0, 1500.0),
    "voice_to_voice_final_ms": (1000.0, 2000.0),
}
USER_TURNS = ("turn", "live_turn")  # the responses the latency summary covers


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--by",
    type=click.Choice(["response", "session"]),
    default="response",
    show_default=True,
    help="Main table: one row per response or per session (table, csv, markdown).",
)
@format_option(
    help="table (plain text when not on a terminal), json (the contract's object), csv, markdown."
)
@wide_option
@pricing_option
def stats(paths: tuple[str, ...], by: str, fmt: str, wide: bool, pricing: str | None) -> None:
    """Latency, tokens, cost, rate limits and errors of recorded sessions.

    PATH is a session file, a directory (every *.jsonl under it) or a glob.
    Sessions are named by their label, as in rt ls, rt show and rt report.
    On a terminal each table keeps the columns that fit (session, response,
    status, trigger and ttfb always) and names those it leaves out; --wide
    keeps them all. Warnings (skipped lines, models without a price) go to
    stderr, so stdout stays clean for pipes.

    \b
    Example:
      rt stats sessions/
      rt stats 'sessions/202611*.jsonl' --by session --format csv > november.csv
      rt stats sessions/ --format json | jq .summary.ttfb_ms.p95
      rt stats sessions/ --pricing azure-prices.toml --format markdown
    """
    with reading_progress() as on_progress:
        report = collect_stats(paths, prices_with(pricing), on_progress=on_progress)
    echo_warnings(report.warnings)
    render(report, fmt, by, wide=wide)


def render(report: StatsReport, fmt: str, by: str, *, wide: bool = False) -> None:
    out = sys.stdout
    if fmt == "json":
        write_json(report.to_json(), out, indent=2 if out.isatty() else None)
    elif fmt == "csv":
        write_csv(main_table(report, by, full=True), out)
    elif fmt == "markdown":
        write_markdown(report_tables(report, by, full=True), out)
    else:
        print_tables(report_tables(report, by, full=False), make_console(out), wide=wide)


# -- the tables ---------------------------------------------------------------------------------


def report_tables(report: StatsReport, by: str, *, full: bool) -> list[Table]:
    """The sections of the table and Markdown views, the main one first; sessions are named
    by their label (`session_labels`), as in rt ls, rt show and rt report."""
    labels = session_labels([str(row["file"]) for row in report.sessions])
    tables = [main_table(report, by, full=full, labels=labels), summary_table(report)]
    if by == "response":
        tables.append(_sessions_table(report, "Tokens and cost per session", False, labels))
    if report.trends:
        tables.append(trend_table(report))
    if report.errors:
        tables.append(errors_table(report, labels))
    if report.unfinished:
        tables.append(unfinished_table(report, labels))
    return tables


def main_table(
    report: StatsReport, by: str, *, full: bool, labels: Mapping[str, str] | None = None
) -> Table:
    """The responses (or sessions) table; without `labels` (CSV) sessions are named by id."""
    if by == "session":
        return _sessions_table(report, "Sessions", full, labels, timing=True)
    return _responses_table(report, full, labels)


def _responses_table(report: StatsReport, full: bool, labels: Mapping[str, str] | None) -> Table:
    columns = [
        *_session_columns(full, labels),
        Column("response_id", "response", min_width=14),
        *([Column("model")] if full else []),
        Column("status"),
        Column("trigger", text=trigger_label),
        number_column("trigger_t", "trigger t", 3, priority=7),
        _latency_column("ttfb_ms", "ttfb ms"),
        _latency_column("ttft_ms", "ttft ms", priority=3),
        number_column("duration_ms", "duration ms", 1, priority=4),
        _latency_column("voice_to_voice_ms", "voice→voice ms", priority=1),
        number_column("audio_out_ms", "audio out ms", 1, priority=6),
        number_column("input_tokens", "in tok", priority=5),
        number_column("output_tokens", "out tok", priority=5),
    ]
    if full:
        columns += [
            number_column("input_text_tokens", "in text tok"),
            number_column("input_audio_tokens", "in audio tok"),
            number_column("input_cached_tokens", "in cached tok"),
            number_column("output_text_tokens", "out text tok"),
            number_column("output_audio_tokens", "out audio tok"),
        ]
    columns.append(number_column("cost_usd", "cost $", 6, priority=2))
    if full:  # CONTRACT §4 fields, after those of §3 (as in the JSON)
        columns += [
            Column("kind"),
            Column("ttfb_source", "ttfb source"),
            _latency_column("ttfb_final_ms", "ttfb final ms"),
            _latency_column("voice_to_voice_final_ms", "voice→voice final ms"),
            number_column("preamble_audio_ms", "preamble ms", 1),
            number_column("input_image_tokens", "in image tok"),
            number_column("cached_text_tokens", "cached text tok"),
            number_column("cached_audio_tokens", "cached audio tok"),
            number_column("cached_image_tokens", "cached image tok"),
            number_column("output_reasoning_tokens", "reasoning tok"),
        ]
    return Table("Responses", columns, with_labels(report.responses, labels))


def _sessions_table(
    report: StatsReport,
    title: str,
    full: bool,
    labels: Mapping[str, str] | None,
    *,
    timing: bool = False,
) -> Table:
    columns = [
        *_session_columns(full, labels),
        Column("started_at", "started at", priority=4),
        number_column("duration_s", "duration s", 1, priority=2),
        number_column("responses"),
        number_column("input_tokens", "in tok", priority=1),
        number_column("output_tokens", "out tok", priority=1),
        number_column("cost_usd", "cost $", 6),
        Column("model", priority=3, min_width=12),
        *([Column("protocol"), Column("transport")] if full else []),
    ]
    # CONTRACT §4.2, after the §3 columns as in the JSON; the table view shows them when used
    if full or any(row.get("transcription_model") for row in report.sessions):
        columns += [
            Column("transcription_model", "transcription model", priority=5),
            number_column("transcription_seconds", "transcription s", 1, priority=6),
            number_column("transcription_tokens", "transcription tok", priority=6),
            number_column("transcription_cost_usd", "transcription $", 6, priority=5),
        ]
    if full or any(row.get("translation_seconds") is not None for row in report.sessions):
        columns += [
            number_column("translation_seconds", "translated s", 1, priority=6),
            number_column("translation_cost_usd", "translation $", 6, priority=5),
        ]
    if timing:  # CONTRACT §4.6, as in the JSON
        columns += [
            number_column("user_talk_ms", "user talk ms", priority=5),
            number_column("assistant_talk_ms", "assistant talk ms", priority=5),
            number_column("talk_over_ms", "talk-over ms", priority=6),
            number_column("barge_ins", "barge-ins", priority=5),
            number_column("barge_in_stop_ms", "barge-in stop ms", priority=6),
            number_column("dead_air_ms", "dead air ms", priority=6),
            number_column("turns", priority=5),
        ]
    if timing and (full or any(row.get("protocol") == "live" for row in report.sessions)):
        columns += [  # CONTRACT §4.4: GPT-Live billing, as in the JSON
            number_column("live_seconds", "live billed s", 3, priority=6),
            number_column("live_cost_usd", "live cost $", 6, priority=5),
            Column("live_close_reason", "live closed", priority=7),
            number_column("live_delegations", "delegations", priority=7),
            number_column("live_delegated_tokens", "delegated tok", priority=7),
            number_column("live_muted_ms", "muted ms", 1, priority=7),
        ]
    return Table(title, columns, with_labels(report.sessions, labels))


def _session_columns(full: bool, labels: Mapping[str, str] | None) -> list[Column]:
    """The session's label (table and Markdown), or its id (CSV), and its file when `full`."""
    first = Column("session") if labels is None else Column("label", "session", min_width=16)
    return [first, *([Column("file")] if full else [])]


def with_labels(rows: Sequence[Row], labels: Mapping[str, str] | None) -> Sequence[Row]:
    """`rows` with each one's session label under `label` (found by its `file`)."""
    if labels is None:
        return rows
    return [{**row, "label": labels.get(str(row.get("file")), row.get("session"))} for row in rows]


def summary_table(report: StatsReport) -> Table:
    s = report.summary
    rows = [{"metric": metric, **s[metric]} for metric in (*LATENCY_METRICS, *FINAL_ANSWER_METRICS)]
    cost = "unknown" if s["cost_usd"] is None else f"${s['cost_usd']:.4f}"
    transcription = s.get("transcription_cost_usd")
    if transcription is None and any(row.get("transcription_model") for row in report.sessions):
        cost += " (transcription: no price)"
    elif transcription:
        cost += f" (transcription ${transcription:.4f})"
    as_of = f" (prices as of {report.prices_as_of})" if report.prices_as_of else ""
    others = ", ".join(
        f"{count} {kind.replace('_', ' ')}"
        for kind, count in report.by_kind.items()
        if count and kind not in USER_TURNS
    )
    sidebands = sum(1 for row in report.sessions if row.get("transport") == "sideband")
    caption = (
        f"{counted(s['responses'], 'response')} in {counted(s['sessions'], 'session')}, "
        f"{counted(s['errors'], 'error')}, cost {cost}{as_of}"
        + (
            f"; latencies over the {counted(sum(report.by_kind.get(k, 0) for k in USER_TURNS), 'turn')} "
            f"({others} left out)"
            if others
            else ""
        )
        + (
            f"; {sidebands} sideband session{'s' if sidebands != 1 else ''} (no audio on the "
            "connection: first audio from output_audio_buffer.started, ttfb_source playback)"
            if sidebands
            else ""
        )
    )
    priorities = {"mean": 1, "p99": 2}  # what a narrow terminal leaves out first
    columns = [
        Column("metric"),
        number_column("count"),
        *(
            number_column(key, digits=1, priority=priorities.get(key, 0))
            for key in ("mean", "p50", "p90", "p95", "p99", "max")
        ),
    ]
    return Table("Summary (ms)", columns, rows, caption=caption)


def trend_table(report: StatsReport) -> Table:
    rows = [
        {
            "name": trend.name,
            "updates": trend.updates,
            "first": trend.first,
            "min": trend.min,
            "last": trend.last,
            "min_percent": trend.min_percent,
            "trend": sparkline(trend.trend),
        }
        for trend in report.trends
    ]
    columns = [
        Column("name", "limit"),
        number_column("updates", priority=3),
        number_column("first", "first remaining", priority=4),
        number_column("min", "min remaining", priority=2),
        number_column("last", "last remaining", priority=1),
        number_column("min_percent", "min %", 1, style=_percent_style),
        Column("trend", "lowest % left over time"),  # never cut: the columns around it give way
    ]
    return Table("Rate limits", columns, rows)


def errors_table(report: StatsReport, labels: Mapping[str, str]) -> Table:
    columns = [
        Column("label", "session", min_width=12),
        number_column("t", "t", 3),
        Column("source", priority=2),
        Column("type", priority=1, min_width=12),
        Column("code", min_width=12),
        Column("message", min_width=24, wrap=True),
    ]
    return Table("Errors", columns, with_labels(report.errors, labels))


def unfinished_table(report: StatsReport, labels: Mapping[str, str]) -> Table:
    columns = [
        Column("label", "session", min_width=12),
        Column("response_id", "response", min_width=12),
        Column("status", style=lambda v: "red" if v == "failed" else "yellow"),
        Column("reason", min_width=12),
    ]
    return Table("Responses that did not complete", columns, with_labels(report.unfinished, labels))


# -- formatting helpers -------------------------------------------------------------------------


def _latency_column(key: str, header: str, priority: int = 0) -> Column:
    style = threshold_style(THRESHOLDS_MS.get(key))
    return number_column(key, header, 1, style=style, priority=priority)


def threshold_style(
    thresholds: tuple[float, float] | None,
) -> Callable[[Any], str | None] | None:
    """Green when fast, yellow when slow, red above the second threshold (None: no colour)."""
    if thresholds is None:
        return None
    good, slow = thresholds

    def style(value: Any) -> str | None:
        if not isinstance(value, (int, float)):
            return None
        return "green" if value <= good else "yellow" if value <= slow else "bold red"

    return style


def _percent_style(value: Any) -> str | None:
    if not isinstance(value, (int, float)):
        return None
    return "bold red" if value < 10 else "yellow" if value < 25 else None
