"""`rt check`: gate on recorded calls: thresholds, and with `--target` or `--baseline` a
comparison with a baseline run. Exit 0 when every check holds, 1 when one fails, 2 when the
check cannot run (bad options, config or paths).

The verdict table (or `--format json`) goes to stdout; progress, warnings and errors to stderr.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from recorder.check import (
    ALL,
    CONFIG_NAME,
    MANIFEST,
    CheckConfig,
    CheckReport,
    Observations,
    Pair,
    ReplayOutcome,
    default_config,
    evaluate,
    junit_xml,
    load_config,
    markdown_summary,
    observe,
    origins_of,
    pair_recordings,
    read_origins,
    replay_recordings,
    session_files,
    validate_fields,
    write_manifest,
)
from recorder.check.summary import by_check, facts, headline, printable, value_range
from recorder.errors import InputError, RecorderError
from recorder.pricing import PriceTable, load_price_file

from .options import (
    format_option,
    header_option,
    out_option,
    prices_with,
    pricing_option,
    timeout_option,
)
from .output import (
    Column,
    Table,
    echo_warnings,
    make_console,
    print_tables,
    reading_progress,
    write_json,
)

RUNS_DIR = "rt-check-runs"


class CannotCheck(click.ClickException):
    """The check could not run (a usage error): exit status 2, so CI can tell it from a
    failed check (1)."""

    exit_code = 2


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"The checks (TOML).  [default: ./{CONFIG_NAME} if there is one, else errors == 0 "
    "and, with a baseline, the same tool calls, statuses and error types]",
)
@click.option(
    "--target",
    metavar="URL",
    help="Replay each recording's client side here first (reactive pace) and check the new "
    "calls against the recordings; a bare ws[s]://HOST keeps each recording's path and query.",
)
@click.option(
    "--baseline",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Compare with this earlier run (a directory of recordings, e.g. an earlier --out) "
    "instead of the recordings given; recordings pair by the call they replay.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Replays running at once (with --target).",
)
@out_option(f"Directory for the new recordings (with --target).  [default: {RUNS_DIR}/<UTC time>]")
@timeout_option(" of a replay")
@header_option("with each replay")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML.")
@click.option(
    "--markdown",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a Markdown summary (for $GITHUB_STEP_SUMMARY or a merge request).",
)
@pricing_option
@click.option("-v", "--verbose", is_flag=True, help="List every recording's verdict.")
@format_option(("table", "json"), help="table (plain text when not on a terminal), json.")
def check(
    paths: tuple[str, ...],
    config_path: Path | None,
    target: str | None,
    baseline: Path | None,
    concurrency: int,
    out: Path | None,
    timeout: float,
    headers: list[tuple[str, str]],
    junit: Path | None,
    markdown: Path | None,
    pricing: str | None,
    verbose: bool,
    fmt: str,
) -> None:
    """Check recorded calls against limits; with --target, replay them and check for
    regressions.

    PATH is a session file, a directory (every *.jsonl under it) or a glob. The config lists
    expressions over any metric of `rt stats` (by response, or .per_session.), with filters:
    `ttfb_ms.p95 <= 800`, `cost_usd.per_session.max <= 0.05`, `errors == 0`, and relative
    limits that compare with a baseline run: `ttfb_ms.p50 <= +20%`. Each check is applied to
    each recording and to all of them. With --target the recordings are replayed there first
    (N at once), the new calls are recorded in --out, and each is compared with its original
    (or, with --baseline, with the same call in an earlier run): relative limits, tool calls,
    transcript similarity, statuses and error types. Every failure names the recording, the
    metric and the responses. Exit status 0 when every check holds, 1 when one fails, 2 when
    the check cannot run. docs/check.md has the config reference and a CI recipe.

    \b
    Example:
      rt check sample_sessions/ --config examples/rt-check.toml
      rt check calls/ --target wss://staging.example.com/v1/realtime --junit rt-check.xml
      rt check calls/ --target ws://127.0.0.1:8765 --concurrency 8 --out runs/today
      rt check calls/ --target ws://127.0.0.1:8765 --baseline runs/last-release --format json
    """
    started = time.monotonic()
    timestamp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    try:
        report = _run(
            paths,
            config_path,
            target,
            baseline,
            concurrency,
            out,
            timeout,
            headers,
            pricing,
            timestamp,
        )
    except RecorderError as exc:
        raise CannotCheck(printable(str(exc))) from None
    seconds = time.monotonic() - started
    if junit is not None:
        _write(junit, junit_xml(report, timestamp=timestamp.isoformat(), seconds=seconds))
    if markdown is not None:
        _write(markdown, markdown_summary(report))
    echo_warnings([printable(w) for w in report.warnings])
    if fmt == "json":
        write_json(report.to_json(), sys.stdout, indent=2 if sys.stdout.isatty() else None)
    else:
        render(report, verbose)
    if not report.passed:
        raise SystemExit(1)


def _run(
    paths: Sequence[str],
    config_path: Path | None,
    target: str | None,
    baseline: Path | None,
    concurrency: int,
    out: Path | None,
    timeout: float,
    headers: Sequence[tuple[str, str]],
    pricing: str | None,
    timestamp: dt.datetime,
) -> CheckReport:
    config = _config(config_path)
    prices = _prices(config, pricing)
    files = session_files(paths)
    if out is not None and target is None:
        raise InputError("--out is where --target records the new calls: give --target too")
    base: Observations | None = None
    if baseline is not None:
        base = _observe(session_files([baseline]), prices)
    if target is None:
        checked = _observe(files, prices)
        if base is None or baseline is None:
            return evaluate(config, checked)
        origins = _origins([baseline, *{Path(f).parent for f in files}])
        pairs = pair_recordings(checked.recordings, base.recordings, origins)
        _need_pairs(pairs, f"no recording in {baseline} is a run of the same calls")
        return evaluate(
            config, checked, pairs=pairs, baseline=str(baseline), warnings=base.warnings
        )
    originals = _observe(files, prices)
    validate_fields(config, originals.fields)  # a config error before any call is made
    if base is None:
        base = originals
    run_dir = out or Path(RUNS_DIR) / timestamp.strftime("%Y%m%dT%H%M%SZ")
    outcomes = _replay(files, target, run_dir, concurrency, headers, timeout)
    write_manifest(
        run_dir, outcomes[0].target if outcomes else target, timestamp.isoformat(), outcomes
    )
    checked = _observe([o.replay for o in outcomes if o.replay is not None], prices)
    origins = origins_of(outcomes)
    if baseline is not None:
        origins.update(_origins([baseline]))
    pairs = pair_recordings(checked.recordings, base.recordings, origins)
    return evaluate(
        config,
        checked,
        pairs=pairs,
        replays=outcomes,
        names={o.replay: o.original for o in outcomes if o.replay is not None},
        baseline=str(baseline) if baseline is not None else "the recordings replayed",
        target=outcomes[0].target if outcomes else target,
        run_dir=str(run_dir),
        warnings=originals.warnings if baseline is None else base.warnings,
    )


def _config(path: Path | None) -> CheckConfig:
    if path is not None:
        if not path.is_file():
            raise InputError(f"{path}: no such config file")
        return load_config(path)
    if Path(CONFIG_NAME).is_file():
        return load_config(CONFIG_NAME)
    return default_config()


def _prices(config: CheckConfig, pricing: str | None) -> PriceTable:
    """The built-in prices, the config's `pricing` over them, then `--pricing`."""
    prices = prices_with(None if config.pricing is None else str(config.pricing))
    return prices if pricing is None else prices.merged(load_price_file(pricing))


