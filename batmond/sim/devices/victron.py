"""Simulated Victron SmartShunt: the GATT value service, readable only after pairing with its fixed PIN.

Values are notified when they change (checked twice a second), as the real shunt does, and the link is dropped
after a minute without a keep-alive write.
"""

from __future__ import annotations

import asyncio
import time

from bumble.core import UUID
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.pairing import PairingConfig, PairingDelegate

from batmond.protocols import victron
from batmond.sim.devices import SimulatedBms
from batmond.transports.ble import Passkey

NOTIFY_PERIOD = 0.5  # s
KEEP_ALIVE_TIMEOUT = 60.0  # s: the shunt disconnects a client that stopped writing the keep-alive
SECURED = Characteristic.READABLE | Characteristic.READ_REQUIRES_AUTHENTICATION


class ShuntDisplay(PairingDelegate):
    """The shunt's side of passkey pairing: it "displays" its PIN, which the central must type."""

    def __init__(self, shunt: SimulatedVictron) -> None:
        super().__init__(io_capability=PairingDelegate.IoCapability.DISPLAY_OUTPUT_ONLY)
        self.shunt = shunt

    async def generate_passkey(self) -> int:
        self.shunt.pairings += 1
        return Passkey(self.shunt.pin)


class SimulatedVictron(SimulatedBms):
    types = ("victron",)
    profile = victron.VictronCodec.ble
    pin = "000000"  # VictronConnect's factory default

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pairings = 0  # passkey pairings started (a re-encryption with stored keys is not one)
        self.keep_alives: list[int] = []
        self.keep_alive_timeout = KEEP_ALIVE_TIMEOUT
        self.value_chars: dict[str, Characteristic] = {}
        self._sent: dict[str, bytes] = {}
        self._last_keep_alive = 0.0

    async def start(self, link) -> None:
        await super().start(link)
        assert self.device is not None
        self.device.pairing_config_factory = lambda connection: PairingConfig(
            sc=True, mitm=True, bonding=True, delegate=ShuntDisplay(self),
            # Like a real shunt, its identity is the (static random) address it advertises with.
            identity_address_type=PairingConfig.AddressType.RANDOM,
        )  # fmt: skip

    def services(self) -> list[Service]:
        chars = []
        for spec in victron.VALUES:
            value = CharacteristicValue(read=lambda connection, s=spec: self.encoded(s))
            char = Characteristic(
                UUID(spec.uuid), Characteristic.Properties.READ | Characteristic.Properties.NOTIFY, SECURED, value
            )
            self.value_chars[spec.uuid] = char
            chars.append(char)
        keep_alive = CharacteristicValue(read=lambda connection: b"", write=self._on_keep_alive)
        chars.append(
            Characteristic(
                UUID(victron.KEEP_ALIVE),
                Characteristic.Properties.READ | Characteristic.Properties.WRITE,
                SECURED | Characteristic.WRITEABLE | Characteristic.WRITE_REQUIRES_AUTHENTICATION,
                keep_alive,
            )
        )
        return [Service(UUID(victron.SERVICE), chars)]

    def reading(self, name: str) -> float | None:
        b = self.battery
        if name == "voltage":
            return b.voltage
        if name == "current":
            return b.current
        if name == "power":
            return b.voltage * b.current
        if name == "soc":
            return b.soc
        if name == "consumed":
            return b.remaining_ah - b.capacity_ah
        if name == "time_to_go":
            # "---" while charging, and for a load so small that the minutes do not fit the un16 register
            minutes = b.remaining_ah / -b.current * 60 if b.current < -0.05 else None
            return minutes if minutes is not None and minutes < 0xFFFE else None
        if name == "temperature":
            return b.temperatures[0]
        raise KeyError(name)

    def encoded(self, spec: victron.Value) -> bytes:
        return spec.encode(self.reading(spec.name))

    def _on_keep_alive(self, connection, value: bytes) -> None:
        self.keep_alives.append(int.from_bytes(bytes(value)[:2], "little"))
        del self.keep_alives[:-100]
        self._last_keep_alive = time.monotonic()

    def answer(self, request: bytes) -> list[bytes]:
        return []  # no request/answer frames: everything is a characteristic

    def on_connect(self) -> None:
        # The battery lives on between connections: bring it up to now before the central reads anything (with
        # short connections, a BMS taking turns for a slot, the notify loop below never gets to advance it).
        self.battery.advance()
        self._sent.clear()
        self._last_keep_alive = time.monotonic()
        self.spawn(self._notify_changes(self.connection))

    async def _notify_changes(self, connection) -> None:
        while self.connection is connection and connection is not None and self.device is not None:
            await asyncio.sleep(NOTIFY_PERIOD)
            if self.connection is not connection:
                return
            if time.monotonic() - self._last_keep_alive > self.keep_alive_timeout:
                await connection.disconnect()
                return
            self.battery.advance()
            if self.silent:
                continue
            for spec in victron.VALUES:
                data = self.encoded(spec)
                if self._sent.get(spec.uuid) != data:
                    self._sent[spec.uuid] = data
                    self.notifications += 1
                    try:
                        await self.device.notify_subscriber(connection, self.value_chars[spec.uuid], data)
                    except Exception:  # the link went away under us; the next connection starts afresh
                        return
