"""The README and every `--help` Example: run as shown.

Each `$ rt …` example in a README code block, and each command in a command's `Example:`
block, is run (by bash when it pipes or redirects) in a directory laid out as the examples
assume:

    sample_sessions/   the samples, as in the repository
    sessions/          the same recordings as rt names its files (<session id>.jsonl),
                       except ga-push-to-talk, which is sessions/call.jsonl
    examples/          the repository's example configs
    a.jsonl, b.jsonl   two sessions to compare; azure-prices.toml, a price file

What an example shows below its `$` line must be what prints (stdout, or stderr and stdout): line for line, where a line `…` stands for any number of lines and a `…` inside a
line for any text (the README's way of saying "abridged"). An example that cannot run here
(a server that waits for Ctrl-C, a real Realtime API, object storage) is named in NOT_RUN with
the reason, or, in the README, follows a `<!-- not run: reason -->` comment; its command line
is still parsed, so its options exist and its choices are valid. Every option named in the
README's synopsis blocks must exist too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from rt_cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_sessions"
README = ROOT / "README.md"
ELLIPSIS = "…"

# command lines (from `rt` up to the first option that differs) that are parsed, not run
NOT_RUN = {
    "rt record": "a proxy that runs until Ctrl-C, in front of a real Realtime API",
    "rt serve": "a server that runs until its client leaves or Ctrl-C",
    "rt replay sessions/call.jsonl": "dials the recorded upstream or a server that is not here",
    "rt tail sessions/": "follows the directory until Ctrl-C",
    "rt export parquet sessions/ --out s3://": "object storage",
    "rt demo": "15 s of replays; `rt demo --fast` runs instead",
    "rt diff sessions/call.jsonl replays/": "needs the replay above",
    "rt stats sessions/call.jsonl sessions/<new file>.jsonl": "needs a replay",
    "rt check calls/": "replays against a staging deployment or a server that is not here",
    "rt export otlp": "sends to an OTLP collector that is not here (tests/test_telemetry.py runs one)",
}
RUN_ANYWAY = ("rt demo --fast", "rt tail sessions/ --exit-on-close")


@dataclass
class Example:
    where: str  # README line or command, for failure messages
    command: str
    shown: list[str] = field(default_factory=list)  # the output below it, if any
    not_run: str | None = None


# -- collecting the examples --------------------------------------------------------------------


def readme_examples() -> list[Example]:
    examples: list[Example] = []
    lines = README.read_text(encoding="utf-8").splitlines()
    block: list[tuple[int, str]] | None = None
    not_run = None
    for number, line in enumerate(lines, start=1):
        if line.startswith("```"):
            if block is None:
                block = []
                before = next((lines[i] for i in range(number - 2, -1, -1) if lines[i].strip()), "")
                match = re.fullmatch(r"<!-- not run: (.+) -->", before.strip())
                not_run = match.group(1) if match else None
            else:
                examples += _examples_in(block, not_run)
                block = None
        elif block is not None:
            block.append((number, line))
    return examples


def _examples_in(block: list[tuple[int, str]], not_run: str | None) -> list[Example]:
    examples: list[Example] = []
    for number, line in block:
        if line.startswith("$ "):
            examples.append(Example(f"README.md:{number}", line[2:], [], not_run))
        elif examples:
            examples[-1].shown.append(line)
    return examples


def help_examples() -> list[Example]:
    """Commands in each `Example:` block: `$ rt …` followed by what it prints, or a bare
    `rt …` line (nothing shown); `#` lines are comments."""
    examples: list[Example] = []
    for name, command in _commands(cli, "rt"):
        text = command.help or ""
        if "Example:" not in text:
            continue
        lines = text.split("Example:", 1)[1].splitlines()
        indent = min(len(x) - len(x.lstrip()) for x in lines if x.strip())
        pending = ""
        prompt = False
        for raw in lines:
            line = raw[indent:].rstrip()
            if pending:  # a quoted command going on over the next line
                line, pending = pending + " " + line.strip(), ""
            elif line.startswith("$ "):
                line, prompt = line[2:], True
            elif line.startswith(("rt ", "duckdb ")):
                prompt = False
            elif line.strip().startswith("#") or not line.strip():
                continue
            else:
                if prompt and examples:
                    examples[-1].shown.append(line)
                continue
            if not _complete(line):
                pending = line
                continue
            examples.append(Example(f"{name} --help", line))
    return examples


def _commands(group: click.Group, prefix: str):
    ctx = click.Context(group)
    yield prefix, group
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", command


def _complete(line: str) -> bool:
    try:
        shlex.split(line, comments=True)
    except ValueError:
        return False
    return True


# -- the directory the examples run in ------------------------------------------------------------


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(
        SAMPLES, root / "sample_sessions", ignore=shutil.ignore_patterns("speech", "*.py")
    )
    sessions = root / "sessions"
    sessions.mkdir()
    for sample in sorted(SAMPLES.glob("*.jsonl")):
        session_id = json.loads(sample.read_text().split("\n", 1)[0])["id"]
        name = "call" if sample.stem == "ga-push-to-talk" else session_id
        shutil.copy(sample, sessions / f"{name}.jsonl")
    shutil.copytree(ROOT / "examples", root / "examples")
    shutil.copy(SAMPLES / "ga-push-to-talk.jsonl", root / "a.jsonl")
    shutil.copy(SAMPLES / "ga-function-call.jsonl", root / "b.jsonl")
    (root / "azure-prices.toml").write_text(
        '[models]\n"my-realtime-deployment" = "gpt-realtime"\n', encoding="utf-8"
    )
    return root


def run(command: str, place: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """`command` at `place`; returns (status, stdout, stderr). A plain `rt …` runs in this
    process (as `rt` would: click parses the same words); one with pipes or redirections in
    bash, with this environment's `rt` first on PATH."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    words = shlex.split(command, comments=True)
    if not any(word in ("|", ">", "&", "&&", ";") for word in words):
        monkeypatch.chdir(place)
        result = CliRunner().invoke(cli, words[1:], prog_name="rt")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    if "| jq" in command and shutil.which("jq") is None:
        command = command.split("| jq", 1)[0]  # the rt part still runs
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=place,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def shows(shown: list[str], printed: str) -> bool:
    """Whether `printed` is what `shown` shows, line for line (trailing blanks aside): a line
    `…` stands for any number of lines, a `…` inside a line for any text. Nothing shown is
    always true (the example only has to run)."""
    if not shown:
        return True
    pattern = ""
    for line in shown:
        if line.strip() in (ELLIPSIS, "..."):
            pattern += r"(?:.*\n)*?"
        else:
            parts = [re.escape(part) for part in line.rstrip().split(ELLIPSIS)]
            pattern += ".*?".join(parts) + r"\n"
    text = "\n".join(line.rstrip() for line in printed.splitlines()) + "\n"
    return re.fullmatch(pattern, text) is not None


