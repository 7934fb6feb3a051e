"""A live table of what the daemon reads, for `batmond demo` (and anyone watching a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from batmond.config import DeviceConfig
from batmond.hub import Reading
from batmond.sinks import Sink

COLUMNS = ("battery", "type", "V", "A", "W", "SoC %", "cell min", "cell max", "temps °C", "kWh in", "kWh out", "state")
WIDTHS = (12, 7, 8, 8, 8, 6, 9, 9, 14, 8, 8, 12)


def _row(cells) -> str:
    # Names left-aligned, numbers right-aligned.
    return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, WIDTHS, strict=True)))


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


class ConsoleTable(Sink):
    def __init__(self, out: TextIO = sys.stdout, redraw: bool | None = None) -> None:
        self.out = out
        self.redraw = out.isatty() if redraw is None else redraw
        self.rows: dict[str, list[str]] = {}
        self.online: dict[str, bool] = {}
        self._printed_lines = 0
        self._since_draw: set[str] = set()

    def publish(self, reading: Reading) -> None:
        s = reading.sample
        stats = s.cell_stats
        switches = s.switches
        state = "online"
        if switches and not all(switches.get(k, True) for k in ("charge", "discharge")):
            off = [k for k in ("charge", "discharge") if not switches.get(k, True)]
            state = "no " + "/".join(off)
        self.rows[reading.device.alias] = [
            reading.device.alias,
            reading.device.type,
            _fmt(s.voltage, 2),
            _fmt(s.current, 2),
            _fmt(s.power, 0),
            _fmt(s.soc, 0),
            _fmt(stats.minimum if stats else None, 3),
            _fmt(stats.maximum if stats else None, 3),
            " ".join(f"{t:.1f}" for t in s.temperatures) or "-",
            _fmt(reading.meters.energy_charge_kwh if reading.meters else None, 3),
            _fmt(reading.meters.energy_discharge_kwh if reading.meters else None, 3),
            state,
        ]
        # Without a terminal to redraw in, print one table per publish round rather than per battery.
        if self.redraw or reading.device.alias in self._since_draw:
            self.draw()
        self._since_draw.add(reading.device.alias)

    def availability(self, device: DeviceConfig, online: bool) -> None:
        self.online[device.alias] = online
        if not online and device.alias in self.rows:
            self.rows[device.alias][-1] = "OFFLINE"
        self.draw()

    def draw(self) -> None:
        self._since_draw.clear()
        lines = [time.strftime("%H:%M:%S") + "  batmond demo (Ctrl-C stops)"]
        lines += [_row(COLUMNS), *(_row(row) for row in self.rows.values())]
        if self.redraw and self._printed_lines:
            self.out.write(f"\x1b[{self._printed_lines}F\x1b[J")
        self.out.write("\n".join(lines) + "\n")
        if not self.redraw:
            self.out.write("\n")
        self.out.flush()
        self._printed_lines = len(lines)
