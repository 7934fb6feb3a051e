"""BMS read through a simulated ESPHome Bluetooth proxy by the real daemon: encrypted and plaintext, beside a local
adapter, a wrong key, a reboot, a switch command. The proxy speaks the real native API on 127.0.0.1 (its radio is
an adapter of the simulator); the daemon reaches it with aioesphomeapi, as it would an ESP32 on the Wi-Fi."""

from __future__ import annotations

import asyncio
import base64
import signal
import sys
from pathlib import Path

import pytest
from helpers import DaemonProcess, free_port, start_sim, wait_until

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
    yield sim
    await sim.stop()  # and its proxies


async def start(sim: Simulator, devices, proxy_key: str | None = None, proxy_hears=None, local_hears=None):
    """The simulator with the devices, an ESPHome proxy "garage" and, with ``local_hears``, an adapter "house"."""
    ports = {}
    if local_hears is not None:
        ports["house"] = free_port()
        await sim.add_adapter("house", f"tcp-server:127.0.0.1:{ports['house']}", slots=3, hears=local_hears)
    await sim.start([SimSpec(type=type_name, name=alias, address=address) for address, type_name, alias in devices])
    return await sim.add_proxy("garage", encryption_key=proxy_key, hears=proxy_hears), ports


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
    proxy = await radio.add_proxy("garage", encryption_key=KEY, slots=1)
    config(paths["config"], broker.port, proxy, [JK, JBD], key=KEY)  # max_connections unset: 3 until it reports
    daemon.start()
    for _, _, alias in (JK, JBD):
        await wait_until(lambda a=alias: adapter_of(watcher, a) == "garage", 60, f"{alias} through the proxy")
    watcher.clear()
    await wait_until(lambda: all(watcher.count(f"batmond/{a}/state") >= 2 for _, _, a in (JK, JBD)), 40,
                     "both sampled again, taking turns on the one slot")  # fmt: skip
    assert "has 1 BLE connection slots" in daemon.log
    assert "refused one more connection" not in daemon.log, daemon.log[-3000:]


SITE = [(address_for(f"site-{t}"), t, f"site-{t.replace('_', '-')}")
        for t in ("jk", "jbd", "daly", "daly2", "ant", "sok", "supervolt", "litime")]  # fmt: skip


def site_config(path: Path, broker_port: int) -> None:
    """A user's site: a local adapter with 2 slots, a shed proxy (encrypted) and a boat proxy (plaintext) of 3."""
    lines = ["[mqtt]", 'host = "127.0.0.1"', f"port = {broker_port}", 'client_id = "batmond-test"', "[bluetooth]",
             "connect_timeout = 5.0", "scan_timeout = 10.0",
             "[[bluetooth.adapter]]", 'name = "house"', f'transport = "tcp-client:127.0.0.1:{free_port()}"',
             "max_connections = 2",
             "[[bluetooth.proxy]]", 'name = "shed"', 'host = "127.0.0.1"', f"port = {free_port()}",
             f'encryption_key = "{KEY}"', "max_connections = 3",
             "[[bluetooth.proxy]]", 'name = "boat"', 'host = "127.0.0.1"', f"port = {free_port()}",
             "max_connections = 3",
             "[sampling]", "sample_period = 1.0", "expire_values_after = 30.0",
             "[state]", f'dir = "{path.parent / "state"}"']  # fmt: skip
    for address, type_name, alias in SITE:
        lines += ["[[device]]", f'address = "{address}"', f'type = "{type_name}"', f'alias = "{alias}"']
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.timeout(150)
async def test_batmond_sim_serves_two_proxies_and_an_adapter_scan_hears_them_and_8_bms_publish(
    broker, watcher, paths, tmp_path
):
    """`batmond sim` plays the whole site of the config; `batmond scan` lists what each radio hears; the daemon
    fills all 8 slots (2 local + 3 + 3 through the proxies), every BMS publishes, and then keeps publishing."""
    site_config(paths["config"], broker.port)
    sim_log = tmp_path / "sim.log"
    sim = start_sim(paths["config"], sim_log)
    daemon = DaemonProcess(paths["config"], paths["log"])
    try:
        await wait_until(lambda: b"simulating 8 BMS" in sim_log.read_bytes(), 30, "simulator up")
        printed = sim_log.read_text()
        assert "ESPHome proxy shed on 127.0.0.1:" in printed and "(encrypted, 3 connection slots)" in printed
        assert "(plaintext, 3 connection slots)" in printed and "(2 connection slots)" in printed
        scan = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "batmond", "scan", "--config", str(paths["config"]), "--seconds", "2",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(scan.communicate(), 60)
        assert scan.returncode == 0 and "Traceback" not in err.decode(), err.decode()
        rows = [line.split() for line in out.decode().splitlines() if line.strip() and not line.startswith("adapter")]
        heard = {(row[0], row[1]) for row in rows}
        for radio in ("house", "shed", "boat"):
            for address, _, _ in SITE:
                assert (radio, address) in heard, (radio, address, out.decode())
        for address, type_name, alias in SITE[:2]:  # JK and JBD: the service UUIDs they advertise
            _, _, rssi, name, *suggested = next(row for row in rows if row[:2] == ["shed", address])
            assert name == alias and int(rssi) < 0
            assert type_name in " ".join(suggested).replace(",", " ").split()  # from what the proxy relayed
        daemon.start()
        for _, _, alias in SITE:
            await wait_until(lambda a=alias: adapter_of(watcher, a), 60, f"{alias} publishing")
        placed = {alias: adapter_of(watcher, alias) for _, _, alias in SITE}
        assert sorted(placed.values()) == ["boat"] * 3 + ["house"] * 2 + ["shed"] * 3, placed
        watcher.clear()
        await wait_until(lambda: all(watcher.count(f"batmond/{a}/state") >= 3 for _, _, a in SITE), 30,
                         "every BMS sampled again")  # fmt: skip
    finally:
        daemon.stop(signal.SIGTERM)
        sim.send_signal(signal.SIGINT)
        sim.wait(15)
    assert "Traceback" not in sim_log.read_text() and "Traceback" not in daemon.log, daemon.log[-3000:]
    assert KEY not in daemon.log and KEY not in sim_log.read_text()


