"""`make bench`: the daemon against simulated BMS on the virtual radio and a real mosquitto on 127.0.0.1.

Measures, prints a table and writes bench/results.json (README "Performance" explains every figure):
- software latency, from the BMS notification entering the HCI socket to the MQTT PUBLISH of the state it
  made leaving the daemon's socket (bench/traced.py, bench/sim.py), at 1, 8 and 32 BMS;
- CPU seconds per sample, CPU % of one core and peak RSS of the daemon process, at 1, 8 and 32 BMS, 1 and 10 Hz;
- fsyncs per second of the meter journal;
- decode throughput of every codec (bench/decode.py), and against aiobmsble where it has the protocol
  (bench/aiobmsble_compare.py, in a Python >= 3.12 venv made for the bench: build/bench-aiobmsble);
- time from process start to the first MQTT publish, for `python -m batmond` and the single binary if built;
- the same latency, CPU per sample, CPU % and peak RSS with the BMS reached through a simulated ESPHome Bluetooth
  proxy (Noise and plaintext) instead of a local adapter (bench/proxy.py).

    python bench/run.py [--quick] [--skip-aiobmsble]

The simulator runs in its own process, so the daemon's CPU and memory are its own. Half the fleet is JBD (two
request/answer exchanges per sample), half JK (300-byte frames, streamed twice a second and polled when no
fresh frame came).
"""

from __future__ import annotations

import argparse
import bisect
import importlib.util
import itertools
import json
import os
import platform
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

from decode import all_throughputs  # noqa: E402

from batmond.journal import COMPACT_BYTES, GROUP_COMMIT_INTERVAL  # noqa: E402
from batmond.sim import address_for  # noqa: E402

RESULTS = BENCH / "results.json"
PY = sys.executable
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
AIOBMSBLE = "aiobmsble==0.31.0"
AIOBMSBLE_VENV = ROOT / "build" / "bench-aiobmsble"
WARMUP = 3.0  # s after every BMS published once, before measuring
STARTUP_RUNS = 3
# batmond/journal.py: a compacting commit syncs twice (the snapshot, the directory) instead of once, and the daemon's
# next commit then waits one interval longer.
COMPACTION_EXTRA_SYNCS = 1


@dataclass(frozen=True)
class Scenario:
    bms: int
    hz: int
    seconds: float

    @property
    def key(self) -> str:
        return f"{self.bms}x{self.hz}hz"


SCENARIOS = [Scenario(1, 1, 30), Scenario(8, 1, 30), Scenario(32, 1, 30),
             Scenario(1, 10, 20), Scenario(8, 10, 20), Scenario(32, 10, 20)]  # fmt: skip


@dataclass(frozen=True)
class FleetScenario:
    """More BMS than slots: some keep their link, the others take turns (batmond/fleet.py), at 1 Hz."""

    bms: int = 64
    adapters: int = 4
    slots: int = 8
    seconds: float = 60

    @property
    def key(self) -> str:
        return f"fleet{self.bms}"


FLEET = FleetScenario()
FLEET_INTERVAL_TARGET_S = 10.0  # every BMS sampled at least this often


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fleet(count: int) -> list[tuple[str, str, str]]:
    """(alias, type, MAC): JBD and JK alternating, JBD first."""
    return [(f"b{i:02d}", "jbd" if i % 2 == 0 else "jk", address_for(f"bench-{i}")) for i in range(count)]


def write_config(path: Path, sim_port: int, broker_port: int, devices: list[tuple[str, str, str]], hz: float,
                 base: str, adapter_ports: list[int] | None = None, slots: int = 64) -> Path:  # fmt: skip
    """One adapter on ``sim_port`` with a slot for every BMS, or one adapter per port of ``adapter_ports``."""
    adapters = [f'transport = "tcp-client:127.0.0.1:{sim_port}"']
    for index, port in enumerate(adapter_ports or []):
        adapters = [] if index == 0 else adapters
        adapters += ["[[bluetooth.adapter]]", f'name = "a{index}"', f'transport = "tcp-client:127.0.0.1:{port}"']
    return write_daemon_config(path, broker_port, [f"max_connections = {slots}", *adapters], devices, hz, base)


