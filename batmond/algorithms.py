"""Charge algorithms: decide when to switch the charge MOSFET. Pure state machines, no I/O, no clock.

``soc STOP% RESUME%`` stops charging at STOP and resumes at RESUME (hysteresis), optionally charging to
100 % every ``full_charge_interval`` days so the BMS can recalibrate its SoC. It acts only on transitions
of its own decision, so a user who switches charging by hand is not overridden on the next sample.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

KIND = "algorithm"  # journal record kind
SOC_RE = re.compile(r"^soc\s+(\d+(?:\.\d+)?)\s*%\s+(\d+(?:\.\d+)?)\s*%$")


class AlgorithmError(ValueError):
    """A malformed algorithm string; the message says what is expected."""


@dataclass(frozen=True, slots=True)
class SocLimits:
    stop: float
    resume: float
    full_charge_interval: float | None = None  # seconds


def parse(text: str, full_charge_days: float | None = None) -> SocLimits:
    match = SOC_RE.match(text.strip().lower())
    if not match:
        raise AlgorithmError(f"unknown algorithm {text!r} (expected e.g. 'soc 90% 80%')")
    stop, resume = float(match.group(1)), float(match.group(2))
    if not 0 < stop <= 100 or not 0 <= resume < 100:
        raise AlgorithmError(f"{text!r}: percentages must be between 0 and 100")
    if resume >= stop:
        raise AlgorithmError(f"{text!r}: the resume level ({resume:g} %) must be below the stop level ({stop:g} %)")
    if full_charge_days is not None and full_charge_days <= 0:
        raise AlgorithmError("full_charge_interval must be a positive number of days")
    return SocLimits(stop, resume, None if full_charge_days is None else full_charge_days * 86400)


@dataclass(slots=True)
class SocState:
    """What survives a restart (kept in the journal)."""

    charging: bool | None = None  # the algorithm's last decision; None: none made yet
    full_charge: bool = False  # charging to 100 % for calibration
    last_full: float | None = None  # wall-clock time of the last full charge

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SocState:
        return cls(
            charging=data.get("charging"),
            full_charge=bool(data.get("full_charge", False)),
            last_full=data.get("last_full"),
        )


def decide(limits: SocLimits, state: SocState, soc: float | None, now: float) -> bool | None:
    """Update ``state`` with a sample's SoC; return True/False to switch charging on/off, None for no change.

    ``now`` is wall-clock time (the interval is days long and must survive restarts).
    """
    if soc is None:
        return None
    if state.last_full is None:
        state.last_full = now  # the calibration interval starts when the algorithm first runs
    if soc >= 100:
        state.last_full = now
        state.full_charge = False
    elif (
        limits.full_charge_interval is not None
        and not state.full_charge
        and now - state.last_full >= limits.full_charge_interval
    ):
        state.full_charge = True
    wanted = state.charging
    if state.full_charge:
        wanted = True
    elif soc >= limits.stop:
        wanted = False
    elif soc <= limits.resume:
        wanted = True
    if wanted is None or wanted == state.charging:  # between the levels at first start: nothing to decide
        return None
    state.charging = wanted
    return wanted
