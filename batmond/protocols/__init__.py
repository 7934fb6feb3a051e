"""BMS protocols. Each module in this package defines one or more :class:`Codec` classes; a codec's
``type_name`` is the ``type`` users write in the config. Adding a BMS means adding a module here."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING

from batmond.protocols.base import Codec

if TYPE_CHECKING:
    from batmond.aio import AioType


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


def codec_for(type_name: str) -> type[Codec] | AioType:
    """The codec class of a config type; a BMS read through aiobmsble (batmond/aio) comes as its stand-in."""
    codec = codec_types().get(base_type(type_name))
    if codec is not None:
        return codec
    from batmond.aio import aio_type  # late: batmond.aio itself imports batmond.protocols.base

    found = aio_type(type_name)
    if found is None:
        raise KeyError(f"unknown BMS type {type_name!r} (known: {', '.join(codec_types())})")
    return found
