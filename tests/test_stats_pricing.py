"""The price table: exact names and dated snapshots, aliases, per-minute models, retired models,
user files in JSON and TOML."""

from __future__ import annotations

import builtins
import json

import pytest

from recorder.errors import InputError
from recorder.pricing import ModalityPrices, builtin_prices, load_price_file, parse_price_table


@pytest.mark.parametrize(
    ("model", "entry"),
    [
        ("gpt-realtime", "gpt-realtime"),
        ("gpt-realtime-2025-08-28", "gpt-realtime"),  # not gpt-realtime-2: "2025" is not "2"
        ("gpt-realtime-2", "gpt-realtime-2"),
        ("gpt-realtime-mini-2025-12-15", "gpt-realtime-mini"),
        ("GPT-Realtime-Mini", "gpt-realtime-mini"),
        ("gpt-4o-realtime-preview-2024-10-01", "gpt-4o-realtime-preview-2024-10-01"),
        ("gpt-4o-realtime-preview-2024-12-17", "gpt-4o-realtime-preview"),
        ("gpt-4o-mini-realtime-preview-2024-12-17", "gpt-4o-mini-realtime-preview-2024-12-17"),
        ("gpt-4o-mini-realtime-preview-2025-01-01", "gpt-4o-mini-realtime-preview"),
        ("gpt-realtime-2.1", "gpt-realtime-2.1"),  # not gpt-realtime by a "-" prefix
        ("gpt-realtime-2.1-mini", "gpt-realtime-2.1-mini"),
        ("gpt-realtime-2.1-2026-12-01", "gpt-realtime-2.1"),
        ("gpt-4o-mini-transcribe-2025-12-15", "gpt-4o-mini-transcribe"),
        ("gpt-realtime-3", None),  # a new model has no price until it has an entry
        ("gpt-realtime-2-eu", None),  # a deployment name needs an alias
        ("gpt-realtimes", None),
    ],
)
def test_builtin_table_matches_names_and_dated_snapshots(model, entry):
    found = builtin_prices().lookup(model)
    assert (found[0] if found is not None else None) == entry


def test_builtin_table_has_its_date_and_launch_prices():
    table = builtin_prices()
    assert table.as_of == "2026-12-06"
    october = table.models["gpt-4o-realtime-preview-2024-10-01"]
    assert october.audio == ModalityPrices(100.0, 20.0, 200.0)
    assert october.retired is not None


# every model the addendum names (session model enum, transcription models, translation, Live)
CURRENT_MODELS = {
    "gpt-realtime": "realtime",
    "gpt-realtime-1.5": "realtime",
    "gpt-realtime-2": "realtime",
    "gpt-realtime-2.1": "realtime",
    "gpt-realtime-2.1-mini": "realtime",
    "gpt-realtime-2025-08-28": "realtime",
    "gpt-realtime-mini": "realtime",
    "gpt-realtime-mini-2025-10-06": "realtime",
    "gpt-realtime-mini-2025-12-15": "realtime",
    "gpt-4o-realtime-preview": "realtime",
    "gpt-4o-realtime-preview-2024-12-17": "realtime",
    "gpt-4o-realtime-preview-2025-06-03": "realtime",
    "gpt-4o-mini-realtime-preview": "realtime",
    "whisper-1": "transcription",
    "gpt-transcribe": "transcription",
    "gpt-live-transcribe": "transcription",
    "gpt-4o-mini-transcribe": "transcription",
    "gpt-4o-mini-transcribe-2025-12-15": "transcription",
    "gpt-4o-transcribe": "transcription",
    "gpt-4o-transcribe-diarize": "transcription",
    "gpt-realtime-whisper": "transcription",
    "gpt-realtime-translate": "translation",
    "gpt-live-1": "live",
    "gpt-live-1.1": "live",
}


@pytest.mark.parametrize(("model", "kind"), CURRENT_MODELS.items())
def test_every_current_model_is_priced_with_a_date_and_a_source(model, kind):
    found = builtin_prices().lookup(model)
    assert found is not None, model
    prices = found[1]
    assert prices.kind == kind
    assert prices.as_of and prices.source
    if kind == "realtime":
        assert prices.text is not None and prices.audio is not None
        assert prices.text.output is not None and prices.audio.output is not None
    else:
        assert prices.per_minute is not None or (prices.text and prices.audio)


def test_token_prices_of_the_2026_models():
    table = builtin_prices()
    two = table.models["gpt-realtime-2.1"]
    assert two.text == ModalityPrices(4.0, 0.4, 24.0)
    assert two.audio == ModalityPrices(32.0, 0.4, 64.0)
    assert two.image == ModalityPrices(5.0, 0.5, None)
    assert table.models["gpt-realtime-1.5"].text == ModalityPrices(4.0, 0.4, 16.0)
    assert table.models["gpt-realtime-2.1-mini"].image == ModalityPrices(0.8, 0.08, None)
    assert table.models["gpt-realtime-whisper"].per_minute == 0.017
    assert table.models["gpt-realtime-translate"].per_minute == 0.034
    assert table.models["gpt-4o-transcribe"].audio == ModalityPrices(6.0, 6.0, None)


