"""Config keys of wired BMS: board_address, several boards on one adapter."""

from __future__ import annotations

import pytest

from batmond.config import ConfigError, parse


def config(*devices: str) -> str:
    return "\n".join(["[[device]]\naddress = 'serial'\n" + d for d in devices])


def test_two_daly_boards_on_one_adapter_are_two_devices():
    parsed = parse(config("type = 'daly_uart'\nadapter = '/dev/ttyUSB0'",
                          "type = 'daly_uart'\nadapter = '/dev/ttyUSB0'\nboard_address = 2"))  # fmt: skip
    first, second = parsed.devices
    assert (first.board_address, second.board_address) == (1, 2)
    assert first.stable_id == "serial_dev_ttyusb0"  # unchanged for the factory board: meters keep their id
    assert second.stable_id == "serial_dev_ttyusb0_board2"
    assert first.alias != second.alias


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        (config("type = 'daly_uart'\nadapter = '/dev/ttyUSB0'\nboard_address = 0"), "board_address", "between 1"),
        (config("type = 'daly_uart'\nadapter = '/dev/ttyUSB0'\nboard_address = 65"), "board_address", "between 1"),
        ("[[device]]\naddress = 'AA:BB:CC:DD:EE:FF'\ntype = 'daly'\nboard_address = 2", "board_address", "wired"),
        (config("type = 'daly_uart'\nadapter = '/dev/ttyUSB0'", "type = 'daly_uart'\nadapter = '/dev/ttyUSB0'"),
         "board_address", "its own board_address"),
        (config("type = 'daly_uart'\nadapter = '/dev/ttyUSB0'", "type = 'jk_uart'\nadapter = '/dev/ttyUSB0'"),
         "type", "one protocol and baud rate per bus"),
        (config("type = 'daly_uart'\nadapter = '/dev/ttyUSB0'\nboard_address = 'two'"), "board_address", "integer"),
    ],
)  # fmt: skip
def test_bad_wired_configs_name_the_key(text, key, reason):
    with pytest.raises(ConfigError) as caught:
        parse(text, "batmon.toml")
    assert key in caught.value.key and reason in caught.value.reason
