"""JK / Jikong BMS over BLE, the "JK02" protocol (24-cell and 32-cell layouts).

Facts from the public protocol notes of esphome-jk-bms (docs/protocol-design-ble.md) and its captured frames.
Requests are 20 bytes ``AA 55 90 EB <reg> <len> <u32 LE value> 0… <sum>``; answers are 300-byte frames
``55 AA EB 90 <type> <counter> …`` with a mod-256 sum at byte 299. After 0x96 the BMS streams cell-info frames.
"""

from __future__ import annotations

from dataclasses import dataclass

from batmond.protocols.base import (
    BleProfile,
    Codec,
    Request,
    StreamFramer,
    UnsupportedSwitch,
    ascii_field,
    i16le,
    i32le,
    u8,
    u16le,
    u32le,
)
from batmond.sample import DeviceInfo, Sample

RESPONSE_HEADER = bytes.fromhex("55AAEB90")
REQUEST_HEADER = bytes.fromhex("AA5590EB")
FRAME_LENGTH = 300

SETTINGS, CELL_INFO, DEVICE_INFO, LOGBOOK = 0x01, 0x02, 0x03, 0x05
KINDS = {SETTINGS: "settings", CELL_INFO: "cells", DEVICE_INFO: "info"}

CMD_CELL_INFO = 0x96
CMD_DEVICE_INFO = 0x97
SWITCH_REGISTERS = {"charge": 0x1D, "discharge": 0x1E, "balance": 0x1F, "float_charge": 0x30}
# Settings frame: first byte of the u32 switch settings.
SETTINGS_SWITCH_OFFSETS = {"charge": 118, "discharge": 122, "balance": 126}
ABSENT_TEMPERATURE = -2000  # raw value of an unplugged sensor (-200.0 °C)
# How far the frame's own average-cell field may be from the mean of the cells its mask enables: the test that
# tells a 24-cell frame from a 32-cell one without the firmware version. The firmware's field lags the cells (by
# 2.75 mV in an mpp-solar capture); read in the wrong layout, that word is a wire resistance (tens of mΩ) or a
# cell voltage, thousands of mV away.
AVERAGE_TOLERANCE_MV = 50


@dataclass(frozen=True, slots=True)
class Probe:
    """One temperature probe: its i16 (0.1 °C) word, its bit in the frame's probe-present mask, and the first
    firmware major version that fills the word."""

    offset: int
    present_bit: int
    since_firmware: int = 0


@dataclass(frozen=True, slots=True)
class Layout:
    """Byte offsets of the cell-info frame; the 32-cell firmware (>= 11.x) moved most fields."""

    name: str
    first_firmware: int  # the oldest firmware major version with this layout
    cell_slots: int
    cell_mask: int
    cell_average: int
    mosfet: Probe
    probes: tuple[Probe, ...]  # battery probes T1, T2, … in the numbering of the JK app
    probes_present: int
    voltage: int
    current: int
    alarm: int
    alarm_bytes: int
    balance_current: int
    soc: int
    charge: int
    capacity: int
    cycles: int
    soh: int
    charge_mosfet: int
    discharge_mosfet: int


# The probe-present mask (byte 214 in the 32-cell layout) is bit 0 MOSFET, bits 1-5 probes T1-T5, as
# esphome-jk-bms docs/protocol-design-ble.md documents it. aiobmsble reads T5 (byte 254) at bit 3 and T3 (258) at
# bit 5 instead, and in the 24-cell layout T1/T2 at bits 0/1 and the MOSFET at bit 2: every public capture has
# all these bits set, so nothing tells them apart but the document, which batmond follows (the 24-cell mask is
# the same field 32 bytes earlier, like every other field of that block). Byte 254 is T5, not a copy of the
# MOSFET probe as aiobmsble types it: the PB display traffic in esphome-jk-bms (docs/display-protocol/
# traffic3.md) shows "Battery T5" 20.1 °C next to "MOS Temp" 21.7 °C.
LAYOUT_24S = Layout(
    name="24s",
    first_firmware=0,
    cell_slots=24,
    cell_mask=54,
    cell_average=58,
    mosfet=Probe(134, 0),
    probes=(Probe(130, 1), Probe(132, 2)),
    probes_present=182,
    voltage=118,
    current=126,
    alarm=136,
    alarm_bytes=2,
    balance_current=138,
    soc=141,
    charge=142,
    capacity=146,
    cycles=150,
    soh=158,
    charge_mosfet=166,
    discharge_mosfet=167,
)
LAYOUT_32S = Layout(
    name="32s",
    first_firmware=11,
    cell_slots=32,
    cell_mask=70,
    cell_average=74,
    mosfet=Probe(144, 0),
    # T3 and T4 arrived with firmware 14 (the 11.48 capture has zeros there, its mask notwithstanding).
    probes=(Probe(162, 1), Probe(164, 2), Probe(258, 3, 14), Probe(256, 4, 14), Probe(254, 5, 11)),
    probes_present=214,
    voltage=150,
    current=158,
    alarm=166,
    alarm_bytes=4,
    balance_current=170,
    soc=173,
    charge=174,
    capacity=178,
    cycles=182,
    soh=190,
    charge_mosfet=198,
    discharge_mosfet=199,
)
LAYOUTS = {"24s": LAYOUT_24S, "32s": LAYOUT_32S}


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def command(register: int, value: int = 0, length: int = 0) -> bytes:
    body = REQUEST_HEADER + bytes([register, length]) + value.to_bytes(4, "little") + bytes(9)
    return body + bytes([checksum(body)])


