"""What a transport hands to the poller: a link that writes bytes and delivers received bytes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class LinkError(Exception):
    """The link to a BMS failed or could not be made; the message is one log line."""


class Link:
    """A connection to one BMS. Transports subclass it; protocols never see it."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.on_data: Callable[[bytes], None] = lambda data: None
        # GATT value devices: (characteristic UUID, value) for each notification of a subscribed value.
        self.on_value: Callable[[str, bytes], None] = lambda characteristic, value: None
        self.closed = asyncio.Event()
        self.close_reason = ""

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

    async def close(self) -> None:
        self.mark_closed("closed by batmond")
