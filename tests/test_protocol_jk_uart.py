"""JK RS485 codec against real captures (tests/captures/jk_uart.py names the public source of every frame)."""

from __future__ import annotations

import random

import pytest
from captures import jk_uart as cap

from batmond.protocols import jk, jk_uart
from batmond.protocols.jk_uart import JkUartCodec

FRAMES = [
    ("mpp_solar_14s", cap.MPP_SOLAR_14S, cap.MPP_SOLAR_14S_EXPECTED),
    ("esphome_14s", cap.ESPHOME_14S, cap.ESPHOME_14S_EXPECTED),
    ("esphome_13s_idle", cap.ESPHOME_13S_IDLE, cap.ESPHOME_13S_IDLE_EXPECTED),
    ("jkbms_esp32_7s", cap.JKBMS_ESP32_7S, cap.JKBMS_ESP32_7S_EXPECTED),
]


@pytest.mark.parametrize(("name", "frame", "expected"), FRAMES, ids=[f[0] for f in FRAMES])
def test_status_answer_decodes_every_field(name, frame, expected):
    codec = JkUartCodec()
    assert codec.feed(frame) == ["status"]
    sample = codec.sample()
    assert [round(v * 1000) for v in sample.cell_voltages] == expected["cell_voltages_mv"]
    assert sample.voltage == pytest.approx(expected["voltage"])
    assert sample.current == pytest.approx(expected["current"])
    assert sample.power == pytest.approx(expected["voltage"] * expected["current"])
    assert sample.soc == expected["soc"]
    assert sample.cycles == expected["cycles"]
    assert sample.capacity == expected["capacity_ah"]
    assert list(sample.temperatures) == expected["temperatures"]
    assert sample.mosfet_temperature == expected["mosfet_temperature"]
    assert sample.switches == expected["switches"]
    assert sample.charge is None  # the BMS reports no remaining Ah; capacity × SoC is not a reading
    assert codec.sample() is None
    if "sw_version" in expected:
        assert (codec.info.sw_version, codec.info.model) == (expected["sw_version"], expected["model"])


def test_zero_current_is_not_negative_zero():
    codec = JkUartCodec()
    codec.feed(cap.ESPHOME_13S_IDLE)
    assert str(codec.sample().current) == "0.0"


def test_request_matches_the_documented_request():
    assert JkUartCodec().poll_requests()[0].data == cap.READ_ALL_REQUEST
    assert jk_uart.READ_ALL_REQUEST == cap.READ_ALL_REQUEST


def test_current_sign_agrees_with_the_ble_decoder():
    # Both JK decoders must say + while charging: the wire encodings differ (sign-magnitude here, i32 there).
    assert jk_uart.current(0x8000 | 453, 1) == pytest.approx(4.53)
    assert jk_uart.current(453, 1) == pytest.approx(-4.53)
    ble = bytearray(jk.FRAME_LENGTH)
    ble[jk.LAYOUT_32S.current : jk.LAYOUT_32S.current + 4] = (4530).to_bytes(4, "little", signed=True)
    assert jk.decode_cell_info(bytes(ble), jk.LAYOUT_32S).current == pytest.approx(4.53)


def test_unknown_protocol_version_gives_no_current_rather_than_a_guess():
    assert jk_uart.current(0x81C5, 2) is None


def test_negative_temperatures():
    assert jk_uart.temperature(101) == -1.0
    assert jk_uart.temperature(140) == -40.0
    assert jk_uart.temperature(100) == 100.0


def test_random_split_merge_and_junk_never_yield_bogus_frames():
    stream = b"\x68NW\x00" + cap.MPP_SOLAR_14S + b"AT\r\nNW" + cap.ESPHOME_14S + b"\x4e" + cap.ESPHOME_13S_IDLE
    rng = random.Random(5)
    for _ in range(60):
        codec = JkUartCodec()
        kinds, voltages, position = [], [], 0
        while position < len(stream):
            size = rng.randint(1, 64)
            for kind in codec.feed(stream[position : position + size]):
                kinds.append(kind)
                voltages.append(codec.sample().voltage)
            position += size
        assert kinds == ["status"] * 3
        assert voltages == [55.78, 53.59, 45.58]


def test_bad_checksum_is_dropped_and_counted():
    corrupt = bytearray(cap.MPP_SOLAR_14S)
    corrupt[100] ^= 0x10
    codec = JkUartCodec()
    assert codec.feed(bytes(corrupt)) == []
    assert codec.stats.bad_checksum >= 1
    assert codec.sample() is None
    assert codec.feed(cap.MPP_SOLAR_14S) == ["status"]


def test_well_framed_answer_without_a_voltage_is_reported_not_decoded():
    frame = jk_uart.build_frame(bytes([0x85, 50]), frame_type=jk_uart.TYPE_REPLY)
    codec = JkUartCodec()
    assert codec.feed(frame) == []
    assert (codec.stats.unplaced, codec.stats.bad_checksum) == (1, 0)
    assert codec.take_unplaced() == [frame]
    assert codec.sample() is None


def test_temperatures_below_zero_in_a_whole_answer():
    # The register notes (esphome-jk-bms docs/protocol-design-uart-ttl-gps-port.md): "0-140 (-40 to 100) The part
    # exceeding 100 is negative temperature, such as 101 is negative 1 degree". No public capture is below zero:
    # the esphome 14S answer with its power tube, box and battery probes set to 101, 125 and 140.
    data = bytearray(cap.ESPHOME_14S[jk_uart.HEADER_LENGTH : -jk_uart.TRAILER_LENGTH])
    for tag, raw in ((0x80, 101), (0x81, 125), (0x82, 140)):
        at = data.index(bytes([tag, 0x00]))
        data[at + 1 : at + 3] = raw.to_bytes(2, "big")
    codec = JkUartCodec()
    assert codec.feed(jk_uart.build_frame(bytes(data), frame_type=jk_uart.TYPE_REPLY)) == ["status"]
    sample = codec.sample()
    assert sample.mosfet_temperature == -1.0
    assert list(sample.temperatures) == [-25.0, -40.0]


def test_truncated_tag_never_raises():
    codec = JkUartCodec()
    frame = jk_uart.build_frame(bytes([0x83, 0x15, 0xCA, 0x79, 0x09, 0x01, 0x0F]), frame_type=jk_uart.TYPE_REPLY)
    assert codec.feed(frame) == ["status"]
    sample = codec.sample()
    assert sample.voltage == 55.78
    assert sample.cell_voltages == ()


def test_absurd_length_resyncs():
    codec = JkUartCodec()
    assert codec.feed(b"NW\xff\xff" + cap.ESPHOME_14S) == ["status"]


@pytest.mark.parametrize(
    "tags",
    [
        bytes([0x83, 0x15, 0xCA, 0x79, 0x03, 0x01, 0xFF, 0xFF]),  # a 65 V cell
        bytes([0x83, 0x15, 0xCA, 0x81, 0xFF, 0x00]),  # -65180 °C
        bytes([0x83, 0x15, 0xCA, 0x85, 0xC8]),  # SoC 200 %
        bytes([0x83, 0x15, 0xCA, 0xAA, 0xFF, 0xFF, 0xFF, 0xFF]),  # 4 billion Ah
    ],
)
def test_impossible_values_refuse_the_whole_answer(tags):
    codec = JkUartCodec()
    assert codec.feed(jk_uart.build_frame(tags, frame_type=jk_uart.TYPE_REPLY)) == []
    assert codec.stats.bad_checksum == 1
    assert codec.sample() is None
