"""The meters' check: the daemon's durable energy meters against the energy the simulated batteries held."""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

from batmond.meters import MIN_MAX_GAP, Trapezoid

from .checks import Check
from .rig import SAMPLE_PERIOD, Rig
from .truth import Snapshot, Target

METER_TOLERANCE = 0.01  # the daemon's meters within 1 % of the truth it observed
# Meter windows: the last meter commit before a SIGKILL is up to the commit interval (1 s) plus a sample before.
END_BAND = 1.5


@dataclass
class Expectation:
    """Energy (Wh) the daemon's meter should show, and how sure the harness can be of it."""

    central: float = 0.0  # the trapezoid over the frames the daemon could sample
    truth: float = 0.0  # what the battery really absorbed or delivered over the same windows
    bridged: float = 0.0  # central - truth over gaps of more than 2 samples, bridged by a straight line
    low_band: float = 0.0  # the daemon may have missed up to this much at window edges
    high_band: float = 0.0  # or integrated this much more across gaps near its 30 s limit
    variance: float = 0.0  # of the sampling error (Wh²)


def _meter_expectation(rig: Rig, target: Target) -> dict[str, Expectation]:
    """The energy in and out that the daemon could integrate from this BMS, with its uncertainty.

    The daemon integrates V·I by the trapezoid rule between consecutive samples of one process life, with
    a straight line across gaps up to 30 s, and a SIGKILL takes back what it had not committed yet. Its
    samples hold the battery's values at the instants frames were built, so ``central`` is that same
    integral over the frames that could reach it (at most one per sample period), split at gaps over
    30 s; ``truth`` is what the battery really did over the same windows.
    """
    expected = {"in": Expectation(), "out": Expectation()}
    assert rig.recorder is not None
    published = [t for t, _ in rig.recorder.states(target.alias)]
    for life in rig.lives:
        end = life.end if life.end is not None else rig.faults_until
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
            _sampling_variance(expected, previous, point)
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


def _sampling_variance(expected: dict[str, Expectation], a: Snapshot, b: Snapshot) -> None:
    """A load step at a random instant between two samples makes the trapezoid off by up to half the step
    times the interval, uniformly: variance (ΔP·Δt)²/12, to the side(s) the power was on."""
    p0, p1 = a.voltage * a.current, b.voltage * b.current
    variance = ((p1 - p0) * (b.t - a.t) / 3600) ** 2 / 12
    if p0 >= 0 or p1 >= 0:
        expected["in"].variance += variance
    if p0 < 0 or p1 < 0:
        expected["out"].variance += variance


def meters(rig: Rig) -> Check:
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

    for alias, target in rig.targets.items():
        found = rig.final_meters.get(alias)
        if found is None:
            problems.append(f"{alias}: no durable meters at the end")
            continue
        expected = _meter_expectation(rig, target)
        for way, name in (("in", "energy_charge_kwh"), ("out", "energy_discharge_kwh")):
            value, e = found[name] * 1000, expected[way]
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


def trapezoid(points: list[Snapshot]) -> tuple[float, float]:
    """Wh in and out by the daemon's own integrator (split at zero crossings) over V·I at these points."""
    integrator = Trapezoid()
    charged = discharged = 0.0
    for point in points:
        positive, negative, _ = integrator.add(point.t, point.voltage * point.current, float("inf"))
        charged += positive
        discharged += negative
    return charged, discharged
