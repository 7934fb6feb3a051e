"""Energy, charge and cycle meters: pure integrators over samples, with no clock, file or network of their own.

Time comes from the caller (the daemon passes a monotonic clock, so an NTP step of the wall clock neither
breaks nor skews a meter). Each quantity is integrated on its own: a sample that lacks power still counts
for the charge and cycle meters, and a missing or non-finite value is skipped, never added.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

SECONDS_PER_HOUR = 3600.0
SOC_REVERSAL = 2.0  # %: BMS report whole percents, and a flicker 60↔61 is not cycling
SOC_MAX_STEP = 20.0  # %: a bigger jump between two samples is a BMS recalibration, not a charge or discharge
MIN_MAX_GAP = 30.0  # s: shortest gap treated as "no data", whatever the sample period
KIND = "meters"  # journal record kind


def max_gap_for(sample_period: float) -> float:
    """Longest time between two samples that is still integrated (a straight line across it)."""
    return max(MIN_MAX_GAP, 5 * sample_period)


@dataclass(slots=True)
class MeterValues:
    """What a meter shows: the durable and published part of a device's meters."""

    energy_charge_kwh: float = 0.0  # only increases
    energy_discharge_kwh: float = 0.0  # only increases
    energy_net_kwh: float = 0.0  # charged - discharged
    charge_net_ah: float = 0.0  # positive = into the battery
    cycles: float = 0.0  # full cycles: 100 % -> 0 % -> 100 % is one

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeterValues:
        values = {}
        for name in cls.names():
            value = data.get(name, 0.0)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"meter {name} is not a number: {value!r}")
            values[name] = float(value)
        return cls(**values)

    def to_dict(self) -> dict[str, float]:
        # Not dataclasses.asdict: it deep-copies every float, and this runs twice per published reading.
        return {name: getattr(self, name) for name in _METER_NAMES}

    def published(self) -> dict[str, float]:
        """Rounded down to 6 decimals, so a published value never exceeds the durable one it came from."""
        return {name: _round_down(value) for name, value in self.to_dict().items()}

    def copy(self) -> MeterValues:
        return replace(self)


_METER_NAMES = MeterValues.names()


def _round_down(value: float, digits: int = 6) -> float:
    scale = 10**digits
    steps = math.floor(value * scale)
    rounded = steps / scale
    # value * scale may itself round up to a whole number (0.034999999999999996 -> 35000.0): step below it.
    return rounded if rounded <= value else (steps - 1) / scale


@dataclass(slots=True)
class Trapezoid:
    """∫ y dt by the trapezoid rule, in value·hours, split at zero so the positive and negative parts are exact."""

    last_t: float | None = None
    last_y: float | None = None

    def add(self, t: float, y: float | None, max_gap: float) -> tuple[float, float, float | None]:
        """Take a point; return (positive area, negative area as a positive number, skipped gap in s or None)."""
        if y is None or not math.isfinite(y):
            return 0.0, 0.0, None  # the next good point integrates across the hole, if it is not too long
        last_t, last_y = self.last_t, self.last_y
        self.last_t, self.last_y = t, y
        if last_t is None or last_y is None:
            return 0.0, 0.0, None
        dt = t - last_t
        if dt <= 0:
            return 0.0, 0.0, None  # the same instant twice, or a clock that is not monotonic: re-seed
        if dt > max_gap:
            return 0.0, 0.0, dt
        hours = dt / SECONDS_PER_HOUR
        if (last_y >= 0) == (y >= 0):
            area = (last_y + y) / 2 * hours
            return (area, 0.0, None) if area >= 0 else (0.0, -area, None)
        # The straight line crosses zero inside the step: each side is a triangle.
        crossing = last_y / (last_y - y)
        first = last_y * crossing * hours / 2
        second = y * (1 - crossing) * hours / 2
        positive, negative = (first, -second) if last_y >= 0 else (second, -first)
        return positive, negative, None


@dataclass(slots=True)
class SocTravel:
    """Total |ΔSoC|, counted from turning point to turning point.

    A change of direction counts only once it exceeds SOC_REVERSAL, and then in full, so quantisation flicker
    (99↔100 at float charge) adds nothing while a real 100 → 0 → 100 adds exactly 200 %.
    """

    level: float | None = None  # the last counted SoC
    direction: int = 0  # +1 charging, -1 discharging, 0 not known yet

    def add(self, soc: float | None) -> float:
        """Take a SoC reading (%); return the travel it adds (%)."""
        if soc is None or not math.isfinite(soc):
            return 0.0
        soc = min(max(soc, 0.0), 100.0)
        if self.level is None:
            self.level = soc
            return 0.0
        step = soc - self.level
        if abs(step) > SOC_MAX_STEP:
            self.level = soc  # recalibrated: follow it, count nothing
            return 0.0
        if step * self.direction > 0 or abs(step) >= SOC_REVERSAL:
            self.level = soc
            self.direction = 1 if step > 0 else -1
            return abs(step)
        return 0.0


