"""`rt record --proxy`: run the recording proxy until Ctrl-C or SIGTERM.

Status (the URL to use, warnings, write failures, uploads) goes to stderr; one line per finished
session goes to stdout, so `rt record --proxy > sessions.log` keeps a clean log.

With `--out s3://bucket/prefix/` (or gs://, az://) sessions are written into a local spool and
each finished one is uploaded (recorder/object_store.py); the spool keeps what could not be
uploaded yet, and the next start uploads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from recorder.errors import InputError
from recorder.object_store import is_url
from recorder.proxy import (
    AUTH_HEADER,
    AUTH_QUERY_PARAM,
    ProxySessionSummary,
    RecordingProxy,
    is_loopback,
    parse_listen_address,
)
from recorder.session import redact_url
from recorder.tls import LocalCA, LocalCertificate
from recorder.upload_spool import SessionUploader, Uploaded, UploadFailed, default_spool_root
from recorder.upstream import DEFAULT_UPSTREAM, normalise_upstream
from recorder.workers import ProxyConfig, ProxyWorkers, available, default_count

from .options import listen_options, out_option
from .telemetry import banner_lines, report_line, start_telemetry, telemetry_options

Proxy = RecordingProxy | ProxyWorkers


@click.command()
@click.option(
    "--proxy",
    "proxy_mode",
    is_flag=True,
    help="Run as a recording WebSocket proxy (the only mode today).",
)
@listen_options(
    exposes="; the proxy may hold your API key",
    advice=" (and --auth-token)",
    remote_help="Anyone who can reach it can use the proxy (and the OPENAI_API_KEY it adds), "
    "so pair it with --auth-token.",
)
@click.option(
    "--upstream",
    default=DEFAULT_UPSTREAM,
    show_default=True,
    metavar="URL",
    help="The Realtime API to forward to; the client's path and query are appended. A path "
    "on it is a base the client's path goes under, without doubling (wss://host/v1 and a "
    "client dialling /v1/realtime reach /v1/realtime).",
)
@out_option(
    "Directory for the session files (created owner-only; one file per connection), or "
    "an object store prefix (s3://bucket/prefix/, gs://, az://): each finished session is "
    "uploaded to PREFIX/date=YYYY-MM-DD/, with the storage's usual credentials.",
    default="sessions",
    metavar="DIR|URL",
    url=True,
)
@click.option(
    "--spool",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --out URL: where sessions wait until uploaded (default: a directory per "
    "destination in the user cache). Each running proxy takes its own slot in it; a proxy "
    "that starts uploads what stopped ones left.",
)
@click.option(
    "--auth-token",
    envvar="RT_AUTH_TOKEN",
    metavar="TOKEN",
    help=f"Require clients to send TOKEN in an {AUTH_HEADER} header or an {AUTH_QUERY_PARAM} "
    "query parameter (else HTTP 401). It is removed before dialling the upstream and never "
    "recorded. Prefer the RT_AUTH_TOKEN environment variable: an argument is readable by "
    "anyone who can list processes.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Let no unrecorded traffic flow: when a frame cannot be recorded (the write budget "
    "is full, the frame is above the largest recorded size, or the file cannot be written), "
    "close both sides with 1011; refuse a call that cannot get a file (HTTP 503). "
    "docs/guarantees.md says exactly what it promises.",
)
@click.option(
    "--workers",
    default="auto",
    show_default=True,
    metavar="N|auto",
    help="Processes that forward and record, sharing the listen port (Linux): auto is one per "
    "core. Each call stays in one process.",
)
@click.option(
    "--tls",
    "local_tls",
    is_flag=True,
    help="Listen with TLS (wss://) using a certificate from a local CA that rt creates once "
    "and keeps (--tls-dir); prints how to make Node and Python clients trust it. For clients "
    "that always dial wss://, such as the OpenAI Node SDK.",
)
@click.option(
    "--tls-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --tls: where the local CA and certificates are kept "
    "(default: $XDG_DATA_HOME/rt/tls, ~/.local/share/rt/tls).",
)
@click.option(
    "--certfile",
    type=click.Path(exists=True, dir_okay=False),
    help="Listen with TLS (wss://) using this PEM certificate chain.",
)
@click.option(
    "--keyfile",
    type=click.Path(exists=True, dir_okay=False),
    help="The private key for --certfile, if it is not in the same file.",
)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Trust this PEM CA bundle for the upstream's certificate (a private CA).",
)
@telemetry_options
def record(
    proxy_mode: bool,
    listen: str,
    upstream: str,
    out: str,
    spool: Path | None,
    allow_remote: bool,
    auth_token: str | None,
    strict: bool,
    workers: str,
    local_tls: bool,
    tls_dir: Path | None,
    certfile: str | None,
    keyfile: str | None,
    ca_file: str | None,
    metrics_listen: str | None,
    otlp_url: str | None,
    pricing: str | None,
) -> None:
    """Record Realtime API sessions through a transparent WebSocket proxy.

    Clients connect to the proxy exactly as they would to the API (same path, query, headers
    and subprotocols); every frame is forwarded unchanged and written, with its time and
    direction, to one session file per connection in --out. API keys are never written.
    A client that sends no credentials gets OPENAI_API_KEY from the environment.
    Stop with Ctrl-C: every connection is closed with 1001 and every file flushed.

    \b
    Example:
      rt record --proxy --out sessions/
      # in your app: AsyncOpenAI(websocket_base_url="ws://127.0.0.1:8765/v1")
      rt record --proxy --upstream wss://RESOURCE.openai.azure.com
      # AsyncAzureOpenAI(..., websocket_base_url="ws://127.0.0.1:8765/openai")
      rt record --proxy --tls     # wss:// for the Node SDK: prints the NODE_EXTRA_CA_CERTS line
      rt record --proxy --out s3://recordings/rt/    # AWS_* credentials as for the AWS CLI
      rt record --proxy --metrics 127.0.0.1:9464 --otlp http://127.0.0.1:4318
      # Prometheus scrapes http://127.0.0.1:9464/metrics; traces go to the collector
    """
    if not proxy_mode:
        raise click.UsageError(
            "rt record needs --proxy (the only recording mode): "
            "rt record --proxy [--listen HOST:PORT] [--upstream URL] [--out DIR]"
        )
    try:
        host, port = parse_listen_address(listen)
    except InputError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    if not is_loopback(host) and not allow_remote:
        raise click.UsageError(
            f"--listen {listen} is reachable from other machines; the proxy may hold your API "
            "key. Add --allow-remote (and --auth-token) if that is what you want."
        )
    if keyfile and not certfile:
        raise click.UsageError("--keyfile needs --certfile")
    if local_tls and certfile:
        raise click.UsageError("--tls makes its own certificate: leave out --certfile/--keyfile")
    if tls_dir is not None and not local_tls:
        raise click.UsageError("--tls-dir goes with --tls")
    if spool is not None and not is_url(out):
        raise click.UsageError("--spool goes with --out URL (an object store prefix)")
    count = _worker_count(workers)
    normalise_upstream(upstream)  # a bad URL, port or host is an error now, not per call
    # soft_wrap: one line per session even when piped (rich would wrap at 80 columns)
    status = Console(stderr=True, highlight=False, soft_wrap=True)
    sessions = Console(highlight=False, soft_wrap=True)
    if auth_token and _from_command_line("auth_token"):
        status.print(
            "warning: --auth-token on the command line is readable by anyone who can list "
            "processes; set RT_AUTH_TOKEN instead",
            style="yellow",
        )
    if (metrics_listen or otlp_url) and count > 1:
        if _from_command_line("workers"):
            raise click.UsageError(
                "--metrics and --otlp watch one process: use --workers 1 (or leave it out)"
            )
        count = 1  # telemetry sees every call of one process
    local_cert = LocalCA(tls_dir).certificate_for(host) if local_tls else None
    if local_cert is not None:
        certfile, keyfile = str(local_cert.cert_file), str(local_cert.key_file)
    uploader = None
    out_dir = Path(out)
    config = ProxyConfig(
        upstream=upstream,
        out_dir=out_dir,
        host=host,
        port=port,
        auth_token=auth_token,
        strict=strict,
        certfile=None if certfile is None else Path(certfile),
        keyfile=None if keyfile is None else Path(keyfile),
        ca_file=None if ca_file is None else Path(ca_file),
    )
    if certfile:
        config.proxy()  # a certificate that does not load is an error before a spool slot is taken
    if is_url(out):
        uploader = SessionUploader(
            out,
            spool if spool is not None else default_spool_root(out),
            on_uploaded=lambda done: status.print(upload_line(done)),
            on_failed=lambda failed: status.print(upload_failure_line(failed)),
        )
        uploader.start()
        config = ProxyConfig(**{**config.__dict__, "out_dir": uploader.directory})

    def session_ended(summary: ProxySessionSummary) -> None:
        sessions.print(session_line(summary))
        if uploader is not None and summary.recorded:
            uploader.submit(summary.path)

    telemetry = start_telemetry(
        metrics_listen, otlp_url, pricing, allow_remote=allow_remote, auth_token=auth_token
    )
    callbacks: dict[str, Any] = {
        "on_session_end": session_ended,
        "on_write_error": lambda path, exc: status.print(write_error_line(path, exc, strict)),
        "on_notice": lambda line: status.print(notice_line(line)),
    }
    proxy: Proxy = (
        config.proxy(**callbacks, observer=telemetry)
        if count == 1
        else ProxyWorkers(config, count, **callbacks)
    )
    try:
        if uploader is not None:
            for line in upload_banner(uploader):
                status.print(line)
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C while closing
            run_event_loop(
                _serve(
                    proxy,
                    status,
                    remote=not is_loopback(host),
                    tls=local_cert,
                    extra=banner_lines(telemetry),
                )
            )
    finally:
        lost = report_line(telemetry)
        if lost is not None:
            status.print(lost)
        if uploader is not None:
            if uploader.pending:
                status.print(f"uploading {uploader.pending} session(s)…", style="dim")
            left = uploader.close(timeout=UPLOAD_GRACE_S)
            if left:
                status.print(
                    f"{len(left)} session(s) not uploaded yet, kept in {_shown(uploader.directory)}: "
                    f"the next rt record --out {uploader.destination} uploads them",
                    style="yellow",
                )


def _worker_count(value: str) -> int:
    if value == "auto":
        return default_count()
    if not value.isdigit() or int(value) < 1:
        raise click.BadParameter("a number of processes, or auto", param_hint="--workers")
    count = int(value)
    if count > 1 and not available():
        raise click.BadParameter(
            "several workers need Linux (SO_REUSEPORT)", param_hint="--workers"
        )
    return count


def _from_command_line(name: str) -> bool:
    context = click.get_current_context()
    return context.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE


async def _serve(
    proxy: Proxy,
    status: Console,
    *,
    remote: bool,
    tls: LocalCertificate | None = None,
    extra: list[Text] | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises instead
            loop.add_signal_handler(signum, stop.set)
    async with proxy:
        lines = banner(proxy, remote=remote, tls=tls)
        lines[-1:-1] = extra or []  # before "Ctrl-C to stop"
        for line in lines:
            status.print(line)
        waits = [loop.create_task(stop.wait())]
        if isinstance(proxy, ProxyWorkers):  # every worker ended by itself (SIGTERM to all)
            waits.append(loop.create_task(proxy.exited.wait()))
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C stops at once
        if proxy.active:
            status.print(f"closing {proxy.active} connection(s)…", style="dim")


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run the proxy on uvloop when it is installed (RT_EVENT_LOOP=asyncio to opt out): at a
    hundred concurrent calls it needs a fifth less CPU and halves the p99 latency it adds
    (bench/load.py). Same code either way; only the event loop differs."""
    if os.environ.get("RT_EVENT_LOOP", "auto") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


