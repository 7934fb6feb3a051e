"""`batmond scan`: nearby BLE devices with the batmond type their advertisement suggests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bumble import core
from bumble.device import Device
from bumble.transport import open_transport

from batmond.aio import FORCE_SUFFIX, installed_plugins
from batmond.protocols import codec_types
from batmond.transports.ble import POWER_ON_TIMEOUT, AdapterUnavailable, own_address


@dataclass(slots=True)
class Seen:
    address: str
    name: str = ""
    rssi: int | None = None
    services: set[str] = field(default_factory=set)
    manufacturer: dict[int, bytes] = field(default_factory=dict)  # company id -> data
    service_data: dict[str, bytes] = field(default_factory=dict)  # full UUID -> data

    @property
    def suggested_types(self) -> list[str]:
        found = []
        for type_name, codec in codec_types().items():
            profile = codec.ble
            if profile is None:
                continue
            by_service = profile.service.lower() in self.services
            by_name = any(self.name.startswith(prefix) for prefix in profile.name_prefixes)
            if by_service or by_name:
                found.append(type_name)
        if installed_plugins() is not None:  # the aiobmsble extra: its matchers know the other brands
            from batmond.aio.scan import suggest

            more = suggest(self.address, self.name, self.services, self.manufacturer, self.service_data, codec_types())
            found += [t for t in more if t.removesuffix(FORCE_SUFFIX) not in found]  # batmond's own type first
        return found


def _services(advertisement) -> set[str]:
    uuids: set[str] = set()
    for kind in (
        core.AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        core.AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        core.AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
        core.AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    ):
        for uuid in advertisement.data.get_all(kind) or []:
            for one in uuid if isinstance(uuid, list) else [uuid]:
                uuids.add(one.to_hex_str("-").lower() if hasattr(one, "to_hex_str") else str(one).lower())
    return {_full_uuid(u) for u in uuids}


def _full_uuid(uuid: str) -> str:
    short = uuid.replace("-", "")
    if len(short) == 4:
        return f"0000{short}-0000-1000-8000-00805f9b34fb"
    return uuid


async def scan(transport: str, seconds: float, adapter: str = "") -> list[Seen]:
    """What one adapter hears in ``seconds``, best RSSI first; ``adapter`` names it (its own address)."""
    seen: dict[str, Seen] = {}
    async with await open_transport(transport) as (source, sink):
        device = Device.with_hci("batmond-scan", own_address(adapter), source, sink)
        try:
            await asyncio.wait_for(device.power_on(), POWER_ON_TIMEOUT)
        except TimeoutError:
            raise AdapterUnavailable(f"controller did not answer HCI reset within {POWER_ON_TIMEOUT:g} s") from None

        def on_advertisement(advertisement) -> None:
            address = advertisement.address.to_string(False)
            entry = seen.setdefault(address, Seen(address))
            entry.rssi = advertisement.rssi
            name = advertisement.data.get(core.AdvertisingData.COMPLETE_LOCAL_NAME) or advertisement.data.get(
                core.AdvertisingData.SHORTENED_LOCAL_NAME
            )
            if name:
                entry.name = str(name)
            entry.services |= _services(advertisement)
            for company, data in advertisement.data.get_all(core.AdvertisingData.MANUFACTURER_SPECIFIC_DATA) or []:
                entry.manufacturer[company] = bytes(data)
            for kind in (core.AdvertisingData.SERVICE_DATA_16_BIT_UUID, core.AdvertisingData.SERVICE_DATA_128_BIT_UUID):
                for uuid, data in advertisement.data.get_all(kind) or []:
                    entry.service_data[_full_uuid(uuid.to_hex_str("-").lower())] = bytes(data)

        device.on("advertisement", on_advertisement)
        await device.start_scanning(filter_duplicates=False)
        await asyncio.sleep(seconds)
        await device.stop_scanning()
    return sorted(seen.values(), key=lambda s: -(s.rssi or -999))


def format_table(found: list[Seen], adapter: str | None = None) -> str:
    """One row per device; with ``adapter``, a first column names the adapter that heard it (one table each)."""
    first = f"{'adapter':<12} " if adapter is not None else ""
    lines = [f"{first}{'address':<18} {'rssi':>5}  {'name':<24} suggested type"]
    for entry in found:
        rssi = "" if entry.rssi is None else str(entry.rssi)
        where = f"{adapter[:12]:<12} " if adapter is not None else ""
        types = ", ".join(entry.suggested_types) or "-"
        lines.append(f"{where}{entry.address:<18} {rssi:>5}  {entry.name[:24]:<24} {types}")
    return "\n".join(lines)