@dataclass(slots=True)
class DeviceMeters:
    """One device's (or later one group's) meters and the integrator state behind them."""

    alias: str
    values: MeterValues = field(default_factory=MeterValues)
    power: Trapezoid = field(default_factory=Trapezoid)
    current: Trapezoid = field(default_factory=Trapezoid)
    soc: SocTravel = field(default_factory=SocTravel)
    dirty: bool = False

    def update(
        self, t: float, power: float | None, current: float | None, soc: float | None, max_gap: float
    ) -> float | None:
        """Integrate one sample (W, A positive = charging, %); return a gap in s that was skipped, if any."""
        values = self.values
        charged, discharged, power_gap = self.power.add(t, power, max_gap)
        if charged or discharged:
            values.energy_charge_kwh += charged / 1000
            values.energy_discharge_kwh += discharged / 1000
            values.energy_net_kwh += (charged - discharged) / 1000
            self.dirty = True
        into, out_of, current_gap = self.current.add(t, current, max_gap)
        if into or out_of:
            values.charge_net_ah += into - out_of
            self.dirty = True
        travel = self.soc.add(soc)
        if travel:
            values.cycles += travel / 200  # down and up again: 200 % of travel
            self.dirty = True
        if power_gap is not None or current_gap is not None:
            self.soc = SocTravel()  # what the SoC did during the gap is unknown: do not count it
            return power_gap if power_gap is not None else current_gap
        return None


class MeterBook:
    """All meters of the daemon, keyed by stable id (a MAC without colons, a serial adapter, later a group id).

    ``durable`` holds the values of the last committed journal generation: only those are ever published.
    """

    def __init__(self, recovered: Mapping[str, tuple[str, MeterValues]], max_gap: float) -> None:
        self.max_gap = max_gap
        self.meters: dict[str, DeviceMeters] = {
            key: DeviceMeters(alias, values.copy()) for key, (alias, values) in recovered.items()
        }
        self.durable: dict[str, MeterValues] = {key: values.copy() for key, (_, values) in recovered.items()}

    def update(
        self, key: str, alias: str, t: float, power: float | None, current: float | None, soc: float | None
    ) -> float | None:
        meters = self.meters.get(key)
        if meters is None:
            meters = self.meters[key] = DeviceMeters(alias, dirty=True)
        if meters.alias != alias:
            meters.alias, meters.dirty = alias, True
        return meters.update(t, power, current, soc, self.max_gap)

    def take_dirty(self) -> dict[str, tuple[str, MeterValues]]:
        """Copies of what changed since the last call, to be committed; the live meters keep running."""
        out = {}
        for key, meters in self.meters.items():
            if meters.dirty:
                out[key] = (meters.alias, meters.values.copy())
                meters.dirty = False
        return out

    def take_all(self) -> dict[str, tuple[str, MeterValues]]:
        """Copies of every meter, for the last commit before a clean stop."""
        for meters in self.meters.values():
            meters.dirty = True
        return self.take_dirty()

    def mark_durable(self, committed: Mapping[str, tuple[str, MeterValues]]) -> None:
        for key, (_, values) in committed.items():
            self.durable[key] = values

    def restore_dirty(self, failed: Mapping[str, tuple[str, MeterValues]]) -> None:
        """A commit failed: make sure its devices are committed again next time."""
        for key in failed:
            self.meters[key].dirty = True


def record_data(alias: str, values: MeterValues) -> dict[str, Any]:
    """A journal record's data: the alias rides along so `batmond meters` can name the device."""
    return {"alias": alias, **values.to_dict()}


def from_state(
    state: Mapping[tuple[str, str], Mapping[str, Any]],
) -> tuple[dict[str, tuple[str, MeterValues]], list[str]]:
    """The meters in a journal state, by stable id, and the ids whose record could not be read."""
    found: dict[str, tuple[str, MeterValues]] = {}
    unreadable: list[str] = []
    for (kind, key), data in state.items():
        if kind != KIND:
            continue
        try:
            found[key] = (str(data.get("alias", "")), MeterValues.from_dict(data))
        except ValueError:
            unreadable.append(key)
    return found, unreadable
