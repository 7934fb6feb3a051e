"""Simulated no-name Modbus BMS on the Nordic UART service: answers the three reads of batmon-ha issue #131.

Answers go out in 20-byte notifications, as in the reporter's capture.
"""

from __future__ import annotations

from batmond.protocols import modbus
from batmond.protocols import noname_modbus as nm
from batmond.sim.devices import SimulatedBms

EMPTY_SLOT = 0xEE49  # what unused cell slots read


class SimulatedNonameModbus(SimulatedBms):
    types = ("noname_modbus",)
    profile = nm.NonameModbusCodec.ble
    default_chunk = 20

    def answer(self, request: bytes) -> list[bytes]:
        parsed = modbus.parse_request(request)
        if parsed is None or parsed.slave != nm.SLAVE or parsed.function != modbus.READ_HOLDING:
            return []
        block = (parsed.address, parsed.value)
        if block == nm.INFO_BLOCK:
            words = [self.battery.cells, 1, 6, 5]  # the last two as in the capture; their meaning is unknown
        elif block == nm.CELLS_BLOCK:
            words = self.cells()
        elif block == nm.STATUS_BLOCK:
            words = self.status()
        else:
            return []
        return [modbus.read_response(nm.SLAVE, b"".join(w.to_bytes(2, "big") for w in words))]

    def cells(self) -> list[int]:
        cells = [round(v * 1000) for v in self.battery.cell_voltages]
        high, low = max(cells), min(cells)
        slots = cells + [EMPTY_SLOT] * (nm.CELL_SLOTS - len(cells))
        return [*slots, high, low, cells.index(high) + 1, cells.index(low) + 1, high - low, round(sum(cells) / 10)]

    def status(self) -> list[int]:
        b = self.battery
        words = [0] * nm.STATUS_BLOCK[1]
        temperature = round(b.temperatures[0] * 10) + nm.TEMPERATURE_OFFSET
        words[nm.TEMPERATURE] = temperature
        words[9:12] = [temperature] * 3  # further readings the capture shows; their meaning is unknown
        words[nm.CHARGE_CURRENT] = round(max(b.current, 0) * 10)
        words[nm.DISCHARGE_CURRENT] = round(max(-b.current, 0) * 10)
        words[nm.SOC] = round(b.soc)
        words[nm.SOH] = 100
        words[nm.REMAINING] = round(b.remaining_ah * 100)
        words[nm.FULL_CAPACITY] = words[nm.FULL_CAPACITY + 1] = round(b.capacity_ah * 100)
        words[nm.CYCLES] = b.cycles
        return words
