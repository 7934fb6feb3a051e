"""End to end: simulated BMS on the virtual radio ↔ HCI over TCP ↔ `batmond run` ↔ mosquitto ↔ a subscriber."""

from __future__ import annotations

import json
import signal

import pytest
from helpers import wait_until, write_config

from batmond.poller import RESPONSE_TIMEOUT

from .conftest import BATTERIES, start_batteries

pytestmark = pytest.mark.e2e
BASE = "batmond"
STATUS = f"{BASE}/daemon/batmond-test/status"


def discovery_topic(address: str) -> str:
    return f"homeassistant/device/batmond_{address.replace(':', '').lower()}/config"


async def test_discovery_and_values_match_the_simulator(simulator, broker, watcher, daemon, paths):
    await start_batteries(simulator)
    write_config(paths["config"], simulator.port, broker.port, BATTERIES)
    daemon.start()
    for address, type_name, alias in BATTERIES:
        bms = simulator.devices[alias]
        config = await wait_until(lambda a=address: watcher.last_json(discovery_topic(a)), 30, f"{alias} discovery")
        assert config["dev"]["ids"] == [f"batmond_{address.replace(':', '').lower()}"]
        assert config["dev"]["name"] == alias
        assert config["o"]["name"] == "batmond"
        assert config["avty_mode"] == "all"
        assert [a["t"] for a in config["avty"]] == [STATUS, f"{BASE}/{alias}/availability"]
        assert config["stat_t"] == f"{BASE}/{alias}/state"
        cmps = config["cmps"]
        voltage = cmps["voltage"]
        assert (voltage["dev_cla"], voltage["unit_of_meas"], voltage["stat_cla"]) == ("voltage", "V", "measurement")
        assert voltage["uniq_id"] == f"batmond_{address.replace(':', '').lower()}_voltage"
        assert voltage["def_ent_id"] == f"sensor.{alias}_voltage" and voltage["obj_id"] == f"{alias}_voltage"
        assert cmps["soc"]["dev_cla"] == "battery" and cmps["soc"]["unit_of_meas"] == "%"
        assert cmps["current"]["unit_of_meas"] == "A" and cmps["power"]["unit_of_meas"] == "W"
        assert cmps["cycles"]["ent_cat"] == "diagnostic"
        assert cmps["cell_01"]["ent_cat"] == "diagnostic"
        cells = [k for k in cmps if k.startswith("cell_") and k[5:].isdigit()]
        assert len(cells) == bms.battery.cells
        assert cmps["temperature_1"]["dev_cla"] == "temperature"

        state = await wait_until(lambda a=alias: watcher.last_json(f"{BASE}/{a}/state"), 20, f"{alias} state")
        bms.battery.advance()
        truth = bms.battery
        assert len(state["cell_voltages"]) == truth.cells
        assert state["capacity"] == pytest.approx(truth.capacity_ah)
        assert state["cycles"] == truth.cycles
        assert abs(state["soc"] - truth.soc) <= 1.0
        assert state["voltage"] == pytest.approx(truth.voltage, abs=0.1)
        assert state["cell_min"] == pytest.approx(min(truth.cell_voltages), abs=0.01)
        assert state["voltage"] == pytest.approx(sum(state["cell_voltages"]), abs=0.05)
        assert state["power"] == pytest.approx(state["voltage"] * state["current"], rel=0.05, abs=20)
        assert state["switches"] == {"charge": "ON", "discharge": "ON"} | (
            {"balance": "ON"} if type_name.startswith("jk") else {}
        )
        assert len(state["temperatures"]) == 2
        assert state["diagnostics"]["bad_frames"] == 0
    assert watcher.last(STATUS) == b"online"
    assert all(watcher.last(f"{BASE}/{alias}/availability") == b"online" for _, _, alias in BATTERIES)
    # Exactly one JSON state per BMS per publish, not one message per value.
    assert not [t for t, _, _ in watcher.messages if t.startswith(f"{BASE}/jk1/") and t.count("/") > 2]


async def test_current_sign_follows_the_simulated_battery(simulator, broker, watcher, daemon, paths):
    await start_batteries(simulator)
    write_config(paths["config"], simulator.port, broker.port, BATTERIES)
    daemon.start()
    bms = simulator.devices["jbd1"]
    await wait_until(lambda: watcher.last_json(f"{BASE}/jbd1/state"), 30, "state")
    bms.battery.swing_amps = 0
    bms.battery._load_step = 25.0  # charging
    await wait_until(lambda: (watcher.last_json(f"{BASE}/jbd1/state") or {}).get("current", 0) > 20, 10, "charge")
    bms.battery._load_step = -25.0
    await wait_until(lambda: (watcher.last_json(f"{BASE}/jbd1/state") or {}).get("current", 0) < -20, 10, "discharge")


