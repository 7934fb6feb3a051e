"""Many BMS over several adapters with real slot limits: placement, rotation, an adapter dying, a full controller.

The simulated controllers refuse the connect beyond their slots with HCI Connection Limit Exceeded and hear each
BMS at the RSSI a test gives them; the daemon meets them through its HCI transports, as it would real dongles.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from helpers import free_port, wait_until

from batmond.sim import SimSpec, Simulator, address_for

pytestmark = pytest.mark.e2e

TYPES = ["jk", "jbd", "daly", "ant", "jk_24s", "supervolt", "sok", "litime", "jbd", "jk"]
FLEET = [(address_for(f"fleet-{i}"), type_name, f"b{i}") for i, type_name in enumerate(TYPES)]


@pytest.fixture
async def radio():
    sim = Simulator()
    yield sim
    await sim.stop()


async def add_adapters(sim: Simulator, slots: int, hears: dict[str, dict[str, int]] | None = None,
                       names: tuple[str, ...] = ("house", "shed")) -> dict[str, int]:  # fmt: skip
    ports = {}
    for name in names:
        ports[name] = free_port()
        await sim.add_adapter(name, f"tcp-server:127.0.0.1:{ports[name]}", slots=slots,
                              hears=(hears or {}).get(name))  # fmt: skip
    return ports


def fleet_config(path: Path, ports: dict[str, int], broker_port: int, devices, max_connections: int,
                 sampling: str = "sample_period = 1.0\nexpire_values_after = 30.0") -> None:  # fmt: skip
    """Turns every second (turn_interval = 1), so that a few seconds show every BMS sampled more than once."""
    lines = ["[mqtt]", 'host = "127.0.0.1"', f"port = {broker_port}", 'client_id = "batmond-test"', "[bluetooth]",
             "connect_timeout = 5.0", "scan_timeout = 10.0", f"max_connections = {max_connections}",
             "turn_interval = 1.0"]  # fmt: skip
    for name, port in ports.items():
        lines += ["[[bluetooth.adapter]]", f'name = "{name}"', f'transport = "tcp-client:127.0.0.1:{port}"']
    lines += ["[sampling]", sampling, "[state]", f'dir = "{path.parent / "state"}"']
    for address, type_name, alias, *more in devices:
        lines += ["[[device]]", f'address = "{address}"', f'type = "{type_name}"', f'alias = "{alias}"', *more]
    path.write_text("\n".join(lines) + "\n")


async def start(sim: Simulator, devices) -> None:
    await sim.start([SimSpec(type=type_name, name=alias, address=address) for address, type_name, alias, *_ in devices])


def diagnostics(watcher, alias: str) -> dict:
    state = watcher.last_json(f"batmond/{alias}/state") or {}
    return state.get("diagnostics", {})


@contextlib.asynccontextmanager
async def most_links(sim: Simulator):
    """The largest number of links each simulated adapter held at once while the block ran."""
    peak = dict.fromkeys(sim.adapters, 0)

    async def watch() -> None:
        while True:
            for name, controller in sim.adapters.items():
                peak[name] = max(peak[name], len(controller.le_connections))
            await asyncio.sleep(0.02)

    task = asyncio.create_task(watch())
    try:
        yield peak
    finally:
        task.cancel()


async def test_ten_bms_on_two_adapters_of_three_slots_all_publish(radio, broker, watcher, daemon, paths):
    ports = await add_adapters(radio, slots=3)
    await start(radio, FLEET)
    fleet_config(paths["config"], ports, broker.port, FLEET, max_connections=3)
    daemon.start()
    async with most_links(radio) as peak:
        for _, _, alias in FLEET:
            await wait_until(lambda a=alias: watcher.last_json(f"batmond/{a}/state"), 120, f"{alias}'s first state")
        watcher.clear()
        await asyncio.sleep(12)
    for _, _, alias in FLEET:  # each BMS sampled again and again, resident or taking turns
        assert watcher.count(f"batmond/{alias}/state") >= 2, (alias, daemon.log[-3000:])
    assert peak == {"house": 3, "shed": 3}  # every slot used, none asked beyond
    serving = {alias: diagnostics(watcher, alias)["adapter"] for _, _, alias in FLEET}
    assert sorted(serving.values()).count("house") == 5 == sorted(serving.values()).count("shed"), serving
    for _, _, alias in FLEET:
        found = diagnostics(watcher, alias)
        assert found["rssi"] == -60 and found["connect_time"] > 0 and found["sample_interval"] > 0
    assert daemon.log.count("taking turns") >= 6  # 3 of the 5 on each adapter share its last slot
    assert "Connection Limit Exceeded" not in daemon.log and "reconnecting" not in daemon.log


async def test_placement_follows_what_each_adapter_hears_and_a_pin(radio, broker, watcher, daemon, paths):
    only_shed, better_shed, better_house, pinned = (address for address, _, _ in FLEET[:4])
    hears = {
        "house": {better_shed: -80, better_house: -42, pinned: -75},
        "shed": {only_shed: -70, better_shed: -45, better_house: -71, pinned: -30},
    }
    devices = [*FLEET[:3], (*FLEET[3], 'bluetooth_adapter = "house"')]
    ports = await add_adapters(radio, slots=3, hears=hears)
    await start(radio, devices)
    fleet_config(paths["config"], ports, broker.port, devices, max_connections=3)
    daemon.start()
    expected = {"b0": ("shed", -70), "b1": ("shed", -45), "b2": ("house", -42), "b3": ("house", -75)}
    for alias, (adapter, rssi) in expected.items():
        await wait_until(lambda a=alias: diagnostics(watcher, a).get("adapter"), 60, f"{alias} placed")
        found = diagnostics(watcher, alias)
        assert (found["adapter"], found["rssi"]) == (adapter, rssi), (alias, found)
    assert "b3: on Bluetooth adapter house" in daemon.log


async def test_a_frozen_then_killed_adapter_hands_its_bms_to_the_other(radio, broker, watcher, daemon, paths):
    devices = FLEET[:4]
    ports = await add_adapters(radio, slots=3, hears={"house": {a: -40 for a, _, _ in devices}})  # house first
    await start(radio, devices)
    fleet_config(paths["config"], ports, broker.port, devices, max_connections=3)
    daemon.start()
    for _, _, alias in devices:
        await wait_until(lambda a=alias: watcher.last_json(f"batmond/{a}/state"), 60, f"{alias}'s first state")
    on_house = [alias for _, _, alias in devices if diagnostics(watcher, alias)["adapter"] == "house"]
    assert len(on_house) == 3  # its three slots, best RSSI; the fourth went to the shed
    await wait_until(lambda: all("meters" in watcher.last_json(f"batmond/{a}/state") for a in on_house), 30, "meters")
    before = {alias: watcher.last_json(f"batmond/{alias}/state")["meters"] for alias in on_house}
    radio.freeze_adapter(True, "house")
    for alias in on_house:  # the bound the README states: a dead adapter's BMS publish again within 60 s
        await wait_until(lambda a=alias: diagnostics(watcher, a).get("adapter") == "shed", 60, f"{alias} moved")
    await radio.kill_adapter("house")
    watcher.clear()
    await asyncio.sleep(8)
    for _, _, alias in devices:
        assert watcher.count(f"batmond/{alias}/state") >= 2, (alias, daemon.log[-3000:])
        assert diagnostics(watcher, alias)["adapter"] == "shed"
    for alias, meters in before.items():  # the journal carried them across the move: nothing lost
        after = watcher.last_json(f"batmond/{alias}/state")["meters"]
        assert all(after[key] >= meters[key] for key in ("energy_charge_kwh", "energy_discharge_kwh"))
    assert daemon.process is not None and daemon.process.poll() is None  # one dead adapter is no reason to exit
    assert "Bluetooth adapter house (tcp-client" in daemon.log


async def test_a_controller_with_fewer_slots_than_configured_is_learnt_without_a_storm(
    radio, broker, watcher, daemon, paths
):
    devices = FLEET[:4]
    ports = await add_adapters(radio, slots=2, names=("house",))
    await start(radio, devices)
    fleet_config(paths["config"], ports, broker.port, devices, max_connections=5)
    daemon.start()
    for _, _, alias in devices:
        await wait_until(lambda a=alias: watcher.last_json(f"batmond/{a}/state"), 90, f"{alias}'s first state")
    watcher.clear()
    await asyncio.sleep(8)
    for _, _, alias in devices:
        assert watcher.count(f"batmond/{alias}/state") >= 2, (alias, daemon.log[-3000:])
    assert daemon.log.count("holds at most 2 LE connections") == 1
    assert daemon.log.count("Connection Limit Exceeded") <= 2  # learnt from the first refusal, not retried into


async def test_ready_and_the_status_line_account_for_each_adapter(radio, broker, watcher, daemon, paths, notify):
    devices = FLEET[:2]
    ports = await add_adapters(radio, slots=3, names=("house",))
    ports["shed"] = free_port()  # configured, but no dongle answers there
    await start(radio, devices)
    fleet_config(paths["config"], ports, broker.port, devices, max_connections=3)
    daemon.start()
    await wait_until(lambda: "READY=1" in notify(), 30, "READY=1 without the shed's adapter")
    assert "ready without Bluetooth adapter(s) shed: not up within 5 s; they keep trying" in daemon.log
    for _, _, alias in devices:
        await wait_until(lambda a=alias: watcher.last_json(f"batmond/{a}/state"), 30, f"{alias} on the house adapter")
    status = await wait_until(
        lambda: [m for m in notify() if m.startswith("STATUS=2/2 BMS online") and "house 2/3 links" in m], 30, "status"
    )
    assert status[-1].endswith("; Bluetooth house 2/3 links, shed down"), status[-1]
