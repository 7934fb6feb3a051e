"""Physical limits of what batmond reads, applied to every sample a codec assembles.

Most BMS guard their frames with an 8- or 16-bit sum, which lets a corrupted frame (a lost or merged notification,
noise on RS485) through about once in 256 or 65536 tries, and tests/test_fuzz.py finds such frames for every
protocol. A value no battery can have is the mark of one: the whole sample goes, since the in-range values of a
garbled frame are no better. Temperatures and the state of health are the exception: an unplugged or broken sensor
reads far out of range on a healthy BMS, and a BMS that does not estimate SoH may fill in anything, so only that
reading is left out.
"""

from __future__ import annotations

import dataclasses

from batmond.sample import Sample

LIMITS: dict[str, tuple[float, float]] = {
    "voltage": (0.0, 1000.0),  # V
    "current": (-2000.0, 2000.0),  # A
    "power": (-2_000_000.0, 2_000_000.0),  # W: the two above multiplied
    "soc": (0.0, 100.0),
    "charge": (0.0, 100_000.0),  # Ah
    "capacity": (0.0, 100_000.0),
    "cycles": (0, float("inf")),
}
CELL_VOLTS = (0.0, 5.0)
MAX_CELLS = 64
TEMPERATURE = (-60.0, 150.0)  # °C
# Above 100 % is real: a new LiTime pack reports 104 (tests/captures/litime.py STATUS_4S_COLD).
SOH = (0.0, 150.0)


def _within(value: float, limits: tuple[float, float]) -> bool:
    return limits[0] <= value <= limits[1]  # False for NaN too


def _kept(value: float | None, limits: tuple[float, float]) -> float | None:
    return value if value is None or _within(value, limits) else None


def plausible(sample: Sample) -> Sample | None:
    """``sample`` without out-of-range temperatures and SoH, or ``None`` when any other value is impossible."""
    for name, limits in LIMITS.items():
        value = getattr(sample, name)
        if value is not None and not _within(value, limits):
            return None
    cells = sample.cell_voltages
    if len(cells) > MAX_CELLS or not all(_within(v, CELL_VOLTS) for v in cells):
        return None
    temperatures = tuple(t for t in sample.temperatures if _within(t, TEMPERATURE))
    mosfet, soh = _kept(sample.mosfet_temperature, TEMPERATURE), _kept(sample.soh, SOH)
    if temperatures == sample.temperatures and mosfet == sample.mosfet_temperature and soh == sample.soh:
        return sample
    return dataclasses.replace(sample, temperatures=temperatures, mosfet_temperature=mosfet, soh=soh)
