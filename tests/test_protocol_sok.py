"""SOK / ABC-BMS codec against real captures (tests/captures/sok.py names the public source of every frame)."""

from __future__ import annotations

import random

import pytest
from captures import sok as cap
from helpers import feed_in_pieces

from batmond.protocols import sok
from batmond.protocols.base import UnsupportedSwitch
from batmond.protocols.sok import SokCodec

# What the BMS sends for one poll (detail, then info), in the order aiobmsble's mock sends it.
POLL_ANSWERS = [cap.PACK, cap.DETAIL, cap.CELLS_1_4, cap.CELLS_5_8, cap.PACK, cap.STATUS]


def test_one_poll_decodes_every_field():
    codec = SokCodec()
    assert codec.feed(cap.NAME) == ["f1"]
    kinds = [kind for frame in POLL_ANSWERS for kind in codec.feed(frame)]
    assert kinds == ["f0", "f3", "f4", "f4", "f0", "f2"]
    sample = codec.sample()
    expected = cap.EXPECTED
    assert sample.voltage == pytest.approx(expected["voltage"])
    assert sample.current == pytest.approx(expected["current"])
    assert sample.soc == expected["soc"]
    assert sample.charge == pytest.approx(expected["charge_ah"])
    assert sample.capacity == pytest.approx(expected["capacity_ah"])
    assert sample.cycles == expected["cycles"]
    assert [round(v * 1000) for v in sample.cell_voltages] == expected["cell_voltages_mv"]
    assert list(sample.temperatures) == expected["temperatures"]
    assert sample.switches == expected["switches"]
    assert sample.alarm_code is None  # no protection answer yet: unknown, not 0
    assert codec.info.model == expected["model"]
    assert codec.stats.bad_checksum == 0


def test_settings_frames_are_valid_and_ignored():
    codec = SokCodec()
    assert codec.feed(b"".join(cap.SETTINGS_FRAMES)) == ["f5", "f6", "f7", "f8", "fa"]
    assert codec.sample() is None


def test_requests_are_the_documented_commands():
    codec = SokCodec()
    assert [(r.data, r.expect) for r in codec.connect_requests()] == [(cap.COMMAND_NAME, "f1")]
    assert [(r.data, r.expect) for r in codec.poll_requests()] == [
        (cap.COMMAND_DETAIL, "f3"),
        (cap.COMMAND_INFO, "f2"),
        (cap.COMMAND_PROTECTION, None),
    ]


@pytest.mark.parametrize(("frame", "alarm"), [(cap.PROTECTION_FIRST_BIT, 0x1), (cap.PROTECTION_LAST_BIT, 0x8000)])
def test_protection_flags_become_the_alarm_code(frame, alarm):
    codec = SokCodec()
    codec.feed(frame)
    codec.feed(cap.PACK)
    assert codec.sample().alarm_code == alarm


def test_a_missing_cell_frame_reports_no_cells_rather_than_misnumbered_ones():
    codec = SokCodec()
    for frame in (cap.PACK, cap.CELLS_5_8, cap.STATUS):
        codec.feed(frame)
    sample = codec.sample()
    assert sample.cell_voltages == ()
    assert sample.voltage == pytest.approx(27.554)


def test_cells_are_collected_afresh_for_each_sample():
    codec = SokCodec()
    for frame in POLL_ANSWERS:
        codec.feed(frame)
    assert len(codec.sample().cell_voltages) == 8
    codec.feed(cap.PACK)
    assert codec.sample().cell_voltages == ()


def test_random_split_merge_and_junk_never_yield_bogus_frames():
    stream = b"\xcc\xcc\xf0\x00" + b"".join(POLL_ANSWERS) + b"\xcc\x01junk\xcc" + cap.NAME + cap.PACK_WRONG_CRC
    rng = random.Random(11)
    for _ in range(100):
        codec = SokCodec()
        kinds = feed_in_pieces(codec, stream, rng, 25)
        assert kinds == ["f0", "f3", "f4", "f4", "f0", "f2", "f1"]


def test_bad_crc_is_dropped_and_counted():
    codec = SokCodec()
    assert codec.feed(cap.PACK_WRONG_CRC) == []
    assert codec.stats.bad_checksum >= 1
    assert codec.sample() is None
    assert codec.feed(cap.PACK) == ["f0"]


def test_response_helper_builds_frames_the_codec_accepts():
    assert sok.response(sok.PACK, cap.PACK[2:-1]) == cap.PACK


def test_nothing_can_be_switched():
    with pytest.raises(UnsupportedSwitch):
        SokCodec().switch_requests("discharge", False)


def test_heater_and_balancer_state_from_the_detail_frame():
    detail = bytearray(cap.DETAIL)
    detail[8], detail[10] = 1, 1  # aiobmsble: heater byte 8, balancer byte 10 of F3
    detail[-1] = sok.crc8(detail[:-1])
    codec = SokCodec()
    codec.feed(bytes(detail) + cap.PACK + cap.STATUS)
    assert codec.sample().switches == {"charge": True, "discharge": True, "heater": True, "balance": True}
