"""The other BLE BMS brands: aiobmsble's BMS classes, run over batmond's own bumble connection.

aiobmsble (the optional ``aiobmsble`` extra, Python >= 3.12) drives its own GATT exchanges, so its BMS are not
codecs: :mod:`batmond.aio.client` gives it a bleak-compatible client over a bumble link and
:mod:`batmond.aio.driver` polls it in place of :class:`batmond.poller.Poller`. This module only knows the names:
it imports neither aiobmsble nor bleak, so config checks cost nothing and work without the extra.

A config ``type`` is an aiobmsble plugin name without its ``_bms`` suffix (``seplos``, ``cbtpwr``,
``renogy_pro``); ``<name>_ble`` selects aiobmsble for a name batmond also speaks natively (``jbd_ble``).
"""

from __future__ import annotations

import importlib.util
import pkgutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import ClassVar

from batmond.protocols.base import BleProfile

MIN_PYTHON = (3, 12)  # aiobmsble's requires-python
FORCE_SUFFIX = "_ble"
PLUGIN_SUFFIX = "_bms"
# The plugins of aiobmsble 0.31 (the version pyproject.toml pins), so that a config naming one of them says how to
# install the extra instead of "unknown type" when it is missing. When it is installed, its own list counts.
KNOWN_PLUGINS = frozenset({
    "abc", "ag", "allpowers", "ant", "ant_leg", "braunpwr", "buknuwo", "c4s", "cbtpwr", "cbtpwr_vb", "daly",
    "daren", "dometic", "dpwrcore", "ecoworthy", "eg4", "ej", "ejpro", "eleksol", "epoch_pro", "felicity", "gobel",
    "greenway", "humsienk", "jbd", "jikong", "lipower", "lithionics", "myvolta", "neey", "ogt", "pace", "pro",
    "pwrboozt", "pwrxtreme", "pylontech", "redodo", "renogy", "renogy_pro", "roypow", "saftkiste", "saihang",
    "seplos", "seplos_v2", "superb", "superb_v2", "tdt", "tianpwr", "topband", "vatrer", "ws_nova", "x123smart"
})  # fmt: skip
NOT_A_DEVICE = frozenset({"dummy"})  # aiobmsble's template plugin


class AioUnavailable(Exception):
    """The type is an aiobmsble BMS, but aiobmsble cannot be used here; the message says what to do."""


@dataclass(frozen=True, slots=True)
class AioType:
    """A config type read by ``aiobmsble.bms.<plugin>_bms``.

    Stands in for a codec class where config checks and the daemon ask one (Bluetooth, not wired, which switches
    it can write); aiobmsble decides everything else, including which characteristics to use.
    """

    type_name: str
    plugin: str
    # Never consulted for its fields: aiobmsble finds its own characteristics in the full GATT table.
    ble: ClassVar[BleProfile] = BleProfile(service="")
    serial: ClassVar[None] = None
    in_process: ClassVar[bool] = False
    writable_switches: ClassVar[frozenset[str]] = frozenset()  # aiobmsble has no write API

    @property
    def module(self) -> str:
        return f"aiobmsble.bms.{self.plugin}{PLUGIN_SUFFIX}"

    def options_problem(self, options: str) -> str:
        return f"{self.type_name!r} takes no options after ':'"


@cache
def installed_plugins() -> frozenset[str] | None:
    """The plugin names of the installed aiobmsble, found the way aiobmsble finds them, without importing them
    (that would import bleak); ``None`` when aiobmsble cannot be used here."""
    if sys.version_info < MIN_PYTHON:
        return None  # even if installed by hand, it would not import
    try:
        spec = importlib.util.find_spec("aiobmsble.bms")
    except ImportError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    names = (module.name for module in pkgutil.iter_modules(spec.submodule_search_locations))
    return frozenset(name.removesuffix(PLUGIN_SUFFIX) for name in names if name.endswith(PLUGIN_SUFFIX)) - NOT_A_DEVICE


def aio_type(type_name: str) -> AioType | None:
    """The aiobmsble BMS a config type names, or ``None`` if it names none.

    Asked only after batmond's own codecs, which therefore win for a name both have. Raises
    :class:`AioUnavailable` for an aiobmsble type when the extra is missing.
    """
    name = type_name.split(":", 1)[0]
    plugin = name.removesuffix(FORCE_SUFFIX)
    installed = installed_plugins()
    if plugin not in (KNOWN_PLUGINS if installed is None else installed):
        return None
    if installed is None:
        raise AioUnavailable(unavailable_reason(name))
    return AioType(name, plugin)


def unavailable_reason(type_name: str) -> str:
    if sys.version_info < MIN_PYTHON:
        return (
            f"{type_name!r} is read through aiobmsble (batmond's 'aiobmsble' extra), which needs Python >= 3.12; "
            f"this batmond runs on Python {sys.version_info.major}.{sys.version_info.minor} (Debian bookworm's "
            "package does): use the package for Debian trixie, the single-file binary, or pip on Python >= 3.12"
        )
    return f"{type_name!r} is read through aiobmsble, which is not installed: pip install 'batmond[aiobmsble]'"


def config_type(plugin: str, native: Iterable[str]) -> str:
    """What to write in the config for a plugin: its name, or ``<name>_ble`` where batmond has the name itself."""
    return plugin + FORCE_SUFFIX if plugin in set(native) else plugin
