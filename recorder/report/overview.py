"""The report's overview, everything `rt stats` knows, and the page around it (pure).

    document_start(stats, context)   head, summary, latency, responses, tokens and cost, rate
                                     limits, errors and the list of sessions
    document_end(context)            footer and the script

Between the two, `session_page.session_section` writes one section per session. The
Content-Security-Policy allows only the page's own stylesheet and script, by hash, and data:
URIs for the audio: nothing is loaded from anywhere, and nothing from a recording can run.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from html import escape

from recorder import __version__
from recorder.analytics import StatsReport
from recorder.analytics.report import FINAL_ANSWER_METRICS, LATENCY_METRICS
from recorder.report.assets import SCRIPT, STYLESHEET
from recorder.report.charts import (
    Bar,
    Segment,
    Series,
    histogram,
    level,
    percent_chart,
    stacked_bars,
)
from recorder.report.markup import (
    Column,
    PageContext,
    Row,
    as_number,
    counted,
    dollars,
    epoch_seconds,
    fixed,
    html_table,
    integer,
    milliseconds,
    response_id,
    section,
    session_link,
    status_badge,
    when,
)
from recorder.wording import trigger_label

TOKEN_KINDS = (
    ("input_text_tokens", "k-in-text", "input text"),
    ("input_audio_tokens", "k-in-audio", "input audio"),
    ("output_text_tokens", "k-out-text", "output text"),
    ("output_audio_tokens", "k-out-audio", "output audio"),
)
MAX_SESSION_BARS = 40  # the token chart shows the costliest sessions; the table has them all
MAX_RATE_LIMIT_DOTS = 400  # per limit; the line still has every update
TIMELINE_LEGEND = (
    "In each session's timeline, a row is a response: ○ marks what triggered it "
    "(response.create, or the server's speech_stopped, with a dashed line back to when the "
    "user stopped talking), then comes the wait for its first output, coloured like the "
    "latency table, then its audio (or text) as it streamed; a paler bar is a response that "
    "did not complete. Click a timeline or a turn of the conversation to play from there."
)


# -- the document ---------------------------------------------------------------------------------


def content_security_policy() -> str:
    """Nothing may load from anywhere; only this stylesheet and script run; audio is data:."""
    return (
        "default-src 'none'; "
        f"style-src {_hash(STYLESHEET)}; script-src {_hash(SCRIPT)}; "
        "img-src data:; media-src data:; base-uri 'none'; form-action 'none'"
    )


def _hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def document_start(stats: StatsReport, context: PageContext) -> str:
    summary = stats.summary
    sessions = summary["sessions"]
    responses = summary["responses"]
    meta = [
        counted(sessions, "session"),
        counted(responses, "response"),
        counted(summary["errors"], "error"),
        f"generated {context.generated_at} by rt {__version__}",
    ]
    if stats.prices_as_of:
        meta.append(f"prices as of {stats.prices_as_of}")
    nav = [("summary", "Summary"), ("latency", "Latency"), ("responses", "Responses")]
    nav += [("tokens", "Tokens and cost"), ("rate-limits", "Rate limits")]
    nav += [("errors", "Errors"), ("sessions", "Sessions")]
    links = "".join(f'<a href="#{key}">{escape(name)}</a>' for key, name in nav)
    head = (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(content_security_policy())}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f'<meta name="generator" content="rt {escape(__version__)}">\n'
        f"<title>{escape(context.title)}</title>\n"
        '<link rel="icon" href="data:,">\n'
        f"<style>{STYLESHEET}</style>\n</head>\n<body>\n"
        f'<header class="top"><h1>{escape(context.title)}</h1>'
        f'<p class="meta">{" · ".join(escape(part) for part in meta)}</p></header>\n'
        f"<nav>{links}</nav>\n<main>\n"
    )
    parts = [
        head,
        _summary_section(stats, context),
        _latency_section(stats, context),
        _responses_section(stats, context),
        _tokens_section(stats, context),
        _rate_limits_section(stats),
        _errors_section(stats, context),
        _sessions_section(stats, context),
    ]
    return "".join(parts)


def document_end(context: PageContext) -> str:
    return (
        "</main>\n"
        f"<footer>Made by rt {escape(__version__)} · {escape(context.generated_at)} · "
        "a single file: it loads nothing from the network</footer>\n"
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


# -- summary ----------------------------------------------------------------------------------------


def trigger_or_kind(row: Row) -> str:
    """What started a response: its trigger, or for an out-of-band or idle-timeout response
    its kind (CONTRACT §4.1: `out of band` is always a response.create, `idle timeout` a
    timeout_triggered)."""
    kind = row.get("kind")
    if kind in ("out_of_band", "idle_timeout"):
        return str(kind).replace("_", " ")
    return trigger_label(row.get("trigger"))


def ttfb_cell(row: Row) -> str:
    """The first audio's latency, and under it the final answer's when a preamble came first
    (one cell: the table stays as wide as the page)."""
    cell = fixed(row.get("ttfb_ms"), 1)
    final = as_number(row.get("ttfb_final_ms"))
    if final is not None and final != as_number(row.get("ttfb_ms")):
        cell += (
            '<br><span class="note" title="the final answer\'s first audio" '
            f'data-key="ttfb_final_ms">{fixed(final, 1)}</span>'
        )
    return cell


def has_preambles(responses: Sequence[Row]) -> bool:
    """Whether some response spoke before its final answer (its ttfb_final_ms differs from its
    ttfb_ms): then the report shows both."""
    return any(
        row.get("preamble_audio_ms") or row.get("ttfb_final_ms") != row.get("ttfb_ms")
        for row in responses
    )


def _summary_section(stats: StatsReport, context: PageContext) -> str:
    s = stats.summary
    ttfb, v2v = s["ttfb_ms"], s["voice_to_voice_ms"]
    cost = s["cost_usd"]
    cards = [
        _card("Sessions", f"{s['sessions']:,}"),
        _card("Responses", f"{s['responses']:,}"),
        _card(
            "TTFB p50",
            milliseconds(ttfb["p50"]),
            level(ttfb["p50"], context.thresholds.get("ttfb_ms")),
        ),
        _card(
            "TTFB p95",
            milliseconds(ttfb["p95"]),
            level(ttfb["p95"], context.thresholds.get("ttfb_ms")),
        ),
    ]
    if v2v["count"]:
        v2v_level = level(v2v["p50"], context.thresholds.get("voice_to_voice_ms"))
        cards.append(_card("Voice→voice p50", milliseconds(v2v["p50"]), v2v_level))
    finals = has_preambles(stats.responses)
    if finals:  # CONTRACT §4.1: the answer's latency apart from the preamble's
        final = s["ttfb_final_ms"]
        cards.append(
            _card(
                "TTFB final answer p50",
                milliseconds(final["p50"]),
                level(final["p50"], context.thresholds.get("ttfb_final_ms")),
            )
        )
    cards += [
        _card("Errors", f"{s['errors']:,}", "slow" if s["errors"] else None),
        _card("Cost", "unknown" if cost is None else f"${cost:,.4f}"),
    ]
    metrics = LATENCY_METRICS + (FINAL_ANSWER_METRICS if finals else ())
    rows = [{"metric": metric, **s[metric]} for metric in metrics]

    def stat(key: str) -> Column:
        def css(row: Row) -> str | None:
            if key in ("count", "mean"):
                return None
            return level(as_number(row.get(key)), context.thresholds.get(str(row["metric"])))

        return Column(
            key, lambda row: fixed(row.get(key), 0 if key == "count" else 1), True, css, key
        )

    columns = [Column("metric", lambda row: escape(str(row["metric"])))]
    columns += [stat(key) for key in ("count", "mean", "p50", "p90", "p95", "p99", "max")]
    cost_text = "unknown" if cost is None else f"${cost:.4f}"
    if s.get("transcription_cost_usd"):
        cost_text += f" (input transcription ${s['transcription_cost_usd']:.4f})"
    as_of = f" (prices as of {stats.prices_as_of})" if stats.prices_as_of else ""
    caption = (
        f"{counted(s['responses'], 'response')} in {counted(s['sessions'], 'session')}, "
        f"{counted(s['errors'], 'error')}, cost {cost_text}{as_of}. Percentiles interpolate linearly, as in rt stats."
    )
    table = html_table(columns, rows, caption=caption, id_="summary-table", row_id="metric")
    return section("summary", "Summary", f'<div class="cards">{"".join(cards)}</div>{table}')


def _card(label: str, value: str, css: str | None = None) -> str:
    value_class = f"value {css}" if css else "value"
    return (
        f'<div class="card"><div class="label">{escape(label)}</div>'
        f'<div class="{value_class}">{value}</div></div>'
    )


# -- latency ----------------------------------------------------------------------------------------


def _latency_section(stats: StatsReport, context: PageContext) -> str:
    charts = []
    for metric, label in (
        ("ttfb_ms", "Time to first audio (TTFB)"),
        ("voice_to_voice_ms", "Voice to voice (server VAD)"),
        ("ttft_ms", "Time to first output of any kind (TTFT), text-only responses"),
    ):
        values = [v for row in stats.responses if (v := as_number(row.get(metric))) is not None]
        if metric == "ttft_ms":  # only where TTFB says nothing: responses without audio
            values = [
                v
                for row in stats.responses
                if row.get("ttfb_ms") is None and (v := as_number(row.get(metric))) is not None
            ]
        if not values:
            continue
        dist = stats.summary[metric]
        markers = {"p50": dist["p50"], "p95": dist["p95"]} if metric != "ttft_ms" else {}
        chart = histogram(
            values,
            f"{label}: {len(values)} responses",
            thresholds=context.thresholds.get(metric),
            markers={k: v for k, v in markers.items() if v is not None},
        )
        charts.append(f"<figure><h3>{escape(label)}</h3>{chart}</figure>")
    if not charts:
        body = '<p class="note">No response has a first output to measure.</p>'
    else:
        good, slow = context.thresholds.get("ttfb_ms", (math.nan, math.nan))
        legend = (
            f'<p class="note">Bars are green up to {good:g} ms, yellow up to {slow:g} ms and red '
            "above (the colours of rt stats); times run from what triggered each response "
            "(response.create, or the server's speech_stopped) to its first audio.</p>"
            if not math.isnan(good)
            else ""
        )
        body = f'<div class="grid-2">{"".join(charts)}</div>{legend}'
    return section("latency", "Latency", body)


# -- responses ----------------------------------------------------------------------------------------


def _responses_section(stats: StatsReport, context: PageContext) -> str:
    def latency(key: str, header: str) -> Column:
        return Column(
            header,
            lambda row: fixed(row.get(key), 1),
            True,
            lambda row: level(as_number(row.get(key)), context.thresholds.get(key)),
            key,
        )

    columns = [
        Column("session", lambda row: session_link(row, context)),
        Column("response", lambda row: response_id(row.get("response_id"))),
        Column("status", lambda row: status_badge(row.get("status"))),
        Column("trigger", lambda row: escape(trigger_or_kind(row))),
        Column("trigger t", lambda row: fixed(row.get("trigger_t"), 3), True),
        Column(
            "ttfb ms (final answer)" if has_preambles(stats.responses) else "ttfb ms",
            ttfb_cell,
            True,
            lambda row: level(as_number(row.get("ttfb_ms")), context.thresholds.get("ttfb_ms")),
            "ttfb_ms",
        ),
        latency("ttft_ms", "ttft ms"),
        Column("duration ms", lambda row: fixed(row.get("duration_ms"), 1), True),
        latency("voice_to_voice_ms", "voice to voice ms"),
        Column("audio out ms", lambda row: fixed(row.get("audio_out_ms"), 1), True),
        Column("in tok", lambda row: integer(row.get("input_tokens")), True),
        Column("out tok", lambda row: integer(row.get("output_tokens")), True),
        Column("cost $", lambda row: fixed(row.get("cost_usd"), 6), True),
    ]
    if not stats.responses:
        return section("responses", "Responses", '<p class="note">No responses.</p>')
    table = html_table(columns, stats.responses, id_="responses-table")
    return section("responses", "Responses", f'<div class="scroll">{table}</div>')


# -- tokens and cost ---------------------------------------------------------------------------------


def _tokens_section(stats: StatsReport, context: PageContext) -> str:
    by_file: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_model: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in stats.responses:
        model = str(row.get("model") or "(unknown model)")
        for key in ("input_tokens", "output_tokens", "input_cached_tokens", "cost_usd") + tuple(
            kind[0] for kind in TOKEN_KINDS
        ):
            value = as_number(row.get(key)) or 0.0
            by_file[str(row.get("file"))][key] += value
            by_model[model][key] += value
        by_model[model]["responses"] += 1
        if row.get("cost_usd") is None:
            by_model[model]["unpriced"] += 1
    if not by_model:
        return section("tokens", "Tokens and cost", '<p class="note">No responses.</p>')
    legend = [(css, name) for _, css, name in TOKEN_KINDS]
    totals = {key: sum(m[key] for m in by_model.values()) for key, _, _ in TOKEN_KINDS}
    total_cost = stats.summary["cost_usd"]
    total_bar = Bar(
        "all sessions",
        _segments(totals),
        f"{sum(totals.values()):,.0f} tok · {dollars(total_cost)}",
    )
    chart = stacked_bars([total_bar], "Tokens of all sessions by kind", legend)

    def model_cell(key: str) -> Column:
        return Column(
            key.replace("_tokens", "").replace("_", " "), lambda row: integer(row[key]), True
        )

    model_rows = [{"model": model, **values} for model, values in sorted(by_model.items())]
    model_columns = [
        Column("model", lambda row: escape(str(row["model"]))),
        Column("responses", lambda row: integer(row["responses"]), True),
        *(model_cell(key) for key, _, _ in TOKEN_KINDS),
        Column("cached in", lambda row: integer(row["input_cached_tokens"]), True),
        Column(
            "cost $",
            lambda row: "unknown" if row.get("unpriced") else fixed(row["cost_usd"], 6),
            True,
        ),
    ]
    model_table = html_table(
        model_columns,
        model_rows,
        caption="Cached input tokens are part of the input tokens and billed at the cached price.",
    )
    ranked = sorted(
        stats.sessions,
        key=lambda row: (row.get("cost_usd") is None, -(as_number(row.get("cost_usd")) or 0)),
    )
    bars = [
        Bar(
            context.names.get(str(row["file"]), str(row["file"])),
            _segments(by_file.get(str(row["file"]), {})),
            f"{integer(row.get('input_tokens'))} in · {integer(row.get('output_tokens'))} out · "
            f"{dollars(row.get('cost_usd'))}",
            f"#{context.anchors[str(row['file'])]}"
            if str(row["file"]) in context.anchors
            else None,
        )
        for row in ranked[:MAX_SESSION_BARS]
    ]
    more = len(ranked) - len(bars)
    note = (
        f'<p class="note">The {len(bars)} costliest of {len(ranked)} sessions.</p>' if more else ""
    )
    session_chart = stacked_bars(bars, "Tokens per session by kind", legend)
    body = (
        f'{chart}<h3>By model</h3><div class="scroll">{model_table}</div>'
        f"<h3>By session</h3>{note}{session_chart}"
    )
    return section("tokens", "Tokens and cost", body)


def _segments(totals: Mapping[str, float]) -> list[Segment]:
    return [
        Segment(totals.get(key, 0.0), css, f"{name}: {totals.get(key, 0.0):,.0f} tokens")
        for key, css, name in TOKEN_KINDS
    ]


# -- rate limits ----------------------------------------------------------------------------------------


def _rate_limits_section(stats: StatsReport) -> str:
    rows = stats.rate_limits
    if not rows:
        return section(
            "rate-limits", "Rate limits", '<p class="note">No rate_limits.updated events.</p>'
        )
    epochs = [epoch_seconds(row.get("at")) for row in rows]
    wall_clock = all(epoch is not None for epoch in epochs)
    by_name: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for row, epoch in zip(rows, epochs, strict=True):
        limit, remaining = as_number(row.get("limit")), as_number(row.get("remaining"))
        if not limit or remaining is None:
            continue
        x = epoch if wall_clock and epoch is not None else as_number(row.get("t")) or 0.0
        percent = remaining / limit * 100
        when = str(row.get("at") or f"{as_number(row.get('t')) or 0:.3f} s")
        reset = as_number(row.get("reset_seconds"))
        tip = (
            f"{row.get('name')}: {remaining:,.0f} of {limit:,.0f} remaining ({percent:.1f}%) at "
            f"{when}"
            + (f", resets in {reset:g} s" if reset is not None else "")
            + f" · session {row.get('session')}"
        )
        by_name[str(row.get("name"))].append((x, percent, tip))
    series = []
    for name, points in sorted(by_name.items()):
        points.sort(key=lambda point: point[0])
        series.append(Series(name, points))
    chart = ""
    if series:
        chart = percent_chart(
            series,
            "Rate limits: % remaining over time",
            wall_clock=wall_clock,
            max_dots=MAX_RATE_LIMIT_DOTS,
        )
    note = (
        ""
        if wall_clock
        else '<p class="note">Some sessions have no start time, so updates are placed by '
        "seconds since their session started.</p>"
    )
    trend_columns = [
        Column("limit", lambda row: escape(str(row["name"]))),
        Column("updates", lambda row: integer(row["updates"]), True),
        Column("first remaining", lambda row: integer(row["first"]), True),
        Column("min remaining", lambda row: integer(row["min"]), True),
        Column("last remaining", lambda row: integer(row["last"]), True),
        Column(
            "min %",
            lambda row: fixed(row["min_percent"], 1),
            True,
            lambda row: _percent_level(as_number(row["min_percent"])),
        ),
    ]
    trend_rows = [
        {
            "name": t.name,
            "updates": t.updates,
            "first": t.first,
            "min": t.min,
            "last": t.last,
            "min_percent": t.min_percent,
        }
        for t in stats.trends
    ]
    table = html_table(trend_columns, trend_rows) if trend_rows else ""
    return section("rate-limits", "Rate limits", f"{chart}{note}{table}")


def _percent_level(value: float | None) -> str | None:
    if value is None:
        return None
    return "slow" if value < 10 else "warn" if value < 25 else None


# -- errors ----------------------------------------------------------------------------------------------


def _errors_section(stats: StatsReport, context: PageContext) -> str:
    parts = []
    if stats.errors:
        columns = [
            Column("session", lambda row: session_link(row, context)),
            Column("t", lambda row: fixed(row.get("t"), 3), True),
            Column("source", lambda row: escape(str(row.get("source") or ""))),
            Column("type", lambda row: escape(str(row.get("type") or ""))),
            Column(
                "code",
                lambda row: f'<span class="mono">{escape(str(row.get("code") or ""))}</span>',
            ),
            Column("message", lambda row: escape(str(row.get("message") or "")), wrap=True),
        ]
        parts.append(
            f'<div class="scroll">{html_table(columns, stats.errors, id_="errors-table")}</div>'
        )
    else:
        parts.append('<p class="note">No errors.</p>')
    if stats.unfinished:
        columns = [
            Column("session", lambda row: session_link(row, context)),
            Column("response", lambda row: response_id(row.get("response_id"))),
            Column("status", lambda row: status_badge(row.get("status"))),
            Column("reason", lambda row: escape(str(row.get("reason") or ""))),
        ]
        parts.append("<h3>Responses that did not complete</h3>")
        parts.append(html_table(columns, stats.unfinished))
    if stats.warnings:
        items = "".join(f"<li>{escape(str(warning))}</li>" for warning in stats.warnings)
        parts.append(f'<h3>Warnings</h3><ul class="warnings">{items}</ul>')
    return section("errors", "Errors", "".join(parts))


# -- sessions ----------------------------------------------------------------------------------------------


def _sessions_section(stats: StatsReport, context: PageContext) -> str:
    columns = [
        Column("session", lambda row: session_link(row, context)),
        Column("started at", lambda row: escape(when(row.get("started_at"), ""))),
        Column("duration s", lambda row: fixed(row.get("duration_s"), 1), True),
        Column("responses", lambda row: integer(row.get("responses")), True),
        Column("in tok", lambda row: integer(row.get("input_tokens")), True),
        Column("out tok", lambda row: integer(row.get("output_tokens")), True),
        Column("cost $", lambda row: fixed(row.get("cost_usd"), 6), True),
        Column("model", lambda row: escape(str(row.get("model") or ""))),
    ]
    notes = [note for note in (context.audio_note, TIMELINE_LEGEND) if note]
    note = "".join(f'<p class="note">{escape(note)}</p>' for note in notes)
    table = html_table(columns, stats.sessions, id_="sessions-table")
    return section("sessions", "Sessions", f'{note}<div class="scroll">{table}</div>')
