"""Bluetooth LE through an ESPHome Bluetooth proxy: the ESP32's native API (port 6053), over aioesphomeapi.

One :class:`EsphomeProxy` per ``[[bluetooth.proxy]]`` is a radio of the fleet, with the same members as a local
:class:`~batmond.transports.ble.BleAdapter`. It holds one API session to the proxy, subscribes to its raw
advertisements (which makes batmond the proxy's BLE owner: the firmware serves one subscriber) and to its free
connection slots, and opens :class:`EsphomeLink` s that do for a codec what ``BleLink`` does over bumble.

A proxy that is away (rebooting, off the Wi-Fi, refusing the key) is retried forever with a backoff: it never
climbs the local adapters' recovery ladder, there is nothing to power-cycle. aioesphomeapi is imported lazily:
it is the ``esphome`` extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bumble import core

from batmond.protocols.base import BleProfile
from batmond.transports.base import GattCharacteristic, GattLink, GattService, Link, LinkError, stray_cancel
from batmond.transports.ble import MAC_LIKE, REQUESTED_MTU, AdapterUnavailable, SlotsExhausted, full_uuid
from batmond.transports.recovery import Ladder

log = logging.getLogger("batmond.ble")
T = TypeVar("T")

BACKOFF = (0.5, 30.0)  # s between two attempts to reach the proxy: doubling up to the second figure
API_TIMEOUT = 10.0  # s for the TCP connect, the handshake and the device info
GATT_TIMEOUT = 5.0
DISCONNECT_TIMEOUT = 3.0
FREE_SLOT_WAIT = 2.0  # s for the proxy to report a slot given back, before a connect counts as refused
SILENT_AFTER = 30.0  # s without one advertisement after connecting: someone else (Home Assistant) owns it
CONNECTION_LIMIT_EXCEEDED = 0x09  # HCI error the ESP's controller gives when it holds all the links it can
NEEDS_PAIRING = (0x05, 0x08, 0x0F)  # ATT insufficient authentication / authorization / encryption
# GATT characteristic properties (Bluetooth Core, as ESPHome reports them)
READ, WRITE_WITHOUT_RESPONSE, WRITE, NOTIFY, INDICATE = 0x02, 0x04, 0x08, 0x10, 0x20
CCCD = core.UUID("2902")
MISSING_EXTRA = "ESPHome proxies need aioesphomeapi, which is not installed: pip install 'batmond[esphome]'"


def mac_of(address: int) -> str:
    return ":".join(f"{b:02X}" for b in address.to_bytes(6, "big"))


def address_of(mac: str) -> int:
    return int(mac.replace(":", ""), 16)


class ProxyAddress:
    """A BMS's address as the proxy knows it: the 48-bit integer and its type (0 public, 1 random)."""

    def __init__(self, address: int, address_type: int) -> None:
        self.address = address
        self.address_type = address_type

    def to_string(self, with_type_qualifier: bool = True) -> str:
        mac = mac_of(self.address)
        if not with_type_qualifier:
            return mac
        return mac + ("/P" if self.address_type == 0 else "")

    def __str__(self) -> str:
        return self.to_string()


def _api():
    try:
        import aioesphomeapi
    except ImportError:
        raise LinkError(MISSING_EXTRA) from None
    return aioesphomeapi


def _api_errors():
    """aioesphomeapi's module that defines all its errors: the package exports only some of them (not
    TimeoutAPIError nor BluetoothGATTAPIError), and an ``except`` naming a missing one fails as it catches."""
    _api()
    from aioesphomeapi import core

    return core


def proxy_label(name: str, host: str, port: int) -> str:
    return f"{name} (ESPHome proxy {host}:{port})"


