"""Daly "smart BMS" with the newer Modbus-RTU-over-BLE firmware (slave 0xD2, the "D2" protocol).

Facts from the public register map of esphome-daly-bms (docs/protocol-register-map.md, its component and
tests), aiobmsble (bms/daly_bms.py) and batmon-ha (models/daly2.py). Every value is a u16 big-endian holding
register; the poll reads the 62 real-time registers from 0x0000, the connection reads the version block
(0xA9, 32 registers) and the settings block (0x80, 41 registers, for the rated capacity). The answer comes
in one notification (the firmware uses the negotiated MTU). MOSFETs are switched with write-single-register
to 0xA5 (charge) / 0xA6 (discharge), value 1 on / 0 off; the BMS echoes the write.
"""

from __future__ import annotations

import dataclasses

from batmond.protocols import modbus
from batmond.protocols.base import BleProfile, Codec, Request, UnsupportedSwitch, ascii_field
from batmond.sample import DeviceInfo, Sample

SLAVE = 0xD2
STATUS_BLOCK = (0x0000, 62)
SETTINGS_BLOCK = (0x0080, 41)
VERSION_BLOCK = (0x00A9, 32)
# Answers carry no register address: the byte count tells which block an answer is.
READ_KINDS = {2 * STATUS_BLOCK[1]: "status", 2 * SETTINGS_BLOCK[1]: "settings", 2 * VERSION_BLOCK[1]: "version"}
WRITE_KIND = "write"

# Real-time block, register numbers (= word index in the status answer).
CELLS, MAX_CELLS = 0x00, 32
TEMPERATURES, MAX_TEMPERATURES = 0x20, 8
VOLTAGE = 0x28  # 0.1 V
CURRENT = 0x29  # 0.1 A with an offset of 30000; positive = charging
SOC = 0x2A  # 0.1 %
REMAINING = 0x30  # 0.1 Ah
CELL_COUNT = 0x31
TEMPERATURE_COUNT = 0x32
CYCLES = 0x33
BALANCING = 0x34  # 0 = not balancing
CHARGE_MOSFET = 0x35
DISCHARGE_MOSFET = 0x36
ALARMS = 0x3A  # four registers, read as one u64 (big-endian) bit mask
CURRENT_OFFSET = 30000
TEMPERATURE_OFFSET = 40  # °C
# Settings block: the first register is the rated capacity, 0.1 Ah.
RATED_CAPACITY = 0x80

SWITCH_REGISTERS = {"charge": 0x00A5, "discharge": 0x00A6}
# The version block holds NUL-padded strings, software first. Sources disagree on where the hardware string
# starts (byte 16 or 32), and one real answer has a date glued to it: it is the first text after the 16-byte
# software field, at most 16 bytes long.
VERSION_FIELD = 16


def decode_status(registers: tuple[int, ...]) -> Sample | None:
    """The real-time block as a Sample; ``None`` when its counts are impossible (a garbled answer)."""
    cell_count, temperature_count = registers[CELL_COUNT], registers[TEMPERATURE_COUNT]
    if cell_count > MAX_CELLS or temperature_count > MAX_TEMPERATURES:
        return None
    voltage = registers[VOLTAGE] / 10
    current = (registers[CURRENT] - CURRENT_OFFSET) / 10
    alarms = 0
    for word in registers[ALARMS : ALARMS + 4]:
        alarms = alarms << 16 | word
    return Sample(
        voltage=voltage,
        current=current,
        power=voltage * current,
        soc=registers[SOC] / 10,
        charge=registers[REMAINING] / 10,
        cycles=registers[CYCLES],
        cell_voltages=tuple(mv / 1000 for mv in registers[CELLS : CELLS + cell_count]),
        temperatures=tuple(
            float(raw - TEMPERATURE_OFFSET) for raw in registers[TEMPERATURES : TEMPERATURES + temperature_count]
        ),
        switches={
            "charge": bool(registers[CHARGE_MOSFET]),
            "discharge": bool(registers[DISCHARGE_MOSFET]),
            "balance": bool(registers[BALANCING]),
        },
        alarm_code=alarms,
    )


def decode_version(data: bytes) -> DeviceInfo:
    hardware_at = VERSION_FIELD + len(data[VERSION_FIELD:]) - len(data[VERSION_FIELD:].lstrip(b"\x00"))
    return DeviceInfo(
        manufacturer="Daly",
        sw_version=ascii_field(data, 0, VERSION_FIELD),
        hw_version=ascii_field(data, hardware_at, hardware_at + VERSION_FIELD),
    )


def read(block: tuple[int, int]) -> bytes:
    return modbus.read_request(SLAVE, *block)


class Daly2Codec(Codec):
    type_name = "daly2"
    manufacturer = "Daly"
    ble = BleProfile(
        service="0000fff0-0000-1000-8000-00805f9b34fb",
        notify="0000fff1-0000-1000-8000-00805f9b34fb",
        write="0000fff2-0000-1000-8000-00805f9b34fb",
        name_prefixes=("DL-",),
    )
    writable_switches = frozenset(SWITCH_REGISTERS)

    def __init__(self, variant: str | None = None) -> None:
        super().__init__(variant)
        self._framer = modbus.RtuFramer(SLAVE, frozenset(READ_KINDS), writes=True)
        self._status: Sample | None = None
        self._capacity: float | None = None
        self.info = DeviceInfo(manufacturer="Daly")

    def feed(self, data: bytes) -> list[str]:
        kinds = []
        for frame in self._framer.feed(data):
            if frame.refused:
                # An exception answer names the function, not the request: it refuses whatever is pending.
                refused = [WRITE_KIND] if frame.function & 0x7F == modbus.WRITE_SINGLE else READ_KINDS.values()
                kinds += [f"{kind}-error" for kind in refused]
            elif frame.function == modbus.WRITE_SINGLE:
                kinds.append(WRITE_KIND)
            elif (kind := READ_KINDS.get(len(frame.data))) is None:
                self.unplaced(frame.raw)
            elif self._take(kind, frame.data):
                kinds.append(kind)
        return kinds

    def _take(self, kind: str, data: bytes) -> bool:
        if kind == "status":
            status = decode_status(modbus.words(data))
            if status is None:
                self._framer.stats.bad_checksum += 1
                return False
            self._status = status
        elif kind == "settings":
            self._capacity = modbus.words(data)[RATED_CAPACITY - SETTINGS_BLOCK[0]] / 10
        else:
            self.info = decode_version(data)
        return True

    def connect_requests(self) -> list[Request]:
        return [Request(read(VERSION_BLOCK), "version"), Request(read(SETTINGS_BLOCK), "settings")]

    def poll_requests(self) -> list[Request]:
        return [Request(read(STATUS_BLOCK), "status")]

    def sample(self) -> Sample | None:
        status, self._status = self._status, None
        if status is None:
            return None
        return dataclasses.replace(status, capacity=self._capacity)

    def switch_requests(self, switch: str, on: bool) -> list[Request]:
        if switch not in self.writable_switches:
            raise UnsupportedSwitch(f"Daly cannot switch {switch!r}")
        return [
            Request(modbus.write_request(SLAVE, SWITCH_REGISTERS[switch], int(on)), WRITE_KIND),
            Request(read(STATUS_BLOCK), "status"),
        ]

    def reset(self) -> None:
        self._framer.reset()
        self._status = None
