"""A bleak-compatible client over batmond's bumble link, for aiobmsble's BMS classes.

aiobmsble builds its client as ``aiobmsble.basebms.BleakClient(device, ...)`` and connects it through
``bleak_retry_connector.establish_connection``; :func:`install` points both names at what is here, so nothing
reaches BlueZ or D-Bus: the connection is :meth:`BleAdapter.connect_gatt`'s, on the adapter batmond owns. The
GATT table is presented with bleak's own (pure Python) service and characteristic classes, so lookups by UUID or
handle behave exactly as aiobmsble expects, including the error for a UUID that two characteristics share.
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
from bleak.uuids import normalize_uuid_str
from bumble.core import UUID
from bumble.device import Peer
from bumble.gatt import Characteristic

from batmond.transports.base import LinkError
from batmond.transports.ble import BleAdapter, BleLink, gatt

if TYPE_CHECKING:
    from batmond.fleet import Port

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
    link: BleLink | None = field(default=None, repr=False)


def install() -> None:
    """Make aiobmsble's BMS classes use :class:`BumbleClient` (idempotent)."""
    aiobmsble.basebms.BleakClient = BumbleClient  # type: ignore[misc]
    aiobmsble.basebms.establish_connection = establish_connection  # type: ignore[assignment]
    aiobmsble.basebms.close_stale_connections = close_stale_connections  # type: ignore[assignment]


async def establish_connection(
    client_class: type[BumbleClient], device: BLEDevice, name: str, disconnected_callback=None, **kwargs: Any
) -> BumbleClient:
    """bleak_retry_connector's entry point: batmond's adapter does its own retries and resolving."""
    client = client_class(device, disconnected_callback=disconnected_callback, **kwargs)
    await client.connect()
    return client


async def close_stale_connections(device: BLEDevice, only_other_adapters: bool = False) -> None:
    """BlueZ housekeeping in bleak_retry_connector; bumble owns the adapter, so there is nothing to close."""


def _uuid(uuid: UUID) -> str:
    return normalize_uuid_str(uuid.to_hex_str("-").lower())


def _properties(properties: int) -> list[str]:
    """bumble's property bits as bleak names them ("write-without-response", ...)."""
    return [flag.name.lower().replace("_", "-") for flag in Characteristic.Properties if properties & flag]


class BumbleClient:
    """The part of ``bleak.BleakClient`` aiobmsble uses, on a bumble connection made by :class:`BleAdapter`."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice,
        disconnected_callback: Callable[[BumbleClient], None] | None = None,
        services: Any = None,
        **kwargs: Any,
    ) -> None:
        self._device = address_or_ble_device
        self._target: Target = address_or_ble_device.details
        self._disconnected_callback = disconnected_callback
        self._link: BleLink | None = None
        self._services = BleakGATTServiceCollection()
        self._subscribers: dict[int, Callable[[bytes], None]] = {}  # characteristic handle -> bumble subscriber
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
        link.connection.on("disconnection", self._on_disconnection)

    def _on_disconnection(self, reason: int) -> None:
        if self._disconnected_callback is not None:
            self._disconnected_callback(self)

    def _collect(self, link: BleLink) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        mtu = link.connection.att_mtu
        for proxy in link.peer.services:
            service = BleakGATTService(proxy, proxy.handle, _uuid(proxy.uuid))
            collection.add_service(service)
            for char in proxy.characteristics:
                properties = _properties(char.properties)
                collection.add_characteristic(
                    BleakGATTCharacteristic(char, char.handle, _uuid(char.uuid), properties, lambda: mtu - 3, service)
                )
        return collection

    def _resolve(self, specifier: Specifier) -> BleakGATTCharacteristic:
        if isinstance(specifier, BleakGATTCharacteristic):
            return specifier
        characteristic = self._services.get_characteristic(specifier)
        if characteristic is None:
            raise BleakCharacteristicNotFoundError(specifier)
        return characteristic

    async def _gatt(self, request: Callable[[Peer], Awaitable[T]]) -> T:
        """One GATT request on the link, failing the way bleak does (BleakError) for aiobmsble's error handling."""
        link = self._link
        if link is None or not link.alive:
            raise BleakError(f"{self._target.description}: not connected")
        try:
            return await gatt(link, request(link.peer))
        except LinkError as exc:
            raise BleakError(str(exc)) from None

    async def start_notify(
        self, char_specifier: Specifier, callback: Callable[[BleakGATTCharacteristic, bytearray], Any], **kwargs: Any
    ) -> None:
        characteristic = self._resolve(char_specifier)

        def deliver(value: bytes) -> None:
            try:
                result = callback(characteristic, bytearray(value))
            except Exception:  # a decoding bug in a plugin must not break bumble's ATT processing
                log.exception("%s: aiobmsble's notification handler failed", self._target.description)
                return
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        await self._gatt(lambda peer: peer.subscribe(characteristic.obj, deliver))
        self._subscribers[characteristic.handle] = deliver

    async def stop_notify(self, char_specifier: Specifier) -> None:
        characteristic = self._resolve(char_specifier)
        subscriber = self._subscribers.pop(characteristic.handle, None)
        await self._gatt(lambda peer: peer.unsubscribe(characteristic.obj, subscriber))

    async def write_gatt_char(self, char_specifier: Specifier, data: Any, response: bool | None = None) -> None:
        characteristic = self._resolve(char_specifier)
        if response is None:  # bleak's default: a write request where the characteristic allows one
            response = "write" in characteristic.properties
        await self._gatt(lambda peer: peer.write_value(characteristic.obj, bytes(data), with_response=response))

    async def read_gatt_char(self, char_specifier: Specifier, **kwargs: Any) -> bytearray:
        characteristic = self._resolve(char_specifier)
        return bytearray(await self._gatt(lambda peer: peer.read_value(characteristic.obj)))

    async def disconnect(self) -> None:
        link, self._link = self._link, None
        self._subscribers.clear()
        if link is not None:
            await link.close()
