"""The optional libraries telemetry needs (`pip install 'rt-recorder[telemetry]'`)."""

from __future__ import annotations

import importlib
from types import ModuleType

from recorder.errors import InputError

EXTRA = "rt-recorder[telemetry]"


class MissingExtra(InputError):
    """A telemetry option was used without the library it needs."""

    def __init__(self, module: str, option: str) -> None:
        self.module = module
        self.option = option
        super().__init__(f"{option} needs {module.split('.')[0]}: pip install '{EXTRA}'")


def require(module: str, option: str) -> ModuleType:
    """Import `module`, or raise MissingExtra naming the option that needs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(module, option) from None