class ProxyUnavailable(LinkError):
    """The proxy's API session could not be opened; ``kind`` says why: "key" or "unreachable"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


async def open_session(host: str, port: int, key: str | None, label: str,
                       on_stop: Callable[[bool], Awaitable[None]]) -> tuple[Any, Any]:  # fmt: skip
    """A logged-in API session and the proxy's device info, or :class:`ProxyUnavailable` in one line."""
    api = _api()
    client = api.APIClient(host, port, None, noise_psk=key, client_info="batmond")
    try:
        async with asyncio.timeout(API_TIMEOUT):
            await client.connect(on_stop=on_stop, login=True, log_errors=False)
            return client, await client.device_info()
    except api.InvalidEncryptionKeyAPIError:
        failure = ProxyUnavailable("key", f"ESPHome proxy {label} rejected the encryption key: copy "
                                   "encryption_key from the api: encryption: key: of its ESPHome YAML")  # fmt: skip
    except api.RequiresEncryptionAPIError:
        failure = ProxyUnavailable("key", f"ESPHome proxy {label} requires encryption: set encryption_key to the "
                                   "api: encryption: key: of its ESPHome YAML")  # fmt: skip
    except api.EncryptionPlaintextAPIError:
        failure = ProxyUnavailable("key", f"ESPHome proxy {label} speaks plaintext but encryption_key is set: "
                                   "remove the key or add api: encryption: key: to its YAML")  # fmt: skip
    except (api.APIConnectionError, OSError, TimeoutError) as exc:
        failure = ProxyUnavailable("unreachable", f"ESPHome proxy {label} is unreachable ({_why(exc)})")
    with contextlib.suppress(Exception):
        await client.disconnect(force=True)
    raise failure


