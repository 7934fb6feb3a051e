"""ESPHome Bluetooth proxies in the config: names shared with adapters, the secret key, slots, every mistake one
line that never shows the key."""

from __future__ import annotations

import base64

import pytest

from batmond import config as cfg
from batmond.config import SECRETS, AdapterConfig, ConfigError, ProxyConfig, parse

KEY = base64.b64encode(bytes(range(32))).decode()
PROXY_ONLY = f"""\
[[bluetooth.proxy]]
name = "garage"
host = "garage-proxy.local"
encryption_key = "{KEY}"
[[bluetooth.proxy]]
name = "barn"
host = "10.0.0.7"
port = 6054
max_connections = 5
[[device]]
address = "C8:47:8C:E4:54:0D"
type = "jk"
bluetooth_adapter = "garage"
[[device]]
address = "E4:C1:38:00:12:34"
type = "jbd"
"""


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, "batmon.toml")
    message = str(caught.value)
    assert "\n" not in message and KEY not in message
    return message


def test_proxies_alone_mean_no_local_adapter_and_a_device_pins_to_a_proxy():
    config = parse(PROXY_ONLY, "batmon.toml")
    assert config.bluetooth.adapters == ()
    assert config.bluetooth.proxy == (
        ProxyConfig("garage", "garage-proxy.local", 6053, KEY, None),
        ProxyConfig("barn", "10.0.0.7", 6054, None, 5),
    )
    assert [d.bluetooth_adapter for d in config.devices] == ["garage", None]


def test_the_key_is_a_secret_never_in_repr():
    config = parse(PROXY_ONLY, "batmon.toml")
    assert "encryption_key" in SECRETS
    assert KEY not in repr(config) and KEY not in repr(config.bluetooth.proxy[0])


def test_a_proxy_beside_the_single_transport_keeps_the_default_adapter():
    config = parse('[bluetooth]\ntransport = "usb:0"\n' + PROXY_ONLY, "batmon.toml")
    assert config.bluetooth.adapters == (AdapterConfig("default", "usb:0", 5),)
    assert len(config.bluetooth.proxy) == 2


def test_a_proxy_beside_listed_adapters():
    text = '[[bluetooth.adapter]]\nname = "house"\ntransport = "hci-socket:0"\n' + PROXY_ONLY
    config = parse(text.replace('bluetooth_adapter = "garage"', 'bluetooth_adapter = "house"'), "batmon.toml")
    assert [a.name for a in config.bluetooth.adapters] == ["house"]
    assert [p.name for p in config.bluetooth.proxy] == ["garage", "barn"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ((f'encryption_key = "{KEY}"', 'encryption_key = "not base64!"'),
         "batmon.toml:4: [[bluetooth.proxy]] #1 encryption_key: is not base64"),
        ((f'encryption_key = "{KEY}"', f'encryption_key = "{base64.b64encode(bytes(16)).decode()}"'),
         "batmon.toml:4: [[bluetooth.proxy]] #1 encryption_key: decodes to 16 bytes, not 32"),
        ((f'encryption_key = "{KEY}"', "encryption_key = 12345"),
         "batmon.toml:4: [[bluetooth.proxy]] #1 encryption_key: must be a string, not an integer"),
        (('name = "barn"', 'name = "garage"'),
         "batmon.toml:6: [[bluetooth.proxy]] #2 name: 'garage' is already the name of proxy #1"),
        (("port = 6054", "port = 70000"),
         "batmon.toml:8: [[bluetooth.proxy]] #2 port: must be between 1 and 65535, not 70000"),
        (("port = 6054", "port = 0"), "[[bluetooth.proxy]] #2 port: must be between 1 and 65535, not 0"),
        (('host = "10.0.0.7"\n', ""), "[[bluetooth.proxy]] #2 host: required key is missing"),
        (('host = "10.0.0.7"\nport = 6054', 'host = "garage-proxy.local"'),
         "[[bluetooth.proxy]] #2 host: garage-proxy.local:6053 is already proxy 'garage'"),
        (("max_connections = 5", "max_connections = 0"), "[[bluetooth.proxy]] #2 max_connections: must be at least 1"),
        (('name = "barn"', 'name = "the barn"'), "[[bluetooth.proxy]] #2 name: may only contain letters"),
        (('bluetooth_adapter = "garage"', 'bluetooth_adapter = "shed"'),
         "[[device]] #1 bluetooth_adapter: no [[bluetooth.adapter]] or [[bluetooth.proxy]] is named 'shed' "
         "(configured: garage, barn)"),
        (("port = 6054", "prot = 6054"), "[[bluetooth.proxy]] #2 prot: unknown key (did you mean 'port'?)"),
    ],
)  # fmt: skip
def test_proxy_mistakes_are_one_line(change, message):
    assert message in error_of(PROXY_ONLY.replace(*change))


def test_a_name_shared_with_an_adapter_is_refused():
    text = '[[bluetooth.adapter]]\nname = "garage"\ntransport = "usb:0"\n' + PROXY_ONLY
    assert "[[bluetooth.proxy]] #1 name: 'garage' is already the name of adapter #1" in error_of(text)
    single = '[bluetooth]\ntransport = "usb:0"\n' + PROXY_ONLY.replace('name = "barn"', 'name = "default"')
    assert "[[bluetooth.proxy]] #2 name: 'default' is already the name of adapter #1" in error_of(single)


def test_a_toml_syntax_error_in_the_key_does_not_show_it():
    message = error_of(PROXY_ONLY.replace(f'encryption_key = "{KEY}"', f"encryption_key = {KEY}"))
    assert "not shown: it is a secret" in message


def test_without_the_esphome_extra_a_proxy_is_one_line_naming_it(monkeypatch):
    real = cfg.importlib.util.find_spec
    monkeypatch.setattr(cfg.importlib.util, "find_spec", lambda name: None if name == "aioesphomeapi" else real(name))
    assert "pip install 'batmond[esphome]'" in error_of(PROXY_ONLY)


def test_scan_of_a_proxy_only_config_names_each_unreachable_proxy(tmp_path, capsys):
    """No local adapter is opened; every proxy that cannot be reached is one line, and exit 3 says none answered."""
    from batmond.cli import main
    from tests.helpers import free_port

    path = tmp_path / "batmon.toml"
    path.write_text(
        PROXY_ONLY.replace('"garage-proxy.local"', '"127.0.0.1"')
        .replace('"10.0.0.7"', '"127.0.0.1"')
        .replace("6054", str(free_port()))
    )
    assert main(["scan", "--config", str(path), "--seconds", "1"]) == 3
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("batmond: ESPHome proxy garage (ESPHome proxy 127.0.0.1:6053) is unreachable")
    assert lines[1].startswith("batmond: ESPHome proxy barn (ESPHome proxy 127.0.0.1:")
    assert KEY not in "".join(lines)
