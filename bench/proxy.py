"""The proxy rows of `make bench`: the daemon reaching its BMS through a simulated ESPHome Bluetooth proxy.

bench/sim.py serves the BMS and, in front of them, an ESPHome proxy (batmond/sim/esphome_proxy.py: the real
native API on 127.0.0.1, Noise-encrypted or plaintext, its radio an adapter of the simulator) in a process of its
own; the daemon (bench/traced.py) reaches it with aioesphomeapi through ``[[bluetooth.proxy]]``, with no local
adapter. The Wi-Fi hop of a real proxy is outside the daemon and not simulated: the latency is what batmond adds,
from the moment the proxy writes the TCP frame carrying the GATT notification into the daemon's socket (logged by
the simulator, per notification) to the MQTT PUBLISH of the state it made leaving the daemon's socket, as for the
local rows; the steps say where it goes (socket_wait: in the socket until aioesphomeapi reads it;
transport_to_codec: Noise, protobuf and aioesphomeapi up to the codec having the answer). CPU, CPU % and peak RSS
are the daemon's, measured as for the local rows.

An ESPHome proxy has 3 BLE connection slots by default (bluetooth_proxy: connection_slots): the rows are 1 BMS and
3 BMS on one proxy of 3 slots, every BMS keeping its link (no taking turns), JBD and JK alternating as in the
local rows; the 3-BMS row also in plaintext (proxies without an encryption key).
"""

from __future__ import annotations

import base64
import bisect
import json
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import run as bench

KEY = base64.b64encode(bytes(range(32))).decode()  # the bench's own proxy key (api: encryption: key:)
PROXY = "garage"


@dataclass(frozen=True)
class ProxyScenario:
    bms: int
    encrypted: bool
    seconds: float
    slots: int = 3  # ESPHome's default bluetooth_proxy: connection_slots
    hz: int = 1

    @property
    def key(self) -> str:
        return f"proxy-{'noise' if self.encrypted else 'plain'}-{self.bms}x{self.hz}hz"

    @property
    def label(self) -> str:
        framing = "Noise" if self.encrypted else "plaintext"
        return f"{self.bms} BMS × {self.hz} Hz, ESPHome proxy ({framing}, {self.slots} slots)"


PROXY_SCENARIOS = [ProxyScenario(1, True, 30), ProxyScenario(3, True, 30), ProxyScenario(3, False, 20)]


def write_proxy_config(path: Path, proxy_port: int, key: str | None, broker_port: int,
                       devices: list[tuple[str, str, str]], hz: float, base: str) -> Path:  # fmt: skip
    """One ESPHome proxy on ``proxy_port`` and no local adapter."""
    proxy = ["[[bluetooth.proxy]]", f'name = "{PROXY}"', 'host = "127.0.0.1"', f"port = {proxy_port}"]
    proxy += [f'encryption_key = "{key}"'] if key is not None else []
    return bench.write_daemon_config(path, broker_port, proxy, devices, hz, base)


def socket_writes(trace: dict, notifications: list[list[int]]) -> list[tuple[int, int]]:
    """When the proxy wrote the notification each published answer came in, as bench.latencies takes them.

    The daemon names an answer by its notification (address, handle, CRC-32 of the data; its index in
    notify_keys is the answer's offset); the proxy's write of it is the last one with that content before the
    daemon read it."""
    sent: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for ns, address, handle, crc in notifications:
        sent[address, handle, crc].append(ns)
    for times in sent.values():
        times.sort()
    keys = trace["notify_keys"]
    found: dict[int, int] = {}
    for _alias, rx, index, *_ in trace["published"]:
        if not 0 <= index < len(keys):
            continue
        times = sent.get(tuple(keys[index]), [])
        i = bisect.bisect_right(times, rx)
        if i:
            found[index] = times[i - 1]
    return [(ns, index) for index, ns in sorted(found.items())]


def run_proxy_scenario(scenario: ProxyScenario, broker: bench.Broker, workdir: Path,
                       quiet_hci: bool) -> dict[str, Any]:  # fmt: skip
    directory = workdir / scenario.key
    directory.mkdir()
    base = f"bench{scenario.key.replace('-', '')}"
    devices = bench.fleet(scenario.bms)
    key = KEY if scenario.encrypted else None
    config = write_proxy_config(directory / "batmon.toml", bench.free_port(), key, broker.port, devices, scenario.hz,
                                base)  # fmt: skip
    sim = bench.start_simulator(config, directory / "writes.json", directory / "sim.log", quiet_hci,
                                ["--proxy-slots", str(scenario.slots)])  # fmt: skip
    watcher = bench.Watcher(broker.port, base)
    log = (directory / "daemon.log").open("wb")
    daemon = subprocess.Popen([bench.PY, str(bench.BENCH / "traced.py"), str(directory / "trace.json"), "--esphome",
                               "run", "--config", str(config)], stdout=log, stderr=log)  # fmt: skip
    try:
        expected = {f"{base}/{alias}/state" for alias, _, _ in devices}
        bench.wait_for(lambda: expected <= {t for t, _ in watcher.states()}, 60 + 10 * scenario.bms,
                       "every BMS to publish through the proxy", daemon)  # fmt: skip
        window = bench.measure(daemon, sim, scenario.seconds, directory / "state")
    finally:
        bench.stop_process(daemon)
        bench.stop_process(sim)
        watcher.close()
        log.close()
    text = (directory / "daemon.log").read_text(errors="replace")
    if "Traceback" in text:
        raise RuntimeError(f"the daemon logged a traceback: {directory / 'daemon.log'}")
    trace = json.loads((directory / "trace.json").read_text())
    notifications = json.loads((directory / "writes.json").read_text())
    return {
        "bms": scenario.bms,
        "hz": scenario.hz,
        "label": scenario.label,
        "encrypted": scenario.encrypted,
        "proxy_slots": scenario.slots,
        **bench.window_figures(window, trace, watcher),
        "latency_ms": bench.latencies(trace, socket_writes(trace, notifications), window.t0, window.t1),
        "taking_turns": text.count("taking turns"),
        "proxy_sessions_lost": text.count("connection lost"),
    }
