"""`rt prices`: the price table rt stats, sql, ls, report and check use (built in, or merged
with `--pricing FILE`), and which entry a model name takes."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from recorder.pricing import MODEL_KINDS, ModalityPrices, ModelPrices, PriceTable, table_data

from .options import format_option, prices_with, pricing_option, wide_option
from .output import (
    Column,
    Table,
    make_console,
    print_tables,
    write_csv,
    write_json,
    write_markdown,
)

KIND_ORDER = {kind: n for n, kind in enumerate(MODEL_KINDS)}
TOKEN_KINDS = ("input", "cached", "output")


@click.command("prices")
@click.argument("models", nargs=-1, metavar="[MODEL]...")
@format_option(
    help="table (plain text when not on a terminal), json (a price file: what --pricing "
    "reads back), csv, markdown."
)
@wide_option
@pricing_option
def prices(models: tuple[str, ...], fmt: str, wide: bool, pricing: str | None) -> None:
    """Show the prices rt uses for cost_usd, and which entry a model takes.

    Token prices are USD per 1M tokens (input / cached input / output) of
    text, audio and image; transcription, translation and Live models are
    priced per minute of audio. Each entry has the date its prices were read
    and their source (in csv, markdown and json); retired models stay priced
    for old recordings and say when they were shut down. With --pricing FILE
    the file's entries replace or add to the built-in ones, as in rt stats.

    On a narrow terminal the table leaves out the image and status columns
    first (--wide keeps every column).

    MODEL names (as recorded: a dated snapshot, an Azure deployment alias)
    show the entry each one takes; the exit status is 1 when one has none.
    A model takes the entry of its exact name, or the entry it is a dated
    snapshot of (the entry's name then -YYYY-MM-DD); nothing else.

    The price file format (JSON, or TOML on Python 3.11+) is what --format
    json prints; docs/pricing.md describes every field.

    \b
    Example:
      $ rt prices
      $ rt prices gpt-realtime-2025-08-28 gpt-realtime-2.1
      …
       model                     entry              kind       text in/cached/out   audio in/cached/out   …
       ───…
       gpt-realtime-2025-08-28   gpt-realtime       realtime   4 / 0.4 / 16         32 / 0.4 / 64         …
       gpt-realtime-2.1          gpt-realtime-2.1   realtime   4 / 0.4 / 24         32 / 0.4 / 64         …
      …
      $ rt prices --format json > my-prices.json      # edit, then: rt stats --pricing my-prices.json
      $ rt prices --pricing azure-prices.toml my-realtime-deployment
    """
    table = prices_with(pricing)
    rows = _lookup_rows(table, models) if models else _rows(table)
    if fmt == "json":
        data = table_data(_only(table, rows) if models else table)
        if models:
            data["lookups"] = {row["model"]: row["entry"] for row in rows}
        write_json(data, sys.stdout, indent=2 if sys.stdout.isatty() else None)
    else:
        shown = _table(table, rows, by_name=bool(models), full=fmt != "table")
        if fmt == "csv":
            write_csv(shown, sys.stdout)
        elif fmt == "markdown":
            write_markdown([shown], sys.stdout)
        else:
            print_tables([shown], make_console(sys.stdout), wide=wide)
    missing = [row["model"] for row in rows if row["entry"] is None]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise click.ClickException(
            f"no price for {names}: add it with --pricing FILE (an entry, or an alias)"
        )


# -- rows ------------------------------------------------------------------------------------------


def _rows(table: PriceTable) -> list[dict[str, Any]]:
    """One row per entry (by kind, the retired ones last, then by name), then one per alias."""
    entries = sorted(
        table.models.items(),
        key=lambda item: (KIND_ORDER.get(item[1].kind or "", 9), bool(item[1].retired), item[0]),
    )
    rows = [_row(table, name, name, prices) for name, prices in entries]
    for alias, target in sorted(table.aliases.items()):
        found = table.lookup(alias)
        row = _row(table, alias, found[0] if found else None, found[1] if found else None)
        row["status"] = f"alias of {target}"
        row["origin"] = table.origin(alias)
        rows.append(row)
    return rows


def _lookup_rows(table: PriceTable, models: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for model in models:
        found = table.lookup(model)
        rows.append(_row(table, model, found[0] if found else None, found[1] if found else None))
    return rows


def _row(
    table: PriceTable, model: str, entry: str | None, prices: ModelPrices | None
) -> dict[str, Any]:
    row: dict[str, Any] = {"model": model, "entry": entry}
    prices = prices or ModelPrices()
    row["kind"] = prices.kind
    for modality in ("text", "audio", "image"):
        found: ModalityPrices | None = getattr(prices, modality)
        row[modality] = found
        for kind in TOKEN_KINDS:
            row[f"{modality}_{kind}"] = getattr(found, kind) if found is not None else None
    row["per_minute"] = prices.per_minute
    row["status"] = (
        f"retired {prices.retired}"
        if prices.retired
        else f"shutdown {prices.shutdown}"
        if prices.shutdown
        else ""
    )
    for name in ("retired", "shutdown", "as_of", "source", "note"):
        row[name] = getattr(prices, name)
    row["origin"] = table.origin(entry) if entry is not None else None
    return row


def _only(table: PriceTable, rows: Sequence[dict[str, Any]]) -> PriceTable:
    names = {row["entry"] for row in rows if row["entry"] is not None}
    return PriceTable({k: v for k, v in table.models.items() if k in names}, {}, table.as_of)


# -- the table ---------------------------------------------------------------------------------------


def _price_column(key: str, header: str = "") -> Column:
    return Column(key, header, justify="right")  # a price as written (0.017, 4.0)


def _prices_text(value: Any) -> str:
    if not isinstance(value, ModalityPrices):
        return ""
    parts = [value.input, value.cached] + ([value.output] if value.output is not None else [])
    return " / ".join(f"{part:g}" for part in parts)


def _table(table: PriceTable, rows: list[dict[str, Any]], *, by_name: bool, full: bool) -> Table:
    columns = [Column("model")]
    if by_name:
        columns.append(Column("entry"))
    columns.append(Column("kind"))
    if full:  # one machine column per price, as the price file names them
        columns += [
            _price_column(f"{modality}_{kind}")
            for modality in ("text", "audio", "image")
            for kind in TOKEN_KINDS
            if not (modality == "image" and kind == "output")
        ]
        columns.append(_price_column("per_minute"))
        columns += [Column(name) for name in ("retired", "shutdown", "as_of", "source", "note")]
        columns.append(Column("origin"))
    else:
        columns += [
            Column("text", "text in/cached/out", text=_prices_text),
            Column("audio", "audio in/cached/out", text=_prices_text),
            Column("image", "image in/cached", text=_prices_text, priority=2),
            _price_column("per_minute", "$/min"),
            Column("status", priority=1),
        ]
        if any(row["origin"] not in (None, "built-in") for row in rows):
            columns.append(Column("origin", "from", priority=3))
    caption = f"USD per 1M tokens, or per minute of audio; prices as of {table.as_of or '?'}" + (
        "" if full else " (every entry's own date and source: --format csv or json)"
    )
    return Table("Prices", columns, rows, caption=caption)
