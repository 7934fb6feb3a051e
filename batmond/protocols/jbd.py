"""JBD / Jiabaida / Xiaoxiang / Overkill Solar BMS.

Facts from the public JBD protocol notes (esphome-jbd-bms docs and captured frames).
Read request ``DD A5 <reg> 00 <chk u16 BE> 77``; answer ``DD <reg> <status> <len> <payload> <chk u16 BE> 77``
where the checksum is 0x10000 minus the sum of the bytes from the status (request: register) to the payload end.
All values big-endian. Answers arrive split into 20-byte notifications.
"""

from __future__ import annotations

import dataclasses

from batmond.protocols.base import (
    BleProfile,
    Codec,
    Request,
    StreamFramer,
    UnsupportedSwitch,
    i16be,
    u16be,
)
from batmond.sample import DeviceInfo, Sample

START, END = 0xDD, 0x77
READ, WRITE = 0xA5, 0x5A
BASIC_INFO, CELL_VOLTAGES, MODEL, MOSFET_CONTROL = 0x03, 0x04, 0x05, 0xE1
KINDS = {BASIC_INFO: "basic", CELL_VOLTAGES: "cells", MODEL: "model", MOSFET_CONTROL: "mosfet"}
KELVIN_OFFSET = 2731  # NTC values are 0.1 K
# Bit 7 of the byte after the NTC values: current and capacities in 100 mA / 100 mAh (very large packs).
LARGE_UNITS_FLAG = 0x80


def checksum(body: bytes) -> int:
    return (0x10000 - sum(body)) & 0xFFFF


def request(register: int, data: bytes = b"", kind: int = READ) -> bytes:
    body = bytes([register, len(data)]) + data
    return bytes([START, kind]) + body + checksum(body).to_bytes(2, "big") + bytes([END])


def response(register: int, payload: bytes, status: int = 0) -> bytes:
    """An answer frame as the BMS sends it (used by the simulator and the tests)."""
    body = bytes([status, len(payload)]) + payload
    return bytes([START, register]) + body + checksum(body).to_bytes(2, "big") + bytes([END])


def _frame_length(head: bytes) -> int | None:
    if len(head) < 4:
        return None
    if head[1] not in KINDS or head[2] not in (0x00, 0x80):
        return 0
    return head[3] + 7


def _valid(frame: bytes) -> bool:
    return frame[-1] == END and checksum(frame[2:-3]) == int.from_bytes(frame[-3:-1], "big")


def decode_basic_info(payload: bytes) -> Sample:
    ntc_count = payload[22]
    scale = 0.01
    flags_at = 23 + 2 * ntc_count
    if len(payload) > flags_at and payload[flags_at] & LARGE_UNITS_FLAG:
        scale = 0.1
    voltage = u16be(payload, 0) / 100
    current = i16be(payload, 2) * scale
    fets = payload[20]
    return Sample(
        voltage=voltage,
        current=current,
        power=voltage * current,
        charge=u16be(payload, 4) * scale,
        capacity=u16be(payload, 6) * scale,
        cycles=u16be(payload, 8),
        alarm_code=u16be(payload, 16),
        soc=float(payload[19]),
        temperatures=tuple((u16be(payload, 23 + 2 * i) - KELVIN_OFFSET) / 10 for i in range(ntc_count)),
        switches={"charge": bool(fets & 1), "discharge": bool(fets & 2)},
    )


def software_version(raw: int) -> str:
    """Byte 18 of the basic info: major and minor in the two nibbles (0x80 is 8.0, as esphome-jbd-bms reads it;
    jbdtool prints 12.8, the byte over ten)."""
    return f"{raw >> 4}.{raw & 0x0F}"


def decode_cells(payload: bytes) -> tuple[float, ...]:
    return tuple(u16be(payload, i) / 1000 for i in range(0, len(payload) - 1, 2))


def mosfet_control_value(charge: bool, discharge: bool) -> int:
    """Register 0xE1 holds *disable* bits: bit 0 charge off, bit 1 discharge off."""
    return (0 if charge else 1) | (0 if discharge else 2)


class JbdCodec(Codec):
    type_name = "jbd"
    manufacturer = "JBD"
    ble = BleProfile(
        service="0000ff00-0000-1000-8000-00805f9b34fb",
        notify="0000ff01-0000-1000-8000-00805f9b34fb",
        write="0000ff02-0000-1000-8000-00805f9b34fb",
        name_prefixes=("xiaoxiang", "SP", "JBD", "DP"),
    )
    writable_switches = frozenset({"charge", "discharge"})

    def __init__(self, variant: str | None = None) -> None:
        super().__init__(variant)
        self._framer = StreamFramer(bytes([START]), _frame_length, _valid)
        self._basic: Sample | None = None
        self._cells: tuple[float, ...] | None = None
        self._switches: dict[str, bool] = {}
        self.info = DeviceInfo(manufacturer="JBD")

    def feed(self, data: bytes) -> list[str]:
        kinds = []
        for frame in self._framer.feed(data):
            register, status, payload = frame[1], frame[2], frame[4:-3]
            if status != 0:
                kinds.append(f"{KINDS[register]}-error")
                continue
            if register == BASIC_INFO:
                if len(payload) < 23 or len(payload) < 23 + 2 * payload[22]:
                    self.unplaced(frame)  # shorter than its own NTC count needs
                    continue
                self._basic = decode_basic_info(payload)
                self._switches = dict(self._basic.switches)
                self.info = dataclasses.replace(self.info or DeviceInfo(), sw_version=software_version(payload[18]))
            elif register == CELL_VOLTAGES:
                self._cells = decode_cells(payload)
            elif register == MODEL:
                model = payload.decode("ascii", "replace").strip("\x00 ") or None
                self.info = dataclasses.replace(self.info or DeviceInfo(), model=model)
            kinds.append(KINDS[register])
        return kinds

    def connect_requests(self) -> list[Request]:
        return [Request(request(MODEL), "model")]

    def poll_requests(self) -> list[Request]:
        return [Request(request(BASIC_INFO), "basic"), Request(request(CELL_VOLTAGES), "cells")]

    def sample(self) -> Sample | None:
        basic, cells = self._basic, self._cells
        self._basic = self._cells = None
        if basic is None:
            return None
        return dataclasses.replace(basic, cell_voltages=cells or ())

    def switch_requests(self, switch: str, on: bool) -> list[Request]:
        if switch not in self.writable_switches:
            raise UnsupportedSwitch(f"JBD cannot switch {switch!r}")
        wanted = {"charge": True, "discharge": True, **self._switches, switch: on}
        value = mosfet_control_value(wanted["charge"], wanted["discharge"])
        return [
            Request(request(MOSFET_CONTROL, value.to_bytes(2, "big"), WRITE), "mosfet"),
            Request(request(BASIC_INFO), "basic"),
        ]

    def reset(self) -> None:
        self._framer.reset()
        self._basic = self._cells = None
