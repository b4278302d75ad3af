"""Options that several commands share, spelled and explained the same everywhere."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from recorder.errors import InputError
from recorder.replay import DEFAULT_TIMEOUT, parse_header

F = TypeVar("F", bound=Callable[..., Any])


def _headers(
    ctx: click.Context, param: click.Parameter, values: Sequence[str]
) -> list[tuple[str, str]]:
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
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=DEFAULT_TIMEOUT,
        show_default=True,
        help=f"Seconds to wait for the handshake and for each awaited server event{what}.",
    )
