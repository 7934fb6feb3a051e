"""Daly A5 codecs (`daly` Bluetooth, `daly_uart` RS485) against real captures (tests/captures/daly.py)."""

from __future__ import annotations

import random

import pytest
from captures import daly as cap

from batmond.config import DeviceConfig
from batmond.protocols import daly
from batmond.protocols.daly import DalyCodec, DalyUartCodec


def feed_all(codec, *frames: bytes) -> list[str]:
    return [kind for frame in frames for kind in codec.feed(frame)]


def test_rs485_capture_decodes_to_a_full_sample():
    codec = DalyUartCodec()
    kinds = feed_all(codec, cap.FORUM_STATUS, cap.FORUM_SOC, cap.FORUM_MOSFETS, *cap.FORUM_CELLS,
                     *cap.FORUM_TEMPERATURES)  # fmt: skip
    assert kinds == ["status", "soc", "mosfets", "cells", "temperatures"]
    expected = cap.FORUM_EXPECTED
    sample = codec.sample()
    assert sample.voltage == expected["voltage"]
    assert sample.current == expected["current"]
    assert sample.soc == expected["soc"]
    assert sample.charge == expected["charge_ah"]
    assert sample.cycles == expected["cycles"]
    assert sample.switches == {"charge": expected["charge_mosfet"], "discharge": expected["discharge_mosfet"]}
    assert [round(v * 1000) for v in sample.cell_voltages] == expected["cell_voltages_mv"]
    assert list(sample.temperatures) == expected["temperatures"]
    assert sum(sample.cell_voltages) == pytest.approx(sample.voltage, abs=0.1)


def test_rs485_requests_match_the_captured_requests():
    codec = DalyUartCodec()
    assert codec.connect_requests() == []  # everything goes out in the bus turn, the cell count first
    assert [r.data for r in codec.poll_requests()][-1] == cap.FORUM_REQUEST_STATUS
    codec.feed(cap.FORUM_STATUS)
    requests = codec.poll_requests()
    assert [r.data for r in requests] == [cap.FORUM_REQUEST_SOC, cap.FORUM_REQUEST_MOSFETS, cap.FORUM_REQUEST_CELLS,
                                          cap.FORUM_REQUEST_TEMPERATURES]  # fmt: skip
    assert [r.expect for r in requests] == ["soc", "mosfets", "cells", "temperatures"]


def test_ble_requests_match_the_captured_requests():
    codec = DalyCodec()
    codec.feed(cap.DREADNOUGHT_STATUS)
    requests = {r.expect: r.data for r in codec.poll_requests()}
    assert requests["soc"] == cap.DREADNOUGHT_REQUEST_SOC
    assert requests["cells"] == cap.DREADNOUGHT_REQUEST_CELLS


def test_ble_capture_with_corrupted_cell_frames():
    codec = DalyCodec()
    assert feed_all(codec, cap.DREADNOUGHT_STATUS, cap.DREADNOUGHT_SOC, cap.DREADNOUGHT_MOSFETS) == [
        "status", "soc", "mosfets",
    ]  # fmt: skip
    # 16 cells need frames 1-6; the garbled frames 12-14 and the cut-off frame 16 come after them.
    assert feed_all(codec, cap.DREADNOUGHT_BLE_CELLS) == ["cells"]
    assert feed_all(codec, cap.DREADNOUGHT_TEMPERATURES) == ["temperatures"]
    sample = codec.sample()
    assert (sample.voltage, sample.current, sample.soc) == tuple(cap.DREADNOUGHT_SOC_EXPECTED.values())
    assert sample.current < 0  # the same capture set says "discharging"
    assert sample.charge == cap.DREADNOUGHT_MOSFETS_EXPECTED["charge_ah"]
    assert sample.cycles == cap.DREADNOUGHT_STATUS_EXPECTED["cycles"]
    assert [round(v * 1000) for v in sample.cell_voltages] == cap.DREADNOUGHT_CELLS_EXPECTED_MV
    assert list(sample.temperatures) == cap.DREADNOUGHT_TEMPERATURES_EXPECTED
    assert codec.stats.junk_bytes > 0  # the garbled pieces were skipped, not decoded


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (cap.MPP_SOC, cap.MPP_SOC_EXPECTED),
        (cap.DREADNOUGHT_SOC, cap.DREADNOUGHT_SOC_EXPECTED),
        (cap.BATMON_416_SOC, cap.BATMON_416_EXPECTED),
    ],
)
def test_voltage_current_soc(frame, expected):
    codec = DalyCodec()
    assert codec.feed(frame) == ["soc"]
    sample = codec.sample()
    assert (sample.voltage, sample.current, sample.soc) == (expected["voltage"], expected["current"], expected["soc"])


