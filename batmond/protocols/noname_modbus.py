"""A no-name Chinese BMS that speaks Modbus RTU (slave 0x01) over the Nordic UART service.

Facts from the captures its owner posted in fl4p/batmon-ha issue #131 (three read requests and their
answers) and batmon-ha's models/noname_modbus.py. Read-only: no write registers are known. Three reads per
sample, all u16 big-endian holding registers:

- 0x231C × 4: cell count, temperature-sensor count, two unknown words;
- 0xD000 × 38: 32 cell slots in mV (unused slots read 0xEE49), then max/min cell mV, their indexes, the
  delta in mV and the pack voltage in 10 mV;
- 0xD026 × 25: temperature ((raw − 400) / 10 °C), charge and discharge current (0.1 A each, both
  positive), SoC and SoH in %, remaining / full / design capacity and the cycle count.

The capacities are in 10 mAh: the reporter read 0x26F1 as 99.69 Ah and 0x2710 as 100.0 Ah on a 4S pack
(batmon-ha divides by 10 instead, which would make that pack 1000 Ah).
"""

from __future__ import annotations

from batmond.protocols import modbus
from batmond.protocols.base import BleProfile, Codec, Request
from batmond.sample import DeviceInfo, Sample

SLAVE = 0x01
INFO_BLOCK = (0x231C, 4)
CELLS_BLOCK = (0xD000, 38)
STATUS_BLOCK = (0xD026, 25)
# Answers carry no register address: the byte count tells which block an answer is.
READ_KINDS = {2 * INFO_BLOCK[1]: "info", 2 * CELLS_BLOCK[1]: "cells", 2 * STATUS_BLOCK[1]: "status"}

# Info block.
CELL_COUNT, TEMPERATURE_COUNT = 0, 1
# Cells block.
CELL_SLOTS = 32
PACK_VOLTAGE = 37  # 10 mV
# Status block.
TEMPERATURE = 0  # 0.1 °C with an offset of 400; 0 = no sensor
CHARGE_CURRENT, DISCHARGE_CURRENT = 12, 13  # 0.1 A
SOC, SOH = 14, 15  # %
REMAINING, FULL_CAPACITY = 16, 17  # 10 mAh
CYCLES = 19
TEMPERATURE_OFFSET = 400


def decode(info: tuple[int, ...], cells: tuple[int, ...], status: tuple[int, ...]) -> Sample | None:
    """One sample from the three blocks; ``None`` when the counts are impossible (a garbled answer)."""
    cell_count = info[CELL_COUNT]
    if cell_count > CELL_SLOTS:
        return None
    voltage = cells[PACK_VOLTAGE] / 100
    current = (status[CHARGE_CURRENT] - status[DISCHARGE_CURRENT]) / 10
    # Only the first sensor's register is known; further sensors are not read (see README limits).
    raw_temperature = status[TEMPERATURE]
    temperatures = ()
    if info[TEMPERATURE_COUNT] > 0 and raw_temperature != 0:
        temperatures = ((raw_temperature - TEMPERATURE_OFFSET) / 10,)
    return Sample(
        voltage=voltage,
        current=current,
        power=voltage * current,
        soc=float(status[SOC]),
        soh=float(status[SOH]),
        charge=status[REMAINING] / 100,
        capacity=status[FULL_CAPACITY] / 100,
        cycles=status[CYCLES],
        cell_voltages=tuple(mv / 1000 for mv in cells[:cell_count]),
        temperatures=temperatures,
    )


def read(block: tuple[int, int]) -> bytes:
    return modbus.read_request(SLAVE, *block)


class NonameModbusCodec(Codec):
    type_name = "noname_modbus"
    manufacturer = "no-name"
    ble = BleProfile(
        service="6e400001-b5a3-f393-e0a9-e50e24dcca9e",
        notify="6e400003-b5a3-f393-e0a9-e50e24dcca9e",
        write="6e400002-b5a3-f393-e0a9-e50e24dcca9e",
    )

    def __init__(self, variant: str | None = None) -> None:
        super().__init__(variant)
        self._framer = modbus.RtuFramer(SLAVE, frozenset(READ_KINDS))
        self._blocks: dict[str, tuple[int, ...]] = {}
        self._sample: Sample | None = None
        self.info = DeviceInfo()

    def feed(self, data: bytes) -> list[str]:
        kinds = []
        for frame in self._framer.feed(data):
            if frame.refused:
                kinds += [f"{kind}-error" for kind in READ_KINDS.values()]
                continue
            kind = READ_KINDS.get(len(frame.data))
            if kind is None:
                self.unplaced(frame.raw)
                continue
            self._blocks[kind] = modbus.words(frame.data)
            if kind == "status" and len(self._blocks) == len(READ_KINDS):
                self._sample = decode(self._blocks["info"], self._blocks["cells"], self._blocks["status"])
                self._blocks.clear()
                if self._sample is None:
                    self._framer.stats.bad_checksum += 1
                    continue
            kinds.append(kind)
        return kinds

    def poll_requests(self) -> list[Request]:
        return [
            Request(read(INFO_BLOCK), "info"),
            Request(read(CELLS_BLOCK), "cells"),
            Request(read(STATUS_BLOCK), "status"),
        ]

    def sample(self) -> Sample | None:
        sample, self._sample = self._sample, None
        return sample

    def reset(self) -> None:
        self._framer.reset()
        self._blocks.clear()
        self._sample = None
