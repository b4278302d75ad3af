"""The price table: longest-prefix matching, aliases, user files in JSON and TOML."""

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
        ("gpt-4o-mini-realtime-preview-2024-12-17", "gpt-4o-mini-realtime-preview"),
    ],
)
def test_builtin_table_matches_the_longest_prefix(model, entry):
    found = builtin_prices().lookup(model)
    assert found is not None and found[0] == entry


def test_builtin_table_has_its_date_and_launch_prices():
    table = builtin_prices()
    assert table.as_of == "2026-11-26"
    october = table.models["gpt-4o-realtime-preview-2024-10-01"]
    assert october.audio == ModalityPrices(100.0, 20.0, 200.0)
    assert table.lookup("gpt-realtimes") is None
    assert table.lookup("whisper-1") is None


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
