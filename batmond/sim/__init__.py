"""The simulator: simulated BMS on a virtual radio, reached by the daemon through a real HCI transport.

The daemon's controller sits behind a server transport (``tcp-server:127.0.0.1:PORT``); the daemon opens
``tcp-client:127.0.0.1:PORT`` exactly as it would open ``usb:0``, and everything above the HCI packets is the
production code path.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from dataclasses import dataclass

from bumble.link import LocalLink

from batmond.config import Config, DeviceConfig
from batmond.sim.battery import Battery
from batmond.sim.devices import SimulatedBms, simulator_types
from batmond.sim.hci_server import HciServer
from batmond.sim.link import SimController

log = logging.getLogger("batmond.sim")


class SimulatorError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class SimSpec:
    type: str
    name: str  # advertised name
    address: str  # public MAC
    cells: int = 16
    capacity_ah: float = 280.0
    soc: float = 60.0
    variant: str | None = None  # a firmware variant of the type (``p81`` for daly2)


def address_for(name: str) -> str:
    """A stable MAC for a simulated BMS configured by name only."""
    digest = hashlib.sha256(name.encode()).digest()[:6]
    return ":".join(f"{b:02X}" for b in digest)


def server_transport(client_spec: str) -> str:
    """The simulator's side of the daemon's configured transport."""
    for client, server in (("tcp-client:", "tcp-server:"), ("unix:", "unix-server:"), ("unix-client:", "unix-server:")):
        if client_spec.startswith(client):
            return server + client_spec[len(client) :]
    raise SimulatorError(
        f"the simulator needs [bluetooth] transport = 'tcp-client:127.0.0.1:PORT' or 'unix:PATH', not {client_spec!r}"
    )


def specs_from_config(config: Config) -> list[SimSpec]:
    specs = []
    for device in config.devices:
        if device.is_serial:
            continue
        specs.append(spec_for(device))
    return specs


def spec_for(device: DeviceConfig) -> SimSpec:
    name = device.alias if device.is_mac else device.address
    address = device.address.upper() if device.is_mac else address_for(device.address)
    return SimSpec(type=device.type, name=name, address=address)


class Simulator:
    def __init__(self, host_transport: str) -> None:
        self.host_transport = host_transport
        self.link = LocalLink()
        self.devices: dict[str, SimulatedBms] = {}
        self.adapter: SimController | None = None
        self._server: HciServer | None = None

    async def start(self, specs: list[SimSpec]) -> None:
        known = simulator_types()
        for spec in specs:
            if spec.type not in known:
                raise SimulatorError(f"no simulator for BMS type {spec.type!r} (have: {', '.join(sorted(known))})")
        self._server = HciServer(self.host_transport)
        self.adapter = SimController("batmond-adapter", None, self._server, self.link)
        self._server.attach(self.adapter)
        await self._server.start()
        for spec in specs:
            await self.add(spec)
        log.info("simulator: %d BMS on %s", len(self.devices), self.host_transport)

    async def add(self, spec: SimSpec) -> SimulatedBms:
        variant = spec.variant or {"jk_24s": "24s", "jk_32s": "32s"}.get(spec.type)
        battery = Battery(cells=spec.cells, capacity_ah=spec.capacity_ah, soc=spec.soc,
                          seed=zlib.crc32(spec.address.encode()))  # fmt: skip
        bms = simulator_types()[spec.type](spec.name, spec.address, battery, variant)
        await bms.start(self.link)
        self.devices[spec.name] = bms
        return bms

    def freeze_adapter(self, frozen: bool = True) -> None:
        """The daemon's controller stops answering (a hung USB dongle)."""
        assert self.adapter is not None
        self.adapter.frozen = frozen

    def unplug_adapter(self) -> None:
        """Close the daemon's HCI connection, as pulling the USB dongle would."""
        assert self._server is not None
        self._server.drop_client()

    async def stop(self) -> None:
        devices, self.devices = list(self.devices.values()), {}
        for bms in devices:
            await bms.stop()
        if self._server is not None:
            await self._server.close()
            self._server = None
