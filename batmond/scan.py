"""`batmond scan`: nearby BLE devices with the batmond type their advertisement suggests, as local adapters and
ESPHome proxies hear them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bumble import core
from bumble.device import Device
from bumble.transport import open_transport

from batmond.aio import FORCE_SUFFIX, installed_plugins
from batmond.config import ProxyConfig
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


def _services(data: core.AdvertisingData) -> set[str]:
    uuids: set[str] = set()
    for kind in (
        core.AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        core.AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        core.AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
        core.AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    ):
        for uuid in data.get_all(kind) or []:
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
            _record(seen, advertisement.address.to_string(False), advertisement.rssi, advertisement.data)

        device.on("advertisement", on_advertisement)
        await device.start_scanning(filter_duplicates=False)
        await asyncio.sleep(seconds)
        await device.stop_scanning()
    return sorted(seen.values(), key=lambda s: -(s.rssi or -999))


async def scan_proxy(proxy: ProxyConfig, seconds: float) -> list[Seen]:
    """What an ESPHome proxy hears in ``seconds`` (its raw advertisements), best RSSI first."""
    from batmond.transports.esphome import mac_of, open_session, proxy_label

    seen: dict[str, Seen] = {}

    async def on_stop(expected: bool) -> None:
        """The session ending early leaves a shorter list: what was heard until then."""

    client, _ = await open_session(proxy.host, proxy.port, proxy.encryption_key,
                                   proxy_label(proxy.name, proxy.host, proxy.port), on_stop)  # fmt: skip

    def on_advertisements(message) -> None:
        for advert in message.advertisements:
            try:
                data = core.AdvertisingData.from_bytes(bytes(advert.data))
            except Exception:  # a malformed advertisement from some other device
                continue
            _record(seen, mac_of(advert.address), advert.rssi, data)

    try:
        client.subscribe_bluetooth_le_raw_advertisements(on_advertisements)
        await asyncio.sleep(seconds)
    finally:
        await client.disconnect(force=True)
    return sorted(seen.values(), key=lambda s: -(s.rssi or -999))


def _record(seen: dict[str, Seen], address: str, rssi: int | None, data: core.AdvertisingData) -> None:
    entry = seen.setdefault(address, Seen(address))
    entry.rssi = rssi
    name = data.get(core.AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(core.AdvertisingData.SHORTENED_LOCAL_NAME)
    if name:
        entry.name = str(name)
    entry.services |= _services(data)
    for company, payload in data.get_all(core.AdvertisingData.MANUFACTURER_SPECIFIC_DATA) or []:
        entry.manufacturer[company] = bytes(payload)
    for kind in (core.AdvertisingData.SERVICE_DATA_16_BIT_UUID, core.AdvertisingData.SERVICE_DATA_128_BIT_UUID):
        for uuid, payload in data.get_all(kind) or []:
            entry.service_data[_full_uuid(uuid.to_hex_str("-").lower())] = bytes(payload)


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