def write_daemon_config(path: Path, broker_port: int, radios: list[str], devices: list[tuple[str, str, str]],
                        hz: float, base: str) -> Path:  # fmt: skip
    """The daemon's config: a broker on 127.0.0.1, the ``[bluetooth]`` lines of ``radios``, the BMS."""
    lines = [
        "[mqtt]", 'host = "127.0.0.1"', f"port = {broker_port}", f'client_id = "{base}"', f'base_topic = "{base}"',
        f'discovery_prefix = "{base}-ha"',
        "[bluetooth]", "scan_timeout = 60.0", *radios,
        "[sampling]", f"sample_period = {1 / hz:g}", "expire_values_after = 60.0",
        "[state]", f'dir = "{path.parent / "state"}"',
    ]  # fmt: skip
    for alias, type_name, address in devices:
        lines += ["[[device]]", f'address = "{address}"', f'type = "{type_name}"', f'alias = "{alias}"']
    path.write_text("\n".join(lines) + "\n")
    return path


class Broker:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        config = directory / "mosquitto.conf"
        config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                          + ("user root\n" if os.geteuid() == 0 else ""))  # fmt: skip
        with (directory / "mosquitto.log").open("wb") as log:
            self.process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=log, stderr=log)
        wait_for(lambda: self._listening(), 10, "mosquitto to listen")

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError("mosquitto exited; is it installed? (make system-deps)")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        stop_process(self.process)


class Watcher:
    """Receive times (monotonic ns) of the live (not retained) messages under one base topic."""

    def __init__(self, port: int, base: str) -> None:
        self.base = base
        self.messages: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-watcher-{free_port()}")
        self.client.on_connect = lambda client, *_: client.subscribe(f"{base}/#", qos=0)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise RuntimeError("the watcher could not subscribe")

    def _on_message(self, client, userdata, message) -> None:
        if not message.retain:
            with self.lock:
                self.messages.append((message.topic, time.monotonic_ns()))

    def states(self) -> list[tuple[str, int]]:
        with self.lock:
            return [(t, ns) for t, ns in self.messages if t.endswith("/state")]

    def first(self, suffix: str = "") -> int | None:
        with self.lock:
            return next((ns for t, ns in self.messages if t.endswith(suffix)), None)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(predicate, timeout: float, what: str, process: subprocess.Popen | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        time.sleep(0.02)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of a process, in ns (schedstat: exact, unlike the 10 ms ticks of stat)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                total += int(stat.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that just ended
    return total


def cpu_ticks_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def memory_mb(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def start_simulator(config: Path, writes: Path, log: Path, quiet_hci: bool,
                    extra: list[str] | None = None) -> subprocess.Popen:  # fmt: skip
    command = [PY, str(BENCH / "sim.py"), str(config), str(writes)] + (["--quiet-hci"] if quiet_hci else [])
    command += extra or []
    with log.open("wb") as err:
        sim = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True)
    assert sim.stdout is not None
    ready, _, _ = select.select([sim.stdout], [], [], 120)
    if not ready or sim.stdout.readline().strip() != "ready":
        stop_process(sim)
        raise RuntimeError(f"the simulator did not start: {log.read_text()[-2000:]}")
    return sim


# Where a sample's latency goes: the bytes wait in the socket for the event loop; bumble, GATT and the codec's
# framer find the answer; the poller wakes and decodes the sample; the hub (meters, averaging); the MQTT sink
# builds the JSON state; paho writes the PUBLISH into the broker's socket (from the event loop, no thread).
STEPS = ("socket_wait", "transport_to_codec", "poller_and_decode", "hub", "state_json", "paho_write")


def percentiles(values_ns: list[int]) -> dict[str, float | int | None]:
    if not values_ns:
        return {"p50": None, "p99": None, "max": None, "n": 0}
    ordered = sorted(values_ns)

    def rank(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))] / 1e6, 3)

    return {"p50": rank(0.50), "p99": rank(0.99), "max": round(ordered[-1] / 1e6, 3), "n": len(ordered)}


