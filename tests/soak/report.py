"""The soak's report (printed, and report.txt) and its record for a post-mortem (record.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .checks import Check
from .faults import Fault
from .rig import Rig


def report(rig: Rig, faults: list[Fault], seed: int, seconds: float, checks: list[Check]) -> str:
    lines = [f"batmond soak: seed {seed}, {seconds:g} s of faults, {len(rig.targets)} BMS "
             f"({', '.join(sorted(t.type for t in rig.targets.values()))})"]  # fmt: skip
    counts: dict[str, int] = {}
    for fault in faults:
        counts[fault.kind] = counts.get(fault.kind, 0) + 1
    lines.append("faults: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                 + f"; bt-reset power cycles {len(rig.power_cycles)}")  # fmt: skip
    for fault in faults:
        if fault.started is None:
            continue
        took = (fault.ended or fault.started) - fault.started
        span = f" for {took:.1f} s" if took > 0.5 else ""
        note = f" ({fault.note})" if fault.note else ""
        lines.append(f"  +{fault.started - rig.t0:6.1f} s {fault.label}{span}{note}")
    for check in checks:
        lines.append(f"{'PASS' if check.ok else 'FAIL'}  {check.name}")
        lines += [f"      {line}" for line in check.detail]
    lines.append("soak: " + ("all checks passed" if all(c.ok for c in checks) else "FAILED"))
    return "\n".join(lines)


def dump(rig: Rig, faults: list[Fault], path: Path) -> None:
    """What happened, for a post-mortem: states at the broker, the truth, faults and lives (time from start)."""
    with path.open("w") as out:

        def line(**item: Any) -> None:
            out.write(json.dumps(item) + "\n")

        line(t0=rig.t0, tap=rig.tap.name)  # the tap's instants are monotonic: subtract t0 to compare
        for life in rig.lives:
            line(life=life.pid, start=life.start - rig.t0, end=(life.end or rig.faults_until) - rig.t0,
                 how=life.how)  # fmt: skip
        for fault in faults:
            if fault.started is not None:
                line(fault=fault.label, start=fault.started - rig.t0, end=(fault.ended or 0) - rig.t0)
        for alias, target in rig.targets.items():
            for s in target.snapshots:
                line(truth=alias, t=round(s.t - rig.t0, 3), e_in=s.energy_in, e_out=s.energy_out,
                     v=s.voltage, i=s.current, ok=s.deliverable)  # fmt: skip
            if rig.recorder is not None:
                for t, state in rig.recorder.states(alias):
                    line(state=alias, t=round(t - rig.t0, 3), **state)
