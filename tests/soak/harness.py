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

The parts: rig.py (simulator, broker, daemon and its stand-ins), truth.py (the instrumented batteries),
faults.py (the scheduler), recorder.py (the broker side and the daemon's lives), checks.py and energy.py (the
checks), report.py (report and record).

Run: ``make soak`` (SOAK_SECONDS, default 600) or ``python tests/soak/harness.py --seconds 600 [--seed N]``.
Exit status 0 when every check passed, 1 otherwise; the report is printed and written to the work directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: the e2e helpers and this package

from soak import checks, energy
from soak.checks import LONG_BOUND, Check
from soak.faults import Fault, inject, plan
from soak.recorder import fresh_after
from soak.report import dump, report
from soak.rig import Rig

STARTUP_TIMEOUT = 120.0  # s for every BMS to publish once before the faults start


class Soak:
    def __init__(self, seconds: float, seed: int, workdir: Path) -> None:
        self.seconds = seconds
        self.seed = seed
        self.rng = random.Random(seed)
        self.rig = Rig(workdir)
        self.faults: list[Fault] = []
        self.faults_from = 0.0

    async def run(self) -> list[Check]:
        rig = self.rig
        rig.t0 = time.monotonic()
        rig.reset_dir.mkdir(parents=True, exist_ok=True)
        tasks: list[asyncio.Task] = []
        try:
            await rig.start_simulator()
            await rig.start_broker()
            rig.write_config()
            rig.start_daemon()
            tasks.append(asyncio.create_task(rig.supervise()))
            tasks.append(asyncio.create_task(rig.bt_reset_helper()))
            waiting = await self._wait_all_published(STARTUP_TIMEOUT)
            if waiting:
                return [Check("every BMS publishes at start-up", False, [f"no state from {', '.join(waiting)}"])]
            self.faults_from = time.monotonic()
            self.faults = plan(self.seconds, self.rng, list(rig.targets.values()))
            print(f"soak: seed {self.seed}, {self.seconds:g} s, {len(self.faults)} faults on {len(rig.targets)} "
                  f"BMS; work directory {rig.workdir}", flush=True)  # fmt: skip
            injections = [asyncio.create_task(inject(rig, f, self.rng, self.faults_from)) for f in self.faults]
            await asyncio.gather(*injections)
            await asyncio.sleep(max(0.0, self.faults_from + self.seconds - time.monotonic()))
            await self._settle()
            rig.faults_until = time.monotonic()
            rig.restarting = True
            assert rig.daemon is not None
            if rig.daemon.process is not None:
                await rig.stop_daemon(signal.SIGTERM)
            elif not rig.lives[-1].durable:  # it had exited on its own: nothing is running to commit more
                rig.lives[-1].durable = await rig.durable_meters()
            rig.final_meters = rig.lives[-1].durable
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await rig.close()
        return self.analyse()

    async def _wait_all_published(self, timeout: float) -> list[str]:
        recorder = self.rig.recorder
        assert recorder is not None
        deadline = time.monotonic() + timeout
        waiting = list(self.rig.targets)
        while waiting and time.monotonic() < deadline:
            waiting = [alias for alias in waiting if not recorder.states(alias)]
            await asyncio.sleep(0.5)
        return waiting

    async def _settle(self) -> None:
        """After the last fault, give every BMS its reconnect bound to come back before stopping."""
        rig = self.rig
        assert rig.recorder is not None
        ends = [f.ended or 0.0 for f in self.faults]
        latest = max([*ends, 0.0])
        deadline = latest + LONG_BOUND
        while time.monotonic() < deadline:
            pending = [a for a in rig.targets if not fresh_after(rig.recorder, rig.lives, a, latest)]
            if not pending:
                return
            await asyncio.sleep(1.0)

    def analyse(self) -> list[Check]:
        rig = self.rig
        return [
            checks.tracebacks(rig),
            checks.exits(rig),
            checks.values(rig),
            checks.recovery(rig, self.faults),
            checks.monotonic(rig),
            energy.meters(rig),
            checks.rss(rig),
        ]


async def soak(seconds: float, seed: int, workdir: Path) -> tuple[bool, str]:
    run = Soak(seconds, seed, workdir)
    results = await run.run()
    text = report(run.rig, run.faults, seed, seconds, results)
    (workdir / "report.txt").write_text(text + "\n")
    dump(run.rig, run.faults, workdir / "record.jsonl")
    return all(c.ok for c in results), text


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
