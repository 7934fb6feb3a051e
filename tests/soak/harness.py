"""Soak with fault injection: every simulated BMS type, a real mosquitto and `batmond run`, faults at random.

One simulator (in this process) serves one BMS of every Bluetooth type on the virtual radio and one of every
wired type on a pseudo-terminal. The daemon runs as a subprocess, a harness-side subscriber records every
message at the broker, and a scheduler injects faults at seeded random instants: link drops, BMS silent for
a fifth of the run, corrupted/junk/split/merged notifications, the HCI controller hanging, broker restarts and
daemon SIGKILLs. A stand-in for systemd restarts the daemon when it exits, and one for the bt-reset helper
"power-cycles" the hung controller when the daemon asks.

The simulated batteries are instrumented: every time one of them moves (each request it answers, each frame it
streams) the harness keeps a snapshot of the truth (values and the energy it really absorbed and delivered)
and whether a frame built from it could reach the daemon. At the end every published value, every meter and
every recovery is checked against that truth; see ``docs/readme/soak.md`` for what each check means.

Run: ``make soak`` (SOAK_SECONDS, default 600) or ``python tests/soak/harness.py --seconds 600 [--seed N]``.
Exit status 0 when every check passed, 1 otherwise; the report is printed and written to the work directory.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import dataclasses
import itertools
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: the helpers of the e2e tests

import paho.mqtt.client as paho
from helpers import Broker, DaemonProcess, Watcher, free_port

from batmond.meters import MIN_MAX_GAP, Trapezoid
from batmond.sim import SimSpec, Simulator, address_for
from batmond.sim.battery import Battery
from batmond.sim.devices import SimulatedBms, simulator_types
from batmond.sim.serial import PtyPort, SerialSimSpec, SerialSimulatedBms, new_device, serial_simulator_types

BASE = "batmond"
SAMPLE_PERIOD = 1.0  # s; publish period too
EXPIRE = 6.0
RESTART_SEC = 5.0  # batmond.service: Restart=always, RestartSec=5s
RSS_PERIOD = 2.0  # s between VmRSS samples
STARTUP_TIMEOUT = 120.0  # s for every BMS to publish once before the faults start
METER_TOLERANCE = 0.01  # the daemon's meters within 1 % of the truth it observed
INCREASING = ("energy_charge_kwh", "energy_discharge_kwh", "cycles")
PUBLISHED_STEP = 1e-6  # published meters are the durable ones rounded down to 6 decimals
# Reconnect bounds (s from the end of a fault to the first state built from new data): the poller retries
# after 1 s and doubles its backoff up to 60 s while a BMS stays unreachable, so a fault that lasted long can
# cost a full 60 s backoff plus a connect (scan <= 15 s, connect <= 5 s, MTU, discovery, pairing for Victron).
SHORT_BOUND = 30.0  # link drops, frame faults, broker restarts, faults shorter than LONG_FAULT
LONG_BOUND = 90.0  # silent BMS, hung controller, daemon restarts, anything that lasted LONG_FAULT or more
LONG_FAULT = 10.0
# Published values: a state at the broker averages the samples of one publish period (V, A, W) or is the
# latest sample (the rest); a sample holds what the BMS encoded at its latest move. So each value must lie
# within what the battery held during the LOOKBACK seconds before the state arrived, widened by the coarsest
# resolution a simulated protocol encodes it with (Daly: 0.1 V, 0.1 A, 0.1 Ah, whole degrees and percents).
LOOKBACK = 4.0
TOLERANCE = {"voltage": 0.051, "current": 0.051, "soc": 0.51, "charge": 0.051, "capacity": 0.051,
             "temperature": 0.51, "cell": 0.0006, "power": 1.0}  # fmt: skip
# Meter windows: the last meter commit before a SIGKILL is up to the commit interval (1 s) plus a sample before.
END_BAND = 1.5
# RSS: a life is judged after its warm-up (imports, connections, caches) when at least RSS_MIN_SPAN remains.
RSS_WARMUP = 60.0
RSS_MIN_SPAN = 120.0
RSS_GROWTH = 0.05  # last third against first third
RSS_SLACK_KB = 2048


# -- truth ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Snapshot:
    t: float
    energy_in: float  # Wh
    energy_out: float
    voltage: float
    current: float
    soc: float
    charge: float
    cells: tuple[float, ...]
    temperatures: tuple[float, ...]  # the pack's sensors and the MOSFET's
    switches: tuple[bool, bool, bool]  # charge, discharge, balance
    deliverable: bool  # a frame built now can reach the daemon (connected to it, not silenced)


@dataclass
class Target:
    """One simulated BMS, its truth and what the harness did to it."""

    alias: str
    type: str
    battery: Battery
    bms: SimulatedBms | SerialSimulatedBms
    port: PtyPort | None = None  # wired
    address: str = ""
    snapshots: list[Snapshot] = field(default_factory=list)
    hci_client: Callable[[], object | None] = lambda: None  # the daemon's HCI connection to the simulator
    adapter_frozen: Callable[[], bool] = lambda: False  # the daemon's controller hangs: nothing reaches it
    _link: object | None = None  # the BMS's link, and the HCI client it was made through
    _link_client: object | None = None

    @property
    def wired(self) -> bool:
        return self.port is not None

    def deliverable(self) -> bool:
        if isinstance(self.bms, SerialSimulatedBms):
            assert self.port is not None
            return self.port.plugged and not self.bms.silent and not self.bms.garbage
        # A link made through an HCI client that has gone (a killed daemon, a controller the daemon threw away)
        # lingers on the simulator's side until the next client resets the controller: nothing on it arrives.
        connection, client = self.bms.connection, self.hci_client()
        if connection is not self._link:
            self._link, self._link_client = connection, client
        alive = connection is not None and client is not None and self._link_client is client
        return alive and not self.bms.silent and not self.adapter_frozen()

    def snapshot(self) -> None:
        b = self.battery
        self.snapshots.append(Snapshot(
            time.monotonic(), b.energy_in_wh, b.energy_out_wh, b.voltage, b.current, b.soc, b.remaining_ah,
            tuple(b.cell_voltages), (*b.temperatures, b.mosfet_temperature),
            (b.charge_enabled, b.discharge_enabled, b.balance_enabled), self.deliverable(),
        ))  # fmt: skip

    def instrument(self) -> None:
        """Keep a snapshot each time the battery moves: the simulators encode frames right after."""
        advance = self.battery.advance

        def recorded() -> None:
            advance()
            self.snapshot()

        self.battery.advance = recorded
        self.snapshot()
        # A frame about to be corrupted carries nothing the daemon can use: the snapshot it was built from is
        # not a sample the daemon could take.
        bms = self.bms
        if isinstance(bms, SerialSimulatedBms):
            faulty = bms._faulty

            def corrupted_answer(answer: bytes) -> bytes:
                if bms.corrupt_next > 0 and not bms.garbage:
                    self.spoil()
                return faulty(answer)

            bms._faulty = corrupted_answer
        else:
            send = bms.send

            def corrupted_send(frame: bytes) -> None:
                if bms.corrupt_next > 0 and not bms.silent and bms.connection is not None:
                    self.spoil()
                send(frame)

            bms.send = corrupted_send

    def spoil(self) -> None:
        if self.snapshots:
            self.snapshots[-1] = dataclasses.replace(self.snapshots[-1], deliverable=False)

    def energy_at(self, t: float) -> tuple[float, float]:
        """Energy in and out (Wh) at ``t``, linear between snapshots."""
        snaps = self.snapshots
        i = bisect.bisect_left(snaps, t, key=lambda s: s.t)
        if i == 0:
            return snaps[0].energy_in, snaps[0].energy_out
        if i >= len(snaps):
            return snaps[-1].energy_in, snaps[-1].energy_out
        a, b = snaps[i - 1], snaps[i]
        f = (t - a.t) / (b.t - a.t) if b.t > a.t else 1.0
        return a.energy_in + f * (b.energy_in - a.energy_in), a.energy_out + f * (b.energy_out - a.energy_out)

    def between(self, a: float, b: float) -> tuple[float, float]:
        ia, oa = self.energy_at(a)
        ib, ob = self.energy_at(b)
        return ib - ia, ob - oa


# -- the plan -------------------------------------------------------------------------------------------------
@dataclass
class Fault:
    kind: str  # kill, freeze, broker, drop, silent, corrupt, junk, split, merge
    target: str | None  # alias, or None for the whole installation
    at: float  # s after the faults started
    duration: float = 0.0
    started: float | None = None  # monotonic, as done
    ended: float | None = None
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind}({self.target})" if self.target else self.kind


def plan(seconds: float, rng: random.Random, targets: list[Target]) -> list[Fault]:
    """Faults at random instants, scaled to the run: global ones never overlap each other, SIGKILLs fall in
    the first 45 % so that the last daemon life is long enough to judge its memory."""
    faults: list[Fault] = []
    end = seconds * 0.85
    busy: list[tuple[float, float]] = []

    def place(kind: str, count: int, duration: Callable[[], float], latest: float) -> None:
        for _ in range(count):
            for _attempt in range(1000):
                span = duration()
                at = rng.uniform(seconds * 0.05, max(seconds * 0.05, latest - span))
                if all(at + span + 15 < s or e + 15 < at for s, e in busy):
                    busy.append((at, at + span))
                    faults.append(Fault(kind, None, at, span))
                    break

    place("kill", max(1, round(seconds / 200)), lambda: rng.uniform(1.0, RESTART_SEC), seconds * 0.45)
    place("freeze", max(1, round(seconds / 300)), lambda: min(45.0, max(5.0, rng.uniform(0.02, 0.07) * seconds)), end)
    place("broker", max(1, round(seconds / 300)), lambda: rng.uniform(2.0, 10.0), end)
    ble = [t for t in targets if not t.wired]
    framed = [t for t in ble if t.type != "victron"]  # Victron values are GATT characteristics, not frames
    quiet = [t for t in targets if t.type != "victron"]  # its silent hook stops notifications, not reads

    def device(kind: str, pool: list[Target], count: int, duration: Callable[[], float]) -> None:
        for _ in range(count):
            span = duration()
            faults.append(Fault(kind, rng.choice(pool).alias, rng.uniform(seconds * 0.03, end - span), span))

    device("silent", quiet, max(1, round(seconds / 300)), lambda: seconds / 5)
    device("drop", targets, max(2, round(seconds / 30)), lambda: 0.0)
    for kind in ("corrupt", "junk"):
        device(kind, framed + [t for t in targets if t.wired], max(1, round(seconds / 60)), lambda: 0.0)
    for kind in ("split", "merge"):
        device(kind, framed, max(1, round(seconds / 80)), lambda: rng.uniform(5.0, 20.0))
    faults.sort(key=lambda f: f.at)
    return faults


# -- recording ------------------------------------------------------------------------------------------------
class Recorder(Watcher):
    """Every message at the broker with the instant it arrived."""

    def __init__(self, port: int) -> None:
        self.timed: list[tuple[float, str, bytes, bool]] = []
        self.timed_lock = threading.Lock()
        super().__init__(port)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self.timed_lock:
            self.timed.append((time.monotonic(), message.topic, bytes(message.payload), bool(message.retain)))

    def states(self, alias: str) -> list[tuple[float, dict[str, Any]]]:
        topic = f"{BASE}/{alias}/state"
        with self.timed_lock:
            found = [(t, payload) for t, tp, payload, retained in self.timed if tp == topic and not retained]
        return [(t, json.loads(payload)) for t, payload in found]


@dataclass
class Life:
    pid: int
    start: float
    end: float | None = None
    how: str = ""  # "SIGKILL", "exit N", "SIGTERM"
    rss: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, kB)


@dataclass
class Expectation:
    """Energy (Wh) the daemon's meter should show, and how sure the harness can be of it."""

    central: float = 0.0  # the trapezoid over the frames the daemon could sample
    truth: float = 0.0  # what the battery really absorbed or delivered over the same windows
    bridged: float = 0.0  # central - truth over gaps of more than 2 samples, bridged by a straight line
    low_band: float = 0.0  # the daemon may have missed up to this much at window edges
    high_band: float = 0.0  # or integrated this much more across gaps near its 30 s limit
    variance: float = 0.0  # of the sampling error (Wh²)


