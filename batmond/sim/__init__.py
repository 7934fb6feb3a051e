"""The simulator: simulated BMS on a virtual radio, reached by the daemon through a real HCI transport.

The daemon's controller sits behind a server transport (``tcp-server:127.0.0.1:PORT``); the daemon opens
``tcp-client:127.0.0.1:PORT`` exactly as it would open ``usb:0``, and everything above the HCI packets is the
production code path. Several adapters (each behind its own server, with its own connection slots and its own
idea of which BMS it hears at what RSSI) share one virtual radio with the BMS.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from batmond.config import DEFAULT_PROXY_CONNECTIONS, Config, DeviceConfig
from batmond.sim.battery import Battery
from batmond.sim.devices import SimulatedBms, simulator_types
from batmond.sim.hci_server import HciServer
from batmond.sim.link import DEFAULT_SLOTS, SimController, SimLink

if TYPE_CHECKING:
    from batmond.sim.esphome_proxy import EsphomeProxySim

log = logging.getLogger("batmond.sim")
FIRST_ADAPTER = "hci0"


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
    """Simulated BMS and the adapters the daemon drives, all on one virtual radio.

    ``Simulator(transport)`` has one adapter, "hci0", with as many connection slots as ``slots`` (None: no
    limit, as bumble's controller, so the rigs that read a dozen BMS through one adapter keep working);
    :meth:`add_adapter` adds more, each behind its own HCI server. Construct it inside the event loop (bumble's
    controllers need one).
    """

    def __init__(self, host_transport: str | None = None, slots: int | None = None) -> None:
        self.link = SimLink()
        self.devices: dict[str, SimulatedBms] = {}
        self.adapters: dict[str, SimController] = {}
        self.servers: dict[str, HciServer] = {}
        self.proxies: list[EsphomeProxySim] = []
        self._started = False
        if host_transport is not None:
            self._new_adapter(FIRST_ADAPTER, host_transport, slots, None)

    @property
    def adapter(self) -> SimController | None:
        """The first adapter."""
        return next(iter(self.adapters.values()), None)

    @property
    def host_transport(self) -> str:
        """The first adapter's server transport."""
        return self.servers[self._name(None)].spec

    @property
    def _server(self) -> HciServer | None:  # tests/soak/rig.py peeks at the first adapter's client
        return next(iter(self.servers.values()), None)

    async def start(self, specs: list[SimSpec]) -> None:
        known = simulator_types()
        for spec in specs:
            if spec.type not in known:
                raise SimulatorError(f"no simulator for BMS type {spec.type!r} (have: {', '.join(sorted(known))})")
        for server in self.servers.values():
            await server.start()
        self._started = True
        for spec in specs:
            await self.add(spec)
        log.info("simulator: %d BMS on %s", len(self.devices), ", ".join(s.spec for s in self.servers.values()))

    async def add_adapter(self, name: str, host_transport: str, slots: int | None = DEFAULT_SLOTS,
                          hears: dict[str, int] | None = None) -> SimController:  # fmt: skip
        """Another adapter on the same radio, served on ``host_transport`` (at once if already started)."""
        adapter = self._new_adapter(name, host_transport, slots, hears)
        if self._started:
            await self.servers[name].start()
        return adapter

    async def add_proxy(self, name: str, host: str = "127.0.0.1", port: int = 0, encryption_key: str | None = None,
                        slots: int = DEFAULT_PROXY_CONNECTIONS,
                        hears: dict[str, int] | None = None) -> EsphomeProxySim:  # fmt: skip
        """A simulated ESPHome Bluetooth proxy on this radio, serving the native API on ``host:port`` (0: any)."""
        try:
            from batmond.sim.esphome_proxy import EsphomeProxySim
        except ImportError:
            raise SimulatorError(
                "simulated ESPHome proxies need the esphome extra: pip install 'batmond[esphome]'"
            ) from None
        proxy = EsphomeProxySim(name, self, host, port, encryption_key, slots, hears)
        await proxy.start()
        self.proxies.append(proxy)
        return proxy

    def _new_adapter(self, name: str, host_transport: str, slots: int | None,
                     hears: dict[str, int] | None) -> SimController:  # fmt: skip
        if name in self.adapters:
            raise SimulatorError(f"there is already an adapter {name!r}")
        server = HciServer(host_transport)
        # Real dongles have distinct public addresses; a stable one per name keeps restarts alike.
        adapter = SimController(f"adapter-{name}", None, server, self.link, address_for(f"adapter {name}"),
                                central=True, slots=slots, hears=hears)  # fmt: skip
        server.attach(adapter)
        self.adapters[name] = adapter
        self.servers[name] = server
        return adapter

    async def add(self, spec: SimSpec) -> SimulatedBms:
        variant = spec.variant or {"jk_24s": "24s", "jk_32s": "32s"}.get(spec.type)
        battery = Battery(cells=spec.cells, capacity_ah=spec.capacity_ah, soc=spec.soc,
                          seed=zlib.crc32(spec.address.encode()))  # fmt: skip
        bms = simulator_types()[spec.type](spec.name, spec.address, battery, variant)
        await bms.start(self.link)
        self.devices[spec.name] = bms
        return bms

    def _name(self, name: str | None) -> str:
        if name is None:
            name = next(iter(self.adapters), None)
        if name not in self.adapters:
            raise SimulatorError(f"no adapter {name!r} (have: {', '.join(self.adapters) or 'none'})")
        return name

    def freeze_adapter(self, frozen: bool = True, name: str | None = None) -> None:
        """The controller stops answering (a hung USB dongle); None: the first adapter."""
        self.adapters[self._name(name)].frozen = frozen

    def unplug_adapter(self, name: str | None = None) -> None:
        """Close the daemon's HCI connection, as pulling the USB dongle would; it may reconnect at once."""
        self.servers[self._name(name)].drop_client()

    async def kill_adapter(self, name: str | None = None) -> None:
        """The dongle is gone for good: its links time out, it leaves the radio and refuses HCI connections."""
        name = self._name(name)
        adapter = self.adapters[name]
        adapter.power_off()
        if adapter in self.link.controllers:
            self.link.remove_controller(adapter)
        await self.servers[name].close()

    async def revive_adapter(self, name: str | None = None) -> None:
        """A killed adapter is plugged in again: on the radio and serving HCI (reset by the daemon's HCI Reset)."""
        name = self._name(name)
        self.link.add_controller(self.adapters[name])
        server = self.servers[name]
        if self._started and not server.serving:
            await server.start()

    async def stop(self) -> None:
        proxies, self.proxies = self.proxies, []
        for proxy in proxies:
            await proxy.stop()
        devices, self.devices = list(self.devices.values()), {}
        for bms in devices:
            await bms.stop()
        for server in self.servers.values():
            await server.close()
        self._started = False


def adapters_from_config(config: Config) -> list[tuple[str, str, int]]:
    """(name, daemon transport, connection slots) of every adapter the config names."""
    bluetooth = config.bluetooth
    return [(adapter.name, adapter.transport, adapter.max_connections or bluetooth.max_connections)
            for adapter in bluetooth.adapters]  # fmt: skip