UPLOAD_GRACE_S = 30.0  # how long Ctrl-C waits for uploads still running


# -- what the user sees ------------------------------------------------------------------------


def banner(proxy: Proxy, *, remote: bool, tls: LocalCertificate | None = None) -> list[Text]:
    """The lines printed once the proxy listens: where to point clients, and any warnings."""
    base_url = proxy.url + "/v1"
    if proxy.auth_token:
        base_url += f"?{AUTH_QUERY_PARAM}=<token>"
    lines = [
        Text.assemble(
            ("rt record: ", "bold"),
            (proxy.url, "bold cyan"),
            f" → {redact_url(proxy.upstream)}, one file per connection in {_shown(proxy.out_dir)}/",
        ),
        Text.assemble("  OpenAI SDK: ", (f'AsyncOpenAI(websocket_base_url="{base_url}")', "green")),
    ]
    if tls is not None:
        lines += tls_lines(proxy, tls)
    if isinstance(proxy, ProxyWorkers):
        lines.append(Text(f"  {proxy.count} worker processes share the port", style="dim"))
    if proxy.injects_credentials:
        lines.append(Text("  clients that send no credentials get the key from the environment"))
    if proxy.strict:
        lines.append(
            Text("  --strict: a frame that cannot be recorded closes both sides with 1011")
        )
    if remote:
        warning = (
            f"warning: {proxy.url} is reachable from other machines; anyone who can connect "
            "can use this proxy"
        )
        if proxy.injects_credentials:
            warning += " and the API key it adds"
        if not proxy.auth_token:
            warning += " (set --auth-token)"
        lines.append(Text(warning, style="yellow"))
    lines.append(Text("  Ctrl-C to stop", style="dim"))
    return lines


