"""The command line as users meet it: a real `batmond` process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from batmond import __version__
from batmond.cli import parser


def batmond(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "batmond", *args], capture_output=True, text=True, timeout=timeout)


def test_version():
    result = batmond("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"batmond {__version__}"


def subcommands() -> list[str]:
    return list(parser()._subparsers._group_actions[0].choices)  # the parser is the source of truth


@pytest.mark.parametrize("command", subcommands())
def test_every_subcommand_has_help(command):
    result = batmond(command, "--help")
    assert result.returncode == 0
    assert f"usage: batmond {command}" in result.stdout
    assert len(result.stdout.splitlines()) >= 4


def test_top_level_help_lists_the_subcommands():
    result = batmond("--help")
    assert result.returncode == 0
    for command in ("run", "check-config", "sim", "demo"):
        assert command in result.stdout


def test_run_with_a_broken_config_is_one_line_and_exit_78(tmp_path):
    config = tmp_path / "batmon.toml"
    config.write_text("[sampling]\nsample_period = -1\n")
    result = batmond("run", "--config", str(config))
    assert result.returncode == 78  # EX_CONFIG: systemd does not restart the daemon for nothing
    assert result.stderr.strip() == f"batmond: {config}:2: [sampling] sample_period: must be greater than 0"


def test_demo_runs_by_itself_and_prints_the_table(tmp_path):
    result = batmond("demo", "--duration", "6", "--state-dir", str(tmp_path), timeout=90)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    table = result.stdout
    assert "battery" in table and "SoC %" in table
    for alias in ("jk-garage", "jk-shed", "jbd-van"):
        assert alias in table
    rows = [line.split() for line in table.splitlines() if line.startswith("jbd-van")]
    assert rows, table
    voltage, soc = float(rows[-1][2]), float(rows[-1][5])
    assert 40 < voltage < 60 and 0 <= soc <= 100


SECRET = "s3cr3t-VALUE"
DEVICE = '[[device]]\naddress = "C8:47:8C:E4:54:0D"\ntype = "victron"\n'
MQTT = '[mqtt]\nusername = "u"\n'
INFLUX1, INFLUX2 = '[influxdb]\ndatabase = "d"\nusername = "u"\n', '[influxdb]\norg = "o"\nbucket = "b"\n'


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (MQTT + f'password = ["{SECRET}"]\n', "[mqtt] password: must be a string, not an array"),
        (MQTT + f'password = {{ a = "{SECRET}" }}\n', "[mqtt] password: must be a string, not a table"),
        (INFLUX2 + f'token = ["{SECRET}"]\n', "[influxdb] token: must be a string, not an array"),
        (INFLUX1 + f'password = ["{SECRET}"]\n', "[influxdb] password: must be a string"),
        (DEVICE + 'pin = [135246]\n', "[[device]] #1 pin: must be a string, not an array"),
        (DEVICE + 'pin = 135246.5\n', "[[device]] #1 pin: must be a string, not a number"),
        (DEVICE + 'pin = "135x46"\n', "[[device]] #1 pin: must be up to 6 digits"),
        (MQTT + f'passwort = "{SECRET}"\n', "[mqtt] passwort: unknown key (did you mean 'password'?)"),
        (MQTT + f'password = {SECRET}\n', ":3: TOML syntax error in the value of password at col 11 (not shown"),
        (MQTT + f'"token" = {SECRET}\n', ":3: TOML syntax error in the value of token at col"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_config_error_never_shows_a_secret(tmp_path, text, key, command):
    config = tmp_path / "batmon.toml"
    config.write_text(text)
    result = batmond(*(["run", "--config"] if command == "run" else [command]), str(config))
    assert result.returncode == 78, result.stderr
    assert key in result.stderr and result.stderr.count("\n") == 1, result.stderr
    for shown in (SECRET, "'s'", "135246", "135x46"):
        assert shown not in result.stderr + result.stdout


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_config_path_that_is_a_directory_or_missing_is_one_line_and_exit_78(tmp_path, command):
    for path, reason in ((tmp_path, "is a directory, not a config file"), (tmp_path / "nope.toml", "file not found")):
        result = batmond(*(["run", "--config"] if command == "run" else [command]), str(path))
        assert result.returncode == 78, result.stderr
        assert result.stderr == f"batmond: {path}: {reason}\n"
