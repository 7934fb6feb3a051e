"""Simulated LiTime / Redodo BMS: answers the status request with the 105-byte frame."""

from __future__ import annotations

import struct

from batmond.protocols import litime
from batmond.sim.devices import SimulatedBms


class SimulatedLitime(SimulatedBms):
    types = ("litime",)
    profile = litime.LitimeCodec.ble

    def answer(self, request: bytes) -> list[bytes]:
        if request == litime.REQUEST_STATUS:
            return [self.status()]
        return []

    def status(self) -> bytes:
        b = self.battery
        data = bytearray(litime.STATUS_LENGTH - 8)  # the frame without its 7-byte head and checksum
        cells = [round(v * 1000) for v in b.cell_voltages[: litime.CELL_SLOTS]]

        def put(offset: int, fmt: str, *values: int) -> None:
            struct.pack_into(fmt, data, offset - 7, *values)  # offsets as in the protocol module

        put(8, "<I", sum(cells) - 20 * len(cells))  # the second, lower voltage reading of real frames
        put(12, "<I", sum(cells))
        put(16, f"<{len(cells)}H", *cells)
        put(48, "<i", round(b.current * 1000))
        put(52, "<hh", round(b.temperatures[0]), round(b.mosfet_temperature))
        put(62, "<HI", round(b.remaining_ah * 100), round(b.capacity_ah * 100))
        put(90, "<HIII", round(b.soc), 100, b.cycles, round(b.cycles * b.capacity_ah))
        return litime.frame(litime.CMD_STATUS | litime.ANSWER, bytes(data))