def _frame_length(head: bytes) -> int | None:
    # Every frame type is 300 bytes: one of a type batmond does not know still passes the checksum, and is then
    # reported instead of skipped as junk.
    return None if len(head) < 5 else FRAME_LENGTH


def _valid(frame: bytes) -> bool:
    return checksum(frame[:-1]) == frame[-1]


def firmware_major(sw_version: str | None) -> int | None:
    if not sw_version:
        return None
    head = sw_version.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def layout_for(sw_version: str | None) -> Layout | None:
    """The layout a firmware version names (< 11: 24 cells), ``None`` when the version says nothing."""
    major = firmware_major(sw_version)
    if major is None:
        return None
    return LAYOUT_24S if major < LAYOUT_32S.first_firmware else LAYOUT_32S


def fits(frame: bytes, layout: Layout) -> bool:
    """Whether a cell-info frame is self-consistent in ``layout``: a cell mask within its slots, and the frame's
    average-cell field equal to the mean of the cells that mask enables."""
    mask = u32le(frame, layout.cell_mask)
    if mask == 0 or mask >> layout.cell_slots:
        return False
    cells = [u16le(frame, 6 + 2 * i) for i in range(layout.cell_slots) if mask >> i & 1]
    return abs(sum(cells) / len(cells) - u16le(frame, layout.cell_average)) <= AVERAGE_TOLERANCE_MV


def layout_of(frame: bytes, sw_version: str | None) -> Layout | None:
    """The layout of a cell-info frame: the one it fits, the firmware's when it fits both or neither (a frame
    of an empty pack), ``None`` when neither the frame nor a firmware version tells."""
    fitting = [layout for layout in (LAYOUT_24S, LAYOUT_32S) if fits(frame, layout)]
    if len(fitting) == 1:
        return fitting[0]
    return layout_for(sw_version)


def decode_device_info(frame: bytes) -> DeviceInfo:
    return DeviceInfo(
        manufacturer="JK",
        model=ascii_field(frame, 6, 22),
        hw_version=ascii_field(frame, 22, 30),
        sw_version=ascii_field(frame, 30, 38),
        serial=ascii_field(frame, 86, 102),
    )


def decode_settings_switches(frame: bytes) -> dict[str, bool]:
    return {name: bool(frame[offset]) for name, offset in SETTINGS_SWITCH_OFFSETS.items()}


def decode_cell_info(frame: bytes, layout: Layout, firmware: int | None = None) -> Sample:
    mask = u32le(frame, layout.cell_mask)
    cells = tuple(u16le(frame, 6 + 2 * i) / 1000 for i in range(layout.cell_slots) if mask & (1 << i))
    present = frame[layout.probes_present]
    fills = layout.first_firmware if firmware is None else firmware

    def reading(probe: Probe) -> float | None:
        """A probe's value; ``None`` when the frame marks it absent or its word carries the absent value."""
        raw = i16le(frame, probe.offset)
        if not present >> probe.present_bit & 1 or raw == ABSENT_TEMPERATURE:
            return None
        return raw / 10

    temperatures = tuple(
        value for probe in layout.probes if fills >= probe.since_firmware and (value := reading(probe)) is not None
    )
    alarm = u32le(frame, layout.alarm) if layout.alarm_bytes == 4 else u16le(frame, layout.alarm)
    voltage = u32le(frame, layout.voltage) / 1000
    current = i32le(frame, layout.current) / 1000
    return Sample(
        voltage=voltage,
        current=current,
        power=voltage * current,
        soc=float(u8(frame, layout.soc)),
        soh=float(u8(frame, layout.soh)),
        charge=u32le(frame, layout.charge) / 1000,
        capacity=u32le(frame, layout.capacity) / 1000,
        cycles=u32le(frame, layout.cycles),
        cell_voltages=cells,
        temperatures=temperatures,
        mosfet_temperature=reading(layout.mosfet),
        balance_current=i16le(frame, layout.balance_current) / 1000,
        switches={
            "charge": bool(u8(frame, layout.charge_mosfet)),
            "discharge": bool(u8(frame, layout.discharge_mosfet)),
        },
        alarm_code=alarm,
    )


