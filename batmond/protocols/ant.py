"""ANT BMS, the 2021+ BLE protocol (advertised as ``ANT-BLE…``).

Facts from esphome-ant-bms (components/ant_bms_ble, its captured frames and docs/pdus) and aiobmsble's ant_bms.
Requests are ``7E A1 <func> <addr u16 LE> <value> <CRC16-Modbus LE> AA 55``; answers are
``7E A1 <func> <addr u16 LE> <len> <data> <CRC16-Modbus LE> AA 55`` with the CRC over everything after 7E. Answers
to register reads (0x12, 0x42) carry six more bytes between the CRC and ``AA 55`` (their length byte does not
count them). Values are little-endian. Switches are register writes (func 0x51, value 0) answered by 0x61.
"""

from __future__ import annotations

import dataclasses

from batmond.protocols.base import (
    BleProfile,
    Codec,
    Request,
    StreamFramer,
    UnsupportedSwitch,
    ascii_field,
    i16le,
    i32le,
    u16le,
    u32le,
)
from batmond.sample import DeviceInfo, Sample

HEADER = bytes([0x7E, 0xA1])
TRAILER = bytes([0xAA, 0x55])
CMD_STATUS, CMD_DEVICE_INFO, CMD_WRITE = 0x01, 0x02, 0x51
STATUS, DEVICE_INFO, WRITE_ACK = 0x11, 0x12, 0x61
KINDS = {STATUS: "status", DEVICE_INFO: "info", WRITE_ACK: "ack"}
# Every answer function seen in esphome-ant-bms (status, register read, log, permission, system, GPS, …): a
# header followed by anything else is junk, skipped at once instead of waiting for a bogus length.
ANSWERS = frozenset({0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x42, 0x43, 0x61})
# Read answers with six unexplained bytes after the CRC (captures in esphome-ant-bms docs/pdus).
PADDED_ANSWERS = frozenset({0x12, 0x42})
PADDING = 6
DEVICE_INFO_ADDRESS = 0x026C
# Each switch has one register to turn it on and one to turn it off (esphome-ant-bms switch/__init__.py).
SWITCH_REGISTERS = {"charge": (0x0006, 0x0004), "discharge": (0x0003, 0x0001), "balance": (0x000D, 0x000E)}
MOSFET_ON = 0x01  # any other code says why the MOSFET is off (protection, manual, …)
BALANCER_ON = 0x04
ABSENT_TEMPERATURE = -40  # raw 0xFFD8: an unplugged sensor (batmon-ha treats it as absent)
CELLS_AT = 34


