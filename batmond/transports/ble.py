"""Bluetooth LE through bumble: one HCI adapter, owned exclusively, shared by every BLE BMS.

The adapter task opens the bumble transport, powers the controller on and watches it; BMS pollers ask it for
links. bumble's sharp edges are handled here and nowhere else: connects are serialised (bumble and
controllers allow one LE create-connection at a time), ``power_on`` gets a timeout, bumble's own
``TimeoutError``/``ConnectionError`` are not the builtins, and a GATT request in flight when the link drops
raises ``CancelledError`` without the task being cancelled.

BMS with a PIN (Victron) are paired once with LE Secure Connections; the keys go to a JSON file in the state
directory, so later connections only re-encrypt.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import socket
import time
import uuid as uuid_module
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bumble import att, core, hci, smp
from bumble.device import Connection, Device, DeviceConfiguration, Peer
from bumble.gatt import Characteristic
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import open_transport
from bumble.transport.common import TransportLostError

from batmond.protocols.base import BleProfile
from batmond.transports.base import GattCharacteristic, GattLink, GattService, LinkError, stray_cancel
from batmond.transports.bumble_strings import make_debug_strings_lazy
from batmond.transports.recovery import AdapterDead, Ladder, PowerCycler, bring_down

log = logging.getLogger("batmond.ble")
# bumble warns about every failed pairing; _secure reports the outcome itself, in one line that says what to do.
logging.getLogger("bumble.smp").setLevel(logging.ERROR)
# bumble logs a traceback for every HCI command cut short by a lost transport; the adapter task reports the
# loss itself, in one line, and reopens.
logging.getLogger("bumble.host").addFilter(
    lambda record: not (record.exc_info and isinstance(record.exc_info[1], TransportLostError))
)
# An answer that arrives after batmond gave up on its request (a GATT or HCI timeout under load) finds bumble's
# pending future cancelled, and bumble logs the InvalidStateError with a traceback; the timeout was reported already.
logging.getLogger("bumble.transport.common").addFilter(
    lambda record: not (record.exc_info and isinstance(record.exc_info[1], asyncio.InvalidStateError))
)
MAC_LIKE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
T = TypeVar("T")

REQUESTED_MTU = 517
RSSI_NOT_AVAILABLE = 127  # what HCI Read RSSI and advertising reports say when the controller has no figure
GATT_TIMEOUT = 5.0
POWER_ON_TIMEOUT = 5.0
HEALTH_CHECK_PERIOD = 5.0
REOPEN_BACKOFF = (0.5, 30.0)
PAIRING_TIMEOUT = 15.0
# After the BMS refused the PIN, do not try it again for a while: real devices lock out repeated attempts.
WRONG_PIN_HOLDOFF = 600.0
BUMBLE_ERRORS = (core.BaseBumbleError, OSError, EOFError, RuntimeError, AssertionError)
NEEDS_PAIRING = (
    att.ErrorCode.INSUFFICIENT_AUTHENTICATION,
    att.ErrorCode.INSUFFICIENT_ENCRYPTION,
    att.ErrorCode.INSUFFICIENT_AUTHORIZATION,
)
WRONG_PIN = (smp.ErrorCode.PASSKEY_ENTRY_FAILED, smp.ErrorCode.CONFIRM_VALUE_FAILED)


def own_address(adapter: str = "") -> hci.Address:
    """A static random address that stays the same across restarts of this host (BMS pairings rely on it), one
    per named adapter: two controllers with one address would each take the other's packets on a shared link."""
    seed = socket.gethostname() + (f"/{adapter}" if adapter else "")
    digest = bytearray(hashlib.sha256(seed.encode()).digest()[:6])
    digest[5] |= 0xC0  # static random: two top bits set (bumble stores addresses little-endian)
    return hci.Address(bytes(digest), hci.Address.RANDOM_DEVICE_ADDRESS)


class AdapterUnavailable(LinkError):
    pass


class SlotsExhausted(LinkError):
    """The controller refused one more LE connection (HCI Connection Limit Exceeded): all its slots are taken."""

    def __init__(self, message: str, links: int) -> None:
        super().__init__(message)
        self.links = links  # the links the adapter held when it refused: its real capacity


class Passkey(int):
    """A passkey that is true even when it is 0: bumble 0.0.236 asserts ``self.passkey`` during LE Secure
    Connections passkey pairing, which fails for PIN 000000 (the Victron factory default)."""

    def __bool__(self) -> bool:
        return True


