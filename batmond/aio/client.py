"""A bleak-compatible client over batmond's own BLE links, for aiobmsble's BMS classes.

aiobmsble builds its client as ``aiobmsble.basebms.BleakClient(device, ...)`` and connects it through
``bleak_retry_connector.establish_connection``; :func:`install` points both names at what is here, so nothing
reaches BlueZ or D-Bus: the connection is a radio's ``connect_gatt`` (a local adapter batmond owns through
bumble, or an ESPHome proxy), a :class:`~batmond.transports.base.GattLink`. The GATT table is presented with
bleak's own (pure Python) service and characteristic classes, so lookups by UUID or handle behave exactly as
aiobmsble expects, including the error for a UUID that two characteristics share.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import aiobmsble.basebms
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakCharacteristicNotFoundError, BleakError

from batmond.transports.base import GattLink, LinkError

if TYPE_CHECKING:
    from batmond.fleet import Port
    from batmond.transports.ble import BleAdapter

log = logging.getLogger("batmond.aio")
T = TypeVar("T")
Specifier = BleakGATTCharacteristic | int | str


@dataclass(slots=True)
class Target:
    """What a BMS's ``BLEDevice.details`` carries: where and how to connect, and the link once connected."""

    adapter: BleAdapter | Port  # a fleet's Port in the daemon; tests may hand a single adapter
    address: str  # as configured: a MAC or an advertised name
    description: str
    pin: str | None = None
    link: GattLink | None = field(default=None, repr=False)


def install() -> None:
    """Make aiobmsble's BMS classes use :class:`LinkClient` (idempotent)."""
    aiobmsble.basebms.BleakClient = LinkClient  # type: ignore[misc]
    aiobmsble.basebms.establish_connection = establish_connection  # type: ignore[assignment]
    aiobmsble.basebms.close_stale_connections = close_stale_connections  # type: ignore[assignment]


async def establish_connection(
    client_class: type[LinkClient], device: BLEDevice, name: str, disconnected_callback=None, **kwargs: Any
) -> LinkClient:
    """bleak_retry_connector's entry point: batmond's adapter does its own retries and resolving."""
    client = client_class(device, disconnected_callback=disconnected_callback, **kwargs)
    await client.connect()
    return client


async def close_stale_connections(device: BLEDevice, only_other_adapters: bool = False) -> None:
    """BlueZ housekeeping in bleak_retry_connector; batmond owns its radios, so there is nothing to close."""


# Bluetooth Core property bits, by the names bleak gives them
PROPERTY_NAMES = ((0x01, "broadcast"), (0x02, "read"), (0x04, "write-without-response"), (0x08, "write"),
                  (0x10, "notify"), (0x20, "indicate"), (0x40, "authenticated-signed-writes"),
                  (0x80, "extended-properties"))  # fmt: skip


def _properties(properties: int) -> list[str]:
    return [name for bit, name in PROPERTY_NAMES if properties & bit]


class LinkClient:
    """The part of ``bleak.BleakClient`` aiobmsble uses, on a :class:`GattLink` of one of batmond's radios."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice,
        disconnected_callback: Callable[[LinkClient], None] | None = None,
        services: Any = None,
        **kwargs: Any,
    ) -> None:
        self._device = address_or_ble_device
        self._target: Target = address_or_ble_device.details
        self._disconnected_callback = disconnected_callback
        self._link: GattLink | None = None
        self._services = BleakGATTServiceCollection()
        self._tasks: set[asyncio.Task] = set()  # async notification handlers (dometic, dpwrcore)

    @property
    def address(self) -> str:
        return self._device.address

    @property
    def is_connected(self) -> bool:
        return self._link is not None and self._link.alive

    @property
    def services(self) -> BleakGATTServiceCollection:
        return self._services

    async def connect(self, **kwargs: Any) -> None:
        target = self._target
        try:
            link = await target.adapter.connect_gatt(target.address, target.description, target.pin)
        except LinkError as exc:
            raise BleakError(str(exc)) from None
        self._link = target.link = link
        self._services = self._collect(link)
        watcher = asyncio.ensure_future(link.closed.wait())
        watcher.add_done_callback(lambda done: done.cancelled() or self._on_disconnection())
        self._tasks.add(watcher)
        watcher.add_done_callback(self._tasks.discard)

    def _on_disconnection(self) -> None:  # bleak calls it for every disconnection, its own ones too
        if self._disconnected_callback is not None:
            self._disconnected_callback(self)

    @staticmethod
    def _collect(link: GattLink) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for gatt_service in link.services:
            service = BleakGATTService(gatt_service, gatt_service.handle, gatt_service.uuid)
            collection.add_service(service)
            for char in gatt_service.characteristics:
                collection.add_characteristic(BleakGATTCharacteristic(
                    char, char.handle, char.uuid, _properties(char.properties), lambda: link.mtu - 3, service
                ))  # fmt: skip
        return collection

    def _resolve(self, specifier: Specifier) -> BleakGATTCharacteristic:
        if isinstance(specifier, BleakGATTCharacteristic):
            return specifier
        characteristic = self._services.get_characteristic(specifier)
        if characteristic is None:
            raise BleakCharacteristicNotFoundError(specifier)
        return characteristic

    async def _gatt(self, request: Callable[[GattLink], Awaitable[T]]) -> T:
        """One GATT request on the link, failing the way bleak does (BleakError) for aiobmsble's error handling."""
        link = self._link
        if link is None or not link.alive:
            raise BleakError(f"{self._target.description}: not connected")
        try:
            return await request(link)
        except LinkError as exc:
            raise BleakError(str(exc)) from None

    async def start_notify(
        self, char_specifier: Specifier, callback: Callable[[BleakGATTCharacteristic, bytearray], Any], **kwargs: Any
    ) -> None:
        characteristic = self._resolve(char_specifier)

        def deliver(value: bytes) -> None:
            try:
                result = callback(characteristic, bytearray(value))
            except Exception:  # a decoding bug in a plugin must not break the radio's notification delivery
                log.exception("%s: aiobmsble's notification handler failed", self._target.description)
                return
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        await self._gatt(lambda link: link.start_notify(characteristic.handle, deliver))

    async def stop_notify(self, char_specifier: Specifier) -> None:
        characteristic = self._resolve(char_specifier)
        await self._gatt(lambda link: link.stop_notify(characteristic.handle))

    async def write_gatt_char(self, char_specifier: Specifier, data: Any, response: bool | None = None) -> None:
        characteristic = self._resolve(char_specifier)
        if response is None:  # bleak's default: a write request where the characteristic allows one
            response = "write" in characteristic.properties
        await self._gatt(lambda link: link.write_handle(characteristic.handle, bytes(data), response))

    async def read_gatt_char(self, char_specifier: Specifier, **kwargs: Any) -> bytearray:
        characteristic = self._resolve(char_specifier)
        return bytearray(await self._gatt(lambda link: link.read_handle(characteristic.handle)))

    async def disconnect(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.close()
