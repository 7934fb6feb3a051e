"""Supervolt / E&J codec against real captures (tests/captures/supervolt.py names the public source of every frame)."""

from __future__ import annotations

import random

import pytest
from captures import supervolt as cap
from helpers import feed_in_pieces

from batmond.protocols import supervolt
from batmond.protocols.base import UnsupportedSwitch
from batmond.protocols.supervolt import SupervoltCodec

AT = b"AT\r\n"


def _chunks(frame: bytes, size: int = 20) -> list[bytes]:
    return [frame[i : i + size] for i in range(0, len(frame), size)]


def _check(sample, expected):
    assert sample.voltage == pytest.approx(expected["voltage"])
    assert sample.current == pytest.approx(expected["current"])
    assert sample.soc == expected["soc"]
    assert sample.cycles == expected["cycles"]
    assert sample.charge == pytest.approx(expected["charge_ah"])
    assert sample.capacity == pytest.approx(expected["capacity_ah"])
    assert [round(v * 1000) for v in sample.cell_voltages] == expected["cell_voltages_mv"]
    assert list(sample.temperatures) == expected["temperatures"]
    assert sample.switches == expected["switches"]
    assert sample.alarm_code == expected["alarm_code"]


def test_two_frame_protocol_decodes_every_field():
    codec = SupervoltCodec()
    kinds = []
    for frame in (cap.REALTIME_10S, cap.CAPACITY_10S):
        kinds += codec.feed(AT) + codec.feed(AT + b"illegal")  # what aiobmsble's mock sends before each answer
        for piece in _chunks(frame):
            kinds += codec.feed(piece)
    assert kinds == ["realtime", "capacity"]
    _check(codec.sample(), cap.REALTIME_10S_EXPECTED)
    assert codec.stats.bad_checksum == 0


def test_single_frame_variant_needs_no_capacity_request():
    codec = SupervoltCodec()
    assert [r.data for r in codec.poll_requests()] == [cap.REQUEST_REALTIME, cap.REQUEST_CAPACITY]
    assert [k for piece in _chunks(cap.REALTIME_SINGLE_FRAME_4S) for k in codec.feed(piece)] == ["realtime"]
    _check(codec.sample(), cap.REALTIME_SINGLE_FRAME_4S_EXPECTED)
    assert [(r.data, r.expect) for r in codec.poll_requests()] == [(cap.REQUEST_REALTIME, "realtime")]


@pytest.mark.parametrize(
    ("frame", "alarm"), [(cap.REALTIME_PROBLEM_FIRST_BIT, 0x4), (cap.REALTIME_PROBLEM_LAST_BIT, 0x800)]
)
def test_protection_bits_become_the_alarm_code(frame, alarm):
    codec = SupervoltCodec()
    codec.feed(frame)
    assert codec.sample().alarm_code == alarm


def test_requests_match_the_published_requests():
    codec = SupervoltCodec()
    assert [(r.data, r.expect) for r in codec.connect_requests()] == [(cap.REQUEST_REALTIME, "realtime")]
    assert supervolt.REQUEST_CAPACITY == cap.REQUEST_CAPACITY


def test_voltage_is_in_volts_from_millivolt_cells():
    # batmon-ha issue #139: cells read 0.003322 V and the pack 0.013 V when the scale was wrong.
    codec = SupervoltCodec()
    codec.feed(cap.REALTIME_SINGLE_FRAME_4S)
    sample = codec.sample()
    assert min(sample.cell_voltages) > 3.0 and max(sample.cell_voltages) < 3.7
    assert sample.voltage == pytest.approx(sum(sample.cell_voltages))


def test_an_absurd_current_is_not_reported():
    data = bytearray(bytes.fromhex(cap.REALTIME_10S[1:-3].decode()))
    data[44:46] = (60000).to_bytes(2, "big")  # 600 A "charging": the firmware glitch batmon-ha filters
    codec = SupervoltCodec()
    assert codec.feed(supervolt.frame(supervolt.CMD_REALTIME, bytes(data[5:]))) == ["realtime"]
    sample = codec.sample()
    assert sample.current is None
    assert sample.voltage == pytest.approx(39.517)


def test_random_split_merge_and_junk_never_yield_bogus_frames():
    stream = (AT + b"~:00" + cap.REALTIME_10S + b"AT\r\nillegal:" + cap.CAPACITY_10S + b":zz~" + AT
              + cap.REALTIME_SINGLE_FRAME_4S)  # fmt: skip
    rng = random.Random(5)
    for _ in range(100):
        codec = SupervoltCodec()
        kinds = feed_in_pieces(codec, stream, rng, 30)
        assert kinds == ["realtime", "capacity", "realtime"]


def test_bad_checksum_is_dropped_and_counted():
    codec = SupervoltCodec()
    assert codec.feed(cap.CAPACITY_WRONG_CHECKSUM) == []
    assert codec.stats.bad_checksum >= 1
    corrupt = bytearray(cap.REALTIME_10S)
    corrupt[30] = ord("9") if corrupt[30] != ord("9") else ord("8")
    assert codec.feed(bytes(corrupt)) == []
    assert codec.sample() is None
    assert codec.feed(cap.REALTIME_10S) == ["realtime"]


def test_a_valid_frame_of_unknown_size_is_unplaced_not_decoded():
    codec = SupervoltCodec()
    odd = supervolt.frame(supervolt.CMD_REALTIME, bytes(20))
    assert codec.feed(odd) == []
    assert (codec.stats.unplaced, codec.stats.bad_checksum) == (1, 0)
    assert codec.take_unplaced() == [odd]
    assert codec.sample() is None


def test_nothing_can_be_switched():
    with pytest.raises(UnsupportedSwitch):
        SupervoltCodec().switch_requests("charge", False)
