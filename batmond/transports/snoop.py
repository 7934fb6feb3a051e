"""`snoop`: connect to an unknown BMS and log everything needed to add support for it.

The whole GATT tree (services, characteristics with handles and properties, descriptors, readable values) is
logged once per connection, every characteristic that notifies or indicates is subscribed to, and every
notification is logged with the time since connecting and its bytes as hex. Writes (the probes of the listed
types) go to every writable characteristic except those of standard and firmware-update services.

An odd device must never stop the dump: whatever the device refuses (reads, descriptors, subscriptions,
writes) is logged and skipped. Only a lost or unanswering link ends the session, like for any BMS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

from bumble import core
from bumble.gatt import Characteristic
from bumble.gatt_client import CharacteristicProxy

from batmond.transports.base import LinkError
from batmond.transports.ble import REQUESTED_MTU, BleLink, gatt

log = logging.getLogger("batmond.snoop")
T = TypeVar("T")

NOTIFYING = Characteristic.Properties.NOTIFY | Characteristic.Properties.INDICATE
WRITABLE = Characteristic.Properties.WRITE | Characteristic.Properties.WRITE_WITHOUT_RESPONSE
# Services probes are never written to: writing junk to a firmware-update control point can brick a device.
FIRMWARE_UPDATE_SERVICES = {
    core.UUID.from_16_bits(0xFE59),  # Nordic secure DFU
    core.UUID("00001530-1212-efde-1523-785feabcd123"),  # Nordic legacy DFU
    core.UUID("f000ffc0-0451-4000-b000-000000000000"),  # TI OAD
    core.UUID("00010203-0405-0607-0809-0a0b0c0d1912"),  # Telink OTA (seen next to JBD's FF00)
    core.UUID("1d14d6ee-fd63-4fa1-bfa4-8f47b42119f0"),  # Silicon Labs OTA
    core.UUID.from_16_bits(0xFEF5),  # Dialog SUOTA
}


def uuid_text(uuid: core.UUID) -> str:
    name = getattr(uuid, "name", None)
    return f"{uuid.to_hex_str('-').lower()} ({name})" if name else uuid.to_hex_str("-").lower()


def value_text(value: bytes) -> str:
    """Hex, plus the text when the bytes are printable (names, versions, serial numbers)."""
    shown = value.hex(" ") if value else "(empty)"
    text = value.rstrip(b"\x00")
    if len(text) >= 3 and all(32 <= b < 127 for b in text):
        shown += f"  {text.decode('ascii')!r}"
    return shown


def refusal_text(error: core.ProtocolError) -> str:
    """One line: bumble's ATT errors print the whole error PDU, over several coloured lines."""
    if error.error_code is None:
        return error.error_name or type(error).__name__
    return f"{error.error_name or 'error'} 0x{error.error_code:02x}"


def probe_target(service_uuid: core.UUID) -> bool:
    """Probes go to vendor services only: not the Bluetooth SIG's (GAP, GATT, Device Information, …)."""
    if service_uuid in FIRMWARE_UPDATE_SERVICES:
        return False
    short = service_uuid.uuid_bytes
    return not (len(short) == 2 and 0x1800 <= int.from_bytes(short, "little") < 0x1900)


class SnoopLink(BleLink):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.started = time.monotonic()
        self.writable: list[CharacteristicProxy] = []
        self._characteristics: list[CharacteristicProxy] = []

    def say(self, text: str) -> None:
        log.info("%s: %s", self.description, text)

    def stamp(self) -> str:
        return f"+{time.monotonic() - self.started:.3f} s"

    async def attempt(self, request: Awaitable[T]) -> tuple[T | None, str | None]:
        """One GATT request the device may refuse: (result, None) or (None, why); a dead link still raises."""

        async def lenient() -> tuple[T | None, str | None]:
            try:
                return await request, None
            except core.ProtocolError as exc:
                return None, refusal_text(exc)

        return await gatt(self, lenient())

    async def tolerate(self, what: str, request: Awaitable[T]) -> T | None:
        result, refusal = await self.attempt(request)
        if refusal is not None:
            self.say(f"    {what}: refused ({refusal})")
        return result

    async def explore(self) -> None:
        self.started = time.monotonic()
        mtu = await gatt(self, self.peer.request_mtu(REQUESTED_MTU))
        services = await gatt(self, self.peer.discover_services())
        self.say(f"GATT tree ({len(services)} services, MTU {mtu}):")
        for service in services:
            self.say(f"service {service.handle:#06x}..{service.end_group_handle:#06x} {uuid_text(service.uuid)}")
            characteristics = await self.tolerate("characteristics", service.discover_characteristics()) or []
            for characteristic in characteristics:
                await self._describe(characteristic, probe_target(service.uuid))
        for characteristic in self.notifying:
            await self.tolerate(f"subscribe {characteristic.handle:#06x}", self._subscribe(characteristic))
        self.say(f"subscribed to {len(self.notifying)}, probes go to {len(self.writable)} characteristic(s); "
                 "notifications follow")  # fmt: skip

    @property
    def notifying(self) -> list[CharacteristicProxy]:
        return [c for c in self._characteristics if c.properties & NOTIFYING]

    async def _describe(self, characteristic: CharacteristicProxy, probe: bool) -> None:
        self._characteristics.append(characteristic)
        properties = characteristic.properties
        line = f"  characteristic {characteristic.handle:#06x} {uuid_text(characteristic.uuid)} [{properties!s}]"
        if properties & WRITABLE:
            if probe:
                self.writable.append(characteristic)
            else:
                line += " (not probed)"
        if properties & Characteristic.Properties.READ:
            line += await self._read(characteristic)
        self.say(line)
        descriptors = await self.tolerate("descriptors", characteristic.discover_descriptors()) or []
        for descriptor in descriptors:
            shown = await self._read(descriptor)
            self.say(f"    descriptor {descriptor.handle:#06x} {uuid_text(descriptor.type)}{shown}")

    async def _read(self, attribute) -> str:
        value, refusal = await self.attempt(attribute.read_value())
        return f" = {value_text(bytes(value))}" if refusal is None else f" (read refused: {refusal})"

    async def _subscribe(self, characteristic: CharacteristicProxy) -> None:
        def on_value(value: bytes) -> None:
            data = bytes(value)
            self.say(f"{self.stamp()} notify {characteristic.handle:#06x} {uuid_text(characteristic.uuid)} "
                     f"({len(data)} bytes): {data.hex(' ')}")  # fmt: skip
            self.on_data(data)

        await characteristic.subscribe(on_value)

    async def write(self, data: bytes) -> None:
        if not self.alive:
            raise LinkError(f"{self.description}: not connected ({self.close_reason})")
        if not self.writable:
            self.say(f"{self.stamp()} nothing writable to probe with {data.hex(' ')}")
        for characteristic in self.writable:
            with_response = not characteristic.properties & Characteristic.Properties.WRITE_WITHOUT_RESPONSE
            self.say(f"{self.stamp()} write {characteristic.handle:#06x} {uuid_text(characteristic.uuid)} "
                     f"({len(data)} bytes): {data.hex(' ')}")  # fmt: skip
            await self.tolerate("write", characteristic.write_value(data, with_response=with_response))