class EsphomeLink(GattLink):
    """One BMS connected through the proxy: GATT by (address, handle) on the proxy's API session."""

    def __init__(self, description: str, proxy: EsphomeProxy, client: Any, address: int, mtu: int,
                 rssi: int | None) -> None:  # fmt: skip
        super().__init__(description)
        self.proxy = proxy
        self.client = client
        self.address = address
        self.mtu = mtu
        self.rssi = rssi
        self.command_handle: int | None = None  # where the codec's requests go
        self.with_response = False
        self.values: dict[str, int] = {}  # BleProfile.values found on the device: UUID -> value handle
        self.disconnected = False
        self.unsubscribe: Callable[[], None] | None = None  # the connection-state callback
        self._notifying: dict[int, tuple[int, int | None]] = {}  # value handle -> (properties, CCCD handle)

    async def discover_all(self) -> Any:
        """The whole GATT table, from the proxy (which discovers it on connect); the proxy's answer is returned."""
        answer = await self.gatt(self.client.bluetooth_gatt_get_services(self.address), GATT_TIMEOUT * 2)
        services = []
        for service in answer.services:
            characteristics = []
            for found in service.characteristics:
                uuid = full_uuid(core.UUID(found.uuid))
                characteristics.append(GattCharacteristic(uuid, found.handle, found.properties))
                cccd = next((d.handle for d in found.descriptors if core.UUID(d.uuid) == CCCD), None)
                self._notifying[found.handle] = (found.properties, cccd)
            services.append(GattService(full_uuid(core.UUID(service.uuid)), service.handle, tuple(characteristics)))
        self.services = tuple(services)
        return answer

    def on_state(self, connected: bool, mtu: int, error: int) -> None:
        if not connected:
            self.disconnected = True
            self.mark_closed(f"disconnected (proxy error {error})" if error else "disconnected")

    async def gatt(self, request: Awaitable[T], timeout: float = GATT_TIMEOUT) -> T:
        """One request to the proxy with a timeout; aioesphomeapi's ways of failing become :class:`LinkError`."""
        errors = _api_errors()
        try:
            async with asyncio.timeout(timeout):
                return await request
        except asyncio.CancelledError:
            if not stray_cancel():
                raise
            self.mark_closed("link dropped during a GATT request")
            raise LinkError(f"{self.description}: link dropped during a GATT request") from None
        except (TimeoutError, errors.TimeoutAPIError):
            self.mark_closed("GATT request timed out")
            raise LinkError(f"{self.description}: no GATT answer through proxy {self.proxy.name} within "
                            f"{timeout:g} s") from None  # fmt: skip
        except errors.BluetoothConnectionDroppedError:
            self.disconnected = True
            self.mark_closed("link dropped during a GATT request")
            raise LinkError(f"{self.description}: link dropped during a GATT request") from None
        except errors.BluetoothGATTAPIError as exc:
            error = exc.error.error
            self.mark_closed(f"GATT error {error}")
            if error in NEEDS_PAIRING:
                raise LinkError(f"{self.description}: the device requires pairing (GATT error {error}), which "
                                "an ESPHome proxy cannot do: pin it to a local adapter") from None  # fmt: skip
            raise LinkError(f"{self.description}: GATT error {error} through proxy {self.proxy.name}") from None
        except errors.APIConnectionError as exc:
            self.mark_closed(f"proxy session lost: {exc}")
            raise LinkError(f"{self.description}: proxy {self.proxy.name}: {exc or type(exc).__name__}") from None

    async def write(self, data: bytes) -> None:
        if not self.alive or self.command_handle is None:
            raise LinkError(f"{self.description}: not connected ({self.close_reason or 'no link'})")
        await self.write_handle(self.command_handle, data, self.with_response)

    async def read_characteristic(self, uuid: str) -> bytes:
        handle = self.values.get(uuid.lower())
        return b"" if handle is None else await self.read_handle(handle)

    async def refresh_diagnostics(self) -> None:
        # The native API has no Read RSSI for a connection: the proxy's last advertisement of the BMS is the figure
        # (many BMS keep advertising while connected).
        rssi = self.proxy.heard.get(mac_of(self.address))
        if rssi is not None:
            self.rssi = rssi

    def diagnostics(self) -> dict[str, int | float | str]:
        found: dict[str, int | float | str] = {"adapter": self.proxy.name}
        if self.rssi is not None:
            found["rssi"] = self.rssi
        return found

    async def read_handle(self, handle: int) -> bytes:
        if not self.alive:
            raise LinkError(f"{self.description}: not connected ({self.close_reason})")
        return bytes(await self.gatt(self.client.bluetooth_gatt_read(self.address, handle, timeout=GATT_TIMEOUT)))

    async def write_handle(self, handle: int, data: bytes, with_response: bool) -> None:
        if not self.alive:
            raise LinkError(f"{self.description}: not connected ({self.close_reason})")
        await self.gatt(self.client.bluetooth_gatt_write(self.address, handle, bytes(data), with_response,
                                                         timeout=GATT_TIMEOUT))  # fmt: skip

    async def start_notify(self, handle: int, callback: Callable[[bytes], None]) -> None:
        """Notifications of one characteristic; with remote caching the client writes the CCCD itself."""
        properties, cccd = self._notifying.get(handle, (0, None))
        if cccd is None:
            raise LinkError(f"{self.description}: characteristic 0x{handle:04x} has no CCCD to subscribe")
        await self.gatt(self.client.bluetooth_gatt_start_notify(self.address, handle,
                                                                lambda _, data: callback(bytes(data)),
                                                                timeout=GATT_TIMEOUT))  # fmt: skip
        value = b"\x01\x00" if properties & NOTIFY else b"\x02\x00"
        await self.gatt(self.client.bluetooth_gatt_write_descriptor(self.address, cccd, value,
                                                                    timeout=GATT_TIMEOUT))  # fmt: skip

    async def stop_notify(self, handle: int) -> None:
        _, cccd = self._notifying.get(handle, (0, None))
        self.client.bluetooth_gatt_stop_notify(self.address, handle)
        if cccd is not None and self.alive:
            await self.gatt(self.client.bluetooth_gatt_write_descriptor(self.address, cccd, b"\x00\x00",
                                                                        timeout=GATT_TIMEOUT))  # fmt: skip

    async def close(self) -> None:
        self.mark_closed("closed by batmond")
        unsubscribe, self.unsubscribe = self.unsubscribe, None
        with contextlib.suppress(Exception):
            if unsubscribe is not None:
                unsubscribe()
        with contextlib.suppress(Exception):
            self.client.bluetooth_gatt_stop_notify_for_address(self.address)
        if not self.disconnected:  # a link given up on is still up on the proxy: end it, the slot is needed
            self.disconnected = True
            with contextlib.suppress(Exception):
                async with asyncio.timeout(DISCONNECT_TIMEOUT + 1):
                    await self.client.bluetooth_device_disconnect(self.address, timeout=DISCONNECT_TIMEOUT)


