"""Config validation: every problem is one line naming file, line and key."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from batmond import config as cfg
from batmond.config import ConfigError, load, parse
from batmond.groups import GroupConfig

EXAMPLE = Path(cfg.__file__).with_name("batmon.example.toml")

GOOD = """\
[mqtt]
host = "broker.lan"
port = 1884
username = "u"
password = "hunter2"
[bluetooth]
transport = "usb:0"
[sampling]
sample_period = 2
publish_period = 4.0
expire_values_after = 30
[[device]]
address = "c8:47:8c:e4:54:0d"
type = "jk"
alias = "house"
[[device]]
address = "xiaoxiang BMS"
type = "jbd"
"""


def test_a_good_config_loads_with_defaults_filled_in():
    config = parse(GOOD, "good.toml")
    assert config.mqtt.port == 1884 and config.mqtt.base_topic == "batmond"
    assert config.sampling.sample_period == 2.0 and config.sampling.effective_publish_period == 4.0
    assert config.sampling.keep_alive is True
    first, second = config.devices
    assert first.stable_id == "c8478ce4540d"
    assert second.alias == "xiaoxiang_BMS"  # made from the advertised name
    assert second.stable_id == "name_xiaoxiang_bms"
    assert "hunter2" not in repr(config)  # secrets never reach a log line through repr()


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('[mqtt]\nhost = "a"\nprot = 1883\n', 3, "[mqtt] prot: unknown key (did you mean 'port'?)"),
        ("[mqtt]\nport = 70000\n", 2, "[mqtt] port: must be between 1 and 65535"),
        ('[mqtt]\nport = "1883"\n', 2, "[mqtt] port: must be an integer, not '1883'"),
        ("[mqt]\n", 1, "[mqt]: unknown section (did you mean [mqtt]?)"),
        ("[sampling]\nsample_period = 0\n", 2, "[sampling] sample_period: must be greater than 0"),
        ("[sampling]\nkeep_alive = 1\n", 2, "[sampling] keep_alive: must be true or false, not 1"),
        ("[sampling]\nsample_period = 5\npublish_period = 1\n", 3, "publish_period: must be at least sample_period"),
        ('[bluetooth]\ntransport = "bluez:hci0"\n', 2, "[bluetooth] transport: unknown bumble transport 'bluez'"),
        ('[[device]]\naddress = "C8:47:8C:E4:54"\ntype = "jk"\n', 2, "[[device]] #1 address: bad MAC address"),
        ('[[device]]\naddress = "C8:47:8C:E4:54:0D"\ntype = "jkk"\n', 3, "[[device]] #1 type: unknown BMS type 'jkk'"),
        ('[[device]]\naddress = "C8:47:8C:E4:54:0D"\n', 1, "[[device]] #1 type: required key is missing"),
        (
            '[[device]]\naddress = "C8:47:8C:E4:54:0D"\ntype = "jk"\nalias = "a"\n'
            '[[device]]\naddress = "C8:47:8C:E4:54:0E"\ntype = "jk"\nalias = "a"\n',
            8,
            "[[device]] #2 alias: duplicate alias 'a' (also device #1)",
        ),
        (
            '[[device]]\naddress = "C8:47:8C:E4:54:0D"\ntype = "jk"\n'
            '[[device]]\naddress = "c8:47:8c:e4:54:0d"\ntype = "jbd"\n',
            5,
            "[[device]] #2 address: same device as device #1",
        ),
        ('[[device]]\naddress = "x"\ntype = "jk"\nalias = "a b"\n', 4, "alias: may only contain letters"),
        ('[[device]]\naddress = "serial"\ntype = "jk"\n', 1, "adapter: address = 'serial' needs adapter"),
        ('[[device]]\naddress = "x"\ntype = "jk"\ncurrent_calibration = 0\n', 4, "current_calibration: must not be 0"),
        ('[[device]]\naddress = "x"\ntype = "jk"\npin = "12a"\n', 4, "[[device]] #1 pin: must be up to 6 digits"),
        ('[mqtt]\npassword = "p"\n', 1, "[mqtt] username: password is set but username is missing"),
        (
            '[mqtt]\ntls = true\nca_file = "/nonexistent/ca.pem"\n',
            3,
            "ca_file: file '/nonexistent/ca.pem' does not exist",
        ),
        # tomlkit up to 0.15.2 raises a plain TOMLKitError here (batmond finds the line), 0.15.3 a ParseError.
        ('[mqtt]\nhost = "a"\nhost = "b"\n', 3, 'Key "host" already exists'),
        ('[mqtt]\nhost = "a\n', 2, "TOML syntax error"),
        ("device = 3\n", 1, "device: must be written as [[device]] entries"),
        ('[log]\nlevel = "loud"\n', 2, "[log] level: must be debug, info, warning or error"),
    ],
)
def test_errors_name_file_line_and_key(text, line, message):
    with pytest.raises(ConfigError) as caught:
        parse(text, "/etc/batmon.toml")
    text_of_error = str(caught.value)
    assert "\n" not in text_of_error
    assert text_of_error.startswith(f"/etc/batmon.toml:{line}: "), text_of_error
    assert message in text_of_error


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: file not found"):
        load(tmp_path / "nope.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[mqtt]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(binary)


def test_the_shipped_example_is_valid_and_documents_every_option():
    config = load(EXAMPLE)
    assert config.devices[0].type == "jk"
    text = EXAMPLE.read_text()
    for section, kind in cfg.SECTIONS.items():
        assert f"[{section}]" in text
        for field in dataclasses.fields(kind):
            assert re.search(rf"^#? ?{field.name} = ", text, re.M), f"[{section}] {field.name} not in the example"
    for kind in (cfg.DeviceConfig, GroupConfig):
        for field in dataclasses.fields(kind):
            assert re.search(rf"^#? ?{field.name} = ", text, re.M), f"{kind.__name__}.{field.name} not in the example"


def test_hci_socket_without_bluetooth_support_is_one_clear_line(monkeypatch):
    # The machine's Python may or may not have AF_BLUETOOTH; the message must not depend on luck.
    monkeypatch.delattr(cfg.socket, "AF_BLUETOOTH", raising=False)
    reason = cfg.check_bluetooth_support("hci-socket:0")
    assert reason and "socket.AF_BLUETOOTH" in reason and "\n" not in reason
    assert cfg.check_bluetooth_support("usb:0") is None


def test_cli_check_config_exit_codes(tmp_path, capsys):
    from batmond.cli import main

    assert main(["check-config", str(EXAMPLE)]) == 0
    assert "OK (1 device(s): 1 Bluetooth, 0 wired, 0 dummy)" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[[device]]\naddress = "C8:47:8C:E4:54:0D"\ntype = "jkk"\n')
    assert main(["check-config", str(bad)]) == 78  # EX_CONFIG, as `run` exits
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"batmond: {bad}:3: [[device]] #1 type: unknown BMS type 'jkk' (did you mean 'jk'? known: "
        + (err.split("known: ", 1)[1])
    )
    assert err.count("\n") == 0


DOCUMENTED_TABLES = [
    *cfg.SECTIONS.items(),
    ("[bluetooth.adapter]", cfg.AdapterConfig),
    ("[bluetooth.proxy]", cfg.ProxyConfig),
    ("[device]", cfg.DeviceConfig),
    ("[group]", GroupConfig),
]


def test_the_readme_documents_every_option():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for section, kind in DOCUMENTED_TABLES:
        # a nested table is explained inside its parent's section, from the line that introduces it
        nested = section.startswith("[bluetooth.")
        part = readme.split("### `[bluetooth]`" if nested else f"### `[{section}]`", 1)[1].split("\n### ", 1)[0]
        part = part.split(f"`[{section}]`", 1)[1] if nested else part
        for field in dataclasses.fields(kind):
            assert f"`{field.name}`" in part, f"README does not document [{section}] {field.name}"


def test_the_man_page_documents_every_option():
    page = (Path(__file__).parent.parent / "packaging/man/batmon.toml.5.scd").read_text()
    for section, kind in DOCUMENTED_TABLES:
        part = page.split(f"\n# [{section}]\n", 1)[1].split("\n# ", 1)[0]
        for field in dataclasses.fields(kind):
            if field.name not in ("adapter", "proxy") or kind is not cfg.BluetoothConfig:  # tables of their own
                assert f"*{field.name}*" in part, f"batmon.toml(5) does not document [{section}] {field.name}"


TWO = '[[device]]\naddress = "C8:47:8C:E4:54:0D"\ntype = "jk"\nalias = "a"\n' \
      '[[device]]\naddress = "E4:C1:38:00:12:34"\ntype = "jbd"\nalias = "b"\n'  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "line", "message"),
    [
        ('[[group]]\nname = "house"\nmembers = ["a", "c"]\n', 11, "[[group]] #1 members: no [[device]] has alias 'c'"),
        ('[[group]]\nname = "a"\nmembers = ["a"]\n', 10, "[[group]] #1 name: 'a' is already the alias of a device"),
        ('[[group]]\nname = "g"\nmembers = []\n', 11, "members: a group needs at least one member"),
        ('[[group]]\nname = "g"\nmembers = "a"\n', 11, "members: must be a list of strings, not 'a'"),
        ('[[group]]\nname = "g"\nmembers = ["a"]\nalgorithm = "soc 80% 90%"\n', 12, "must be below the stop level"),
        ("[[group]]\nmembers = []\n", 9, "[[group]] #1 name: required key is missing"),
    ],
)
def test_group_errors(extra, line, message):
    with pytest.raises(ConfigError) as caught:
        parse(TWO + extra, "c.toml")
    assert str(caught.value).startswith(f"c.toml:{line}: "), str(caught.value)
    assert message in str(caught.value)


def test_algorithm_needs_a_writable_charge_switch():
    text = '[[device]]\naddress = "C8:47:8C:E4:54:0D"\ntype = "supervolt"\nalias = "s"\nalgorithm = "soc 90% 80%"\n'
    with pytest.raises(
        ConfigError, match=r"c\.toml:5: \[\[device\]\] #1 algorithm: batmond cannot switch charging on 's'"
    ):
        parse(text, "c.toml")
    read_only = TWO.replace('alias = "a"\n', 'alias = "a"\nread_only = true\nalgorithm = "soc 90% 80%"\n')
    with pytest.raises(ConfigError, match="'a' is read_only"):
        parse(read_only, "c.toml")
    with pytest.raises(ConfigError, match="full_charge_interval: only means something with an algorithm"):
        parse(TWO.replace('alias = "b"\n', 'alias = "b"\nfull_charge_interval = 7\n'), "c.toml")
    config = parse(TWO + '[[group]]\nname = "house"\nmembers = ["a", "b"]\nalgorithm = "soc 95% 85%"\n', "c.toml")
    assert config.groups[0].members == ("a", "b") and config.groups[0].stable_id == "group_house"


def test_a_misspelt_aiobmsble_type_gets_a_suggestion_and_the_list_names_those_types():
    with pytest.raises(ConfigError) as error:
        parse('[[device]]\naddress = "C8:47:8C:E4:54:0D"\ntype = "seplso"\n', "c.toml")
    message = str(error.value)
    assert "unknown BMS type 'seplso' (did you mean 'seplos'?" in message
    # aiobmsble's names that batmond also has natively are written <name>_ble.
    assert "; through aiobmsble: abc, " in message and " jbd_ble, " in message and "renogy_pro" in message
    assert "\n" not in message
