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
import os
import subprocess
import time
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
    lines = [
        "[mqtt]", 'host = "127.0.0.1"', f"port = {broker_port}", f'client_id = "{base}"', f'base_topic = "{base}"',
        f'discovery_prefix = "{base}-ha"',
        "[bluetooth]", "scan_timeout = 60.0",
        "[[bluetooth.proxy]]", f'name = "{PROXY}"', 'host = "127.0.0.1"', f"port = {proxy_port}",
        *([f'encryption_key = "{key}"'] if key is not None else []),
        "[sampling]", f"sample_period = {1 / hz:g}", "expire_values_after = 60.0",
        "[state]", f'dir = "{path.parent / "state"}"',
    ]  # fmt: skip
    for alias, type_name, address in devices:
        lines += ["[[device]]", f'address = "{address}"', f'type = "{type_name}"', f'alias = "{alias}"']
    path.write_text("\n".join(lines) + "\n")
    return path


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
        time.sleep(bench.WARMUP)
        load = os.getloadavg()[0]
        t0, cpu0, sim0 = time.monotonic_ns(), bench.cpu_ns(daemon.pid), bench.cpu_ns(sim.pid)
        ticks0 = bench.cpu_ticks_s(daemon.pid)
        time.sleep(scenario.seconds)
        t1, cpu1, sim1 = time.monotonic_ns(), bench.cpu_ns(daemon.pid), bench.cpu_ns(sim.pid)
        ticks1 = bench.cpu_ticks_s(daemon.pid)
        peak_rss, rss = bench.memory_mb(daemon.pid, "VmHWM"), bench.memory_mb(daemon.pid, "VmRSS")
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
    window = (t1 - t0) / 1e9
    samples = sum(t0 <= ns <= t1 for ns in trace["samples"])
    publishes = sum(t0 <= ns <= t1 for _, ns in watcher.states())
    cpu = (cpu1 - cpu0) / 1e9
    return {
        "bms": scenario.bms,
        "hz": scenario.hz,
        "label": scenario.label,
        "encrypted": scenario.encrypted,
        "proxy_slots": scenario.slots,
        "window_s": round(window, 2),
        "samples_per_s": round(samples / window, 1),
        "states_at_broker_per_s": round(publishes / window, 1),
        "cpu_pct_one_core": round(100 * cpu / window, 2),
        "cpu_pct_one_core_from_ticks": round(100 * (ticks1 - ticks0) / window, 2),
        "cpu_ms_per_sample": round(1000 * cpu / max(samples, 1), 3),
        "peak_rss_mb": round(peak_rss, 1),
        "rss_mb": round(rss, 1),
        "simulator_cpu_pct_one_core": round(100 * (sim1 - sim0) / 1e9 / window, 1),
        "journal_fsync_per_s": round(sum(t0 <= ns <= t1 for ns in trace["fsyncs"]) / window, 2),
        "latency_ms": bench.latencies(trace, socket_writes(trace, notifications), t0, t1),
        "gc": bench.gc_summary(trace["gc"], t0, t1),
        "answers_outside_rx": trace["answers_outside_rx"],
        "taking_turns": text.count("taking turns"),
        "proxy_sessions_lost": text.count("connection lost"),
        "load_average_1min": round(load, 2),
    }