def test_mpp_solar_status_mosfets_and_cells():
    codec = DalyCodec()
    assert feed_all(codec, cap.MPP_STATUS, cap.MPP_MOSFETS, cap.MPP_CELLS, cap.MPP_SOC) == [
        "status", "mosfets", "cells", "soc",
    ]  # fmt: skip
    sample = codec.sample()
    assert [round(v * 1000) for v in sample.cell_voltages] == cap.MPP_CELLS_EXPECTED_MV
    assert sample.cycles == cap.MPP_STATUS_EXPECTED["cycles"]
    assert sample.charge == cap.MPP_MOSFETS_EXPECTED["charge_ah"]
    assert sample.switches == {"charge": True, "discharge": True}


def test_batmon_416_status():
    codec = DalyCodec()
    codec.feed(cap.BATMON_416_STATUS)
    assert [r.expect for r in codec.poll_requests()] == ["soc", "mosfets", "cells", "temperatures"]


@pytest.mark.parametrize(("switch", "on"), list(cap.SWITCH_FRAMES_BOARD_1))
def test_switch_frames_match_the_documented_frames(switch, on):
    requests = DalyUartCodec().switch_requests(switch, on)
    assert requests[0].data == cap.SWITCH_FRAMES_BOARD_1[(switch, on)]
    assert requests[0].expect == f"{switch}_switch"
    assert requests[1].data == cap.FORUM_REQUEST_MOSFETS


def test_switch_echo_is_recognised():
    codec = DalyUartCodec()
    echo = daly.frame(0x01, daly.SET_CHARGE, b"\x01")
    assert codec.feed(echo) == ["charge_switch"]


def test_ble_switch_uses_the_bluetooth_host_address():
    frame = DalyCodec().switch_requests("discharge", False)[0].data
    assert frame == bytes.fromhex("a580d9080000000000000000") + bytes([sum(bytes.fromhex("a580d908")) & 0xFF])


def test_unsupported_switch():
    with pytest.raises(daly.UnsupportedSwitch):
        DalyCodec().switch_requests("balance", True)


def test_board_address_goes_into_requests_and_filters_answers():
    device = DeviceConfig(address="serial", type="daly_uart", adapter="/dev/ttyUSB0", board_address=2)
    codec = DalyUartCodec.for_device(device)
    assert codec.poll_requests()[0].data == bytes.fromhex("a541900800000000000000007e")
    board_1_answer = cap.FORUM_SOC
    assert codec.feed(board_1_answer) == []  # another board's answer on the shared bus
    assert codec.stats.junk_bytes == 13
    assert codec.feed(daly.frame(0x02, daly.SOC, board_1_answer[4:12])) == ["soc"]
    assert codec.sample().voltage == 52.8


def test_ble_codec_tries_the_rs485_host_address_when_0x80_is_never_answered():
    codec = DalyCodec()
    assert codec.poll_requests()[0].data[1] == 0x80
    codec.reset()  # a poll went unanswered
    assert codec.poll_requests()[0].data[1] == 0x40
    codec.feed(cap.BATMON_416_SOC)
    codec.reset()  # answered once: keep the address that works
    assert codec.poll_requests()[0].data[1] == 0x40


