"""Simulated BMS of the brands batmond reads through aiobmsble (batmond/aio): peripherals that replay recordings.

batmond does not speak these protocols itself, so this simulator does not encode them either: each request it
knows is answered with the frames a real BMS sent (aiobmsble's published test data, in tests/captures/aiobmsble.py),
on the device's GATT layout, and streaming devices stream. Kept out of :func:`batmond.sim.devices.simulator_types`:
these types exist only where the extra is installed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from bumble import data_types
from bumble.core import UUID
from bumble.device import Connection
from bumble.gatt import Characteristic, CharacteristicValue, Service

from batmond.protocols.base import BleProfile
from batmond.sim.battery import Battery
from batmond.sim.devices import SimulatedBms

STREAM_PERIOD = 0.5  # s between two rounds of a streaming device's frames
PROPERTIES = {
    "read": Characteristic.Properties.READ,
    "write": Characteristic.Properties.WRITE,
    "write-without-response": Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
    "notify": Characteristic.Properties.NOTIFY,
}


@dataclass(frozen=True, slots=True)
class GattCharacteristic:
    uuid: str
    properties: tuple[str, ...]  # bleak's names, as aiobmsble's tests write them
    value: bytes = b""  # what a read returns


@dataclass(frozen=True, slots=True)
class GattService:
    uuid: str
    characteristics: tuple[GattCharacteristic, ...]


@dataclass(frozen=True, slots=True)
class Recording:
    """One BMS as recorded: GATT layout, the request → answer exchanges, what it streams and advertises."""

    type_name: str  # the batmond config type
    name: str  # advertised name
    services: tuple[GattService, ...]
    notify: tuple[str, str]  # (service, characteristic) that answers go out on
    answers: Mapping[bytes, tuple[bytes, ...]] = field(default_factory=dict)
    stream: tuple[bytes, ...] = ()  # frames sent round after round while subscribed, asked or not
    chunk: int = 20  # notification size of the device's firmware
    advertised_services: tuple[str, ...] = ()
    manufacturer_data: tuple[int, bytes] | None = None


class ReplayBms(SimulatedBms):
    """A :class:`SimulatedBms` whose frames come from a :class:`Recording`; the battery is not consulted."""

    types = ()
    profile = BleProfile(service="")  # unused: the recording has the layout

    def __init__(self, recording: Recording, address: str) -> None:
        super().__init__(recording.name, address, Battery())
        self.recording = recording
        self.chunk_size = recording.chunk

    def services(self) -> list[Service]:
        services = []
        for service in self.recording.services:
            characteristics = []
            for spec in service.characteristics:
                properties = Characteristic.Properties(0)
                for name in spec.properties:
                    properties |= PROPERTIES[name]
                permissions = Characteristic.Permissions(0)
                if "read" in spec.properties or "notify" in spec.properties:
                    permissions |= Characteristic.READABLE
                if "write" in spec.properties or "write-without-response" in spec.properties:
                    permissions |= Characteristic.WRITEABLE
                value = CharacteristicValue(read=lambda connection, v=spec.value: v, write=self._on_write)
                characteristic = Characteristic(UUID(spec.uuid), properties, permissions, value)
                if (service.uuid, spec.uuid) == self.recording.notify and "notify" in spec.properties:
                    self.notify_char = characteristic
                characteristics.append(characteristic)
            services.append(Service(UUID(service.uuid), characteristics))
        return services

    def advertisement(self) -> list:
        fields: list = [data_types.Flags(6), data_types.CompleteLocalName(self.name)]
        if self.recording.advertised_services:
            uuids = [UUID(uuid) for uuid in self.recording.advertised_services]
            fields.append(data_types.CompleteListOf16BitServiceUUIDs(uuids))
        if self.recording.manufacturer_data is not None:
            fields.append(data_types.ManufacturerSpecificData(*self.recording.manufacturer_data))
        return fields

    def answer(self, request: bytes) -> list[bytes]:
        return list(self.recording.answers.get(request, ()))

    def on_connect(self) -> None:
        if self.recording.stream:
            assert self.connection is not None
            self.spawn(self._stream(self.connection))

    async def _stream(self, connection: Connection) -> None:
        while self.connection is connection:
            for frame in self.recording.stream:
                self.send(frame)
            await asyncio.sleep(STREAM_PERIOD)
