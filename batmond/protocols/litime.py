"""LiTime (and Redodo, Power Queen): one status request, one 105-byte answer.

Facts from aiobmsble (redodo_bms and its captured frame), batmon-ha (litime.py), calledit/LiTime_BMS_bluetooth and
dmytro-tsepilov/pq_bms_bluetooth. Frames are ``00 00 <len> 01 <cmd> 55 AA <data> <sum>``: ``len`` counts the bytes
after itself up to, not including, the checksum, which is the low byte of the sum of all bytes before it. Answers
set bit 7 of the command. Values are little-endian.

LiTime packs named ``LT-12…BG-A00`` … ``A06`` speak the E&J ASCII protocol instead (aiobmsble): use ``supervolt``.
"""

from __future__ import annotations

from batmond.protocols.base import BleProfile, Codec, Request, StreamFramer, i16le, i32le, u16le, u32le
from batmond.sample import DeviceInfo, Sample

HEADER = b"\x00\x00"
MARKER = b"\x55\xaa"
CMD_STATUS = 0x13
ANSWER = 0x80
CELL_SLOTS = 16
# Temperatures, i16 little-endian °C (signed: the public captures hold -1 and -2): the cell sensor at 52, the MOSFET
# at 54 (batmon-ha, calledit, pq_bms_bluetooth), and up to three more sensors at 56, 58, 60 (aiobmsble reads all
# five as sensors, and its frame holds -2 at 56).
CELL_TEMPERATURE, MOSFET_TEMPERATURE, EXTRA_TEMPERATURES = 52, 54, (56, 58, 60)
STATUS_LENGTH = 105  # the shortest answer holding every field read here
# Advertised names: LiTime, Redodo, Power Queen (aiobmsble's matcher list).
NAME_PREFIXES = ("L-12", "L-24", "L-51", "LT-51", "P-12", "P-24", "PQ-12", "PQ-24", "R-12", "R-24", "RO-12", "RO-24")


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def frame(cmd: int, data: bytes = b"") -> bytes:
    body = HEADER + bytes([len(data) + 4, 0x01, cmd]) + MARKER + data
    return body + bytes([checksum(body)])


REQUEST_STATUS = frame(CMD_STATUS)


def _frame_length(head: bytes) -> int | None:
    if len(head) < 7:
        return None
    if head[3] != 0x01 or head[5:7] != MARKER:
        return 0
    return head[2] + 4


def _valid(candidate: bytes) -> bool:
    return checksum(candidate[:-1]) == candidate[-1]


def fitted_extras(data: bytes) -> int:
    """How many of the extra sensors the frame shows: up to the last one that is not 0 (an unfitted one reads 0)."""
    readings = [i16le(data, at) for at in EXTRA_TEMPERATURES]
    return max((i + 1 for i, value in enumerate(readings) if value), default=0)


def decode_status(data: bytes, extras: int = 0) -> Sample:
    """``extras``: how many of the extra temperature sensors to report (a sensor at exactly 0 °C reads like none)."""
    voltage = u32le(data, 12) / 1000  # the sum of the cells; bytes 8..11 hold a second, lower reading
    current = i32le(data, 48) / 1000
    return Sample(
        voltage=voltage,
        current=current,
        cell_voltages=tuple(mv / 1000 for i in range(CELL_SLOTS) if (mv := u16le(data, 16 + 2 * i))),
        temperatures=tuple(float(i16le(data, at)) for at in (CELL_TEMPERATURE, *EXTRA_TEMPERATURES[:extras])),
        mosfet_temperature=float(i16le(data, MOSFET_TEMPERATURE)),
        charge=u16le(data, 62) / 100,
        capacity=u16le(data, 64) / 100,
        alarm_code=int.from_bytes(data[76:84], "little"),
        soc=float(u16le(data, 90)),
        soh=float(u32le(data, 92)),
        cycles=u32le(data, 96),
    )


class LitimeCodec(Codec):
    type_name = "litime"
    manufacturer = "LiTime"
    ble = BleProfile(
        service="0000ffe0-0000-1000-8000-00805f9b34fb",
        notify="0000ffe1-0000-1000-8000-00805f9b34fb",
        write="0000ffe2-0000-1000-8000-00805f9b34fb",
        name_prefixes=NAME_PREFIXES,
    )

    def __init__(self, variant: str | None = None) -> None:
        super().__init__(variant)
        self._framer = StreamFramer(HEADER, _frame_length, _valid)
        self._status: Sample | None = None
        # Extra sensors once seen stay reported for the connection, so one reading exactly 0 °C does not drop it
        # (as aiobmsble counts them).
        self._extras = 0
        self.info = DeviceInfo(manufacturer="LiTime")

    def feed(self, data: bytes) -> list[str]:
        kinds = []
        for candidate in self._framer.feed(data):
            if candidate[4] != CMD_STATUS | ANSWER:
                continue  # answers to requests this daemon does not send (version, serial number)
            if len(candidate) < STATUS_LENGTH:
                self.unplaced(candidate)
                continue
            self._extras = max(self._extras, fitted_extras(candidate))
            self._status = decode_status(candidate, self._extras)
            kinds.append("status")
        return kinds

    def poll_requests(self) -> list[Request]:
        return [Request(REQUEST_STATUS, "status")]

    def sample(self) -> Sample | None:
        status, self._status = self._status, None
        return status

    def reset(self) -> None:
        self._framer.reset()
        self._status = None
