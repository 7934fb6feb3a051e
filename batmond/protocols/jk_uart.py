"""JK / Jikong BMS over RS485/UART (GPS port with a TTL-to-RS485 adapter), the "4E 57" protocol, 115200 8N1.

Facts from the register notes of syssi/esphome-jk-bms (components/jk_bms) and captured answers. A frame is
``4E 57 <length u16 BE> <terminal u32> <command> <source> <type> <data…> <record u32> 68 <checksum u32 BE>``:
the length counts everything after the start bytes, the checksum is the sum of all bytes before it (only the
low 16 bits are used). The data is a list of tag/value pairs: 0x79 (cells) carries its own byte count, every
other tag has a fixed width. Values are big-endian.
"""

from __future__ import annotations

import struct

from batmond.protocols.base import Codec, Request, SerialProfile, StreamFramer, u16be
from batmond.sample import DeviceInfo, Sample

START = b"NW"  # 4E 57
END = 0x68
HEADER_LENGTH = 11  # start, length, terminal, command, source, type
TRAILER_LENGTH = 9  # record number, end marker, checksum
MIN_FRAME, MAX_FRAME = HEADER_LENGTH + TRAILER_LENGTH, 1024
READ_ALL, SOURCE_PC, SOURCE_BMS, TYPE_READ, TYPE_REPLY = 0x06, 0x03, 0x00, 0x00, 0x01
CELLS_TAG = 0x79
PACK_VOLTAGE = 0x83
# Widths of the fixed-size tags (esphome-jk-bms register notes). An unknown tag ends the parse: its width is
# unknown, so nothing after it can be located.
TAG_WIDTHS = {
    0x80: 2, 0x81: 2, 0x82: 2, 0x83: 2, 0x84: 2, 0x85: 1, 0x86: 1, 0x87: 2, 0x89: 4, 0x8A: 2, 0x8B: 2, 0x8C: 2,
    **dict.fromkeys(range(0x8E, 0x9D), 2), 0x9D: 1, **dict.fromkeys(range(0x9E, 0xA9), 2), 0xA9: 1, 0xAA: 4,
    0xAB: 1, 0xAC: 1, 0xAD: 2, 0xAE: 1, 0xAF: 1, 0xB0: 2, 0xB1: 1, 0xB2: 10, 0xB3: 1, 0xB4: 8, 0xB5: 4, 0xB6: 4,
    0xB7: 15, 0xB8: 1, 0xB9: 4, 0xBA: 24, 0xC0: 1,
}  # fmt: skip
SIGN_MAGNITUDE_CURRENT = 0x01  # protocol version (tag 0xC0) whose current is bit 15 = charging + 10 mA magnitude
MODE_BITS = {"charge": 0, "discharge": 1, "balance": 2}  # tag 0x8C
# Beyond these a well-framed answer is still garbage: the whole answer is refused, not partly believed.
MAX_CELL_MV, MAX_CAPACITY_AH, MAX_RAW_TEMPERATURE = 5_000, 99_999, 160  # 160 = -60 °C


def checksum(data: bytes) -> int:
    return sum(data) & 0xFFFF


def build_frame(data: bytes, command: int = READ_ALL, source: int = SOURCE_PC, frame_type: int = TYPE_READ) -> bytes:
    """A complete frame around ``data`` (requests; the simulator and tests build answers with it too)."""
    length = HEADER_LENGTH + len(data) + TRAILER_LENGTH - 2
    body = START + struct.pack(">HI3B", length, 0, command, source, frame_type) + data + bytes(4) + bytes([END])
    return body + struct.pack(">I", checksum(body))


READ_ALL_REQUEST = build_frame(b"\x00")  # register 0 = everything


def _frame_length(head: bytes) -> int | None:
    if len(head) < 4:
        return None
    length = u16be(head, 2) + 2
    return length if MIN_FRAME <= length <= MAX_FRAME else 0


def _valid(frame: bytes) -> bool:
    return frame[-5] == END and checksum(frame[:-4]) == u16be(frame, len(frame) - 2)


def parse_tags(data: bytes) -> dict[int, bytes]:
    """Tag -> value bytes, in frame order, up to the first unknown tag or the end of the data."""
    tags: dict[int, bytes] = {}
    position = 0
    while position < len(data):
        tag = data[position]
        if tag == CELLS_TAG:
            if position + 1 >= len(data):
                break
            width = data[position + 1]
            start = position + 2
        elif tag in TAG_WIDTHS:
            width = TAG_WIDTHS[tag]
            start = position + 1
        else:
            break
        if start + width > len(data):
            break
        tags[tag] = data[start : start + width]
        position = start + width
    return tags