def test_implausible_soc_is_counted_not_decoded():
    codec = DalyCodec()
    frame = daly.frame(0x01, daly.SOC, bytes.fromhex("0210000075300fa0"))  # SoC 400 %
    assert codec.feed(frame) == []
    assert codec.stats.bad_checksum == 1
    assert codec.sample() is None


def test_random_split_merge_and_junk_never_yield_bogus_frames():
    stream = (b"\xa5\x01\x90" + cap.FORUM_STATUS + b"\x00\xa5junk" + cap.FORUM_SOC + cap.FORUM_MOSFETS
              + b"".join(cap.FORUM_CELLS) + b"\xa5\xa5" + b"".join(cap.FORUM_TEMPERATURES))  # fmt: skip
    rng = random.Random(7)
    for _ in range(100):
        codec = DalyUartCodec()
        kinds, position = [], 0
        while position < len(stream):
            size = rng.randint(1, 20)
            kinds += codec.feed(stream[position : position + size])
            position += size
        assert kinds == ["status", "soc", "mosfets", "cells", "temperatures"]
        assert codec.sample().voltage == 52.8


def test_bad_checksum_is_dropped_and_counted():
    corrupt = bytearray(cap.FORUM_SOC)
    corrupt[6] ^= 0x01
    codec = DalyUartCodec()
    assert codec.feed(bytes(corrupt)) == []
    assert codec.stats.bad_checksum == 1
    assert codec.sample() is None


def test_cell_frames_need_the_cell_count_first():
    codec = DalyUartCodec()
    assert feed_all(codec, *cap.FORUM_CELLS) == []  # without 0x94 the number of frames is unknown
    assert codec.poll_requests()[-1].expect == "status"


@pytest.mark.parametrize(
    ("data_id", "data"),
    [
        (daly.SOC, bytes.fromhex("ffff0000753001f4")),  # 6553.5 V
        (daly.SOC, bytes.fromhex("02100000ffff01f4")),  # +3553 A
        (daly.MOSFETS, bytes.fromhex("00010100ffffffff")),  # 4 million Ah
        (daly.CELL_VOLTAGES, bytes.fromhex("01ffff0ec00ec200")),  # a 65 V cell
        (daly.TEMPERATURES, bytes.fromhex("01ff000000000000")),  # 215 °C
    ],
)
def test_impossible_values_are_counted_not_decoded(data_id, data):
    codec = DalyUartCodec()
    codec.feed(cap.FORUM_STATUS)
    assert codec.feed(daly.frame(0x01, data_id, data)) == []
    assert codec.stats.bad_checksum == 1


def test_an_echoed_request_is_not_an_answer():
    # Found by the fuzzer: a dongle echoing "A5 80 93 08 …" must not read as "0 Ah, both MOSFETs off".
    from batmond.protocols.daly import DalyCodec

    codec = DalyCodec()
    for request in codec.poll_requests():
        if request.data is not None:
            assert codec.feed(request.data) == []
    assert codec.sample() is None


def test_batmon_ha_inline_captures():
    codec = DalyCodec()
    codec.feed(cap.BATMON_INLINE_STATUS_8S + cap.MPP_SOC)
    assert [r.expect for r in codec.poll_requests()] == ["soc", "mosfets", "cells", "temperatures"]  # 8 cells, 1 NTC
    assert codec.sample().cycles == cap.BATMON_INLINE_STATUS_8S_EXPECTED["cycles"]
    expected = cap.BATMON_INLINE_MOSFETS_EXPECTED
    for frame, charge in ((cap.BATMON_INLINE_MOSFETS_DSG_ON, expected["dsg_on"]),
                          (cap.BATMON_INLINE_MOSFETS_DSG_OFF, expected["dsg_off"])):  # fmt: skip
        codec.feed(frame + cap.MPP_SOC)
        sample = codec.sample()
        assert sample.charge == pytest.approx(charge)
        # What the BMS says, even where batmon-ha's author saw the discharge MOSFET off (see the capture notes).
        assert sample.switches == {"charge": True, "discharge": True}