class EsphomeProxy:
    """One ESPHome Bluetooth proxy as a radio of the fleet (the members :class:`~batmond.fleet.Fleet` uses)."""

    # The proxy reports its slot count (on_limit): a refused connect (Home Assistant holding a slot a moment,
    # a fault) must not shrink it for good.
    reports_slots = True

    def __init__(self, name: str, host: str, port: int = 6053, encryption_key: str | None = None,
                 connect_timeout: float = 10.0, scan_timeout: float = 15.0) -> None:  # fmt: skip
        self.name = name
        self.host = host
        self.port = port
        self.label = proxy_label(name, host, port)
        self._key = encryption_key  # never logged
        self.connect_timeout = connect_timeout
        self.scan_timeout = scan_timeout
        self.ready = asyncio.Event()
        self.ladder = Ladder()  # the fleet resets it; a proxy never climbs it (run() never gives up)
        self.heard: dict[str, int | None] = {}
        self.link_closed = asyncio.Event()
        self.free: int | None = None  # the proxy's last report of its slots
        self.limit: int | None = None
        self.on_limit: Callable[[int], None] | None = None  # told the proxy's own slot count when it reports one
        self._client: Any = None
        self._flags = 0
        self._seen: dict[str, ProxyAddress] = {}  # MAC or advertised name -> address
        self._batch = asyncio.Event()  # set (and replaced) at every batch of advertisements
        self._links: set[EsphomeLink] = set()
        self._connect_lock = asyncio.Lock()
        self._restart = asyncio.Event()
        self._slot_report = asyncio.Event()  # set at every report of the free slots
        self._last_advert = 0.0

    # -- the API session ------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Keep the API session to the proxy open, forever: one log line per change of state."""
        try:
            api = _api()
        except LinkError as exc:
            log.error("ESPHome proxy %s: %s", self.label, exc)
            await asyncio.Event().wait()  # config checking said so already; the other radios go on
            raise
        delay = BACKOFF[0]
        state = "starting"
        while True:
            stopped = asyncio.Event()

            async def on_stop(expected: bool, stopped: asyncio.Event = stopped) -> None:
                stopped.set()

            try:
                client, info = await open_session(self.host, self.port, self._key, self.label, on_stop)
            except ProxyUnavailable as exc:
                new, line = exc.kind, str(exc)
            else:
                flags = info.bluetooth_proxy_feature_flags_compat(client.api_version)
                active = api.BluetoothProxyFeature.ACTIVE_CONNECTIONS
                if flags & active and flags & api.BluetoothProxyFeature.REMOTE_CACHING:
                    await self._serve(client, flags, info, stopped, state)
                    state, delay = "dropped", BACKOFF[0]
                    continue
                new = "passive"
                line = (f"ESPHome proxy {self.label} cannot connect to devices: set bluetooth_proxy: active: true "
                        "in its YAML (ESPHome 2022.12 or later)")  # fmt: skip
                with contextlib.suppress(Exception):
                    await client.disconnect(force=True)
            if new != state:
                log.error("%s; retrying", line)
                state = new
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF[1])

    async def _serve(self, client: Any, flags: int, info: Any, stopped: asyncio.Event, state: str) -> None:
        """Own the proxy's BLE side until the session ends; never raises for a session that broke."""
        api = _api()
        self._client, self._flags = client, flags
        self._restart.clear()
        self._last_advert = time.monotonic()
        ending = [asyncio.ensure_future(stopped.wait()), asyncio.ensure_future(self._restart.wait())]
        try:
            client.subscribe_bluetooth_le_raw_advertisements(self._on_advertisements)
            self._slot_report.clear()
            client.subscribe_bluetooth_connections_free(self._on_free)
            with contextlib.suppress(TimeoutError):  # its slots before any BMS is placed on it
                await asyncio.wait_for(self._slot_report.wait(), FREE_SLOT_WAIT)
            self.ready.set()
            self.ladder.up()
            log.info("ESPHome proxy %s is %s (%s, ESPHome %s)", self.label, "back" if state != "starting" else "up",
                     info.name, info.esphome_version)  # fmt: skip
            warned = False
            while not any(task.done() for task in ending):
                await asyncio.wait(ending, timeout=5.0, return_when=asyncio.FIRST_COMPLETED)
                if not warned and time.monotonic() - self._last_advert > SILENT_AFTER:
                    warned = True
                    log.warning("ESPHome proxy %s sends no advertisements: is it also used by Home Assistant? "
                                "A proxy serves one client: remove it from Home Assistant", self.label)  # fmt: skip
        except (api.APIConnectionError, OSError) as exc:
            log.debug("ESPHome proxy %s: session failed: %s", self.label, exc)
        finally:
            for task in ending:
                task.cancel()
            self.ready.clear()
            self._client = None
            for link in list(self._links):
                link.disconnected = True
                link.mark_closed("ESPHome proxy connection lost")
            self._links.clear()
            self.free = None
            with contextlib.suppress(Exception):
                await client.disconnect(force=True)
        if self._restart.is_set():
            return
        log.error("ESPHome proxy %s connection lost (rebooted, or off the network); reconnecting", self.label)

    def restart(self, reason: str) -> None:
        """Drop the API session and open a new one (a watchdog saw the proxy's BMS silent)."""
        if self.ready.is_set():
            log.error("ESPHome proxy %s looks stuck: %s; reconnecting to it", self.label, reason)
            self._restart.set()

    def _on_advertisements(self, message: Any) -> None:
        for advert in message.advertisements:
            mac = mac_of(advert.address)
            address = ProxyAddress(advert.address, advert.address_type)
            self._seen[mac] = address
            self.heard[mac] = advert.rssi
            name = _name_in(bytes(advert.data))
            if name:
                self._seen[name] = address
                self.heard[name] = advert.rssi
        self._last_advert = time.monotonic()
        batch, self._batch = self._batch, asyncio.Event()
        batch.set()

    def _on_free(self, free: int, limit: int, allocated: list[int]) -> None:
        known = self.limit
        self.free, self.limit = free, limit
        if limit and limit != known:
            log.info("ESPHome proxy %s has %d BLE connection slots", self.label, limit)
            if self.on_limit is not None:
                self.on_limit(limit)
        self._slot_report.set()
        self.link_closed.set()  # a slot may be free again: the fleet looks again

    # -- the adapter interface ------------------------------------------------------------------------------
    async def _session(self) -> Any:
        try:
            async with asyncio.timeout(self.connect_timeout):
                await self.ready.wait()
        except TimeoutError:
            raise AdapterUnavailable(f"ESPHome proxy {self.label} is not available") from None
        assert self._client is not None
        return self._client

    async def resolve(self, target: str) -> ProxyAddress:
        """The address of a MAC or an advertised name, as heard by the proxy."""
        key = target.upper() if MAC_LIKE.match(target) else target
        if key in self._seen:
            return self._seen[key]
        await self._session()
        deadline = time.monotonic() + self.scan_timeout
        while key not in self._seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LinkError(f"{target} not seen advertising by ESPHome proxy {self.name} within "
                                f"{self.scan_timeout:g} s (out of range, asleep, or connected to a phone "
                                "app?)")  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._batch.wait(), remaining)
        address = self._seen[key]
        if key != target.upper():
            log.info("resolved %r to %s through ESPHome proxy %s", target, address.to_string(False), self.name)
        return address

    async def connect(self, target: str, profile: BleProfile, description: str, pin: str | None = None) -> EsphomeLink:
        """Connect through the proxy, discover the profile's service and subscribe: then the BMS is connected."""
        if pin:
            raise LinkError(no_pairing(description))
        if profile.explore:
            raise LinkError(f"{description}: exploring a GATT tree (snoop) needs a local adapter")
        address = await self.resolve(target)
        link = await self._open(address, description)
        try:
            await self._setup(link, profile)
        except BaseException:
            await link.close()
            raise
        return link

    async def connect_gatt(self, target: str, description: str, pin: str | None = None) -> EsphomeLink:
        """Connect and learn the whole GATT table, subscribing to nothing (aiobmsble's BMS, batmond/aio)."""
        if pin:
            raise LinkError(no_pairing(description))
        link = await self._open(await self.resolve(target), description)
        try:
            await link.discover_all()
        except BaseException:
            await link.close()
            raise
        return link

    async def _open(self, address: ProxyAddress, description: str) -> EsphomeLink:
        api = _api()
        client = await self._session()
        async with self._connect_lock:  # the ESP makes one LE connection at a time
            if not await self._free_slot():
                links = self.live_links()
                raise SlotsExhausted(f"{description}: ESPHome proxy {self.label} has no free BLE slot ({links} of "
                                     "them batmond's; others may be Home Assistant's)", links)  # fmt: skip
            mac = mac_of(address.address)
            link = EsphomeLink(description, self, client, address.address, 0, self.heard.get(mac))
            states: list[tuple[bool, int, int]] = []

            def on_state(connected: bool, mtu: int, error: int) -> None:
                states.append((connected, mtu, error))
                link.on_state(connected, mtu, error)

            try:
                async with asyncio.timeout(self.connect_timeout + DISCONNECT_TIMEOUT + 2):
                    link.unsubscribe = await client.bluetooth_device_connect(
                        address.address, on_state, timeout=self.connect_timeout,
                        disconnect_timeout=DISCONNECT_TIMEOUT, feature_flags=self._flags, has_cache=False,
                        address_type=address.address_type,
                    )  # fmt: skip
            except (TimeoutError, _api_errors().TimeoutAPIError):
                raise LinkError(f"{description}: not reachable through ESPHome proxy {self.name} within "
                                f"{self.connect_timeout:g} s") from None  # fmt: skip
            except (api.APIConnectionError, ValueError) as exc:
                raise LinkError(f"{description}: connect through ESPHome proxy {self.name} failed: "
                                f"{exc or type(exc).__name__}") from None  # fmt: skip
            connected, mtu, error = states[-1] if states else (False, 0, 0)
            if not connected:
                with contextlib.suppress(Exception):
                    if link.unsubscribe is not None:
                        link.unsubscribe()
                if error == CONNECTION_LIMIT_EXCEEDED or (error == 0 and not await self._free_slot()):
                    links = self.live_links()
                    raise SlotsExhausted(f"{description}: ESPHome proxy {self.label} refused one more connection "
                                         f"(no free slot) with {links} open", links)  # fmt: skip
                raise LinkError(f"{description}: connect through ESPHome proxy {self.name} failed (error {error})")
            link.mtu = mtu
        self._links.add(link)
        asyncio.ensure_future(link.closed.wait()).add_done_callback(lambda _: self._ended(link))
        return link

    async def _free_slot(self) -> bool:
        """Whether the proxy has a slot free, waiting a moment for its report: it follows a disconnect."""
        deadline = time.monotonic() + FREE_SLOT_WAIT
        while self.free == 0 and self.ready.is_set() and time.monotonic() < deadline:
            self._slot_report.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._slot_report.wait(), deadline - time.monotonic())
        return self.free != 0

    def _ended(self, link: EsphomeLink) -> None:
        self._links.discard(link)
        self.link_closed.set()

    async def _setup(self, link: EsphomeLink, profile: BleProfile) -> None:
        await link.discover_all()
        wanted = core.UUID(profile.service)
        service = next((s for s in link.services if core.UUID(s.uuid) == wanted), None)
        if service is None:
            raise LinkError(f"{link.description}: GATT service {profile.service} not found")
        characteristics = service.characteristics
        if profile.notify is not None:
            notify = _pick(characteristics, profile.notify, NOTIFY | INDICATE)
            if notify is None:
                raise LinkError(f"{link.description}: characteristic {profile.notify} (notify) not found")
            await link.start_notify(notify.handle, link_data(link))
        if profile.write is not None:
            write = _pick(characteristics, profile.write, WRITE | WRITE_WITHOUT_RESPONSE)
            if write is None:
                raise LinkError(f"{link.description}: characteristic {profile.write} (write) not found")
            link.command_handle = write.handle
            link.with_response = profile.write_with_response or not write.properties & WRITE_WITHOUT_RESPONSE
        for uuid in map(str.lower, profile.values):
            value = _pick(characteristics, uuid, READ | NOTIFY)
            if value is None:
                continue  # this firmware lacks it: the codec gets an empty value, "not available"
            link.values[uuid] = value.handle
            if value.properties & NOTIFY:
                await link.start_notify(value.handle, lambda data, u=uuid: link.on_value(u, data))
        log.debug("%s: through ESPHome proxy %s, MTU %d (asked %d by the proxy), subscribed to %s", link.description,
                  self.name, link.mtu, REQUESTED_MTU, profile.notify or f"{len(link.values)} values")  # fmt: skip

    def live_links(self) -> int:
        return sum(1 for link in self._links if link.alive)

    def advertised_name(self, mac: str) -> str | None:
        for key, address in self._seen.items():
            if not MAC_LIKE.match(key) and address.to_string(False) == mac.upper():
                return key
        return None


