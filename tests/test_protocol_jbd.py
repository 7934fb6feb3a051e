"""JBD codec against real captures (tests/captures/jbd.py names the public source of every frame)."""

from __future__ import annotations

import random

import pytest
from captures import jbd as cap
from helpers import feed_in_pieces

from batmond.protocols import jbd
from batmond.protocols.jbd import JbdCodec

BASIC = [
    ("sp04", [cap.JBD_BASIC_INFO], cap.JBD_BASIC_INFO_EXPECTED),
    ("sp04_2", [cap.JBD_BASIC_INFO_2], cap.JBD_BASIC_INFO_2_EXPECTED),
    ("hans_idle", cap.JBD_HANS_BASIC_INFO_ZERO_CURRENT_NOTIFICATIONS, cap.JBD_HANS_BASIC_INFO_ZERO_CURRENT_EXPECTED),
    ("hans_discharging", cap.JBD_HANS_BASIC_INFO_DISCHARGING_NOTIFICATIONS,
     cap.JBD_HANS_BASIC_INFO_DISCHARGING_EXPECTED),
    ("hans_discharging_2", cap.JBD_HANS_BASIC_INFO_DISCHARGING_2_NOTIFICATIONS,
     cap.JBD_HANS_BASIC_INFO_DISCHARGING_2_EXPECTED),
    ("aiobmsble_neg", cap.JBD_AIOBMSBLE_BASIC_INFO_NEG_CURRENT_NOTIFICATIONS,
     cap.JBD_AIOBMSBLE_BASIC_INFO_NEG_CURRENT_EXPECTED),
    ("dp04_extended", [cap.JBD_DP04_BASIC_INFO_EXTENDED], cap.JBD_DP04_BASIC_INFO_EXTENDED_EXPECTED),
    ("sp25_no_ntc", [cap.JBD_SP25_BASIC_INFO_NO_NTC], cap.JBD_SP25_BASIC_INFO_NO_NTC_EXPECTED),
    ("jbdtool_split", cap.JBD_JBDTOOL_READ_SPLIT_BASIC, cap.JBD_JBDTOOL_BASIC_INFO_EXPECTED),
    ("cell_overvoltage", [cap.JBD_BASIC_INFO_CELL_OVERVOLTAGE], cap.JBD_BASIC_INFO_CELL_OVERVOLTAGE_EXPECTED),
    ("mosfet_lock", [cap.JBD_BASIC_INFO_MOSFET_SOFTWARE_LOCK], cap.JBD_BASIC_INFO_MOSFET_SOFTWARE_LOCK_EXPECTED),
    ("esphome_annotated", [cap.JBD_ESPHOME_ANNOTATED_BASIC_INFO], cap.JBD_ESPHOME_ANNOTATED_BASIC_INFO_EXPECTED),
    ("batmon_7s", [cap.JBD_BATMON_7S_BASIC_INFO], cap.JBD_BATMON_7S_BASIC_INFO_EXPECTED),
]  # fmt: skip


@pytest.mark.parametrize(("name", "notifications", "expected"), BASIC, ids=[b[0] for b in BASIC])
def test_basic_info_decodes_every_field(name, notifications, expected):
    codec = JbdCodec()
    kinds = [kind for piece in notifications for kind in codec.feed(piece)]
    assert kinds == ["basic"]
    sample = codec.sample()
    assert sample.voltage == pytest.approx(expected["voltage"])
    assert sample.current == pytest.approx(expected["current"])
    assert sample.power == pytest.approx(expected["voltage"] * expected["current"])
    assert sample.charge == pytest.approx(expected["charge_ah"])
    assert sample.capacity == pytest.approx(expected["capacity_ah"])
    assert sample.cycles == expected["cycles"]
    assert sample.soc == expected["soc"]
    assert sample.alarm_code == expected["protection_mask"]
    assert sample.switches == {"charge": expected["charge_mosfet"], "discharge": expected["discharge_mosfet"]}
    assert list(sample.temperatures) == pytest.approx(expected["temperatures"])


@pytest.mark.parametrize(
    ("frame", "version"), [(cap.JBD_BASIC_INFO, "8.0"), (cap.JBD_SP25_BASIC_INFO_NO_NTC, "2.0")], ids=["sp04", "sp25"]
)
def test_software_version_as_esphome_states_it(frame, version):
    # esphome-jbd-bms: "software version 8.0" (raw 0x80, frames.h) and "2.0" (raw 0x20, the SP25 log);
    # jbdtool prints 12.8 for 0x80 (a listed disagreement).
    codec = JbdCodec()
    codec.feed(frame)
    assert codec.info.sw_version == version


def test_temperatures_below_zero_keep_their_sign():
    # No public JBD capture is below 0 °C; NTC words are u16 BE in 0.1 K, so 0 °C is 2731 and anything below it
    # is negative. The SP04 capture with its three NTCs at 0.0, -0.1 and -30.0 °C:
    payload = bytearray(cap.JBD_BASIC_INFO[4:-3])
    for i, raw in enumerate((2731, 2730, 2431)):
        payload[23 + 2 * i : 25 + 2 * i] = raw.to_bytes(2, "big")
    codec = JbdCodec()
    assert codec.feed(jbd.response(jbd.BASIC_INFO, bytes(payload))) == ["basic"]
    assert list(codec.sample().temperatures) == pytest.approx([0.0, -0.1, -30.0])


