"""ANT codec against real captures (tests/captures/ant.py names the public source of every frame)."""

from __future__ import annotations

import random

import pytest
from captures import ant as cap
from helpers import feed_in_pieces

from batmond.protocols import ant
from batmond.protocols.ant import AntCodec
from batmond.protocols.base import UnsupportedSwitch
from batmond.sim.battery import Battery
from batmond.sim.devices.ant import SimulatedAnt

STATUS = [
    ("esphome_16s", cap.STATUS_16S, cap.STATUS_16S_EXPECTED),
    ("model2021_14s", cap.STATUS_14S_MODEL2021, cap.STATUS_14S_MODEL2021_EXPECTED),
    ("aiobmsble_22s", cap.STATUS_22S, cap.STATUS_22S_EXPECTED),
    ("batmon_8s", cap.STATUS_8S_BATMON, cap.STATUS_8S_BATMON_EXPECTED),
]


def _chunks(frame: bytes, size: int = 20) -> list[bytes]:
    return [frame[i : i + size] for i in range(0, len(frame), size)]


@pytest.mark.parametrize(("name", "frame", "expected"), STATUS, ids=[s[0] for s in STATUS])
def test_status_decodes_every_field(name, frame, expected):
    codec = AntCodec()
    kinds = [kind for piece in _chunks(frame) for kind in codec.feed(piece)]
    assert kinds == ["status"]
    sample = codec.sample()
    assert sample.voltage == pytest.approx(expected["voltage"])
    assert sample.current == pytest.approx(expected["current"])
    assert sample.soc == expected["soc"]
    assert sample.soh == expected["soh"]
    assert sample.capacity == pytest.approx(expected["capacity_ah"])
    assert sample.charge == pytest.approx(expected["charge_ah"], abs=1e-3)  # sources round to mAh
    assert sample.power == pytest.approx(expected["power"])
    assert sample.cycles == expected["cycles"]
    assert [round(v * 1000) for v in sample.cell_voltages] == expected["cell_voltages_mv"]
    assert list(sample.temperatures) == expected["temperatures"]
    assert sample.mosfet_temperature == expected["mosfet_temperature"]
    assert sample.switches == expected["switches"]
    assert sample.alarm_code == expected["alarm_code"]
    assert codec.stats.bad_checksum == 0


def test_status_cell_statistics_match_the_source():
    codec = AntCodec()
    codec.feed(cap.STATUS_16S)
    stats = codec.sample().cell_stats
    # esphome-ant-bms frames_16s_status.h: min 3.300 V (cell 1), max 3.305 V (cell 16), delta 0.005 V.
    assert (stats.min_index, stats.max_index) == (1, 16)
    assert stats.delta == pytest.approx(0.005)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (cap.DEVICE_INFO_16ZM, cap.DEVICE_INFO_16ZM_EXPECTED),
        (cap.DEVICE_INFO_ISSUE_172, cap.DEVICE_INFO_ISSUE_172_EXPECTED),
        (cap.DEVICE_INFO_24BH, cap.DEVICE_INFO_24BH_EXPECTED),
    ],
)
def test_device_info_including_the_padding_after_the_crc(frame, expected):
    codec = AntCodec()
    # Cut where a 0x55 inside the version string ends a piece: the frame end is found by length.
    cut = frame.index(b"U") + 1
    assert codec.feed(frame[:cut]) == []
    assert codec.feed(frame[cut:]) == ["info"]
    assert codec.info.model == expected["model"]
    assert codec.info.sw_version == expected["sw_version"]
    assert codec.stats.junk_bytes == 0


def test_other_answers_of_the_vendor_app_are_framed_and_ignored():
    codec = AntCodec()
    stream = cap.SETTINGS_READ_ANSWER + cap.ANSWER_0X42 + cap.PERMISSION_ANSWER + cap.STATUS_16S
    assert codec.feed(stream) == ["status"]
    assert codec.feed(cap.WRITE_ACK_REG7 + cap.WRITE_ACK_REG15) == ["ack", "ack"]
    assert (codec.stats.bad_checksum, codec.stats.junk_bytes) == (0, 0)
    assert codec.info.model is None  # a settings read (address 0) is not device info


