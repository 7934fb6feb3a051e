"""The daemon heals itself when the HCI adapter dies, freezes, or when keep_alive is off."""

from __future__ import annotations

import json

import pytest
from helpers import wait_until, write_config

from batmond.sim import SimSpec, Simulator

from .conftest import BATTERIES, start_batteries

pytestmark = pytest.mark.e2e


async def test_killed_transport_is_reopened(simulator, broker, watcher, daemon, paths):
    await start_batteries(simulator, BATTERIES[:2])
    write_config(paths["config"], simulator.port, broker.port, BATTERIES[:2])
    daemon.start()
    await wait_until(lambda: watcher.last_json("batmond/jk2/state"), 30, "first state")
    await simulator.stop()  # the USB dongle is pulled: the HCI transport closes
    await wait_until(lambda: "failed: HCI transport lost" in daemon.log, 15, "adapter loss logged")
    replacement = Simulator(simulator.host_transport)
    try:
        await replacement.start([SimSpec(type=t, name=a, address=m) for m, t, a in BATTERIES[:2]])
        watcher.clear()
        await wait_until(lambda: watcher.count("batmond/jk1/state") >= 2, 60, "jk1 back")
        await wait_until(lambda: watcher.count("batmond/jk2/state") >= 2, 60, "jk2 back")
    finally:
        await replacement.stop()


async def test_frozen_controller_is_detected_and_reset(simulator, broker, watcher, daemon, paths):
    await start_batteries(simulator, BATTERIES[2:])
    write_config(paths["config"], simulator.port, broker.port, BATTERIES[2:])
    daemon.start()
    await wait_until(lambda: watcher.last_json("batmond/jbd1/state"), 30, "first state")
    simulator.freeze_adapter(True)  # the controller stops answering HCI commands, the link stays "up"
    await wait_until(lambda: "Bluetooth adapter" in daemon.log and "reopening" in daemon.log, 30, "freeze detected")
    simulator.freeze_adapter(False)
    watcher.clear()
    await wait_until(lambda: watcher.count("batmond/jbd1/state") >= 2, 60, "values again after the reset")


async def test_without_keep_alive_each_sample_is_a_fresh_connection(simulator, broker, watcher, daemon, paths):
    await start_batteries(simulator, BATTERIES[2:])
    write_config(paths["config"], simulator.port, broker.port, BATTERIES[2:],
                 sampling="sample_period = 1.0\nexpire_values_after = 6.0\nkeep_alive = false")  # fmt: skip
    daemon.start()
    await wait_until(lambda: watcher.count("batmond/jbd1/state") >= 3, 40, "three states")
    assert daemon.log.count("connected (jbd1 jbd") >= 3
    assert "reconnecting" not in daemon.log  # disconnecting on purpose is not a failure
    # The frame counters cover the BMS's life, not the last connect: each state counts more frames than the last.
    frames = [json.loads(p)["diagnostics"]["frames"] for p in watcher.payloads("batmond/jbd1/state")]
    assert frames == sorted(frames) and frames[-1] > frames[0] > 0, frames