def latencies(trace: dict, writes: list[list[int]], t0: int, t1: int) -> dict[str, Any]:
    """Join the daemon's trace with the simulator's write log: per published state, socket in -> socket out."""
    written: dict[int, list[int]] = defaultdict(list)
    for mid, ns in trace["written"]:
        written[mid].append(ns)
    for times in written.values():
        times.sort()
    sim_times = [ns for ns, _ in writes]
    sim_offsets = [offset for _, offset in writes]
    from_socket, in_process = [], []
    steps: dict[str, list[int]] = {step: [] for step in STEPS}
    unmatched = misaligned = 0
    for _alias, rx, offset, answered, recorded, sink, handed, mid in trace["published"]:
        if not t0 <= handed <= t1:
            continue
        times = written.get(mid, [])
        i = bisect.bisect_left(times, handed)
        if i == len(times):
            unmatched += 1  # not written before the daemon stopped
            continue
        out = times[i]
        in_process.append(out - rx)
        j = bisect.bisect_left(sim_offsets, offset)
        if j < len(sim_offsets) and sim_offsets[j] == offset:
            from_socket.append(out - sim_times[j])
            steps["socket_wait"].append(rx - sim_times[j])
        else:
            misaligned += 1
        for step, duration in zip(STEPS[1:], (answered - rx, recorded - answered, sink - recorded, handed - sink,
                                              out - handed), strict=True):  # fmt: skip
            steps[step].append(duration)
    return {
        "from_socket": percentiles(from_socket),
        "in_process": percentiles(in_process),
        "steps": {
            step: {k: v for k, v in percentiles(values).items() if k in ("p50", "p99")}
            for step, values in steps.items()
        },
        "unmatched": unmatched,
        "misaligned": misaligned,
    }


def journal_bytes(state: Path) -> int:
    return sum(path.stat().st_size for path in state.glob("journal-*"))


def gc_summary(collections: list[list[int]], t0: int, t1: int) -> dict[str, Any]:
    window = [(duration, generation) for start, duration, generation in collections if t0 <= start <= t1]
    seconds = (t1 - t0) / 1e9
    return {
        "per_s": round(len(window) / seconds, 2),
        "ms_per_s": round(sum(d for d, _ in window) / 1e6 / seconds, 3),
        "max_ms": round(max((d for d, _ in window), default=0) / 1e6, 3),
        "full_collections": sum(g == 2 for _, g in window),
    }


@dataclass
class Window:
    """What was read off the daemon and the simulator at both ends of a measurement window."""

    t0: int
    t1: int
    cpu_s: float  # the daemon's CPU over the window
    ticks_s: float  # the same from /proc/<pid>/stat ticks
    sim_cpu_s: float
    journal_growth: int  # bytes the journal grew
    peak_rss: float
    rss: float
    load: float  # 1-minute load average at the start

    @property
    def seconds(self) -> float:
        return (self.t1 - self.t0) / 1e9


def measure(daemon: subprocess.Popen, sim: subprocess.Popen, seconds: float, state: Path) -> Window:
    time.sleep(WARMUP)
    load = os.getloadavg()[0]
    t0, cpu0, sim0, ticks0 = time.monotonic_ns(), cpu_ns(daemon.pid), cpu_ns(sim.pid), cpu_ticks_s(daemon.pid)
    journal0 = journal_bytes(state)
    time.sleep(seconds)
    t1, cpu1, sim1, ticks1 = time.monotonic_ns(), cpu_ns(daemon.pid), cpu_ns(sim.pid), cpu_ticks_s(daemon.pid)
    journal1 = journal_bytes(state)
    return Window(t0, t1, (cpu1 - cpu0) / 1e9, ticks1 - ticks0, (sim1 - sim0) / 1e9, max(0, journal1 - journal0),
                  memory_mb(daemon.pid, "VmHWM"), memory_mb(daemon.pid, "VmRSS"), load)  # fmt: skip


