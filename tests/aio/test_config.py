"""Config types with the aiobmsble extra installed: aiobmsble's plugin list, batmond's own names first."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from batmond.aio import KNOWN_PLUGINS, AioType, installed_plugins
from batmond.config import ConfigError, parse
from batmond.decode import DecodeError, decode
from batmond.protocols import codec_for, codec_types

from .conftest import NEEDS_EXTRA

pytest.importorskip("aiobmsble", reason=NEEDS_EXTRA)


def device(type_name: str, extra: str = "") -> str:
    return f'[[device]]\naddress = "C0:D6:3C:00:00:01"\ntype = "{type_name}"\nalias = "b"\n{extra}'


def test_the_installed_plugins_are_the_known_ones_and_each_is_a_bms_class():
    from aiobmsble.basebms import BaseBMS

    assert installed_plugins() == KNOWN_PLUGINS  # the pinned version: the list for configs without the extra
    for plugin in sorted(installed_plugins() or ()):
        aio = codec_for(plugin if plugin not in codec_types() else f"{plugin}_ble")
        assert isinstance(aio, AioType) and aio.plugin == plugin
        assert issubclass(importlib.import_module(aio.module).BMS, BaseBMS)


@pytest.mark.parametrize("type_name", ["seplos", "cbtpwr", "renogy_pro", "jikong", "redodo", "jbd_ble", "seplos_ble"])
def test_aiobmsble_types_are_bluetooth_devices_batmond_cannot_switch(type_name):
    config = parse(device(type_name), "c.toml")
    aio = codec_for(config.devices[0].type)
    assert isinstance(aio, AioType)
    assert aio.writable_switches == frozenset() and not aio.in_process and aio.serial is None


def test_batmonds_own_codec_wins_a_name_both_have():
    assert not isinstance(codec_for("jbd"), AioType)
    assert codec_for("jbd_ble") == AioType("jbd_ble", "jbd")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (device("seplos:16s"), "type: 'seplos' takes no options after ':'"),
        (device("seplos").replace('"C0:D6:3C:00:00:01"', '"serial"') + 'adapter = "/dev/ttyUSB0"\n',
         "type: 'seplos' is a Bluetooth protocol; it cannot be read over serial"),
        (device("seplos", 'algorithm = "soc 90% 80%"\n'), "batmond cannot switch charging on 'b' (seplos)"),
        (device("seplos_bms"), "unknown BMS type 'seplos_bms'"),
        (device("dummy_ble"), "unknown BMS type 'dummy_ble'"),
    ],
)  # fmt: skip
def test_config_problems_of_aiobmsble_types(text, problem):
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse(text, "c.toml")


def test_check_config_counts_them_as_bluetooth(tmp_path: Path):
    path = tmp_path / "batmon.toml"
    path.write_text(device("seplos") + device("jbd_ble").replace("C0:D6:3C:00:00:01", "C0:D6:3C:00:00:02").replace(
        'alias = "b"', 'alias = "c"'))  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "batmond", "check-config", str(path)], capture_output=True,
                            text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 Bluetooth" in result.stdout


def test_batmond_decode_cannot_take_an_aiobmsble_type():
    with pytest.raises(DecodeError, match="'seplos' is decoded by aiobmsble while reading the BMS, not offline"):
        decode("seplos", [bytes.fromhex("00010a010000000000000300007e35")])
