"""Prices of the Realtime models, in USD per 1M tokens (text and audio x input, cached input, output).

The built-in table lives in `pricing.json` beside this module, with the date it was compiled.
A price file given by the user (JSON, or TOML where `tomllib`/`tomli` can be imported) has the
same shape; its entries replace built-in entries of the same name and add new ones:

    {"as_of": "2026-11-26",
     "models": {"gpt-realtime": {"text":  {"input": 4.0,  "cached": 0.4, "output": 16.0},
                                 "audio": {"input": 32.0, "cached": 0.4, "output": 64.0}},
                "my-azure-deployment": "gpt-realtime"}}

A string entry is an alias (an Azure deployment name, say) for another entry. A model billed by
time (GPT-Live) has a `per_minute` price (USD per minute), with or without token tables; a text
model that a GPT-Live session delegates to (`"kind": "responses"`) needs only `text`:

    "gpt-live-1": {"per_minute": 0.05},
    "gpt-5-mini": {"kind": "responses", "text": {"input": 0.25, "cached": 0.025, "output": 2.0}}

A model matches the entry with the longest name that is the model's name or a prefix of it ending before a "-",
so a dated snapshot `gpt-realtime-mini-2025-10-06` takes the `gpt-realtime-mini` prices while
`gpt-realtime-2025-08-28` does not take those of `gpt-realtime-2`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from recorder.errors import InputError

MODALITIES = ("text", "audio")
KINDS = ("input", "cached", "output")


@dataclass(frozen=True)
class ModalityPrices:
    """USD per 1M tokens of one modality."""

    input: float
    cached: float
    output: float


@dataclass(frozen=True)
class ModelPrices:
    text: ModalityPrices | None  # None: a model billed by time only
    audio: ModalityPrices | None
    image: ModalityPrices | None = None  # image input (output 0); None: not priced
    per_minute: float | None = None  # USD per minute of session time (GPT-Live)


@dataclass(frozen=True)
class PriceTable:
    """Model name (or name prefix) -> prices; `aliases` map other names onto those entries."""

    models: Mapping[str, ModelPrices]
    aliases: Mapping[str, str] = field(default_factory=dict)
    as_of: str | None = None
    source: str = "built-in"

    def lookup(self, model: str) -> tuple[str, ModelPrices] | None:
        """The entry name and prices for `model`, or None when no entry matches."""
        name = model.strip().lower()
        for _ in range(8):  # aliases may chain; a loop in a user file must not hang us
            target = self.aliases.get(name)
            if target is None:
                break
            name = target
        best = _longest_prefix(name, self.models)
        return None if best is None else (best, self.models[best])

    def merged(self, override: PriceTable) -> PriceTable:
        """This table with `override`'s entries replacing or adding to ours."""
        models = {k: v for k, v in self.models.items() if k not in override.aliases}
        models.update(override.models)
        aliases = {k: v for k, v in self.aliases.items() if k not in override.models}
        aliases.update(override.aliases)
        return PriceTable(models, aliases, override.as_of or self.as_of, override.source)


def _longest_prefix(name: str, entries: Mapping[str, Any]) -> str | None:
    best: str | None = None
    for key in entries:
        if (name == key or name.startswith(key + "-")) and (best is None or len(key) > len(best)):
            best = key
    return best


def builtin_prices() -> PriceTable:
    """The price table shipped with rt (see `as_of` for its date)."""
    text = resources.files("recorder").joinpath("pricing.json").read_text(encoding="utf-8")
    return parse_price_table(json.loads(text), "built-in")


def load_price_file(path: str | Path) -> PriceTable:
    """Read a user's price file (JSON, or TOML when Python can read TOML)."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read price file {file}: {exc.strerror or exc}") from None
    if file.suffix.lower() == ".toml":
        data = _parse_toml(raw, file)
    else:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            if file.suffix.lower() == ".json":
                raise InputError(f"{file}: not valid JSON ({exc})") from None
            data = _parse_toml(raw, file)
    if not isinstance(data, Mapping):
        raise InputError(f"{file}: a price file holds an object with a 'models' table")
    return parse_price_table(data, str(file))


def _parse_toml(raw: bytes, file: Path) -> Any:
    try:
        import tomllib as toml  # Python 3.11+
    except ModuleNotFoundError:
        try:
            import tomli as toml  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise InputError(
                f"{file}: TOML price files need Python 3.11 or the 'tomli' package; use JSON instead"
            ) from None
    try:
        return toml.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{file}: not valid TOML ({exc})") from None


def parse_price_table(data: Mapping[str, Any], source: str) -> PriceTable:
    """Check and convert the `{"as_of": …, "models": {…}}` shape; InputError names the bad field."""
    entries = data.get("models")
    if not isinstance(entries, Mapping) or not entries:
        raise InputError(f"{source}: price file has no 'models' table")
    models: dict[str, ModelPrices] = {}
    aliases: dict[str, str] = {}
    for name, entry in entries.items():
        key = str(name).strip().lower()
        if isinstance(entry, str):
            aliases[key] = entry.strip().lower()
            continue
        if not isinstance(entry, Mapping):
            raise InputError(f"{source}: models.{name}: expected a table of prices or a model name")
        where = f"{source}: models.{name}"
        image = _modality(entry, "image", where, ("input", "cached")) if "image" in entry else None
        per_minute = entry.get("per_minute")
        if per_minute is not None and (
            isinstance(per_minute, bool)
            or not isinstance(per_minute, (int, float))
            or per_minute < 0
        ):
            raise InputError(f"{where}.per_minute: expected a price >= 0, got {per_minute!r}")
        timed = per_minute is not None
        text_only = entry.get("kind") == "responses"  # a text model (a GPT-Live delegation's)
        models[key] = ModelPrices(
            text=_modality(entry, "text", where) if "text" in entry or not timed else None,
            audio=_modality(entry, "audio", where)
            if "audio" in entry or not (timed or text_only)
            else None,
            image=image,
            per_minute=None if per_minute is None else float(per_minute),
        )
    as_of = data.get("as_of")
    return PriceTable(models, aliases, None if as_of is None else str(as_of), source)


def _modality(
    entry: Mapping[str, Any], modality: str, where: str, kinds: tuple[str, ...] = KINDS
) -> ModalityPrices:
    prices = entry.get(modality)
    if not isinstance(prices, Mapping):
        raise InputError(f"{where}.{modality}: missing table of {'/'.join(kinds)} prices")
    values = []
    for kind in KINDS:
        value = prices.get(kind, 0.0 if kind not in kinds else None)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InputError(f"{where}.{modality}.{kind}: expected a price >= 0, got {value!r}")
        values.append(float(value))
    return ModalityPrices(*values)
