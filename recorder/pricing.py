"""Prices of the Realtime, transcription, translation and Live models (USD), and how a model name
finds its entry (docs/pricing.md is the user's guide; `rt prices` shows the table in use).

The built-in table lives in `pricing.json` beside this module, with the date it was compiled
and, per entry, the date and source of its prices. A price file given by the user
(`--pricing FILE`: JSON, or TOML where `tomllib`/`tomli` can be imported) has the same shape;
its entries replace built-in entries of the same name and add new ones:

    {"as_of": "2026-12-01",
     "models": {
       "gpt-realtime-2": {"text":  {"input": 4.0,  "cached": 0.4, "output": 24.0},
                          "audio": {"input": 32.0, "cached": 0.4, "output": 64.0},
                          "image": {"input": 5.0,  "cached": 0.5}},
       "gpt-4o-transcribe": {"text": {"input": 2.5, "output": 10.0}, "audio": {"input": 6.0}},
       "gpt-realtime-whisper": {"per_minute": 0.017},
       "my-azure-deployment": "gpt-realtime-2"}}

An entry is token-priced (USD per 1M tokens: `text` and `audio` tables, and `image` for image
input), priced per minute of audio (`per_minute`), or both. In a token table `input` is
required; `cached` defaults to `input` (no cache discount) and a missing `output` leaves output
tokens of that modality unpriced (the cost of a response that has any is unknown). Optional
fields say where a price comes from and whether the model still runs: `kind` (`realtime`,
`transcription`, `translation`, `live`, or `responses`: a text model a GPT-Live session
delegates to, which needs only `text`), `as_of`, `source`, `retired` (the date it was shut
down: old recordings stay priced), `shutdown` (an announced date), `note`. A string entry is an
alias (an Azure deployment name, say) for another entry.

A model matches the entry of its exact name, else the longest entry of which it is a dated
snapshot (the entry's name followed by `-YYYY-MM-DD`): `gpt-realtime-mini-2025-12-15` takes the
`gpt-realtime-mini` prices, but `gpt-realtime-2.1` never falls back to `gpt-realtime` (nor
`gpt-realtime-2025-08-28` to `gpt-realtime-2`), and a model with no entry has no price.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from recorder.errors import InputError

MODALITIES = ("text", "audio", "image")
KINDS = ("input", "cached", "output")
MODEL_KINDS = ("realtime", "transcription", "translation", "live", "responses")
_TEXT_FIELDS = ("kind", "as_of", "source", "retired", "shutdown", "note")
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}")  # a dated snapshot's suffix


@dataclass(frozen=True)
class ModalityPrices:
    """USD per 1M tokens of one modality; None where that kind of token is not priced."""

    input: float
    cached: float
    output: float | None = None


@dataclass(frozen=True)
class ModelPrices:
    """One entry of the table: token prices, a price per minute of audio, or both."""

    text: ModalityPrices | None = None
    audio: ModalityPrices | None = None
    image: ModalityPrices | None = None  # image input; None: not priced
    per_minute: float | None = None  # USD per minute of audio (transcription, translation, Live)
    kind: str | None = None  # realtime | transcription | translation | live | responses
    as_of: str | None = None  # when these prices were read
    source: str | None = None
    retired: str | None = None  # shut down on this date (still priced for old recordings)
    shutdown: str | None = None  # an announced shutdown date
    note: str | None = None


@dataclass(frozen=True)
class PriceTable:
    """Model name -> prices; `aliases` map other names onto those entries."""

    models: Mapping[str, ModelPrices]
    aliases: Mapping[str, str] = field(default_factory=dict)
    as_of: str | None = None
    source: str = "built-in"
    sources: Mapping[str, str] = field(default_factory=dict)  # entry -> the file it came from

    def lookup(self, model: str) -> tuple[str, ModelPrices] | None:
        """The entry name and prices for `model`, or None when no entry matches."""
        name = model.strip().lower()
        for _ in range(8):  # aliases may chain; a loop in a user file must not hang us
            target = self.aliases.get(name)
            if target is None:
                break
            name = target
        best = matching_entry(name, self.models)
        return None if best is None else (best, self.models[best])

    def prices(self, model: str | None) -> ModelPrices | None:
        """The prices for `model` (None for no model or no entry)."""
        found = None if model is None else self.lookup(model)
        return None if found is None else found[1]

    def merged(self, override: PriceTable) -> PriceTable:
        """This table with `override`'s entries replacing or adding to ours."""
        models = {k: v for k, v in self.models.items() if k not in override.aliases}
        models.update(override.models)
        aliases = {k: v for k, v in self.aliases.items() if k not in override.models}
        aliases.update(override.aliases)
        sources = {k: self.sources.get(k, self.source) for k in (*models, *aliases)}
        sources.update({k: override.source for k in (*override.models, *override.aliases)})
        return PriceTable(models, aliases, override.as_of or self.as_of, override.source, sources)

    def origin(self, name: str) -> str:
        """Where entry `name` came from: `built-in` or the price file that set it."""
        return self.sources.get(name, self.source)