class PinEntry(PairingDelegate):
    """Types the configured PIN when the BMS asks for its passkey (the BMS has a display-only role)."""

    def __init__(self, pin: str) -> None:
        super().__init__(io_capability=PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY)
        self.pin = pin

    async def get_number(self) -> int | None:
        return Passkey(self.pin)


class BleLink(GattLink):
    def __init__(self, description: str, connection: Connection, peer: Peer, adapter_name: str = "") -> None:
        super().__init__(description)
        self.connection = connection
        self.peer = peer
        self.adapter_name = adapter_name
        self.rssi: int | None = None
        self.write_char: Characteristic | None = None
        self.with_response = False
        self.values: dict[str, Characteristic] = {}  # BleProfile.values found on the device, by UUID
        self.disconnected = False
        self._by_handle: dict[int, Any] = {}  # value handle -> bumble CharacteristicProxy, after discover_all
        self._subscribers: dict[int, Callable[[bytes], None]] = {}
        connection.on("disconnection", self._on_disconnection)

    @property
    def mtu(self) -> int:  # type: ignore[override]
        return self.connection.att_mtu

    async def discover_all(self) -> None:
        """Exchange the MTU and discover every service and characteristic, subscribing to nothing."""
        peer = self.peer
        await gatt(self, peer.request_mtu(REQUESTED_MTU))
        services = []
        for service in await gatt(self, peer.discover_services()):
            await gatt(self, service.discover_characteristics())
            for characteristic in service.characteristics:
                self._by_handle[characteristic.handle] = characteristic
            services.append(GattService(full_uuid(service.uuid), service.handle, tuple(
                GattCharacteristic(full_uuid(c.uuid), c.handle, int(c.properties)) for c in service.characteristics
            )))  # fmt: skip
        self.services = tuple(services)
        log.debug("%s: MTU %d, %d services discovered", self.description, self.mtu, len(services))

    def _characteristic(self, handle: int) -> Any:
        if not self.alive:
            raise LinkError(f"{self.description}: not connected ({self.close_reason})")
        characteristic = self._by_handle.get(handle)
        if characteristic is None:
            raise LinkError(f"{self.description}: no characteristic with handle 0x{handle:04x}")
        return characteristic

    async def read_handle(self, handle: int) -> bytes:
        return bytes(await gatt(self, self.peer.read_value(self._characteristic(handle))))

    async def write_handle(self, handle: int, data: bytes, with_response: bool) -> None:
        await gatt(self, self.peer.write_value(self._characteristic(handle), data, with_response=with_response))

    async def start_notify(self, handle: int, callback: Callable[[bytes], None]) -> None:
        characteristic = self._characteristic(handle)
        await gatt(self, self.peer.subscribe(characteristic, callback))
        self._subscribers[handle] = callback

    async def stop_notify(self, handle: int) -> None:
        characteristic = self._characteristic(handle)
        await gatt(self, self.peer.unsubscribe(characteristic, self._subscribers.pop(handle, None)))

    def _on_disconnection(self, reason: int) -> None:
        self.disconnected = True
        self.mark_closed(f"disconnected ({hci.HCI_Constant.error_name(reason)})")

    async def write(self, data: bytes) -> None:
        if not self.alive or self.write_char is None:
            raise LinkError(f"{self.description}: not connected ({self.close_reason or 'no link'})")
        await gatt(self, self.peer.write_value(self.write_char, data, with_response=self.with_response))

    async def read_characteristic(self, uuid: str) -> bytes:
        characteristic = self.values.get(uuid.lower())
        if characteristic is None:
            return b""
        if not self.alive:
            raise LinkError(f"{self.description}: not connected ({self.close_reason})")
        return bytes(await gatt(self, self.peer.read_value(characteristic)))

    def diagnostics(self) -> dict[str, int | float | str]:
        found: dict[str, int | float | str] = {"adapter": self.adapter_name}
        if self.rssi is not None:
            found["rssi"] = self.rssi
        return found

    async def refresh_diagnostics(self) -> None:
        """Read the link's RSSI from the controller (HCI Read RSSI); a controller that cannot is left alone."""
        if not self.alive or not self.connection.device.host.supports_command(hci.HCI_READ_RSSI_COMMAND):
            return
        try:
            async with asyncio.timeout(GATT_TIMEOUT):
                rssi = await self.connection.get_rssi()
        except asyncio.CancelledError:
            if not stray_cancel():
                raise
            return  # the link or the adapter went away under the request
        except (*BUMBLE_ERRORS, TimeoutError, core.TimeoutError):
            return
        if rssi != RSSI_NOT_AVAILABLE:
            self.rssi = rssi

    async def close(self) -> None:
        self.mark_closed("closed by batmond")
        # A link given up on (GATT timeout, refused encryption) is still up: end it, or the BMS stays taken.
        if not self.disconnected:
            self.disconnected = True
            with contextlib.suppress(*BUMBLE_ERRORS, asyncio.TimeoutError):
                await asyncio.wait_for(self.connection.disconnect(), 2.0)


