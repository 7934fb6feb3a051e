"""The checks at the end of a run, except the meters' (energy.py): each one a pass or fail with its detail."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from batmond.sim.battery import Battery

from .faults import Fault
from .recorder import fresh_after, life_at
from .rig import Rig
from .truth import Snapshot, Target

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
# RSS: a life is judged after its warm-up (imports, connections, caches) when at least RSS_MIN_SPAN remains.
RSS_WARMUP = 60.0
RSS_MIN_SPAN = 120.0
RSS_GROWTH = 0.05  # last third against first third
RSS_SLACK_KB = 2048


@dataclass
class Check:
    name: str
    ok: bool
    detail: list[str] = field(default_factory=list)


def tracebacks(rig: Rig) -> Check:
    log = rig.daemon.log if rig.daemon else ""
    count = log.count("Traceback")
    detail = [f"daemon log: {len(log.splitlines())} lines, {log.count(' ERROR ')} ERROR lines"]
    if count:
        at = log.index("Traceback")
        detail += [f"{count} traceback(s); first:", *log[max(0, at - 400) : at + 2000].splitlines()]
    return Check("no traceback in the daemon log", count == 0, detail)


def exits(rig: Rig) -> Check:
    lives = [f"pid {life.pid}: {(life.end or life.start) - life.start:.0f} s, {life.how}" for life in rig.lives]
    return Check("the daemon never crashed (exit 3, the adapter ladder giving up, is by design)",
                 not rig.unexpected_exits, rig.unexpected_exits + lives)  # fmt: skip


def _window(rig: Rig, target: Target, t: float) -> list[Snapshot]:
    back = LOOKBACK
    for down, up in rig.broker_down:
        if up <= t <= up + 2 * LOOKBACK:  # the daemon re-sends its latest reading when the broker is back
            back = max(back, t - down + LOOKBACK)
    snaps = target.snapshots
    lo = bisect.bisect_left(snaps, t - back, key=lambda s: s.t)
    hi = bisect.bisect_right(snaps, t, key=lambda s: s.t)
    return snaps[max(0, lo - 1) : hi]


def values(rig: Rig) -> Check:
    assert rig.recorder is not None
    problems: list[str] = []
    checked = 0
    for alias, target in rig.targets.items():
        for t, state in rig.recorder.states(alias):
            window = _window(rig, target, t)
            if not window:
                problems.append(f"{alias}: state at +{t - rig.t0:.1f} s with no truth before it")
                continue
            checked += 1
            for problem in judge(state, window, target.battery):
                if len(problems) < 40:
                    problems.append(f"{alias} at +{t - rig.t0:.1f} s: {problem}")
    detail = [f"{checked} states checked against the truth of the {LOOKBACK:g} s before each"]
    return Check("no value published that the simulator did not hold", not problems, detail + problems)


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


def recovery(rig: Rig, faults: list[Fault]) -> Check:
    """After each fault ends, every BMS it touched publishes new data within its bound."""
    assert rig.recorder is not None
    problems: list[str] = []
    worst: dict[str, float] = {}
    for alias in rig.targets:
        spans = []
        for fault in faults:
            if fault.target not in (None, alias) or fault.started is None or fault.ended is None:
                continue
            if fault.kind == "drop" and fault.note == "was not connected":
                continue
            # A rebooted or wedged proxy is like a hung controller: the daemon finds out by timeouts and backs off.
            long = (fault.kind in ("silent", "freeze", "kill", "proxy-reboot", "proxy-stall")
                    or fault.ended - fault.started >= LONG_FAULT)  # fmt: skip
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
            back = fresh_after(rig.recorder, rig.lives, alias, end)
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
                    f"+{end - rig.t0:.0f} s" + ("" if took is None else f" (took {took:.1f} s)")
                )
    detail = ["slowest return to fresh data after each kind of fault: "
              + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(worst.items()))]  # fmt: skip
    detail.append(f"bounds: {SHORT_BOUND:g} s, {LONG_BOUND:g} s after silent BMS, a hung controller, a daemon "
                  f"restart or any fault lasting {LONG_FAULT:g} s or more")  # fmt: skip
    return Check("every BMS back within its reconnect bound after each fault", not problems, detail + problems)


def monotonic(rig: Rig) -> Check:
    assert rig.recorder is not None
    problems: list[str] = []
    for alias in rig.targets:
        # In the order things happened, not by arrival time alone: a state belongs to the daemon life that
        # published it (it may reach the recorder a little after that daemon ended), and the journal read after
        # a life comes after everything that life published; the final read comes after all.
        series: list[tuple[tuple[int, int, float], float, str, dict[str, float]]] = [
            ((life_at(rig.lives, t), 0, t), t, "broker", s["meters"])
            for t, s in rig.recorder.states(alias)
            if "meters" in s
        ]
        series += [((i, 1, life.end), life.end, f"durable after pid {life.pid} ({life.how})", life.durable[alias])
                   for i, life in enumerate(rig.lives) if life.end is not None and alias in life.durable]  # fmt: skip
        if alias in rig.final_meters:
            series.append(((len(rig.lives), 1, 0.0), rig.faults_until, "durable at the end", rig.final_meters[alias]))
        series.sort(key=lambda item: item[0])
        for name in INCREASING:
            top, where = -1.0, ""
            for _, t, source, meters in series:
                value = meters.get(name, 0.0)
                if value < top - PUBLISHED_STEP:
                    problems.append(f"{alias} {name}: {value} ({source}, +{t - rig.t0:.0f} s) after {top} "
                                    f"({where})")  # fmt: skip
                    break
                top, where = value, f"{source}, +{t - rig.t0:.0f} s"
    detail = [f"{', '.join(INCREASING)} at the broker, in the journal after each daemon life, and at the end"]
    return Check("no meter ever decreasing", not problems, detail + problems)


def rss(rig: Rig) -> Check:
    problems: list[str] = []
    detail: list[str] = []
    judged = 0
    for life in rig.lives:
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
