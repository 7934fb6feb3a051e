"""The value contract every protocol produces and every sink consumes.

Units and signs are fixed here: V, A (positive = charging), W, %, Ah, °C. A value the BMS does not report
is ``None`` (or an empty tuple for lists), never 0.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    hw_version: str | None = None
    sw_version: str | None = None


@dataclass(frozen=True, slots=True)
class CellStats:
    minimum: float
    maximum: float
    average: float
    delta: float
    min_index: int  # 1-based, as printed on the pack
    max_index: int

    @classmethod
    def of(cls, cells: tuple[float, ...]) -> CellStats | None:
        if not cells:
            return None
        low = min(cells)
        high = max(cells)
        return cls(
            minimum=low,
            maximum=high,
            average=sum(cells) / len(cells),
            delta=high - low,
            min_index=cells.index(low) + 1,
            max_index=cells.index(high) + 1,
        )


@dataclass(frozen=True, slots=True)
class Sample:
    voltage: float | None = None
    current: float | None = None
    power: float | None = None
    soc: float | None = None
    soh: float | None = None
    charge: float | None = None  # remaining, Ah
    capacity: float | None = None  # full, Ah
    cycles: int | None = None
    cell_voltages: tuple[float, ...] = ()
    temperatures: tuple[float, ...] = ()
    mosfet_temperature: float | None = None
    balance_current: float | None = None
    consumed: float | None = None  # Ah since the last full charge, negative as battery monitors show it
    time_to_go: float | None = None  # minutes until empty at the present load (battery monitors)
    switches: dict[str, bool] = field(default_factory=dict)
    alarm_code: int | None = None

    def completed(self) -> Sample:
        """Fill what follows from what the BMS reported (power from V·I), nothing more."""
        if self.power is None and self.voltage is not None and self.current is not None:
            return dataclasses.replace(self, power=self.voltage * self.current)
        return self

    def calibrated(self, factor: float) -> Sample:
        """Apply a current calibration factor (negative flips the sign) to current and power."""
        if factor == 1.0:
            return self
        return dataclasses.replace(
            self,
            current=None if self.current is None else self.current * factor,
            power=None if self.power is None else self.power * factor,
        )

    @property
    def cell_stats(self) -> CellStats | None:
        return CellStats.of(self.cell_voltages)

    def to_dict(self) -> dict[str, Any]:
        """The JSON state published per BMS: absent values are left out, cells keep their order."""
        out: dict[str, Any] = {}
        for name in _SCALARS:
            value = getattr(self, name)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                out[name] = round(value, _PRECISION.get(name, 3)) if isinstance(value, float) else value
        if self.cell_voltages:
            out["cell_voltages"] = [round(v, 4) for v in self.cell_voltages]
            stats = self.cell_stats
            assert stats is not None
            out["cell_min"] = round(stats.minimum, 4)
            out["cell_max"] = round(stats.maximum, 4)
            out["cell_average"] = round(stats.average, 4)
            out["cell_delta"] = round(stats.delta, 4)
            out["cell_min_index"] = stats.min_index
            out["cell_max_index"] = stats.max_index
        if self.temperatures:
            out["temperatures"] = [round(t, 1) for t in self.temperatures]
        if self.switches:
            out["switches"] = {name: ("ON" if on else "OFF") for name, on in self.switches.items()}
        return out


_SCALARS = (
    "voltage",
    "current",
    "power",
    "soc",
    "soh",
    "charge",
    "capacity",
    "cycles",
    "mosfet_temperature",
    "balance_current",
    "consumed",
    "time_to_go",
    "alarm_code",
)
_PRECISION = {"voltage": 3, "current": 3, "power": 1, "soc": 1, "soh": 1, "mosfet_temperature": 1, "consumed": 1,
              "time_to_go": 0}  # fmt: skip


def average(samples: list[Sample]) -> Sample:
    """Average the fast-moving values (V, A, W) over a publish period; everything else is the latest."""
    latest = samples[-1]
    if len(samples) == 1:
        return latest

    def mean(name: str) -> float | None:
        values = [v for s in samples if (v := getattr(s, name)) is not None]
        return sum(values) / len(values) if values else None

    return dataclasses.replace(latest, voltage=mean("voltage"), current=mean("current"), power=mean("power"))