def full_uuid(uuid: core.UUID) -> str:
    """A UUID as GattService and GattCharacteristic carry it: 128-bit, lower case, with dashes."""
    return str(uuid_module.UUID(bytes=uuid.to_bytes(force_128=True)[::-1]))  # bumble keeps them little-endian


async def gatt(link: GattLink, request: Awaitable[T], timeout: float = GATT_TIMEOUT) -> T:
    """Run one GATT request with a timeout, turning bumble's ways of failing into :class:`LinkError`.

    asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives just after the
    request finished, and a poller cancelled at shutdown then kept polling (the daemon never stopped). It also
    runs the request in this task instead of a new one.
    """
    try:
        async with asyncio.timeout(timeout):
            return await request
    except asyncio.CancelledError:
        if not stray_cancel():
            raise
        link.mark_closed("link dropped during a GATT request")
        raise LinkError(f"{link.description}: link dropped during a GATT request") from None
    except (TimeoutError, core.TimeoutError):
        link.mark_closed("GATT request timed out")
        raise LinkError(f"{link.description}: no GATT answer within {timeout:g} s") from None
    except att.ATT_Error as exc:  # its str() is the whole error PDU over several lines
        link.mark_closed(f"GATT error: {exc.error_name}")
        if exc.error_code in NEEDS_PAIRING:
            raise LinkError(f"{link.description}: the device requires pairing ({exc.error_name}): "
                            "set its pin in the [[device]] entry") from None  # fmt: skip
        raise LinkError(f"{link.description}: GATT error: {exc.error_name} 0x{exc.error_code:02x}") from None
    except BUMBLE_ERRORS as exc:
        link.mark_closed(f"GATT error: {exc}")
        raise LinkError(f"{link.description}: GATT error: {exc or type(exc).__name__}") from None


