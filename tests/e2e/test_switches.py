"""Switch commands from Home Assistant: validated, written to the BMS, confirmed by reading back."""

from __future__ import annotations

import pytest
from helpers import wait_until, write_config

from .conftest import BATTERIES, start_batteries

pytestmark = pytest.mark.e2e


def switch_state(watcher, alias: str, name: str) -> str | None:
    state = watcher.last_json(f"batmond/{alias}/state") or {}
    return state.get("switches", {}).get(name)


@pytest.mark.parametrize("address,type_name,alias", [BATTERIES[0], BATTERIES[2]], ids=["jk", "jbd"])
async def test_switch_round_trip(simulator, broker, watcher, daemon, paths, address, type_name, alias):
    await start_batteries(simulator, [(address, type_name, alias)])
    write_config(paths["config"], simulator.port, broker.port, [(address, type_name, alias)])
    daemon.start()
    uid = "batmond_" + address.replace(":", "").lower()
    config = await wait_until(lambda: watcher.last_json(f"homeassistant/device/{uid}/config"), 30, "discovery")
    charge = config["cmps"]["charge_switch"]
    assert charge["p"] == "switch"
    assert charge["cmd_t"] == f"batmond/{alias}/switch/charge/set"
    assert charge["val_tpl"] == "{{ value_json.switches.charge }}"
    assert (charge["stat_on"], charge["stat_off"]) == ("ON", "OFF")
    battery = simulator.devices[alias].battery
    await wait_until(lambda: switch_state(watcher, alias, "charge") == "ON", 20, "charge ON")

    watcher.publish(f"batmond/{alias}/switch/charge/set", "off")
    await wait_until(lambda: not battery.charge_enabled, 15, "the BMS got the command")
    await wait_until(lambda: switch_state(watcher, alias, "charge") == "OFF", 15, "confirmed OFF published")
    assert battery.discharge_enabled  # the other MOSFET is untouched
    assert switch_state(watcher, alias, "discharge") == "ON"

    watcher.publish(f"batmond/{alias}/switch/charge/set", "toggle")  # not ON/OFF: ignored, logged
    await wait_until(lambda: "payload must be ON or OFF" in daemon.log, 10, "bad payload logged")
    watcher.publish(f"batmond/{alias}/switch/charge/set", "ON")
    await wait_until(lambda: switch_state(watcher, alias, "charge") == "ON", 15, "confirmed ON published")
    assert battery.charge_enabled

    watcher.publish("batmond/nobody/switch/charge/set", "ON")
    await wait_until(lambda: "unknown device 'nobody'" in daemon.log, 10, "unknown device logged")


async def test_read_only_device_refuses_writes(simulator, broker, watcher, daemon, paths):
    address, type_name, alias = BATTERIES[2]
    await start_batteries(simulator, [BATTERIES[2]])
    write_config(paths["config"], simulator.port, broker.port, [])
    paths["config"].write_text(
        paths["config"].read_text()
        + f'[[device]]\naddress = "{address}"\ntype = "{type_name}"\nalias = "{alias}"\nread_only = true\n'
    )
    daemon.start()
    uid = "batmond_" + address.replace(":", "").lower()
    config = await wait_until(lambda: watcher.last_json(f"homeassistant/device/{uid}/config"), 30, "discovery")
    assert config["cmps"]["charge_switch"]["p"] == "binary_sensor"
    watcher.publish(f"batmond/{alias}/switch/charge/set", "OFF")
    await wait_until(lambda: "the device is read_only" in daemon.log, 10, "refusal logged")
    assert simulator.devices[alias].battery.charge_enabled