def _observe(files: Sequence[str | os.PathLike[str]], prices: PriceTable) -> Observations:
    with reading_progress() as on_progress:
        return observe(files, prices, on_progress=on_progress)


def _origins(directories: Sequence[Path]) -> dict[str, str]:
    origins: dict[str, str] = {}
    for directory in directories:
        origins.update(read_origins(directory))
    return origins


def _need_pairs(pairs: Sequence[Pair], reason: str) -> None:
    if pairs and not any(p.baseline is not None for p in pairs):
        raise InputError(f"{reason} (recordings pair by the call they replay, from {MANIFEST})")


def _replay(
    files: Sequence[Path],
    target: str,
    run_dir: Path,
    concurrency: int,
    headers: Sequence[tuple[str, str]],
    timeout: float,
) -> list[ReplayOutcome]:
    if (run_dir / MANIFEST).exists():
        raise InputError(f"{run_dir} already holds a run: choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    with _replay_progress(len(files)) as on_done:
        try:
            return asyncio.run(
                replay_recordings(
                    files,
                    target,
                    run_dir,
                    concurrency=concurrency,
                    headers=headers,
                    environ=os.environ,
                    timeout=timeout,
                    on_warning=lambda problem: None,  # the analytics warn about bad lines
                    on_done=on_done,
                )
            )
        except KeyboardInterrupt:
            raise click.Abort() from None


@contextmanager
def _replay_progress(total: int) -> Iterator[Callable[[ReplayOutcome], None]]:
    """A progress bar on stderr while the replays run (a line per replay when stderr is not
    a terminal, for CI logs)."""
    console = make_console(stderr=True)
    if not console.is_terminal:

        def log(outcome: ReplayOutcome) -> None:
            how = "" if outcome.stopped is None else f": stopped: {outcome.stopped}"
            click.echo(
                printable(
                    f"replayed {outcome.original} -> {outcome.replay or 'no recording'} "
                    f"in {outcome.seconds:.1f} s{how}"
                ),
                err=True,
            )

        yield log
        return
    columns = (
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("", total=total)

        def advance(outcome: ReplayOutcome) -> None:
            progress.update(task, advance=1, description=printable(Path(outcome.original).name))

        yield advance


def _write(path: Path, text: str) -> None:
    try:
        if path.parent != Path(""):
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CannotCheck(f"{path}: cannot write: {exc.strerror}") from None


# -- what the user sees ----------------------------------------------------------------------

_RESULT_STYLE = {"pass": "green", "fail": "bold red", "skip": "dim"}


def render(report: CheckReport, verbose: bool) -> None:
    """The verdict table: per check its verdict over all recordings, the recordings that
    failed it (all with --verbose), the rest in one line; then each failure's reason."""
    rows: list[dict[str, Any]] = []
    for summary in by_check(report):
        lines: list[tuple[str, str, str, str]] = []
        if summary.overall is not None:
            v = summary.overall
            lines.append((ALL, v.expected, v.got, v.outcome))
        alone = len(summary.recordings) == 1  # one recording: its own row, not a tally
        shown = summary.recordings if verbose or alone else summary.failed
        lines += [(v.scope, v.expected, v.got, v.outcome) for v in shown]
        rest = [v for v in summary.recordings if v not in shown]
        if rest:
            counts = [
                f"{n} {o}" for o in ("pass", "skip") if (n := sum(v.outcome == o for v in rest))
            ]
            label = "each recording" if len(rest) == len(summary.recordings) else "the others"
            expected = rest[0].expected if len({v.expected for v in rest}) == 1 else ""
            lines.append((f"{label} ({len(rest)})", expected, value_range(rest), ", ".join(counts)))
        for index, (scope, expected, got, result) in enumerate(lines):
            rows.append(
                {
                    "check": summary.check if index == 0 else "",
                    "scope": scope,
                    "expected": expected,
                    "got": got,
                    "result": result,
                }
            )
    columns = [
        Column("check", text=printable),
        Column("scope", text=printable, max_width=60),
        Column("expected", text=printable),
        Column("got", text=printable),
        Column("result", style=lambda value: _RESULT_STYLE.get(str(value).split(" ")[-1])),
    ]
    console = make_console(sys.stdout)
    print_tables([Table("", columns, rows)], console)
    for verdict in report.failures:
        console.print(
            f"[bold red]FAIL[/] {_escape(verdict.check)} · {_escape(verdict.message)}",
            soft_wrap=True,  # one line each, however long: CI logs and grep read them
        )
    console.print(" · ".join(_escape(f) for f in facts(report)), soft_wrap=True)
    style = "bold red" if not report.passed else "bold green"
    console.print(f"[{style}]{_escape(headline(report))}[/]", soft_wrap=True)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(printable(text))