async def test_bms_link_drop_is_reconnected(simulator, broker, watcher, daemon, paths):
    await start_batteries(simulator)
    write_config(paths["config"], simulator.port, broker.port, BATTERIES)
    daemon.start()
    await wait_until(lambda: watcher.last_json(f"{BASE}/jk1/state"), 30, "first state")
    jk1 = simulator.devices["jk1"]
    assert jk1.drop_link()
    await wait_until(lambda: "jk1" in daemon.log and "reconnecting" in daemon.log, 15, "loss logged")
    await wait_until(lambda: jk1.connection is not None, 30, "reconnect")
    watcher.clear()
    await wait_until(lambda: watcher.count(f"{BASE}/jk1/state") >= 2, 15, "fresh states after reconnect")
    assert daemon.log.count("jk1 jk C8:47:8C:E4:54:0D) in") >= 2  # "connected (...) in x s" twice


async def test_silent_bms_goes_unavailable_and_comes_back(simulator, broker, watcher, daemon, paths):
    await start_batteries(simulator, BATTERIES[2:])
    write_config(paths["config"], simulator.port, broker.port, BATTERIES[2:])
    daemon.start()
    topic = f"{BASE}/jbd1/availability"
    await wait_until(lambda: watcher.last(topic) == b"online", 30, "online")
    simulator.devices["jbd1"].silent = True
    await wait_until(lambda: watcher.last(topic) == b"offline", 20, "offline while silent")
    simulator.devices["jbd1"].silent = False
    await wait_until(lambda: watcher.last(topic) == b"online", 60, "online again")


async def test_corrupted_frames_are_counted_and_never_published(simulator, broker, watcher, daemon, paths):
    await start_batteries(simulator, BATTERIES[:1])
    write_config(paths["config"], simulator.port, broker.port, BATTERIES[:1])
    daemon.start()
    topic = f"{BASE}/jk1/state"
    await wait_until(lambda: watcher.last_json(topic), 30, "first state")
    jk1 = simulator.devices["jk1"]
    jk1.corrupt_next = 4
    jk1.junk = b"AT\r\n\x55\xaa"
    await wait_until(lambda: watcher.last_json(topic)["diagnostics"]["bad_frames"] >= 4, 20, "bad frames counted")
    for payload in watcher.payloads(topic):
        state = json.loads(payload)
        assert 40 < state["voltage"] < 60
        assert all(2.5 <= v <= 3.7 for v in state["cell_voltages"])
        assert state["cycles"] == jk1.battery.cycles


async def test_a_garbled_answer_is_asked_for_again_at_once(simulator, broker, watcher, daemon, paths):
    await start_batteries(simulator, BATTERIES[2:])
    write_config(paths["config"], simulator.port, broker.port, BATTERIES[2:])
    daemon.start()
    topic = f"{BASE}/jbd1/state"
    await wait_until(lambda: watcher.count(topic) >= 2, 30, "states")
    simulator.devices["jbd1"].corrupt_next = 3  # three answers in a row fail their checksum
    await wait_until(lambda: watcher.last_json(topic)["diagnostics"]["bad_frames"] >= 3, 20, "bad frames counted")
    await wait_until(lambda: watcher.count(topic) >= 3, 10, "states again")
    # Re-asked at once, not after a 5 s silence each (RESPONSE_TIMEOUT): no gap between samples as long as one
    # such silence, and the link is kept.
    intervals = [json.loads(p)["diagnostics"].get("sample_interval", 0) for p in watcher.payloads(topic)]
    assert max(intervals) < RESPONSE_TIMEOUT, intervals
    assert "without an answer" not in daemon.log and "reconnecting" not in daemon.log


async def test_broker_down_at_start_and_restarted_later(simulator, broker, watcher, daemon, paths):
    await start_batteries(simulator, BATTERIES[:1])
    write_config(paths["config"], simulator.port, broker.port, BATTERIES[:1])
    broker.stop()
    daemon.start()
    await wait_until(lambda: "not reachable" in daemon.log, 15, "broker unreachable logged")
    broker.start()
    await wait_until(lambda: watcher.last_json(f"{BASE}/jk1/state"), 40, "state after broker came up")
    assert watcher.last_json(discovery_topic(BATTERIES[0][0]))
    # A restart without persistence loses retained configs: the daemon must announce again on reconnect.
    broker.stop()
    watcher.clear()
    broker.start()
    await wait_until(lambda: watcher.last_json(discovery_topic(BATTERIES[0][0])), 40, "rediscovery")
    await wait_until(lambda: watcher.last(STATUS) == b"online", 10, "status online again")
    await wait_until(lambda: watcher.last_json(f"{BASE}/jk1/state"), 10, "states again")