def tls_lines(proxy: Proxy, tls: LocalCertificate) -> list[Text]:
    """How to make clients trust the local CA (`--tls`)."""
    ca = str(tls.ca_file.absolute())
    https = proxy.url.replace("wss://", "https://") + "/v1"
    made = "created now" if tls.created_ca else "kept from an earlier run"
    return [
        Text(f"  TLS: certificate from rt's local CA {ca} ({made}); clients must trust it:"),
        Text.assemble(
            "  Node:   ",
            (f"NODE_EXTRA_CA_CERTS={ca} node app.js", "green"),
            f'   # new OpenAI({{ baseURL: "{https}" }})',
        ),
        Text.assemble("  Python: ", (f"SSL_CERT_FILE={ca} python app.py", "green")),
    ]


def notice_line(line: str) -> Text:
    """A client turned away, or a worker's fault: one line on stderr."""
    return Text(line if line.startswith("error:") else f"rt record: {line}", style="yellow")


def upload_banner(uploader: SessionUploader) -> list[Text]:
    lines = [
        Text(
            f"  uploading each finished session to {uploader.destination}date=YYYY-MM-DD/ "
            f"(spool: {_shown(uploader.directory)})"
        )
    ]
    if uploader.leftovers:
        lines.append(
            Text(f"  uploading {len(uploader.leftovers)} session(s) left by an earlier run")
        )
    return lines


