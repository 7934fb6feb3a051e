"""Simulated BMS: GATT peripherals on the virtual link that speak the real wire protocols.

Each module defines a :class:`SimulatedBms` subclass whose ``types`` lists the config types it answers for.
Adding a BMS means adding its simulator module here, nothing else.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import random
from abc import ABC, abstractmethod
from functools import cache
from typing import ClassVar

from bumble import data_types, hci
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from batmond.protocols.base import BleProfile
from batmond.sim.battery import Battery
from batmond.sim.link import SimController

log = logging.getLogger("batmond.sim")
ADVERTISING_INTERVAL_MS = 100


BLUETOOTH_BASE = "-0000-1000-8000-00805f9b34fb"  # the tail of every 16-bit UUID in its 128-bit form


class SimulatedBms(ABC):
    """A BMS on the virtual radio. Subclasses answer writes and build frames; faults are common to all.

    Fault hooks (callable from any thread through the simulator's loop): :meth:`drop_link`, ``silent``,
    ``chunk_size`` (split notifications), ``corrupt_next`` (bad checksums), ``junk`` (bytes put in front of
    the next notification), and ``merge`` (two frames in one notification).
    """

    types: ClassVar[tuple[str, ...]]
    profile: ClassVar[BleProfile]
    default_chunk: ClassVar[int | None] = None  # real firmware that always sends 20-byte pieces says 20
    pin: ClassVar[str | None] = None  # devices that only talk after LE pairing with this PIN

    def __init__(self, name: str, address: str, battery: Battery, variant: str | None = None) -> None:
        self.name = name
        self.address = address
        self.battery = battery
        self.variant = variant
        self.silent = False
        self.chunk_size: int | None = self.default_chunk
        self.corrupt_next = 0
        self.junk = b""
        self.merge = False
        self.writes: list[bytes] = []
        self.notifications = 0
        self.connection: Connection | None = None
        self.controller: SimController | None = None
        self.device: Device | None = None
        self._held: bytes = b""
        self._tasks: set[asyncio.Task] = set()

    async def start(self, link: LocalLink) -> None:
        self.controller = SimController(self.name, link=link, public_address=self.address)
        self.device = Device(
            name=self.name,
            # bumble's virtual link routes LE data by random address, so simulated BMS advertise with a
            # random address that has the configured MAC's value; the daemon learns the type by scanning.
            address=hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS),
            host=Host(self.controller, AsyncPipeSink(self.controller)),
        )
        for service in self.services():
            self.device.add_service(service)
        self.device.on("connection", self._on_connection)
        await self.device.power_on()
        self.device.advertising_data = bytes(AdvertisingData(self.advertisement()))
        await self.device.start_advertising(
            own_address_type=hci.OwnAddressType.RANDOM,
            auto_restart=True,
            advertising_interval_min=ADVERTISING_INTERVAL_MS,
            advertising_interval_max=ADVERTISING_INTERVAL_MS,
        )

    def services(self) -> list[Service]:
        """The GATT service of the profile: a notify and a write characteristic (or one for both)."""
        assert self.profile.notify is not None and self.profile.write is not None
        writable = Characteristic.Properties.WRITE | Characteristic.Properties.WRITE_WITHOUT_RESPONSE
        value = CharacteristicValue(read=lambda connection: b"", write=self._on_write)
        if self.profile.notify == self.profile.write:  # JK: one characteristic both ways
            self.write_char = self.notify_char = Characteristic(
                UUID(self.profile.notify), Characteristic.Properties.NOTIFY | writable,
                Characteristic.READABLE | Characteristic.WRITEABLE, value,
            )  # fmt: skip
            chars = [self.notify_char]
        else:
            self.notify_char = Characteristic(
                UUID(self.profile.notify), Characteristic.Properties.NOTIFY, Characteristic.READABLE, b""
            )
            self.write_char = Characteristic(UUID(self.profile.write), writable, Characteristic.WRITEABLE, value)
            chars = [self.notify_char, self.write_char]
        return [Service(UUID(self.profile.service), chars)]

    def advertisement(self) -> list:
        """What the BMS advertises: its name and, like most BMS, its 16-bit service UUID."""
        fields = [data_types.Flags(6), data_types.CompleteLocalName(self.name)]
        service = UUID(self.profile.service)
        text = self.profile.service.lower()
        if text.startswith("0000") and text.endswith(BLUETOOTH_BASE):  # a 16-bit UUID written out in full
            service = UUID.from_16_bits(int(text[4:8], 16))
        if len(service.uuid_bytes) == 2:
            fields.append(data_types.CompleteListOf16BitServiceUUIDs([service]))
        return fields

    def _on_connection(self, connection: Connection) -> None:
        self.connection = connection
        self.on_connect()
        connection.on("disconnection", lambda reason: self._on_disconnection(connection))

    def _on_disconnection(self, connection: Connection) -> None:
        if self.connection is connection:
            self.connection = None
            self.on_disconnect()

    def _on_write(self, connection: Connection, value: bytes) -> None:
        data = bytes(value)
        self.writes.append(data)
        del self.writes[:-100]
        self.battery.advance()
        for frame in self.answer(data):
            self.send(frame)

    def on_connect(self) -> None:  # noqa: B027 - streaming devices start here
        pass

    def on_disconnect(self) -> None:  # noqa: B027
        pass

    @abstractmethod
    def answer(self, request: bytes) -> list[bytes]:
        """Frames to send back for a written request (empty for unknown requests, like real firmware)."""

    def spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def send(self, frame: bytes) -> None:
        """Notify a frame the way the firmware does: split to the MTU or chunk size, faults applied."""
        if self.silent or self.connection is None or self.device is None:
            return
        if self.corrupt_next > 0:
            self.corrupt_next -= 1
            position = random.randrange(4, len(frame))
            frame = frame[:position] + bytes([frame[position] ^ 0x5A]) + frame[position + 1 :]
        if self.merge and not self._held:
            self._held = frame  # sent together with the next one
            return
        data, self._held = self._held + frame, b""
        data, self.junk = self.junk + data, b""
        size = self.connection.att_mtu - 3
        if self.chunk_size:
            size = min(size, self.chunk_size)
        for start in range(0, len(data), size):
            self.notifications += 1
            self.spawn(self.device.notify_subscriber(self.connection, self.notify_char, data[start : start + size]))

    def drop_link(self, reason: int = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR) -> bool:
        """The link ends without a goodbye (out of range, supervision timeout). False if not connected."""
        if self.controller is None or not self.controller.le_connections:
            return False
        self.controller.drop_all(reason)
        return True

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.device is not None:
            try:
                await self.device.stop_advertising()
            except Exception as exc:
                log.debug("stop advertising: %s", exc)
        if self.controller is not None:
            self.controller.drop_all()
            self.controller.link.remove_controller(self.controller)


@cache
def simulator_types() -> dict[str, type[SimulatedBms]]:
    found: dict[str, type[SimulatedBms]] = {}
    for module in pkgutil.iter_modules(__path__):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        for value in vars(loaded).values():
            if isinstance(value, type) and issubclass(value, SimulatedBms) and value.__module__ == loaded.__name__:
                for type_name in value.types:
                    found[type_name] = value
    return found
