"""`rt record --metrics/--otlp`: the options, starting telemetry, and what the user sees of it.

Kept apart from record.py so that the proxy's command stays about the proxy: record.py adds
`telemetry_options`, calls `start_telemetry` before serving, passes the result to the proxy as
its `observer`, prints `banner_lines` and, at the end, `report_line`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.text import Text

from recorder.errors import InputError
from recorder.proxy import is_loopback, parse_listen_address

F = TypeVar("F", bound=Callable[..., Any])


def telemetry_options(command: F) -> F:
    """--metrics, --otlp and --pricing."""
    for option in reversed(
        (
            click.option(
                "--metrics",
                "metrics_listen",
                metavar="HOST:PORT",
                help="Serve Prometheus metrics at http://HOST:PORT/metrics (e.g. "
                "127.0.0.1:9464): sessions, frames, ttfb and voice-to-voice histograms, "
                "responses, errors, rate limits, tokens and cost, as rt stats computes them. "
                "Loopback unless --allow-remote; --auth-token guards it too.",
            ),
            click.option(
                "--otlp",
                "otlp_url",
                metavar="URL",
                help="Send OpenTelemetry traces (one per session, a span per response) and "
                "the same metrics over OTLP/HTTP to the collector at URL (e.g. "
                "http://127.0.0.1:4318). Headers and certificates from the usual "
                "OTEL_EXPORTER_OTLP_* variables. A slow or dead collector never slows a call.",
            ),
            click.option(
                "--pricing",
                type=click.Path(exists=True, dir_okay=False),
                help="Price file for the cost metrics, as for rt stats.",
            ),
        )
    ):
        command = option(command)
    return command


def start_telemetry(
    metrics_listen: str | None,
    otlp_url: str | None,
    pricing: str | None,
    *,
    allow_remote: bool,
    auth_token: str | None,
) -> Any:
    """A started `recorder.telemetry.Telemetry`, or None when neither option was given."""
    if metrics_listen is None and otlp_url is None:
        return None
    address = None
    if metrics_listen is not None:
        try:
            address = parse_listen_address(metrics_listen)
        except InputError as exc:
            raise click.BadParameter(
                str(exc).replace("--listen", "--metrics").replace("8765", "9464"),
                param_hint="--metrics",
            ) from None
        if not is_loopback(address[0]) and not allow_remote:
            raise click.UsageError(
                f"--metrics {metrics_listen} is reachable from other machines. Add "
                "--allow-remote (and --auth-token) if that is what you want."
            )
    if otlp_url is not None and not otlp_url.startswith(("http://", "https://")):
        raise click.BadParameter(
            f"an OTLP/HTTP collector URL, e.g. http://127.0.0.1:4318 (got {otlp_url!r})",
            param_hint="--otlp",
        )
    from recorder.telemetry import Telemetry

    from .options import prices_with

    return Telemetry.start(
        prices_with(pricing), metrics_address=address, auth_token=auth_token, otlp_url=otlp_url
    )


def banner_lines(telemetry: Any) -> list[Text]:
    if telemetry is None:
        return []
    lines = []
    if telemetry.metrics_server is not None:
        guarded = " (token required)" if telemetry.metrics_server.auth_token else ""
        lines.append(
            Text.assemble("  Prometheus: ", (telemetry.metrics_server.url, "cyan"), guarded)
        )
    if telemetry.otlp is not None:
        lines.append(Text.assemble("  OTLP: traces and metrics to ", (telemetry.otlp.url, "cyan")))
    return lines


def report_line(telemetry: Any, timeout: float = 5.0) -> Text | None:
    """Stop telemetry (sending what is queued, within `timeout`); a line when anything was
    lost, None otherwise."""
    if telemetry is None:
        return None
    report = telemetry.close(timeout)
    if not report.lost_anything:
        return None
    parts = []
    if report.frames_dropped:
        parts.append(f"{report.frames_dropped} frames not interpreted (telemetry fell behind)")
    if report.spans_dropped:
        parts.append(f"{report.spans_dropped} spans not delivered to the OTLP collector")
    if report.metric_exports_failed:
        parts.append(f"{report.metric_exports_failed} metric exports failed")
    if report.faults:
        parts.append(f"{report.faults} sessions not interpreted (an rt bug: please report it)")
    return Text("warning: telemetry: " + "; ".join(parts), style="yellow")