def upload_line(done: Uploaded) -> Text:
    return Text(str(done), style="dim")


def upload_failure_line(failed: UploadFailed) -> Text:
    return Text(f"warning: {failed}", style="yellow")


def session_line(summary: ProxySessionSummary) -> Text:
    """One finished session: file, duration, frames and bytes each way, how it ended."""
    where = _shown(summary.path) if summary.recorded else "(not recorded)"
    line = Text.assemble(
        (where, "bold"),
        f"  {_duration(summary.duration_s)}",
        f"  client {summary.frames_from_client} frames {_size(summary.bytes_from_client)}",
        f" · server {summary.frames_from_server} frames {_size(summary.bytes_from_server)}",
    )
    if summary.error:
        line.append(f"  {summary.error}", style="red")
    elif summary.closed_by is not None:
        code = "" if summary.close_code is None else f" {summary.close_code}"
        reason = f" {summary.close_reason!r}" if summary.close_reason else ""
        line.append(f"  closed by {summary.closed_by}{code}{reason}", style="dim")
    if summary.frames_lost:
        line.append(f"  {summary.frames_lost} frames NOT recorded", style="bold red")
    if summary.write_error:
        line.append(f"  write error: {summary.write_error}", style="red")
    return line


def write_error_line(path: Path, exc: BaseException, strict: bool) -> Text:
    consequence = (
        "closing both sides (--strict)" if strict else "the call goes on, unrecorded from here"
    )
    return Text(f"error: cannot write {_shown(path)}: {exc}; {consequence}", style="bold red")


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is inside it."""
    absolute = Path(path).absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} B"
    size, unit = count / 1000, "kB"
    for bigger in ("MB", "GB"):
        if size < 1000:
            break
        size, unit = size / 1000, bigger
    return f"{size:.1f} {unit}"
