"""BMS protocols. Each module in this package defines one or more :class:`Codec` classes; a codec's
``type_name`` is the ``type`` users write in the config. Adding a BMS means adding a module here."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from batmond.protocols.base import Codec


@cache
def codec_types() -> dict[str, type[Codec]]:
    """Every codec class in this package, by the config ``type`` that selects it."""
    found: dict[str, type[Codec]] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name == "base":
            continue
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        for value in vars(loaded).values():
            if isinstance(value, type) and issubclass(value, Codec) and value.__module__ == loaded.__name__:
                found[value.type_name] = value
    return dict(sorted(found.items()))


def base_type(type_name: str) -> str:
    """The codec part of a config type: ``snoop`` for ``snoop:jk,jbd`` (options follow the colon)."""
    return type_name.split(":", 1)[0]


def codec_for(type_name: str) -> type[Codec]:
    try:
        return codec_types()[base_type(type_name)]
    except KeyError:
        raise KeyError(f"unknown BMS type {type_name!r} (known: {', '.join(codec_types())})") from None
