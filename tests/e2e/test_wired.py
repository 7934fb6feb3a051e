"""End to end for wired BMS: simulated JK and Daly BMS on pseudo-terminals ↔ real pyserial in `batmond run` ↔
mosquitto ↔ a subscriber. The adapter paths are symlinks standing in for /dev/serial/by-id/…, so unplugging is
removing the pty and its symlink, and replugging is a new pty (another /dev/pts number) at the same path."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from helpers import start_sim, wait_until

from batmond.sim.serial import PtyPort, SerialSimSpec, new_device

pytestmark = pytest.mark.e2e
BASE = "batmond"


def wired_config(path: Path, broker_port: int, devices: list[tuple[str, str, str, int]], ble: str = "") -> Path:
    """``devices``: (adapter, type, alias, board_address); ``ble``: [bluetooth] transport and [[device]] text."""
    lines = [
        "[mqtt]", 'host = "127.0.0.1"', f"port = {broker_port}", 'client_id = "batmond-test"',
        "[sampling]", "sample_period = 1.0", "expire_values_after = 4.0",
        "[state]", f'dir = "{path.parent / "state"}"', ble,
    ]  # fmt: skip
    for adapter, type_name, alias, board in devices:
        lines += ["[[device]]", 'address = "serial"', f'type = "{type_name}"', f'adapter = "{adapter}"',
                  f'alias = "{alias}"', f"board_address = {board}"]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
async def ports(tmp_path: Path):
    made: list[PtyPort] = []

    def make(name: str, *specs: SerialSimSpec) -> PtyPort:
        port = PtyPort(
            str(tmp_path / "serial" / "by-id" / f"usb-sim-{name}-if00-port0"), [new_device(s) for s in specs]
        )
        made.append(port)
        return port

    yield make
    for port in made:
        port.unplug()


def state_of(watcher, alias: str) -> dict[str, Any] | None:
    return watcher.last_json(f"{BASE}/{alias}/state")


def energy(state: dict[str, Any]) -> dict[str, float]:
    """The meter readings in a state, wherever the publisher puts them."""
    found = {key: value for key, value in state.items() if "energy" in key and isinstance(value, int | float)}
    for key, value in (state.get("meters") or {}).items():
        if isinstance(value, int | float):
            found[f"meters.{key}"] = value
    return found


async def test_jk_and_two_daly_boards_on_one_bus_reach_the_broker(broker, watcher, daemon, paths, ports):
    jk = ports("jk", SerialSimSpec("jk_uart", "jk-wired", cells=16))
    bus = ports("daly", SerialSimSpec("daly_uart", "daly-1", board=1, cells=8, soc=30.0),
              SerialSimSpec("daly_uart", "daly-2", board=2, cells=15, soc=80.0))  # fmt: skip
    jk.plug()
    bus.plug()
    devices = [(jk.path, "jk_uart", "jk-wired", 1), (bus.path, "daly_uart", "daly-1", 1),
               (bus.path, "daly_uart", "daly-2", 2)]  # fmt: skip
    wired_config(paths["config"], broker.port, devices)
    daemon.start()
    for port in (jk, bus):
        for bms in port.devices:
            state = await wait_until(lambda a=bms.name: (state_of(watcher, a) or {}).get("cell_voltages"), 30,
                                     f"{bms.name} state")  # fmt: skip
            state = state_of(watcher, bms.name)
            truth = bms.battery
            truth.advance()
            assert len(state["cell_voltages"]) == truth.cells, bms.name
            assert state["voltage"] == pytest.approx(truth.voltage, abs=0.3), bms.name
            assert abs(state["soc"] - truth.soc) <= 2, bms.name
            assert state["switches"]["charge"] == "ON" and state["switches"]["discharge"] == "ON"
            assert len(state["temperatures"]) == 2
            assert state["diagnostics"]["bad_frames"] == 0, bms.name
    # One shared port: both boards hear the requests for board 1 (0x40) and board 2 (0x41).
    assert [{r[1] for r in board.requests} for board in bus.devices] == [{0x40, 0x41}, {0x40, 0x41}]
    assert "daly-2 daly_uart" in daemon.log and "board 2" in daemon.log


async def test_current_is_positive_while_charging_on_both_wired_protocols(broker, watcher, daemon, paths, ports):
    jk = ports("jk", SerialSimSpec("jk_uart", "jk-wired"))
    daly = ports("daly", SerialSimSpec("daly_uart", "daly-wired"))
    jk.plug()
    daly.plug()
    wired_config(paths["config"], broker.port, [(jk.path, "jk_uart", "jk-wired", 1),
                                                (daly.path, "daly_uart", "daly-wired", 1)])  # fmt: skip
    daemon.start()
    for port in (jk, daly):
        bms = port.devices[0]
        bms.battery.swing_amps = 0
        bms.battery._load_step = 25.0
        await wait_until(lambda a=bms.name: (state_of(watcher, a) or {}).get("current", 0) > 20, 30, "charging")
        bms.battery._load_step = -25.0
        await wait_until(lambda a=bms.name: (state_of(watcher, a) or {}).get("current", 0) < -20, 15, "discharging")


async def test_unplugged_adapter_is_picked_up_again_without_a_restart(broker, watcher, daemon, paths, ports):
    jk = ports("jk", SerialSimSpec("jk_uart", "jk-wired"))
    jk.plug()
    wired_config(paths["config"], broker.port, [(jk.path, "jk_uart", "jk-wired", 1)])
    daemon.start()
    pid = daemon.process.pid
    availability = f"{BASE}/jk-wired/availability"
    await wait_until(lambda: watcher.last(availability) == b"online", 30, "online")
    await wait_until(lambda: watcher.count(f"{BASE}/jk-wired/state") >= 3, 10, "a few states")
    before = energy(state_of(watcher, "jk-wired"))
    jk.unplug()
    await wait_until(lambda: "went away" in daemon.log or "was unplugged" in daemon.log, 15, "the unplug logged")
    await wait_until(lambda: watcher.last(availability) == b"offline", 20, "offline while unplugged")
    assert "waiting for adapter" in daemon.log
    jk.plug()  # a new pty: another /dev/pts number behind the same by-id path
    watcher.clear()
    await wait_until(lambda: watcher.count(f"{BASE}/jk-wired/state") >= 2, 30, "states after the replug")
    await wait_until(lambda: watcher.last(availability) == b"online", 10, "online again")
    assert daemon.process.pid == pid and daemon.process.poll() is None
    assert daemon.log.count(f"opened {jk.path}") == 2
    after = energy(state_of(watcher, "jk-wired"))
    assert after.keys() == before.keys()
    assert all(after[key] >= before[key] for key in before if "charge" in key)  # meters kept, not restarted at 0


async def test_missing_adapter_is_waited_for_and_does_not_stop_bluetooth(simulator, broker, watcher, daemon, paths,
                                                                          ports):  # fmt: skip
    from batmond.sim import SimSpec

    await simulator.start([SimSpec(type="jbd", name="jbd-ble", address="E4:C1:38:00:12:34")])
    jk = ports("late", SerialSimSpec("jk_uart", "jk-late"))
    ble = "\n".join([
        "[bluetooth]", f'transport = "tcp-client:127.0.0.1:{simulator.port}"', "connect_timeout = 5.0",
        "[[device]]", 'address = "E4:C1:38:00:12:34"', 'type = "jbd"', 'alias = "jbd-ble"',
    ])  # fmt: skip
    wired_config(paths["config"], broker.port, [(jk.path, "jk_uart", "jk-late", 1)], ble=ble)
    daemon.start()
    await wait_until(lambda: state_of(watcher, "jbd-ble"), 45, "the Bluetooth BMS while the adapter is missing")
    assert f"waiting for adapter {jk.path}" in daemon.log
    assert state_of(watcher, "jk-late") is None
    jk.plug()
    await wait_until(lambda: state_of(watcher, "jk-late"), 30, "the wired BMS once its adapter appeared")
    assert daemon.log.count("waiting for adapter") == 1


async def test_sim_command_serves_the_wired_devices_of_a_config(broker, watcher, daemon, paths, tmp_path):
    """`batmond sim --config` and `batmond run` on the same file, as the README tells users to try it."""
    adapter = str(tmp_path / "serial" / "by-id" / "usb-sim-cli-if00-port0")
    wired_config(
        paths["config"], broker.port, [(adapter, "daly_uart", "daly-a", 1), (adapter, "daly_uart", "daly-b", 2)]
    )
    sim = start_sim(paths["config"], tmp_path / "sim.log")
    try:
        await wait_until(lambda: os.path.islink(adapter), 15, "the simulated adapter")
        daemon.start()
        for alias in ("daly-a", "daly-b"):
            await wait_until(lambda a=alias: state_of(watcher, a), 30, f"{alias} state")
    finally:
        sim.send_signal(signal.SIGINT)  # Ctrl-C
        sim.wait(10)
    assert not os.path.lexists(adapter)  # the simulator takes its symlink away when it stops
