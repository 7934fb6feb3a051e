"""Simulated JK BMS (JK02): answers 0x97 with device info, 0x96 with settings, then streams cell info."""

from __future__ import annotations

import asyncio
import struct

from batmond.protocols import jk
from batmond.sim.devices import SimulatedBms

STREAM_PERIOD = 0.5  # s between streamed cell-info frames
WRITE_ACK = jk.REQUEST_HEADER + bytes([0xC8, 0x01, 0x01]) + bytes(12) + bytes([0x44])
FIRMWARE = {"24s": ("JK_B2A24S15P", "10.XW", "10.07"), "32s": ("JK_PB2A16S15P", "15.XA", "15.38")}


def frame(kind: int, counter: int, body: bytearray) -> bytes:
    data = bytearray(jk.FRAME_LENGTH)
    data[:4] = jk.RESPONSE_HEADER
    data[4], data[5] = kind, counter & 0xFF
    data[6 : 6 + len(body)] = body
    data[299] = jk.checksum(data[:299])
    return bytes(data)


class SimulatedJk(SimulatedBms):
    types = ("jk", "jk_24s", "jk_32s")
    profile = jk.JkCodec.ble

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.layout_name = self.variant or "32s"
        self.counter = 0
        self.streaming = False

    @property
    def layout(self) -> jk.Layout:
        return jk.LAYOUTS[self.layout_name]

    def on_disconnect(self) -> None:
        self.streaming = False

    def answer(self, request: bytes) -> list[bytes]:
        if len(request) != 20 or request[:4] != jk.REQUEST_HEADER or jk.checksum(request[:19]) != request[19]:
            return []
        register, value = request[4], struct.unpack_from("<I", request, 6)[0]
        if register == jk.CMD_DEVICE_INFO:
            return [self.device_info()]
        if register == jk.CMD_CELL_INFO:
            if not self.streaming:
                self.streaming = True
                self.spawn(self._stream())
            return [self.settings(), self.cell_info()]
        for name, switch_register in jk.SWITCH_REGISTERS.items():
            if register == switch_register and name != "float_charge":
                self.battery.switch(**{name: bool(value)})
                return [WRITE_ACK, self.settings()]
        return []

    async def _stream(self) -> None:
        while self.streaming and self.connection is not None:
            await asyncio.sleep(STREAM_PERIOD)
            if self.streaming and self.connection is not None:
                self.battery.advance()
                self.send(self.cell_info())

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def device_info(self) -> bytes:
        model, hw, sw = FIRMWARE[self.layout_name]
        body = bytearray(294)
        for offset, text, size in ((0, model, 16), (16, hw, 8), (24, sw, 8), (40, self.name, 16),
                                   (80, f"SIM{self.address.replace(':', '')[-6:]}", 16)):  # fmt: skip
            body[offset : offset + size] = text.encode().ljust(size, b"\x00")[:size]
        return frame(jk.DEVICE_INFO, self._next(), body)

    def settings(self) -> bytes:
        body = bytearray(294)
        b = self.battery
        for name, offset in jk.SETTINGS_SWITCH_OFFSETS.items():
            body[offset - 6] = int(getattr(b, f"{name}_enabled"))
        struct.pack_into("<I", body, 114 - 6, b.cells)
        struct.pack_into("<I", body, 130 - 6, round(b.capacity_ah * 1000))
        return frame(jk.SETTINGS, self._next(), body)

    def cell_info(self) -> bytes:
        b, lay = self.battery, self.layout
        data = bytearray(jk.FRAME_LENGTH)
        for i, volts in enumerate(b.cell_voltages[: lay.cell_slots]):
            struct.pack_into("<H", data, 6 + 2 * i, round(volts * 1000))
        cells_mv = [round(v * 1000) for v in b.cell_voltages[: lay.cell_slots]]
        struct.pack_into("<I", data, lay.cell_mask, (1 << len(cells_mv)) - 1)
        struct.pack_into("<H", data, lay.cell_average, round(sum(cells_mv) / len(cells_mv)))
        struct.pack_into("<h", data, lay.mosfet.offset, round(b.mosfet_temperature * 10))
        voltage = sum(round(v * 1000) for v in b.cell_voltages)
        struct.pack_into("<I", data, lay.voltage, voltage)
        struct.pack_into("<i", data, lay.current, round(b.current * 1000))
        # The pack's probes are fitted and marked present; the board's others are not fitted (mask bit clear).
        fitted = lay.probes[: len(b.temperatures)]
        for probe, temperature in zip(fitted, b.temperatures, strict=True):
            struct.pack_into("<h", data, probe.offset, round(temperature * 10))
        data[lay.probes_present] = sum(1 << probe.present_bit for probe in (lay.mosfet, *fitted))
        data[lay.soc] = round(b.soc)
        struct.pack_into("<I", data, lay.charge, round(b.remaining_ah * 1000))
        struct.pack_into("<I", data, lay.capacity, round(b.capacity_ah * 1000))
        struct.pack_into("<I", data, lay.cycles, b.cycles)
        data[lay.soh] = 100
        struct.pack_into("<h", data, lay.balance_current, 0)
        data[lay.charge_mosfet] = int(b.charge_enabled)
        data[lay.discharge_mosfet] = int(b.discharge_enabled)
        return frame(jk.CELL_INFO, self._next(), data[6:299])
