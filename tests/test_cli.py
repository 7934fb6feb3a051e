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
