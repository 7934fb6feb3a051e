"""Simulated JBD BMS: answers read requests 0x03/0x04/0x05 and MOSFET control 0xE1, in 20-byte pieces."""

from __future__ import annotations

import struct

from batmond.protocols import jbd
from batmond.sim.devices import SimulatedBms


class SimulatedJbd(SimulatedBms):
    types = ("jbd",)
    profile = jbd.JbdCodec.ble
    default_chunk = 20  # JBD firmware notifies in 20-byte pieces whatever the MTU

    model = "JBD-SP16S020-L16S-200A-B"

    def answer(self, request: bytes) -> list[bytes]:
        if len(request) < 7 or request[0] != jbd.START or request[-1] != jbd.END:
            return []
        kind, register, length = request[1], request[2], request[3]
        data = request[4 : 4 + length]
        if jbd.checksum(request[2 : 4 + length]) != int.from_bytes(request[4 + length : 6 + length], "big"):
            return []
        if kind == jbd.READ and register == jbd.BASIC_INFO:
            return [jbd.response(register, self.basic_info())]
        if kind == jbd.READ and register == jbd.CELL_VOLTAGES:
            cells = self.battery.cell_voltages
            return [jbd.response(register, b"".join(struct.pack(">H", round(v * 1000)) for v in cells))]
        if kind == jbd.READ and register == jbd.MODEL:
            return [jbd.response(register, self.model.encode())]
        if kind == jbd.WRITE and register == jbd.MOSFET_CONTROL and len(data) == 2:
            disabled = data[1]
            self.battery.switch(charge=not disabled & 1, discharge=not disabled & 2)
            return [jbd.response(register, b"")]
        return []

    def basic_info(self) -> bytes:
        b = self.battery
        payload = bytearray(23)
        voltage = sum(round(v * 1000) for v in b.cell_voltages)
        production_date = (24 << 9) | (3 << 5) | 14  # 2024-03-14
        fields = (round(voltage / 10), round(b.current * 100), round(b.remaining_ah * 100),
                  round(b.capacity_ah * 100), b.cycles, production_date)  # fmt: skip
        struct.pack_into(">HhHHHH", payload, 0, *fields)
        payload[18] = 0x80
        payload[19] = round(b.soc)
        payload[20] = int(b.charge_enabled) | int(b.discharge_enabled) << 1
        payload[21] = b.cells
        payload[22] = len(b.temperatures)
        for temperature in b.temperatures:
            payload += struct.pack(">H", round(temperature * 10) + jbd.KELVIN_OFFSET)
        return bytes(payload)
