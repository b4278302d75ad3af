"""The options several commands share, each defined once (as sqlite-utils' `output_options`).

    listen_options(exposes=...)     --listen HOST:PORT and --allow-remote, with the loopback rule
    pacing_options(...)             --speed and --fast (never both), and --pace where it applies
    pricing_option, prices_with     --pricing FILE, and the built-in prices with it over them
    header_option, timeout_option   --header "NAME: VALUE" and --timeout for replays
    format_option(...)              --format table|json|csv|markdown
    out_option(...)                 --out/-o, the one spelling of "where to write"
    wide_option                     --wide: every column of the table view

A bundle is a decorator; where a rule spans two options (an address needs --allow-remote, a
speed excludes --fast) the bundle checks it before the command runs, so every command says
the same thing in the same words. Importing this module imports no command and no analytics.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from recorder.errors import InputError

if TYPE_CHECKING:
    from recorder.pricing import PriceTable

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("table", "json", "csv", "markdown")
DEFAULT_LISTEN = "127.0.0.1:8765"


def _stack(command: F, options: Sequence[Callable[[Any], Any]]) -> F:
    """Apply `options` so that they show in `--help` in the order given."""
    for option in reversed(options):
        command = option(command)
    return command


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE


# -- listen address ---------------------------------------------------------------------------


def _check_address(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from recorder.proxy import parse_listen_address

    try:
        parse_listen_address(value)
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def listen_options(*, exposes: str, advice: str = "", remote_help: str) -> Callable[[F], F]:
    """`--listen HOST:PORT` (loopback by default) and `--allow-remote`.

    An address other machines can reach is refused unless `--allow-remote` is given; the
    message says what it would expose (`exposes`, e.g. "; the proxy may hold your API key")
    and what else to add (`advice`, e.g. " (and --auth-token)"). The command receives
    `listen` (the text as given, checked) and `allow_remote`.
    """

    def decorator(command: F) -> F:
        @functools.wraps(command)
        def checked(*args: Any, **kwargs: Any) -> Any:
            from recorder.proxy import is_loopback, parse_listen_address

            listen = kwargs["listen"]
            host, _ = parse_listen_address(listen)
            if not is_loopback(host) and not kwargs["allow_remote"]:
                raise click.UsageError(
                    f"--listen {listen} is reachable from other machines{exposes}. "
                    f"Add --allow-remote{advice} if that is what you want."
                )
            return command(*args, **kwargs)

        return _stack(
            cast(F, checked),
            [
                click.option(
                    "--listen",
                    default=DEFAULT_LISTEN,
                    show_default=True,
                    metavar="HOST:PORT",
                    callback=_check_address,
                    help="Address to listen on. Port 0 picks a free port (the URL is printed).",
                ),
                click.option(
                    "--allow-remote",
                    is_flag=True,
                    help="Allow a --listen address that is not loopback. " + remote_help,
                ),
            ],
        )

    return decorator


# -- pacing -----------------------------------------------------------------------------------


def pacing_options(
    *, speed_help: str, fast_help: str, paces: Sequence[str] = (), pace_help: str = ""
) -> Callable[[F], F]:
    """`--speed N` and `--fast` (refused together), and `--pace` when `paces` are given."""

    def decorator(command: F) -> F:
        @functools.wraps(command)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if kwargs["fast"] and _given(click.get_current_context(), "speed"):
                raise click.UsageError("--speed and --fast cannot be used together")
            return command(*args, **kwargs)

        options: list[Callable[[Any], Any]] = [
            click.option(
                "--speed",
                type=click.FloatRange(min=0, min_open=True),
                default=1.0,
                show_default=True,
                help=speed_help,
            ),
            click.option("--fast", is_flag=True, help=fast_help),
        ]
        if paces:
            options.append(
                click.option(
                    "--pace",
                    type=click.Choice(list(paces)),
                    default=paces[0],
                    show_default=True,
                    help=pace_help,
                )
            )
        return _stack(cast(F, checked), options)

    return decorator


# -- pricing ----------------------------------------------------------------------------------


pricing_option = click.option(
    "--pricing",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Price file (JSON, or TOML on Python 3.11+) replacing or adding to the built-in prices.",
)
"""`--pricing FILE` (the value is `pricing`, the path); `prices_with` reads it."""


def prices_with(pricing: str | None) -> PriceTable:
    """The built-in prices, with the `--pricing` file over them if one was given (a bad file
    is an InputError naming it)."""
    from recorder.pricing import builtin_prices, load_price_file

    prices = builtin_prices()
    return prices if pricing is None else prices.merged(load_price_file(pricing))


# -- replays ----------------------------------------------------------------------------------


def _headers(
    ctx: click.Context, param: click.Parameter, values: Sequence[str]
) -> list[tuple[str, str]]:
    from recorder.replay import parse_header

    try:
        return [parse_header(value) for value in values]
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


def header_option(what: str) -> Callable[[F], F]:
    """`--header "NAME: VALUE"` (repeatable) for the connections a command dials."""
    return click.option(
        "--header",
        "headers",
        multiple=True,
        metavar='"NAME: VALUE"',
        callback=_headers,
        help=f"Send this header {what} (repeatable); replaces a recorded one of the same name. "
        "Without credentials here, OPENAI_API_KEY (AZURE_OPENAI_API_KEY for Azure) is used.",
    )


def timeout_option(what: str = "") -> Callable[[F], F]:
    """`--timeout SECONDS` for the handshake and each awaited server event of a replay."""
    from recorder.replay import DEFAULT_TIMEOUT

    return click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=DEFAULT_TIMEOUT,
        show_default=True,
        help=f"Seconds to wait for the handshake and for each awaited server event{what}.",
    )


# -- output -----------------------------------------------------------------------------------


def format_option(choices: Sequence[str] = FORMATS, help: str | None = None) -> Callable[[F], F]:
    """`--format`, the same name, default and wording in every command (the value is `fmt`)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help=help or "table (plain text when not on a terminal), " + ", ".join(choices[1:]) + ".",
    )


def out_option(
    help: str,
    *,
    default: str | None = None,
    show_default: str | bool = True,
    metavar: str = "DIR",
    required: bool = False,
    file: bool = False,
    url: bool = False,
) -> Callable[[F], F]:
    """`--out` (short `-o`): where a command writes, spelled the same in every command.

    The value (`out`) is a Path, or the text as given when `url` allows an object store URL.
    `file` says it names one file rather than a directory.
    """
    kind: click.ParamType = click.STRING
    if not url:
        kind = click.Path(file_okay=file, dir_okay=not file, path_type=Path)
    return click.option(
        "--out",
        "-o",
        "out",
        type=kind,
        default=default,
        required=required,
        show_default=show_default if default is not None else False,
        metavar=metavar,
        help=help,
    )


wide_option = click.option(
    "--wide",
    is_flag=True,
    help="On a terminal, show every column of the table view, however wide (by default the "
    "columns that do not fit are left out, and named under the table).",
)
"""`--wide`: the table view keeps every column on a terminal too (`wide`)."""