def parses(command: str) -> None:
    """The command line names commands and options that exist, with valid choices."""
    args = shlex.split(command, comments=True)
    args = [a for a in args if a != "&"]
    if "|" in args:
        args = args[: args.index("|")]
    if ">" in args:
        args = args[: args.index(">")]
    assert args[0] == "rt", command
    group: click.Command = cli
    ctx = click.Context(cli, info_name="rt")
    rest = args[1:]
    while isinstance(group, click.Group):
        sub = group.get_command(ctx, rest[0])
        assert sub is not None, f"no command {rest[0]!r} in {command!r}"
        ctx = click.Context(sub, info_name=rest[0], parent=ctx)
        group, rest = sub, rest[1:]
    parser = group.make_parser(ctx)
    values, _, _ = parser.parse_args(list(rest))
    for param in group.params:
        if isinstance(param.type, click.Choice) and param.name in values:
            value = values[param.name]
            for one in value if isinstance(value, (list, tuple)) else [value]:
                param.type.convert(one, param, ctx)


# -- the tests ------------------------------------------------------------------------------------------


def _reason(example: Example) -> str | None:
    if example.not_run:
        return example.not_run
    if example.command.startswith(RUN_ANYWAY):
        return None
    command = " ".join(shlex.split(example.command, comments=True))
    for prefix, reason in NOT_RUN.items():
        if command.startswith(prefix):
            return reason
    if command.startswith("duckdb "):
        return "the DuckDB command line is not rt"
    return None


EXAMPLES = readme_examples() + help_examples()


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e.where}: {e.command[:60]}")
def test_example_runs_as_shown(
    example: Example, place: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not example.command.startswith("rt "):
        reason = _reason(example)
        assert reason, f"{example.where}: only rt commands run here: {example.command}"
        return
    parses(example.command)
    if _reason(example) is not None:
        return
    status, stdout, stderr = run(example.command, place, monkeypatch)
    assert status == 0, f"{example.where}: `{example.command}` failed:\n{stdout}{stderr}"
    # what it shows is stdout, or (status lines first) stderr and stdout
    assert shows(example.shown, stdout) or shows(example.shown, stderr + stdout), (
        f"{example.where}: `{example.command}` shows\n"
        + "\n".join(example.shown)
        + f"\nbut prints\n{stderr}{stdout}"
    )


def test_every_command_has_examples_and_the_readme_some_that_run():
    commands = {e.where for e in help_examples()}
    for name, command in _commands(cli, "rt"):
        assert "Example:" in (command.help or ""), f"{name} has no Example:"
    assert len(commands) >= 12
    run_here = [e for e in readme_examples() if _reason(e) is None]
    assert len(run_here) >= 8


def test_glob_examples_match_rt_file_names(place: Path) -> None:
    """A quoted glob in an example matches files named as rt names them (sessions/)."""
    globs = set()
    for example in EXAMPLES:
        for arg in shlex.split(example.command, comments=True):
            if "*" in arg and arg.startswith("sessions/"):
                globs.add(arg)
    assert globs
    for pattern in globs:
        assert list(place.glob(pattern)), f"{pattern} matches none of rt's file names"


def test_synopsis_options_exist():
    """Every --option in a README synopsis (a block of `rt …` lines without `$`) exists."""
    text = README.read_text(encoding="utf-8")
    for block in re.findall(r"```\n(.*?)```", text, flags=re.S):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines or not lines[0].startswith("rt ") or any(x.startswith("$") for x in lines):
            continue
        command: list[str] = []
        for line in lines:
            if line.startswith("rt "):
                words = line.split()
                command = [w for w in words[:3] if re.fullmatch(r"[a-z]+", w)]
            helped = subprocess.run(
                [sys.executable, "-m", "rt_cli.main", *command[1:], "--help"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            for option in re.findall(r"(--[a-z][a-z-]*)", line):
                assert option in helped.stdout, f"README synopsis: {' '.join(command)} {option}"


def test_matching_rules():
    assert shows(["a", "…", "d"], "a\nb\nc\nd\n")
    assert shows(["a", "…", "d"], "a\nd\n")
    assert not shows(["a", "d"], "a\nb\nd\n")
    assert shows(["run …)"], "run 2026-x)\n")
    assert not shows(["a"], "a\nb\n")
    assert shows(["a", "…"], "a\nb\n")
    assert shows([], "anything\n")
