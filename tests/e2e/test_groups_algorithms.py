"""Battery groups and the SoC charge algorithm through the real daemon, simulator and broker."""

from __future__ import annotations

import signal

import pytest
from helpers import wait_until, write_config

from .conftest import BATTERIES, start_batteries

pytestmark = pytest.mark.e2e
PACKS = [BATTERIES[0], BATTERIES[2]]  # jk1 and jbd1 in parallel


async def test_group_publishes_aggregates_and_leaves_stale_members_out(simulator, broker, watcher, daemon, paths):
    await start_batteries(simulator, PACKS)
    write_config(paths["config"], simulator.port, broker.port, PACKS)
    with paths["config"].open("a") as config:
        config.write('[[group]]\nname = "house"\nmembers = ["jk1", "jbd1"]\n')
    daemon.start()
    discovery = await wait_until(lambda: watcher.last_json("homeassistant/device/batmond_group_house/config"), 30,
                                 "group discovery")  # fmt: skip
    assert discovery["dev"]["name"] == "house" and discovery["stat_t"] == "batmond/house/state"
    assert discovery["cmps"]["charge_switch"]["p"] == "switch"  # every member can switch charging
    assert "energy_charge" in discovery["cmps"] or "stale_members" in discovery["cmps"]

    def both_online():
        state = watcher.last_json("batmond/house/state")
        return state if state and state["diagnostics"]["members_online"] == 2 else None

    state = await wait_until(both_online, 30, "group with both members")
    jk1, jbd1 = (watcher.last_json(f"batmond/{a}/state") for a in ("jk1", "jbd1"))
    assert len(state["cell_voltages"]) == len(jk1["cell_voltages"]) + len(jbd1["cell_voltages"])
    assert state["capacity"] == pytest.approx(jk1["capacity"] + jbd1["capacity"])
    assert abs(state["current"] - (jk1["current"] + jbd1["current"])) < 30  # members move between publishes
    assert state["diagnostics"]["stale_members"] == "none"

    simulator.devices["jbd1"].silent = True

    def one_left():
        s = watcher.last_json("batmond/house/state")
        return s if s and s["diagnostics"]["stale_members"] == "jbd1" else None

    state = await wait_until(one_left, 30, "jbd1 left out")
    assert state["diagnostics"]["members_online"] == 1
    assert state["capacity"] == pytest.approx(jk1["capacity"])
    simulator.devices["jk1"].silent = True
    await wait_until(lambda: watcher.last("batmond/house/availability") == b"offline", 30, "group unavailable")
    for alias in ("jk1", "jbd1"):
        simulator.devices[alias].silent = False
    await wait_until(lambda: watcher.last("batmond/house/availability") == b"online", 60, "group back")

    watcher.publish("batmond/house/switch/discharge/set", "OFF")  # a group command goes to every member
    await wait_until(lambda: not any(simulator.devices[a].battery.discharge_enabled for a in ("jk1", "jbd1")), 20,
                     "both members switched")  # fmt: skip


async def test_soc_algorithm_switches_on_transitions_and_remembers_across_restarts(
    simulator, broker, watcher, daemon, paths
):
    pack = [BATTERIES[2]]
    await start_batteries(simulator, pack)
    write_config(paths["config"], simulator.port, broker.port, [])
    with paths["config"].open("a") as config:
        config.write(f'[[device]]\naddress = "{pack[0][0]}"\ntype = "jbd"\nalias = "jbd1"\n'
                     'algorithm = "soc 90% 80%"\n')  # fmt: skip
    battery = simulator.devices["jbd1"].battery
    battery.swing_amps = 0.0  # SoC stays where the test puts it
    battery.soc = 95.0
    daemon.start()
    await wait_until(lambda: not battery.charge_enabled, 30, "charging stopped above 90 %")
    assert "switching charging OFF (algorithm 'soc 90% 80%')" in daemon.log
    battery.soc = 75.0
    await wait_until(lambda: battery.charge_enabled, 30, "charging resumed below 80 %")
    battery.soc = 95.0
    await wait_until(lambda: not battery.charge_enabled, 30, "stopped again")
    assert daemon.stop(signal.SIGTERM) == 0  # the decision is in the journal now

    # The user switches charging on by hand; after a restart the algorithm remembers it already decided "off"
    # at this SoC and leaves the user's choice alone until its own decision changes.
    battery.charge_enabled = True
    daemon.start()
    await wait_until(lambda: daemon.log.count("batmond running") == 2, 20, "second start")
    await wait_until(lambda: (watcher.last_json("batmond/jbd1/state") or {}).get("soc", 0) >= 94, 20, "state")
    await wait_until(lambda: daemon.log.count("connected (jbd1") >= 2, 20, "reconnected")
    for _ in range(30):  # three seconds of samples at 95 %: no new command
        await wait_until(lambda: True, 0.1)
    assert battery.charge_enabled
    assert daemon.log.count("switching charging OFF") == 2
