"""No-name Modbus-over-NUS codec against the only public capture (fl4p/batmon-ha issue #131, see
tests/captures/noname_modbus.py). The capture is real; one masked register was recovered from its CRC."""

from __future__ import annotations

import random

import pytest
from captures import noname_modbus as cap
from helpers import feed_in_pieces

from batmond.protocols import modbus
from batmond.protocols import noname_modbus as nm
from batmond.protocols.base import UnsupportedSwitch
from batmond.protocols.noname_modbus import NonameModbusCodec
from batmond.sim.battery import Battery
from batmond.sim.devices.noname_modbus import SimulatedNonameModbus


def feed_all(codec: NonameModbusCodec, pieces: list[bytes]) -> list[str]:
    return [kind for piece in pieces for kind in codec.feed(piece)]


def test_every_capture_has_a_valid_crc():
    for frame in (cap.REQUEST_INFO, cap.REQUEST_CELLS, cap.REQUEST_STATUS, cap.INFO, cap.CELLS, cap.STATUS):
        assert modbus.crc16(frame) == 0, frame.hex()


def test_requests_match_the_captured_requests():
    codec = NonameModbusCodec()
    requests = codec.poll_requests()
    assert [r.data for r in requests] == [cap.REQUEST_INFO, cap.REQUEST_CELLS, cap.REQUEST_STATUS]
    assert [r.expect for r in requests] == ["info", "cells", "status"]
    assert codec.connect_requests() == []


def test_the_captured_poll_decodes_every_field():
    codec = NonameModbusCodec()
    assert codec.feed(cap.INFO) == ["info"]
    assert feed_all(codec, cap.CELLS_NOTIFICATIONS) == ["cells"]
    assert feed_all(codec, cap.STATUS_NOTIFICATIONS) == ["status"]
    sample = codec.sample()
    assert list(sample.cell_voltages) == pytest.approx(cap.CELLS_EXPECTED["cell_voltages"])
    assert len(sample.cell_voltages) == cap.INFO_EXPECTED["cell_count"]
    assert sample.voltage == pytest.approx(cap.CELLS_EXPECTED["voltage"])
    expected = cap.STATUS_EXPECTED
    assert sample.current == pytest.approx(expected["current"])  # charging: positive
    assert sample.power == pytest.approx(expected["current"] * cap.CELLS_EXPECTED["voltage"])
    assert sample.soc == expected["soc"]
    assert sample.soh == expected["soh"]
    assert sample.charge == pytest.approx(expected["charge_ah"])
    assert sample.capacity == pytest.approx(expected["capacity_ah"])
    assert sample.cycles == expected["cycles"]
    assert list(sample.temperatures) == pytest.approx(expected["temperatures"])
    assert len(sample.temperatures) == cap.INFO_EXPECTED["temperature_count"]
    # The protocol has no MOSFET states or alarms that are known: they stay absent, not 0.
    assert (sample.switches, sample.alarm_code, sample.mosfet_temperature) == ({}, None, None)
    assert codec.sample() is None


def test_discharge_current_is_negative():
    codec = NonameModbusCodec()
    words = list(modbus.words(cap.STATUS[3:-2]))
    words[nm.CHARGE_CURRENT], words[nm.DISCHARGE_CURRENT] = 0, 123
    status = modbus.read_response(nm.SLAVE, b"".join(w.to_bytes(2, "big") for w in words))
    codec.feed(cap.INFO + cap.CELLS + status)
    assert codec.sample().current == pytest.approx(-12.3)


def test_no_sample_without_all_three_blocks():
    codec = NonameModbusCodec()
    assert codec.feed(cap.CELLS + cap.STATUS) == ["cells", "status"]
    assert codec.sample() is None


def test_random_split_merge_and_junk_never_yield_bogus_frames():
    # The junk holds false starts of all three answers (01 03 08 / 01 03 4c / 01 03 32).
    stream = b"\x01\x03\x4c\x00" + cap.INFO + b"\x01\x03\x32xx\x01" + cap.CELLS + b"\x01\x03\x08" + cap.STATUS
    rng = random.Random(7)
    for _ in range(100):
        codec = NonameModbusCodec()
        kinds = feed_in_pieces(codec, stream, rng, 25)
        assert kinds == ["info", "cells", "status"]
        assert codec.sample().voltage == pytest.approx(14.48)


def test_bad_crc_is_dropped_and_counted():
    corrupt = bytearray(cap.CELLS)
    corrupt[10] ^= 0x10
    codec = NonameModbusCodec()
    assert codec.feed(cap.INFO + bytes(corrupt) + cap.STATUS) == ["info", "status"]
    assert codec.stats.bad_checksum >= 1
    assert codec.sample() is None


def test_impossible_cell_count_is_dropped_not_decoded():
    codec = NonameModbusCodec()
    info = modbus.read_response(nm.SLAVE, bytes.fromhex("0021000100060005"))  # 33 cells in 32 slots
    assert codec.feed(info + cap.CELLS + cap.STATUS) == ["info", "cells"]
    assert codec.stats.bad_checksum == 1
    assert codec.sample() is None


def test_a_refusal_is_reported_as_an_error():
    codec = NonameModbusCodec()
    kinds = codec.feed(modbus.exception_response(nm.SLAVE, modbus.READ_HOLDING, 0x02))
    assert set(kinds) == {"info-error", "cells-error", "status-error"}


def test_read_only():
    codec = NonameModbusCodec()
    assert codec.writable_switches == frozenset()
    with pytest.raises(UnsupportedSwitch):
        codec.switch_requests("charge", False)


def test_random_bytes_never_raise():
    rng = random.Random(13)
    codec = NonameModbusCodec()
    for _ in range(300):
        codec.feed(bytes(rng.choice((0x01, 0x03, 0x08, 0x4C, 0x32, 0x83, rng.randrange(256))) for _ in range(30)))
    assert codec.feed(cap.STATUS)[-1] == "status"


def test_simulator_answers_like_the_capture():
    sim = SimulatedNonameModbus("sim", "00:00:00:00:00:02", Battery(cells=16, capacity_ah=280.0, soc=60.0))
    codec = NonameModbusCodec()
    for request in codec.poll_requests():
        (answer,) = sim.answer(request.data)
        # Same shape as the real answers: header, byte count, and the empty-slot marker in unused cells.
        assert answer[:3] == {"info": cap.INFO, "cells": cap.CELLS, "status": cap.STATUS}[request.expect][:3]
        assert codec.feed(answer) == [request.expect]
    sample = codec.sample()
    assert len(sample.cell_voltages) == 16
    assert sample.voltage == pytest.approx(sim.battery.voltage, abs=0.02)
    assert sample.capacity == pytest.approx(280.0)
    assert sim.answer(modbus.read_request(nm.SLAVE, 0x1000, 4)) == []
    assert sim.answer(modbus.read_request(0x02, *nm.INFO_BLOCK)) == []
