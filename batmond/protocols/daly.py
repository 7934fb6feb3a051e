"""Daly "classic" A5 protocol: `daly` over Bluetooth LE, `daly_uart` over RS485/UART.

Facts from the Daly UART/485 protocol notes as used by public projects (dreadnought/python-daly-bms,
fl4p/batmon-ha, Louisvdw/dbus-serialbattery) and public bus captures. Every frame, both ways, is 13 bytes:
``A5 <address> <data id> 08 <8 data bytes> <sum8>``. A request carries the host address (0x80 for the
Bluetooth module; 0x3F + board number on RS485, so 0x40 for the factory board 1); the answer carries the
board number (01). Values are big-endian. Cell voltages (0x95) and temperatures (0x96) come as several frames,
each numbered from 1.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from typing import TYPE_CHECKING

from batmond.protocols.base import (
    BleProfile,
    Codec,
    Request,
    SerialProfile,
    StreamFramer,
    UnsupportedSwitch,
    u16be,
)
from batmond.sample import DeviceInfo, Sample

if TYPE_CHECKING:
    from batmond.config import DeviceConfig

START = 0xA5
DATA_LENGTH = 0x08
FRAME_LENGTH = 13
BLE_HOST = 0x80
# Some Bluetooth modules answer only the RS485 host address (fl4p/batmon-ha issue #416): alternate until one answers.
BLE_HOSTS = (BLE_HOST, 0x40)
BOARD_HOST_BASE = 0x3F  # RS485 host address byte = 0x3F + board number
CURRENT_OFFSET = 30000  # 0x90 current is (raw - 30000) / 10 A, positive while charging
TEMPERATURE_OFFSET = 40

SOC, MINMAX_CELLS, MINMAX_TEMPERATURES, MOSFETS, STATUS = 0x90, 0x91, 0x92, 0x93, 0x94
CELL_VOLTAGES, TEMPERATURES, BALANCE, FAILURES = 0x95, 0x96, 0x97, 0x98
SET_DISCHARGE, SET_CHARGE = 0xD9, 0xDA
KINDS = {
    SOC: "soc", MINMAX_CELLS: "cell_range", MINMAX_TEMPERATURES: "temperature_range", MOSFETS: "mosfets",
    STATUS: "status", CELL_VOLTAGES: "cells", TEMPERATURES: "temperatures", BALANCE: "balance",
    FAILURES: "failures", SET_DISCHARGE: "discharge_switch", SET_CHARGE: "charge_switch",
}  # fmt: skip
SWITCH_COMMANDS = {"charge": SET_CHARGE, "discharge": SET_DISCHARGE}
CELLS_PER_FRAME, TEMPERATURES_PER_FRAME = 3, 7
# Beyond these a frame with a valid checksum is still garbage (a mis-wired bus, another device): never decoded.
MAX_DECIVOLTS, MAX_DECIAMPS, MAX_MAH, MAX_CELL_MV, MAX_RAW_TEMPERATURE = 10_000, 20_000, 99_999_999, 5_000, 190
STATUS_EVERY = 30  # polls between re-reads of 0x94 (cycle count moves slowly; Bluetooth Daly answers slowly)


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def frame(address: int, data_id: int, data: bytes = b"") -> bytes:
    """A 13-byte frame; ``data`` is zero-padded to 8 bytes (the BMS ignores the data of a read)."""
    body = bytes([START, address, data_id, DATA_LENGTH]) + data.ljust(DATA_LENGTH, b"\x00")
    return body + bytes([checksum(body)])


def host_address(board: int | None) -> int:
    """``None`` = the Bluetooth module; a board number = that board on an RS485/UART bus."""
    return BLE_HOST if board is None else BOARD_HOST_BASE + board


def _frame_length(head: bytes) -> int | None:
    if len(head) < 4:
        return None
    return FRAME_LENGTH if head[3] == DATA_LENGTH and head[2] in KINDS else 0


def _valid(candidate: bytes) -> bool:
    return checksum(candidate[:-1]) == candidate[-1]


@dataclasses.dataclass(slots=True)
class _Pieces:
    """The numbered frames of one multi-frame answer (0x95 or 0x96), kept until all expected ones are in."""

    per_frame: int
    count: int = 0  # cells or sensors the BMS said it has (0x94)
    frames: dict[int, bytes] = dataclasses.field(default_factory=dict)

    @property
    def needed(self) -> int:
        return math.ceil(self.count / self.per_frame)

    def add(self, number: int, data: bytes) -> bool:
        """Keep a frame; True when this one completed the set."""
        if not 1 <= number <= self.needed or number in self.frames:
            return False
        self.frames[number] = data
        return len(self.frames) == self.needed


class DalyCodec(Codec):
    """Daly through its Bluetooth module (host address 0x80)."""

    type_name = "daly"
    manufacturer = "Daly"
    ble = BleProfile(
        service="0000fff0-0000-1000-8000-00805f9b34fb",
        notify="0000fff1-0000-1000-8000-00805f9b34fb",
        write="0000fff2-0000-1000-8000-00805f9b34fb",
        name_prefixes=("DL-",),
    )
    writable_switches = frozenset(SWITCH_COMMANDS)

    def __init__(self, variant: str | None = None, board: int | None = None) -> None:
        super().__init__(variant)
        self.board = board
        self.host = host_address(board)
        self._framer = StreamFramer(bytes([START]), _frame_length, _valid)
        self._cells = _Pieces(CELLS_PER_FRAME)
        self._temperatures = _Pieces(TEMPERATURES_PER_FRAME)
        self._soc: tuple[float, float, float] | None = None
        self._mosfets: tuple[float, dict[str, bool]] | None = None
        self._cycles: int | None = None
        self._cell_values: tuple[float, ...] = ()
        self._temperature_values: tuple[float, ...] = ()
        self._polls = 0
        self._answered = False
        self.info = DeviceInfo(manufacturer="Daly")

    def request(self, data_id: int, data: bytes = b"") -> bytes:
        return frame(self.host, data_id, data)

    def feed(self, data: bytes) -> list[str]:
        kinds = []
        for candidate in self._framer.feed(data):
            if not self._from_me(candidate[1]):
                continue
            kind = self._decode(candidate[2], candidate[4:12])
            self._answered = True
            if kind is None:
                self._framer.stats.bad_checksum += 1  # a frame that cannot be true: never decoded
            elif kind:
                kinds.append(kind)
        return kinds

    def _from_me(self, address: int) -> bool:
        # A BLE dongle may echo our own request (host address 0x80 or 0x40) back: that is no answer, and decoding
        # it would read as an empty pack with both MOSFETs off.
        return address not in BLE_HOSTS

    def _decode(self, data_id: int, data: bytes) -> str | None:
        """Take one frame's 8 data bytes; the kind it completed, "" for a partial answer, None if implausible."""
        if data_id == SOC:
            voltage, _, current, soc = struct.unpack(">HHHH", data)
            if soc > 1000 or voltage > MAX_DECIVOLTS or abs(current - CURRENT_OFFSET) > MAX_DECIAMPS:
                return None
            self._soc = (voltage / 10, (current - CURRENT_OFFSET) / 10, soc / 10)
        elif data_id == MOSFETS:
            _, charge, discharge, _, remaining = struct.unpack(">BBBBI", data)
            if remaining > MAX_MAH:
                return None
            self._mosfets = (remaining / 1000, {"charge": bool(charge), "discharge": bool(discharge)})
        elif data_id == STATUS:
            cells, sensors = data[0], data[1]
            if not 1 <= cells <= 48 or sensors > 16:
                return None
            self._cells.count, self._temperatures.count = cells, sensors
            self._cycles = u16be(data, 5)
        elif data_id == CELL_VOLTAGES:
            if any(mv > MAX_CELL_MV for mv in struct.unpack(">3H", data[1:7])):
                return None
            if not self._cells.add(data[0], data[1:7]):
                return ""
            raw = b"".join(self._cells.frames[n] for n in sorted(self._cells.frames))
            values = struct.unpack(f">{len(raw) // 2}H", raw)[: self._cells.count]
            self._cell_values = tuple(mv / 1000 for mv in values)
        elif data_id == TEMPERATURES:
            if max(data[1:8]) > MAX_RAW_TEMPERATURE:
                return None
            if not self._temperatures.add(data[0], data[1:8]):
                return ""
            raw = b"".join(self._temperatures.frames[n] for n in sorted(self._temperatures.frames))
            self._temperature_values = tuple(float(t - TEMPERATURE_OFFSET) for t in raw[: self._temperatures.count])
        return KINDS[data_id]

    def connect_requests(self) -> list[Request]:
        return [Request(self.request(STATUS), "status")]

    def poll_requests(self) -> list[Request]:
        self._polls += 1
        self._cells.frames.clear()
        self._temperatures.frames.clear()
        requests = [Request(self.request(SOC), "soc"), Request(self.request(MOSFETS), "mosfets")]
        if self._cells.count == 0 or self._polls % STATUS_EVERY == 0:
            requests.append(Request(self.request(STATUS), "status"))
        if self._cells.count:
            requests.append(Request(self.request(CELL_VOLTAGES), "cells"))
        if self._temperatures.count:
            requests.append(Request(self.request(TEMPERATURES), "temperatures"))
        return requests

    def sample(self) -> Sample | None:
        soc, self._soc = self._soc, None
        if soc is None:
            return None
        voltage, current, percent = soc
        charge, switches = self._mosfets if self._mosfets is not None else (None, {})
        return Sample(
            voltage=voltage,
            current=current,
            power=voltage * current,
            soc=percent,
            charge=charge,
            cycles=self._cycles,
            cell_voltages=self._cell_values if self._cells.count else (),
            temperatures=self._temperature_values if self._temperatures.count else (),
            switches=dict(switches),
        )

    def switch_requests(self, switch: str, on: bool) -> list[Request]:
        command = SWITCH_COMMANDS.get(switch)
        if command is None:
            raise UnsupportedSwitch(f"Daly cannot switch {switch!r}")
        # The BMS echoes the switch frame; reading 0x93 back gives the state the next publish carries.
        return [
            Request(self.request(command, bytes([int(on)])), KINDS[command]),
            Request(self.request(MOSFETS), "mosfets"),
        ]

    def reset(self) -> None:
        self._framer.reset()
        if self.board is None and not self._answered:
            self.host = BLE_HOSTS[(BLE_HOSTS.index(self.host) + 1) % len(BLE_HOSTS)]
        self._soc = None
        self._cells.frames.clear()
        self._temperatures.frames.clear()


class DalyUartCodec(DalyCodec):
    """Daly over RS485/UART; several boards can share one bus, each configured with its ``board_address``."""

    type_name = "daly_uart"
    ble = None
    serial = SerialProfile(baudrate=9600)

    def __init__(self, variant: str | None = None, board: int | None = 1) -> None:
        super().__init__(variant, board if board is not None else 1)

    @classmethod
    def for_device(cls, device: DeviceConfig) -> Codec:
        return cls(board=device.board_address)

    def connect_requests(self) -> list[Request]:
        # The first poll asks for 0x94 itself: on a shared bus every request must go out in the poller's turn.
        return []

    def _from_me(self, address: int) -> bool:
        # On a shared bus another board's answer is not ours: skip it, counted as junk, never decoded.
        if address == self.board:
            return True
        self._framer.stats.junk_bytes += FRAME_LENGTH
        return False
