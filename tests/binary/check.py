"""End to end for the single binary (make binary-test, packaging/test-binary.sh): the file `make binary` built, run.

1. ``--version``, and ``check-config`` on a config naming aiobmsble types (no "install the extra" error).
2. The binary's own simulator (``batmond sim``) plays a JK BMS on a virtual radio; the binary's ``run`` reads it
   and publishes to a mosquitto on 127.0.0.1.
3. The aiobmsble extra: this process plays the recorded BMS of tests/captures/aiobmsble.py (aiobmsble's published
   test exchanges; ``batmond sim`` cannot, the recordings are test data) and batmond's JBD simulator read as
   ``jbd_ble``; the binary's ``run`` must publish each of them with the values aiobmsble's own tests state, and
   never connect to D-Bus (the bus addresses point at a socket of this process).

Prints what it measured: the binary's start (it unpacks itself every time), start to first publish, the daemon's
memory. Exit status 0 when every check passed. Runs in the repository's venv (the binary needs no Python).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: the helpers of the e2e tests

from captures import aiobmsble as rec
from helpers import Broker, Watcher, free_port, write_config

from batmond.sim import SimSpec, Simulator
from batmond.sim.aio_devices import Recording, ReplayBms

TIMEOUT = 60.0  # s for a first state; the tests of the extra allow the same
POLL = 0.02  # s between looks at what reached the broker: the resolution of the times measured
SAMPLING = "sample_period = 1.0\nexpire_values_after = 4.0"


@dataclass(frozen=True, slots=True)
class Replayed:
    key: str
    recording: Recording
    address: str
    expected: dict[str, Any]  # what aiobmsble's own test states (SRC), in aiobmsble's names

    @property
    def alias(self) -> str:
        return f"aio-{self.key.replace('_', '-')}"


# The recordings tests/aio replays, at the addresses those tests give them.
REPLAYED = (
    Replayed("seplos", rec.SEPLOS, "C0:D6:3C:00:00:01", rec.SEPLOS_EXPECTED),
    Replayed("cbtpwr", rec.CBTPWR, "38:AB:41:00:00:01", rec.CBTPWR_EXPECTED),
    Replayed("renogy", rec.RENOGY, "60:98:66:00:00:01", rec.RENOGY_EXPECTED),
    Replayed("renogy_pro", rec.RENOGY_PRO, "60:98:66:00:00:02", rec.RENOGY_PRO_EXPECTED),
    Replayed("redodo", rec.REDODO, "C8:47:80:15:D8:34", rec.REDODO_EXPECTED),
    Replayed("ecoworthy_1", rec.ECOWORTHY_1, "E2:E7:79:00:00:01", rec.ECOWORTHY_1_EXPECTED),
    Replayed("ecoworthy_2", rec.ECOWORTHY_2, rec.ECOWORTHY_2_ADDRESS, rec.ECOWORTHY_2_EXPECTED),
    Replayed("tdt", rec.TDT, rec.TDT_ADDRESS, rec.TDT_EXPECTED),
)
NATIVE_JBD = ("A4:C1:38:00:00:01", "native-jbd")  # batmond's JBD simulator, read through aiobmsble as jbd_ble


class CheckFailed(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise CheckFailed(what)


class BinaryProcess:
    """The binary as a subprocess (a PyInstaller bootstrap and its child, which is the daemon), its log kept."""

    def __init__(self, binary: Path, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log
        self.started = time.monotonic()
        with log.open("ab") as out:
            self.process = subprocess.Popen([str(binary), *args], stdout=out, stderr=subprocess.STDOUT,
                                            env=dict(env or os.environ, PYTHONUNBUFFERED="1"))  # fmt: skip

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_mb(self) -> float | None:
        """VmRSS of the bootstrap's child: the Python that runs batmond."""
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
            status = Path(f"/proc/{children[0]}/status").read_text()
        except (OSError, IndexError):
            return None
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        return int(found.group(1)) / 1024 if found else None

    def stop(self) -> int:
        """SIGTERM (the bootstrap passes it on) and the exit status; SIGKILL if it does not stop in 15 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
                return -9
        return self.process.returncode


async def first(predicate: Any, started: float, what: str, process: BinaryProcess) -> tuple[Any, float]:
    """Wait for predicate() to be truthy; return it and the seconds since `started`."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value, time.monotonic() - started
        if process.process.poll() is not None:
            raise CheckFailed(f"the binary exited ({process.process.returncode}) before {what}:\n{process.log[-3000:]}")
        await asyncio.sleep(POLL)
    raise CheckFailed(f"timed out after {TIMEOUT:g} s waiting for {what}:\n{process.log[-3000:]}")


