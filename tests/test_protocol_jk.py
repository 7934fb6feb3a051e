"""JK02 codec against real captures (tests/captures/jk02.py names the public source of every frame)."""

from __future__ import annotations

import random

import pytest
from captures import jk02

from batmond.protocols import jk
from batmond.protocols.jk import JkCodec

CELL_CAPTURES = [
    # (frame, expected, device-info frame that selects the layout)
    ("24s_v10", jk02.JK02_24S_V10_CELL_INFO, jk02.JK02_24S_V10_CELL_INFO_EXPECTED, jk02.JK02_24S_V10_DEVICE_INFO),
    ("24s_v10_neg", jk02.JK02_24S_V10_CELL_INFO_NEG_TEMPS, jk02.JK02_24S_V10_CELL_INFO_NEG_TEMPS_EXPECTED,
     jk02.JK02_24S_V10_DEVICE_INFO),
    ("24s_sw1008", jk02.JK02_24S_SW1008_CELL_INFO, jk02.JK02_24S_SW1008_CELL_INFO_EXPECTED,
     jk02.JK02_24S_SW1008_DEVICE_INFO),
    ("32s_sw1148", jk02.JK02_32S_SW1148_CELL_INFO, jk02.JK02_32S_SW1148_CELL_INFO_EXPECTED,
     jk02.JK02_32S_SW1148_DEVICE_INFO),
    ("32s_v11", jk02.JK02_32S_V11_CELL_INFO, jk02.JK02_32S_V11_CELL_INFO_EXPECTED, jk02.JK02_32S_V11_DEVICE_INFO),
    ("32s_v14", jk02.JK02_32S_V14_CELL_INFO, jk02.JK02_32S_V14_CELL_INFO_EXPECTED, jk02.JK02_32S_V14_DEVICE_INFO),
    ("32s_v15", jk02.JK02_32S_V15_CELL_INFO, jk02.JK02_32S_V15_CELL_INFO_EXPECTED, jk02.JK02_32S_V15_DEVICE_INFO),
    ("32s_v19", jk02.JK02_32S_V19_CELL_INFO, jk02.JK02_32S_V19_CELL_INFO_EXPECTED, jk02.JK02_32S_V19_DEVICE_INFO),
    ("32s_sw1927", jk02.JK02_32S_SW1927_CELL_INFO, jk02.JK02_32S_SW1927_CELL_INFO_EXPECTED,
     jk02.JK02_32S_SW1927_DEVICE_INFO),
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
    temperatures = list(expected["temperatures"])
    if codec.layout is jk.LAYOUT_32S and jk.firmware_major(codec.info.sw_version) >= 14:
        # Firmware 14+ adds sensors 3 and 4 at bytes 258 and 256 (254 repeats the MOSFET sensor).
        _t254, t256, t258 = expected["temps_254_256_258"]
        temperatures += [t258, t256]
    assert list(sample.temperatures) == pytest.approx(temperatures)


@pytest.mark.parametrize(
    ("info", "expected", "layout"),
    [
        (jk02.JK02_24S_V10_DEVICE_INFO, jk02.JK02_24S_V10_DEVICE_INFO_EXPECTED, "24s"),
        (jk02.JK02_32S_V19_DEVICE_INFO, jk02.JK02_32S_V19_DEVICE_INFO_EXPECTED, "32s"),
        (jk02.JK02_32S_SW1148_DEVICE_INFO, jk02.JK02_32S_SW1148_DEVICE_INFO_EXPECTED, "32s"),
    ],
)
def test_device_info_selects_layout(info, expected, layout):
    codec = JkCodec()
    codec.feed(info)
    assert codec.info.model == expected["model"]
    assert codec.info.sw_version == expected["sw_version"]
    assert codec.info.hw_version == expected["hw_version"]
    assert codec.info.serial == expected["serial_number"]
    assert codec.layout.name == layout


def test_forced_layout_overrides_autodetection():
    codec = JkCodec("24s")
    codec.feed(jk02.JK02_32S_V19_DEVICE_INFO)
    assert codec.layout is jk.LAYOUT_24S
    with pytest.raises(ValueError, match="unknown JK layout"):
        JkCodec("16s")


def test_settings_frame_gives_balance_switch():
    codec = JkCodec()
    codec.feed(jk02.JK02_32S_V19_DEVICE_INFO)
    assert codec.feed(jk02.JK02_32S_V19_SETTINGS) == ["settings"]
    codec.feed(jk02.JK02_32S_V19_CELL_INFO)
    sample = codec.sample()
    assert sample.switches["balance"] is jk02.JK02_32S_V19_SETTINGS_EXPECTED["balancer_switch"]


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
    codec.feed(jk02.JK02_32S_V19_DEVICE_INFO)  # JK-PB2A16S20P
    assert codec.switch_requests("float_charge", True)[0].data[4] == 0x30


def test_framer_reassembles_split_merged_and_junk_interleaved_notifications():
    stream = (
        b"AT\r\n" + jk02.JK02_32S_V19_DEVICE_INFO + jk02.JK02_READY_ACK_WITH_AT
        + jk02.JK02_32S_V19_CELL_INFO + jk02.JK02_32S_V19_CELL_INFO + b"\x00\x55\xaa"
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
    assert codec.feed(jk02.JK02_32S_SW1905_DEVICE_INFO_WITH_TRAILER) == ["info"]
    assert codec.info.sw_version == jk02.JK02_32S_SW1905_DEVICE_INFO_EXPECTED["sw_version"]


def test_bad_checksum_is_dropped_and_counted_and_the_next_frame_still_decodes():
    corrupt = bytearray(jk02.JK02_32S_V19_CELL_INFO)
    corrupt[150] ^= 0x40  # voltage byte
    codec = JkCodec()
    codec.feed(jk02.JK02_32S_V19_DEVICE_INFO)
    assert codec.feed(bytes(corrupt)) == []
    assert codec.stats.bad_checksum == 1
    assert codec.sample() is None  # nothing bogus published
    assert codec.feed(jk02.JK02_32S_V19_CELL_INFO) == ["cells"]
    assert codec.sample().voltage == pytest.approx(54.028)


def test_poll_asks_again_only_when_nothing_fresh_arrived():
    codec = JkCodec()
    assert [r.data[4] for r in codec.poll_requests()] == [0x96]
    codec.feed(jk02.JK02_32S_V19_CELL_INFO)
    assert codec.poll_requests() == []
    codec.sample()
    assert len(codec.poll_requests()) == 1
