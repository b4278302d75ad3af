"""`rt serve`: a mock Realtime server that plays a recording's server side back.

Status (the URL, the SDK snippet, clients connecting, unmatched frames) goes to stderr; one line
per finished client goes to stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import click
from rich.console import Console
from rich.text import Text

from recorder.proxy import is_loopback, parse_listen_address
from recorder.replay import RecordedSession, load_session
from recorder.serve import (
    ClientConnected,
    ClientFinished,
    MockRealtimeServer,
    Playbook,
    ServeEvent,
    UnmatchedFrame,
    playbook_from,
)
from recorder.warning_log import WarningLog

from .options import listen_options, pacing_options
from .output import echo_warning, printable


@click.command()
@click.argument(
    "session", metavar="SESSION.jsonl", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@listen_options(
    exposes=", and so is the recorded conversation",
    remote_help="Anyone who can reach it can read the recorded conversation.",
)
@pacing_options(
    speed_help="Divide the recorded delays by this.",
    fast_help="Send every reply at once, without the recorded delays.",
)
@click.option(
    "--loop",
    "keep_serving",
    is_flag=True,
    help="Keep serving after a client leaves (default: exit after the first client, for CI).",
)
def serve(
    session: Path, listen: str, speed: float, fast: bool, keep_serving: bool, allow_remote: bool
) -> None:
    """Play a recording's server side back as a mock Realtime server.

    Accepts any client at any path. On connect it sends the server frames recorded before the
    first client frame (session.created, …); then each client frame is matched to the next
    recorded client frame of the same type (beta and GA names alike; audio appends by audio
    position, whatever the chunking) and answered with the server frames that followed it, with
    their recorded delays. Frames that match nothing are reported and not answered. It closes
    the way the recorded server did, if it did. Each client gets its own cursor.

    \b
    Example:
      rt serve sessions/call.jsonl --fast &
      # in a test: AsyncOpenAI(api_key="sk-test", websocket_base_url="ws://127.0.0.1:8765/v1")
      rt serve sessions/call.jsonl --listen 127.0.0.1:0 --loop    # many clients, any port
    """
    host, port = parse_listen_address(listen)
    status = Console(stderr=True, highlight=False, soft_wrap=True)
    clients = Console(highlight=False, soft_wrap=True)

    warn = WarningLog(echo_warning)

    recorded = load_session(session, keep_payloads=("server",), on_warning=warn)
    warn.close()
    playbook = playbook_from(recorded)
    reporter = _Reporter(status, clients)
    server = MockRealtimeServer(
        playbook, host, port, speed=speed, fast=fast, on_event=reporter.report
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(server, recorded, status, keep_serving, remote=not is_loopback(host)))


async def _run(
    server: MockRealtimeServer,
    recorded: RecordedSession,
    status: Console,
    keep_serving: bool,
    *,
    remote: bool,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises instead
            loop.add_signal_handler(signum, stop.set)
    async with server:
        for line in banner(server, recorded, keep_serving=keep_serving, remote=remote):
            status.print(line)
        stopping = asyncio.create_task(stop.wait())
        while True:
            leaving = asyncio.create_task(server.next_finished())
            await asyncio.wait({stopping, leaving}, return_when=asyncio.FIRST_COMPLETED)
            if stopping.done() or not keep_serving:
                leaving.cancel()
                break
        stopping.cancel()


class _Reporter:
    """Turns server events into lines; an unmatched type is reported once per client."""

    def __init__(self, status: Console, clients: Console) -> None:
        self.status = status
        self.clients = clients
        self.reported: set[tuple[str, str]] = set()

    def report(self, event: ServeEvent) -> None:
        if isinstance(event, ClientConnected):
            chosen = f" (subprotocol {event.subprotocol})" if event.subprotocol else ""
            line = printable(f"{event.client} connected: {event.path}{chosen}")
            self.status.print(Text(line), style="dim")
        elif isinstance(event, UnmatchedFrame):
            if (event.client, event.key) not in self.reported:
                self.reported.add((event.client, event.key))
                self.status.print(unmatched_line(event))
        else:
            self.clients.print(client_line(event))


def banner(
    server: MockRealtimeServer, recorded: RecordedSession, *, keep_serving: bool, remote: bool
) -> list[Text]:
    """Where to point clients, what will be played, and how the server stops."""
    playbook = server.playbook
    model, base_path = _sdk_route(recorded)
    pacing = "without delays" if server.scale == 0 else f"at speed {1 / server.scale:g}"
    lines = [
        Text.assemble(
            ("rt serve: ", "bold"),
            (server.url, "bold cyan"),
            f" plays {printable(recorded.path)} ({printable(_counts(playbook))}, {pacing}),"
            " at any path",
        ),
        Text.assemble(
            "  OpenAI SDK: ",
            (
                printable(
                    f'AsyncOpenAI(api_key="sk-test", websocket_base_url="{server.url}{base_path}")'
                ),
                "green",
            ),
            " then ",
            (printable(f'client.realtime.connect(model="{model}")'), "green"),
        ),
    ]
    if remote:
        lines.append(
            Text(f"warning: {server.url} is reachable from other machines", style="yellow")
        )
    ending = (
        "Ctrl-C to stop"
        if keep_serving
        else "exits after the first client (--loop to keep serving)"
    )
    lines.append(Text(f"  {ending}", style="dim"))
    return lines


def _counts(playbook: Playbook) -> str:
    text = f"{len(playbook.cues)} client frames to match, {playbook.server_frames} server frames"
    if playbook.subprotocol:
        text += f", subprotocol {playbook.subprotocol}"
    return text


def _sdk_route(recorded: RecordedSession) -> tuple[str, str]:
    """The model and the `websocket_base_url` path that reproduce the recorded request."""
    path = recorded.request_path or "/v1/realtime"
    parts = urlsplit(path)
    query = dict(parse_qsl(parts.query))
    model = query.get("model") or query.get("deployment") or "gpt-realtime"
    base = parts.path.removesuffix("/realtime") if parts.path.endswith("/realtime") else "/v1"
    return model, base


def unmatched_line(event: UnmatchedFrame) -> Text:
    return Text.assemble(
        ("warning: ", "yellow"),
        printable(
            f"{event.client} sent {event.key} (frame {event.index}), which matches nothing left "
            "in the recording; not answered"
        ),
    )


def client_line(event: ClientFinished) -> Text:
    """One finished client: path, duration, frames each way, unmatched frames, how it ended."""
    line = Text.assemble(
        (printable(event.client), "bold"),
        f"  {printable(event.path)}",
        f"  {event.duration_s:.1f} s",
        f"  in {event.frames_in} frames · out {event.frames_out} frames",
    )
    if event.unmatched:
        line.append(f"  {event.unmatched} unmatched", style="yellow")
    code = "" if event.code is None else f" {event.code}"
    reason = f" {printable(repr(event.reason))}" if event.reason else ""
    line.append(f"  closed by {event.closed_by}{code}{reason}", style="dim")
    return line
