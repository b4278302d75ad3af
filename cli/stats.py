"""`rt stats`: latency, tokens, cost, rate limits and errors over many session files."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from recorder.analytics import StatsReport, collect_stats
from recorder.analytics.report import FINAL_ANSWER_METRICS, LATENCY_METRICS
from recorder.pricing import PriceTable, builtin_prices, load_price_file

from .output import (
    Column,
    Table,
    echo_warnings,
    format_option,
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
}
TRIGGER_LABELS = {
    "input_audio_buffer.speech_stopped": "speech_stopped",
    "session.input_transcript.delta": "user speech",  # a GPT-Live turn
}
USER_TURNS = ("turn", "live_turn")  # the responses the latency summary covers

pricing_option = click.option(
    "--pricing",
    type=click.Path(exists=True, dir_okay=False),
    help="Price file (JSON, or TOML on Python 3.11+) replacing or adding to the built-in prices.",
)


def prices_with(pricing: str | None) -> PriceTable:
    """The built-in prices, merged with the `--pricing` file if one was given."""
    prices = builtin_prices()
    return prices if pricing is None else prices.merged(load_price_file(pricing))


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
@pricing_option
def stats(paths: tuple[str, ...], by: str, fmt: str, pricing: str | None) -> None:
    """Latency, tokens, cost, rate limits and errors of recorded sessions.

    PATH is a session file, a directory (every *.jsonl under it) or a glob.
    Warnings (skipped lines, models without a price) go to stderr, so stdout
    stays clean for pipes.

    \b
    Example:
      rt stats sessions/
      rt stats 'sessions/2026-11-*.jsonl' --by session --format csv > sessions.csv
      rt stats sessions/ --format json | jq .summary.ttfb_ms.p95
      rt stats sessions/ --pricing azure-prices.toml --format markdown
    """
    with reading_progress() as on_progress:
        report = collect_stats(paths, prices_with(pricing), on_progress=on_progress)
    echo_warnings(report.warnings)
    render(report, fmt, by)


def render(report: StatsReport, fmt: str, by: str) -> None:
    out = sys.stdout
    if fmt == "json":
        write_json(report.to_json(), out, indent=2 if out.isatty() else None)
    elif fmt == "csv":
        write_csv(main_table(report, by, full=True), out)
    elif fmt == "markdown":
        write_markdown(report_tables(report, by, full=True), out)
    else:
        print_tables(report_tables(report, by, full=False), make_console(out))


# -- the tables ---------------------------------------------------------------------------------


def report_tables(report: StatsReport, by: str, *, full: bool) -> list[Table]:
    """The sections of the table and Markdown views, the main one first."""
    tables = [main_table(report, by, full=full), summary_table(report)]
    if by == "response":
        tables.append(_sessions_table(report, "Tokens and cost per session", full=False))
    if report.trends:
        tables.append(trend_table(report))
    if report.errors:
        tables.append(errors_table(report))
    if report.unfinished:
        tables.append(unfinished_table(report))
    return tables


def main_table(report: StatsReport, by: str, *, full: bool) -> Table:
    if by == "session":
        return _sessions_table(report, "Sessions", full=full, timing=True)
    return _responses_table(report, full=full)


def _responses_table(report: StatsReport, *, full: bool) -> Table:
    columns = [
        Column("session"),
        *([Column("file")] if full else []),
        Column("response_id", "response"),
        *([Column("model")] if full else []),
        Column("status"),
        Column("trigger", text=_trigger_label),
        number_column("trigger_t", "trigger t", 3),
        _latency_column("ttfb_ms", "ttfb ms"),
        _latency_column("ttft_ms", "ttft ms"),
        number_column("duration_ms", "duration ms", 1),
        _latency_column("voice_to_voice_ms", "voice→voice ms"),
        number_column("audio_out_ms", "audio out ms", 1),
        number_column("input_tokens", "in tok"),
        number_column("output_tokens", "out tok"),
    ]
    if full:
        columns += [
            number_column("input_text_tokens", "in text tok"),
            number_column("input_audio_tokens", "in audio tok"),
            number_column("input_cached_tokens", "in cached tok"),
            number_column("output_text_tokens", "out text tok"),
            number_column("output_audio_tokens", "out audio tok"),
        ]
    columns.append(number_column("cost_usd", "cost $", 6))
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
    return Table("Responses", columns, report.responses)


def _sessions_table(report: StatsReport, title: str, *, full: bool, timing: bool = False) -> Table:
    columns = [
        Column("session"),
        *([Column("file")] if full else []),
        Column("started_at", "started at"),
        number_column("duration_s", "duration s", 1),
        number_column("responses"),
        number_column("input_tokens", "in tok"),
        number_column("output_tokens", "out tok"),
        number_column("cost_usd", "cost $", 6),
        Column("model"),
        *([Column("protocol"), Column("transport")] if full else []),
    ]
    if timing:  # CONTRACT §4.6, as in the JSON
        columns += [
            number_column("user_talk_ms", "user talk ms"),
            number_column("assistant_talk_ms", "assistant talk ms"),
            number_column("talk_over_ms", "talk-over ms"),
            number_column("barge_ins", "barge-ins"),
            number_column("barge_in_stop_ms", "barge-in stop ms"),
            number_column("dead_air_ms", "dead air ms"),
            number_column("turns"),
        ]
    if timing and full:  # CONTRACT §4.4: GPT-Live billing, as in the JSON
        columns += [
            number_column("live_seconds", "live billed s", 3),
            number_column("live_cost_usd", "live cost $", 6),
            Column("live_close_reason", "live closed"),
            number_column("live_delegations", "delegations"),
            number_column("live_delegated_tokens", "delegated tok"),
            number_column("live_muted_ms", "muted ms", 1),
        ]
    return Table(title, columns, report.sessions)


def summary_table(report: StatsReport) -> Table:
    s = report.summary
    rows = [{"metric": metric, **s[metric]} for metric in (*LATENCY_METRICS, *FINAL_ANSWER_METRICS)]
    cost = "unknown" if s["cost_usd"] is None else f"${s['cost_usd']:.4f}"
    as_of = f" (prices as of {report.prices_as_of})" if report.prices_as_of else ""
    others = ", ".join(
        f"{count} {kind.replace('_', ' ')}"
        for kind, count in report.by_kind.items()
        if count and kind not in USER_TURNS
    )
    caption = (
        f"{s['responses']} responses in {s['sessions']} sessions, {s['errors']} errors, "
        f"cost {cost}{as_of}"
        + (
            f"; latencies over the {sum(report.by_kind.get(k, 0) for k in USER_TURNS)} turns "
            f"({others} left out)"
            if others
            else ""
        )
    )
    columns = [
        Column("metric"),
        number_column("count"),
        *(number_column(key, digits=1) for key in ("mean", "p50", "p90", "p95", "p99", "max")),
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
        number_column("updates"),
        number_column("first", "first remaining"),
        number_column("min", "min remaining"),
        number_column("last", "last remaining"),
        number_column("min_percent", "min %", 1, style=_percent_style),
        Column("trend", "lowest % remaining over time"),
    ]
    return Table("Rate limits", columns, rows)


def errors_table(report: StatsReport) -> Table:
    columns = [
        Column("session"),
        number_column("t", "t", 3),
        Column("source"),
        Column("type"),
        Column("code"),
        Column("message"),
    ]
    return Table("Errors", columns, report.errors)


def unfinished_table(report: StatsReport) -> Table:
    columns = [
        Column("session"),
        Column("response_id", "response"),
        Column("status", style=lambda v: "red" if v == "failed" else "yellow"),
        Column("reason"),
    ]
    return Table("Responses that did not complete", columns, report.unfinished)


# -- formatting helpers -------------------------------------------------------------------------


def _latency_column(key: str, header: str) -> Column:
    return number_column(key, header, 1, style=threshold_style(THRESHOLDS_MS.get(key)))


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


def _trigger_label(value: Any) -> str:
    return "" if value is None else TRIGGER_LABELS.get(value, str(value))
