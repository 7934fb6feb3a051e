"""Switch commands from Home Assistant: validated, written to the BMS, confirmed by reading back; retained
commands refused and cleared, floods coalesced. The broker keeps retained messages on disk, as an installed
mosquitto does."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import Broker, publish_once, retained, wait_until, write_config

from .conftest import BATTERIES, start_batteries

pytestmark = pytest.mark.e2e
FLOOD = 250


@pytest.fixture
def broker(tmp_path: Path):
    server = Broker(tmp_path, persistence=tmp_path / "mosquitto-db")
    server.start()
    yield server
    server.stop()


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


async def test_a_retained_command_left_before_the_start_is_refused_and_cleared(
    simulator, broker, watcher, daemon, paths
):
    address, type_name, alias = BATTERIES[0]
    await start_batteries(simulator, [BATTERIES[0]])
    write_config(paths["config"], simulator.port, broker.port, [(address, type_name, alias)])
    topic = f"batmond/{alias}/switch/charge/set"
    publish_once(broker.port, topic, "OFF", retain=True)  # any client or automation can leave one
    broker.stop()
    broker.start()  # e.g. a reboot: mosquitto kept it on disk
    assert retained(broker.port, topic) == [b"OFF"]
    daemon.start()
    await wait_until(lambda: "ignored retained command" in daemon.log, 30, "the refusal in the log")
    await wait_until(lambda: switch_state(watcher, alias, "charge") == "ON", 30, "the BMS reporting charge ON")
    battery = simulator.devices[alias].battery
    assert battery.charge_enabled and battery.switch_writes == 0  # what the BMS itself says, not only the log
    assert retained(broker.port, topic) == []  # cleared: it cannot come back at the next start
    line = next(line for line in daemon.log.splitlines() if "ignored retained command" in line)
    assert topic in line and "'OFF'" in line

    # Retained while batmond listens: refused too (MQTT 5 tells batmond how the message was published).
    publish_once(broker.port, topic, "OFF", retain=True)
    await wait_until(lambda: daemon.log.count("ignored retained command") == 2, 20, "the second refusal")
    await wait_until(lambda: retained(broker.port, topic) == [], 20, "the second one cleared")
    assert battery.charge_enabled and battery.switch_writes == 0
    watcher.publish(topic, "OFF")  # the same command, not retained: done
    await wait_until(lambda: switch_state(watcher, alias, "charge") == "OFF", 20, "charge switched OFF")
    assert not battery.charge_enabled and battery.switch_writes == 1


async def test_a_retained_command_persisted_across_a_broker_restart_is_not_acted_on(
    simulator, broker, watcher, daemon, paths, tmp_path
):
    address, type_name, alias = BATTERIES[2]
    await start_batteries(simulator, [BATTERIES[2]])
    write_config(paths["config"], simulator.port, broker.port, [(address, type_name, alias)])
    daemon.start()
    await wait_until(lambda: switch_state(watcher, alias, "discharge") == "ON", 30, "the BMS connected")
    topic = f"batmond/{alias}/switch/discharge/set"
    broker.stop()
    # The broker took a retained OFF just before it went down: the same database, written by another instance
    # on a port batmond does not know, so batmond can only meet the message when it reconnects.
    (tmp_path / "other").mkdir()
    other = Broker(tmp_path / "other", persistence=tmp_path / "mosquitto-db")
    other.start()
    publish_once(other.port, topic, "OFF", retain=True)
    other.stop()
    watcher.clear()
    broker.start()
    await wait_until(lambda: "ignored retained command" in daemon.log, 30, "the refusal in the log")
    await wait_until(lambda: switch_state(watcher, alias, "discharge") == "ON", 30, "state again after reconnect")
    battery = simulator.devices[alias].battery
    assert battery.discharge_enabled and battery.switch_writes == 0
    assert retained(broker.port, topic) == []


def flood(watcher, topic: str) -> None:
    """ON, OFF, ON, ... as fast as the client can send them; the last one is OFF."""
    for index in range(FLOOD):
        watcher.client.publish(topic, "ON" if index % 2 == 0 else "OFF", qos=1)


async def test_a_flood_of_commands_is_coalesced_into_a_few_writes_and_the_last_one_wins(
    simulator, broker, watcher, daemon, paths
):
    address, type_name, alias = BATTERIES[0]
    await start_batteries(simulator, [BATTERIES[0]])
    write_config(paths["config"], simulator.port, broker.port, [(address, type_name, alias)])
    daemon.start()
    await wait_until(lambda: switch_state(watcher, alias, "charge") == "ON", 30, "the BMS connected")
    flood(watcher, f"batmond/{alias}/switch/charge/set")
    await wait_until(lambda: f"{FLOOD} commands" in daemon.log, 30, "the burst in the log")
    await wait_until(lambda: switch_state(watcher, alias, "charge") == "OFF", 20, "the last command's state")
    battery = simulator.devices[alias].battery
    assert not battery.charge_enabled
    assert 1 <= battery.switch_writes <= 3  # at the BMS, not 250
    assert daemon.log.count(f"{alias}: switched charge") == 1  # one line for the burst
    assert "failed" not in daemon.log and "ERROR" not in daemon.log

    for _ in range(FLOOD):  # refused ones: one line too
        watcher.client.publish(f"batmond/{alias}/switch/charge/set", "toggle", qos=1)
    watcher.publish(f"batmond/{alias}/switch/charge/set", "ON")  # after them all (one ordered stream)
    await wait_until(lambda: f"{alias}: switched charge ON" in daemon.log, 30, "the command after the refused ones")
    assert daemon.log.count("payload must be ON or OFF") == 1
    assert battery.charge_enabled and battery.switch_writes <= 4


async def test_a_flood_of_group_commands_is_coalesced_for_every_member(simulator, broker, watcher, daemon, paths):
    packs = [BATTERIES[0], BATTERIES[2]]
    await start_batteries(simulator, packs)
    write_config(paths["config"], simulator.port, broker.port, packs)
    with paths["config"].open("a") as config:
        config.write('[[group]]\nname = "house"\nmembers = ["jk1", "jbd1"]\n')
    daemon.start()
    for alias in ("jk1", "jbd1"):
        await wait_until(lambda a=alias: switch_state(watcher, a, "discharge") == "ON", 30, f"{alias} connected")
    flood(watcher, "batmond/house/switch/discharge/set")
    for alias in ("jk1", "jbd1"):
        await wait_until(lambda a=alias: f"{a}: switched discharge OFF" in daemon.log, 30, f"{alias}'s burst")
        await wait_until(lambda a=alias: switch_state(watcher, a, "discharge") == "OFF", 20, f"{alias} OFF")
        battery = simulator.devices[alias].battery
        assert not battery.discharge_enabled and battery.charge_enabled
        assert 1 <= battery.switch_writes <= 3
        assert daemon.log.count(f"{alias}: switched discharge") == 1
    assert f"{FLOOD} commands" in daemon.log
    assert "failed" not in daemon.log and "ERROR" not in daemon.log