def test_retired_models_stay_priced_and_are_marked():
    table = builtin_prices()
    for model in (
        "gpt-4o-realtime-preview",
        "gpt-4o-mini-realtime-preview",
        "gpt-realtime-mini-2025-10-06",
    ):
        prices = table.prices(model)
        assert prices is not None and prices.retired is not None and prices.text is not None
    assert table.prices("gpt-realtime-mini-2025-12-15").retired is None  # only its sibling is
    assert table.prices("gpt-realtime-2").retired is None


def test_user_file_replaces_and_adds_entries_and_aliases(tmp_path):
    path = tmp_path / "prices.json"
    cheap = {"input": 1.0, "cached": 0.1, "output": 2.0}
    path.write_text(
        json.dumps(
            {
                "as_of": "2027-01-01",
                "models": {
                    "gpt-realtime": {"text": cheap, "audio": cheap},
                    "prod-voice": "gpt-realtime-mini",
                },
            }
        )
    )
    table = builtin_prices().merged(load_price_file(path))
    assert table.as_of == "2027-01-01"
    assert table.models["gpt-realtime"].text == ModalityPrices(1.0, 0.1, 2.0)
    assert table.lookup("prod-voice") == ("gpt-realtime-mini", table.models["gpt-realtime-mini"])
    assert table.lookup("gpt-4o-realtime-preview") is not None  # the rest is kept
    assert table.origin("gpt-realtime") == str(path)
    assert table.origin("prod-voice") == str(path)
    assert table.origin("gpt-realtime-2") == "built-in"


def test_a_user_file_may_price_per_minute_and_leave_kinds_out(tmp_path):
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "models": {
                    "my-transcriber": {"per_minute": 0.01, "kind": "transcription"},
                    "my-asr": {"text": {"input": 1.0, "output": 2.0}, "audio": {"input": 3.0}},
                }
            }
        )
    )
    table = load_price_file(path)
    assert table.models["my-transcriber"].per_minute == 0.01
    assert table.models["my-transcriber"].text is None
    asr = table.models["my-asr"]
    assert asr.text == ModalityPrices(1.0, 1.0, 2.0)  # no cache discount unless given
    assert asr.audio == ModalityPrices(3.0, 3.0, None)  # output audio not priced


def test_toml_price_file(tmp_path):
    pytest.importorskip("tomllib")
    path = tmp_path / "azure.toml"
    path.write_text(
        'as_of = "2026-12-01"\n'
        '[models."my-deployment"]\n'
        "text = { input = 5.5, cached = 2.75, output = 22 }\n"
        "audio = { input = 44, cached = 2.75, output = 88 }\n"
    )
    table = load_price_file(path)
    assert table.lookup("my-deployment") == (
        "my-deployment",
        table.models["my-deployment"],
    )
    assert table.models["my-deployment"].audio == ModalityPrices(44.0, 2.75, 88.0)


def test_toml_without_a_toml_reader_is_a_clear_error(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_toml(name, *args, **kwargs):
        if name in ("tomllib", "tomli"):
            raise ModuleNotFoundError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_toml)
    path = tmp_path / "p.toml"
    path.write_text("[models]\n")
    with pytest.raises(
        InputError, match="TOML price files need Python 3.11 or the 'tomli' package"
    ):
        load_price_file(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "price file has no 'models' table"),
        ({"models": {"m": 5}}, "models.m: expected a table of prices or a model name"),
        (
            {"models": {"m": {"text": {"input": 1, "cached": 1, "output": 1}}}},
            "models.m.audio: missing",
        ),
        (
            {"models": {"m": {"text": {"input": -1, "cached": 1, "output": 1}, "audio": {}}}},
            "models.m.text.input: expected a price >= 0, got -1",
        ),
        (
            {"models": {"m": {"text": {"input": 1, "cahced": 1}, "audio": {"input": 1}}}},
            "models.m.text.cahced: not a price",
        ),
        (
            {"models": {"m": {"text": {"output": 1}, "audio": {"input": 1}}}},
            "models.m.text.input: missing",
        ),
        ({"models": {"m": {"per_minute": "free"}}}, "models.m.per_minute: expected a price >= 0"),
        ({"models": {"m": {"per_minute": 1, "kind": "tts"}}}, "models.m.kind: expected one of"),
    ],
)
def test_bad_price_tables_name_the_field(data, message):
    with pytest.raises(InputError, match=message):
        parse_price_table(data, "prices.json")


def test_unreadable_or_invalid_files(tmp_path):
    with pytest.raises(InputError, match="cannot read price file"):
        load_price_file(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        load_price_file(broken)