def window_figures(window: Window, trace: dict, watcher: Watcher) -> dict[str, Any]:
    """The figures every traced run reports for its window."""
    t0, t1, seconds = window.t0, window.t1, window.seconds
    samples = sum(t0 <= ns <= t1 for ns in trace["samples"])
    publishes = sum(t0 <= ns <= t1 for _, ns in watcher.states())
    return {
        "window_s": round(seconds, 2),
        "samples_per_s": round(samples / seconds, 1),
        "states_at_broker_per_s": round(publishes / seconds, 1),
        "cpu_pct_one_core": round(100 * window.cpu_s / seconds, 2),
        "cpu_pct_one_core_from_ticks": round(100 * window.ticks_s / seconds, 2),
        "cpu_ms_per_sample": round(1000 * window.cpu_s / max(samples, 1), 3),
        "peak_rss_mb": round(window.peak_rss, 1),
        "rss_mb": round(window.rss, 1),
        "simulator_cpu_pct_one_core": round(100 * window.sim_cpu_s / seconds, 1),
        "journal_fsync_per_s": round(sum(t0 <= ns <= t1 for ns in trace["fsyncs"]) / seconds, 2),
        "gc": gc_summary(trace["gc"], t0, t1),
        "answers_outside_rx": trace["answers_outside_rx"],
        "load_average_1min": round(window.load, 2),
    }


def run_scenario(scenario: Scenario, broker: Broker, workdir: Path, quiet_hci: bool) -> dict[str, Any]:
    directory = workdir / scenario.key
    directory.mkdir()
    base = f"bench{scenario.key}"
    devices = fleet(scenario.bms)
    config = write_config(directory / "batmon.toml", free_port(), broker.port, devices, scenario.hz, base)
    sim = start_simulator(config, directory / "writes.json", directory / "sim.log", quiet_hci)
    watcher = Watcher(broker.port, base)
    log = (directory / "daemon.log").open("wb")
    daemon = subprocess.Popen([PY, str(BENCH / "traced.py"), str(directory / "trace.json"), "run", "--config",
                               str(config)], stdout=log, stderr=log)  # fmt: skip
    try:
        expected = {f"{base}/{alias}/state" for alias, _, _ in devices}
        wait_for(lambda: expected <= {t for t, _ in watcher.states()}, 30 + scenario.bms, "every BMS to publish",
                 daemon)  # fmt: skip
        window = measure(daemon, sim, scenario.seconds, directory / "state")
    finally:
        stop_process(daemon)
        stop_process(sim)
        watcher.close()
        log.close()
    if "Traceback" in (directory / "daemon.log").read_text(errors="replace"):
        raise RuntimeError(f"the daemon logged a traceback: {directory / 'daemon.log'}")
    trace = json.loads((directory / "trace.json").read_text())
    writes = json.loads((directory / "writes.json").read_text())
    figures = window_figures(window, trace, watcher)
    growth = window.journal_growth / window.seconds  # a compaction inside the window would shrink it: not counted
    compactions = growth / COMPACT_BYTES  # per second
    fsyncs = figures["journal_fsync_per_s"]
    return {
        "bms": scenario.bms,
        "hz": scenario.hz,
        **figures,
        "journal_bytes_per_s": round(growth),
        # A window rarely holds a compaction (every COMPACT_BYTES of journal): add them at the rate they happen.
        "journal_fsync_per_s_long_run": round(
            (fsyncs + COMPACTION_EXTRA_SYNCS * compactions) / (1 + GROUP_COMMIT_INTERVAL * compactions), 3
        ),
        "latency_ms": latencies(trace, writes, window.t0, window.t1),
    }


