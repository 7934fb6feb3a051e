"""Stale switch commands are never written late: the daemon's real pollers on the in-process dummy pack."""

from __future__ import annotations

import asyncio

import pytest

from batmond.commands import CommandExpired
from batmond.config import parse
from batmond.daemon import Daemon

CONFIG = """
[sampling]
sample_period = 3600.0        # one poll at connect, then none
expire_values_after = 7200.0
[[device]]
address = "stale-pack"
type = "dummy"
alias = "pack"
"""


@pytest.fixture
async def daemon():
    daemon = Daemon(parse(CONFIG, "stale.toml"))
    daemon._start_devices()
    yield daemon
    for task in daemon._tasks:
        task.cancel()
    await asyncio.gather(*daemon._tasks, return_exceptions=True)


async def connected(daemon: Daemon) -> None:
    for _ in range(500):  # bounded: the first sample arrives within a few loop turns
        if daemon.hub.state(daemon.config.devices[0]).latest is not None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the dummy pack never answered")


async def test_a_command_for_a_bms_that_did_not_connect_in_time_is_dropped_and_not_written_later(daemon):
    poller = daemon.pollers["pack"]
    task = next(task for task in daemon._tasks if task.get_name() == "bms-pack")
    task.cancel()  # before it ever ran: the BMS is out of reach
    await asyncio.gather(task, return_exceptions=True)
    with pytest.raises(CommandExpired, match="was not connected"):
        await poller.switch("charge", False, asyncio.get_running_loop().time() + 0.05)
    daemon._tasks.append(asyncio.create_task(poller.run()))  # the BMS comes into reach
    await connected(daemon)
    battery = poller._link.bms.battery
    assert battery.charge_enabled and battery.switch_writes == 0


async def test_a_command_waits_for_the_connection_within_its_validity(daemon):
    await asyncio.gather(*daemon.command("pack", "charge", "OFF"))  # sent before the pack connected
    battery = daemon.pollers["pack"]._link.bms.battery
    assert not battery.charge_enabled and battery.switch_writes == 1


async def test_a_command_still_waiting_for_a_busy_bms_after_its_validity_is_dropped(daemon):
    await connected(daemon)
    poller = daemon.pollers["pack"]
    battery = poller._link.bms.battery
    loop = asyncio.get_running_loop()
    not_after = loop.time() + 0.05
    async with poller._exchanging:  # an exchange in progress (a slow answer) until the command's validity ended
        write = asyncio.create_task(poller.switch("charge", False, not_after))
        await asyncio.sleep(not_after - loop.time() + 0.01)
    with pytest.raises(CommandExpired, match="was busy"):
        await write
    assert battery.charge_enabled and battery.switch_writes == 0
    await poller.switch("charge", False, loop.time() + 10)  # in time: written
    assert not battery.charge_enabled and battery.switch_writes == 1