async def test_after_a_broker_restart_an_offline_bms_is_announced_but_its_old_state_is_not_sent(
    simulator, broker, watcher, daemon, paths
):
    await start_batteries(simulator, BATTERIES[:2])
    write_config(paths["config"], simulator.port, broker.port, BATTERIES[:2])
    daemon.start()
    await wait_until(lambda: watcher.last_json(f"{BASE}/jk1/state") and watcher.last_json(f"{BASE}/jk2/state"), 30,
                     "both states")  # fmt: skip
    simulator.devices["jk2"].silent = True
    await wait_until(lambda: watcher.last(f"{BASE}/jk2/availability") == b"offline", 30, "jk2 offline")
    broker.stop()
    watcher.clear()
    broker.start()
    await wait_until(lambda: watcher.last_json(discovery_topic(BATTERIES[1][0])), 40, "jk2 announced again")
    await wait_until(lambda: watcher.count(f"{BASE}/jk1/state") >= 2, 20, "jk1 publishing again")
    assert watcher.last(f"{BASE}/jk2/availability") == b"offline"
    assert watcher.count(f"{BASE}/jk2/state") == 0  # its minutes-old values would pass for new ones
    simulator.devices["jk2"].silent = False
    await wait_until(lambda: watcher.last_json(f"{BASE}/jk2/state"), 60, "jk2 back")
    assert watcher.last(f"{BASE}/jk2/availability") == b"online"


async def test_home_assistant_birth_triggers_rediscovery(simulator, broker, watcher, daemon, paths):
    await start_batteries(simulator, BATTERIES[:1])
    write_config(paths["config"], simulator.port, broker.port, BATTERIES[:1])
    daemon.start()
    topic = discovery_topic(BATTERIES[0][0])
    await wait_until(lambda: watcher.count(topic) >= 1, 30, "discovery")
    before = watcher.count(topic)
    watcher.publish("homeassistant/status", "online")
    await wait_until(lambda: watcher.count(topic) > before, 10, "re-announce after HA birth")


async def test_clean_stop_says_offline_and_a_crash_leaves_the_will(simulator, broker, watcher, daemon, paths):
    await start_batteries(simulator, BATTERIES[:1])
    write_config(paths["config"], simulator.port, broker.port, BATTERIES[:1])
    daemon.start()
    await wait_until(lambda: watcher.last(STATUS) == b"online", 30, "online")
    await wait_until(lambda: watcher.last(f"{BASE}/jk1/availability") == b"online", 30, "bms online")
    assert daemon.stop(signal.SIGTERM) == 0
    await wait_until(lambda: watcher.last(STATUS) == b"offline", 10, "offline on clean stop")
    assert watcher.last(f"{BASE}/jk1/availability") == b"offline"
    daemon.start()
    await wait_until(lambda: watcher.last(STATUS) == b"online", 30, "online again")
    daemon.stop(signal.SIGKILL)
    await wait_until(lambda: watcher.last(STATUS) == b"offline", 60, "last will after SIGKILL")


async def test_per_entity_discovery(simulator, broker, watcher, daemon, paths):
    await start_batteries(simulator, BATTERIES[2:])
    write_config(paths["config"], simulator.port, broker.port, BATTERIES[2:], extra='discovery = "entity"')
    daemon.start()
    uid = "batmond_" + BATTERIES[2][0].replace(":", "").lower()
    config = await wait_until(lambda: watcher.last_json(f"homeassistant/sensor/{uid}_voltage/config"), 30, "entity")
    assert config["uniq_id"] == f"{uid}_voltage"
    assert config["dev"]["ids"] == [uid]
    assert config["stat_t"] == f"{BASE}/jbd1/state"
    assert config["val_tpl"] == "{{ value_json.voltage }}"
    topic = f"homeassistant/switch/{uid}_charge_switch/config"
    switch = await wait_until(lambda: watcher.last_json(topic), 10, "switch entity")
    assert switch["cmd_t"] == "batmond/jbd1/switch/charge/set" and switch["pl_on"] == "ON"
    assert not [t for t, _, _ in watcher.messages if t.startswith("homeassistant/device/")]
