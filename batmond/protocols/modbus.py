"""Modbus RTU pieces shared by the BMS that speak it over BLE: CRC, request builders, a stream framer.

Not a protocol of its own (no Codec here). Frames are ``<slave> <function> … <CRC-16/MODBUS, little-endian>``:
a read-holding-registers (0x03) answer is ``<slave> 03 <byte count> <data> <crc>``, a write-single-register
(0x06) answer echoes the 8-byte request, and a refusal is ``<slave> <function | 0x80> <code> <crc>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from batmond.protocols.base import FrameStats

READ_HOLDING = 0x03
WRITE_SINGLE = 0x06
EXCEPTION_FLAG = 0x80
# Standard exception codes are 1..11; anything else after a function | 0x80 byte is not a refusal.
EXCEPTION_CODES = range(0x01, 0x0C)


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes | bytearray) -> int:
    """CRC-16/MODBUS (reflected poly 0x8005, init 0xFFFF). Over a frame including its CRC it yields 0."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def with_crc(body: bytes) -> bytes:
    return body + crc16(body).to_bytes(2, "little")


def read_request(slave: int, start: int, count: int) -> bytes:
    return with_crc(bytes([slave, READ_HOLDING]) + start.to_bytes(2, "big") + count.to_bytes(2, "big"))


def write_request(slave: int, register: int, value: int) -> bytes:
    return with_crc(bytes([slave, WRITE_SINGLE]) + register.to_bytes(2, "big") + value.to_bytes(2, "big"))


def read_response(slave: int, data: bytes) -> bytes:
    """A read answer as a device sends it (used by the simulators and the tests)."""
    return with_crc(bytes([slave, READ_HOLDING, len(data)]) + data)


def exception_response(slave: int, function: int, code: int) -> bytes:
    return with_crc(bytes([slave, function | EXCEPTION_FLAG, code]))


def words(data: bytes) -> tuple[int, ...]:
    """Register values (u16 big-endian) of a read answer's data."""
    return tuple(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2))


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """A request as a simulated device reads it."""

    slave: int
    function: int
    address: int
    value: int  # register count for reads, the value for single writes


def parse_request(data: bytes) -> ParsedRequest | None:
    if len(data) != 8 or crc16(data) != 0:
        return None
    return ParsedRequest(data[0], data[1], int.from_bytes(data[2:4], "big"), int.from_bytes(data[4:6], "big"))


@dataclass(frozen=True, slots=True)
class Frame:
    """One answer: ``data`` holds the register bytes (0x03), register + value (0x06) or the exception code.

    ``raw`` is the whole frame as received (what a report of an answer the codec cannot place shows).
    """

    function: int
    data: bytes
    raw: bytes

    @property
    def refused(self) -> bool:
        return bool(self.function & EXCEPTION_FLAG)


@dataclass(slots=True)
class RtuFramer:
    """Cuts a notification stream into Modbus RTU answers from one slave.

    Modbus has no start magic, so a frame start is a position where the slave address, a function this
    device answers and (for reads) a byte count line up, and the CRC decides. A read answer of a byte count the
    codec did not ask for is a frame only if its CRC holds (a firmware that answers with another layout: the
    codec reports it as unplaced); failing its CRC it was junk that looked like a start, not a bad frame. Junk that
    happens to look like a start can hide a real frame behind it until enough bytes arrive to check the
    false one's CRC; to deliver the real frame at once, the framer also looks past such an incomplete
    candidate for a complete frame whose CRC holds.
    """

    slave: int
    byte_counts: frozenset[int]  # of the read answers the codec asks for
    writes: bool = False  # whether 0x06 echoes are expected
    also: frozenset[int] = frozenset()  # further slave addresses that answer (Daly's 0x81 firmware answers as 0x51)
    stats: FrameStats = field(default_factory=FrameStats)
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while (frame := self._next()) is not None:
            frames.append(frame)
        return frames

    def reset(self) -> None:
        """Forget a partial frame (after a timeout or a reconnect), counting it as junk."""
        self._drop(len(self._buffer))

    def _length(self, start: int) -> int | None:
        """Frame length at ``start``; ``None`` while the header is incomplete, 0 when no frame starts there."""
        buffer = self._buffer
        available = len(buffer) - start
        if buffer[start] != self.slave and buffer[start] not in self.also:
            return 0
        if available < 2:
            return None
        function = buffer[start + 1]
        if function == WRITE_SINGLE:
            return 8 if self.writes else 0
        if function not in (READ_HOLDING, READ_HOLDING | EXCEPTION_FLAG, WRITE_SINGLE | EXCEPTION_FLAG):
            return 0
        if function == WRITE_SINGLE | EXCEPTION_FLAG and not self.writes:
            return 0
        if available < 3:
            return None
        if function == READ_HOLDING:
            return buffer[start + 2] + 5
        return 5 if buffer[start + 2] in EXCEPTION_CODES else 0

    def _next(self) -> Frame | None:
        buffer = self._buffer
        pending: int | None = None  # first position that may still become a frame
        start = 0
        while start < len(buffer):
            length = self._length(start)
            if length == 0:
                start += 1
                continue
            if length is None or start + length > len(buffer):
                if pending is None:
                    pending = start
                if length is None:  # a header cut at the end of the buffer: nothing can follow it yet
                    break
                start += 1
                continue
            if crc16(buffer[start : start + length]) == 0:
                self._drop(start)
                raw = bytes(buffer[:length])
                frame = Frame(raw[1], raw[3 if raw[1] == READ_HOLDING else 2 : -2], raw)
                del buffer[:length]
                self.stats.frames += 1
                return frame
            if buffer[start + 1] == READ_HOLDING and buffer[start + 2] not in self.byte_counts:
                start += 1  # an unasked byte count with a wrong CRC: junk, not a damaged answer
                continue
            if pending is None:
                # Only the earliest candidate is judged, so each bad frame is counted once.
                self.stats.bad_checksum += 1
                self._drop(start + 1)
                start = 0
                continue
            start += 1
        # A pending candidate is at most 260 bytes long (byte count <= 255), so the buffer stays bounded.
        self._drop(len(buffer) if pending is None else pending)
        return None

    def _drop(self, count: int) -> None:
        if count > 0:
            self.stats.junk_bytes += count
            del self._buffer[:count]