def no_pairing(description: str) -> str:
    # The proxy's firmware pairs "just works" only: it has no way to type the passkey a Victron asks for.
    return (f"{description}: pairing with a PIN is not possible through an ESPHome proxy: pin this BMS to a local "
            "adapter (bluetooth_adapter)")  # fmt: skip


def _why(exc: BaseException) -> str:
    """A short reason for a failed API connect: aioesphomeapi's messages list every address it tried."""
    cause = exc.__cause__
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    text = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        return f"no answer within {API_TIMEOUT:g} s"
    return text.split(": ", 1)[1] if text.startswith("Error connecting to [") and ": " in text else text


def link_data(link: Link) -> Callable[[bytes], None]:
    return lambda data: link.on_data(data)  # on_data is set by the poller after the link is made


def _pick(characteristics: tuple[GattCharacteristic, ...], uuid: str, wanted: int) -> GattCharacteristic | None:
    """The characteristic with this UUID and property; JK exposes FFE1 twice (write and notify handles)."""
    wanted_uuid = core.UUID(uuid)
    for characteristic in characteristics:
        if core.UUID(characteristic.uuid) == wanted_uuid and characteristic.properties & wanted:
            return characteristic
    return None


def _name_in(data: bytes) -> str | None:
    """The complete (else shortened) local name in raw advertisement + scan response AD structures."""
    try:
        ad = core.AdvertisingData.from_bytes(data)
    except Exception:  # a malformed advertisement from some other device
        return None
    name = ad.get(core.AdvertisingData.COMPLETE_LOCAL_NAME) or ad.get(core.AdvertisingData.SHORTENED_LOCAL_NAME)
    return name if isinstance(name, str) and name else None
