"""Every BMS type that has a simulator is read end to end through the daemon and published to MQTT.

A protocol module plus its simulator module is all it takes to be covered here.
"""

from __future__ import annotations

import signal

import pytest
from helpers import DaemonProcess, wait_until, write_config

from batmond.sim import SimSpec, address_for
from batmond.sim.devices import simulator_types

pytestmark = pytest.mark.e2e


def ble_types() -> list[str]:
    return sorted(t for t, sim in simulator_types().items() if sim.profile is not None)


def pin_line(type_name: str) -> list[str]:
    """Simulators that need LE pairing (Victron) get their PIN in the config."""
    pin = simulator_types()[type_name].pin
    return [f'pin = "{pin}"'] if pin else []


async def test_every_simulated_type_reaches_the_broker(simulator, broker, watcher, paths):
    types = ble_types()
    devices = [(address_for(f"sim-{t}"), t, f"sim-{t.replace('_', '-')}", *pin_line(t)) for t in types]
    await simulator.start([SimSpec(type=t, name=alias, address=address) for address, t, alias, *_ in devices])
    write_config(paths["config"], simulator.port, broker.port, devices)
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
