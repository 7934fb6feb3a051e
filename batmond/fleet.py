"""Several Bluetooth adapters and which BMS each one serves: placement by RSSI, connection slots, rotation.

Every adapter is a :class:`~batmond.transports.ble.BleAdapter` with its own recovery ladder; the fleet only decides
where a BMS connects. A BMS pinned to an adapter (``bluetooth_adapter``) connects there; the others go to the adapter
that heard them best among those with a free slot, found by scanning on every adapter at once. A BMS stays where it
is until its link ends; then it is placed again, so it moves when its adapter dies or stops hearing it.

An adapter holds at most ``max_connections`` links. While its BMS fit, every one keeps its link ("resident"). When
more BMS are placed on it than it has slots, one slot is kept for rotation: the BMS beyond the residents take turns
on it in order (connect, read one sample, disconnect), so each rotating BMS is sampled every
``rotating BMS on the adapter x (connect and read time)`` seconds, and never more often than the sample period.
A controller that refuses a connect with Connection Limit Exceeded teaches the fleet its real slot count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from batmond.config import DeviceConfig
from batmond.protocols.base import BleProfile
from batmond.transports.base import LinkError
from batmond.transports.ble import MAC_LIKE, AdapterUnavailable, BleAdapter, BleLink, SlotsExhausted
from batmond.transports.recovery import AdapterDead, Ladder

log = logging.getLogger("batmond.ble")

PLACEMENT_GRACE = 2.0  # s the other adapters get to hear a BMS after the first one did, before it is placed
FAILURES_BEFORE_MOVING = 2  # failed connects on one adapter before a BMS is tried on the next one that hears it
DEAD_ADAPTER_RETRY = 300.0  # s before an adapter that climbed its whole ladder is tried again (others still up)
# s to wait for a slot: a BMS asked to take turns gives its link up after one more sample, which may need a whole
# connect (resolve, connect, discovery) and a poll with its answer timeouts first.
SLOT_WAIT = 30.0
AWAY_WAIT = 30.0  # s a BMS waits for the radios that heard it, when they are down, before looking on the others


@dataclass(eq=False)
class Radio:
    """One adapter's share of the fleet: its slots, the BMS holding one, the BMS taking turns on the last one."""

    adapter: BleAdapter
    slots: int
    residents: dict[str, BleLink | None] = field(default_factory=dict)  # alias -> its link (None: connecting)
    rotating: set[str] = field(default_factory=set)
    rotation: asyncio.Lock = field(default_factory=asyncio.Lock)
    dead: bool = False  # climbed its whole recovery ladder; tried again after DEAD_ADAPTER_RETRY
    asked: set[str] = field(default_factory=set)  # BMS it was asked to find: one that is not heard is not there
    connecting: int = 0  # connects in flight: their slots are taken before their links exist

    @property
    def name(self) -> str:
        return self.adapter.name

    @property
    def up(self) -> bool:
        return self.adapter.ready.is_set()

    def room_for(self, alias: str) -> bool:
        """Whether ``alias`` may hold a link of its own here (a slot stays free for rotation when others rotate)."""
        reserved = 1 if self.rotating - {alias} else 0
        return len(self.residents.keys() - {alias}) < self.slots - reserved