def crc16_modbus(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def command(function: int, address: int = 0, value: int = 0) -> bytes:
    body = bytes([0xA1, function]) + address.to_bytes(2, "little") + bytes([value])
    return bytes([0x7E]) + body + crc16_modbus(body).to_bytes(2, "little") + TRAILER


def response(function: int, address: int, data: bytes) -> bytes:
    """An answer frame as the BMS sends it (used by the simulator and the tests)."""
    body = bytes([0xA1, function]) + address.to_bytes(2, "little") + bytes([len(data)]) + data
    padding = bytes([0xFF, 0x0B, 0x00, 0x00, 0x41, 0xF2]) if function in PADDED_ANSWERS else b""
    return bytes([0x7E]) + body + crc16_modbus(body).to_bytes(2, "little") + padding + TRAILER


def _frame_length(head: bytes) -> int | None:
    if len(head) < 6:
        return None
    if head[2] not in ANSWERS:
        return 0
    return 10 + head[5] + (PADDING if head[2] in PADDED_ANSWERS else 0)


def _valid(frame: bytes) -> bool:
    end = 6 + frame[5]
    return frame.endswith(TRAILER) and crc16_modbus(frame[1:end]) == u16le(frame, end)


@dataclasses.dataclass(frozen=True, slots=True)
class StatusLayout:
    """Offsets of the status frame after the variable cell and sensor blocks."""

    cells: int
    sensors: int

    @property
    def shift(self) -> int:
        return 2 * self.cells + 2 * self.sensors

    def at(self, offset: int) -> int:
        return offset + self.shift

    @property
    def needed(self) -> int:
        return self.at(66) + 4  # through the power field, plus CRC and trailer


def cycles(cycle_capacity_mah: int, design_capacity_uah: int) -> int | None:
    """Whole cycles from the "total battery cycles capacity" (esphome-ant-bms: u32 mAh at 58+off).

    The frame has no cycle counter. Its cycle capacity is the Ah full cycles moved over the pack's life (in
    every public capture the mean of the accumulated charged and discharged Ah at 100+off and 96+off), so
    divided by the design capacity it counts equivalent full cycles: aiobmsble derives its ANT cycle count the
    same way (190 for its 22-cell capture).
    """
    if design_capacity_uah == 0:
        return None
    return cycle_capacity_mah * 1000 // design_capacity_uah


def decode_status(frame: bytes) -> Sample | None:
    """The status frame (0x11) as a sample; ``None`` when the frame is too short for its own cell count."""
    if len(frame) < 10:
        return None
    lay = StatusLayout(cells=frame[9], sensors=frame[8])
    if len(frame) < lay.needed:
        return None
    temperatures = tuple(
        float(t)
        for i in range(lay.sensors)
        if (t := i16le(frame, CELLS_AT + 2 * lay.cells + 2 * i)) != ABSENT_TEMPERATURE
    )
    mosfet = i16le(frame, lay.at(34))
    voltage = u16le(frame, lay.at(38)) / 100
    current = i16le(frame, lay.at(40)) / 10
    design_uah = u32le(frame, lay.at(50))
    return Sample(
        voltage=voltage,
        current=current,
        power=float(i32le(frame, lay.at(62))),
        soc=float(u16le(frame, lay.at(42))),
        soh=float(u16le(frame, lay.at(44))),
        capacity=design_uah / 1e6,
        charge=u32le(frame, lay.at(54)) / 1e6,
        cycles=cycles(u32le(frame, lay.at(58)), design_uah),
        cell_voltages=tuple(u16le(frame, CELLS_AT + 2 * i) / 1000 for i in range(lay.cells)),
        temperatures=temperatures,
        mosfet_temperature=None if mosfet == ABSENT_TEMPERATURE else float(mosfet),
        switches={
            "charge": frame[lay.at(46)] == MOSFET_ON,
            "discharge": frame[lay.at(47)] == MOSFET_ON,
            "balance": frame[lay.at(48)] == BALANCER_ON,
        },
        alarm_code=int.from_bytes(frame[10:18], "little"),
    )


def decode_device_info(frame: bytes) -> DeviceInfo | None:
    if len(frame) < 38:
        return None
    return DeviceInfo(manufacturer="ANT", model=ascii_field(frame, 6, 22), sw_version=ascii_field(frame, 22, 38))


class AntCodec(Codec):
    type_name = "ant"
    manufacturer = "ANT"
    ble = BleProfile(
        service="0000ffe0-0000-1000-8000-00805f9b34fb",
        notify="0000ffe1-0000-1000-8000-00805f9b34fb",
        write="0000ffe1-0000-1000-8000-00805f9b34fb",
        name_prefixes=("ANT-BLE",),
    )
    writable_switches = frozenset(SWITCH_REGISTERS)

    def __init__(self, variant: str | None = None) -> None:
        super().__init__(variant)
        self._framer = StreamFramer(HEADER, _frame_length, _valid)
        self._status: Sample | None = None
        self.info = DeviceInfo(manufacturer="ANT")

    def feed(self, data: bytes) -> list[str]:
        kinds = []
        for frame in self._framer.feed(data):
            function = frame[2]
            if function == STATUS:
                status = decode_status(frame)
                if status is None:
                    self.unplaced(frame)  # shorter than its own cell and sensor counts need
                    continue
                self._status = status
            elif function == DEVICE_INFO and u16le(frame, 3) == DEVICE_INFO_ADDRESS:
                info = decode_device_info(frame)
                if info is None:
                    self.unplaced(frame)
                    continue
                self.info = info
            elif function != WRITE_ACK:
                continue  # settings reads, log, permission: valid frames this daemon does not use
            kinds.append(KINDS[function])
        return kinds

    def connect_requests(self) -> list[Request]:
        return [Request(command(CMD_DEVICE_INFO, DEVICE_INFO_ADDRESS, 0x20), "info")]

    def poll_requests(self) -> list[Request]:
        return [Request(command(CMD_STATUS, 0x0000, 0xBE), "status")]

    def sample(self) -> Sample | None:
        status, self._status = self._status, None
        return status

    def switch_requests(self, switch: str, on: bool) -> list[Request]:
        registers = SWITCH_REGISTERS.get(switch)
        if registers is None:
            raise UnsupportedSwitch(f"ANT cannot switch {switch!r}")
        # The 0x61 answer only echoes the register; the status read back says whether the BMS obeyed.
        return [Request(command(CMD_WRITE, registers[0] if on else registers[1]), None), *self.poll_requests()]

    def reset(self) -> None:
        self._framer.reset()
        self._status = None
