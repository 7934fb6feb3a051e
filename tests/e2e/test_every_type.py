"""Every BMS type that has a simulator is read end to end through the daemon and published to MQTT.

A protocol module plus its simulator module is all it takes to be covered here. Firmware variants a codec finds
by itself (no setting tells it) run as devices of their own.
"""

from __future__ import annotations

import signal

import pytest
from helpers import DaemonProcess, wait_until, write_config

from batmond.sim import SimSpec, address_for
from batmond.sim.devices import simulator_types

pytestmark = pytest.mark.e2e
# (type, simulator variant): the daly2 codec asks D2 first and must find the 0x81 firmware by who answers.
VARIANTS = [("daly2", "p81")]


def ble_types() -> list[str]:
    return sorted(t for t, sim in simulator_types().items() if sim.profile is not None)


def pin_line(type_name: str) -> list[str]:
    """Simulators that need LE pairing (Victron) get their PIN in the config."""
    pin = simulator_types()[type_name].pin
    return [f'pin = "{pin}"'] if pin else []


async def test_every_simulated_type_reaches_the_broker(simulator, broker, watcher, paths):
    types = ble_types()
    devices = [(address_for(f"sim-{t}"), t, f"sim-{t.replace('_', '-')}", *pin_line(t)) for t in types]
    specs = [SimSpec(type=t, name=alias, address=address) for address, t, alias, *_ in devices]
    for type_name, variant in VARIANTS:
        alias = f"sim-{type_name.replace('_', '-')}-{variant}"
        devices.append((address_for(alias), type_name, alias))
        specs.append(SimSpec(type=type_name, name=alias, address=address_for(alias), variant=variant))
    await simulator.start(specs)
    # Every type keeps its link (one slot each): this test is about the protocols; taking turns is test_fleet's.
    write_config(
        paths["config"], simulator.port, broker.port, devices, extra_bluetooth=f"max_connections = {len(devices)}"
    )
    daemon = DaemonProcess(paths["config"], paths["log"])
    daemon.start()
    try:
        for _address, type_name, alias, *_ in devices:
            state = await wait_until(lambda a=alias: watcher.last_json(f"batmond/{a}/state"), 45, f"{type_name} state")
            truth = simulator.devices[alias].battery
            truth.advance()
            assert state["voltage"] == pytest.approx(truth.voltage, abs=0.3), type_name
            if "cell_voltages" in state:
                assert len(state["cell_voltages"]) == truth.cells, type_name
            if "soc" in state:
                assert abs(state["soc"] - truth.soc) <= 2, type_name
            if "current" in state:
                assert abs(state["current"] - truth.current) <= max(5, abs(truth.current) * 0.5), type_name
            assert state["diagnostics"]["bad_frames"] == 0, type_name
    finally:
        daemon.stop(signal.SIGKILL)
    assert "Traceback" not in daemon.log, daemon.log[-3000:]
