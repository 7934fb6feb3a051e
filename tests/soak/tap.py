"""`batmond run` as the soak runs it: the daemon unchanged, with a tap on its meters.

Each time a device's meters take a sample, one JSON line is appended to the file named by SOAK_METER_TAP:
``[pid, alias, previous sample's t, t, power, gap, energy_charge_kwh, energy_discharge_kwh]``, t being the
daemon's monotonic clock (CLOCK_MONOTONIC, the harness's too). It tells the harness exactly which stretches of
time each meter covered and which of its values a commit could have made durable; the energies themselves
are judged from the journal, against the simulated batteries' truth. Run: ``python -m soak.tap run ...``
with tests/ on PYTHONPATH.
"""

from __future__ import annotations

import json
import os

from batmond import meters
from batmond.cli import main

TAP_ENV = "SOAK_METER_TAP"


def install(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    pid = os.getpid()
    update = meters.DeviceMeters.update

    def tapped(self: meters.DeviceMeters, t: float, power: float | None, current: float | None,
               soc: float | None, max_gap: float) -> float | None:  # fmt: skip
        before = self.power.last_t
        gap = update(self, t, power, current, soc, max_gap)
        values = self.values
        line = [pid, self.alias, before, t, power, gap, values.energy_charge_kwh, values.energy_discharge_kwh]
        os.write(fd, json.dumps(line).encode() + b"\n")  # one write: a SIGKILL never leaves half a line
        return gap

    meters.DeviceMeters.update = tapped


if __name__ == "__main__":
    install(os.environ[TAP_ENV])
    raise SystemExit(main())
