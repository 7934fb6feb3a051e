"""JK02 codec against real captures (tests/captures/jk02_24s.py and jk02_32s.py name the public source of every
frame)."""

from __future__ import annotations

import random

import pytest
from captures import jk02_24s as jk24
from captures import jk02_32s as jk32

from batmond.protocols import jk
from batmond.protocols.jk import JkCodec

CELL_CAPTURES = [
    # (frame, expected, device-info frame that names the firmware)
    ("24s_v10", jk24.JK02_24S_V10_CELL_INFO, jk24.JK02_24S_V10_CELL_INFO_EXPECTED, jk24.JK02_24S_V10_DEVICE_INFO),
    ("24s_v10_neg", jk24.JK02_24S_V10_CELL_INFO_NEG_TEMPS, jk24.JK02_24S_V10_CELL_INFO_NEG_TEMPS_EXPECTED,
     jk24.JK02_24S_V10_DEVICE_INFO),
    ("24s_sw1008", jk24.JK02_24S_SW1008_CELL_INFO, jk24.JK02_24S_SW1008_CELL_INFO_EXPECTED,
     jk24.JK02_24S_SW1008_DEVICE_INFO),
    ("32s_sw1148", jk32.JK02_32S_SW1148_CELL_INFO, jk32.JK02_32S_SW1148_CELL_INFO_EXPECTED,
     jk32.JK02_32S_SW1148_DEVICE_INFO),
    ("32s_v11", jk32.JK02_32S_V11_CELL_INFO, jk32.JK02_32S_V11_CELL_INFO_EXPECTED, jk32.JK02_32S_V11_DEVICE_INFO),
    ("32s_v14", jk32.JK02_32S_V14_CELL_INFO, jk32.JK02_32S_V14_CELL_INFO_EXPECTED, jk32.JK02_32S_V14_DEVICE_INFO),
    ("32s_v15", jk32.JK02_32S_V15_CELL_INFO, jk32.JK02_32S_V15_CELL_INFO_EXPECTED, jk32.JK02_32S_V15_DEVICE_INFO),
    ("32s_v15_aiobmsble", jk32.JK02_32S_V15_AIOBMSBLE_CELL_INFO, jk32.JK02_32S_V15_AIOBMSBLE_CELL_INFO_EXPECTED,
     jk32.JK02_32S_SW1538_DEVICE_INFO),
    ("32s_sw1905", jk32.JK02_32S_V15_AIOBMSBLE_CELL_INFO, jk32.JK02_32S_V15_AIOBMSBLE_CELL_INFO_EXPECTED,
     jk32.JK02_32S_SW1905_DEVICE_INFO),
    ("32s_v19", jk32.JK02_32S_V19_CELL_INFO, jk32.JK02_32S_V19_CELL_INFO_EXPECTED, jk32.JK02_32S_V19_DEVICE_INFO),
    ("32s_sw1927", jk32.JK02_32S_SW1927_CELL_INFO, jk32.JK02_32S_SW1927_CELL_INFO_EXPECTED,
     jk32.JK02_32S_SW1927_DEVICE_INFO),
]  # fmt: skip


def decode(info: bytes, cells: bytes, variant: str | None = None):
    codec = JkCodec(variant)
    assert codec.feed(info) == ["info"]
    assert codec.feed(cells) == ["cells"]
    return codec, codec.sample()


@pytest.mark.parametrize(("name", "frame", "expected", "info"), CELL_CAPTURES, ids=[c[0] for c in CELL_CAPTURES])
def test_cell_info_decodes_every_field(name, frame, expected, info):
    codec, sample = decode(info, frame)
    assert sample.voltage == pytest.approx(expected["voltage"])
    assert sample.current == pytest.approx(expected["current"])  # + = charging, as the BMS reports it
    assert sample.power == pytest.approx(expected["voltage"] * expected["current"])
    assert sample.soc == expected["soc"]
    assert sample.soh == expected["soh"]
    assert [round(v * 1000) for v in sample.cell_voltages] == expected["cell_voltages_mv"]
    assert len(sample.cell_voltages) == expected["cell_count"]
    assert sample.mosfet_temperature == pytest.approx(expected["mosfet_temperature"])
    assert sample.charge == pytest.approx(expected["charge_ah"])
    assert sample.capacity == pytest.approx(expected["capacity_ah"])
    assert sample.cycles == expected["cycles"]
    assert sample.balance_current == pytest.approx(expected["balance_current"])
    assert sample.switches["charge"] is expected["charge_mosfet"]
    assert sample.switches["discharge"] is expected["discharge_mosfet"]
    assert sample.alarm_code == expected["error_mask"]
    assert list(sample.temperatures) == pytest.approx(published_probes(codec, expected))


