"""`batmond decode` on real captures, as a user would run it on what snoop logged."""

from __future__ import annotations

import json
import subprocess
import sys

from captures import jbd as jbd_captures
from captures import jk02_32s

from batmond.protocols import modbus


def decode(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "batmond", "decode", *args], capture_output=True, text=True, timeout=60
    )


def test_jk_notifications_split_like_ble_decode_to_the_contract(tmp_path):
    # A snoop-style log: timestamps, 20-byte pieces, junk, comments.
    stream = jk02_32s.JK02_32S_V19_DEVICE_INFO + b"AT\r\n" + jk02_32s.JK02_32S_V19_CELL_INFO
    lines = ["# snoop of a JK-PB2A16S20P"]
    lines += [f"12:00:{i // 10:02d}.{i % 10}00 {stream[i : i + 20].hex(' ')}" for i in range(0, len(stream), 20)]
    log = tmp_path / "snoop.txt"
    log.write_text("\n".join(lines) + "\n")
    result = decode("--type", "jk", "--file", str(log))
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    expected = jk02_32s.JK02_32S_V19_CELL_INFO_EXPECTED
    assert values["frames"] == ["info", "cells"]
    assert values["voltage"] == expected["voltage"]
    assert values["current"] == expected["current"]
    assert values["cell_voltages"] == [mv / 1000 for mv in expected["cell_voltages_mv"]]
    assert values["temperatures"][:2] == expected["temperatures"]
    assert values["device_info"]["sw_version"] == "19.27"


def test_jbd_hex_arguments():
    result = decode("--type", "jbd", jbd_captures.JBD_BASIC_INFO.hex(), jbd_captures.JBD_CELL_INFO.hex(" "))
    values = json.loads(result.stdout)
    assert values["voltage"] == 15.6 and values["cell_min_index"] == 3 and values["temperatures"] == [22.4, 22.3, 21.7]


def test_a_frame_that_does_not_decode_is_one_line_and_exit_1():
    corrupt = bytearray(jbd_captures.JBD_BASIC_INFO)
    corrupt[6] ^= 0xFF
    result = decode("--type", "jbd", corrupt.hex())
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "batmond: no complete jbd frame in 36 bytes (1 with a bad checksum, 35 junk bytes)"
    assert decode("--type", "jbd", "zz").stderr.strip() == "batmond: not hex: 'zz'"
    assert "unknown BMS type 'nope'" in decode("--type", "nope", "00").stderr


def test_a_frame_batmond_cannot_place_is_reported_with_its_length_and_bytes():
    # A well-formed daly2 answer of 5 registers: no layout batmond knows has that size.
    odd = modbus.read_response(0xD2, bytes.fromhex("00010002000300040005"))
    result = decode("--type", "daly2", odd.hex())
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"batmond: cannot place a 15-byte daly2 frame (unknown length or variant; please report it): {odd.hex(' ')}"
    )