async def test_scan_through_a_proxy_that_refuses_the_key_says_so_in_one_line(radio, paths):
    proxy, _ = await start(radio, [JK], proxy_key=KEY)
    config(paths["config"], 1883, proxy, [JK], key=WRONG_KEY)
    scan = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batmond", "scan", "--config", str(paths["config"]), "--seconds", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(scan.communicate(), 60)
    assert scan.returncode == 3 and out == b""
    assert err.decode().splitlines() == [f"batmond: ESPHome proxy garage (ESPHome proxy 127.0.0.1:{proxy.port}) "
                                         "rejected the encryption key: copy encryption_key from the api: "
                                         "encryption: key: of its ESPHome YAML"]  # fmt: skip


async def test_a_proxy_out_of_slots_for_a_while_keeps_its_own_count_and_the_bms_come_back(
    radio, broker, watcher, daemon, paths
):
    """A refusal from a proxy (Home Assistant holding a slot, a fault) is momentary: the proxy's own count stands,
    so no BMS is sent to take turns for good once the slots are back."""
    proxy, _ = await start(radio, [JK, JBD], proxy_key=KEY)
    config(paths["config"], broker.port, proxy, [JK, JBD], key=KEY)
    daemon.start()
    for _, _, alias in (JK, JBD):
        await wait_until(lambda a=alias: adapter_of(watcher, a) == "garage", 40, f"{alias} through the proxy")
    proxy.exhaust_slots()
    radio.devices[JBD[2]].drop_link()
    await wait_until(lambda: "has no free BLE slot" in daemon.log, 20, "the refusal")
    proxy.exhaust_slots(False)
    watcher.clear()
    await wait_until(lambda: watcher.count(f"batmond/{JBD[2]}/state") >= 2, 40, "the JBD back")
    assert "holds at most" not in daemon.log and "taking turns" not in daemon.log, daemon.log[-3000:]


async def test_a_bms_waits_for_its_local_adapter_rather_than_searching_a_proxy_that_never_heard_it(
    radio, broker, watcher, daemon, paths
):
    proxy, ports = await start(radio, [JK, LOCAL], proxy_hears={JK[0]: -60}, local_hears={LOCAL[0]: -55})
    config(paths["config"], broker.port, proxy, [JK, LOCAL], ports=ports)
    daemon.start()
    await wait_until(lambda: adapter_of(watcher, LOCAL[2]) == "house", 40, "the local JBD on house")
    await wait_until(lambda: adapter_of(watcher, JK[2]) == "garage", 40, "the JK through the proxy")
    radio.freeze_adapter(True, "house")  # hung for 6 s: the JBD's link times out, the daemon reopens the adapter
    await wait_until(lambda: "failed: " in daemon.log, 20, "the hung adapter seen")
    await asyncio.sleep(3)
    radio.freeze_adapter(False, "house")
    watcher.clear()
    await wait_until(lambda: watcher.count(f"batmond/{LOCAL[2]}/state") >= 2, 40, "the JBD back on house")
    assert adapter_of(watcher, LOCAL[2]) == "house"
    assert "not seen advertising by adapter(s) garage" not in daemon.log, daemon.log[-3000:]
