"""Battery groups: parallel packs published as one battery. Pure aggregation, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from batmond.sample import Sample


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """A ``[[group]]``; it quacks like a DeviceConfig where sinks and meters need an identity."""

    name: str
    members: tuple[str, ...]
    algorithm: str | None = None
    full_charge_interval: float | None = None  # days

    @property
    def alias(self) -> str:
        return self.name

    @property
    def stable_id(self) -> str:
        return f"group_{self.name.lower()}"

    @property
    def address(self) -> str:
        return f"group:{self.name}"

    @property
    def type(self) -> str:
        return "group"

    is_mac = False
    is_serial = False
    read_only = False


def _sum(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _weighted(values: list[float | None], weights: list[float | None]) -> float | None:
    """Capacity-weighted mean; equal weights when a member's capacity is unknown."""
    pairs = [(v, w) for v, w in zip(values, weights, strict=True) if v is not None]
    if not pairs:
        return None
    if all(w is not None and w > 0 for _, w in pairs):
        total = sum(w for _, w in pairs)  # type: ignore[misc]
        return sum(v * w for v, w in pairs) / total  # type: ignore[operator]
    return sum(v for v, _ in pairs) / len(pairs)


def aggregate(samples: list[Sample]) -> Sample:
    """One sample for packs in parallel: mean voltage; summed current, power, charge and capacity;
    capacity-weighted SoC/SoH; every member's cells and temperatures; a switch is on only if it is on in
    every member that reports it."""
    if not samples:
        raise ValueError("a group needs at least one member sample")
    capacities = [s.capacity for s in samples]
    voltages = [s.voltage for s in samples if s.voltage is not None]
    switch_names = {name for s in samples for name in s.switches}
    mosfet = [s.mosfet_temperature for s in samples if s.mosfet_temperature is not None]
    cycles = [s.cycles for s in samples if s.cycles is not None]
    alarms = [s.alarm_code for s in samples if s.alarm_code is not None]
    return Sample(
        voltage=sum(voltages) / len(voltages) if voltages else None,
        current=_sum([s.current for s in samples]),
        power=_sum([s.power for s in samples]),
        soc=_weighted([s.soc for s in samples], capacities),
        soh=_weighted([s.soh for s in samples], capacities),
        charge=_sum([s.charge for s in samples]),
        capacity=_sum(capacities),
        cycles=max(cycles) if cycles else None,
        cell_voltages=tuple(v for s in samples for v in s.cell_voltages),
        temperatures=tuple(t for s in samples for t in s.temperatures),
        mosfet_temperature=max(mosfet) if mosfet else None,
        balance_current=_sum([s.balance_current for s in samples]),
        switches={name: all(s.switches.get(name, True) for s in samples) for name in sorted(switch_names)},
        alarm_code=max(alarms) if alarms else None,  # any member's alarm shows; 0 only when all are clear
    )