def matching_entry(name: str, entries: Mapping[str, Any]) -> str | None:
    """`name` itself when it is an entry, else the longest entry it is a dated snapshot of."""
    if name in entries:
        return name
    best: str | None = None
    for key in entries:
        if (
            name.startswith(key)
            and _SNAPSHOT.fullmatch(name, len(key)) is not None
            and (best is None or len(key) > len(best))
        ):
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
        models[key] = _entry(entry, f"{source}: models.{name}")
    as_of = data.get("as_of")
    return PriceTable(models, aliases, None if as_of is None else str(as_of), source)


def _entry(entry: Mapping[str, Any], where: str) -> ModelPrices:
    per_minute = entry.get("per_minute")
    if per_minute is not None:
        per_minute = _price(per_minute, f"{where}.per_minute")
    tokens = {m: _modality(entry[m], f"{where}.{m}") for m in MODALITIES if m in entry}
    if per_minute is None:
        # a token-priced entry prices both, but for a text model (a GPT-Live delegation's)
        needed = ("text",) if entry.get("kind") == "responses" else ("text", "audio")
        for modality in needed:
            if modality not in tokens:
                raise InputError(
                    f"{where}.{modality}: missing table of input/cached/output prices "
                    "(or give the model a per_minute price)"
                )
    texts = {}
    for name in _TEXT_FIELDS:
        value = entry.get(name)
        if value is not None and not isinstance(value, (str, int, float)):
            raise InputError(f"{where}.{name}: expected text, got {value!r}")
        texts[name] = None if value is None else str(value)
    kind = texts["kind"]
    if kind is not None and kind not in MODEL_KINDS:
        raise InputError(f"{where}.kind: expected one of {', '.join(MODEL_KINDS)}, got {kind!r}")
    return ModelPrices(
        text=tokens.get("text"),
        audio=tokens.get("audio"),
        image=tokens.get("image"),
        per_minute=per_minute,
        **texts,
    )


def _modality(prices: object, where: str) -> ModalityPrices:
    if not isinstance(prices, Mapping):
        raise InputError(f"{where}: expected a table of input/cached/output prices")
    unknown = sorted(str(k) for k in prices if k not in KINDS)
    if unknown:
        raise InputError(f"{where}.{unknown[0]}: not a price (expected input, cached, output)")
    if "input" not in prices:
        raise InputError(f"{where}.input: missing (the price of 1M input tokens)")
    value = _price(prices["input"], f"{where}.input")
    cached = _price(prices["cached"], f"{where}.cached") if "cached" in prices else value
    output = _price(prices["output"], f"{where}.output") if "output" in prices else None
    return ModalityPrices(value, cached, output)


def _price(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise InputError(f"{where}: expected a price >= 0, got {value!r}")
    if value == float("inf"):
        raise InputError(f"{where}: expected a price >= 0, got {value!r}")
    return float(value)


def table_data(table: PriceTable) -> dict[str, Any]:
    """`table` in the shape of a price file (what `--pricing FILE` reads back unchanged)."""
    models: dict[str, Any] = {}
    for name, prices in table.models.items():
        entry: dict[str, Any] = {}
        if prices.kind is not None:
            entry["kind"] = prices.kind
        for modality in MODALITIES:
            found: ModalityPrices | None = getattr(prices, modality)
            if found is not None:
                entry[modality] = {"input": found.input, "cached": found.cached}
                if found.output is not None:
                    entry[modality]["output"] = found.output
        if prices.per_minute is not None:
            entry["per_minute"] = prices.per_minute
        for name_ in _TEXT_FIELDS[1:]:
            value = getattr(prices, name_)
            if value is not None:
                entry[name_] = value
        models[name] = entry
    models.update(table.aliases)
    data: dict[str, Any] = {"as_of": table.as_of} if table.as_of is not None else {}
    data["models"] = models
    return data
