"""BMS read through a simulated ESPHome Bluetooth proxy by the real daemon: encrypted and plaintext, beside a local
adapter, a wrong key, a reboot, a switch command. The proxy speaks the real native API on 127.0.0.1 (its radio is
an adapter of the simulator); the daemon reaches it with aioesphomeapi, as it would an ESP32 on the Wi-Fi."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest
from helpers import free_port, wait_until

pytest.importorskip("aioesphomeapi")  # the `esphome` extra

from batmond.sim import SimSpec, Simulator, address_for
from batmond.sim.esphome_proxy import EsphomeProxySim

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]
KEY = base64.b64encode(bytes(range(32))).decode()
WRONG_KEY = base64.b64encode(bytes(32)).decode()
JK = (address_for("proxy-jk"), "jk", "pjk")
JBD = (address_for("proxy-jbd"), "jbd", "pjbd")
LOCAL = (address_for("local-jbd"), "jbd", "ljbd")


@pytest.fixture
async def radio():
    sim = Simulator()
    proxies: list[EsphomeProxySim] = []
    sim.proxies = proxies
    yield sim
    for proxy in proxies:
        await proxy.stop()
    await sim.stop()


async def start(sim: Simulator, devices, proxy_key: str | None = None, proxy_hears=None, local_hears=None):
    """The simulator with the devices, an ESPHome proxy "garage" and, with ``local_hears``, an adapter "house"."""
    ports = {}
    if local_hears is not None:
        ports["house"] = free_port()
        await sim.add_adapter("house", f"tcp-server:127.0.0.1:{ports['house']}", slots=3, hears=local_hears)
    await sim.start([SimSpec(type=type_name, name=alias, address=address) for address, type_name, alias in devices])
    proxy = EsphomeProxySim("garage", sim, encryption_key=proxy_key, hears=proxy_hears)
    await proxy.start()
    sim.proxies.append(proxy)
    return proxy, ports


def config(path: Path, broker_port: int, proxy: EsphomeProxySim, devices, key: str | None = None,
           ports: dict[str, int] | None = None) -> None:  # fmt: skip
    lines = ["[mqtt]", 'host = "127.0.0.1"', f"port = {broker_port}", 'client_id = "batmond-test"', "[bluetooth]",
             "connect_timeout = 5.0", "scan_timeout = 10.0"]  # fmt: skip
    for name, port in (ports or {}).items():
        lines += ["[[bluetooth.adapter]]", f'name = "{name}"', f'transport = "tcp-client:127.0.0.1:{port}"']
    lines += ["[[bluetooth.proxy]]", 'name = "garage"', 'host = "127.0.0.1"', f"port = {proxy.port}"]
    if key is not None:
        lines.append(f'encryption_key = "{key}"')
    lines += ["[sampling]", "sample_period = 1.0", "[state]", f'dir = "{path.parent / "state"}"']
    for address, type_name, alias in devices:
        lines += ["[[device]]", f'address = "{address}"', f'type = "{type_name}"', f'alias = "{alias}"']
    path.write_text("\n".join(lines) + "\n")


def adapter_of(watcher, alias: str) -> str | None:
    state = watcher.last_json(f"batmond/{alias}/state") or {}
    return state.get("diagnostics", {}).get("adapter")


async def test_a_jk_and_a_jbd_through_one_encrypted_proxy(radio, broker, watcher, daemon, paths):
    proxy, _ = await start(radio, [JK, JBD], proxy_key=KEY)
    config(paths["config"], broker.port, proxy, [JK, JBD], key=KEY)
    daemon.start()
    for _, _, alias in (JK, JBD):
        await wait_until(lambda a=alias: adapter_of(watcher, a) == "garage", 40, f"{alias} through the proxy")
    state = watcher.last_json(f"batmond/{JK[2]}/state")
    assert state["voltage"] > 0 and state["diagnostics"]["rssi"] < 0
    assert "ESPHome proxy garage (ESPHome proxy 127.0.0.1:" in daemon.log and " is up (garage" in daemon.log
    assert KEY not in daemon.log


async def test_a_plaintext_proxy_beside_a_local_adapter(radio, broker, watcher, daemon, paths):
    proxy, ports = await start(radio, [JK, LOCAL], proxy_hears={JK[0]: -60}, local_hears={LOCAL[0]: -55})
    config(paths["config"], broker.port, proxy, [JK, LOCAL], ports=ports)
    daemon.start()
    await wait_until(lambda: adapter_of(watcher, JK[2]) == "garage", 40, "the JK through the proxy")
    await wait_until(lambda: adapter_of(watcher, LOCAL[2]) == "house", 40, "the local JBD on house")


async def test_a_wrong_key_is_one_line_and_the_local_adapter_goes_on(radio, broker, watcher, daemon, paths):
    proxy, ports = await start(radio, [JK, LOCAL], proxy_key=KEY, proxy_hears={JK[0]: -60},
                               local_hears={LOCAL[0]: -55})  # fmt: skip
    config(paths["config"], broker.port, proxy, [JK, LOCAL], key=WRONG_KEY, ports=ports)
    daemon.start()
    await wait_until(lambda: adapter_of(watcher, LOCAL[2]) == "house", 40, "the local JBD on house")
    await wait_until(lambda: "rejected the encryption key" in daemon.log, 20, "the key refusal logged")
    watcher.clear()
    await asyncio.sleep(5)  # several retries of the proxy meanwhile
    assert watcher.count(f"batmond/{LOCAL[2]}/state") >= 2
    assert daemon.log.count("rejected the encryption key") == 1, daemon.log[-3000:]
    assert WRONG_KEY not in daemon.log and KEY not in daemon.log
    assert daemon.process is not None and daemon.process.poll() is None


async def test_the_bms_publish_again_after_the_proxy_reboots(radio, broker, watcher, daemon, paths):
    proxy, _ = await start(radio, [JBD], proxy_key=KEY)
    config(paths["config"], broker.port, proxy, [JBD], key=KEY)
    daemon.start()
    await wait_until(lambda: adapter_of(watcher, JBD[2]) == "garage", 40, "the JBD through the proxy")
    await proxy.reboot(down_for=2.0)
    await wait_until(lambda: "connection lost" in daemon.log, 20, "the drop logged")
    watcher.clear()
    await wait_until(lambda: watcher.count(f"batmond/{JBD[2]}/state") >= 2, 45, "states again after the reboot")
    assert " is back (garage" in daemon.log


async def test_a_switch_command_through_the_proxy_is_confirmed(radio, broker, watcher, daemon, paths):
    proxy, _ = await start(radio, [JK], proxy_key=KEY)
    config(paths["config"], broker.port, proxy, [JK], key=KEY)
    daemon.start()
    alias = JK[2]

    def charge() -> str | None:
        return (watcher.last_json(f"batmond/{alias}/state") or {}).get("switches", {}).get("charge")

    await wait_until(lambda: charge() == "ON", 40, "charge ON through the proxy")
    watcher.publish(f"batmond/{alias}/switch/charge/set", "OFF")
    battery = radio.devices[alias].battery
    await wait_until(lambda: not battery.charge_enabled, 20, "the BMS got the command")
    await wait_until(lambda: charge() == "OFF", 20, "confirmed OFF published")


async def test_the_proxys_own_slot_count_wins_and_the_bms_take_turns(radio, broker, watcher, daemon, paths):
    await radio.start([SimSpec(type=t, name=alias, address=address) for address, t, alias in (JK, JBD)])
    proxy = EsphomeProxySim("garage", radio, encryption_key=KEY, slots=1)
    await proxy.start()
    radio.proxies.append(proxy)
    config(paths["config"], broker.port, proxy, [JK, JBD], key=KEY)  # max_connections unset: 3 until it reports
    daemon.start()
    for _, _, alias in (JK, JBD):
        await wait_until(lambda a=alias: adapter_of(watcher, a) == "garage", 60, f"{alias} through the proxy")
    watcher.clear()
    await wait_until(lambda: all(watcher.count(f"batmond/{a}/state") >= 2 for _, _, a in (JK, JBD)), 40,
                     "both sampled again, taking turns on the one slot")  # fmt: skip
    assert "has 1 BLE connection slots" in daemon.log
    assert "refused one more connection" not in daemon.log, daemon.log[-3000:]
