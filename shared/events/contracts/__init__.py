"""Event contracts: one module per producing domain. `load_all()` imports every module here,
which registers its EventSpecs in `shared.events.CATALOG`."""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
