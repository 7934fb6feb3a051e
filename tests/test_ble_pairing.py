"""LE pairing with a PIN against the simulated SmartShunt, through the real BLE adapter over an HCI transport.

First connection pairs (passkey typed from the config), the keys land in the keys file, a later adapter (a
restarted daemon) only re-encrypts; a wrong PIN is one clear error and is not retried against the device.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from helpers import free_port

from batmond.protocols.victron import VALUES, VictronCodec
from batmond.sim import SimSpec, Simulator
from batmond.sim.devices.victron import SimulatedVictron
from batmond.transports.base import LinkError
from batmond.transports.ble import BleAdapter

ADDRESS = "D3:9F:05:AC:88:DA"


@pytest.fixture
async def shunt() -> AsyncIterator[tuple[Simulator, SimulatedVictron]]:
    simulator = Simulator(f"tcp-server:127.0.0.1:{free_port()}")
    await simulator.start([SimSpec(type="victron", name="SmartShunt HQ2204", address=ADDRESS)])
    device = simulator.devices["SmartShunt HQ2204"]
    assert isinstance(device, SimulatedVictron)
    yield simulator, device
    await simulator.stop()


@contextlib.asynccontextmanager
async def adapter(simulator: Simulator, keys: Path) -> AsyncIterator[BleAdapter]:
    """A BLE adapter as the daemon runs it; leaving the block is a daemon stop."""
    ble = BleAdapter(simulator.host_transport.replace("tcp-server", "tcp-client"), 5.0, 5.0, str(keys))
    task = asyncio.create_task(ble.run())
    try:
        yield ble
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.3)  # let the simulator's server transport see the client go


async def read_voltage(link) -> bytes:
    return await link.read_characteristic(VALUES[0].uuid)


async def test_pairs_once_then_reencrypts_without_the_pin(shunt, tmp_path: Path) -> None:
    simulator, device = shunt
    device.pin = "424242"
    keys = tmp_path / "state" / "bluetooth-keys.json"
    async with adapter(simulator, keys) as ble:
        link = await ble.connect(ADDRESS, VictronCodec.ble, "shunt", pin="424242")
        assert link.connection.is_encrypted and link.connection.authenticated
        assert VALUES[0].decode(await read_voltage(link)) == pytest.approx(device.battery.voltage, abs=0.02)
        await link.close()
    assert device.pairings == 1
    stored = json.loads(keys.read_text())
    assert any(ADDRESS in peers for peers in stored.values())

    # A restarted daemon: the keys file is there, so the PIN is never typed (even a wrong one would do).
    async with adapter(simulator, keys) as ble:
        link = await ble.connect(ADDRESS, VictronCodec.ble, "shunt", pin="999999")
        assert link.connection.is_encrypted and link.connection.authenticated
        assert await read_voltage(link)
        await link.close()
    assert device.pairings == 1


async def test_the_factory_default_pin_000000_pairs(shunt, tmp_path: Path) -> None:
    simulator, device = shunt
    assert device.pin == "000000"  # passkey 0: bumble needs batmond's Passkey to accept it
    async with adapter(simulator, tmp_path / "keys.json") as ble:
        link = await ble.connect(ADDRESS, VictronCodec.ble, "shunt", pin="000000")
        assert link.connection.authenticated and await read_voltage(link)
        await link.close()


async def test_a_wrong_pin_is_one_clear_error_and_not_retried(shunt, tmp_path: Path) -> None:
    simulator, device = shunt
    keys = tmp_path / "keys.json"
    async with adapter(simulator, keys) as ble:
        with pytest.raises(LinkError) as first:
            await ble.connect(ADDRESS, VictronCodec.ble, "shunt", pin="111111")
        assert str(first.value).startswith("shunt: wrong PIN:")
        assert device.pairings == 1
        with pytest.raises(LinkError) as again:
            await ble.connect(ADDRESS, VictronCodec.ble, "shunt", pin="111111")
        assert str(again.value) == str(first.value)  # same line: the poller logs it once
        assert device.pairings == 1  # the device was not asked again (real ones lock out)
        assert device.connection is None
        # A corrected PIN (a restarted daemon with a fixed config) pairs at once.
        link = await ble.connect(ADDRESS, VictronCodec.ble, "shunt", pin="000000")
        assert link.connection.authenticated
        await link.close()
    assert not keys.exists() or ADDRESS in keys.read_text()


async def test_without_a_pin_the_error_says_to_set_one(shunt, tmp_path: Path) -> None:
    simulator, _ = shunt
    async with adapter(simulator, tmp_path / "keys.json") as ble:
        link = await ble.connect(ADDRESS, VictronCodec.ble, "shunt")  # connects: subscribing needs no pairing
        with pytest.raises(LinkError, match=r"requires pairing .*set its pin"):
            await read_voltage(link)
        await link.close()


async def test_a_device_that_lost_the_bond_is_paired_again(shunt, tmp_path: Path) -> None:
    simulator, device = shunt
    keys = tmp_path / "keys.json"
    async with adapter(simulator, keys) as ble:
        await (await ble.connect(ADDRESS, VictronCodec.ble, "shunt", pin="000000")).close()
    assert device.device is not None
    await device.device.keystore.delete(next(iter(await device.device.keystore.get_all()))[0])  # shunt reset
    async with adapter(simulator, keys) as ble:
        with pytest.raises(LinkError, match="rejected the stored pairing keys"):
            await ble.connect(ADDRESS, VictronCodec.ble, "shunt", pin="000000")
        link = await ble.connect(ADDRESS, VictronCodec.ble, "shunt", pin="000000")
        assert link.connection.authenticated and await read_voltage(link)
        await link.close()
    assert device.pairings == 2
