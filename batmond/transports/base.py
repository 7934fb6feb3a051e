"""What a transport hands to the poller: a link that writes bytes and delivers received bytes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass


class LinkError(Exception):
    """The link to a BMS failed or could not be made; the message is one log line."""


def stray_cancel() -> bool:
    """Whether a CancelledError caught now is not this task's own cancellation: bumble aborts the requests pending
    on a link or a transport that went away with CancelledError, and a task that let it through would end quietly
    (a poller would stop reading its BMS for good)."""
    task = asyncio.current_task()
    return task is None or not task.cancelling()


class Link:
    """A connection to one BMS. Transports subclass it; protocols never see it."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.on_data: Callable[[bytes], None] = lambda data: None
        # GATT value devices: (characteristic UUID, value) for each notification of a subscribed value.
        self.on_value: Callable[[str, bytes], None] = lambda characteristic, value: None
        self.closed = asyncio.Event()
        self.close_reason = ""
        # False when the link holds a slot only for one sample (batmond.fleet rotates BMS through it): the poller
        # then closes the link after its sample, to give the slot to the next BMS.
        self.resident = True

    @property
    def alive(self) -> bool:
        return not self.closed.is_set()

    def mark_closed(self, reason: str) -> None:
        if not self.closed.is_set():
            self.close_reason = reason
            self.closed.set()

    async def write(self, data: bytes) -> None:
        raise NotImplementedError

    async def read_characteristic(self, uuid: str) -> bytes:
        """The value of one characteristic (GATT value devices); empty when the device has no such one."""
        raise LinkError(f"{self.description}: this link has no characteristics to read")

    def diagnostics(self) -> dict[str, int | float | str]:
        """What the link knows about itself for the BMS's diagnostics (the adapter serving it, its RSSI)."""
        return {}

    async def refresh_diagnostics(self) -> None:
        """Ask the radio again for what :meth:`diagnostics` reports (an RSSI reading); never raises."""

    async def close(self) -> None:
        self.mark_closed("closed by batmond")


@dataclass(frozen=True, slots=True)
class GattCharacteristic:
    """One characteristic of a connected device, whatever radio reached it."""

    uuid: str  # 128-bit, lower case: "0000ffe1-0000-1000-8000-00805f9b34fb"
    handle: int  # the value handle
    properties: int  # Bluetooth Core property bits (0x02 read, 0x04 write without response, 0x08 write, ...)


@dataclass(frozen=True, slots=True)
class GattService:
    uuid: str
    handle: int
    characteristics: tuple[GattCharacteristic, ...]


class GattLink(Link):
    """A BLE link whose GATT table is known, by value handle: what a client that runs its own GATT exchanges
    (aiobmsble's BMS classes) needs, the same over a local adapter and through an ESPHome proxy."""

    services: tuple[GattService, ...] = ()
    mtu = 23

    async def read_handle(self, handle: int) -> bytes:
        raise NotImplementedError

    async def write_handle(self, handle: int, data: bytes, with_response: bool) -> None:
        raise NotImplementedError

    async def start_notify(self, handle: int, callback: Callable[[bytes], None]) -> None:
        raise NotImplementedError

    async def stop_notify(self, handle: int) -> None:
        raise NotImplementedError
