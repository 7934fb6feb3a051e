"""The recovery ladder's upper steps: power-cycle through the root helper, then exit for systemd.

The helper's effect (a USB reset bringing a hung controller back) is simulated by a stand-in that answers the
daemon's request file the way packaging/libexec/bt-reset does and unfreezes the simulated controller.
"""

from __future__ import annotations

import asyncio

import pytest
from helpers import wait_until, write_config

from .conftest import BATTERIES, start_batteries

pytestmark = pytest.mark.e2e


async def fake_helper(directory, simulator, status: int, message: str, revive: bool) -> list[str]:
    requests = []
    request, result = directory / "bt-reset.request", directory / "bt-reset.result"
    while True:
        if request.exists():
            requests.append(request.read_text().strip())
            request.unlink()
            if revive:
                simulator.freeze_adapter(False)
            result.write_text(f"{status} {message}\n")
        await asyncio.sleep(0.1)


async def start(simulator, broker, paths, daemon, tmp_path):
    await start_batteries(simulator, BATTERIES[2:])
    requests_dir = tmp_path / "run"
    requests_dir.mkdir()
    write_config(paths["config"], simulator.port, broker.port, BATTERIES[2:])
    text = paths["config"].read_text().replace("[bluetooth]\n", f'[bluetooth]\nreset_request_dir = "{requests_dir}"\n')
    paths["config"].write_text(text)
    daemon.start()
    return requests_dir


async def test_a_controller_that_only_a_power_cycle_brings_back(simulator, broker, watcher, daemon, paths, tmp_path):
    requests_dir = await start(simulator, broker, paths, daemon, tmp_path)
    await wait_until(lambda: watcher.last_json("batmond/jbd1/state"), 30, "first state")
    helper = asyncio.create_task(fake_helper(requests_dir, simulator, 0, "adapter is back", revive=True))
    try:
        simulator.freeze_adapter(True)  # hung for good: reopening alone cannot help
        await wait_until(lambda: "asking bt-reset to power-cycle it" in daemon.log, 90, "power-cycle requested")
        watcher.clear()
        await wait_until(lambda: watcher.count("batmond/jbd1/state") >= 2, 60, "values after the power cycle")
        assert "bt-reset: adapter is back (status 0)" in daemon.log
        assert daemon.log.count("reopening in") >= 3  # step 2 was tried first
    finally:
        helper.cancel()


async def test_a_controller_that_never_comes_back_ends_the_daemon(simulator, broker, watcher, daemon, paths, tmp_path):
    requests_dir = await start(simulator, broker, paths, daemon, tmp_path)
    await wait_until(lambda: watcher.last_json("batmond/jbd1/state"), 30, "first state")
    helper = asyncio.create_task(fake_helper(requests_dir, simulator, 4, "adapter did not come back", revive=False))
    try:
        simulator.freeze_adapter(True)
        await wait_until(lambda: daemon.process.poll() is not None, 150, "daemon exit")
        assert daemon.process.returncode == 3
        assert "did not come back" in daemon.log and "exiting so that systemd restarts batmond" in daemon.log
        assert watcher.last("batmond/daemon/batmond-test/status") == b"offline"  # a clean goodbye, not a crash
    finally:
        helper.cancel()
