"""The `rt` group. Turns a RecorderError into a one-line error and exit status 1, in one place
(its control characters escaped, like every message rt prints)."""

from __future__ import annotations

import importlib
from typing import Any

import click

from recorder import __version__
from recorder.errors import RecorderError
from recorder.escaping import escape_control

# command name -> ("module:attribute", its one-line help). The help is written here too so that
# `rt --help` lists the commands without importing any of them (numpy, DuckDB, websockets…);
# tests/test_cli_main.py checks that each line matches the command's own help.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": (
        "rt_cli.check:check",
        "Check recorded calls against limits; with --target, replay them and check for "
        "regressions.",
    ),
    "demo": (
        "rt_cli.demo:demo",
        "Run the whole loop offline on the sample sessions, with no API key.",
    ),
    "diff": ("rt_cli.diff:diff", "Compare two recorded sessions, such as a call and its replay."),
    "export": ("rt_cli.export:export", "Export recorded sessions in another format."),
    "ls": (
        "rt_cli.ls:ls",
        "List recorded sessions: when, which model, how long, how fast, how much.",
    ),
    "prices": (
        "rt_cli.prices:prices",
        "Show the prices rt uses for cost_usd, and which entry a model takes.",
    ),
    "record": (
        "rt_cli.record:record",
        "Record Realtime API sessions through a transparent WebSocket proxy.",
    ),
    "replay": (
        "rt_cli.replay:replay",
        "Re-send a recording's client frames and record the new exchange.",
    ),
    "report": (
        "rt_cli.report:report",
        "Write one HTML file with the latency, tokens, cost, rate limits, errors and audio "
        "of recorded sessions.",
    ),
    "serve": (
        "rt_cli.serve:serve",
        "Play a recording's server side back as a mock Realtime server.",
    ),
    "show": ("rt_cli.show:show", "Show a recorded session as a timeline of its events."),
    "sql": (
        "rt_cli.sql:sql",
        "Run SQL (DuckDB's dialect) over recorded sessions, through ready views.",
    ),
    "stats": (
        "rt_cli.stats:stats",
        "Latency, tokens, cost, rate limits and errors of recorded sessions.",
    ),
    "tail": (
        "rt_cli.tail:tail",
        "Follow the newest session in DIR live, while `rt record` writes it.",
    ),
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs; `rt --help` imports none."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table above, each line whole (wrapped, never cut)."""
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RecorderError as exc:
            raise click.ClickException(escape_control(str(exc))) from None
        except click.ClickException as exc:  # a usage error may quote a file name
            exc.message = escape_control(exc.message)  # type: ignore[misc]  # Final in click
            raise


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rt")
def cli() -> None:
    """Record, replay, analyse and export OpenAI Realtime API sessions.

    \b
    Example:
      rt record --proxy --out sessions/      # then point your client at ws://127.0.0.1:8765/v1
      rt stats sessions/                     # latency, tokens, cost, rate limits, errors
    """


def main() -> None:
    cli(prog_name="rt")


if __name__ == "__main__":
    main()
