"""Simulated JK BMS on RS485: answers the read-all request with a "4E 57" tag frame built from the battery."""

from __future__ import annotations

import struct

from batmond.protocols import jk_uart
from batmond.protocols.base import u16be
from batmond.sim.serial import SerialSimulatedBms

SOFTWARE = "11.XW_S11.26"
MODEL = "JK_B2A20S20P"


def temperature(celsius: float) -> int:
    """The wire's encoding: 0…100 as is, below 0 °C counted up from 100 (-1 °C = 101)."""
    value = round(celsius)
    return value if value >= 0 else 100 - value


class SimulatedJkUart(SerialSimulatedBms):
    types = ("jk_uart",)

    def take_requests(self, buffer: bytearray) -> list[bytes]:
        requests = []
        while True:
            start = buffer.find(jk_uart.START)
            if start < 0 or len(buffer) < start + 4:
                break
            del buffer[:start]
            length = u16be(buffer, 2) + 2
            if not jk_uart.MIN_FRAME <= length <= jk_uart.MAX_FRAME:
                del buffer[:1]
                continue
            if len(buffer) < length:
                break
            frame = bytes(buffer[:length])
            del buffer[:length]
            if jk_uart.checksum(frame[:-4]) == u16be(frame, length - 2):
                requests.append(frame)
        return requests

    def answer(self, request: bytes) -> list[bytes]:
        if request[8] not in (jk_uart.READ_ALL, 0x03):
            return []
        return [jk_uart.build_frame(self.tags(), jk_uart.READ_ALL, jk_uart.SOURCE_BMS, jk_uart.TYPE_REPLY)]

    def tags(self) -> bytes:
        b = self.battery
        cells = b"".join(struct.pack(">BH", i + 1, round(v * 1000)) for i, v in enumerate(b.cell_voltages))
        amps = round(abs(b.current) * 100)
        modes = int(b.charge_enabled) | int(b.discharge_enabled) << 1 | int(b.balance_enabled) << 2
        t1, t2 = b.temperatures
        return b"".join((
            bytes([jk_uart.CELLS_TAG, len(cells)]) + cells,
            struct.pack(">BH", 0x80, temperature(b.mosfet_temperature)),
            struct.pack(">BHBH", 0x81, temperature(t1), 0x82, temperature(t2)),
            struct.pack(">BH", 0x83, round(sum(round(v * 1000) for v in b.cell_voltages) / 10)),
            struct.pack(">BH", 0x84, amps | (0x8000 if b.current > 0 else 0)),
            struct.pack(">BBBB", 0x85, round(b.soc), 0x86, 2),
            struct.pack(">BHBIBH", 0x87, b.cycles, 0x89, 0, 0x8A, b.cells),
            struct.pack(">BHBH", 0x8B, 0, 0x8C, modes),
            struct.pack(">BI", 0xAA, round(b.capacity_ah)),
            b"\xb4" + self.name.encode()[:8].ljust(8, b"\x00"),
            b"\xb7" + SOFTWARE.encode().ljust(15, b"_"),
            b"\xba" + MODEL.encode().ljust(24, b"\x00"),
            bytes([0xC0, jk_uart.SIGN_MAGNITUDE_CURRENT]),
        ))  # fmt: skip