@dataclass
class Check:
    name: str
    ok: bool
    detail: list[str] = field(default_factory=list)


# -- the run --------------------------------------------------------------------------------------------------
class Soak:
    def __init__(self, seconds: float, seed: int, workdir: Path) -> None:
        self.seconds = seconds
        self.seed = seed
        self.rng = random.Random(seed)
        self.workdir = workdir
        self.targets: dict[str, Target] = {}
        self.lives: list[Life] = []
        self.faults: list[Fault] = []
        self.power_cycles: list[float] = []
        self.durable_after_kill: list[tuple[float, dict[str, dict[str, float]]]] = []
        self.final_meters: dict[str, dict[str, float]] = {}
        self.broker_down: list[tuple[float, float]] = []
        self.t0 = 0.0
        self.faults_from = 0.0
        self.faults_until = 0.0
        self.unexpected_exits: list[str] = []
        self._restarting = False
        self.unfrozen = asyncio.Event()
        self.state_dir = workdir / "state"
        self.reset_dir = workdir / "run"
        self.config = workdir / "batmon.toml"
        self.sim: Simulator | None = None
        self.broker: Broker | None = None
        self.daemon: DaemonProcess | None = None
        self.recorder: Recorder | None = None
        self.ports: list[PtyPort] = []

    def _adapter_frozen(self) -> bool:
        return self.sim is not None and self.sim.adapter is not None and self.sim.adapter.frozen

    def _hci_client(self) -> object | None:
        server = self.sim._server if self.sim is not None else None  # the simulator keeps no public handle
        client = server._client if server is not None else None
        return client if client is not None and not client.is_closing() else None

    # -- set-up ---------------------------------------------------------------------------------------------
    async def _start_simulator(self) -> None:
        sim_port = free_port()
        self.sim = Simulator(f"tcp-server:127.0.0.1:{sim_port}")
        self.sim_port = sim_port
        specs = []
        for type_name, simulator in sorted(simulator_types().items()):
            if simulator.profile is None:
                continue
            alias = f"soak-{type_name.replace('_', '-')}"
            specs.append(SimSpec(type=type_name, name=alias, address=address_for(alias)))
        await self.sim.start(specs)
        for spec in specs:
            bms = self.sim.devices[spec.name]
            self.targets[spec.name] = Target(spec.name, spec.type, bms.battery, bms, address=spec.address)
        for type_name in sorted(serial_simulator_types()):
            alias = f"soak-{type_name.replace('_', '-')}"
            device = new_device(SerialSimSpec(type=type_name, name=alias))
            port = PtyPort(str(self.workdir / "serial" / "by-id" / f"usb-soak-{alias}-if00-port0"), [device])
            port.plug()
            self.ports.append(port)
            self.targets[alias] = Target(alias, type_name, device.battery, device, port=port)
        for target in self.targets.values():
            if not target.wired:
                target.adapter_frozen = self._adapter_frozen
                target.hci_client = self._hci_client
            target.instrument()

    def _write_config(self, broker_port: int) -> None:
        lines = [
            "[mqtt]", 'host = "127.0.0.1"', f"port = {broker_port}", 'client_id = "batmond-soak"',
            "[bluetooth]", f'transport = "tcp-client:127.0.0.1:{self.sim_port}"', "connect_timeout = 5.0",
            f'reset_request_dir = "{self.reset_dir}"',
            "[sampling]", f"sample_period = {SAMPLE_PERIOD}", f"expire_values_after = {EXPIRE}",
            "[state]", f'dir = "{self.state_dir}"',
        ]  # fmt: skip
        for target in self.targets.values():
            lines.append("[[device]]")
            if target.wired:
                assert target.port is not None
                lines += ['address = "serial"', f'adapter = "{target.port.path}"']
            else:
                lines.append(f'address = "{target.address}"')
            lines += [f'type = "{target.type}"', f'alias = "{target.alias}"']
            pin = simulator_types()[target.type].pin if not target.wired else None
            if pin:
                lines.append(f'pin = "{pin}"')
        self.config.write_text("\n".join(lines) + "\n")

    # -- the daemon, as systemd runs it ---------------------------------------------------------------------
    def _start_daemon(self) -> None:
        assert self.daemon is not None
        self.daemon.start()
        assert self.daemon.process is not None
        self.lives.append(Life(self.daemon.process.pid, time.monotonic()))

    async def _stop_daemon(self, sig: int) -> None:
        assert self.daemon is not None and self.daemon.process is not None
        code = await asyncio.to_thread(self.daemon.stop, sig)
        life = self.lives[-1]
        life.end = time.monotonic()
        life.how = "SIGKILL" if sig == signal.SIGKILL else f"SIGTERM, exit {code}"

    async def _supervise(self) -> None:
        """systemd's part: sample memory, restart the daemon after RestartSec when it exits on its own."""
        assert self.daemon is not None
        while True:
            await asyncio.sleep(RSS_PERIOD)
            process = self.daemon.process
            if process is None or self._restarting:
                continue
            code = process.poll()
            if code is None:
                with contextlib.suppress(OSError, ValueError):
                    status = Path(f"/proc/{process.pid}/status").read_text()
                    kb = int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])
                    self.lives[-1].rss.append((time.monotonic(), kb))
                continue
            life = self.lives[-1]
            life.end, life.how = time.monotonic(), f"exit {code}"
            self.daemon.process = None
            if code != 3:  # 3: the Bluetooth recovery ladder gave up, by design; anything else is a crash
                self.unexpected_exits.append(f"daemon pid {life.pid} exited with status {code}")
            await asyncio.sleep(RESTART_SEC)
            self._start_daemon()

    async def _bt_reset_helper(self) -> None:
        """The root helper's stand-in: a power cycle (USB reset) brings a hung controller back."""
        request, result = self.reset_dir / "bt-reset.request", self.reset_dir / "bt-reset.result"
        while True:
            if request.exists():
                request.unlink()
                assert self.sim is not None
                self.sim.freeze_adapter(False)
                self.unfrozen.set()
                self.power_cycles.append(time.monotonic())
                result.write_text("0 adapter power-cycled (soak stand-in)\n")
            await asyncio.sleep(0.2)

    async def _durable_meters(self) -> dict[str, dict[str, float]]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "batmond", "meters", "--json", "--state-dir", str(self.state_dir),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"batmond meters failed: {err.decode()}")
        return {d["alias"]: d["meters"] for d in json.loads(out)["devices"]}

    # -- faults ---------------------------------------------------------------------------------------------
    async def _inject(self, fault: Fault) -> None:
        await asyncio.sleep(max(0.0, self.faults_from + fault.at - time.monotonic()))
        fault.started = time.monotonic()
        try:
            await self._apply(fault)
        finally:
            fault.ended = fault.ended or time.monotonic()

    async def _apply(self, fault: Fault) -> None:
        assert self.sim is not None and self.broker is not None
        rng = self.rng
        if fault.kind == "kill":
            if self.daemon is None or self.daemon.process is None:
                fault.note = "the daemon was already down"
                return
            self._restarting = True
            try:
                await self._stop_daemon(signal.SIGKILL)
                self.durable_after_kill.append((time.monotonic(), await self._durable_meters()))
                await asyncio.sleep(fault.duration)
                self._start_daemon()
            finally:
                self._restarting = False
            return
        if fault.kind == "freeze":
            self.sim.freeze_adapter(True)
            self.unfrozen.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.unfrozen.wait(), fault.duration)
                fault.note = "ended by the bt-reset power cycle"
            self.sim.freeze_adapter(False)
            return
        if fault.kind == "broker":
            await asyncio.to_thread(self.broker.stop)
            down = time.monotonic()
            await asyncio.sleep(fault.duration)
            await asyncio.to_thread(self.broker.start)
            self.broker_down.append((down, time.monotonic()))
            return
        assert fault.target is not None
        target = self.targets[fault.target]
        bms = target.bms
        if isinstance(bms, SerialSimulatedBms):
            assert target.port is not None
            if fault.kind == "drop":  # the USB adapter is pulled and plugged back in
                target.port.unplug()
                await asyncio.sleep(rng.uniform(2.0, 5.0))
                target.port.plug()
            elif fault.kind == "silent":
                bms.silent = True
                await asyncio.sleep(fault.duration)
                bms.silent = False
            elif fault.kind == "corrupt":
                bms.corrupt_next = rng.randint(1, 3)
            elif fault.kind == "junk":  # noise on the line, as from a wrong baud rate
                bms.garbage = True
                await asyncio.sleep(rng.uniform(2.0, 6.0))
                bms.garbage = False
            return
        if fault.kind == "drop":
            if not bms.drop_link():
                fault.note = "was not connected"
        elif fault.kind == "silent":
            bms.silent = True
            await asyncio.sleep(fault.duration)
            bms.silent = False
        elif fault.kind == "corrupt":
            bms.corrupt_next = rng.randint(1, 3)
        elif fault.kind == "junk":
            bms.junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        elif fault.kind == "split":
            bms.chunk_size = rng.randint(1, 7)
            fault.note = f"{bms.chunk_size}-byte pieces"
            await asyncio.sleep(fault.duration)
            bms.chunk_size = type(bms).default_chunk
        elif fault.kind == "merge":
            bms.merge = True
            await asyncio.sleep(fault.duration)
            bms.merge = False

    # -- main -----------------------------------------------------------------------------------------------
    async def run(self) -> list[Check]:
        self.t0 = time.monotonic()
        self.reset_dir.mkdir(parents=True, exist_ok=True)
        tasks: list[asyncio.Task] = []
        try:
            await self._start_simulator()
            self.broker = Broker(self.workdir)
            await asyncio.to_thread(self.broker.start)
            self.recorder = Recorder(self.broker.port)
            self._write_config(self.broker.port)
            self.daemon = DaemonProcess(self.config, self.workdir / "daemon.log")
            self._start_daemon()
            tasks.append(asyncio.create_task(self._supervise()))
            tasks.append(asyncio.create_task(self._bt_reset_helper()))
            waiting = await self._wait_all_published(STARTUP_TIMEOUT)
            if waiting:
                return [Check("every BMS publishes at start-up", False, [f"no state from {', '.join(waiting)}"])]
            self.faults_from = time.monotonic()
            self.faults = plan(self.seconds, self.rng, list(self.targets.values()))
            print(f"soak: seed {self.seed}, {self.seconds:g} s, {len(self.faults)} faults on {len(self.targets)} "
                  f"BMS; work directory {self.workdir}", flush=True)  # fmt: skip
            injections = [asyncio.create_task(self._inject(f)) for f in self.faults]
            await asyncio.gather(*injections)
            await asyncio.sleep(max(0.0, self.faults_from + self.seconds - time.monotonic()))
            await self._settle()
            self.faults_until = time.monotonic()
            self._restarting = True
            if self.daemon.process is not None:
                await self._stop_daemon(signal.SIGTERM)
            self.final_meters = await self._durable_meters()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.daemon is not None and self.daemon.process is not None:
                await asyncio.to_thread(self.daemon.stop, signal.SIGKILL)
            if self.recorder is not None:
                self.recorder.close()
            if self.broker is not None:
                await asyncio.to_thread(self.broker.stop)
            for port in self.ports:
                port.unplug()
            if self.sim is not None:
                await self.sim.stop()
        return self.analyse()

    async def _wait_all_published(self, timeout: float) -> list[str]:
        assert self.recorder is not None
        deadline = time.monotonic() + timeout
        waiting = list(self.targets)
        while waiting and time.monotonic() < deadline:
            waiting = [alias for alias in waiting if not self.recorder.states(alias)]
            await asyncio.sleep(0.5)
        return waiting

    async def _settle(self) -> None:
        """After the last fault, give every BMS its reconnect bound to come back before stopping."""
        ends = [f.ended or 0.0 for f in self.faults]
        latest = max([*ends, 0.0])
        deadline = latest + LONG_BOUND
        assert self.recorder is not None
        while time.monotonic() < deadline:
            pending = [a for a, ok in self._recovered_since(latest).items() if not ok]
            if not pending:
                return
            await asyncio.sleep(1.0)

    def _recovered_since(self, since: float) -> dict[str, bool]:
        assert self.recorder is not None
        return {alias: bool(self._fresh_after(alias, since)) for alias in self.targets}

    # -- analysis -------------------------------------------------------------------------------------------
    def life_at(self, t: float) -> int:
        index = 0
        for i, life in enumerate(self.lives):
            if life.start <= t:
                index = i
        return index

    def _signature(self, t: float, state: dict[str, Any]) -> tuple[int, int, int]:
        diagnostics = state.get("diagnostics", {})
        return self.life_at(t), int(diagnostics.get("reconnects", -1)), int(diagnostics.get("frames", -1))

    def _fresh_after(self, alias: str, since: float) -> float | None:
        """When the first state built from data received after ``since`` arrived.

        A state carries the frame and reconnect counters of its reading, and a reading is only built when a
        sample arrived, so a (daemon life, reconnects, frames) never seen before ``since`` is new data; a
        republished old reading (the daemon re-sends the latest after a broker reconnect) is not.
        """
        assert self.recorder is not None
        seen: set[tuple[int, int, int]] = set()
        for t, state in self.recorder.states(alias):
            signature = self._signature(t, state)
            if t <= since:
                seen.add(signature)
            elif signature not in seen:
                return t
        return None

    def analyse(self) -> list[Check]:
        return [
            self._check_tracebacks(),
            self._check_exits(),
            self._check_values(),
            self._check_recovery(),
            self._check_monotonic(),
            self._check_meters(),
            self._check_rss(),
        ]

    def _check_tracebacks(self) -> Check:
        log = self.daemon.log if self.daemon else ""
        count = log.count("Traceback")
        detail = [f"daemon log: {len(log.splitlines())} lines, {log.count(' ERROR ')} ERROR lines"]
        if count:
            at = log.index("Traceback")
            detail += [f"{count} traceback(s); first:", *log[max(0, at - 400) : at + 2000].splitlines()]
        return Check("no traceback in the daemon log", count == 0, detail)

    def _check_exits(self) -> Check:
        lives = [f"pid {life.pid}: {(life.end or life.start) - life.start:.0f} s, {life.how}" for life in self.lives]
        return Check("the daemon never crashed (exit 3, the adapter ladder giving up, is by design)",
                     not self.unexpected_exits, self.unexpected_exits + lives)  # fmt: skip

    def _window(self, target: Target, t: float) -> list[Snapshot]:
        back = LOOKBACK
        for down, up in self.broker_down:
            if up <= t <= up + 2 * LOOKBACK:  # the daemon re-sends its latest reading when the broker is back
                back = max(back, t - down + LOOKBACK)
        snaps = target.snapshots
        lo = bisect.bisect_left(snaps, t - back, key=lambda s: s.t)
        hi = bisect.bisect_right(snaps, t, key=lambda s: s.t)
        return snaps[max(0, lo - 1) : hi]

    def _check_values(self) -> Check:
        assert self.recorder is not None
        problems: list[str] = []
        checked = 0
        for alias, target in self.targets.items():
            for t, state in self.recorder.states(alias):
                window = self._window(target, t)
                if not window:
                    problems.append(f"{alias}: state at +{t - self.t0:.1f} s with no truth before it")
                    continue
                checked += 1
                for problem in judge(state, window, target.battery):
                    if len(problems) < 40:
                        problems.append(f"{alias} at +{t - self.t0:.1f} s: {problem}")
        detail = [f"{checked} states checked against the truth of the {LOOKBACK:g} s before each"]
        return Check("no value published that the simulator did not hold", not problems, detail + problems)

    def _check_recovery(self) -> Check:
        """After each fault ends, every BMS it touched publishes new data within its bound."""
        problems: list[str] = []
        worst: dict[str, float] = {}
        for alias in self.targets:
            spans = []
            for fault in self.faults:
                if fault.target not in (None, alias) or fault.started is None or fault.ended is None:
                    continue
                if fault.kind == "drop" and fault.note == "was not connected":
                    continue
                long = fault.kind in ("silent", "freeze", "kill") or fault.ended - fault.started >= LONG_FAULT
                spans.append([fault.started, fault.ended, LONG_BOUND if long else SHORT_BOUND, [fault.label]])
            spans.sort()
            merged: list[list] = []
            for span in spans:
                if merged and span[0] <= merged[-1][1]:
                    last = merged[-1]
                    last[1], last[2], last[3] = max(last[1], span[1]), max(last[2], span[2]), last[3] + span[3]
                else:
                    merged.append(span)
            i = 0
            while i < len(merged):
                start, end, bound, labels = merged[i]
                back = self._fresh_after(alias, end)
                if i + 1 < len(merged) and (back is None or back > merged[i + 1][0]):
                    # The next fault began before this one was over: judge them together.
                    nxt = merged[i + 1]
                    merged[i + 1] = [start, max(end, nxt[1]), max(bound, nxt[2]), labels + nxt[3]]
                    i += 1
                    continue
                i += 1
                took = None if back is None else back - end
                for label in labels:
                    kind = label.split("(")[0]
                    if took is not None:
                        worst[kind] = max(worst.get(kind, 0.0), took)
                if took is None or took > bound:
                    problems.append(
                        f"{alias}: no new data within {bound:g} s after {'+'.join(labels)} ended at "
                        f"+{end - self.t0:.0f} s" + ("" if took is None else f" (took {took:.1f} s)")
                    )
        detail = ["slowest return to fresh data after each kind of fault: "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(worst.items()))]  # fmt: skip
        detail.append(f"bounds: {SHORT_BOUND:g} s, {LONG_BOUND:g} s after silent BMS, a hung controller, a daemon "
                      f"restart or any fault lasting {LONG_FAULT:g} s or more")  # fmt: skip
        return Check("every BMS back within its reconnect bound after each fault", not problems, detail + problems)

    def _check_monotonic(self) -> Check:
        assert self.recorder is not None
        problems: list[str] = []
        for alias in self.targets:
            series: list[tuple[float, str, dict[str, float]]] = [
                (t, "broker", s["meters"]) for t, s in self.recorder.states(alias) if "meters" in s
            ]
            series += [(t, "durable after SIGKILL", m[alias]) for t, m in self.durable_after_kill if alias in m]
            if alias in self.final_meters:
                series.append((self.faults_until, "durable at the end", self.final_meters[alias]))
            series.sort(key=lambda item: item[0])
            for name in INCREASING:
                top, where = -1.0, ""
                for t, source, meters in series:
                    value = meters.get(name, 0.0)
                    if value < top - PUBLISHED_STEP:
                        problems.append(f"{alias} {name}: {value} ({source}, +{t - self.t0:.0f} s) after {top} "
                                        f"({where})")  # fmt: skip
                        break
                    top, where = value, f"{source}, +{t - self.t0:.0f} s"
        detail = [f"{', '.join(INCREASING)} at the broker, after each SIGKILL and at the end"]
        return Check("no meter ever decreasing", not problems, detail + problems)

    def _meter_expectation(self, target: Target) -> dict[str, Expectation]:
        """The energy in and out that the daemon could integrate from this BMS, with its uncertainty.

        The daemon integrates V·I by the trapezoid rule between consecutive samples of one process life, with
        a straight line across gaps up to 30 s, and a SIGKILL takes back what it had not committed yet. Its
        samples hold the battery's values at the instants frames were built, so ``central`` is that same
        integral over the frames that could reach it (at most one per sample period), split at gaps over
        30 s; ``truth`` is what the battery really did over the same windows.
        """
        expected = {"in": Expectation(), "out": Expectation()}
        assert self.recorder is not None
        published = [t for t, _ in self.recorder.states(target.alias)]
        for life in self.lives:
            end = life.end if life.end is not None else self.faults_until
            points: list[Snapshot] = []
            for snap in target.snapshots:
                # One point per sample period, as the daemon samples (JK and Victron send more often).
                due = not points or snap.t - points[-1].t >= 0.9 * SAMPLE_PERIOD
                if snap.deliverable and life.start <= snap.t <= end and due:
                    points.append(snap)
            if not points:
                continue
            windows = [[points[0]]]
            for previous, point in itertools.pairwise(points):
                gap = point.t - previous.t
                if gap > MIN_MAX_GAP * 0.8:  # the daemon's gap is between samples, not frames: either way
                    bridge = trapezoid([previous, point])
                    for way, value in zip(("in", "out"), bridge, strict=True):
                        if gap > MIN_MAX_GAP:
                            expected[way].high_band += value
                        else:
                            expected[way].low_band += value
                    if gap > MIN_MAX_GAP:
                        windows.append([point])
                        continue
                windows[-1].append(point)
                self._sampling_variance(expected, previous, point)
                if gap > 2 * SAMPLE_PERIOD:
                    line, real = trapezoid([previous, point]), target.between(previous.t, point.t)
                    expected["in"].bridged += line[0] - real[0]
                    expected["out"].bridged += line[1] - real[1]
            for window in windows:
                a, b = window[0].t, window[-1].t
                sampled = trapezoid(window)
                # The daemon's first sample of a window came before the first state it published after it.
                i = bisect.bisect_right(published, a)
                first = min(b, published[i]) if i < len(published) else b
                for i, way in enumerate(("in", "out")):
                    expected[way].central += sampled[i]
                    expected[way].truth += target.between(a, b)[i]
                    expected[way].low_band += target.between(a, first)[i]
                    expected[way].low_band += target.between(max(a, b - END_BAND), b)[i]
        return expected

    @staticmethod
    def _sampling_variance(expected: dict[str, Expectation], a: Snapshot, b: Snapshot) -> None:
        """A load step at a random instant between two samples makes the trapezoid off by up to half the step
        times the interval, uniformly: variance (ΔP·Δt)²/12, to the side(s) the power was on."""
        p0, p1 = a.voltage * a.current, b.voltage * b.current
        variance = ((p1 - p0) * (b.t - a.t) / 3600) ** 2 / 12
        if p0 >= 0 or p1 >= 0:
            expected["in"].variance += variance
        if p0 < 0 or p1 < 0:
            expected["out"].variance += variance

    def _check_meters(self) -> Check:
        problems: list[str] = []
        detail = [f"{'BMS':<19} {'way':<4} {'meter Wh':>9} {'observed':>9} {'diff':>7} {'edges':>6} {'3σ':>6}   "
                  f"{'true Wh':>9} {'diff':>7} {'gaps':>7}"]  # fmt: skip
        fleet = {"in": Expectation(), "out": Expectation()}
        fleet_meter = {"in": 0.0, "out": 0.0}

        def row(label: str, way: str, value: float, e: Expectation) -> bool:
            spread = 3 * e.variance**0.5
            low = (e.central - e.low_band) * (1 - METER_TOLERANCE) - spread
            high = (e.central + e.high_band) * (1 + METER_TOLERANCE) + spread
            scale, true = e.central or 1.0, e.truth or 1.0
            detail.append(f"{label:<19} {way:<4} {value:9.2f} {e.central:9.2f} {(value - e.central) / scale:+7.2%} "
                          f"{-e.low_band / scale:+6.1%} {spread / scale:6.2%}   {e.truth:9.2f} "
                          f"{(value - e.truth) / true:+7.2%} {e.bridged / true:+7.2%}")  # fmt: skip
            return low <= value <= high

        for alias, target in self.targets.items():
            meters = self.final_meters.get(alias)
            if meters is None:
                problems.append(f"{alias}: no durable meters at the end")
                continue
            expected = self._meter_expectation(target)
            for way, name in (("in", "energy_charge_kwh"), ("out", "energy_discharge_kwh")):
                value, e = meters[name] * 1000, expected[way]
                if not row(alias, way, value, e):
                    problems.append(f"{alias} {name}: {value:.2f} Wh, observed {e.central:.2f} Wh")
                f = fleet[way]
                fleet_meter[way] += value
                f.central += e.central
                f.truth += e.truth
                f.bridged += e.bridged
                f.low_band += e.low_band
                f.high_band += e.high_band
                f.variance += e.variance
        for way in ("in", "out"):
            if not row("all", way, fleet_meter[way], fleet[way]):
                problems.append(f"all BMS, energy {way}: {fleet_meter[way]:.2f} Wh, observed {fleet[way].central:.2f}")
        detail += [
            "observed: the daemon's own rule (trapezoid of V·I, straight across gaps under 30 s, per daemon life)",
            "  over the frames that could reach it; edges: what it may have missed there (its first sample, the",
            "  commit a SIGKILL took back); 3σ: where its samples fall against load steps. Pass: the meter within",
            f"  {METER_TOLERANCE:.0%} of observed beyond edges and 3σ. true: the battery's exact energy over the",
            "  same windows (reported, not judged); gaps: the part of the difference that is the straight line the",
            "  daemon draws across gaps of 2 to 30 s, where it had no data; the rest is 1 s sampling and edges.",
        ]
        return Check(f"meters equal to the observed energy within {METER_TOLERANCE:.0%}", not problems,
                     detail + problems)  # fmt: skip

    def _check_rss(self) -> Check:
        problems: list[str] = []
        detail: list[str] = []
        judged = 0
        for life in self.lives:
            samples = [(t, kb) for t, kb in life.rss if t >= life.start + RSS_WARMUP]
            if not life.rss:
                continue
            if len(samples) < 6 or samples[-1][0] - samples[0][0] < RSS_MIN_SPAN:
                detail.append(f"pid {life.pid}: {life.rss[-1][1] / 1024:.1f} MiB at its end; too short to judge")
                continue
            judged += 1
            third = len(samples) // 3
            first = sum(kb for _, kb in samples[:third]) / third
            last = sum(kb for _, kb in samples[-third:]) / third
            limit = first * (1 + RSS_GROWTH) + RSS_SLACK_KB
            detail.append(f"pid {life.pid}: first third {first / 1024:.1f} MiB, last third {last / 1024:.1f} MiB "
                          f"({(last - first) / first * 100:+.1f} %) over {samples[-1][0] - samples[0][0]:.0f} s, "
                          f"peak {max(kb for _, kb in life.rss) / 1024:.1f} MiB")  # fmt: skip
            if last > limit:
                problems.append(f"pid {life.pid}: RSS grew from {first / 1024:.1f} to {last / 1024:.1f} MiB")
        ok = not problems
        if not judged:
            detail.append("no daemon life was long enough to judge (fine for a shortened soak)")
        return Check(f"RSS not growing (last third within {RSS_GROWTH:.0%} + {RSS_SLACK_KB // 1024} MiB of the "
                     f"first, after {RSS_WARMUP:g} s of warm-up)", ok, detail + problems)  # fmt: skip

    def dump(self, path: Path) -> None:
        """What happened, for a post-mortem: states at the broker, the truth, faults and lives (time from start)."""
        with path.open("w") as out:

            def line(**item: Any) -> None:
                out.write(json.dumps(item) + "\n")

            for life in self.lives:
                line(life=life.pid, start=life.start - self.t0, end=(life.end or self.faults_until) - self.t0,
                     how=life.how)  # fmt: skip
            for fault in self.faults:
                if fault.started is not None:
                    line(fault=fault.label, start=fault.started - self.t0, end=(fault.ended or 0) - self.t0)
            for alias, target in self.targets.items():
                for s in target.snapshots:
                    line(truth=alias, t=round(s.t - self.t0, 3), e_in=s.energy_in, e_out=s.energy_out,
                         v=s.voltage, i=s.current, ok=s.deliverable)  # fmt: skip
                if self.recorder is not None:
                    for t, state in self.recorder.states(alias):
                        line(state=alias, t=round(t - self.t0, 3), **state)

    def report(self, checks: list[Check]) -> str:
        lines = [f"batmond soak: seed {self.seed}, {self.seconds:g} s of faults, {len(self.targets)} BMS "
                 f"({', '.join(sorted(t.type for t in self.targets.values()))})"]  # fmt: skip
        counts: dict[str, int] = {}
        for fault in self.faults:
            counts[fault.kind] = counts.get(fault.kind, 0) + 1
        lines.append("faults: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                     + f"; bt-reset power cycles {len(self.power_cycles)}")  # fmt: skip
        for fault in self.faults:
            if fault.started is None:
                continue
            took = (fault.ended or fault.started) - fault.started
            span = f" for {took:.1f} s" if took > 0.5 else ""
            note = f" ({fault.note})" if fault.note else ""
            lines.append(f"  +{fault.started - self.t0:6.1f} s {fault.label}{span}{note}")
        for check in checks:
            lines.append(f"{'PASS' if check.ok else 'FAIL'}  {check.name}")
            lines += [f"      {line}" for line in check.detail]
        lines.append("soak: " + ("all checks passed" if all(c.ok for c in checks) else "FAILED"))
        return "\n".join(lines)


def trapezoid(points: list[Snapshot]) -> tuple[float, float]:
    """Wh in and out by the daemon's own integrator (split at zero crossings) over V·I at these points."""
    integrator = Trapezoid()
    charged = discharged = 0.0
    for point in points:
        positive, negative, _ = integrator.add(point.t, point.voltage * point.current, float("inf"))
        charged += positive
        discharged += negative
    return charged, discharged


def judge(state: dict[str, Any], window: list[Snapshot], battery: Battery) -> Iterable[str]:
    """What in one published state the battery did not hold during ``window``."""

    def outside(name: str, value: float, values: Iterable[float], tolerance: float) -> str | None:
        values = list(values)
        low, high = min(values), max(values)
        if low - tolerance <= value <= high + tolerance:
            return None
        return f"{name} {value} outside {low:.4f}..{high:.4f} (± {tolerance:g})"

    checks: list[str | None] = []
    if "voltage" in state:
        checks.append(outside("voltage", state["voltage"], (s.voltage for s in window), TOLERANCE["voltage"]))
    if "current" in state:
        checks.append(outside("current", state["current"], (s.current for s in window), TOLERANCE["current"]))
    if "power" in state:
        v_tol, i_tol = TOLERANCE["voltage"], TOLERANCE["current"]
        powers = [s.voltage * s.current for s in window]
        tolerance = TOLERANCE["power"] + max(abs(s.current) * v_tol + s.voltage * i_tol for s in window)
        checks.append(outside("power", state["power"], powers, tolerance))
    if "soc" in state:
        checks.append(outside("soc", state["soc"], (s.soc for s in window), TOLERANCE["soc"]))
    if "charge" in state:
        checks.append(outside("charge", state["charge"], (s.charge for s in window), TOLERANCE["charge"]))
    if "capacity" in state:
        checks.append(outside("capacity", state["capacity"], [battery.capacity_ah], TOLERANCE["capacity"]))
    if "cycles" in state and state["cycles"] != battery.cycles:
        checks.append(f"cycles {state['cycles']} != {battery.cycles}")
    cells = state.get("cell_voltages")
    if cells is not None:
        if len(cells) != battery.cells:
            checks.append(f"{len(cells)} cells, the pack has {battery.cells}")
        else:
            for i, value in enumerate(cells):
                checks.append(outside(f"cell {i + 1}", value, (s.cells[i] for s in window), TOLERANCE["cell"]))
    sensors = [value for s in window for value in s.temperatures]
    for i, value in enumerate(state.get("temperatures", ())):
        checks.append(outside(f"temperature {i + 1}", value, sensors, TOLERANCE["temperature"]))
    if "mosfet_temperature" in state:
        checks.append(outside("mosfet_temperature", state["mosfet_temperature"], sensors, TOLERANCE["temperature"]))
    switches = state.get("switches", {})
    for i, name in enumerate(("charge", "discharge", "balance")):
        if name in switches and (switches[name] == "ON") not in {s.switches[i] for s in window}:
            checks.append(f"switch {name} {switches[name]}, the BMS had {window[-1].switches[i]}")
    return [c for c in checks if c]


async def soak(seconds: float, seed: int, workdir: Path) -> tuple[bool, str]:
    run = Soak(seconds, seed, workdir)
    checks = await run.run()
    text = run.report(checks)
    (workdir / "report.txt").write_text(text + "\n")
    run.dump(workdir / "record.jsonl")
    return all(c.ok for c in checks), text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", "600")))
    parser.add_argument("--seed", type=int, default=None, help="fault schedule seed (default: random, printed)")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a new directory under /tmp")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="batmond-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ok, text = asyncio.run(soak(args.seconds, seed, workdir))
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