def published_probes(codec: JkCodec, expected: dict) -> list[float]:
    """T1, T2 and, on the 32-cell layout, T3 (byte 258) and T4 (256) from firmware 14 and T5 (254) from 11."""
    probes = list(expected["temperatures"])
    if codec.layout is jk.LAYOUT_32S:
        t5, t4, t3 = expected["temps_254_256_258"]
        probes += [t3, t4, t5] if jk.firmware_major(codec.info.sw_version) >= 14 else [t5]
    return probes


@pytest.mark.parametrize(("name", "frame", "expected", "info"), CELL_CAPTURES, ids=[c[0] for c in CELL_CAPTURES])
def test_layout_is_told_by_the_cell_frame_alone(name, frame, expected, info):
    # No device-info frame (lost, or a BMS that never answers 0x97): the frame's own average-cell field tells
    # which cell mask is the real one.
    codec = JkCodec()
    assert codec.feed(frame) == ["cells"]
    sample = codec.sample()
    assert codec.layout.name == name[:3]
    assert [round(v * 1000) for v in sample.cell_voltages] == expected["cell_voltages_mv"]
    assert sample.voltage == pytest.approx(expected["voltage"])
    assert list(sample.temperatures[:2]) == pytest.approx(expected["temperatures"])


@pytest.mark.parametrize(
    ("frame", "expected", "layout"),
    [
        (jk32.JK02_32S_MPP_SOLAR_CELL_INFO_0, jk32.JK02_32S_MPP_SOLAR_CELL_INFO_0_EXPECTED, "32s"),
        (jk32.JK02_32S_MPP_SOLAR_CELL_INFO_1, jk32.JK02_32S_MPP_SOLAR_CELL_INFO_1_EXPECTED, "32s"),
        (jk24.JK02_24S_MPP_SOLAR_CELL_INFO, jk24.JK02_24S_MPP_SOLAR_CELL_INFO_EXPECTED, "24s"),
        (jk24.JK02_24S_MPP_SOLAR_14S_CELL_INFO_0, jk24.JK02_24S_MPP_SOLAR_14S_CELL_INFO_0_EXPECTED, "24s"),
        (jk24.JK02_24S_MPP_SOLAR_14S_CELL_INFO_1, jk24.JK02_24S_MPP_SOLAR_14S_CELL_INFO_1_EXPECTED, "24s"),
    ],
    ids=["mpp_32s_0", "mpp_32s_1", "mpp_24s", "mpp_24s_14s_0", "mpp_24s_14s_1"],
)
def test_frames_published_without_their_device_info(frame, expected, layout):
    # mpp-solar's test responses come without a device-info frame: the layout is the frame's own.
    codec = JkCodec()
    assert codec.feed(frame) == ["cells"]
    sample = codec.sample()
    assert codec.layout.name == layout
    assert [round(v * 1000) for v in sample.cell_voltages] == expected["cell_voltages_mv"]
    assert sample.voltage == pytest.approx(expected["voltage"])
    assert sample.current == pytest.approx(expected["current"])
    assert (sample.soc, sample.cycles, sample.capacity) == (
        expected["soc"],
        expected["cycles"],
        expected["capacity_ah"],
    )
    assert list(sample.temperatures[:2]) == pytest.approx(expected["temperatures"])
    assert sample.mosfet_temperature == pytest.approx(expected["mosfet_temperature"])


def test_a_cell_frame_that_fits_no_layout_is_reported_not_guessed():
    edited = bytearray(jk32.JK02_32S_V19_CELL_INFO)
    edited[74:76] = (1000).to_bytes(2, "little")  # an average-cell field that fits neither cell mask
    edited[299] = jk.checksum(edited[:299])
    codec = JkCodec()
    assert codec.feed(bytes(edited)) == []
    assert codec.stats.unplaced == 1
    assert codec.take_unplaced() == [bytes(edited)]
    assert codec.sample() is None
    codec.feed(jk32.JK02_32S_V19_DEVICE_INFO)  # the firmware version says 32 cells: decoded
    assert codec.feed(bytes(edited)) == ["cells"]
    assert codec.sample().voltage == pytest.approx(54.028)


def test_frames_of_other_types_are_skipped_or_reported():
    codec = JkCodec()
    assert codec.feed(jk32.JK02_32S_LOGBOOK) == []  # a known frame batmond does not use
    assert (codec.stats.frames, codec.stats.unplaced, codec.stats.bad_checksum) == (1, 0, 0)
    unknown = bytearray(jk32.JK02_32S_V19_CELL_INFO)
    unknown[4] = 0x07  # a frame type no source describes, checksum intact
    unknown[299] = jk.checksum(unknown[:299])
    assert codec.feed(bytes(unknown) + jk32.JK02_32S_V19_CELL_INFO) == ["cells"]
    assert codec.take_unplaced() == [bytes(unknown)]
    assert codec.stats.junk_bytes == 0