def test_requests_match_captured_requests():
    codec = AntCodec()
    assert [r.data for r in codec.connect_requests()] == [cap.REQUEST_DEVICE_INFO]
    assert [(r.data, r.expect) for r in codec.poll_requests()] == [(cap.REQUEST_STATUS, "status")]
    assert ant.command(ant.CMD_WRITE, 0x0007) == cap.WRITE_REQUEST_REG7


@pytest.mark.parametrize(("switch", "on"), list(cap.SWITCH_FRAMES), ids=[f"{s}-{o}" for s, o in cap.SWITCH_FRAMES])
def test_switch_frames_are_the_documented_bytes(switch, on):
    requests = AntCodec().switch_requests(switch, on)
    assert requests[0].data == cap.SWITCH_FRAMES[(switch, on)]
    # The write is checked by reading the status back, not by trusting the acknowledgement.
    assert [(r.data, r.expect) for r in requests[1:]] == [(cap.REQUEST_STATUS, "status")]


def test_unsupported_switch_is_refused():
    with pytest.raises(UnsupportedSwitch):
        AntCodec().switch_requests("float_charge", True)


def test_random_split_merge_and_junk_never_yield_bogus_frames():
    stream = (b"\xaa\x55\x7e" + cap.STATUS_16S + b"AT\r\n\x7e\xa1" + cap.DEVICE_INFO_16ZM + cap.STATUS_22S
              + b"\x00" * 3 + cap.WRITE_ACK_REG7)  # fmt: skip
    rng = random.Random(7)
    for _ in range(100):
        codec = AntCodec()
        kinds = feed_in_pieces(codec, stream, rng, 40)
        assert kinds == ["status", "info", "status", "ack"]


@pytest.mark.parametrize("position", [6, 40, 100, 149])
def test_bad_checksum_is_dropped_and_counted(position):
    corrupt = bytearray(cap.STATUS_16S)
    corrupt[position] ^= 0x01
    codec = AntCodec()
    assert codec.feed(bytes(corrupt)) == []
    assert codec.stats.bad_checksum >= 1
    assert codec.sample() is None
    assert codec.feed(cap.STATUS_16S) == ["status"]  # and the next good frame still decodes


def test_a_status_frame_too_short_for_its_cell_count_is_reported_not_decoded():
    # 40 cells claimed in a frame that holds 16: well framed, valid CRC, but a layout batmond cannot place.
    data = bytearray(cap.STATUS_16S[6:-4])
    data[3] = 40
    frame = ant.response(ant.STATUS, 0, bytes(data))
    codec = AntCodec()
    assert codec.feed(frame) == []
    assert (codec.stats.unplaced, codec.stats.bad_checksum) == (1, 0)
    assert codec.take_unplaced() == [frame]
    assert codec.sample() is None


def test_temperatures_below_zero_keep_their_sign():
    # No public ANT capture is below 0 °C; the words are i16 LE whole degrees (esphome-ant-bms casts them to
    # int16_t, aiobmsble reads them signed). The 16S capture with its sensors, MOSFET and balancer set below zero:
    data = bytearray(cap.STATUS_16S[6:-4])
    sensors_at = ant.CELLS_AT - 6 + 2 * 16
    for i, raw in enumerate((-1, -25, -39)):  # T1, T2, MOSFET (-40 is the unplugged value)
        data[sensors_at + 2 * i : sensors_at + 2 * i + 2] = raw.to_bytes(2, "little", signed=True)
    codec = AntCodec()
    assert codec.feed(ant.response(ant.STATUS, 0, bytes(data))) == ["status"]
    sample = codec.sample()
    assert list(sample.temperatures) == [-1.0, -25.0]
    assert sample.mosfet_temperature == -39.0


def test_sample_is_consumed_once():
    codec = AntCodec()
    codec.feed(cap.STATUS_16S)
    assert codec.sample() is not None
    assert codec.sample() is None


@pytest.mark.parametrize(("switch", "on"), [("charge", False), ("discharge", False), ("balance", False)])
def test_switch_round_trip_with_the_simulator(switch, on):
    bms = SimulatedAnt("ant1", "C8:47:8C:A1:00:01", Battery())
    codec = AntCodec()
    kinds = [kind for request in codec.switch_requests(switch, on) for frame in bms.answer(request.data)
             for kind in codec.feed(frame)]  # fmt: skip
    assert kinds == ["ack", "status"]
    assert getattr(bms.battery, f"{switch}_enabled") is on
    assert codec.sample().switches[switch] is on