def run_fleet(scenario: FleetScenario, broker: Broker, workdir: Path, quiet_hci: bool) -> dict[str, Any]:
    """Sample intervals per BMS (from the broker's receive times of its states), CPU and RSS of the daemon."""
    directory = workdir / scenario.key
    directory.mkdir()
    base = f"bench{scenario.key}"
    devices = fleet(scenario.bms)
    ports = [free_port() for _ in range(scenario.adapters)]
    config = write_config(directory / "batmon.toml", 0, broker.port, devices, 1, base, ports, scenario.slots)
    sim = start_simulator(config, directory / "writes.json", directory / "sim.log", quiet_hci)
    watcher = Watcher(broker.port, base)
    log = (directory / "daemon.log").open("wb")
    daemon = subprocess.Popen([PY, "-m", "batmond", "run", "--config", str(config)], stdout=log, stderr=log)
    try:
        expected = {f"{base}/{alias}/state" for alias, _, _ in devices}
        wait_for(lambda: expected <= {t for t, _ in watcher.states()}, 120 + scenario.bms, "every BMS to publish",
                 daemon)  # fmt: skip
        time.sleep(WARMUP)
        t0, cpu0 = time.monotonic_ns(), cpu_ns(daemon.pid)
        time.sleep(scenario.seconds)
        t1, cpu1 = time.monotonic_ns(), cpu_ns(daemon.pid)
        peak_rss = memory_mb(daemon.pid, "VmHWM")
    finally:
        stop_process(daemon)
        stop_process(sim)
        watcher.close()
        log.close()
    text = (directory / "daemon.log").read_text(errors="replace")
    if "Traceback" in text:
        raise RuntimeError(f"the daemon logged a traceback: {directory / 'daemon.log'}")
    by_bms: dict[str, list[int]] = defaultdict(list)
    for topic, ns in watcher.states():
        by_bms[topic].append(ns)
    intervals: list[float] = []  # s between two states of one BMS inside the window (its sample interval)
    longest_by_bms: list[float] = []
    for topic in expected:
        times = [ns for ns in by_bms[topic] if t0 <= ns <= t1]
        gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(times)]
        # The gap from the window's start to the first state, and from the last to its end, count too: a BMS
        # that never came round inside the window has the whole window as its interval.
        edges = [(times[0] - t0) / 1e9, (t1 - times[-1]) / 1e9] if times else [(t1 - t0) / 1e9]
        intervals += gaps
        longest_by_bms.append(max(gaps + edges))
    ordered = sorted(intervals)
    window = (t1 - t0) / 1e9
    return {
        "bms": scenario.bms,
        "adapters": scenario.adapters,
        "slots_per_adapter": scenario.slots,
        "window_s": round(window, 2),
        "sample_interval_s": {
            "median": round(ordered[len(ordered) // 2], 2) if ordered else None,
            "p95": round(ordered[min(len(ordered) - 1, round(0.95 * len(ordered)))], 2) if ordered else None,
            "max": round(max(longest_by_bms), 2),
            "n": len(ordered),
        },
        "states_at_broker_per_s": round(sum(len([n for n in v if t0 <= n <= t1]) for v in by_bms.values()) / window, 1),
        "cpu_pct_one_core": round(100 * (cpu1 - cpu0) / 1e9 / window, 2),
        "peak_rss_mb": round(peak_rss, 1),
        "taking_turns": text.count("taking turns"),
        "slot_refusals": text.count("Connection Limit Exceeded"),
    }


def start_to_first_publish(command: list[str], broker: Broker, workdir: Path, name: str) -> dict[str, Any]:
    """Process start -> first live message at the broker (the daemon's status), and -> first BMS state."""
    directory = workdir / f"start-{name}"
    directory.mkdir()
    devices, sim_port = fleet(1), free_port()
    config = write_config(directory / "batmon.toml", sim_port, broker.port, devices, 1, "unused")
    sim = start_simulator(config, directory / "writes.json", directory / "sim.log", quiet_hci=True)
    firsts, states = [], []
    try:
        for run in range(STARTUP_RUNS):
            base = f"start{name}{run}"
            write_config(config, sim_port, broker.port, devices, 1, base)  # fresh topics: nothing retained
            shutil.rmtree(directory / "state", ignore_errors=True)
            watcher = Watcher(broker.port, base)
            with (directory / f"daemon{run}.log").open("wb") as log:
                started = time.monotonic_ns()
                daemon = subprocess.Popen([*command, "run", "--config", str(config)], stdout=log, stderr=log)
                try:
                    state = wait_for(partial(watcher.first, "/state"), 60, f"{name}: first state", daemon)
                    first = watcher.first()
                finally:
                    stop_process(daemon)
                    watcher.close()
            assert first is not None
            firsts.append((first - started) / 1e9)
            states.append((state - started) / 1e9)
    finally:
        stop_process(sim)
    return {"first_publish_s": sorted(firsts)[len(firsts) // 2], "first_state_s": sorted(states)[len(states) // 2],
            "runs_first_publish_s": [round(v, 3) for v in firsts]}  # fmt: skip


def single_binary() -> Path | None:
    found = sorted((ROOT / "build" / "binary").glob(f"batmond-*-linux-{platform.machine()}"),
                   key=lambda p: p.stat().st_mtime)  # fmt: skip
    return found[-1] if found else None


def python312() -> str | None:
    candidates = [os.environ.get("BENCH_PYTHON312", ""), shutil.which("python3.13") or "",
                  shutil.which("python3.12") or ""]  # fmt: skip
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.1[2-9]*/bin/python3"))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"], check=False)
        if probe.returncode == 0:
            return candidate
    return None


def aiobmsble_comparison(python: Path) -> tuple[dict[str, Any] | None, str]:
    """Run bench/aiobmsble_compare.py with ``python`` (make's aiobmsble venv), or with a venv made here."""
    if not python.exists():
        python = AIOBMSBLE_VENV / "bin" / "python"
    if not python.exists():
        base = python312()
        if base is None:
            return None, "no Python >= 3.12 found (aiobmsble needs it); set BENCH_PYTHON312"
        print(f"creating {AIOBMSBLE_VENV} with {base} and {AIOBMSBLE} (bench only)", flush=True)
        subprocess.run([base, "-m", "venv", str(AIOBMSBLE_VENV)], check=True)
        install = subprocess.run([str(python), "-m", "pip", "install", "-q", AIOBMSBLE, "-e", str(ROOT)],
                                 check=False)  # fmt: skip
        if install.returncode != 0:
            shutil.rmtree(AIOBMSBLE_VENV)
            return None, f"pip install {AIOBMSBLE} failed"
    done = subprocess.run([str(python), str(BENCH / "aiobmsble_compare.py")], capture_output=True, text=True,
                          check=False, timeout=300)  # fmt: skip
    if done.returncode != 0:
        return None, f"aiobmsble_compare.py failed: {done.stderr[-500:]}"
    found = json.loads(done.stdout)
    return found["by_type"], f"aiobmsble {found['aiobmsble']} on Python {found['python']} ({python})"


def environment() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()  # fmt: skip
    import bumble

    return {
        "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
        "bumble": getattr(bumble, "__version__", "?"), "kernel": platform.release(), "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "load_average_at_start": os.getloadavg(),
    }  # fmt: skip


def table(results: dict[str, Any]) -> str:
    lines = ["| run | samples/s | CPU % of one core | CPU ms/sample | peak RSS MB | latency p50 / p99 / max ms "
             "| fsync/s | simulator CPU % |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    runs = {**results["runs"], **results.get("proxy_runs", {})}
    for key, run in runs.items():
        lat = run["latency_ms"]["from_socket"]
        latency = "–" if lat["n"] == 0 else f"{lat['p50']} / {lat['p99']} / {lat['max']} (n={lat['n']})"
        label = run.get("label") or key.replace("x", " BMS × ").replace("hz", " Hz")
        lines.append(f"| {label} | {run['samples_per_s']} | "
                     f"{run['cpu_pct_one_core']} | {run['cpu_ms_per_sample']} | {run['peak_rss_mb']} | {latency} | "
                     f"{run['journal_fsync_per_s']} | {run['simulator_cpu_pct_one_core']} |")  # fmt: skip
    lines += ["", "latency by step, p50 / p99 ms:", "", "| run | " + " | ".join(STEPS) + " |",
              "|---|" + "---|" * len(STEPS)]  # fmt: skip
    for key, run in runs.items():
        steps = run["latency_ms"]["steps"]
        lines.append(f"| {key} | " + " | ".join(f"{steps[s]['p50']} / {steps[s]['p99']}" for s in STEPS) + " |")
    lines += ["", "| codec | frames/s | samples/s | vs aiobmsble (batmond/aiobmsble, per sample) |",
              "|---|---|---|---|"]  # fmt: skip
    for name, figures in results["decode"].items():
        ratio = results["decode_vs_aiobmsble"].get(name)
        lines.append(f"| {name} | {figures['frames_per_s']} | {figures['samples_per_s']} | "
                     f"{'–' if ratio is None else f'{ratio}×'} |")  # fmt: skip
    fleet_run = results["fleet"]
    interval = fleet_run["sample_interval_s"]
    lines += ["", "| fleet | sample interval median / p95 / max s | CPU % of one core | peak RSS MB | states/s |",
              "|---|---|---|---|---|",
              f"| {fleet_run['bms']} BMS, {fleet_run['adapters']} adapters × {fleet_run['slots_per_adapter']} slots | "
              f"{interval['median']} / {interval['p95']} / {interval['max']} | {fleet_run['cpu_pct_one_core']} | "
              f"{fleet_run['peak_rss_mb']} | {fleet_run['states_at_broker_per_s']} |"]  # fmt: skip
    start = results["start_to_first_publish_s"]
    lines += ["", f"start → first publish: python {start['python']} s, binary {start['binary']} s; "
              f"start → first BMS state: python {results['start_to_first_state_s']['python']} s, "
              f"binary {results['start_to_first_state_s']['binary']} s"]  # fmt: skip
    return "\n".join(lines)


def proxy_runs(args: argparse.Namespace, broker: Broker, workdir: Path, notes: list[str]) -> dict[str, Any]:
    """The ESPHome proxy rows (bench/proxy.py); none, with a note, without the esphome extra (aioesphomeapi)."""
    if importlib.util.find_spec("aioesphomeapi") is None:
        notes.append("ESPHome proxy rows not run: aioesphomeapi is not installed (pip install -e '.[esphome]')")
        return {}
    from proxy import PROXY_SCENARIOS, ProxyScenario, run_proxy_scenario

    runs = {}
    for scenario in PROXY_SCENARIOS:
        if args.only and scenario.key not in args.only.split(","):
            continue
        if args.quick:
            scenario = ProxyScenario(scenario.bms, scenario.encrypted, 5, scenario.slots, scenario.hz)
        print(f"{scenario.key}: {scenario.label} for {scenario.seconds:g} s ...", flush=True)
        runs[scenario.key] = run_proxy_scenario(scenario, broker, workdir, not args.stock_simulator)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short windows (a smoke test, not figures)")
    parser.add_argument("--skip-aiobmsble", action="store_true", help="no aiobmsble venv and comparison")
    parser.add_argument(
        "--aiobmsble-python",
        type=Path,
        default=AIOBMSBLE_VENV / "bin" / "python",
        help="a Python >= 3.12 with aiobmsble and batmond (default: made in build/bench-aiobmsble)",
    )
    parser.add_argument("--stock-simulator", action="store_true",
                        help="let bumble format every HCI packet for debug lines in the simulator")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, traces)")
    parser.add_argument("--only", help="comma-separated runs (e.g. 32x1hz,32x10hz,fleet64,proxy-noise-3x1hz): "
                        "no summary, no results.json")  # fmt: skip
    args = parser.parse_args()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="batmond-bench-"))
    results: dict[str, Any] = {"environment": environment(), "runs": {}, "notes": []}
    broker = Broker(workdir)
    try:
        for scenario in SCENARIOS:
            if args.only and scenario.key not in args.only.split(","):
                continue
            if args.quick:
                scenario = Scenario(scenario.bms, scenario.hz, 5)
            print(f"{scenario.key}: {scenario.bms} BMS at {scenario.hz} Hz for {scenario.seconds:g} s ...", flush=True)
            results["runs"][scenario.key] = run_scenario(scenario, broker, workdir, not args.stock_simulator)
        if not args.only or FLEET.key in args.only.split(","):
            fleet_run = FLEET if not args.quick else FleetScenario(seconds=15)
            print(f"{fleet_run.key}: {fleet_run.bms} BMS over {fleet_run.adapters} adapters of {fleet_run.slots} "
                  f"slots at 1 Hz for {fleet_run.seconds:g} s ...", flush=True)  # fmt: skip
            results["fleet"] = run_fleet(fleet_run, broker, workdir, not args.stock_simulator)
        results["proxy_runs"] = proxy_runs(args, broker, workdir, results["notes"])
        if args.only:
            print(json.dumps({**results["runs"], **({"fleet": results["fleet"]} if "fleet" in results else {}),
                              **results["proxy_runs"]}, indent=1))  # fmt: skip
            return 0
        print("decode throughput ...", flush=True)
        results["decode"] = all_throughputs(0.1 if args.quick else 0.5)
        print("start to first publish ...", flush=True)
        starts = {"python": start_to_first_publish([PY, "-m", "batmond"], broker, workdir, "python")}
        binary = single_binary()
        if binary is not None:
            starts["binary"] = start_to_first_publish([str(binary)], broker, workdir, "binary")
            results["environment"]["binary"] = binary.name
        else:
            results["notes"].append("single binary not built (make binary): start_to_first_publish_s.binary is null")
    finally:
        broker.stop()
    comparison, note = (None, "skipped") if args.skip_aiobmsble else aiobmsble_comparison(args.aiobmsble_python)
    results["aiobmsble"] = {"setup": note, "by_type": comparison}
    if comparison is None:
        results["notes"].append(f"aiobmsble comparison not run: {note}")
    runs = results["runs"]
    results["latency_ms"] = {str(n): runs[f"{n}x10hz"]["latency_ms"]["from_socket"] for n in (1, 8, 32)}
    results["latency_ms_1hz"] = {str(n): runs[f"{n}x1hz"]["latency_ms"]["from_socket"] for n in (1, 8, 32)}
    results["cpu_pct_one_core"] = {key: run["cpu_pct_one_core"] for key, run in runs.items()}
    results["cpu_s_per_sample"] = {key: run["cpu_ms_per_sample"] / 1000 for key, run in runs.items()}
    results["rss_mb"] = {str(n): max(runs[f"{n}x{hz}hz"]["peak_rss_mb"] for hz in (1, 10)) for n in (1, 8, 32)}
    results["decode_frames_per_s"] = {name: figures["frames_per_s"] for name, figures in results["decode"].items()}
    results["decode_vs_aiobmsble"] = {name: c["ratio"] for name, c in (comparison or {}).items() if c.get("ratio")}
    results["journal_fsync_per_s"] = {str(n): runs[f"{n}x1hz"]["journal_fsync_per_s"] for n in (1, 32)}
    results["journal_fsync_per_s_long_run"] = {str(n): runs[f"{n}x1hz"]["journal_fsync_per_s_long_run"]
                                               for n in (1, 32)}  # fmt: skip
    results["start_to_first_publish_s"] = {k: None if k not in starts else round(starts[k]["first_publish_s"], 3)
                                           for k in ("python", "binary")}  # fmt: skip
    results["start_to_first_state_s"] = {k: None if k not in starts else round(starts[k]["first_state_s"], 3)
                                          for k in ("python", "binary")}  # fmt: skip
    proxies = results["proxy_runs"]
    results["proxy_latency_ms_1hz"] = {key: run["latency_ms"]["from_socket"] for key, run in proxies.items()}
    results["proxy_cpu_pct_one_core"] = {key: run["cpu_pct_one_core"] for key, run in proxies.items()}
    results["proxy_cpu_s_per_sample"] = {key: run["cpu_ms_per_sample"] / 1000 for key, run in proxies.items()}
    results["proxy_rss_mb"] = {key: run["peak_rss_mb"] for key, run in proxies.items()}
    results["targets"] = {
        "p99_latency_under_2ms": all((v["p99"] or 0) < 2 for v in results["latency_ms"].values()),
        "32x1hz_cpu_under_5pct": runs["32x1hz"]["cpu_pct_one_core"] < 5,
        "32_rss_under_60mb": results["rss_mb"]["32"] < 60,
        "journal_fsync_at_most_1_per_s": all(
            v <= 1 for key in ("journal_fsync_per_s", "journal_fsync_per_s_long_run") for v in results[key].values()
        ),
        # 64 BMS over 4 adapters of 8 slots: each sampled at least every 10 s, CPU and memory within twice the
        # 32-BMS figures at 1 Hz.
        "fleet_every_bms_within_10s": results["fleet"]["sample_interval_s"]["max"] <= FLEET_INTERVAL_TARGET_S,
        "fleet_cpu_within_2x_32": results["fleet"]["cpu_pct_one_core"] <= 2 * runs["32x1hz"]["cpu_pct_one_core"],
        "fleet_rss_within_2x_32": results["fleet"]["peak_rss_mb"] <= 2 * runs["32x1hz"]["peak_rss_mb"],
    }
    results["bench_seconds"] = round(time.monotonic() - started)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print()
    print(table(results))
    print(f"\ntargets: {results['targets']}\nwrote {RESULTS.relative_to(ROOT)} in {results['bench_seconds']} s")
    if args.keep:
        print(f"work directory: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
