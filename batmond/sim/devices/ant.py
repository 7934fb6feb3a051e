"""Simulated ANT BMS (2021+ protocol): answers status (0x01), device info (0x02) and switch writes (0x51)."""

from __future__ import annotations

import struct

from batmond.protocols import ant
from batmond.sim.devices import SimulatedBms

MODEL, SOFTWARE = "16ZM", "16ZMUB00-211026A"
BATTERY_STATUS_IDLE, BATTERY_STATUS_CHARGE, BATTERY_STATUS_DISCHARGE = 1, 2, 3


class SimulatedAnt(SimulatedBms):
    types = ("ant",)
    profile = ant.AntCodec.ble
    default_chunk = 20  # the BMS notifies in 20-byte pieces (aiobmsble's mock does the same)

    def answer(self, request: bytes) -> list[bytes]:
        if len(request) != 10 or request[:2] != ant.HEADER or request[-2:] != ant.TRAILER:
            return []
        if ant.crc16_modbus(request[1:6]) != struct.unpack_from("<H", request, 6)[0]:
            return []
        function, address = request[2], struct.unpack_from("<H", request, 3)[0]
        if function == ant.CMD_STATUS:
            return [self.status()]
        if function == ant.CMD_DEVICE_INFO and address == ant.DEVICE_INFO_ADDRESS:
            body = MODEL.encode().ljust(16, b"\x00") + SOFTWARE.encode().ljust(16, b"\x00")
            return [ant.response(ant.DEVICE_INFO, address, body)]
        if function == ant.CMD_WRITE:
            for name, (on_register, off_register) in ant.SWITCH_REGISTERS.items():
                if address in (on_register, off_register):
                    self.battery.switch(**{name: address == on_register})
                    return [ant.response(ant.WRITE_ACK, address, bytes([0x01, 0x00]))]
        return []

    def status(self) -> bytes:
        b = self.battery
        cells_mv = [round(v * 1000) for v in b.cell_voltages]
        data = bytearray()
        state = BATTERY_STATUS_IDLE
        if b.current > 0.05:
            state = BATTERY_STATUS_CHARGE
        elif b.current < -0.05:
            state = BATTERY_STATUS_DISCHARGE
        data += bytes([0x05, state, len(b.temperatures), b.cells]) + bytes(24)
        data += b"".join(struct.pack("<H", mv) for mv in cells_mv)
        data += b"".join(struct.pack("<h", round(t)) for t in b.temperatures)
        data += struct.pack("<hh", round(b.mosfet_temperature), round(b.mosfet_temperature))
        voltage = sum(cells_mv) / 1000
        data += struct.pack("<HhHH", round(voltage * 100), round(b.current * 10), round(b.soc), 100)
        data += bytes([int(b.charge_enabled), int(b.discharge_enabled), ant.BALANCER_ON if b.balance_enabled else 0, 0])
        data += struct.pack("<IIIiII", round(b.capacity_ah * 1e6), round(b.remaining_ah * 1e6),
                            round(b.cycles * b.capacity_ah * 1000), round(voltage * b.current), 0, 0)  # fmt: skip
        high, low = max(cells_mv), min(cells_mv)
        data += struct.pack("<HHHHHH", high, cells_mv.index(high) + 1, low, cells_mv.index(low) + 1, high - low,
                            round(sum(cells_mv) / len(cells_mv)))  # fmt: skip
        data += bytes(10) + bytes(16)  # MOSFET drive voltages, battery type, lifetime totals
        return ant.response(ant.STATUS, 0x0000, bytes(data))