def approx(value: Any, expected: float, tolerance: float) -> bool:
    return isinstance(value, int | float) and abs(value - expected) <= tolerance


def check_replayed_state(state: dict[str, Any], replayed: Replayed) -> None:
    """The values aiobmsble's tests state, in batmond's names: battery_level is the SoC, cycle_charge the
    remaining charge."""
    expected, key = replayed.expected, replayed.key
    check(approx(state.get("voltage"), expected["voltage"], 0.001), f"{key}: voltage {state.get('voltage')}")
    check(approx(state.get("current"), expected["current"], 0.001), f"{key}: current {state.get('current')}")
    check(approx(state.get("soc"), expected["battery_level"], 0.05), f"{key}: soc {state.get('soc')}")
    check(approx(state.get("charge"), expected["cycle_charge"], 0.001), f"{key}: charge {state.get('charge')}")
    cells = state.get("cell_voltages") or []
    check(len(cells) == len(expected.get("cell_voltages", [])), f"{key}: {len(cells)} cell voltages")
    check(state.get("diagnostics", {}).get("bad_frames") == 0, f"{key}: bad frames")


def run_command(binary: Path, *args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def check_commands(binary: Path, work: Path, report: list[str]) -> None:
    code, out, seconds = run_command(binary, "--version")
    check(code == 0 and out.startswith("batmond "), f"--version: {code} {out!r}")
    report.append(f"--version: {out.strip()!r} in {seconds:.2f} s (the binary unpacks itself at every start)")
    devices = [(r.address, r.recording.type_name, r.alias) for r in REPLAYED]
    config = write_config(work / "check.toml", 9100, 1883, [*devices, (NATIVE_JBD[0], "jbd_ble", "jbd-aio")])
    code, out, seconds = run_command(binary, "check-config", str(config))
    check(code == 0 and "OK" in out and "install" not in out, f"check-config: {code} {out!r}")
    report.append(f"check-config with {len(devices) + 1} aiobmsble types: {out.strip()!r}")


async def check_own_simulator(binary: Path, broker: Broker, watcher: Watcher, work: Path, report: list[str]) -> None:
    port = free_port()
    config = write_config(work / "sim.toml", port, broker.port, [("AA:BB:CC:00:00:01", "jk", "jk")], "", SAMPLING)
    sim = BinaryProcess(binary, ["sim", "--config", str(config)], work / "sim.log")
    daemon: BinaryProcess | None = None
    try:
        await first(lambda: "simulating 1 BMS" in sim.log, sim.started, "the binary's simulator", sim)
        daemon = BinaryProcess(binary, ["run", "--config", str(config)], work / "sim-daemon.log")
        state, seconds = await first(lambda: watcher.last_json("batmond/jk/state"), daemon.started, "jk", daemon)
        check(len(state.get("cell_voltages") or []) == 16 and approx(state.get("soc"), 60, 5), f"jk state {state}")
        rss = daemon.rss_mb()
        report.append(f"batmond sim (JK) + run: first state {seconds:.2f} s after the start; daemon memory (VmRSS) "
                      + (f"{rss:.0f} MB" if rss else "?"))  # fmt: skip
    finally:
        code = daemon.stop() if daemon is not None else 0
        sim.stop()
    check(code == 0, f"the daemon exited {code} on SIGTERM")
    check("Traceback" not in daemon.log + sim.log, f"a traceback:\n{daemon.log[-3000:]}\n{sim.log[-3000:]}")


@contextlib.contextmanager
def dbus_listener(path: Path):
    """A socket at the D-Bus addresses the daemon is given: nothing may connect to it."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    server.setblocking(False)
    try:
        yield server
    finally:
        server.close()


def connections(server: socket.socket) -> int:
    count = 0
    for _ in range(100):
        try:
            client, _ = server.accept()
        except BlockingIOError:
            break
        client.close()
        count += 1
    return count


async def check_extra(binary: Path, broker: Broker, watcher: Watcher, work: Path, report: list[str]) -> None:
    port = free_port()
    simulator = Simulator(f"tcp-server:127.0.0.1:{port}")
    await simulator.start([SimSpec(type="jbd", name=NATIVE_JBD[1], address=NATIVE_JBD[0])])
    for replayed in REPLAYED:
        bms = ReplayBms(replayed.recording, replayed.address)
        await bms.start(simulator.link)
        simulator.devices[replayed.alias] = bms
    devices = [(r.address, r.recording.type_name, r.alias) for r in REPLAYED]
    config = write_config(work / "aio.toml", port, broker.port, [*devices, (NATIVE_JBD[0], "jbd_ble", "jbd-aio")],
                          "", SAMPLING)  # fmt: skip
    # The simulator runs in this event loop: the scan must not block it.
    scan = await asyncio.create_subprocess_exec(str(binary), "scan", "--transport", f"tcp-client:127.0.0.1:{port}",
                                                "--seconds", "3", stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)  # fmt: skip
    out = (await asyncio.wait_for(scan.communicate(), TIMEOUT))[0].decode(errors="replace")
    check(scan.returncode == 0, f"scan exited {scan.returncode}:\n{out[-3000:]}")
    suggested = {line.split()[0]: line.rsplit("  ", 1)[-1] for line in out.splitlines()[1:] if line.strip()}
    for replayed in REPLAYED:  # aiobmsble's advertisement matchers inside the binary
        types = suggested.get(replayed.address, "").replace(",", " ").split()
        check(replayed.recording.type_name in types, f"scan: {replayed.key} suggested as {types}:\n{out}")
    report.append("scan: every recorded advertisement suggests its aiobmsble type")
    bus = work / "bus"
    with dbus_listener(bus) as server:
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={bus}", DBUS_SESSION_BUS_ADDRESS=f"unix:path={bus}")
        daemon = BinaryProcess(binary, ["run", "--config", str(config)], work / "aio-daemon.log", env)
        code = None
        try:
            seplos = REPLAYED[0]
            topic = f"batmond/{seplos.alias}/state"
            state, seconds = await first(lambda: watcher.last_json(topic), daemon.started, seplos.key, daemon)
            check_replayed_state(state, seplos)
            report.append(f"aiobmsble seplos: first state {seconds:.2f} s after the start")
            for replayed in REPLAYED[1:]:
                topic = f"batmond/{replayed.alias}/state"
                state, seconds = await first(lambda t=topic: watcher.last_json(t), daemon.started, replayed.key, daemon)
                check_replayed_state(state, replayed)
            state, seconds = await first(lambda: watcher.last_json("batmond/jbd-aio/state"), daemon.started,
                                         "jbd_ble", daemon)  # fmt: skip
            check(len(state.get("cell_voltages") or []) == 16, f"jbd_ble state {state}")
            check(bool(simulator.devices[NATIVE_JBD[1]].writes), "aiobmsble never wrote to the JBD simulator")
            report.append(
                f"all {len(REPLAYED) + 1} aiobmsble-read BMS published, the last {seconds:.2f} s after the start"
            )
            rss = daemon.rss_mb()
            report.append(f"daemon memory (VmRSS) with {len(REPLAYED) + 1} BMS: " + (f"{rss:.0f} MB" if rss else "?"))
        finally:
            code = daemon.stop()
            await simulator.stop()
        bus_connections = connections(server)
    check(code == 0, f"the daemon exited {code} on SIGTERM")
    check("Traceback" not in daemon.log, f"a traceback:\n{daemon.log[-3000:]}")
    check(bus_connections == 0, f"{bus_connections} connection(s) to D-Bus")
    report.append("D-Bus: no connection")


async def main(binary: Path, system: str, parent: Path | None) -> int:
    report = [f"== {binary} on {system}"]
    with tempfile.TemporaryDirectory(prefix="batmond-binary-test-", dir=parent) as directory:
        work = Path(directory)
        broker = Broker(work)
        broker.start()
        watcher = Watcher(broker.port)
        try:
            check_commands(binary, work, report)
            await check_own_simulator(binary, broker, watcher, work, report)
            await check_extra(binary, broker, watcher, work, report)
        except CheckFailed as exc:
            print("\n".join(report), f"FAILED: {exc}", sep="\n", file=sys.stderr)
            return 1
        finally:
            watcher.close()
            broker.stop()
    print("\n".join(report), "binary-test: every check passed", sep="\n")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("binary", type=Path, help="the binary, or a command that runs it (e.g. in a chroot)")
    parser.add_argument("--system", default="this machine", help="where the binary runs, for the report")
    parser.add_argument("--work", type=Path, help="make the work directory here (one the binary can see)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.binary.resolve(), args.system, args.work)))
