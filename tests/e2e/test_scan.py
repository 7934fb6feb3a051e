"""`batmond scan` against simulated BMS advertising on the virtual radio."""

from __future__ import annotations

import asyncio
import sys

import pytest

from .conftest import BATTERIES, start_batteries

pytestmark = pytest.mark.e2e


async def test_scan_lists_simulated_bms_with_their_suggested_type(simulator):
    await start_batteries(simulator)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batmond", "scan", "--transport", f"tcp-client:127.0.0.1:{simulator.port}",
        "--seconds", "1.5", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    rows = {line.split()[0]: line for line in out.decode().splitlines()[1:]}
    for address, type_name, alias in BATTERIES:
        row = rows[address]
        assert alias in row
        assert type_name.split("_")[0] in row  # jk_24s advertises like any JK: the suggestion is "jk, …"
