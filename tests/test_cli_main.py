"""The `rt` group: its command list comes from a static table, so `rt --help` imports no command."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from rt_cli.main import COMMANDS, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_says_what_each_command_says_of_itself(name):
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert COMMANDS[name][1] == command.get_short_help_str(limit=1000)


def test_help_lists_every_command_whole():
    result = CliRunner().invoke(cli, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    listed = result.stdout.split("Commands:\n", 1)[1].splitlines()
    assert listed == [f"  {name.ljust(6)}  {COMMANDS[name][1]}" for name in sorted(COMMANDS)]


def test_help_imports_no_command_module():
    probe = (
        "import sys\n"
        "from rt_cli.main import cli\n"
        "try:\n"
        "    cli(['--help'], prog_name='rt')\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('rt_cli.') and m != 'rt_cli.main')\n"
        "heavy = sorted(m for m in ('numpy', 'duckdb', 'websockets', 'rich') if m in sys.modules)\n"
        "print('LOADED', loaded, heavy, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert "LOADED [] []" in done.stderr
    assert "Commands:" in done.stdout


def test_an_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["nope"])
    assert result.exit_code == 2
    assert "No such command 'nope'" in result.stderr