def temperature(raw: int) -> float:
    """0…100 is °C; above 100 the value counts down from 0 °C (101 = -1 °C, 140 = -40 °C)."""
    return float(raw if raw <= 100 else 100 - raw)


def current(raw: int, protocol_version: int) -> float | None:
    if protocol_version != SIGN_MAGNITUDE_CURRENT:
        return None  # another encoding we have no capture of: no value rather than a wrong sign
    amps = (raw & 0x7FFF) / 100
    return amps if raw & 0x8000 or amps == 0 else -amps


def _text(value: bytes | None) -> str | None:
    if value is None:
        return None
    text = value.split(b"\x00", 1)[0].decode("ascii", "replace").strip(" _")
    return text or None


def decode_device_info(tags: dict[int, bytes]) -> DeviceInfo:
    return DeviceInfo(manufacturer="JK", model=_text(tags.get(0xBA)), sw_version=_text(tags.get(0xB7)))


def decode_sample(tags: dict[int, bytes]) -> Sample | None:
    """The sample of one read-all answer; ``None`` when it lacks the pack voltage or holds impossible values."""
    if PACK_VOLTAGE not in tags:
        return None

    def word(tag: int) -> int | None:
        value = tags.get(tag)
        return None if value is None else int.from_bytes(value, "big")

    cells_raw = tags.get(CELLS_TAG, b"")
    millivolts = [u16be(cells_raw, i + 1) for i in range(0, len(cells_raw) - 2, 3)]
    raw_temperatures = [raw for tag in (0x80, 0x81, 0x82) if (raw := word(tag)) is not None]
    capacity_raw = word(0xAA)
    if any(mv > MAX_CELL_MV for mv in millivolts) or any(t > MAX_RAW_TEMPERATURE for t in raw_temperatures):
        return None
    if capacity_raw is not None and capacity_raw > MAX_CAPACITY_AH:
        return None
    cells = tuple(mv / 1000 for mv in millivolts)
    voltage = u16be(tags[PACK_VOLTAGE], 0) / 100
    raw_current = word(0x84)
    protocol = word(0xC0)
    amps = (
        None if raw_current is None else current(raw_current, SIGN_MAGNITUDE_CURRENT if protocol is None else protocol)
    )
    mosfet, soc, cycles, modes = word(0x80), word(0x85), word(0x87), word(0x8C)
    if soc is not None and soc > 100:
        return None
    return Sample(
        voltage=voltage,
        current=amps,
        power=None if amps is None else voltage * amps,
        soc=None if soc is None else float(soc),
        capacity=None if capacity_raw is None else float(capacity_raw),
        cycles=cycles,
        cell_voltages=cells,
        temperatures=tuple(temperature(raw) for tag in (0x81, 0x82) if (raw := word(tag)) is not None),
        mosfet_temperature=None if mosfet is None else temperature(mosfet),
        switches={} if modes is None else {name: bool(modes >> bit & 1) for name, bit in MODE_BITS.items()},
        alarm_code=word(0x8B),
    )


class JkUartCodec(Codec):
    type_name = "jk_uart"
    manufacturer = "JK"
    ble = None
    serial = SerialProfile(baudrate=115200)

    def __init__(self, variant: str | None = None) -> None:
        super().__init__(variant)
        self._framer = StreamFramer(START, _frame_length, _valid, max_buffer=2 * MAX_FRAME)
        self._sample: Sample | None = None

    def feed(self, data: bytes) -> list[str]:
        kinds = []
        for frame in self._framer.feed(data):
            tags = parse_tags(frame[HEADER_LENGTH:-TRAILER_LENGTH])
            if PACK_VOLTAGE not in tags:
                self.unplaced(frame)  # well framed, but not a status answer this codec can read
                continue
            sample = decode_sample(tags)
            if sample is None:
                self._framer.stats.bad_checksum += 1  # a status answer whose values are impossible
                continue
            self._sample = sample
            self.info = decode_device_info(tags)
            kinds.append("status")
        return kinds

    def poll_requests(self) -> list[Request]:
        return [Request(READ_ALL_REQUEST, "status")]

    def sample(self) -> Sample | None:
        sample, self._sample = self._sample, None
        return sample

    def reset(self) -> None:
        self._framer.reset()
        self._sample = None
