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
    rows = {line.split()[0]: line.split() for line in out.decode().splitlines()[1:]}
    for address, type_name, alias in BATTERIES:
        _, _, name, *suggested = rows[address]
        assert name == alias
        # by the advertised service UUID (the aliases match no name prefix); jk_24s advertises like any JK
        assert type_name.split("_")[0] in " ".join(suggested).replace(",", " ").split()


async def _silent_controller() -> tuple[asyncio.Server, int]:
    """A TCP "HCI transport" that accepts and never answers, like a hung USB dongle."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _scan(transport: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batmond", "scan", "--transport", transport, "--seconds", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, err.decode()


async def test_scan_with_a_controller_that_never_answers_says_so_in_one_line():
    server, port = await _silent_controller()
    async with server:
        returncode, err = await _scan(f"tcp-client:127.0.0.1:{port}")
    assert returncode == 3
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines == [f"batmond: Bluetooth adapter tcp-client:127.0.0.1:{port}: controller did not answer HCI reset "
                     "within 5 s"]  # fmt: skip


async def test_scan_with_nothing_listening_says_so_in_one_line():
    server, port = await _silent_controller()
    server.close()
    await server.wait_closed()
    returncode, err = await _scan(f"tcp-client:127.0.0.1:{port}")
    assert returncode == 3
    assert "Traceback" not in err
    assert err.startswith(f"batmond: Bluetooth adapter tcp-client:127.0.0.1:{port}: ") and err.count("\n") == 1