def test_probes_marked_absent_are_not_published():
    # aiobmsble's test_hide_temp_sensors edit: T1 holds the absent value, T2 still reads 12.8 °C but its bit in
    # the probe-present mask (byte 214) is clear. Both go; the MOSFET probe and T3-T5 stay.
    _codec, sample = decode(jk32.JK02_32S_SW1538_DEVICE_INFO, jk32.JK02_32S_V15_AIOBMSBLE_T1_T2_HIDDEN)
    assert list(sample.temperatures) == pytest.approx([19.1, 19.5, 20.5])
    assert sample.mosfet_temperature == pytest.approx(12.9)
    _codec, sample = decode(jk32.JK02_32S_SW1927_DEVICE_INFO, jk32.JK02_32S_SW1927_T1_T2_HIDDEN)
    assert list(sample.temperatures) == pytest.approx([24.0, 24.5, 26.2])


def test_24s_probe_mask_follows_the_protocol_document():
    # The same edit on the 24-cell frame (mask 0x03, T2 absent by value): aiobmsble reads bit 2 as the MOSFET
    # probe and drops it; the protocol document makes bit 0 the MOSFET probe and bit 2 T2 (a listed disagreement).
    _codec, sample = decode(jk24.JK02_24S_SW1008_DEVICE_INFO, jk24.JK02_24S_SW1008_T2_HIDDEN)
    assert list(sample.temperatures) == pytest.approx([18.1])
    assert sample.mosfet_temperature == pytest.approx(22.8)
    cleared = bytearray(jk24.JK02_24S_SW1008_CELL_INFO)
    cleared[182] = 0b110  # MOSFET probe marked absent: no MOSFET temperature, T1 and T2 stay
    cleared[299] = jk.checksum(cleared[:299])
    _codec, sample = decode(jk24.JK02_24S_SW1008_DEVICE_INFO, bytes(cleared))
    assert sample.mosfet_temperature is None
    assert list(sample.temperatures) == pytest.approx([18.1, 18.6])


def test_probes_holding_the_absent_value_are_not_published():
    # batmon-ha issue #377 (SW 19.04): T3/T4 read -200.0 °C, the mask notwithstanding; T5 (byte 254) is fitted.
    expected = jk32.JK02_32S_SW1904_CELL_INFO_EXPECTED
    codec, sample = decode(jk32.JK02_32S_SW1904_DEVICE_INFO, jk32.JK02_32S_SW1904_CELL_INFO)
    assert codec.info.model == jk32.JK02_32S_SW1904_DEVICE_INFO_EXPECTED["model"]
    assert sample.voltage == pytest.approx(expected["voltage"])
    assert [round(v * 1000) for v in sample.cell_voltages] == expected["cell_voltages_mv"]
    assert (sample.soc, sample.soh, sample.cycles) == (expected["soc"], expected["soh"], expected["cycles"])
    assert sample.charge == pytest.approx(expected["charge_ah"])
    assert list(sample.temperatures) == pytest.approx([27.7, 27.5, 29.6])
    assert sample.mosfet_temperature == pytest.approx(29.6)


def test_probes_below_zero_keep_their_sign():
    # esphome-jk-bms's NEG_TEMPS capture: T1 -3.1 °C, T2 -2.9 °C (i16 words 0xFFE1 / 0xFFE3).
    _codec, sample = decode(jk24.JK02_24S_V10_DEVICE_INFO, jk24.JK02_24S_V10_CELL_INFO_NEG_TEMPS)
    assert list(sample.temperatures) == pytest.approx([-3.1, -2.9])
    below = bytearray(jk32.JK02_32S_V19_CELL_INFO)
    for offset, raw in ((144, -105), (254, -1), (256, -200), (258, -399)):
        below[offset : offset + 2] = raw.to_bytes(2, "little", signed=True)
    below[299] = jk.checksum(below[:299])
    _codec, sample = decode(jk32.JK02_32S_V19_DEVICE_INFO, bytes(below))
    assert sample.mosfet_temperature == pytest.approx(-10.5)
    assert list(sample.temperatures) == pytest.approx([11.9, 12.7, -39.9, -20.0, -0.1])


@pytest.mark.parametrize(
    ("info", "expected", "layout"),
    [
        (jk24.JK02_24S_V10_DEVICE_INFO, jk24.JK02_24S_V10_DEVICE_INFO_EXPECTED, "24s"),
        (jk32.JK02_32S_V19_DEVICE_INFO, jk32.JK02_32S_V19_DEVICE_INFO_EXPECTED, "32s"),
        (jk32.JK02_32S_SW1148_DEVICE_INFO, jk32.JK02_32S_SW1148_DEVICE_INFO_EXPECTED, "32s"),
    ],
)
def test_device_info_selects_layout(info, expected, layout):
    codec = JkCodec()
    codec.feed(info)
    assert codec.info.model == expected["model"]
    assert codec.info.sw_version == expected["sw_version"]
    assert codec.info.hw_version == expected["hw_version"]
    assert codec.info.serial == expected["serial_number"]
    assert jk.layout_for(codec.info.sw_version).name == layout


