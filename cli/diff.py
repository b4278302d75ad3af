"""`rt diff`: two sessions side by side (an original and its replay, say)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.text import Text

from recorder.diff import RESPONSE_METRICS, EventStep, SessionDiff
from recorder.diff import diff_session_files as compare_files
from recorder.wording import counted

from .options import format_option, prices_with, pricing_option
from .output import (
    Column,
    Table,
    echo_warnings,
    make_console,
    number_column,
    print_tables,
    printable,
    write_json,
    write_markdown,
)
from .timeline_view import ARROWS

OP_MARKS = {"equal": "", "changed": "|", "removed": "<", "added": ">"}
OP_STYLES = {"equal": "dim", "changed": "yellow", "removed": "red", "added": "green"}
SUMMARY_COLUMNS = (
    ("frames", "frames", 0),
    ("responses", "responses", 0),
    ("errors", "errors", 0),
    ("ttfb_p50_ms", "ttfb p50 ms", 1),
    ("ttft_p50_ms", "ttft p50 ms", 1),
    ("input_tokens", "in tok", 0),
    ("output_tokens", "out tok", 0),
    ("cost_usd", "cost $", 6),
)
DIFF_STYLES = {"+": "green", "-": "red", "@": "cyan"}


@click.command("diff")
@click.argument("a", metavar="A", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("b", metavar="B", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@format_option(
    ("table", "json", "markdown"),
    help="table (plain text when not on a terminal), json (every section as one object), "
    "markdown (for a pull request or an issue).",
)
@pricing_option
def diff(a: Path, b: Path, fmt: str, pricing: str | None) -> None:
    """Compare two recorded sessions, such as a call and its replay.

    Four sections, Δ always B − A:

    \b
      Summary      frames, responses, errors, median ttfb and ttft, tokens, cost
      Responses    each response's latency (ms) and tokens, paired by order
                   (a replay gets new response ids)
      Transcripts  what the assistant said, a unified diff ([r1] is response 1)
      Events       both timelines side by side as rt show lists them (GA
                   names, runs of deltas and appends as one line ×frames),
                   lined up by direction and type: | changed, < only in A,
                   > only in B

    Timings and ids differ between any two runs, so events are lined up by
    what they are, not when they came.

    \b
    Example:
      $ rt replay sessions/call.jsonl --target ws://127.0.0.1:9000 --out replays/
      $ rt diff sessions/call.jsonl replays/20261126T031344.357627Z-911094d8.jsonl
      A  sessions/call.jsonl                              20261126T025839.002772Z-a127d81f · …
      B  replays/20261126T031344.357627Z-911094d8.jsonl   20261126T031344.357627Z-911094d8 · …
      Summary (Δ = B − A)
           frames   responses   errors   ttfb p50 ms   ttft p50 ms   in tok   out tok      cost $
       ──────────────────────────────────────────────────────────────────────────────────────────
       A      263           2        0         423.3         423.3      394       161    0.012515
       B      203           2        0         606.8         606.8      394        40    0.005203
       Δ      -60           0        0        +183.5        +183.5        0      -121   -0.007312
      …
      $ rt diff a.jsonl b.jsonl --format json | jq '.responses[].delta.ttfb_ms'
      $ rt diff a.jsonl b.jsonl --format markdown > diff.md
    """
    result = compare_files(a, b, prices_with(pricing))
    echo_warnings(result.warnings)
    out = sys.stdout
    if fmt == "json":
        write_json(result.to_json(), out, indent=2 if out.isatty() else None)
    elif fmt == "markdown":
        write_diff_markdown(result, out)
    else:
        print_diff(result, make_console(out))


# -- table view ----------------------------------------------------------------------------------


def print_diff(result: SessionDiff, console: Console) -> None:
    files = {side.file: printable(side.file) for side in (result.a, result.b)}
    width = max(len(shown) for shown in files.values())
    for name, side in (("A", result.a), ("B", result.b)):
        details = " · ".join(printable(x) for x in (side.session, side.model, side.started_at) if x)
        heading = Text.assemble(
            (name, "bold"), "  ", files[side.file].ljust(width), "  ", (details, "dim")
        )
        console.print(heading, soft_wrap=True)
    console.print()
    print_tables([summary_table(result), *response_tables(result)], console)
    console.print()
    console.print(Text("Transcripts", style="bold"))
    if not result.transcript_diff:
        console.print(Text(_same_transcripts(result), style="dim"), soft_wrap=True)
    for line in result.transcript_diff:
        console.print(Text(printable(line), style=DIFF_STYLES.get(line[:1], "")), soft_wrap=True)
    console.print()
    print_tables([events_table(result)], console)


def write_diff_markdown(result: SessionDiff, out: IO[str]) -> None:
    out.write(f"**A** `{printable(result.a.file)}`  \n**B** `{printable(result.b.file)}`\n\n")
    write_markdown([summary_table(result), *response_tables(result)], out)
    out.write("\n### Transcripts\n\n")
    if result.transcript_diff:
        out.write("```diff\n" + "\n".join(map(printable, result.transcript_diff)) + "\n```\n")
    else:
        out.write(_same_transcripts(result) + "\n")
    out.write("\n")
    write_markdown([events_table(result)], out)


def summary_table(result: SessionDiff) -> Table:
    """A row for A, one for B and one for B − A, a column per metric."""
    delta: dict[str, Any] = {"side": "Δ"}
    for key, _, digits in SUMMARY_COLUMNS:  # signed: the column's numbers are A's and B's
        delta[key] = _signed(digits)(result.summary_delta(key))
    rows = [{"side": "A", **result.a.summary}, {"side": "B", **result.b.summary}, delta]
    columns = [Column("side", " ")]
    columns += [number_column(key, label, digits) for key, label, digits in SUMMARY_COLUMNS]
    return Table("Summary (Δ = B − A)", columns, rows)


def response_tables(result: SessionDiff) -> list[Table]:
    """Latency, then tokens and cost: one row per pair of responses."""
    rows: list[dict[str, Any]] = []
    for pair in result.responses:
        row: dict[str, Any] = {"index": pair.index, "status": _status(pair.a, pair.b)}
        for key in RESPONSE_METRICS:
            row[f"a_{key}"] = None if pair.a is None else pair.a.get(key)
            row[f"b_{key}"] = None if pair.b is None else pair.b.get(key)
            row[f"d_{key}"] = pair.delta(key)
        rows.append(row)
    latency = [("ttfb_ms", "ttfb"), ("ttft_ms", "ttft"), ("duration_ms", "duration")]
    if any(row["a_voice_to_voice_ms"] or row["b_voice_to_voice_ms"] for row in rows):
        latency.append(("voice_to_voice_ms", "voice→voice"))
    latency_columns = [number_column("index", "#"), Column("status")]
    for key, label in latency:
        latency_columns += _triple(key, label, 1, faster_is_better=True)
    token_columns = [number_column("index", "#")]
    for key, label in (("input_tokens", "in tok"), ("output_tokens", "out tok")):
        token_columns += _triple(key, label, 0)
    token_columns += _triple("cost_usd", "cost $", 6)
    return [
        Table("Responses: latency (ms; Δ = B − A)", latency_columns, rows),
        Table("Responses: tokens and cost", token_columns, rows),
    ]


def events_table(result: SessionDiff) -> Table:
    rows = [
        {
            "a_t": None if row.a is None else row.a.t,
            "a_event": _step_label(row.a),
            "op": OP_MARKS[row.op],
            "b_t": None if row.b is None else row.b.t,
            "b_event": _step_label(row.b),
            "kind": row.op,
        }
        for row in result.events
    ]
    columns = [
        number_column("a_t", "t", 3),
        Column("a_event", "A"),
        Column("op", " "),
        number_column("b_t", "t", 3),
        Column("b_event", "B"),
    ]
    counts = {op: sum(1 for row in result.events if row.op == op) for op in OP_MARKS}
    caption = (
        f"{counts['equal']} lines alike, {counts['changed']} changed (|), "
        f"{counts['removed']} only in A (<), {counts['added']} only in B (>)"
    )
    return Table(
        "Events (as rt show lists them)",
        columns,
        rows,
        caption=caption,
        row_style=lambda row: OP_STYLES[row["kind"]],
    )


# -- helpers --------------------------------------------------------------------------------------


def _step_label(step: EventStep | None) -> str:
    if step is None:
        return ""
    response = f"r{step.response} " if step.response is not None else ""
    frames = f" ×{step.frames}" if step.frames > 1 else ""
    return f"{ARROWS.get(step.source, '?')} {response}{step.type}{frames}"


def _status(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> str:
    left = "(none)" if a is None else str(a.get("status") or "?")
    right = "(none)" if b is None else str(b.get("status") or "?")
    return left if left == right else f"{left} → {right}"


def _same_transcripts(result: SessionDiff) -> str:
    count = len(result.responses)
    return f"the same in both ({counted(count, 'response')})"


def _triple(key: str, label: str, digits: int, *, faster_is_better: bool = False) -> list[Column]:
    style = _delta_style if faster_is_better else None
    return [
        number_column(f"a_{key}", f"{label} A", digits),
        number_column(f"b_{key}", f"{label} B", digits),
        Column(f"d_{key}", f"Δ {label}", justify="right", text=_signed(digits), style=style),
    ]


def _signed(digits: int) -> Callable[[Any], str]:
    def text(value: Any) -> str:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return ""
        magnitude = f"{abs(value):.{digits}f}" if isinstance(value, float) else str(abs(value))
        if magnitude.strip("0.") == "":  # no change reads as "0", not "+0" or "-0.0"
            return magnitude
        return ("+" if value > 0 else "-") + magnitude

    return text


def _delta_style(value: Any) -> str | None:
    if not isinstance(value, (int, float)):
        return None
    return "green" if value < 0 else "red" if value > 0 else None
