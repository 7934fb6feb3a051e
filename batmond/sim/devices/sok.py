"""Simulated SOK / ABC-BMS: answers name, info, detail and protection commands with 20-byte frames."""

from __future__ import annotations

import struct

from batmond.protocols import sok
from batmond.sim.devices import SimulatedBms

MODEL = b"SOK-BMS\r"  # as the captured name frame has it


def u24(value: int) -> bytes:
    return value.to_bytes(3, "little", signed=value < 0)


class SimulatedSok(SimulatedBms):
    types = ("sok",)
    profile = sok.SokCodec.ble

    def answer(self, request: bytes) -> list[bytes]:
        if len(request) != 6 or request[0] != 0xEE or sok.crc8(request[:5]) != request[5]:
            return []
        cmd = request[1]
        if cmd == sok.CMD_NAME:
            return [sok.response(sok.NAME, MODEL)]
        if cmd == sok.CMD_INFO:
            return [self.pack(), self.status()]
        if cmd == sok.CMD_DETAIL:
            detail = sok.response(sok.DETAIL, bytes([24, 3, 18, 0, 100, 0, 0, 0, int(self.battery.balance_enabled)]))
            return [self.pack(), detail, *self.cells()]
        if cmd == sok.CMD_PROTECTION:
            return [sok.response(sok.PROTECTION, b"")]
        return []

    def pack(self) -> bytes:
        b = self.battery
        voltage = sum(round(v * 1000) for v in b.cell_voltages)
        data = u24(voltage) + u24(round(b.current * 1000)) + u24(round(b.capacity_ah * 1000))
        data += u24(round(b.remaining_ah * 1000)) + struct.pack("<H", b.cycles) + bytes([round(b.soc)])
        return sok.response(sok.PACK, data)

    def status(self) -> bytes:
        b = self.battery
        temperatures = b"".join(struct.pack("<h", round(t)) for t in b.temperatures)
        data = bytes([int(b.charge_enabled), int(b.discharge_enabled), len(b.temperatures)]) + temperatures
        return sok.response(sok.STATUS, data)

    def cells(self) -> list[bytes]:
        entries = [bytes([i + 1]) + struct.pack("<H", round(v * 1000)) + b"\x00"
                   for i, v in enumerate(self.battery.cell_voltages)]  # fmt: skip
        per = sok.CELLS_PER_FRAME
        return [sok.response(sok.CELLS, b"".join(entries[i : i + per])) for i in range(0, len(entries), per)]
