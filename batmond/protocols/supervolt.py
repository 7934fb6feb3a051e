"""Supervolt (v1, Nordic UART service) and other E&J Technology BMS: the ASCII-hex protocol.

Facts from batmon-ha (bmslib/models/supervolt.py, after BikeAtor/WoMoAtor; issue #139: cells are mV) and aiobmsble's
ej_bms with its captured frames. A frame is ``:`` + hex digits + ``~``: address, command (answers set bit 7),
version, the frame length in characters (``:`` and ``~`` included), data, and a checksum byte that is the inverted
low byte of the sum of the characters between ``:`` and the checksum. Values are big-endian.

Supervolt units with a ``ff00`` service instead of the Nordic UART one (SX series, batmon-ha issue #226) speak the
JBD protocol: configure them as ``jbd``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from batmond.protocols.base import BleProfile, Codec, Request, StreamFramer, u16be
from batmond.sample import DeviceInfo, Sample

START, END = b":", b"~"
CMD_REALTIME, CMD_CAPACITY = 0x02, 0x10
ANSWER = 0x80
REALTIME_LENGTH = 128  # characters; the 140-character variant appends the three capacities (Chins, Metrisun)
CAPACITY_LENGTH = 30
MAX_LENGTH = 512
HEX_DIGITS = frozenset(string.hexdigits.encode())
CELL_SLOTS = 16
TEMPERATURE_OFFSET = 40
# Working-state word (batmon-ha / aiobmsble): bit 12 discharge MOSFET on, bit 13 charge MOSFET on; bits 2..11
# are protections (over-charge, over-discharge, short circuit, temperature).
DISCHARGE_ON, CHARGE_ON, PROBLEM_BITS = 0x1000, 0x2000, 0x0FFC
# WoMoAtor/batmon-ha: the firmware sometimes reports absurd currents; nothing real passes 500 A on these packs.
MAX_PLAUSIBLE_AMPS = 500.0


def checksum(text: bytes) -> int:
    return (sum(text) & 0xFF) ^ 0xFF


def command(cmd: int, version: int, address: int = 0) -> bytes:
    """A request as the vendor app sends it: no data, length 14 characters."""
    body = f"{address:02X}{cmd:02X}{version:02X}000E".encode()
    return START + body + f"{checksum(body):02X}".encode() + END


def frame(cmd: int, data: bytes, version: int = 0x31, address: int = 0) -> bytes:
    """An answer frame as the BMS sends it (used by the simulator and the tests)."""
    length = 1 + 10 + 2 * len(data) + 2 + 1
    body = f"{address:02X}{cmd | ANSWER:02X}{version:02X}{length:04X}".encode() + data.hex().upper().encode()
    return START + body + f"{checksum(body):02X}".encode() + END


REQUEST_REALTIME = command(CMD_REALTIME, 0x50)
REQUEST_CAPACITY = command(CMD_CAPACITY, 0x31)


def _frame_length(head: bytes) -> int | None:
    if len(head) < 11:
        return None
    if not all(c in HEX_DIGITS for c in head[1:11]):
        return 0
    length = int(head[7:11], 16)
    return length if 14 <= length <= MAX_LENGTH and length % 2 == 0 else 0


def _valid(text: bytes) -> bool:
    body = text[1:-3]
    return text.endswith(END) and all(c in HEX_DIGITS for c in text[1:-1]) and checksum(body) == int(text[-3:-1], 16)


@dataclass(frozen=True, slots=True)
class Capacities:
    remaining: float
    full: float
    design: float


def decode_capacities(data: bytes, at: int) -> Capacities:
    return Capacities(u16be(data, at) / 10, u16be(data, at + 2) / 10, u16be(data, at + 4) / 10)


def decode_realtime(data: bytes, capacities: Capacities | None) -> Sample:
    """``data`` is the decoded frame without ``:``/``~`` (address at 0, cells from 12)."""
    cells = tuple(mv / 1000 for i in range(CELL_SLOTS) if (mv := u16be(data, 12 + 2 * i)))
    charging, discharging = u16be(data, 44) / 100, u16be(data, 46) / 100
    current = charging - discharging if max(charging, discharging) <= MAX_PLAUSIBLE_AMPS else None
    state = u16be(data, 52)
    if len(data) >= 69:  # single-frame variant: the capacities follow the SoC
        capacities = decode_capacities(data, 62)
    voltage = sum(cells) if cells else None
    return Sample(
        voltage=voltage,
        current=current,
        soc=float(data[61]),
        cycles=u16be(data, 57),
        charge=capacities.remaining if capacities else None,
        capacity=capacities.design if capacities else None,
        cell_voltages=cells,
        # Only the first of the four sensor bytes is wired on these packs (aiobmsble); the others read 0 °C.
        temperatures=(float(data[48] - TEMPERATURE_OFFSET),),
        switches={"charge": bool(state & CHARGE_ON), "discharge": bool(state & DISCHARGE_ON)},
        alarm_code=state & PROBLEM_BITS,
    )


class SupervoltCodec(Codec):
    type_name = "supervolt"
    manufacturer = "Supervolt"
    ble = BleProfile(
        service="6e400001-b5a3-f393-e0a9-e50e24dcca9e",
        notify="6e400003-b5a3-f393-e0a9-e50e24dcca9e",
        write="6e400002-b5a3-f393-e0a9-e50e24dcca9e",
        name_prefixes=("SV12V", "SV24V"),
    )

    def __init__(self, variant: str | None = None) -> None:
        super().__init__(variant)
        self._framer = StreamFramer(START, _frame_length, _valid)
        self._realtime: bytes | None = None
        self._capacities: Capacities | None = None
        self._single_frame = False
        self.info = DeviceInfo(manufacturer="Supervolt")

    def feed(self, data: bytes) -> list[str]:
        kinds = []
        for text in self._framer.feed(data):
            decoded = bytes.fromhex(text[1:-1].decode("ascii"))
            cmd = decoded[1] & ~ANSWER
            if cmd == CMD_REALTIME and len(text) in (REALTIME_LENGTH, REALTIME_LENGTH + 12):
                self._realtime = decoded
                self._single_frame = len(text) > REALTIME_LENGTH
                kinds.append("realtime")
            elif cmd == CMD_CAPACITY and len(text) == CAPACITY_LENGTH:
                self._capacities = decode_capacities(decoded, 7)
                kinds.append("capacity")
            else:
                self.unplaced(text)  # a well-formed frame of a size or command we cannot read
        return kinds

    def connect_requests(self) -> list[Request]:
        # The first answer tells whether capacities need their own request.
        return [Request(REQUEST_REALTIME, "realtime")]

    def poll_requests(self) -> list[Request]:
        requests = [Request(REQUEST_REALTIME, "realtime")]
        if not self._single_frame:
            requests.append(Request(REQUEST_CAPACITY, "capacity"))
        return requests

    def sample(self) -> Sample | None:
        data, self._realtime = self._realtime, None
        if data is None:
            return None
        return decode_realtime(data, self._capacities)

    def reset(self) -> None:
        self._framer.reset()
        self._realtime = None
