"""Several Bluetooth adapters in the config: names, transports, slots and pinned devices, every mistake one line."""

from __future__ import annotations

import pytest

from batmond.config import DEFAULT_MAX_CONNECTIONS, AdapterConfig, ConfigError, parse

TWO_ADAPTERS = """\
[bluetooth]
max_connections = 4
[[bluetooth.adapter]]
name = "house"
transport = "hci-socket:0"
[[bluetooth.adapter]]
name = "shed"
transport = "usb:0"
max_connections = 7
[[device]]
address = "C8:47:8C:E4:54:0D"
type = "jk"
bluetooth_adapter = "shed"
[[device]]
address = "E4:C1:38:00:12:34"
type = "jbd"
"""


def test_adapters_are_listed_with_their_slots_and_a_device_pins_itself():
    config = parse(TWO_ADAPTERS, "batmon.toml")
    assert config.bluetooth.adapters == (
        AdapterConfig("house", "hci-socket:0", 4),  # [bluetooth] max_connections is every adapter's default
        AdapterConfig("shed", "usb:0", 7),
    )
    assert [d.bluetooth_adapter for d in config.devices] == ["shed", None]


def test_the_single_transport_is_one_adapter_named_default():
    config = parse('[bluetooth]\ntransport = "usb:1"\n', "batmon.toml")
    assert config.bluetooth.adapters == (AdapterConfig("default", "usb:1", DEFAULT_MAX_CONNECTIONS),)
    pinned = parse('[[device]]\naddress = "C8:47:8C:E4:54:0D"\ntype = "jk"\nbluetooth_adapter = "default"\n')
    assert pinned.devices[0].bluetooth_adapter == "default"


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, "batmon.toml")
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('bluetooth_adapter = "shed"', 'bluetooth_adapter = "garage"'),
         "batmon.toml:13: [[device]] #1 bluetooth_adapter: no [[bluetooth.adapter]] is named 'garage' "
         "(configured: house, shed)"),
        (('transport = "usb:0"', 'transport = "hci-socket:0"'),
         "batmon.toml:8: [[bluetooth.adapter]] #2 transport: 'hci-socket:0' is already the transport of adapter "
         "'house': one adapter, one entry"),
        (('name = "shed"', 'name = "house"'),
         "batmon.toml:7: [[bluetooth.adapter]] #2 name: 'house' is already adapter #1"),
        (('name = "shed"', 'name = "the shed"'),
         "batmon.toml:7: [[bluetooth.adapter]] #2 name: may only contain letters, digits, '_' and '-' (at most 32)"),
        (("max_connections = 7", "max_connections = 0"),
         "batmon.toml:9: [[bluetooth.adapter]] #2 max_connections: must be at least 1"),
        (("max_connections = 4", "max_connections = 0"),
         "batmon.toml:2: [bluetooth] max_connections: must be at least 1"),
        (('transport = "usb:0"', 'transport = "bluez:hci1"'),
         "batmon.toml:8: [[bluetooth.adapter]] #2 transport: unknown bumble transport 'bluez'"),
        (('name = "shed"\n', ""), "batmon.toml:6: [[bluetooth.adapter]] #2 name: required key is missing"),
        (('name = "shed"', 'nam = "shed"'), "batmon.toml:7: [[bluetooth.adapter]] #2 nam: unknown key (did you mean"),
        (("[bluetooth]\n", '[bluetooth]\ntransport = "usb:1"\n'),
         "batmon.toml:2: [bluetooth] transport: is set and [[bluetooth.adapter]] entries are listed too: give this "
         "transport its own [[bluetooth.adapter]] entry with a name"),
    ],
)  # fmt: skip
def test_every_adapter_mistake_is_named(change, message):
    old, new = change
    assert old in TWO_ADAPTERS
    assert error_of(TWO_ADAPTERS.replace(old, new, 1)).startswith(message)


def test_pinning_a_wired_bms_to_a_bluetooth_adapter_is_refused():
    text = '[[device]]\naddress = "serial"\ntype = "jk_uart"\nadapter = "/dev/ttyUSB0"\nbluetooth_adapter = "default"\n'
    assert error_of(text) == "batmon.toml:5: [[device]] #1 bluetooth_adapter: applies to Bluetooth BMS only"


def test_adapter_written_as_a_plain_key_is_refused():
    assert error_of('[bluetooth]\nadapter = "hci1"\n') == (
        "batmon.toml:2: [bluetooth] adapter: must be written as [[bluetooth.adapter]] entries"
    )
