"""Victron SmartShunt GATT values: decoding (captures/victron.py), "not available", requests."""

from __future__ import annotations

import pytest
from captures import victron as cap

from batmond.protocols import codec_for
from batmond.protocols.victron import KEEP_ALIVE, VALUES, VictronCodec, keep_alive


def test_it_is_found_by_type_and_reads_characteristics_of_its_service() -> None:
    assert codec_for("victron") is VictronCodec
    profile = VictronCodec.ble
    assert profile.service == "65970000-4bda-4c1e-af4b-551c4cf74769"
    assert profile.write == KEEP_ALIVE == "6597ffff-4bda-4c1e-af4b-551c4cf74769"
    assert profile.notify is None
    assert set(profile.values) == {uuid for uuid, _, _ in cap.READINGS}


@pytest.mark.parametrize(("uuid", "data", "expected"), cap.READINGS)
def test_each_reading_decodes_to_its_documented_value(uuid: str, data: bytes, expected: float) -> None:
    codec = VictronCodec()
    kinds = codec.feed_value(uuid, data)
    name = next(v.name for v in VALUES if v.uuid == uuid)
    assert kinds == [name]
    assert codec._values[name] == pytest.approx(expected)
    assert codec.stats.frames == 1


@pytest.mark.parametrize(("uuid", "data"), [*cap.NOT_AVAILABLE, cap.NOT_AVAILABLE_TEMPERATURE])
def test_not_available_is_none_never_a_number(uuid: str, data: bytes) -> None:
    codec = VictronCodec()
    codec.feed_value(cap.READINGS[0][0], cap.READINGS[0][1])  # a voltage so that there is a sample
    name = next(v.name for v in VALUES if v.uuid == uuid)
    assert codec.feed_value(uuid, data) == [name]
    assert codec._values[name] is None


def test_a_sample_has_the_shunt_values_and_no_cells() -> None:
    codec = VictronCodec()
    assert codec.sample() is None  # nothing read yet
    for uuid, data, _ in cap.READINGS:
        if data != bytes.fromhex("10270000"):  # keep the discharging current
            codec.feed_value(uuid.upper(), data)  # UUID case does not matter
    sample = codec.sample()
    assert sample is not None
    assert sample.voltage == pytest.approx(13.27)
    assert sample.current == pytest.approx(-13.538)  # discharging is negative, as batmond wants it
    assert sample.power == pytest.approx(-180)
    assert sample.soc == pytest.approx(88.86)
    assert sample.consumed == pytest.approx(-17.6)
    assert sample.time_to_go == pytest.approx(1000)
    assert sample.temperatures == pytest.approx((20.45,))
    assert sample.cell_voltages == ()
    assert sample.charge is None and sample.capacity is None
    state = sample.completed().to_dict()
    assert state["consumed"] == -17.6 and state["time_to_go"] == 1000


def test_a_shunt_without_temperature_sensor_reports_no_temperature() -> None:
    codec = VictronCodec()
    codec.feed_value(*cap.READINGS[0][:2])
    codec.feed_value(*cap.NOT_AVAILABLE_TEMPERATURE)
    sample = codec.sample()
    assert sample is not None and sample.temperatures == ()


def test_a_missing_characteristic_is_not_available() -> None:
    # The transport answers a read of a characteristic the firmware lacks with empty bytes.
    codec = VictronCodec()
    codec.feed_value(*cap.READINGS[0][:2])
    assert codec.feed_value(*cap.KEEP_ALIVE_READ) == []  # not a reading at all
    assert codec.feed_value(VALUES[-1].uuid, b"") == ["temperature"]
    assert codec.sample().temperatures == ()


@pytest.mark.parametrize("data", [b"\x01", b"\x01\x02\x03", bytes(5)])
def test_a_value_of_the_wrong_size_is_unplaced_and_changes_nothing(data: bytes) -> None:
    codec = VictronCodec()
    codec.feed_value(*cap.READINGS[0][:2])
    assert codec.feed_value(cap.READINGS[0][0], data) == []
    assert (codec.stats.unplaced, codec.stats.bad_checksum) == (1, 0)
    assert codec.take_unplaced() == [data]
    assert codec.sample().voltage == pytest.approx(13.27)


def test_requests_keep_alive_read_everything_then_one_value_per_poll() -> None:
    codec = VictronCodec()
    start = codec.connect_requests()
    assert start[0].data == keep_alive() == b"\xff\xff"  # 0xFFFF ms: keep alive until disconnected
    assert start[0].expect is None
    assert [(r.read, r.expect) for r in start[1:]] == [(v.uuid, v.name) for v in VALUES]
    reads = []
    for _ in range(len(VALUES)):
        poll = codec.poll_requests()
        assert poll[0].data == keep_alive() and poll[0].expect is None
        reads.append(poll[1].read)
    assert reads == [v.uuid for v in VALUES]  # every value refreshed once per round
    assert keep_alive(20000) == bytes.fromhex("204e")


def test_feed_ignores_stream_bytes() -> None:
    codec = VictronCodec()
    assert codec.feed(b"\x55\xaa" * 20) == []
    assert codec.sample() is None
