"""The shared Modbus RTU helpers: CRC against published request frames, the framer's resynchronisation."""

from __future__ import annotations

import pytest

from batmond.protocols import modbus


@pytest.mark.parametrize(
    "frame",
    [
        "d2030000003ed7b9",  # esphome-daly-bms tests (its issue #9)
        "d20300a900208791",
        "d20600a500014b8a",  # esphome-daly-bms issue #5
        "0103231c00048e4b",  # fl4p/batmon-ha issue #131
        "0103d02600195d0b",
    ],
)
def test_builders_match_published_frames(frame):
    data = bytes.fromhex(frame)
    built = (modbus.read_request if data[1] == modbus.READ_HOLDING else modbus.write_request)(
        data[0], int.from_bytes(data[2:4], "big"), int.from_bytes(data[4:6], "big")
    )
    assert built == data
    assert modbus.crc16(data[:-2]).to_bytes(2, "little") == data[-2:]
    assert modbus.parse_request(data) == modbus.ParsedRequest(data[0], data[1], built[2] << 8 | built[3],
                                                              built[4] << 8 | built[5])  # fmt: skip


def test_parse_request_rejects_bad_crc_and_length():
    assert modbus.parse_request(bytes.fromhex("d2030000003ed7b8")) is None
    assert modbus.parse_request(bytes.fromhex("d2030000003e")) is None


def framer(**kwargs) -> modbus.RtuFramer:
    return modbus.RtuFramer(0x01, frozenset({4}), **kwargs)


def test_only_the_slave_and_functions_asked_for_are_frames():
    answer = modbus.read_response(0x01, b"\x00\x01\x00\x02")
    other_slave = modbus.read_response(0x02, b"\x00\x01\x00\x02")
    echo = modbus.write_request(0x01, 0x10, 1)
    f = framer()
    assert f.feed(other_slave + echo + answer) == [modbus.Frame(0x03, b"\x00\x01\x00\x02", answer)]
    assert f.stats.bad_checksum == 0
    assert f.stats.junk_bytes == len(other_slave + echo)
    assert framer(writes=True).feed(echo) == [modbus.Frame(0x06, echo[2:6], echo)]


def test_an_answer_of_a_byte_count_not_asked_for_is_a_frame_only_when_its_crc_holds():
    # A newer firmware answering with another layout: the codec gets it to report, not junk.
    other_count = modbus.read_response(0x01, b"\x00\x01")
    corrupt = bytearray(modbus.read_response(0x01, b"\x00\x01\x00\x02\x00\x03"))
    corrupt[4] ^= 0xFF
    answer = modbus.read_response(0x01, b"\x00\x01\x00\x02")
    f = framer()
    assert f.feed(other_count + bytes(corrupt) + answer) == [
        modbus.Frame(0x03, b"\x00\x01", other_count),
        modbus.Frame(0x03, b"\x00\x01\x00\x02", answer),
    ]
    # The corrupted one was of a count nobody asked for: junk that looked like a start, not a bad answer.
    assert (f.stats.bad_checksum, f.stats.junk_bytes) == (0, len(corrupt))


def test_exception_answers():
    f = framer(writes=True)
    frames = f.feed(modbus.exception_response(0x01, 0x03, 2) + modbus.exception_response(0x01, 0x06, 4))
    assert [(fr.function, fr.data, fr.refused) for fr in frames] == [(0x83, b"\x02", True), (0x86, b"\x04", True)]
    # A code outside 1..11 is not an exception answer.
    assert framer().feed(modbus.exception_response(0x01, 0x03, 0x40)) == []


def test_byte_by_byte_and_reset():
    answer = modbus.read_response(0x01, b"\x12\x34\x56\x78")
    f = framer()
    assert [frame for byte in answer for frame in f.feed(bytes([byte]))] == [modbus.Frame(0x03, answer[3:7], answer)]
    f.feed(answer[:5])
    f.reset()
    assert f.stats.junk_bytes == 5
    assert f.feed(answer) == [modbus.Frame(0x03, answer[3:7], answer)]


def test_a_corrupted_frame_is_counted_once_and_the_next_one_found():
    answer = modbus.read_response(0x01, b"\x12\x34\x56\x78")
    corrupt = bytearray(answer)
    corrupt[4] ^= 0xFF
    f = framer()
    assert f.feed(bytes(corrupt)) == []
    assert f.feed(answer) == [modbus.Frame(0x03, answer[3:7], answer)]
    assert f.stats.bad_checksum == 1
