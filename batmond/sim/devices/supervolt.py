"""Simulated Supervolt v1 (E&J ASCII protocol): answers the realtime and capacity requests in 20-byte pieces."""

from __future__ import annotations

import struct

from batmond.protocols import supervolt
from batmond.sim.devices import SimulatedBms

BUILD_DATE = bytes.fromhex("00000101C00000")  # the seven date bytes of aiobmsble's E&J capture


class SimulatedSupervolt(SimulatedBms):
    types = ("supervolt",)
    profile = supervolt.SupervoltCodec.ble
    default_chunk = 20

    def answer(self, request: bytes) -> list[bytes]:
        if request == supervolt.REQUEST_REALTIME:
            return [self.realtime()]
        if request == supervolt.REQUEST_CAPACITY:
            b = self.battery
            capacities = (round(b.remaining_ah * 10), round(b.capacity_ah * 10), round(b.capacity_ah * 10))
            return [supervolt.frame(supervolt.CMD_CAPACITY, bytes(2) + struct.pack(">HHH", *capacities))]
        return []

    def realtime(self) -> bytes:
        b = self.battery
        cells = [round(v * 1000) for v in b.cell_voltages[: supervolt.CELL_SLOTS]]
        cells += [0] * (supervolt.CELL_SLOTS - len(cells))
        charging, discharging = max(b.current, 0.0), max(-b.current, 0.0)
        state = 0xC000  # the high bits of the word are set on every capture
        state |= supervolt.CHARGE_ON if b.charge_enabled else 0
        state |= supervolt.DISCHARGE_ON if b.discharge_enabled else 0
        state |= (0x0001 if charging > 0.05 else 0) | (0x0002 if discharging > 0.05 else 0)
        temperature = round(b.temperatures[0]) + supervolt.TEMPERATURE_OFFSET
        data = BUILD_DATE + struct.pack(f">{supervolt.CELL_SLOTS}H", *cells)
        data += struct.pack(">HH", round(charging * 100), round(discharging * 100))
        data += bytes([temperature, 0x28, 0x28, 0x28]) + struct.pack(">H", state)
        data += bytes([0]) + struct.pack(">HHH", 0, b.cycles, b.cycles) + bytes([round(b.soc)])
        return supervolt.frame(supervolt.CMD_REALTIME, data)