def test_a_basic_info_shorter_than_its_ntc_count_is_reported_not_decoded():
    payload = bytearray(cap.JBD_BASIC_INFO[4:-3])
    payload[22] = 9  # nine NTCs claimed, three present
    frame = jbd.response(jbd.BASIC_INFO, bytes(payload))
    codec = JbdCodec()
    assert codec.feed(frame) == []
    assert (codec.stats.unplaced, codec.stats.bad_checksum) == (1, 0)
    assert codec.take_unplaced() == [frame]


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (cap.JBD_CELL_INFO, cap.JBD_CELL_INFO_EXPECTED),
        (cap.JBD_HANS_CELL_INFO, cap.JBD_HANS_CELL_INFO_EXPECTED),
        (cap.JBD_SP25_CELL_INFO_16S, cap.JBD_SP25_CELL_INFO_16S_EXPECTED),
    ],
)
def test_cell_voltages(frame, expected):
    codec = JbdCodec()
    codec.feed(cap.JBD_BASIC_INFO)
    assert codec.feed(frame) == ["cells"]
    sample = codec.sample()
    assert [round(v * 1000) for v in sample.cell_voltages] == expected["cell_voltages_mv"]


def test_cell_statistics_match_the_source():
    codec = JbdCodec()
    codec.feed(cap.JBD_BASIC_INFO + cap.JBD_CELL_INFO)
    stats = codec.sample().cell_stats
    # esphome-jbd-bms frames.h: min cell 3 (3.895 V), max cell 1 (3.909 V), delta 0.014 V.
    assert (stats.min_index, stats.max_index) == (3, 1)
    assert stats.delta == pytest.approx(0.014)


@pytest.mark.parametrize(
    ("frame", "model"),
    [(cap.JBD_DEVICE_MODEL, "JBD-SP04S034-L4S-200A-B-U"), (cap.JBD_AIOBMSBLE_DEVICE_MODEL, "0123456789")],
)
def test_model(frame, model):
    codec = JbdCodec()
    assert codec.feed(frame) == ["model"]
    assert codec.info.model == model


def test_stale_bytes_before_a_frame_are_skipped():
    codec = JbdCodec()
    kinds = [k for piece in cap.JBD_JBDTOOL_READ_GARBAGE_CELL for k in codec.feed(piece)]
    assert kinds == ["cells"]
    codec2 = JbdCodec()
    assert [k for piece in cap.JBD_JBDTOOL_READ_GARBAGE_MODEL for k in codec2.feed(piece)] == ["model"]
    assert codec2.info.model == cap.JBD_JBDTOOL_READ_GARBAGE_MODEL_EXPECTED["model"]


def test_requests_match_captured_requests():
    codec = JbdCodec()
    assert [r.data for r in codec.poll_requests()] == [cap.JBD_REQUEST_BASIC_INFO, cap.JBD_REQUEST_CELL_INFO]
    assert codec.connect_requests()[0].data == cap.JBD_REQUEST_DEVICE_MODEL


@pytest.mark.parametrize(
    ("charge", "discharge", "frame"),
    [
        # Register 0xE1 frames as given in the JBD protocol notes (disable bits).
        (True, True, "dd5ae1020000ff1d77"),
        (False, True, "dd5ae1020001ff1c77"),
        (True, False, "dd5ae1020002ff1b77"),
        (False, False, "dd5ae1020003ff1a77"),
    ],
)
def test_mosfet_control_frames(charge, discharge, frame):
    # The BMS reports discharge as given; switching charge must keep discharge as it is.
    codec = JbdCodec()
    codec.feed(jbd.response(jbd.BASIC_INFO, _with_fets(cap.JBD_BASIC_INFO, charge=True, discharge=discharge)))
    request = codec.switch_requests("charge", charge)[0]
    assert request.data.hex() == frame
    assert request.expect == "mosfet"


def _with_fets(frame: bytes, charge: bool, discharge: bool) -> bytes:
    payload = bytearray(frame[4:-3])
    payload[20] = int(charge) | int(discharge) << 1
    return bytes(payload)


def test_random_split_merge_and_junk_never_yield_bogus_frames():
    stream = b"\x77\xdd\x01" + cap.JBD_BASIC_INFO + b"junk\xdd" + cap.JBD_CELL_INFO + cap.JBD_DEVICE_MODEL
    rng = random.Random(3)
    for _ in range(100):
        codec = JbdCodec()
        kinds = feed_in_pieces(codec, stream, rng, 25)
        assert kinds == ["basic", "cells", "model"]


def test_bad_checksum_is_dropped_and_counted():
    corrupt = bytearray(cap.JBD_BASIC_INFO)
    corrupt[5] ^= 0x01
    codec = JbdCodec()
    assert codec.feed(bytes(corrupt)) == []
    assert codec.stats.bad_checksum >= 1
    assert codec.sample() is None


def test_error_status_is_reported_not_decoded():
    codec = JbdCodec()
    assert codec.feed(jbd.response(jbd.BASIC_INFO, b"", status=0x80)) == ["basic-error"]
    assert codec.sample() is None
