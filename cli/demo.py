"""`rt demo`: the whole loop on the sample sessions, offline, in one command."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from recorder.analytics import collect_stats
from recorder.demo import LoopResult, installed_samples, replay_all
from recorder.errors import InputError
from recorder.store import ensure_directory
from recorder.wav import export_wav
from recorder.wording import counted

from .options import out_option
from .output import Column, Table, make_console, number_column, print_tables

LISTEN_TO = "ga-server-vad-barge-in"


@click.command()
@click.argument(
    "samples",
    required=False,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="[DIR]",
)
@out_option("Where the new recordings and the WAV files go.", default="rt-demo")
@click.option(
    "--fast", is_flag=True, help="Replay without the recorded pauses (about 1 s instead of 15 s)."
)
def demo(samples: Path | None, out: Path, fast: bool) -> None:
    """Run the whole loop offline on the sample sessions, with no API key.

    Each recording in DIR (default: the sample sessions installed with rt, the files of
    sample_sessions/ in the repository) is played back by a mock Realtime API
    (`rt serve`); a recording proxy (`rt record --proxy`) sits in front of it, and the
    recording's client side is replayed through the proxy (`rt replay`) at its recorded pace.
    Then the new recordings are compared with the originals (`rt stats`) and one call is
    exported as WAV (`rt export wav`). Everything runs on 127.0.0.1.

    \b
    Example:
      rt demo                       # about 15 s; writes rt-demo/sessions/ and rt-demo/audio/
      rt demo --fast --out demo/    # about 2 s: the mock API answers at once
    """
    source = "the samples installed with rt, in " if samples is None else ""
    samples = installed_samples() if samples is None else samples
    originals = sorted(samples.glob("*.jsonl"))
    if not originals:
        raise InputError(
            f"no session files (*.jsonl) in {samples}/: give a directory of recordings"
        )
    err = make_console(stderr=True)
    console = make_console()
    ensure_directory(out)  # owner-only, like rt record's directory: recordings hold voices
    sessions_dir = out / "sessions"
    err.print(
        f"[bold]rt demo[/]: {counted(len(originals), 'recording')} from {source}{samples}/, each "
        "served by a mock Realtime API on 127.0.0.1, replayed through a recording proxy into "
        f"{sessions_dir}/"
    )
    results = _run_loop(originals, sessions_dir, fast, err)
    failed = [r for r in results if r.recorded is None]
    for result in failed:
        err.print(f"[yellow]warning[/]: {result.original.name}: {result.problem}")
    recorded = {r.original: r.recorded for r in results if r.recorded is not None}
    if not recorded:
        raise InputError("no replay finished; see the warnings above")

    before = collect_stats([str(p) for p in recorded])
    after = collect_stats([str(p) for p in recorded.values()])
    print_tables([_comparison(recorded, before.to_json(), after.to_json(), fast)], console)

    listen = next((p for p in recorded if p.stem == LISTEN_TO), next(iter(recorded)))
    audio_dir = out / "audio"
    exported = export_wav(recorded[listen], audio_dir, on_warning=lambda w: None)
    console.print(f"\nThe replayed {listen.stem} call, as WAV:")
    for wav in exported.written:
        console.print(f"  {wav.path}  {wav.duration_s:.1f} s")
    hints = [
        (f"rt show {recorded[listen]}", "the call as a timeline"),
        (f"rt stats {sessions_dir}/", "latency, tokens, cost, rate limits, errors"),
        (f"rt stats {samples}/ --format json | jq .summary", "the same, for scripts"),
        ("rt record --proxy", 'then AsyncOpenAI(websocket_base_url="ws://127.0.0.1:8765/v1")'),
    ]
    width = max(len(command) for command, _ in hints)
    console.print("\nNext:")
    for command, what in hints:
        console.print(f"  {command.ljust(width)}  # {what}")
    if failed:
        raise InputError(f"{len(failed)} of {len(results)} replays did not finish")


def _run_loop(originals: list[Path], out: Path, fast: bool, err: Any) -> list[LoopResult]:
    progress = Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task("replay", total=len(originals))
    context = progress if err.is_terminal else contextlib.nullcontext()
    with context:
        return asyncio.run(
            replay_all(originals, out, fast=fast, on_done=lambda _: progress.advance(task))
        )


def _comparison(
    recorded: dict[Path, Path], before: dict[str, Any], after: dict[str, Any], fast: bool
) -> Table:
    """One row per recording: its responses, p50 time to first audio and cost, before and after."""

    def per_file(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for response in report["responses"]:
            row = rows.setdefault(response["file"], {"ttfb": [], "cost": 0.0, "n": 0})
            row["n"] += 1
            if response["ttfb_ms"] is not None:
                row["ttfb"].append(response["ttfb_ms"])
            row["cost"] += response["cost_usd"] or 0.0
        return rows

    def median(values: list[float]) -> float | None:
        ordered = sorted(values)
        if not ordered:
            return None
        middle = len(ordered) // 2
        return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2

    old, new = per_file(before), per_file(after)
    rows = []
    for original, replayed in recorded.items():
        a = old.get(str(original), {"ttfb": [], "cost": 0.0, "n": 0})
        b = new.get(str(replayed), {"ttfb": [], "cost": 0.0, "n": 0})
        rows.append(
            {
                "recording": original.stem,
                "responses": f"{a['n']} → {b['n']}",
                "ttfb_before": median(a["ttfb"]),
                "ttfb_after": median(b["ttfb"]),
                "cost_before": a["cost"],
                "cost_after": b["cost"],
            }
        )
    return Table(
        title="Original → replayed through the proxy",
        columns=[
            Column("recording"),
            Column("responses", justify="right"),
            number_column("ttfb_before", "p50 ttfb ms (original)", 1),
            number_column("ttfb_after", "p50 ttfb ms (replay)", 1),
            number_column("cost_before", "cost $ (original)", 4),
            number_column("cost_after", "cost $ (replay)", 4),
        ],
        rows=rows,
        caption="ttfb: from what triggered a response (response.create or speech_stopped) to its "
        "first audio delta, as rt stats computes it." + (_fast_note(rows) if fast else ""),
    )


def _fast_note(rows: list[dict[str, Any]]) -> str:
    """Why replayed ttfb is a few ms with --fast: the mock API does not wait before answering."""
    replayed = [row["ttfb_after"] for row in rows if row["ttfb_after"] is not None]
    span = f" ({min(replayed):.0f}–{max(replayed):.0f} ms here)" if replayed else ""
    return (
        "\n--fast: the mock API answered at once instead of after the recorded delays, so the "
        f"replays' ttfb{span} is only the proxy and loopback's own time. Without --fast each "
        "answer keeps its recorded delay and the replay's ttfb comes close to the original's."
    )
