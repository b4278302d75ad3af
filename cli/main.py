"""The `rt` group. Turns a RecorderError into a one-line error and exit status 1, in one place
(its control characters escaped, like every message rt prints)."""

from __future__ import annotations

import importlib
from typing import Any

import click

from recorder import __version__
from recorder.errors import RecorderError
from recorder.escaping import escape_control

# command name -> "module:attribute"; each command lives in its own module and is imported lazily
COMMANDS: dict[str, str] = {
    "record": "rt_cli.record:record",
    "replay": "rt_cli.replay:replay",
    "serve": "rt_cli.serve:serve",
    "stats": "rt_cli.stats:stats",
    "export": "rt_cli.export:export",
    "show": "rt_cli.show:show",
    "tail": "rt_cli.tail:tail",
    "ls": "rt_cli.ls:ls",
    "sql": "rt_cli.sql:sql",
    "diff": "rt_cli.diff:diff",
    "check": "rt_cli.check:check",
    "report": "rt_cli.report:report",
    "demo": "rt_cli.demo:demo",
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (keeps `rt --help` fast)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    def _load(self, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None  # not built yet
            raise
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command

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
