"""A GATT request never swallows the cancellation of the task that runs it.

On Python 3.11 ``asyncio.wait_for`` returns the result instead of raising when the task is cancelled after the
request finished but before the task resumed; a poller cancelled at shutdown in that instant kept polling and
the daemon never stopped (found by ``make bench``). ``gatt()`` must end cancelled wherever the cancel lands.
"""

from __future__ import annotations

import asyncio

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
