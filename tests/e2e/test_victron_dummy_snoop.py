"""`batmond run` with the three special types: dummy (no radio), victron (PIN pairing), snoop (GATT dump)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from helpers import wait_until, write_config

from batmond.sim import SimSpec

pytestmark = pytest.mark.e2e
SHUNT = ("D3:9F:05:AC:88:DA", "victron", "shunt")
JK = ("C8:47:8C:E4:54:0D", "jk", "jk1")


async def test_a_dummy_only_config_publishes_without_any_bluetooth(broker, watcher, daemon, paths):
    # No simulator and an adapter that does not exist: the daemon must not even try to open it.
    write_config(paths["config"], 9, broker.port, [("dummy", "dummy", "dummy1"), ("garage pack", "dummy", "dummy2")])
    paths["config"].write_text(paths["config"].read_text().replace("tcp-client:127.0.0.1:9", "usb:99"))
    daemon.start()
    for alias in ("dummy1", "dummy2"):
        state = await wait_until(lambda a=alias: watcher.last_json(f"batmond/{a}/state"), 30, f"{alias} state")
        assert len(state["cell_voltages"]) == 16
        assert state["voltage"] == pytest.approx(sum(state["cell_voltages"]), abs=0.05)
        assert 0 <= state["soc"] <= 100 and state["capacity"] == 280
        assert state["switches"] == {"charge": "ON", "discharge": "ON", "balance": "ON"}
        assert state["diagnostics"]["bad_frames"] == 0
    discovery = watcher.last_json("homeassistant/device/batmond_name_dummy/config")
    assert discovery["dev"]["mf"] == "batmond" and discovery["dev"]["name"] == "dummy1"
    assert watcher.last("batmond/dummy2/availability") == b"online"
    assert "Bluetooth" not in daemon.log and "usb:99" not in daemon.log
    # Switching works like on a real BMS: write, read back, publish.
    watcher.publish("batmond/dummy1/switch/charge/set", "OFF")
    await wait_until(
        lambda: (watcher.last_json("batmond/dummy1/state") or {}).get("switches", {}).get("charge") == "OFF",
        15, "charge switched off",
    )  # fmt: skip


async def test_victron_pairs_once_publishes_shunt_values_and_reencrypts_after_restart(
    simulator, broker, watcher, daemon, paths
):
    await simulator.start([SimSpec(type="victron", name="SmartShunt HQ2204", address=SHUNT[0])])
    shunt = simulator.devices["SmartShunt HQ2204"]
    shunt.pin = "314159"
    write_config(paths["config"], simulator.port, broker.port, [(*SHUNT, 'pin = "314159"')])
    daemon.start()
    state = await wait_until(lambda: watcher.last_json("batmond/shunt/state"), 30, "shunt state")
    shunt.battery.advance()
    truth = shunt.battery
    assert state["voltage"] == pytest.approx(truth.voltage, abs=0.1)
    assert abs(state["soc"] - truth.soc) <= 1
    assert state["consumed"] == pytest.approx(truth.remaining_ah - truth.capacity_ah, abs=1)
    assert state["temperatures"] == [pytest.approx(truth.temperatures[0], abs=0.5)]
    assert "cell_voltages" not in state
    cmps = watcher.last_json(f"homeassistant/device/batmond_{SHUNT[0].replace(':', '').lower()}/config")["cmps"]
    assert cmps["consumed"]["unit_of_meas"] == "Ah"
    assert shunt.pairings == 1 and shunt.keep_alives and shunt.keep_alives[0] == 0xFFFF
    keys = Path(paths["config"].parent / "state" / "bluetooth-keys.json")
    assert keys.exists() and SHUNT[0] in keys.read_text()

    assert daemon.stop(signal.SIGTERM) == 0
    watcher.clear()
    daemon.start()
    await wait_until(lambda: watcher.last_json("batmond/shunt/state"), 30, "shunt state after restart")
    assert shunt.pairings == 1  # re-encrypted with the stored keys, no PIN entry


async def test_victron_wrong_pin_is_one_error_line(simulator, broker, watcher, daemon, paths):
    await simulator.start([SimSpec(type="victron", name="SmartShunt HQ2204", address=SHUNT[0])])
    shunt = simulator.devices["SmartShunt HQ2204"]
    write_config(paths["config"], simulator.port, broker.port, [(*SHUNT, 'pin = "123456"')])
    daemon.start()
    await wait_until(lambda: "wrong PIN" in daemon.log, 30, "wrong PIN logged")
    await asyncio.sleep(5)  # the poller retries meanwhile (backoff 1 s, 2 s)
    lines = [line for line in daemon.log.splitlines() if "PIN" in line or "pairing" in line]
    assert len(lines) == 1, lines
    assert "shunt victron D3:9F:05:AC:88:DA: wrong PIN: the device refused pairing" in lines[0]
    assert shunt.pairings == 1  # not retried against the device
    assert watcher.last_json("batmond/shunt/state") is None


async def test_snoop_logs_the_gatt_tree_and_the_frames_a_probe_brings(simulator, broker, watcher, daemon, paths):
    await simulator.start([SimSpec(type="jk", name="JK-B2A24S", address=JK[0])])
    write_config(paths["config"], simulator.port, broker.port, [(JK[0], "snoop:jk", "mystery")])
    daemon.start()
    await wait_until(lambda: "(300 bytes): 55 aa eb 90 02" in daemon.log, 40, "a cell-info frame as hex")
    log = daemon.log
    assert "GATT tree" in log
    assert "service 0x" in log and "ffe0" in log
    assert "characteristic 0x" in log and "ffe1" in log and "WRITE" in log and "NOTIFY" in log
    assert "1800 (Generic Access)" in log and "2a00 (Device Name)" in log and "'JK-B2A24S'" in log
    assert "descriptor 0x" in log and "2902 (Client Characteristic Configuration)" in log
    writes = [line for line in log.splitlines() if " write 0x" in line]
    assert any("aa 55 90 eb 97" in line for line in writes) and any("aa 55 90 eb 96" in line for line in writes)
    assert all("2a00" not in line for line in writes)  # probes never go to standard services
    notifications = [line for line in log.splitlines() if " notify 0x" in line and "(300 bytes)" in line]
    assert any(": 55 aa eb 90 03" in line for line in notifications)  # device info answered the 0x97 probe
    assert all(line.split(" notify ")[0].rsplit("+", 1)[1].endswith(" s") for line in notifications)
    assert simulator.devices["JK-B2A24S"].writes  # the simulated JK got the probes
    # Nothing decoded, nothing published but availability.
    await wait_until(lambda: watcher.last("batmond/mystery/availability") == b"offline", 10, "availability")
    assert watcher.last("batmond/mystery/state") is None


async def test_snoop_survives_a_device_that_refuses_reads(simulator, broker, watcher, daemon, paths):
    # The SmartShunt refuses unauthenticated reads: the dump goes on and notifications are still subscribed.
    await simulator.start([SimSpec(type="victron", name="SmartShunt HQ2204", address=SHUNT[0])])
    write_config(paths["config"], simulator.port, broker.port, [(SHUNT[0], "snoop", "mystery")])
    daemon.start()
    await wait_until(lambda: "notifications follow" in daemon.log, 40, "dump finished")
    log = daemon.log
    assert "6597ed8d-4bda-4c1e-af4b-551c4cf74769 [READ|NOTIFY] (read refused: INSUFFICIENT_AUTHENTICATION 0x05)" in log
    assert "65970000-4bda-4c1e-af4b-551c4cf74769" in log
    assert "subscribed to 8" in log  # 7 values and the standard Service Changed
    assert "\x1b" not in log  # one plain line per fact
    await wait_until(lambda: " notify 0x" in daemon.log, 20, "a shunt notification")