class BleAdapter:
    """Owns the HCI transport and the bumble ``Device``; reopens both when the adapter fails."""

    # A controller never says how many links it holds: the fleet learns it from its first refusal.
    reports_slots = False

    def __init__(
        self,
        transport: str,
        connect_timeout: float = 10.0,
        scan_timeout: float = 15.0,
        keys_file: str | None = None,
        reset_request_dir: str | None = None,
        name: str = "default",
        named: bool = False,
        power_cycle_lock: asyncio.Lock | None = None,
    ) -> None:
        make_debug_strings_lazy()  # bumble formats every packet for a debug line we never log
        self.transport_spec = transport
        self.name = name
        self.named = named  # a [[bluetooth.adapter]] of the config, not the single [bluetooth] transport
        # How logs name it: "shed (usb:1)", or just the transport when it is the single adapter.
        self.label = f"{name} ({transport})" if named else transport
        self.keys_file = keys_file  # pairing keys (JSON); None keeps them in memory only
        self.connect_timeout = connect_timeout
        self.scan_timeout = scan_timeout
        self.device: Device | None = None
        self.ready = asyncio.Event()
        self.failures = 0
        self.ladder = Ladder()
        self.power_cycler = PowerCycler(reset_request_dir, power_cycle_lock) if reset_request_dir else None
        self._stuck = asyncio.Event()
        self._connect_lock = asyncio.Lock()
        self._links: weakref.WeakSet[BleLink] = weakref.WeakSet()
        self.link_closed = asyncio.Event()  # set whenever one of this adapter's links ends: a slot is free
        self._seen: dict[str, hci.Address] = {}  # MAC or advertised name -> typed address
        # MAC or advertised name -> RSSI of its last advertisement heard here (None: the controller gave no figure)
        self.heard: dict[str, int | None] = {}
        self._pins: dict[str, str] = {}  # peer address -> PIN, for the pairing started on it
        self._refused: dict[str, tuple[str, float]] = {}  # target -> (refused PIN, monotonic time)

    async def run(self) -> None:
        """Keep the adapter open for as long as the daemon runs, climbing the recovery ladder when it fails.

        Raises :class:`AdapterDead` when reopening and power-cycling did not bring it back.
        """
        delay = REOPEN_BACKOFF[0]
        while True:
            reason = "closed"
            try:
                await self._open_and_watch()
            except (*BUMBLE_ERRORS, LinkError, TimeoutError, ValueError) as exc:
                reason = describe(exc)
            finally:
                self._teardown()
            self.failures += 1
            step = self.ladder.next_step()
            if step == "reopen":
                log.error("Bluetooth adapter %s failed: %s; reopening in %.1f s", self.label, reason, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, REOPEN_BACKOFF[1])
            elif step == "power-cycle":
                await self._power_cycle(reason)
                delay = REOPEN_BACKOFF[0]
            else:
                raise AdapterDead(f"Bluetooth adapter {self.label} did not come back ({reason})")

    async def _power_cycle(self, reason: str) -> None:
        if self.power_cycler is None or not self.power_cycler.available:
            where = self.power_cycler.directory if self.power_cycler else "no reset_request_dir"
            log.error("Bluetooth adapter %s still failing (%s); cannot power-cycle it: %s is not there (the "
                      "package's batmond-bt-reset.path provides it)", self.label, reason, where)  # fmt: skip
            return
        log.error("Bluetooth adapter %s still failing after reopening (%s); asking bt-reset to power-cycle it",
                  self.label, reason)  # fmt: skip
        status, message = await self.power_cycler.power_cycle(self.transport_spec)
        log.log(logging.INFO if status == 0 else logging.ERROR, "bt-reset: %s (status %d)", message, status)

    def restart(self, reason: str) -> None:
        """Throw the adapter away and reopen it (a watchdog saw it stuck)."""
        if self.ready.is_set():
            log.error("Bluetooth adapter %s looks stuck: %s; resetting it", self.label, reason)
            self._stuck.set()

    async def _open_and_watch(self) -> None:
        bring_down(self.transport_spec)  # hci-socket: the user channel can only be bound to an adapter that is DOWN
        async with await open_transport(self.transport_spec) as transport:
            keystore = f"JsonKeyStore:{self.keys_file}" if self.keys_file else None
            address = own_address(self.name if self.named else "")
            config = DeviceConfiguration(name="batmond", address=address, keystore=keystore)
            device = Device.from_config_with_hci(config, transport.source, transport.sink)
            device.command_timeout = 3.0
            device.pairing_config_factory = self._pairing_config
            try:
                await asyncio.wait_for(device.power_on(), POWER_ON_TIMEOUT)
            except TimeoutError:
                raise AdapterUnavailable(f"controller did not answer HCI reset within {POWER_ON_TIMEOUT:g} s") from None
            self.device = device
            self._stuck.clear()
            self.ready.set()
            self.ladder.up()
            log.info("Bluetooth adapter %s is up (address %s)", self.label, device.random_address)
            terminated = transport.source.terminated
            stuck = asyncio.ensure_future(self._stuck.wait())
            try:
                while not terminated.done() and not stuck.done():
                    done, _ = await asyncio.wait([terminated, stuck], timeout=HEALTH_CHECK_PERIOD,
                                                 return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                    if done:
                        break
                    await device.send_command(hci.HCI_Read_Local_Version_Information_Command())
            finally:
                stuck.cancel()
            raise AdapterUnavailable("no data from any connected BMS" if self._stuck.is_set() else "HCI transport lost")

    def _teardown(self) -> None:
        self.ready.clear()
        self.device = None
        for link in list(self._links):
            link.mark_closed("Bluetooth adapter lost")
        self._links.clear()

    async def _device(self) -> Device:
        try:
            await asyncio.wait_for(self.ready.wait(), self.connect_timeout)
        except TimeoutError:
            raise AdapterUnavailable(f"Bluetooth adapter {self.label} is not available") from None
        assert self.device is not None
        return self.device

    async def resolve(self, target: str) -> hci.Address:
        """The address (with its public/random type) of a MAC or an advertised name, learnt by scanning.

        A MAC alone does not say whether it is public or random, and connecting with the wrong type fails;
        the advertisement says. Everything seen while scanning is remembered for the other BMS.
        """
        key = target.upper() if MAC_LIKE.match(target) else target
        if key in self._seen:
            return self._seen[key]
        device = await self._device()
        found = asyncio.Event()

        def on_advertisement(advertisement) -> None:
            address = advertisement.address
            mac = address.to_string(False).upper()
            self._seen[mac] = address
            rssi = None if advertisement.rssi == RSSI_NOT_AVAILABLE else advertisement.rssi
            self.heard[mac] = rssi
            name = advertisement.data.get(core.AdvertisingData.COMPLETE_LOCAL_NAME)
            if name:
                self._seen.setdefault(name, address)
                self.heard[name] = rssi
            if key in self._seen:
                found.set()

        async with self._connect_lock:
            if key in self._seen:
                return self._seen[key]
            device.on("advertisement", on_advertisement)
            try:
                await device.start_scanning(filter_duplicates=True)
                await asyncio.wait_for(found.wait(), self.scan_timeout)
            except TimeoutError:
                raise LinkError(f"{target} not seen advertising within {self.scan_timeout:g} s "
                                "(out of range, asleep, or connected to a phone app?)") from None  # fmt: skip
            finally:
                device.remove_listener("advertisement", on_advertisement)
                with contextlib.suppress(*BUMBLE_ERRORS):
                    await device.stop_scanning()
        address = self._seen[key]
        if key != target.upper():
            log.info("resolved %r to %s", target, address)
        return address

    def _pairing_config(self, connection: Connection) -> PairingConfig:
        pin = self._pins.get(str(connection.peer_address))
        return PairingConfig(
            sc=True, mitm=pin is not None, bonding=True,
            delegate=PairingDelegate() if pin is None else PinEntry(pin),
            # Keys must be stored under the address we connect from (the static random one), or the BMS
            # cannot find them when we re-encrypt.
            identity_address_type=PairingConfig.AddressType.RANDOM,
        )  # fmt: skip

    async def connect(self, target: str, profile: BleProfile, description: str, pin: str | None = None) -> BleLink:
        """Connect, pair (PIN), exchange the MTU, discover and subscribe: only then is the BMS "connected"."""
        if profile.explore:
            from batmond.transports.snoop import SnoopLink  # the GATT explorer builds on this module

            return await self._open(target, description, pin, SnoopLink, lambda link: link.explore())
        return await self._open(target, description, pin, BleLink, lambda link: self._setup(link, profile))

    async def connect_gatt(self, target: str, description: str, pin: str | None = None) -> BleLink:
        """Connect, pair (PIN), exchange the MTU and discover every service and characteristic, subscribing to
        nothing: for clients that run the GATT exchanges themselves (aiobmsble's BMS, batmond/aio)."""
        return await self._open(target, description, pin, BleLink, BleLink.discover_all)

    async def _open(self, target: str, description: str, pin: str | None, link_class: type[BleLink],
                    setup: Callable[[Any], Awaitable[None]]) -> BleLink:  # fmt: skip
        refused = self._refused.get(target)
        if refused is not None and refused[0] == pin and time.monotonic() - refused[1] < WRONG_PIN_HOLDOFF:
            raise LinkError(wrong_pin_message(description))
        address = await self.resolve(target)
        device = await self._device()
        async with self._connect_lock:
            try:
                connection = await device.connect(address, timeout=self.connect_timeout)
            except (core.TimeoutError, TimeoutError):
                raise LinkError(f"{description}: not reachable within {self.connect_timeout:g} s") from None
            except hci.HCI_Error as exc:
                if exc.error_code == hci.HCI_ErrorCode.CONNECTION_LIMIT_EXCEEDED_ERROR:
                    links = self.live_links()
                    message = (f"{description}: Bluetooth adapter {self.label} refused one more connection "
                               f"(Connection Limit Exceeded) with {links} open")  # fmt: skip
                    raise SlotsExhausted(message, links) from None
                raise LinkError(f"{description}: connect failed: {describe(exc)}") from None
            except BUMBLE_ERRORS as exc:
                raise LinkError(f"{description}: connect failed: {describe(exc)}") from None
        link = link_class(description, connection, Peer(connection), self.name)
        self._links.add(link)
        asyncio.ensure_future(link.closed.wait()).add_done_callback(lambda _: self.link_closed.set())
        try:
            if pin:
                await self._secure(link, target, pin)
            await setup(link)
        except BaseException:
            await link.close()
            raise
        return link

    def live_links(self) -> int:
        """The LE links open on this adapter: the slots in use."""
        return sum(1 for link in self._links if link.alive)

    def advertised_name(self, mac: str) -> str | None:
        """The name a device advertised, if it was seen advertising one while resolving."""
        for key, address in self._seen.items():
            if not MAC_LIKE.match(key) and address.to_string(False).upper() == mac.upper():
                return key
        return None

    async def _secure(self, link: BleLink, target: str, pin: str) -> None:
        """Re-encrypt with the stored keys, or pair with the PIN when there are none."""
        connection = link.connection
        peer = str(connection.peer_address)
        keystore = connection.device.keystore
        if keystore is not None and await keystore.get(peer) is not None:
            try:
                await gatt(link, connection.encrypt(), PAIRING_TIMEOUT)
            except LinkError:
                # The BMS lost the bond (reset, or paired with something else): start over with the PIN.
                with contextlib.suppress(KeyError):
                    await keystore.delete(peer)
                raise LinkError(f"{link.description}: the device rejected the stored pairing keys; "
                                "pairing again with the PIN on the next attempt") from None  # fmt: skip
            log.debug("%s: encrypted with the stored keys", link.description)
            return

        async def pair() -> bool:
            try:
                await connection.pair()
            except core.ProtocolError as exc:
                if exc.error_code in WRONG_PIN:
                    return False
                raise
            return True

        self._pins[peer] = pin
        try:
            paired = await gatt(link, pair(), PAIRING_TIMEOUT)
        finally:
            self._pins.pop(peer, None)
        if not paired:
            self._refused[target] = (pin, time.monotonic())
            raise LinkError(wrong_pin_message(link.description))
        log.info("%s: paired; keys stored in %s", link.description, self.keys_file or "memory")

    async def _setup(self, link: BleLink, profile: BleProfile) -> None:
        peer = link.peer
        mtu = await gatt(link, peer.request_mtu(REQUESTED_MTU))
        services = await gatt(link, peer.discover_services([core.UUID(profile.service)]))
        if not services:
            raise LinkError(f"{link.description}: GATT service {profile.service} not found")
        characteristics = await gatt(link, services[0].discover_characteristics())
        if profile.notify is not None:
            notify = _pick(characteristics, profile.notify, Characteristic.Properties.NOTIFY)
            if notify is None:
                raise LinkError(f"{link.description}: characteristic {profile.notify} (notify) not found")
            await gatt(link, peer.subscribe(notify, lambda value: link.on_data(bytes(value))))
        if profile.write is not None:
            write = _pick(
                characteristics,
                profile.write,
                Characteristic.Properties.WRITE | Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            )
            if write is None:
                raise LinkError(f"{link.description}: characteristic {profile.write} (write) not found")
            link.write_char = write
            link.with_response = profile.write_with_response or not (
                write.properties & Characteristic.Properties.WRITE_WITHOUT_RESPONSE
            )
        for uuid in map(str.lower, profile.values):
            value = _pick(characteristics, uuid, Characteristic.Properties.READ | Characteristic.Properties.NOTIFY)
            if value is None:
                continue  # this firmware lacks it: the codec gets an empty value, "not available"
            link.values[uuid] = value
            if value.properties & Characteristic.Properties.NOTIFY:
                await gatt(link, peer.subscribe(value, lambda data, u=uuid: link.on_value(u, bytes(data))))
        log.debug("%s: MTU %d, subscribed to %s", link.description, mtu, profile.notify or f"{len(link.values)} values")


def _pick(characteristics: list, uuid: str, wanted: int):
    """The characteristic with this UUID and property; JK exposes FFE1 twice (write and notify handles)."""
    wanted_uuid = core.UUID(uuid)
    for characteristic in characteristics:
        if characteristic.uuid == wanted_uuid and characteristic.properties & wanted:
            return characteristic
    return None


def wrong_pin_message(description: str) -> str:
    return (f"{description}: wrong PIN: the device refused pairing with the configured pin; "
            f"not trying it again for {WRONG_PIN_HOLDOFF / 60:g} min")  # fmt: skip


def describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, core.ConnectionError) or not text:
        return f"{type(exc).__name__} {text}".strip()
    return text
