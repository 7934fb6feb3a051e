"""Without the aiobmsble extra (Debian bookworm's Python 3.11, or a plain install), its types say how to get it."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from batmond.aio import KNOWN_PLUGINS
from batmond.config import ConfigError, parse
from batmond.decode import DecodeError, decode

pytestmark = pytest.mark.skipif(
    sys.version_info >= (3, 12) and importlib.util.find_spec("aiobmsble") is not None,
    reason="the aiobmsble extra is installed here (tests/aio covers it)",
)


def device(type_name: str) -> str:
    return f'[[device]]\naddress = "C0:D6:3C:00:00:01"\ntype = "{type_name}"\n'


@pytest.mark.parametrize("type_name", ["seplos", "cbtpwr", "renogy_pro", "jbd_ble", "jikong"])
def test_an_aiobmsble_type_is_a_config_error_that_says_how_to_install_it(type_name):
    with pytest.raises(ConfigError) as error:
        parse(device(type_name), "c.toml")
    message = str(error.value)
    assert message.startswith(f"c.toml:3: [[device]] #1 type: {type_name!r} is read through aiobmsble")
    if sys.version_info < (3, 12):
        assert "needs Python >= 3.12" in message and "Debian trixie" in message
    else:
        assert "pip install 'batmond[aiobmsble]'" in message


def test_batmonds_own_types_and_unknown_names_are_unaffected():
    assert parse(device("jbd"), "c.toml").devices[0].type == "jbd"
    with pytest.raises(ConfigError, match="unknown BMS type 'seplosx'"):
        parse(device("seplosx"), "c.toml")
    with pytest.raises(ConfigError, match="unknown BMS type 'dummy_ble'"):  # aiobmsble's template is no device
        parse(device("dummy_ble"), "c.toml")
    assert "dummy" not in KNOWN_PLUGINS and "seplos" in KNOWN_PLUGINS


def test_decode_says_the_same_instead_of_failing():
    with pytest.raises(DecodeError, match="'seplos' is read through aiobmsble"):
        decode("seplos", [bytes.fromhex("00010a010000000000000300007e35")])
