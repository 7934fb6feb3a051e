"""Daly "smart BMS" with the newer Modbus-RTU-over-BLE firmware: the "D2" protocol and the "0x81" (p81) one.

Facts from the public register map of esphome-daly-bms (docs/protocol-register-map.md, its 0x81 notes in
docs/protocol-dl81-implementation-plan.md, its component and tests), aiobmsble (bms/daly_bms.py) and batmon-ha
(models/daly2.py). Every value is a u16 big-endian holding register. Both firmware families sit behind the same
GATT service; which one a BMS speaks is told by who answers (D2 is asked first; while nothing has answered,
each poll that times out switches to the other family, as the Daly A5 dongles' host address does):

- **D2** (H/K/M/S series): slave 0xD2 both ways. The poll reads the 62 real-time registers from 0x0000 and,
  unless the BMS has shown it has none, first the 9 registers from 0x3E holding the balance current and the
  MOSFET temperature (aiobmsble's second read; some firmware never answers it). An answer of 80 registers from
  0x0000 (what esphome-daly-bms asks of "blue series" packs) is the same layout, longer, and decodes too. The
  connection reads the version block (0xA9, 32 registers), its first poll the settings (0x80, 41 registers,
  the rated capacity). MOSFETs are switched with write-single-register to 0xA5 (charge) / 0xA6 (discharge),
  value 1 on / 0 off; the BMS echoes the write.
- **p81** (DL series, e.g. ESS-DL-BMS): requests go to slave 0x81, answers come from 0x51. 48 cell slots push
  the layout along: the real-time data is two reads, 64 registers from 0x0000 (a 133-byte answer) and 62 from
  0x41; settings at 0x100, version at 0x178 (74 registers). Its switch registers are not public: no switches.

The answers carry no register address: slave and byte count tell which block an answer is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from batmond.protocols import modbus
from batmond.protocols.base import BleProfile, Codec, Request, UnsupportedSwitch, ascii_field
from batmond.sample import DeviceInfo, Sample

SLAVE = 0xD2
P81_SLAVE, P81_ANSWER = 0x81, 0x51

STATUS_BLOCK = (0x0000, 62)
LONG_STATUS_REGISTERS = 80
MOS_BLOCK = (0x003E, 9)
SETTINGS_BLOCK = (0x0080, 41)
VERSION_BLOCK = (0x00A9, 32)
P81_CELLS_BLOCK = (0x0000, 64)
P81_STATUS_BLOCK = (0x0041, 62)
P81_SETTINGS_BLOCK = (0x0100, 81)  # the block the official app reads (esphome-daly-bms's 0x81 notes)
P81_VERSION_BLOCK = (0x0178, 74)
WRITE_KIND = "write"
# Answer byte count -> kind, per answering slave.
D2_KINDS = {
    2 * STATUS_BLOCK[1]: "status",
    2 * LONG_STATUS_REGISTERS: "status",
    2 * MOS_BLOCK[1]: "mos",
    2 * SETTINGS_BLOCK[1]: "settings",
    2 * VERSION_BLOCK[1]: "version",
}
P81_KINDS = {
    2 * P81_CELLS_BLOCK[1]: "cells",
    2 * P81_STATUS_BLOCK[1]: "status",
    2 * P81_SETTINGS_BLOCK[1]: "settings",
    2 * P81_VERSION_BLOCK[1]: "version",
}

CURRENT_OFFSET = 30000  # 0.1 A; positive = charging
BALANCE_CURRENT_OFFSET = 30000  # 1 mA
# A balance-current register of 0 is no reading (it would be -30 A): esphome-daly-bms's p81 capture holds 0 there,
# aiobmsble's holds 30000 (0 A).
NO_BALANCE_CURRENT = 0
TEMPERATURE_OFFSET = 40  # °C
# A MOSFET temperature register of 0 (−40 °C) or 0xFFFF holds no sensor: aiobmsble switches the read off for both.
NO_SENSOR = (0x0000, 0xFFFF)


@dataclass(frozen=True, slots=True)
class Layout:
    """Register numbers of one firmware family's real-time data (p81 = D2's, pushed by 16 more cell slots)."""

    cells: int
    max_cells: int
    temperatures: int
    voltage: int  # 0.1 V
    current: int
    soc: int  # 0.1 %
    cell_count: int
    temperature_count: int
    remaining: int  # 0.1 Ah
    cycles: int
    balancing: int  # 0 = not balancing
    charge_mosfet: int
    discharge_mosfet: int
    mosfet_temperature: int
    alarms: int | None  # four registers, read as one u64 (big-endian) bit mask
    balance_current: int | None
    max_temperatures: int = 8


D2 = Layout(cells=0x00, max_cells=32, temperatures=0x20, voltage=0x28, current=0x29, soc=0x2A, cell_count=0x31,
            temperature_count=0x32, remaining=0x30, cycles=0x33, balancing=0x34, charge_mosfet=0x35,
            discharge_mosfet=0x36, mosfet_temperature=0x42, alarms=0x3A, balance_current=0x40)  # fmt: skip
# p81's alarm registers use an encoding no source documents: not decoded.
P81 = Layout(cells=0x00, max_cells=48, temperatures=0x30, voltage=0x38, current=0x39, soc=0x3A, cell_count=0x3C,
             temperature_count=0x3D, remaining=0x4B, cycles=0x4C, balancing=0x4D, charge_mosfet=0x52,
             discharge_mosfet=0x53, mosfet_temperature=0x5A, alarms=None, balance_current=0x4E)  # fmt: skip
RATED_CAPACITY = 0  # first register of either settings block, 0.1 Ah

SWITCH_REGISTERS = {"charge": 0x00A5, "discharge": 0x00A6}
# The D2 version block holds NUL-padded strings, software first. Sources disagree on where the hardware string
# starts (byte 16 or 32), and one real answer has a date glued to it: it is the first text after the 16-byte
# software field, at most 16 bytes long.
VERSION_FIELD = 16


def registers_at(start: int, data: bytes) -> dict[int, int]:
    return dict(enumerate(modbus.words(data), start))


def mosfet_temperature(raw: int | None) -> float | None:
    return None if raw is None or raw in NO_SENSOR else float(raw - TEMPERATURE_OFFSET)


def decode_status(registers: dict[int, int], layout: Layout = D2) -> Sample | None:
    """Real-time registers (number -> value) as a Sample; ``None`` when its counts are impossible (garbled)."""
    r = registers
    cell_count, temperature_count = r[layout.cell_count], r[layout.temperature_count]
    if cell_count > layout.max_cells or temperature_count > layout.max_temperatures:
        return None
    voltage = r[layout.voltage] / 10
    current = (r[layout.current] - CURRENT_OFFSET) / 10
    alarms = None
    if layout.alarms is not None:
        alarms = 0
        for register in range(layout.alarms, layout.alarms + 4):
            alarms = alarms << 16 | r[register]
    balance = r.get(layout.balance_current) if layout.balance_current is not None else None
    if balance == NO_BALANCE_CURRENT:
        balance = None
    return Sample(
        voltage=voltage,
        current=current,
        power=voltage * current,
        soc=r[layout.soc] / 10,
        charge=r[layout.remaining] / 10,
        cycles=r[layout.cycles],
        cell_voltages=tuple(r[layout.cells + i] / 1000 for i in range(cell_count)),
        # Offset binary: a raw value below 40 is a temperature below 0 °C.
        temperatures=tuple(float(r[layout.temperatures + i] - TEMPERATURE_OFFSET) for i in range(temperature_count)),
        mosfet_temperature=mosfet_temperature(r.get(layout.mosfet_temperature)),
        balance_current=None if balance is None else (balance - BALANCE_CURRENT_OFFSET) / 1000,
        switches={
            "charge": bool(r[layout.charge_mosfet]),
            "discharge": bool(r[layout.discharge_mosfet]),
            "balance": bool(r[layout.balancing]),
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


def decode_p81_version(data: bytes) -> DeviceInfo:
    # Fixed fields: software 28 bytes, hardware 14, serial 14. Both public answers fit them: esphome-daly-bms's
    # software "41_260321_0323ESS-DL-BMS" / hardware "ESS41_0323", and aiobmsble's, whose software field is full
    # and runs straight into the hardware one ("12_260120_K00TH2.1_103E_30XF" + "DL_HKMS_3.2.E").
    return DeviceInfo(
        manufacturer="Daly",
        sw_version=ascii_field(data, 0, 28),
        hw_version=ascii_field(data, 28, 42),
        serial=ascii_field(data, 42, 56),
    )


def read(block: tuple[int, int], slave: int = SLAVE) -> bytes:
    return modbus.read_request(slave, *block)


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
        self._framer = modbus.RtuFramer(
            SLAVE, frozenset(D2_KINDS) | frozenset(P81_KINDS), writes=True, also=frozenset({P81_ANSWER})
        )
        self._p81 = False  # the family this BMS speaks (a guess until _answered)
        self._answered = False
        # Blocks read once per connection (settings, p81's version): answered, or given up on after a timeout.
        self._once_done: set[str] = set()
        self._once_asked: set[str] = set()
        self._mos: bool | None = None  # whether this D2 BMS answers the MOS block (None: not asked yet)
        self._mos_asked = False
        self._mos_registers: dict[int, int] = {}
        self._cells: dict[int, int] | None = None  # p81's first real-time read, waiting for the second
        self._status: Sample | None = None
        self._capacity: float | None = None
        self.info = DeviceInfo(manufacturer="Daly")

    def feed(self, data: bytes) -> list[str]:
        kinds = []
        for frame in self._framer.feed(data):
            p81 = frame.raw[0] == P81_ANSWER
            self._p81, self._answered = p81, True
            read_kinds = P81_KINDS if p81 else D2_KINDS
            if frame.refused:
                kinds += self._refused(frame.function, read_kinds)
            elif frame.function == modbus.WRITE_SINGLE:
                kinds.append(WRITE_KIND)
            elif (kind := read_kinds.get(len(frame.data))) is None:
                self.unplaced(frame.raw)
            elif self._take(p81, kind, frame.data):
                kinds.append(kind)
        return kinds

    def _refused(self, function: int, read_kinds: dict[int, str]) -> list[str]:
        if function & 0x7F == modbus.WRITE_SINGLE:
            return [f"{WRITE_KIND}-error"]
        if self._mos_asked and self._mos is None:
            # The MOS block is asked first in a poll: a refusal then is the BMS saying it has none.
            self._mos = False
            return ["mos"]
        # An exception answer names the function, not the request: it refuses whatever is pending.
        return [f"{kind}-error" for kind in read_kinds.values()]

    def _take(self, p81: bool, kind: str, data: bytes) -> bool:
        if kind in ("version", "settings"):
            self._once_done.add(kind)
        if kind == "version":
            self.info = decode_p81_version(data) if p81 else decode_version(data)
        elif kind == "settings":
            self._capacity = modbus.words(data)[RATED_CAPACITY] / 10
        elif kind == "mos":
            self._mos_registers = registers_at(MOS_BLOCK[0], data)
            self._mos = mosfet_temperature(self._mos_registers[D2.mosfet_temperature]) is not None
        elif kind == "cells":
            self._cells = registers_at(P81_CELLS_BLOCK[0], data)
        elif p81:
            if self._cells is None:
                return False  # the second read without the first: nothing to pair it with
            status = decode_status(self._cells | registers_at(P81_STATUS_BLOCK[0], data), P81)
            self._cells = None
            return self._keep(status)
        else:
            registers = registers_at(STATUS_BLOCK[0], data)
            if len(registers) == STATUS_BLOCK[1] and self._mos:
                registers = self._mos_registers | registers
            return self._keep(decode_status(registers))
        return True

    def _keep(self, status: Sample | None) -> bool:
        if status is None:
            self._framer.stats.bad_checksum += 1
            return False
        self._status = status
        return True

    def connect_requests(self) -> list[Request]:
        return [Request(read(VERSION_BLOCK), "version")]

    def poll_requests(self) -> list[Request]:
        if self._p81:
            requests = [
                Request(read(P81_CELLS_BLOCK, P81_SLAVE), "cells"),
                Request(read(P81_STATUS_BLOCK, P81_SLAVE), "status"),
            ]
            once = {
                "version": Request(read(P81_VERSION_BLOCK, P81_SLAVE), "version"),
                "settings": Request(read(P81_SETTINGS_BLOCK, P81_SLAVE), "settings"),
            }
        else:
            requests = [Request(read(STATUS_BLOCK), "status")]
            if self._mos is not False:
                self._mos_asked = True
                requests.insert(0, Request(read(MOS_BLOCK), "mos"))
            once = {"settings": Request(read(SETTINGS_BLOCK), "settings")}
        # After the real-time data: a BMS that does not answer them costs one poll, not every poll.
        self._once_asked = {kind for kind in once if kind not in self._once_done}
        return requests + [once[kind] for kind in sorted(self._once_asked)]

    def sample(self) -> Sample | None:
        status, self._status = self._status, None
        if status is None:
            return None
        return dataclasses.replace(status, capacity=self._capacity)

    def switch_requests(self, switch: str, on: bool) -> list[Request]:
        if self._p81:
            raise UnsupportedSwitch("Daly with the 0x81 firmware: its switch registers are not known")
        if switch not in self.writable_switches:
            raise UnsupportedSwitch(f"Daly cannot switch {switch!r}")
        return [
            Request(modbus.write_request(SLAVE, SWITCH_REGISTERS[switch], int(on)), WRITE_KIND),
            Request(read(STATUS_BLOCK), "status"),
        ]

    def reset(self) -> None:
        if self._status is not None:  # the real-time data came: what timed out was a read-once block
            self._once_done |= self._once_asked
        self._framer.reset()
        self._status = None
        self._cells = None
        if self._answered and not self._p81 and self._mos_asked and self._mos is None:
            self._mos = False  # a D2 BMS that answers left the MOS block unanswered: it does not have it
        if not self._answered:
            self._p81 = not self._p81
