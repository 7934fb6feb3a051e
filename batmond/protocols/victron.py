"""Victron SmartShunt over its GATT service (firmware >= 2.31, "Bluetooth GATT service" enabled in VictronConnect).

Not a frame stream: every reading is one characteristic of service 65970000-4bda-4c1e-af4b-551c4cf74769, read once
and then notified when it changes. The device needs LE pairing with its PIN and disconnects after a minute
without a write to the keep-alive characteristic.

Facts from Victron's publication of the protocol (community.victronenergy.com questions/93919), the table in
Fabian-Schmidt/esphome-victron_ble components/victron_ble_connect/victron_ble_connect.h, fl4p/batmon-ha
bmslib/models/victron.py, and the VE register list victronenergy/gui-v2 velib/inc/velib/ve_regs.h: the low 16 bits
of each UUID are the VE register (0xED8D voltage, 0x0FFF SoC, …), little-endian, with the register's scale and
"not available" value. Current is positive when charging, as batmond wants it.
"""

from __future__ import annotations

from dataclasses import dataclass

from batmond.protocols.base import BleProfile, Codec, FrameStats, Request
from batmond.sample import DeviceInfo, Sample

KELVIN = 273.15


def uuid(register: int) -> str:
    return f"6597{register:04x}-4bda-4c1e-af4b-551c4cf74769"


SERVICE = uuid(0x0000)
KEEP_ALIVE = uuid(0xFFFF)
KEEP_ALIVE_FOREVER = 0xFFFF  # un16 in ms; this value means "until disconnected"


@dataclass(frozen=True, slots=True)
class Value:
    name: str  # the Sample field it fills (or the kind of the read)
    register: int
    size: int
    signed: bool
    scale: float
    offset: float = 0.0

    @property
    def uuid(self) -> str:
        return uuid(self.register)

    @property
    def not_available(self) -> int:
        """The raw value the shunt sends for "no reading": the largest positive number of the type."""
        bits = 8 * self.size - (1 if self.signed else 0)
        return (1 << bits) - 1

    def decode(self, data: bytes) -> float | None:
        if len(data) != self.size:
            raise ValueError(f"{self.name}: {len(data)} bytes, expected {self.size}")
        raw = int.from_bytes(data, "little", signed=self.signed)
        if raw == self.not_available:
            return None
        return raw * self.scale + self.offset

    def encode(self, value: float | None) -> bytes:
        """The bytes the shunt would send (the simulator uses this)."""
        raw = self.not_available if value is None else round((value - self.offset) / self.scale)
        return raw.to_bytes(self.size, "little", signed=self.signed)


VALUES = (
    Value("voltage", 0xED8D, 2, True, 0.01),
    Value("current", 0xED8C, 4, True, 0.001),
    Value("power", 0xED8E, 2, True, 1.0),
    Value("soc", 0x0FFF, 2, False, 0.01),
    Value("consumed", 0xEEFF, 4, True, 0.1),
    Value("time_to_go", 0x0FFE, 2, False, 1.0),
    Value("temperature", 0xEDEC, 2, False, 0.01, -KELVIN),  # only with the temperature sensor on Aux
)
BY_UUID = {value.uuid: value for value in VALUES}


def keep_alive(milliseconds: int = KEEP_ALIVE_FOREVER) -> bytes:
    return milliseconds.to_bytes(2, "little")


class VictronCodec(Codec):
    type_name = "victron"
    manufacturer = "Victron Energy"
    ble = BleProfile(
        service=SERVICE,
        write=KEEP_ALIVE,
        write_with_response=True,  # the acknowledged keep-alive doubles as a liveness check
        name_prefixes=("SmartShunt",),
        values=tuple(value.uuid for value in VALUES),
    )

    def __init__(self, variant: str | None = None) -> None:
        super().__init__(variant)
        self.info = DeviceInfo(manufacturer="Victron Energy", model="SmartShunt")
        self._stats = FrameStats()
        self._values: dict[str, float | None] = {}
        self._next_refresh = 0

    @property
    def stats(self) -> FrameStats:
        return self._stats

    def feed(self, data: bytes) -> list[str]:
        return []  # nothing arrives as a stream

    def feed_value(self, characteristic: str, value: bytes) -> list[str]:
        spec = BY_UUID.get(characteristic.lower())
        if spec is None:
            return []
        if not value:  # the shunt has no such characteristic (older firmware, Aux not set up)
            self._values[spec.name] = None
            return [spec.name]
        try:
            self._values[spec.name] = spec.decode(value)
        except ValueError:
            self.unplaced(value)  # a size this register does not have: another firmware's layout
            return []
        self._stats.frames += 1
        return [spec.name]

    def connect_requests(self) -> list[Request]:
        return [Request(keep_alive(), None), *(Request(None, value.name, read=value.uuid) for value in VALUES)]

    def poll_requests(self) -> list[Request]:
        # Values are notified on change only; re-reading one per poll catches a subscription the shunt dropped.
        value = VALUES[self._next_refresh]
        self._next_refresh = (self._next_refresh + 1) % len(VALUES)
        return [Request(keep_alive(), None), Request(None, value.name, read=value.uuid)]

    def sample(self) -> Sample | None:
        values = self._values
        if values.get("voltage") is None and values.get("soc") is None:
            return None
        temperature = values.get("temperature")
        return Sample(
            voltage=values.get("voltage"),
            current=values.get("current"),
            power=values.get("power"),
            soc=values.get("soc"),
            consumed=values.get("consumed"),
            time_to_go=values.get("time_to_go"),
            temperatures=() if temperature is None else (temperature,),
        )

    def reset(self) -> None:
        pass  # values are whole readings, never partial