def test_forced_layout_overrides_autodetection():
    codec = JkCodec("24s")
    codec.feed(jk32.JK02_32S_V19_DEVICE_INFO)
    codec.feed(jk32.JK02_32S_V19_CELL_INFO)
    assert codec.layout is jk.LAYOUT_24S
    with pytest.raises(ValueError, match="unknown JK layout"):
        JkCodec("16s")


def test_settings_frame_gives_balance_switch():
    codec = JkCodec()
    codec.feed(jk32.JK02_32S_V19_DEVICE_INFO)
    assert codec.feed(jk32.JK02_32S_V19_SETTINGS) == ["settings"]
    codec.feed(jk32.JK02_32S_V19_CELL_INFO)
    sample = codec.sample()
    assert sample.switches["balance"] is jk32.JK02_32S_V19_SETTINGS_EXPECTED["balancer_switch"]


def test_request_and_switch_frames_match_the_protocol_notes():
    # Frames as printed in the JK02 protocol notes (esphome-jk-bms docs/protocol-design-ble.md).
    assert jk.command(0x96).hex() == "aa5590eb96000000000000000000000000000010"
    assert jk.command(0x97).hex() == "aa5590eb97000000000000000000000000000011"
    codec = JkCodec()
    charge_on = codec.switch_requests("charge", True)[0].data
    charge_off = codec.switch_requests("charge", False)[0].data
    assert charge_on.hex() == "aa5590eb1d0401000000000000000000000000" + "9c"
    assert charge_off[-1] == 0x9B and charge_off[6] == 0
    assert codec.switch_requests("discharge", True)[0].data[4] == 0x1E
    assert codec.switch_requests("balance", False)[0].data[4] == 0x1F
    with pytest.raises(jk.UnsupportedSwitch):
        codec.switch_requests("float_charge", True)  # not a PB model
    codec.feed(jk32.JK02_32S_V19_DEVICE_INFO)  # JK-PB2A16S20P
    assert codec.switch_requests("float_charge", True)[0].data[4] == 0x30


def test_framer_reassembles_split_merged_and_junk_interleaved_notifications():
    stream = (
        b"AT\r\n" + jk32.JK02_32S_V19_DEVICE_INFO + jk24.JK02_READY_ACK_WITH_AT
        + jk32.JK02_32S_V19_CELL_INFO + jk32.JK02_32S_V19_CELL_INFO + b"\x00\x55\xaa"
    )  # fmt: skip
    rng = random.Random(7)
    for _ in range(50):
        codec = JkCodec()
        kinds: list[str] = []
        position = 0
        while position < len(stream):
            size = rng.choice((1, 3, 20, 64, 182, 244, 400))
            kinds += codec.feed(stream[position : position + size])
            position += size
        assert kinds == ["info", "cells", "cells"]
        assert codec.stats.frames == 3
        assert codec.stats.bad_checksum == 0
        assert codec.sample().voltage == pytest.approx(54.028)


def test_device_info_with_trailer_from_firmware_19_05():
    codec = JkCodec()
    assert codec.feed(jk32.JK02_32S_SW1905_DEVICE_INFO_WITH_TRAILER) == ["info"]
    assert codec.info.sw_version == jk32.JK02_32S_SW1905_DEVICE_INFO_EXPECTED["sw_version"]


def test_bad_checksum_is_dropped_and_counted_and_the_next_frame_still_decodes():
    corrupt = bytearray(jk32.JK02_32S_V19_CELL_INFO)
    corrupt[150] ^= 0x40  # voltage byte
    codec = JkCodec()
    codec.feed(jk32.JK02_32S_V19_DEVICE_INFO)
    assert codec.feed(bytes(corrupt)) == []
    assert codec.stats.bad_checksum == 1
    assert codec.sample() is None  # nothing bogus published
    assert codec.feed(jk32.JK02_32S_V19_CELL_INFO) == ["cells"]
    assert codec.sample().voltage == pytest.approx(54.028)


def test_poll_asks_again_only_when_nothing_fresh_arrived():
    codec = JkCodec()
    assert [r.data[4] for r in codec.poll_requests()] == [0x96]
    codec.feed(jk32.JK02_32S_V19_CELL_INFO)
    assert codec.poll_requests() == []
    codec.sample()
    assert len(codec.poll_requests()) == 1
