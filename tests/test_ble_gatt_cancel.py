"""A GATT request never swallows the cancellation of the task that runs it, and a poller never ends on a
cancellation that was not its own.

On Python 3.11 ``asyncio.wait_for`` returns the result instead of raising when the task is cancelled after the
request finished but before the task resumed; a poller cancelled at shutdown in that instant kept polling and
the daemon never stopped (found by ``make bench``). ``gatt()`` must end cancelled wherever the cancel lands.
"""

from __future__ import annotations

import asyncio

from batmond.config import DeviceConfig, SamplingConfig
from batmond.hub import Hub
from batmond.poller import Poller
from batmond.protocols.jbd import JbdCodec
from batmond.transports.base import Link
from batmond.transports.ble import gatt


async def answer_after(turns: int) -> bytes:
    for _ in range(turns):
        await asyncio.sleep(0)
    return b"answer"


async def test_a_cancel_at_any_loop_turn_ends_the_request_cancelled() -> None:
    for turns in range(3):  # how many loop turns the request takes
        for cancel_after in range(1, turns + 4):  # the loop turn at which the task is cancelled (0: never ran)
            task = asyncio.create_task(gatt(Link("bms"), answer_after(turns)))
            for _ in range(cancel_after):
                await asyncio.sleep(0)
            finished_before = task.done()
            task.cancel()
            try:
                result = await task
            except asyncio.CancelledError:
                assert not finished_before
            else:
                assert finished_before, f"cancel swallowed: request of {turns} turns, cancelled after {cancel_after}"
                assert result == b"answer"


async def test_a_poller_survives_a_request_aborted_under_it_and_still_stops_when_cancelled() -> None:
    """bumble aborts what is pending on a link or transport that went away with CancelledError (a connect, an RSSI
    read): the poller must take that as a lost link and go on reading its BMS, not end quietly for good."""
    device = DeviceConfig(address="00:00:00:00:00:02", type="jbd", alias="pack")
    hub = Hub((device,))
    attempts = 0

    async def connect() -> Link:
        nonlocal attempts
        attempts += 1
        raise asyncio.CancelledError  # as bumble's aborted request raises it, in a task nobody cancelled

    poller = Poller(device, JbdCodec, connect, SamplingConfig(sample_period=0.001), hub)
    poller._backoff = 0.001  # the reconnect backoff doubles from here: a few attempts within the test's bound
    task = asyncio.create_task(poller.run())
    for _ in range(500):  # bounded
        if attempts >= 3:
            break
        await asyncio.sleep(0.01)
    assert attempts >= 3 and not task.done()  # it went on trying
    assert hub.state(device).last_error == "a request was aborted: the link or the adapter went away"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()  # a real cancellation still ends it
