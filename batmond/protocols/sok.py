"""SOK batteries with the ABC-BMS (vendor app "ABC-BMS"), current firmware.

Facts from aiobmsble (abc_bms and its captured frames) and batmon-ha (sok.py: the command list and the CRC-8).
Requests are ``EE <cmd> 00 00 00 <crc8>``; every answer is one 20-byte notification ``CC <type> <17 data bytes>
<crc8>``, CRC-8/Maxim (reflected polynomial 0x8C, init 0) over the first 19 bytes. A command is answered by
several frame types: 0xC0 → F1 (model); 0xC1 → F0 (pack) + F2 (MOSFETs, temperatures); 0xC2 → F0 + F3 (heater,
balancer) + one F4 per four cells; 0xC4 → F9 (protections, not sent by every BMS). Values are little-endian.

Older firmware that ends frames with ``w`` (batmon-ha ``sok_legacy``) is not this protocol.
"""

from __future__ import annotations

import dataclasses

from batmond.protocols.base import BleProfile, Codec, Request, StreamFramer, ascii_field, i16le, u16le
from batmond.sample import DeviceInfo, Sample

HEADER = b"\xcc"
FRAME_LENGTH = 20
CMD_NAME, CMD_INFO, CMD_DETAIL, CMD_PROTECTION = 0xC0, 0xC1, 0xC2, 0xC4
PACK, NAME, STATUS, DETAIL, CELLS, PROTECTION = 0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF9
# F5..F8 and FA answer the settings command, which this daemon does not send.
FRAME_TYPES = frozenset(range(0xF0, 0xFB))
CELLS_PER_FRAME = 4
MAX_TEMPERATURES = 6  # sensor values start at byte 5; six fit before the CRC


def crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return crc


def command(cmd: int) -> bytes:
    body = bytes([0xEE, cmd, 0x00, 0x00, 0x00])
    return body + bytes([crc8(body)])


def response(frame_type: int, data: bytes) -> bytes:
    """A 20-byte answer as the BMS sends it (used by the simulator and the tests)."""
    body = bytes([HEADER[0], frame_type]) + data.ljust(FRAME_LENGTH - 3, b"\x00")
    return body + bytes([crc8(body)])


def _frame_length(head: bytes) -> int | None:
    if len(head) < 2:
        return None
    return FRAME_LENGTH if head[1] in FRAME_TYPES else 0


def _valid(frame: bytes) -> bool:
    return crc8(frame[:-1]) == frame[-1]


def u24le(frame: bytes, offset: int) -> int:
    return int.from_bytes(frame[offset : offset + 3], "little")


def i24le(frame: bytes, offset: int) -> int:
    return int.from_bytes(frame[offset : offset + 3], "little", signed=True)


def decode_pack(frame: bytes) -> Sample:
    voltage = u24le(frame, 2) / 1000
    current = i24le(frame, 5) / 1000
    return Sample(
        voltage=voltage,
        current=current,
        capacity=u24le(frame, 8) / 1000,
        charge=u24le(frame, 11) / 1000,
        cycles=u16le(frame, 14),
        soc=float(frame[16]),
    )


def decode_status(frame: bytes) -> tuple[dict[str, bool], tuple[float, ...]]:
    sensors = min(frame[4], MAX_TEMPERATURES)
    temperatures = tuple(float(i16le(frame, 5 + 2 * i)) for i in range(sensors))
    return {"charge": bool(frame[2]), "discharge": bool(frame[3])}, temperatures


def decode_detail(frame: bytes) -> dict[str, bool]:
    """F3: heater (byte 8) and balancer (byte 10) state, as aiobmsble reads them; both read 0 in its capture."""
    return {"heater": bool(frame[8]), "balance": bool(frame[10])}


def decode_cells(frame: bytes) -> dict[int, float]:
    """Up to four ``<index> <mV u16> 00`` entries; index 0 marks an unused slot."""
    cells = {}
    for slot in range(CELLS_PER_FRAME):
        at = 2 + 4 * slot
        if frame[at]:
            cells[frame[at]] = u16le(frame, at + 1) / 1000
    return cells


def decode_protection(frame: bytes) -> int:
    """Sixteen protection flags, one per byte (only the lowest bit of each is used)."""
    return sum((frame[2 + i] & 1) << i for i in range(16))


class SokCodec(Codec):
    type_name = "sok"
    manufacturer = "SOK"
    ble = BleProfile(
        service="0000ffe0-0000-1000-8000-00805f9b34fb",
        notify="0000ffe1-0000-1000-8000-00805f9b34fb",
        write="0000ffe2-0000-1000-8000-00805f9b34fb",
        name_prefixes=("SOK-", "ABC-"),
    )

    def __init__(self, variant: str | None = None) -> None:
        super().__init__(variant)
        self._framer = StreamFramer(HEADER, _frame_length, _valid)
        self._pack: Sample | None = None
        self._switches: dict[str, bool] = {}
        self._detail: dict[str, bool] = {}  # heater and balancer (F3)
        self._temperatures: tuple[float, ...] = ()
        self._cells: dict[int, float] = {}
        self._alarm: int | None = None
        self.info = DeviceInfo(manufacturer="SOK")

    def feed(self, data: bytes) -> list[str]:
        kinds = []
        for frame in self._framer.feed(data):
            frame_type = frame[1]
            if frame_type == PACK:
                self._pack = decode_pack(frame)
            elif frame_type == NAME:
                self.info = dataclasses.replace(self.info or DeviceInfo(), model=ascii_field(frame, 2, 19))
            elif frame_type == STATUS:
                self._switches, self._temperatures = decode_status(frame)
            elif frame_type == DETAIL:
                self._detail = decode_detail(frame)
            elif frame_type == CELLS:
                self._cells.update(decode_cells(frame))
            elif frame_type == PROTECTION:
                self._alarm = decode_protection(frame)
            kinds.append(f"{frame_type:02x}")
        return kinds

    def connect_requests(self) -> list[Request]:
        return [Request(command(CMD_NAME), f"{NAME:02x}")]

    def poll_requests(self) -> list[Request]:
        # Detail first: its cell frames are all in before the answer to the info request that follows. The
        # protection answer is optional (not every BMS sends it), so it is not waited for; it lands next cycle.
        return [
            Request(command(CMD_DETAIL), f"{DETAIL:02x}"),
            Request(command(CMD_INFO), f"{STATUS:02x}"),
            Request(command(CMD_PROTECTION), None),
        ]

    def sample(self) -> Sample | None:
        pack, cells = self._pack, self._cells
        self._pack, self._cells = None, {}
        if pack is None:
            return None
        # A lost cell frame leaves a gap: report no cells rather than cells under the wrong numbers.
        complete = sorted(cells) == list(range(1, len(cells) + 1))
        return dataclasses.replace(
            pack,
            cell_voltages=tuple(cells[i] for i in sorted(cells)) if complete else (),
            temperatures=self._temperatures,
            switches=self._switches | self._detail,
            alarm_code=self._alarm,
        )

    def reset(self) -> None:
        self._framer.reset()
        self._pack = None
        self._cells = {}
