"""End to end: replayed BMS on the virtual radio ↔ HCI over TCP ↔ `batmond run` (aiobmsble inside) ↔ mosquitto.

The values aiobmsble's own tests assert for each recording (tests/captures/aiobmsble.py) must reach the broker in
batmond's units and names; a `<name>_ble` type reads batmond's native JBD simulator through aiobmsble instead of
batmond's codec; Home Assistant discovery offers no switch to command; and nothing talks to D-Bus.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path
from typing import Any

import pytest
from captures import aiobmsble as rec
from helpers import DaemonProcess, wait_until, write_config

from batmond.sim import SimSpec

from .conftest import NEEDS_EXTRA, add_replay

pytest.importorskip("aiobmsble", reason=NEEDS_EXTRA)

from .test_replay import RECORDINGS

pytestmark = pytest.mark.e2e
SWITCHES = {"chrg_mosfet": "charge", "dischrg_mosfet": "discharge", "heater": "heater"}


def alias_of(key: str) -> str:
    return f"aio-{key.replace('_', '-')}"


def assert_published_as_expected(state: dict[str, Any], expected: dict[str, Any], key: str) -> None:
    """aiobmsble's names and units → batmond's: battery_level is soc, cycle_charge is the remaining charge (Ah),
    design_capacity the capacity, problem_code the alarm code; a MOSFET sensor is the MOSFET temperature."""
    assert state["voltage"] == pytest.approx(expected["voltage"], abs=0.001), key
    assert state["current"] == pytest.approx(expected["current"], abs=0.001), key
    assert state["power"] == pytest.approx(expected["power"], abs=0.05), key
    assert state["soc"] == pytest.approx(expected["battery_level"], abs=0.05), key
    assert state["charge"] == pytest.approx(expected["cycle_charge"], abs=0.001), key
    assert state["capacity"] == pytest.approx(expected["design_capacity"]), key
    assert state.get("soh") == expected.get("battery_health"), key
    assert state.get("cycles") == expected.get("cycles"), key
    assert state["cell_voltages"] == pytest.approx(expected["cell_voltages"], abs=0.0001), key
    assert state["alarm_code"] == expected["problem_code"], key
    sensors = expected.get("temp_values")
    if sensors is None:
        assert state["temperatures"] == pytest.approx([expected["temperature"]], abs=0.05), key
    else:
        assert state["temperatures"] == pytest.approx([v for v, kind in sensors if kind != "MOSFET"], abs=0.05), key
        mosfet = [v for v, kind in sensors if kind == "MOSFET"]
        assert state.get("mosfet_temperature") == (mosfet[0] if mosfet else None), key
    switches = {name: "ON" if expected[k] else "OFF" for k, name in SWITCHES.items() if k in expected}
    assert state.get("switches", {}) == switches, key
    assert state["diagnostics"]["bad_frames"] == 0, key


async def add_recordings(simulator) -> list[tuple[str, str, str]]:
    """Every recorded aiobmsble BMS replayed on ``simulator``: their (address, type, alias) for the config."""
    devices = []
    for key, (recording, address, _) in RECORDINGS.items():
        await add_replay(simulator, recording, address, alias_of(key))
        devices.append((address, recording.type_name, alias_of(key)))
    return devices


async def recordings_published(watcher, timeout: float) -> dict[str, dict[str, Any]]:
    """Each recorded BMS's first state at the broker, checked against what aiobmsble decodes; by recording."""
    states = {}
    for key, (_, _, expected) in RECORDINGS.items():
        alias = alias_of(key)
        states[key] = await wait_until(lambda a=alias: watcher.last_json(f"batmond/{a}/state"), timeout, alias)
        assert_published_as_expected(states[key], expected, key)
    return states


@pytest.fixture
def dbus_listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A D-Bus address the daemon would use, where nothing but this test listens: it must never be called."""
    path = str(tmp_path / "bus")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    server.setblocking(False)
    for variable in ("DBUS_SYSTEM_BUS_ADDRESS", "DBUS_SESSION_BUS_ADDRESS"):
        monkeypatch.setenv(variable, f"unix:path={path}")
    yield server
    server.close()


def accepted(server: socket.socket) -> int:
    count = 0
    while True:
        try:
            connection, _ = server.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


async def test_aiobmsble_types_reach_the_broker_in_batmonds_units(simulator, broker, watcher, tmp_path, dbus_listener):
    devices = await add_recordings(simulator)
    jbd = await simulator.add(SimSpec(type="jbd", name="native-jbd", address="A4:C1:38:00:00:01"))
    devices.append(("A4:C1:38:00:00:01", "jbd_ble", "jbd-through-aiobmsble"))
    config = write_config(tmp_path / "batmon.toml", simulator.port, broker.port, devices)
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    daemon.start()
    try:
        await recordings_published(watcher, 60)
        state = await wait_until(lambda: watcher.last_json("batmond/jbd-through-aiobmsble/state"), 60, "jbd_ble")
        truth = jbd.battery
        truth.advance()
        assert state["voltage"] == pytest.approx(truth.voltage, abs=0.3)
        assert len(state["cell_voltages"]) == truth.cells
        assert abs(state["soc"] - truth.soc) <= 2
        assert state["switches"] == {"charge": "ON", "discharge": "ON"}
        assert jbd.writes  # aiobmsble asked batmond's JBD simulator, the native codec was not involved

        seplos_id = f"batmond_{RECORDINGS['seplos'][1].replace(':', '').lower()}"
        discovery = await wait_until(lambda: watcher.last_json(f"homeassistant/device/{seplos_id}/config"), 30,
                                     "seplos discovery")  # fmt: skip
        components = discovery["cmps"]
        assert components["charge_switch"]["p"] == "binary_sensor"  # read-only: a state, not a command
        assert not [c for c in components.values() if c["p"] == "switch"]
        assert discovery["dev"]["mf"] == "Seplos" and discovery["dev"]["mdl"] == "smart BMS V3"
        tdt_id = f"batmond_{rec.TDT_ADDRESS.replace(':', '').lower()}"
        tdt = await wait_until(lambda: watcher.last_json(f"homeassistant/device/{tdt_id}/config"), 30, "tdt")
        assert tdt["dev"]["sw"] == "CLY-5673-V1.3" and tdt["dev"]["sn"] == "0001"
    finally:
        daemon.stop(signal.SIGKILL)
    assert "Traceback" not in daemon.log, daemon.log[-3000:]
    assert accepted(dbus_listener) == 0


async def test_a_switch_command_for_an_aiobmsble_bms_is_refused(simulator, broker, watcher, tmp_path):
    recording, address, _ = RECORDINGS["renogy"]
    await add_replay(simulator, recording, address, "renogy")
    config = write_config(tmp_path / "batmon.toml", simulator.port, broker.port, [(address, "renogy", "renogy")])
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    daemon.start()
    try:
        await wait_until(lambda: watcher.last_json("batmond/renogy/state"), 60, "renogy state")
        peripheral = simulator.devices["renogy"]
        writes = len(peripheral.writes)
        watcher.publish("batmond/renogy/switch/discharge/set", "OFF")
        await wait_until(lambda: "not a switch batmond can write" in daemon.log, 20, "refusal in the log")
        state = await wait_until(lambda: watcher.last_json("batmond/renogy/state"), 10, "renogy state")
        assert state["switches"]["discharge"] == "OFF"  # as recorded: the BMS reports it off, nothing changed it
        assert all(write in recording.answers for write in peripheral.writes[writes:])
    finally:
        daemon.stop(signal.SIGKILL)
    assert "Traceback" not in daemon.log, daemon.log[-3000:]
