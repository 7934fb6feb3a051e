"""The meters' check: the daemon's durable energy meters against what the simulated batteries really did.

The daemon's rule (batmond/meters.py): within one process life it integrates V·I by the trapezoid rule between
consecutive samples; a gap up to 30 s (max_gap_for the sample period), with readings on both sides, is bridged
by the straight line between them; a longer gap, the time it is not running, and what a SIGKILL takes back
before it was committed are *unmetered*: counted nowhere (the daemon logs each gap). So the meters are judged
against the batteries' true energy over exactly the time they metered, bridged gaps included, and the time
they did not meter is reported with the energy that flowed in it.

Which time that is comes from the daemon itself: the meter tap (tap.py) logs each sample's instant and the
meter's values after it, and the durable meters read after each life show which of those values the journal
kept, so the last committed sample is known exactly. The truth is the battery's energy between the instants
of the meter's samples (both clocks are CLOCK_MONOTONIC).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from batmond.meters import max_gap_for

from .checks import Check
from .rig import SAMPLE_PERIOD, Rig
from .truth import Target

METER_TOLERANCE = 0.01  # the durable meters within 1 % of the true energy over the time they metered
FLOOR_WH = 0.05  # ... or this close, for a way that hardly moved (a battery that nearly only charged)
BRIDGED = 2 * SAMPLE_PERIOD  # an interval longer than this is a straight line across missing samples
WAYS = (("in", "energy_charge_kwh"), ("out", "energy_discharge_kwh"))


@dataclass(frozen=True, slots=True)
class Step:
    """One sample as the daemon's meter took it (a line of the tap)."""

    before: float | None  # the previous sample's instant, if the meter had one in this life
    t: float
    power: float | None
    charged: float  # kWh, the meter's values after this sample
    discharged: float


@dataclass
class Coverage:
    """What one meter covered, and what the battery really did then and otherwise."""

    meter: dict[str, float] = field(default_factory=lambda: {"in": 0.0, "out": 0.0})  # Wh, durable at the end
    truth: dict[str, float] = field(default_factory=lambda: {"in": 0.0, "out": 0.0})  # Wh over metered time
    bridged_truth: dict[str, float] = field(default_factory=lambda: {"in": 0.0, "out": 0.0})
    run: dict[str, float] = field(default_factory=lambda: {"in": 0.0, "out": 0.0})  # Wh over the whole run
    metered: float = 0.0  # s
    bridged: float = 0.0  # s of it across gaps of 2 to 30 s
    span: float = 0.0  # s of the whole run
    taken_back: list[float] = field(default_factory=list)  # s of samples after the last commit, per SIGKILL
    problems: list[str] = field(default_factory=list)

    def add(self, other: Coverage) -> None:
        for name in ("meter", "truth", "bridged_truth", "run"):
            mine, theirs = getattr(self, name), getattr(other, name)
            for way in mine:
                mine[way] += theirs[way]
        self.metered += other.metered
        self.bridged += other.bridged
        self.span += other.span
        self.taken_back += other.taken_back


def read_tap(path: Path) -> dict[tuple[int, str], list[Step]]:
    steps: dict[tuple[int, str], list[Step]] = defaultdict(list)
    if not path.exists():
        return steps
    for line in path.read_text().splitlines():
        try:
            pid, alias, before, t, power, _gap, charged, discharged = json.loads(line)
        except ValueError:
            continue
        steps[(pid, alias)].append(Step(before, t, power, charged, discharged))
    return steps


