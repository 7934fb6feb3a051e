"""The `dummy` BMS: a link answered inside batmond by a simulated pack whose values move (sim/battery.py).

Answers come back on the event loop, cut into 20-byte pieces, the way a BLE BMS delivers them, so the daemon
runs exactly its usual path without any radio.
"""

from __future__ import annotations

import asyncio
import json
import zlib

from batmond.protocols import dummy
from batmond.sim.battery import Battery
from batmond.transports.base import Link, LinkError

CHUNK = 20


class DummyBms:
    """One configured dummy device: its battery lives across reconnects."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.battery = Battery(seed=zlib.crc32(name.encode()))

    async def connect(self, description: str) -> DummyLink:
        return DummyLink(description, self)

    def info(self) -> dict:
        return {"model": "batmond dummy 16S 280Ah", "serial": f"DUMMY-{zlib.crc32(self.name.encode()):08X}",
                "version": "1.0"}  # fmt: skip

    def status(self) -> dict:
        b = self.battery
        b.advance()
        cells = b.cell_voltages
        return {
            "voltage": round(sum(cells), 3),
            "current": round(b.current, 3),
            "soc": round(b.soc, 1),
            "charge": round(b.remaining_ah, 2),
            "capacity": b.capacity_ah,
            "cycles": b.cycles,
            "cells": cells,
            "temperatures": [round(t, 1) for t in b.temperatures],
            "mosfet_temperature": round(b.mosfet_temperature, 1),
            "switches": {name: getattr(b, f"{name}_enabled") for name in dummy.SWITCHES},
        }

    def answer(self, line: bytes) -> bytes | None:
        """The answer to one request line; ``None`` for what it does not understand (like real firmware)."""
        try:
            message = json.loads(line)
            if message.get("get") == "info":
                return dummy.answer({"info": self.info()})
            if message.get("get") == "status":
                return dummy.answer({"status": self.status()})
            if message.get("set") in dummy.SWITCHES and isinstance(message.get("on"), bool):
                self.battery.switch(**{message["set"]: message["on"]})
                return dummy.answer({"status": self.status()})
        except (ValueError, AttributeError):
            pass
        return None


class DummyLink(Link):
    def __init__(self, description: str, bms: DummyBms) -> None:
        super().__init__(description)
        self.bms = bms

    async def write(self, data: bytes) -> None:
        if not self.alive:
            raise LinkError(f"{self.description}: not connected ({self.close_reason})")
        loop = asyncio.get_running_loop()
        for line in data.splitlines():
            reply = self.bms.answer(line)
            if reply is None:
                continue
            for start in range(0, len(reply), CHUNK):
                loop.call_soon(self._deliver, reply[start : start + CHUNK])

    def _deliver(self, piece: bytes) -> None:
        if self.alive:
            self.on_data(piece)
