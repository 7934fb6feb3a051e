"""LiTime / Redodo codec against real captures (tests/captures/litime.py names the public source of every frame)."""

from __future__ import annotations

import random

import pytest
from captures import litime as cap
from helpers import feed_in_pieces

from batmond.protocols import litime
from batmond.protocols.base import UnsupportedSwitch
from batmond.protocols.litime import LitimeCodec

STATUS = [
    ("redodo_8s", cap.STATUS_8S, cap.STATUS_8S_EXPECTED),
    ("litime_4s_cold", cap.STATUS_4S_COLD, cap.STATUS_4S_COLD_EXPECTED),
]


@pytest.mark.parametrize(("name", "frame", "expected"), STATUS, ids=[s[0] for s in STATUS])
def test_status_decodes_every_field(name, frame, expected):
    codec = LitimeCodec()
    assert codec.feed(frame) == ["status"]
    sample = codec.sample()
    assert sample.voltage == pytest.approx(expected["voltage"])
    assert sample.current == pytest.approx(expected["current"])
    assert [round(v * 1000) for v in sample.cell_voltages] == expected["cell_voltages_mv"]
    assert list(sample.temperatures) == expected["temperatures"]
    assert sample.mosfet_temperature == expected["mosfet_temperature"]
    assert sample.charge == pytest.approx(expected["charge_ah"])
    assert sample.capacity == pytest.approx(expected["capacity_ah"])
    assert sample.soc == expected["soc"]
    assert sample.soh == expected["soh"]
    assert sample.cycles == expected["cycles"]
    assert sample.alarm_code == expected["alarm_code"]
    assert sample.switches == {}  # the protocol reports no MOSFET state


def test_voltage_is_the_sum_of_the_cells():
    codec = LitimeCodec()
    codec.feed(cap.STATUS_8S)
    sample = codec.sample()
    assert sample.voltage == pytest.approx(sum(sample.cell_voltages))


@pytest.mark.parametrize(
    ("frame", "alarm"), [(cap.STATUS_8S_PROBLEM_FIRST_BIT, 1), (cap.STATUS_8S_PROBLEM_LAST_BIT, 1 << 63)]
)
def test_protection_bits_become_the_alarm_code(frame, alarm):
    codec = LitimeCodec()
    codec.feed(frame)
    assert codec.sample().alarm_code == alarm


def test_request_is_the_published_command():
    assert [(r.data, r.expect) for r in LitimeCodec().poll_requests()] == [(cap.REQUEST_STATUS, "status")]
    assert litime.REQUEST_STATUS == cap.REQUEST_STATUS


def test_random_split_merge_and_junk_never_yield_bogus_frames():
    stream = (b"\x00\x00\x00\x00\x65\x01" + cap.STATUS_8S + b"\x00\x00\x04\x01\x13" + cap.STATUS_4S_COLD
              + cap.STATUS_8S_WRONG_CHECKSUM + b"\x00" * 7 + cap.STATUS_8S)  # fmt: skip
    rng = random.Random(13)
    for _ in range(100):
        codec = LitimeCodec()
        kinds = feed_in_pieces(codec, stream, rng, 30)
        assert kinds == ["status", "status", "status"]


def test_bad_checksum_is_dropped_and_counted():
    codec = LitimeCodec()
    assert codec.feed(cap.STATUS_8S_WRONG_CHECKSUM) == []
    assert codec.stats.bad_checksum >= 1
    assert codec.sample() is None
    corrupt = bytearray(cap.STATUS_8S)
    corrupt[50] ^= 0x10
    assert codec.feed(bytes(corrupt)) == []
    assert codec.feed(cap.STATUS_8S) == ["status"]


def test_a_short_status_answer_is_unplaced_not_decoded():
    codec = LitimeCodec()
    short = litime.frame(litime.CMD_STATUS | litime.ANSWER, bytes(40))
    assert codec.feed(short) == []
    assert (codec.stats.unplaced, codec.stats.bad_checksum) == (1, 0)
    assert codec.take_unplaced() == [short]
    assert codec.sample() is None


def test_other_answers_are_ignored():
    codec = LitimeCodec()
    assert codec.feed(litime.frame(0x16 | litime.ANSWER, bytes(20))) == []
    assert codec.stats.bad_checksum == 0


def test_nothing_can_be_switched():
    with pytest.raises(UnsupportedSwitch):
        LitimeCodec().switch_requests("charge", False)


def test_extra_temperature_sensors_are_reported_once_seen_like_aiobmsble_counts_them():
    # aiobmsble test_temp_sensor_detection: the five values from byte 52 set in turn (52 cell, 54 MOSFET here).
    codec = LitimeCodec()
    seen = []
    for values in ((0, 0, 0, 0, 0), (19, 0, 0, 0, 0), (0, 23, 0, 0, 0), (23, 0, 0, 0, 0), (0, 0, 0, 0, 21),
                   (0, 0, 0, 0, 0)):  # fmt: skip
        frame = bytearray(cap.STATUS_8S)
        frame[52:62] = b"".join(v.to_bytes(2, "little", signed=True) for v in values)
        frame[-1] = litime.checksum(frame[:-1])
        assert codec.feed(bytes(frame)) == ["status"]
        sample = codec.sample()
        seen.append((sample.temperatures, sample.mosfet_temperature))
    assert seen == [
        ((0.0,), 0.0),
        ((19.0,), 0.0),
        ((0.0,), 23.0),
        ((23.0,), 0.0),
        ((0.0, 0.0, 0.0, 21.0), 0.0),  # the fifth value: all five are fitted
        ((0.0, 0.0, 0.0, 0.0), 0.0),  # and stay reported at 0 °C
    ]


def test_temperatures_below_zero_keep_their_sign():
    codec = LitimeCodec()
    codec.feed(cap.STATUS_4S_COLD)
    sample = codec.sample()
    assert (sample.temperatures, sample.mosfet_temperature) == ((-1.0,), -1.0)
    codec.feed(cap.STATUS_8S)
    assert codec.sample().temperatures[-1] == -2.0