def coverage(rig: Rig, target: Target, steps: dict[tuple[int, str], list[Step]]) -> Coverage:
    alias = target.alias
    found = Coverage()
    max_gap = max_gap_for(SAMPLE_PERIOD)
    final = rig.final_meters.get(alias)
    if final is None:
        found.problems.append(f"{alias}: no durable meters at the end")
    else:
        for way, name in WAYS:
            found.meter[way] = final[name] * 1000
    start, end = rig.lives[0].start, rig.faults_until
    found.span = end - start
    found.run["in"], found.run["out"] = target.between(start, end)
    for life in rig.lives:
        taken = steps.get((life.pid, alias), [])
        if not taken:
            continue
        durable = life.durable.get(alias)
        kept = None
        if durable is not None:
            values = (durable["energy_charge_kwh"], durable["energy_discharge_kwh"])
            kept = next((i for i in range(len(taken) - 1, -1, -1)
                         if (taken[i].charged, taken[i].discharged) == values), None)  # fmt: skip
        if kept is None:
            found.problems.append(f"{alias}: the durable meters after daemon pid {life.pid} ({durable}) are no "
                                  "value its meter held")  # fmt: skip
            continue
        if life.how == "SIGKILL":
            found.taken_back.append(taken[-1].t - taken[kept].t)
        for step in taken[1 : kept + 1]:
            power = step.power
            if step.before is None or power is None or not math.isfinite(power):
                continue
            span = step.t - step.before
            if not 0 < span <= max_gap:
                continue
            energy = target.between(step.before, step.t)
            found.metered += span
            if span > BRIDGED:
                found.bridged += span
            for i, (way, _) in enumerate(WAYS):
                found.truth[way] += energy[i]
                if span > BRIDGED:
                    found.bridged_truth[way] += energy[i]
    return found


def _within(meter: float, truth: float) -> bool:
    return abs(meter - truth) <= METER_TOLERANCE * truth + FLOOR_WH


def meters(rig: Rig) -> Check:
    steps = read_tap(rig.tap)
    problems: list[str] = []
    detail = [f"{'BMS':<19} {'way':<4} {'meter Wh':>9} {'true Wh':>9} {'diff':>7}   {'metered':>8} {'bridged':>8} "
              f"{'unmetered':>9}   {'run Wh':>8} {'unmetered':>9}"]  # fmt: skip
    fleet = Coverage()

    def rows(label: str, c: Coverage) -> None:
        for i, (way, name) in enumerate(WAYS):
            meter, truth = c.meter[way], c.truth[way]
            times = (f"{c.metered:7.0f}s {c.bridged:7.0f}s {c.span - c.metered:8.0f}s" if i == 0
                     else " " * 26)  # fmt: skip
            detail.append(f"{label if i == 0 else '':<19} {way:<4} {meter:9.2f} {truth:9.2f} "
                          f"{(meter - truth) / (truth or 1.0):+7.2%}   {times}   {c.run[way]:8.2f} "
                          f"{(c.run[way] - truth) / (c.run[way] or 1.0):9.1%}")  # fmt: skip
            if not _within(meter, truth):
                problems.append(f"{label} {name}: {meter:.3f} Wh, the battery's true energy over the time it "
                                f"metered {truth:.3f} Wh ({(meter - truth) / (truth or 1.0):+.2%})")  # fmt: skip

    for target in rig.targets.values():
        found = coverage(rig, target, steps)
        problems += found.problems
        rows(target.alias, found)
        fleet.add(found)
    rows("all", fleet)
    if fleet.taken_back:
        detail.append(f"a SIGKILL took back the samples of the last {max(fleet.taken_back):.1f} s at most (after the "
                      "last commit; reported, not judged)")  # fmt: skip
    bridged = [f"{(fleet.bridged_truth[w] / (fleet.truth[w] or 1.0)):.1%} {w}" for w, _ in WAYS]
    detail += [
        "meter: durable at the end; true: the battery's exact energy over the time the meter covered (its",
        "  samples' intervals up to its last commit in each daemon life, gaps of 2 to 30 s bridged by a straight",
        f"  line included: {fleet.bridged:.0f} s in all, {' and '.join(bridged)} of the true energy). Pass: within",
        f"  {METER_TOLERANCE:.0%} (or {FLOOR_WH:g} Wh) per BMS and for all. unmetered: the time of the run the meter",
        "  did not cover (daemon down, gaps over 30 s, the uncommitted second a SIGKILL took), and the share of",
        "  the run's true energy that flowed then (reported, not judged).",
    ]
    return Check(f"meters equal to the simulator's true energy within {METER_TOLERANCE:.0%} over the time they "
                 "metered", not problems, detail + problems)  # fmt: skip
