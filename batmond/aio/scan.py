"""`batmond scan` for the BMS read through aiobmsble: its own advertisement matchers suggest the config type."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from aiobmsble.utils import bms_supported, load_bms_plugins
from bleak.backends.scanner import AdvertisementData

from batmond.aio import NOT_A_DEVICE, PLUGIN_SUFFIX, config_type


def suggest(
    address: str,
    name: str,
    services: Collection[str],
    manufacturer: Mapping[int, bytes],
    service_data: Mapping[str, bytes],
    native: Collection[str],
) -> list[str]:
    """The config types of every plugin whose matchers take this advertisement (UUIDs as full lower-case strings)."""
    advertisement = AdvertisementData(
        local_name=name or None, manufacturer_data=dict(manufacturer), service_data=dict(service_data),
        service_uuids=sorted(services), tx_power=None, rssi=-127, platform_data=(),
    )  # fmt: skip
    found = []
    for module in load_bms_plugins():
        plugin = module.__name__.rsplit(".", 1)[-1].removesuffix(PLUGIN_SUFFIX)
        if plugin not in NOT_A_DEVICE and bms_supported(module.BMS, advertisement, address):
            found.append(config_type(plugin, native))
    return sorted(found)
