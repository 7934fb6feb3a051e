"""The installation under test: one simulated BMS of every type (three of them through a simulated ESPHome
proxy), a real mosquitto, and `batmond run` as a subprocess that stand-ins for systemd and for the bt-reset helper
look after."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import Broker, DaemonProcess, free_port

from batmond.sim import SimSpec, Simulator, address_for
from batmond.sim.devices import simulator_types
from batmond.sim.esphome_proxy import EsphomeProxySim
from batmond.sim.serial import PtyPort, SerialSimSpec, new_device, serial_simulator_types

from .recorder import Life, Recorder
from .tap import TAP_ENV
from .truth import Target

SAMPLE_PERIOD = 1.0  # s; publish period too
EXPIRE = 6.0
RESTART_SEC = 5.0  # batmond.service: Restart=always, RestartSec=5s
RSS_PERIOD = 2.0  # s between VmRSS samples
# Every simulated battery swings between charging and discharging with this period (s), with no load steps: a
# day compressed into an hour. A real battery's current changes slowly against the outages and against the age
# of a reading, and so must the soak's, or no meter rule could be within 1 % of the truth: across a gap of T s
# the straight line misses a sine of period P by about (2πT/P)²/12 of the energy in the gap (0.02 % for the
# longest gap the daemon bridges, 30 s), and a reading up to 0.5 s old (JK streams and the SmartShunt notifies
# twice a second) lags the power by up to 2π·0.5/P of the swing's amplitude (0.09 %). Each battery starts at
# its own phase: a run sees some of them charge, some discharge, some turn.
SWING_PERIOD = 3600.0
# These BMS are read through a simulated ESPHome proxy (encrypted, one slot each), pinned to it; the proxy faults
# (faults.py) hit them. One streams (JK), one answers requests (JBD), one is a Modbus device (Daly "daly2").
PROXY = "shed"
PROXIED = ("jk", "jbd", "daly2")
PROXY_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # base64 of bytes 0..31
TESTS = Path(__file__).resolve().parent.parent


class TappedDaemon(DaemonProcess):
    """`batmond run` with the meter tap (tap.py) writing to ``tap``."""

    def __init__(self, config: Path, log: Path, tap: Path) -> None:
        super().__init__(config, log)
        self.tap = tap

    def start(self) -> None:
        path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=path, **{TAP_ENV: str(self.tap)})
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "soak.tap", "run", "--config", str(self.config)],
                stdout=log, stderr=log, env=env,
            )  # fmt: skip


class Rig:
    """Everything the soak runs, and what happened to the daemon (its lives, exits, durable meters)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.t0 = 0.0  # monotonic: the start of the run
        self.faults_until = 0.0  # monotonic: the end of the faults and of the settling after them
        self.targets: dict[str, Target] = {}
        self.lives: list[Life] = []
        self.power_cycles: list[float] = []
        self.final_meters: dict[str, dict[str, float]] = {}
        self.broker_down: list[tuple[float, float]] = []
        self.unexpected_exits: list[str] = []
        self.restarting = False  # the harness itself stops or restarts the daemon: systemd's part waits
        self.unfrozen = asyncio.Event()
        self.state_dir = workdir / "state"
        self.reset_dir = workdir / "run"
        self.config = workdir / "batmon.toml"
        self.tap = workdir / "meter-tap.jsonl"
        self.sim: Simulator | None = None
        self.sim_port = 0
        self.broker: Broker | None = None
        self.daemon: DaemonProcess | None = None
        self.recorder: Recorder | None = None
        self.ports: list[PtyPort] = []
        self.proxy: EsphomeProxySim | None = None

    def _adapter_frozen(self) -> bool:
        return self.sim is not None and self.sim.adapter is not None and self.sim.adapter.frozen

    def _hci_client(self) -> object | None:
        server = self.sim._server if self.sim is not None else None  # the simulator keeps no public handle
        client = server._client if server is not None else None
        return client if client is not None and not client.is_closing() else None

    # -- set-up ---------------------------------------------------------------------------------------------
    async def start_simulator(self) -> None:
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
        proxied = [t for t in self.targets.values() if t.type in PROXIED and not t.wired]
        self.proxy = proxy = await self.sim.add_proxy(PROXY, encryption_key=PROXY_KEY, slots=len(proxied),
                                                      hears={t.address: -62 for t in proxied})  # fmt: skip
        for target in self.targets.values():
            if target.type in PROXIED and not target.wired:
                target.proxied = True
                target.adapter_frozen = lambda: proxy.stalled  # a request-answer BMS gets nothing through
                target.hci_client = lambda: proxy.owner  # the proxy drops its links when the daemon's session goes
            elif not target.wired:
                target.adapter_frozen = self._adapter_frozen
                target.hci_client = self._hci_client
            target.battery.swing_period = SWING_PERIOD
            target.battery.load_every = 0.0
            target.instrument()

    async def start_broker(self) -> None:
        self.broker = Broker(self.workdir)
        await asyncio.to_thread(self.broker.start)
        self.recorder = Recorder(self.broker.port)

    def write_config(self) -> None:
        assert self.broker is not None
        assert self.proxy is not None
        lines = [
            "[mqtt]", 'host = "127.0.0.1"', f"port = {self.broker.port}", 'client_id = "batmond-soak"',
            "[bluetooth]", f'transport = "tcp-client:127.0.0.1:{self.sim_port}"', "connect_timeout = 5.0",
            f'reset_request_dir = "{self.reset_dir}"',
            # A slot for every BMS: the soak's faults hit an installation whose links are all kept; taking turns
            # has its own tests (tests/e2e/test_fleet.py).
            f"max_connections = {len(self.targets)}",
            "[[bluetooth.proxy]]", f'name = "{PROXY}"', 'host = "127.0.0.1"', f"port = {self.proxy.port}",
            f'encryption_key = "{PROXY_KEY}"',
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
            if target.proxied:
                lines.append(f'bluetooth_adapter = "{PROXY}"')
            pin = simulator_types()[target.type].pin if not target.wired else None
            if pin:
                lines.append(f'pin = "{pin}"')
        self.config.write_text("\n".join(lines) + "\n")

    async def close(self) -> None:
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

    # -- the daemon, as systemd runs it ---------------------------------------------------------------------
    def start_daemon(self) -> None:
        if self.daemon is None:
            self.daemon = TappedDaemon(self.config, self.workdir / "daemon.log", self.tap)
        self.daemon.start()
        assert self.daemon.process is not None
        self.lives.append(Life(self.daemon.process.pid, time.monotonic()))

    async def stop_daemon(self, sig: int) -> None:
        assert self.daemon is not None and self.daemon.process is not None
        code = await asyncio.to_thread(self.daemon.stop, sig)
        life = self.lives[-1]
        life.end = time.monotonic()
        life.how = "SIGKILL" if sig == signal.SIGKILL else f"SIGTERM, exit {code}"
        life.durable = await self.durable_meters()

    async def supervise(self) -> None:
        """systemd's part: sample memory, restart the daemon after RestartSec when it exits on its own."""
        assert self.daemon is not None
        while True:
            await asyncio.sleep(RSS_PERIOD)
            process = self.daemon.process
            if process is None or self.restarting:
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
            life.durable = await self.durable_meters()
            await asyncio.sleep(RESTART_SEC)
            self.start_daemon()

    async def bt_reset_helper(self) -> None:
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

    async def durable_meters(self) -> dict[str, dict[str, float]]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "batmond", "meters", "--json", "--state-dir", str(self.state_dir),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"batmond meters failed: {err.decode()}")
        return {d["alias"]: d["meters"] for d in json.loads(out)["devices"]}