class Fleet:
    def __init__(self, adapters: list[tuple[BleAdapter, int]], connect_timeout: float) -> None:
        self.radios = {adapter.name: Radio(adapter, slots) for adapter, slots in adapters}
        self.connect_timeout = connect_timeout
        self.placed: dict[str, str] = {}  # alias -> the adapter serving it now
        self._failures: dict[tuple[str, str], int] = {}  # (alias, adapter) -> connects failed in a row
        self._started = time.monotonic()

    @property
    def adapters(self) -> list[BleAdapter]:
        return [radio.adapter for radio in self.radios.values()]

    async def run(self) -> None:
        """Keep every adapter open. One that climbed its whole recovery ladder is retried later while another is
        up; when none is, :class:`AdapterDead` ends the daemon and systemd restarts it."""
        await asyncio.gather(*(self._keep(radio) for radio in self.radios.values()))

    async def _keep(self, radio: Radio) -> None:
        while True:
            try:
                await radio.adapter.run()
            except AdapterDead as exc:
                if not any(not r.dead for r in self.radios.values() if r is not radio):
                    raise
                radio.dead = True
                log.error("%s; the other adapters go on; trying it again in %.0f s", exc, DEAD_ADAPTER_RETRY)
                await asyncio.sleep(DEAD_ADAPTER_RETRY)
                radio.dead = False
                radio.adapter.ladder = Ladder()

    async def wait_ready(self) -> list[str]:
        """Wait until every adapter is up, or ``connect_timeout`` and one is up; the names of those not up."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.connect_timeout):
                for radio in self.radios.values():
                    await radio.adapter.ready.wait()
        if not any(radio.up for radio in self.radios.values()):
            waits = [asyncio.ensure_future(radio.adapter.ready.wait()) for radio in self.radios.values()]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
        return [radio.name for radio in self.radios.values() if not radio.up]

    def status(self) -> str:
        """One phrase per adapter for the systemd status line: ``house 3/5 links, shed down``."""
        parts = []
        for radio in self.radios.values():
            state = f"{radio.adapter.live_links()}/{radio.slots} links" if radio.up else "down"
            parts.append(f"{radio.name} {state}")
        return ", ".join(parts)

    def aliases_on(self, radio: Radio) -> list[str]:
        return [alias for alias, name in self.placed.items() if name == radio.name]

    def port(self, device: DeviceConfig) -> Port:
        return Port(self, device)

    async def lease(self, device: DeviceConfig, open_link: Callable[[BleAdapter], Awaitable[BleLink]]) -> BleLink:
        """Place ``device``, wait for a slot there and open its link; the slot is given back when the link ends."""
        radio = await self._choose(device)
        alias = device.alias
        for other in self.radios.values():
            if other is not radio:
                other.rotating.discard(alias)
        # Decided (and the slot reserved) before any await, so that BMS placed at the same moment see each other.
        if radio.room_for(alias):
            radio.rotating.discard(alias)
            radio.residents[alias] = None
        else:
            radio.residents.pop(alias, None)
            radio.rotating.add(alias)
            self._make_room(radio)
        resident = alias in radio.residents
        if self.placed.get(alias) != radio.name and (len(self.radios) > 1 or not resident):
            log.info("%s: on Bluetooth adapter %s (RSSI %s dBm, %s)", alias, radio.name, self._rssi(radio, device),
                     "own link" if resident else f"taking turns with {len(radio.rotating) - 1} other BMS")  # fmt: skip
        self.placed[alias] = radio.name
        held = radio.rotation if not resident else None
        if held is not None:
            await held.acquire()
        try:
            await self._free_slot(radio)
            radio.connecting += 1
            try:
                link = await open_link(radio.adapter)
            finally:
                radio.connecting -= 1
        except SlotsExhausted as exc:
            if not radio.adapter.reports_slots:  # a proxy's refusal is momentary: its own count stands
                self._learn_slots(radio, exc.links)
            self._release(radio, alias, held)
            raise
        except LinkError:
            key = (alias, radio.name)
            self._failures[key] = self._failures.get(key, 0) + 1
            self._release(radio, alias, held)
            raise
        except BaseException:
            self._release(radio, alias, held)
            raise
        self._failures.pop((alias, radio.name), None)
        link.resident = alias in radio.residents  # not if it was asked to take turns while it connected
        if link.resident:
            radio.residents[alias] = link
        asyncio.ensure_future(link.closed.wait()).add_done_callback(lambda _: self._ended(radio, alias, link, held))
        return link

    def _ended(self, radio: Radio, alias: str, link: BleLink, held: asyncio.Lock | None) -> None:
        if radio.residents.get(alias) is link:
            del radio.residents[alias]
        if held is not None:
            held.release()

    def _release(self, radio: Radio, alias: str, held: asyncio.Lock | None) -> None:
        if alias in radio.residents and radio.residents[alias] is None:
            del radio.residents[alias]
        if held is not None:
            held.release()

    def _make_room(self, radio: Radio) -> None:
        """Keep one slot for rotation: the newest resident gives its link up after its next sample."""
        while radio.residents and len(radio.residents) > radio.slots - 1:
            alias, link = radio.residents.popitem()
            if link is not None:  # one still connecting learns it when its link is there
                link.resident = False
            radio.rotating.add(alias)
            log.info("%s: taking turns on Bluetooth adapter %s from now on (more BMS than its %d slots)",
                     alias, radio.name, radio.slots)  # fmt: skip

    async def _free_slot(self, radio: Radio) -> None:
        """Wait (bounded) for a link given up to be closed: a connect into a full controller is refused."""
        deadline = time.monotonic() + SLOT_WAIT
        while radio.adapter.live_links() + radio.connecting >= radio.slots:
            if time.monotonic() >= deadline:
                raise LinkError(f"every one of the {radio.slots} slots of Bluetooth adapter {radio.name} stayed "
                                f"taken for {SLOT_WAIT:g} s")  # fmt: skip
            radio.adapter.link_closed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(radio.adapter.link_closed.wait(), deadline - time.monotonic())

    def _learn_slots(self, radio: Radio, links: int) -> None:
        if links < radio.slots:
            log.warning("Bluetooth adapter %s holds at most %d LE connections (the controller refused one more); "
                        "using %d slots instead of %d: set max_connections = %d for it", radio.name, max(1, links),
                        max(1, links), radio.slots, max(1, links))  # fmt: skip
            radio.slots = max(1, links)

    async def _choose(self, device: DeviceConfig) -> Radio:
        if device.bluetooth_adapter is not None:
            candidates = [self.radios[device.bluetooth_adapter]]
        else:
            candidates = list(self.radios.values())
        ready = await self._ready_among(candidates)
        away = [radio for radio in candidates if not radio.up and self._heard(radio, device)]
        if away and not any(self._heard(radio, device) for radio in ready):
            # The radios that hear it are down (a hung adapter being reset, a rebooting proxy): they get a while to
            # come back before it is looked for where it was never heard (a whole scan each time, in vain if the
            # BMS is out of their range, and its own return delayed by it).
            await self._until_up(away, asyncio.FIRST_COMPLETED, AWAY_WAIT)
            ready = [radio for radio in candidates if radio.up]
        key = self._key(device)
        unasked = [radio for radio in ready if not self._heard(radio, device) and key not in radio.asked]
        if unasked:  # an adapter that came up later, or never scanned for it, may hear it better
            await self._locate(device, unasked)
        heard = [radio for radio in ready if self._heard(radio, device)]
        if not heard:
            await self._locate(device, ready)
            heard = [radio for radio in ready if self._heard(radio, device)]
        if not heard:
            names = ", ".join(radio.name for radio in ready)
            raise LinkError(f"{device.alias}: {device.address} not seen advertising by adapter(s) {names} within "
                            f"{ready[0].adapter.scan_timeout:g} s (out of range, asleep, or connected to a phone "
                            "app?)")  # fmt: skip

        alias = device.alias
        any_room = any(radio.room_for(alias) for radio in heard)

        def failing(radio: Radio) -> bool:
            return self._failures.get((alias, radio.name), 0) >= FAILURES_BEFORE_MOVING

        current = self.radios.get(self.placed.get(alias, ""))
        if current in heard and not failing(current):
            if current.room_for(alias):
                return current
            # Taking turns: it stays, unless a slot of its own is free elsewhere or another adapter has fewer BMS
            # per slot even with it (the turns there come round sooner).
            if not any_room and all(self._load(r, alias) >= self._load(current, alias) for r in heard):
                return current

        def preference(radio: Radio) -> tuple[bool, bool, float, int]:
            """Not failing it, then the best RSSI with a free slot, or when every slot is taken the least loaded."""
            rssi = self._rssi(radio, device)
            load = 0.0 if any_room else self._load(radio, alias)
            return failing(radio), not radio.room_for(alias), load, -(rssi if rssi is not None else -127)

        chosen = min(heard, key=preference)
        if self._failures.get((device.alias, chosen.name), 0) >= FAILURES_BEFORE_MOVING:
            self._failures.pop((device.alias, chosen.name))  # tried everywhere: start the round again
        return chosen

    async def _ready_among(self, candidates: list[Radio]) -> list[Radio]:
        """The candidates that are up; at start, every one gets the connect timeout to come up (so that the first
        placement sees them all), later the first one up will do."""
        if not any(radio.up for radio in candidates):
            await self._until_up(candidates, asyncio.FIRST_COMPLETED, self.connect_timeout)
        starting_for = self._started + self.connect_timeout - time.monotonic()
        if starting_for > 0 and not all(radio.up for radio in candidates):
            await self._until_up(candidates, asyncio.ALL_COMPLETED, starting_for)
        ready = [radio for radio in candidates if radio.up]
        if not ready:
            names = ", ".join(radio.adapter.label for radio in candidates)
            raise AdapterUnavailable(f"no Bluetooth adapter is up ({names})")
        return ready

    @staticmethod
    async def _until_up(radios: list[Radio], which: str, timeout: float) -> None:
        waits = [asyncio.ensure_future(radio.adapter.ready.wait()) for radio in radios if not radio.up]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=which)
        finally:
            for wait in waits:
                wait.cancel()

    async def _locate(self, device: DeviceConfig, radios: list[Radio]) -> None:
        """Scan on every adapter at once; once one hears the BMS, the others get a moment to hear it too."""
        for radio in radios:
            radio.asked.add(self._key(device))
        scans = [asyncio.ensure_future(radio.adapter.resolve(device.address)) for radio in radios]
        try:
            pending = set(scans)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if any(not task.cancelled() and task.exception() is None for task in done):
                    if pending:
                        await asyncio.wait(pending, timeout=PLACEMENT_GRACE)
                    break
        finally:
            for scan in scans:
                scan.cancel()
            await asyncio.gather(*scans, return_exceptions=True)

    def _load(self, radio: Radio, alias: str) -> float:
        """BMS per slot on the adapter, counting ``alias`` as if it were placed there."""
        placed = sum(1 for other, name in self.placed.items() if name == radio.name and other != alias)
        return (placed + 1) / radio.slots

    @staticmethod
    def _key(device: DeviceConfig) -> str:
        return device.address.upper() if MAC_LIKE.match(device.address) else device.address

    def _heard(self, radio: Radio, device: DeviceConfig) -> bool:
        return self._key(device) in radio.adapter.heard

    def _rssi(self, radio: Radio, device: DeviceConfig) -> int | None:
        return radio.adapter.heard.get(self._key(device))


@dataclass(frozen=True, slots=True)
class Port:
    """What one BMS's poller sees of the fleet: the shape of a single adapter's connect calls."""

    fleet: Fleet
    device: DeviceConfig

    async def connect(self, target: str, profile: BleProfile, description: str, pin: str | None = None) -> BleLink:
        return await self.fleet.lease(self.device, lambda adapter: adapter.connect(target, profile, description, pin))

    async def connect_gatt(self, target: str, description: str, pin: str | None = None) -> BleLink:
        return await self.fleet.lease(self.device, lambda adapter: adapter.connect_gatt(target, description, pin))

    async def resolve(self, target: str):
        radio = await self.fleet._choose(self.device)
        return await radio.adapter.resolve(target)

    def advertised_name(self, mac: str) -> str | None:
        for adapter in self.fleet.adapters:
            if name := adapter.advertised_name(mac):
                return name
        return None
