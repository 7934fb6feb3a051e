"""aiobmsble tests: they need the ``aiobmsble`` extra (Python >= 3.12; `make test-aiobmsble` makes that venv).

Without it each module here skips itself, which is what the 3.11 suite sees.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from helpers import free_port

from batmond.sim import Simulator
from batmond.sim.aio_devices import Recording, ReplayBms
from batmond.transports.ble import BleAdapter

NEEDS_EXTRA = "the aiobmsble extra is not installed (make test-aiobmsble runs these tests)"


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    port = free_port()
    sim = Simulator(f"tcp-server:127.0.0.1:{port}")
    sim.port = port  # type: ignore[attr-defined]
    await sim.start([])
    yield sim
    await sim.stop()


async def add_replay(sim: Simulator, recording: Recording, address: str, alias: str | None = None) -> ReplayBms:
    """A replaying peripheral on the simulator's radio, advertising the recording's name."""
    bms = ReplayBms(recording, address)
    await bms.start(sim.link)
    sim.devices[alias or recording.name] = bms
    return bms


@pytest.fixture
async def adapter(simulator: Simulator) -> AsyncIterator[BleAdapter]:
    """batmond's real Bluetooth adapter, connected to the simulator over HCI/TCP like a daemon."""
    ble = BleAdapter(f"tcp-client:127.0.0.1:{simulator.port}", connect_timeout=5.0, scan_timeout=10.0)
    task = asyncio.create_task(ble.run())
    await asyncio.wait_for(ble.ready.wait(), 10)
    yield ble
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
