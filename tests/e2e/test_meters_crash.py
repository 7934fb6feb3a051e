"""Meters end to end: SIGKILL at random instants never loses a published reading; the real daemon is accurate."""

from __future__ import annotations

import asyncio
import json
import math
import random
import signal
import sys
from pathlib import Path

import pytest
from helpers import wait_until, write_config

from batmond.protocols import jbd
from batmond.sim import SimSpec

pytestmark = pytest.mark.e2e
BASE = "batmond"
SAMPLING = "sample_period = 0.5\nexpire_values_after = 4.0"
INCREASING = ("energy_charge_kwh", "energy_discharge_kwh", "cycles")
# Small packs swinging fast, so SoC (and the cycle meter) moves within seconds.
PACKS = [
    SimSpec(type="jbd", name="jbd1", address="E4:C1:38:00:12:34", capacity_ah=1.0, soc=50.0),
    SimSpec(type="jk", name="jk1", address="C8:47:8C:E4:54:0D", capacity_ah=1.0, soc=50.0),
]
KILLS = 10


async def durable_meters(state_dir: Path) -> dict[str, dict[str, float]]:
    """What `batmond meters --json` reads from the state directory, by alias."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batmond", "meters", "--json", "--state-dir", str(state_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return {device["alias"]: device["meters"] for device in json.loads(out)["devices"]}


def published(watcher, alias: str) -> list[dict[str, float]]:
    return [state["meters"] for p in watcher.payloads(f"{BASE}/{alias}/state") if "meters" in (state := json.loads(p))]


def check_broker_against(watcher, recovered: dict[str, dict[str, float]]) -> None:
    for spec in PACKS:
        seen = published(watcher, spec.name)
        for name in INCREASING:
            series = [m[name] for m in seen]
            assert series == sorted(series), f"{spec.name} {name} went backwards on the broker"
            if seen:
                assert recovered[spec.name][name] >= series[-1], (spec.name, name, recovered, seen[-1])


async def test_sigkill_at_random_instants_never_loses_a_published_meter(simulator, broker, watcher, daemon, paths):
    await simulator.start(PACKS)
    for bms in simulator.devices.values():
        bms.battery.swing_period = 16.0
    state_dir = paths["config"].parent / "state"
    write_config(paths["config"], simulator.port, broker.port,
                 [(s.address, s.type, s.name) for s in PACKS], sampling=SAMPLING)  # fmt: skip
    rng = random.Random(20261124)
    previous: dict[str, dict[str, float]] = {}
    for kill in range(KILLS):
        before = len(published(watcher, "jbd1"))
        daemon.start()
        if kill % 2 == 0:
            # Let this run publish, then kill it at a random instant of its steady state.
            await wait_until(lambda b=before: len(published(watcher, "jbd1")) > b + 1, 40, f"publish in run {kill}")
            await asyncio.sleep(rng.uniform(0.0, 1.5))
        else:
            await asyncio.sleep(rng.uniform(0.2, 2.5))  # anywhere from start-up and recovery on
        daemon.stop(signal.SIGKILL)
        recovered = await durable_meters(state_dir)
        check_broker_against(watcher, recovered)
        for alias, meters in previous.items():
            for name in INCREASING:
                assert recovered[alias][name] >= meters[name], f"{alias} {name} went backwards across a crash"
        for meters in recovered.values():
            assert all(math.isfinite(v) for v in meters.values())
            expected_net = meters["energy_charge_kwh"] - meters["energy_discharge_kwh"]
            assert meters["energy_net_kwh"] == pytest.approx(expected_net, abs=1e-9)
        previous = recovered or previous
    # A last, clean run: the journal opens after all that, and a clean stop commits the final values.
    # The log file and the broker keep what earlier runs wrote: wait on what this run writes.
    log_before = len(daemon.log)
    seen_before = {alias: len(published(watcher, alias)) for alias in ("jbd1", "jk1")}
    daemon.start()
    await wait_until(lambda: "recovered up to seq" in daemon.log[log_before:], 30, "journal opened")

    def swung_both_ways(alias: str) -> bool:
        # Which way the simulated load goes during the short runs above is chance: wait until this run has
        # published both directions (and the cycle meter, which moves once SoC has swung a few percent).
        return any(
            m.get("cycles", 0) > 0 and m["energy_charge_kwh"] > 0 and m["energy_discharge_kwh"] > 0
            for m in published(watcher, alias)[seen_before[alias] :]
        )

    for alias in ("jbd1", "jk1"):
        await wait_until(lambda a=alias: swung_both_ways(a), 60, f"{alias} charged, discharged and cycled")
    assert daemon.stop(signal.SIGTERM) == 0, daemon.log[-3000:]
    final = await durable_meters(state_dir)
    check_broker_against(watcher, final)
    for alias in ("jbd1", "jk1"):
        assert final[alias]["energy_charge_kwh"] > 0 and final[alias]["energy_discharge_kwh"] > 0


async def test_real_daemon_meters_match_the_simulated_energy(simulator, broker, watcher, daemon, paths):
    await simulator.start([SimSpec(type="jbd", name="jbd1", address="E4:C1:38:00:12:34")])
    bms = simulator.devices["jbd1"]
    bms.battery.swing_period = 20.0
    truth: list[tuple[float, float]] = []  # (in, out) Wh when each basic-info frame was built
    answer = bms.answer

    def recording_answer(request: bytes) -> list[bytes]:
        frames = answer(request)
        if frames and request[1:3] == bytes((jbd.READ, jbd.BASIC_INFO)):
            truth.append((bms.battery.energy_in_wh, bms.battery.energy_out_wh))
        return frames

    bms.answer = recording_answer
    write_config(paths["config"], simulator.port, broker.port, [(bms.address, "jbd", "jbd1")])
    daemon.start()
    uid = "batmond_e4c138001234"
    await wait_until(lambda: watcher.last_json(f"homeassistant/device/{uid}/config"), 30, "discovery")

    def enough() -> bool:
        seen = published(watcher, "jbd1")
        return bool(seen) and min(seen[-1]["energy_charge_kwh"], seen[-1]["energy_discharge_kwh"]) > 0.005

    await wait_until(enough, 90, "5 Wh each way")
    assert daemon.stop(signal.SIGTERM) == 0, daemon.log[-3000:]
    meters = (await durable_meters(paths["config"].parent / "state"))["jbd1"]
    # The daemon integrated from the first frame to the last or the one before (the last may be in flight).
    for index, name in ((0, "energy_charge_kwh"), (1, "energy_discharge_kwh")):
        low = truth[-2][index] - truth[0][index]
        high = truth[-1][index] - truth[0][index]
        assert low * 0.95 <= meters[name] * 1000 <= high * 1.05, (name, meters[name] * 1000, low, high)
    cmps = watcher.last_json(f"homeassistant/device/{uid}/config")["cmps"]
    assert (cmps["energy_charge"]["dev_cla"], cmps["energy_charge"]["stat_cla"]) == ("energy", "total_increasing")
    assert cmps["energy_discharge"]["unit_of_meas"] == "kWh"
    assert cmps["energy_discharge"]["val_tpl"] == "{{ value_json.meters.energy_discharge_kwh }}"
    assert cmps["energy_net"]["stat_cla"] == "total"
    assert cmps["charge_net"]["unit_of_meas"] == "Ah" and "dev_cla" not in cmps["charge_net"]
    assert cmps["meter_cycles"]["stat_cla"] == "total_increasing"
