"""What the simulated batteries really did: every simulated BMS instrumented to keep a snapshot of its truth.

Every time a battery moves (each request its BMS answers, each frame it streams) the snapshot holds its values,
the energy it really absorbed and delivered, and whether a frame built from it could reach the daemon at all.
"""

from __future__ import annotations

import bisect
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from batmond.sim.battery import Battery
from batmond.sim.devices import SimulatedBms
from batmond.sim.serial import PtyPort, SerialSimulatedBms


@dataclass(frozen=True, slots=True)
class Snapshot:
    t: float
    energy_in: float  # Wh
    energy_out: float
    voltage: float
    current: float
    soc: float
    charge: float
    cells: tuple[float, ...]
    temperatures: tuple[float, ...]  # the pack's sensors and the MOSFET's
    switches: tuple[bool, bool, bool]  # charge, discharge, balance
    deliverable: bool  # a frame built now can reach the daemon (connected to it, not silenced)


@dataclass
class Target:
    """One simulated BMS, its truth and what the harness did to it."""

    alias: str
    type: str
    battery: Battery
    bms: SimulatedBms | SerialSimulatedBms
    port: PtyPort | None = None  # wired
    address: str = ""
    proxied: bool = False  # read through the simulated ESPHome proxy
    snapshots: list[Snapshot] = field(default_factory=list)
    hci_client: Callable[[], object | None] = lambda: None  # the daemon's HCI connection to the simulator
    adapter_frozen: Callable[[], bool] = lambda: False  # the daemon's controller hangs: nothing reaches it
    _link: object | None = None  # the BMS's link, and the HCI client it was made through
    _link_client: object | None = None

    @property
    def wired(self) -> bool:
        return self.port is not None

    def deliverable(self) -> bool:
        if isinstance(self.bms, SerialSimulatedBms):
            assert self.port is not None
            return self.port.plugged and not self.bms.silent and not self.bms.garbage
        # A link made through an HCI client that has gone (a killed daemon, a controller the daemon threw away)
        # lingers on the simulator's side until the next client resets the controller: nothing on it arrives.
        connection, client = self.bms.connection, self.hci_client()
        if connection is not self._link:
            self._link, self._link_client = connection, client
        alive = connection is not None and client is not None and self._link_client is client
        return alive and not self.bms.silent and not self.adapter_frozen()

    def snapshot(self) -> None:
        b = self.battery
        self.snapshots.append(Snapshot(
            time.monotonic(), b.energy_in_wh, b.energy_out_wh, b.voltage, b.current, b.soc, b.remaining_ah,
            tuple(b.cell_voltages), (*b.temperatures, b.mosfet_temperature),
            (b.charge_enabled, b.discharge_enabled, b.balance_enabled), self.deliverable(),
        ))  # fmt: skip

    def instrument(self) -> None:
        """Keep a snapshot each time the battery moves: the simulators encode frames right after."""
        advance = self.battery.advance

        def recorded() -> None:
            advance()
            self.snapshot()

        self.battery.advance = recorded
        self.snapshot()
        # A frame about to be corrupted carries nothing the daemon can use: the snapshot it was built from is
        # not a sample the daemon could take.
        bms = self.bms
        if isinstance(bms, SerialSimulatedBms):
            faulty = bms._faulty

            def corrupted_answer(answer: bytes) -> bytes:
                if bms.corrupt_next > 0 and not bms.garbage:
                    self.spoil()
                return faulty(answer)

            bms._faulty = corrupted_answer
        else:
            send = bms.send

            def corrupted_send(frame: bytes) -> None:
                if bms.corrupt_next > 0 and not bms.silent and bms.connection is not None:
                    self.spoil()
                send(frame)

            bms.send = corrupted_send

    def spoil(self) -> None:
        if self.snapshots:
            self.snapshots[-1] = dataclasses.replace(self.snapshots[-1], deliverable=False)

    def energy_at(self, t: float) -> tuple[float, float]:
        """Energy in and out (Wh) at ``t``, linear between snapshots."""
        snaps = self.snapshots
        i = bisect.bisect_left(snaps, t, key=lambda s: s.t)
        if i == 0:
            return snaps[0].energy_in, snaps[0].energy_out
        if i >= len(snaps):
            return snaps[-1].energy_in, snaps[-1].energy_out
        a, b = snaps[i - 1], snaps[i]
        f = (t - a.t) / (b.t - a.t) if b.t > a.t else 1.0
        return a.energy_in + f * (b.energy_in - a.energy_in), a.energy_out + f * (b.energy_out - a.energy_out)

    def between(self, a: float, b: float) -> tuple[float, float]:
        ia, oa = self.energy_at(a)
        ib, ob = self.energy_at(b)
        return ib - ia, ob - oa