class JkCodec(Codec):
    """``variant``: ``None`` tells the layout from each cell-info frame (and the firmware version where the frame
    alone cannot); ``"24s"``/``"32s"`` force it."""

    type_name = "jk"
    manufacturer = "JK"
    ble = BleProfile(
        service="0000ffe0-0000-1000-8000-00805f9b34fb",
        notify="0000ffe1-0000-1000-8000-00805f9b34fb",
        write="0000ffe1-0000-1000-8000-00805f9b34fb",
        name_prefixes=("JK-", "JK_", "JK"),
    )
    writable_switches = frozenset(SWITCH_REGISTERS) - {"float_charge"}

    def __init__(self, variant: str | None = None) -> None:
        super().__init__(variant)
        if variant is not None and variant not in LAYOUTS:
            raise ValueError(f"unknown JK layout {variant!r} (expected one of {', '.join(LAYOUTS)})")
        self._framer = StreamFramer(RESPONSE_HEADER, _frame_length, _valid)
        self._cell_frame: tuple[bytes, Layout] | None = None
        self._settings: dict[str, bool] = {}
        self.layout: Layout | None = None  # that of the last cell-info frame

    def _layout(self, frame: bytes) -> Layout | None:
        if self.variant is not None:
            return LAYOUTS[self.variant]
        return layout_of(frame, self.info.sw_version if self.info else None)

    @property
    def supports_float_charge(self) -> bool:
        # The float-charge register exists on the PB series only.
        model = (self.info.model or "") if self.info else ""
        return "PB2A16S" in model or "PB1A16S" in model

    def feed(self, data: bytes) -> list[str]:
        kinds = []
        for frame in self._framer.feed(data):
            kind = frame[4]
            if kind == LOGBOOK:
                continue  # the alarm log (request 0xA1), which batmond never asks for
            if kind not in KINDS:
                self.unplaced(frame)
                continue
            if kind == DEVICE_INFO:
                self.info = decode_device_info(frame)
            elif kind == SETTINGS:
                self._settings = decode_settings_switches(frame)
            elif (layout := self._layout(frame)) is None:
                self.unplaced(frame)  # fits neither layout and no firmware version says which
                continue
            else:
                self._cell_frame, self.layout = (frame, layout), layout
            kinds.append(KINDS[kind])
        return kinds

    def connect_requests(self) -> list[Request]:
        return [Request(command(CMD_DEVICE_INFO), "info"), Request(command(CMD_CELL_INFO), "cells")]

    def poll_requests(self) -> list[Request]:
        # The BMS streams cell info by itself; ask again only when nothing fresh has arrived.
        if self._cell_frame is not None:
            return []
        return [Request(command(CMD_CELL_INFO), "cells")]

    def sample(self) -> Sample | None:
        cell_frame, self._cell_frame = self._cell_frame, None
        if cell_frame is None:
            return None
        firmware = firmware_major(self.info.sw_version) if self.info else None
        sample = decode_cell_info(*cell_frame, firmware)
        if self._settings:
            sample.switches["balance"] = self._settings["balance"]
        return sample

    def switch_requests(self, switch: str, on: bool) -> list[Request]:
        register = SWITCH_REGISTERS.get(switch)
        if register is None or (switch == "float_charge" and not self.supports_float_charge):
            raise UnsupportedSwitch(f"JK cannot switch {switch!r}")
        return [Request(command(register, int(on), 4), None), Request(command(CMD_CELL_INFO), "cells")]

    def reset(self) -> None:
        self._framer.reset()
        self._cell_frame = None


class Jk24sCodec(JkCodec):
    type_name = "jk_24s"

    def __init__(self, variant: str | None = None) -> None:
        super().__init__(variant or "24s")


class Jk32sCodec(JkCodec):
    type_name = "jk_32s"

    def __init__(self, variant: str | None = None) -> None:
        super().__init__(variant or "32s")
