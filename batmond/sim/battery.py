"""A simulated LiFePO4 pack whose values move like a real one, and which knows its true energy.

Current follows a day-like swing between charging and discharging with load steps on top (or none); SoC and cell
voltages follow the current; temperatures drift with load. The energy it really absorbed and delivered is
integrated at a fine step, so meter accuracy can be checked against it.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from dataclasses import dataclass, field

# LiFePO4 open-circuit voltage per cell against SoC (%), a typical published curve.
OCV_CURVE = ((0, 2.50), (5, 3.00), (10, 3.20), (20, 3.25), (40, 3.29), (60, 3.31), (80, 3.33),
             (90, 3.35), (95, 3.40), (100, 3.55))  # fmt: skip
INTERNAL_RESISTANCE = 0.0008  # ohm per cell
STEP = 0.05  # s, integration step of the truth


def ocv(soc: float) -> float:
    soc = min(max(soc, 0.0), 100.0)
    for (s0, v0), (s1, v1) in itertools.pairwise(OCV_CURVE):
        if soc <= s1:
            return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)
    return OCV_CURVE[-1][1]


@dataclass
class Battery:
    cells: int = 16
    capacity_ah: float = 280.0
    soc: float = 60.0
    seed: int = 1
    swing_amps: float = 40.0
    swing_period: float = 120.0
    load_every: float = 20.0  # s between load switches on average; 0: no load steps, only the swing
    cycles: int = 12
    charge_enabled: bool = True
    discharge_enabled: bool = True
    balance_enabled: bool = True
    switch_writes: int = 0  # MOSFET writes the BMS received: what a command flood costs the real firmware
    clock: callable = field(default=time.monotonic, repr=False)
    # truth
    energy_in_wh: float = 0.0
    energy_out_wh: float = 0.0
    current: float = 0.0
    temperatures: list[float] = field(default_factory=list)
    mosfet_temperature: float = 25.0
    _rng: random.Random = field(init=False, repr=False)
    _offsets: list[float] = field(init=False, repr=False)
    _t: float = field(init=False, repr=False)
    _t0: float = field(init=False, repr=False)
    _load_step: float = field(init=False, repr=False, default=0.0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._offsets = [self._rng.uniform(-0.004, 0.004) for _ in range(self.cells)]
        self.temperatures = [22.0 + self._rng.uniform(-1, 1) for _ in range(2)]
        self._t = self._t0 = self.clock()
        self.current = self._current_at(self._t)

    def _current_at(self, t: float) -> float:
        phase = 2 * math.pi * ((t - self._t0) / self.swing_period + self.seed * 0.37)
        amps = self.swing_amps * math.sin(phase) + self._load_step
        if amps > 0 and (not self.charge_enabled or self.soc >= 100):
            return 0.0
        if amps < 0 and (not self.discharge_enabled or self.soc <= 0):
            return 0.0
        return amps

    @property
    def cell_voltages(self) -> list[float]:
        base = ocv(self.soc) + self.current * INTERNAL_RESISTANCE
        return [round(base + offset, 3) for offset in self._offsets]

    @property
    def voltage(self) -> float:
        return sum(self.cell_voltages)

    @property
    def remaining_ah(self) -> float:
        return self.capacity_ah * self.soc / 100

    def switch(self, **enabled: bool) -> None:
        """One write of the BMS's switches (JBD sets both MOSFETs in one), e.g. ``switch(charge=False)``."""
        self.switch_writes += 1
        for name, on in enabled.items():
            setattr(self, f"{name}_enabled", on)

    def advance(self) -> None:
        """Integrate the truth up to now."""
        now = self.clock()
        while self._t < now:
            dt = min(STEP, now - self._t)
            if self.load_every > 0 and self._rng.random() < dt / self.load_every:  # a load switches on or off
                self._load_step = self._rng.choice((0.0, 0.0, -15.0, -30.0, 10.0))
            self.current = self._current_at(self._t)
            power = self.voltage * self.current
            if power > 0:
                self.energy_in_wh += power * dt / 3600
            else:
                self.energy_out_wh -= power * dt / 3600
            self.soc = min(100.0, max(0.0, self.soc + self.current * dt / 3600 / self.capacity_ah * 100))
            heat = abs(self.current) * 0.0005 * dt
            self.temperatures = [t + heat - (t - 22.0) * 0.001 * dt for t in self.temperatures]
            self.mosfet_temperature += heat * 2 - (self.mosfet_temperature - 25.0) * 0.002 * dt
            self._t += dt
