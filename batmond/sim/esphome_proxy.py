"""A simulated ESPHome Bluetooth proxy (the ESP32 side of the native API) in front of the simulated BMS.

The API side speaks what ESPHome firmware speaks on port 6053: plaintext frames (0x00, varint length, varint
type, protobuf) or, with an encryption key, Noise_NNpsk0_25519_ChaChaPoly_SHA256 as the responder, refusing a
wrong key or the wrong framing with the frames the firmware sends, so aioesphomeapi raises its usual errors.
Messages are aioesphomeapi's own protobuf classes.

The BLE side is an adapter on the simulator's radio (:meth:`Simulator.add_adapter`): a SimController behind an
HCI server, driven by a bumble host in this process exactly as batmond drives a local dongle. So connection
slots, hearing, RSSI and a refused connect (Connection Limit Exceeded) come from the same controller code the
local adapters use, and handles are bumble's (the BMS's real attribute handles).

Firmware rules kept (research/esphome-proxies-and-adapters.md A.9): several API clients may connect, but only the
first advertisement subscriber owns the proxy's BLE side. Every BLE answer (connection state, GATT, slot pushes)
goes to that owner or nowhere, and when the owner goes away every BLE link is dropped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aioesphomeapi import api_pb2 as pb
from aioesphomeapi.core import MESSAGE_TYPE_TO_PROTO
from aioesphomeapi.model import BluetoothProxyFeature
from bumble import core, hci
from bumble.device import Advertisement, Connection, Device, DeviceConfiguration, Peer
from bumble.transport import open_transport
from cryptography.exceptions import InvalidTag
from google.protobuf.message import DecodeError, Message
from noise.connection import NoiseConnection

from batmond.sim import Simulator, SimulatorError, address_for
from batmond.sim.link import SimController
from batmond.transports.ble import own_address

log = logging.getLogger("batmond.sim")

# What an active ESP32 proxy (bluetooth_proxy: active: true) announces; no PAIRING: pairing is not simulated.
FEATURES = (BluetoothProxyFeature.PASSIVE_SCAN | BluetoothProxyFeature.ACTIVE_CONNECTIONS
            | BluetoothProxyFeature.REMOTE_CACHING | BluetoothProxyFeature.CACHE_CLEARING
            | BluetoothProxyFeature.RAW_ADVERTISEMENTS | BluetoothProxyFeature.FEATURE_STATE_AND_MODE)  # fmt: skip
# API 1.14: below 1.15 clients take the proxy flags from DeviceInfo (DeviceCapabilities is answered too).
API_VERSION = (1, 14)
ESPHOME_VERSION = "2026.6.5"
SHORT_UUID_API = (1, 12)  # clients from API 1.12 on take 16/32-bit UUIDs as short_uuid
NOISE_PROTOCOL = b"Noise_NNpsk0_25519_ChaChaPoly_SHA256"
NOISE_PROLOGUE = b"NoiseAPIInit"  # the firmware appends the client hello's length and bytes
NOISE_HANDSHAKE_MAX = 128  # the firmware's limit on a frame before the handshake is done
MAX_FRAME = 0xFFFF
MAX_CLIENTS = 5  # api: max_connections, esp32 default
MAX_SEND_BUFFER = 256 * 1024  # a client this far behind is dropped, as the firmware's send queue does
HANDSHAKE_TIMEOUT = 10.0
ADVERTISEMENT_INTERVAL = 0.1
ADVERTISEMENT_BATCH = 16  # BLUETOOTH_PROXY_ADVERTISEMENT_BATCH_SIZE
PENDING_ADVERTISEMENTS = 64  # distinct devices kept between two batches
MAX_ADVERTISEMENT_DATA = 62  # advertisement + scan response
MTU = 517  # Bluedroid asks for the largest MTU right after connecting
CONNECT_TIMEOUT = 20.0
GATT_TIMEOUT = 10.0
REBOOT_SECONDS = 1.0
HCI_POWER_ON_TIMEOUT = 5.0
# Error numbers the firmware puts in its answers
GATT_NOT_CONNECTED = -1  # ESPHome's own "not connected"
ESP_GATT_ERROR = 133  # ESP_GATT_ERROR: a connect or GATT procedure failed without an ATT error
ESP_ERR_NOT_SUPPORTED = 0x106
LOCAL_HOST_TERMINATED = hci.HCI_ErrorCode.CONNECTION_TERMINATED_BY_LOCAL_HOST_ERROR

TYPE_OF: dict[type[Message], int] = {cls: number for number, cls in MESSAGE_TYPE_TO_PROTO.items()}
DeviceRequest = pb.BluetoothDeviceRequestType
CONNECTS = (DeviceRequest.BLUETOOTH_DEVICE_REQUEST_TYPE_CONNECT_V3_WITH_CACHE,
            DeviceRequest.BLUETOOTH_DEVICE_REQUEST_TYPE_CONNECT_V3_WITHOUT_CACHE)  # fmt: skip


class Refused(Exception):
    """The client broke the framing or the handshake; the refusal frame has been written."""


# -- framing --------------------------------------------------------------------------------------------------
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


async def _read_varint(reader: asyncio.StreamReader) -> int:
    value = 0
    for shift in range(0, 35, 7):  # the firmware's varints for length and type fit in 32 bits
        byte = (await reader.readexactly(1))[0]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
    raise Refused("varint too long")


class PlaintextFramer:
    async def handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Plaintext has none; a Noise client is told at its first frame."""

    async def read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[int, bytes]:
        preamble = (await reader.readexactly(1))[0]
        if preamble != 0x00:
            # The firmware's answer to a Noise hello: a plaintext marker and a reason, then it hangs up.
            writer.write(b"\x00Bad indicator byte")
            raise Refused("bad indicator byte")
        length = await _read_varint(reader)
        kind = await _read_varint(reader)
        if length > MAX_FRAME:
            raise Refused(f"frame of {length} bytes")
        return kind, await reader.readexactly(length)

    def encode(self, kind: int, payload: bytes) -> bytes:
        return b"\x00" + _varint(len(payload)) + _varint(kind) + payload


class NoiseFramer:
    """The responder's side of ESPHome's Noise framing: 0x01, 2-byte length, then handshake or ciphertext."""

    def __init__(self, psk: bytes, name: str, mac: str) -> None:
        self._psk = psk
        self._hello = b"\x01" + name.encode() + b"\x00" + mac.encode() + b"\x00"  # chosen protocol, name, MAC
        self._noise: NoiseConnection | None = None

    async def _frame(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int) -> bytes:
        header = await reader.readexactly(3)
        if header[0] != 0x01:
            self._reject(writer, "Bad indicator byte")  # a plaintext client raises RequiresEncryption on it
        size = int.from_bytes(header[1:], "big")
        if size > limit:
            self._reject(writer, "Bad handshake packet len")
        return await reader.readexactly(size)

    def _write_frame(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(b"\x01" + len(data).to_bytes(2, "big") + data)

    def _reject(self, writer: asyncio.StreamWriter, reason: str) -> None:
        self._write_frame(writer, b"\x01" + reason.encode())
        raise Refused(reason)

    async def handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client_hello = await self._frame(reader, writer, NOISE_HANDSHAKE_MAX)
        self._write_frame(writer, self._hello)
        noise = NoiseConnection.from_name(NOISE_PROTOCOL)
        noise.set_as_responder()
        noise.set_psks(self._psk)
        noise.set_prologue(NOISE_PROLOGUE + len(client_hello).to_bytes(2, "big") + client_hello)
        noise.start_handshake()
        message = await self._frame(reader, writer, NOISE_HANDSHAKE_MAX)
        if not message:
            self._reject(writer, "Empty handshake message")
        if message[0] != 0x00:
            self._reject(writer, "Bad handshake error byte")
        try:
            noise.read_message(message[1:])
        except InvalidTag:
            self._reject(writer, "Handshake MAC failure")  # aioesphomeapi: InvalidEncryptionKeyAPIError
        except Exception:
            self._reject(writer, "Handshake error")
        self._write_frame(writer, b"\x00" + noise.write_message())
        self._noise = noise

    async def read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[int, bytes]:
        assert self._noise is not None
        frame = await self._frame(reader, writer, MAX_FRAME)
        try:
            data = self._noise.decrypt(frame)
        except InvalidTag:
            raise Refused("decryption failed") from None
        if len(data) < 4:
            raise Refused("short data frame")
        length = int.from_bytes(data[2:4], "big")
        if length > len(data) - 4:
            raise Refused("data length beyond the frame")
        return int.from_bytes(data[:2], "big"), data[4 : 4 + length]

    def encode(self, kind: int, payload: bytes) -> bytes:
        assert self._noise is not None
        ciphertext = self._noise.encrypt(kind.to_bytes(2, "big") + len(payload).to_bytes(2, "big") + payload)
        return b"\x01" + len(ciphertext).to_bytes(2, "big") + ciphertext


Framer = PlaintextFramer | NoiseFramer


def decode_psk(key: str) -> bytes:
    """An ESPHome ``api: encryption: key:``: base64 of 32 bytes."""
    try:
        psk = base64.b64decode(key, validate=True)
    except binascii.Error as exc:
        raise ValueError("the encryption key is not base64") from exc
    if len(psk) != 32:
        raise ValueError(f"the encryption key is {len(psk)} bytes, not 32")
    return psk


# -- one API client -------------------------------------------------------------------------------------------
class Session:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, framer: Framer) -> None:
        self.reader = reader
        self.writer = writer
        self.framer = framer
        self.api_version = (0, 0)
        self.ready = False  # after the handshake: Noise frames cannot be encoded before it

    def send(self, *messages: Message) -> None:
        if not self.ready or self.writer.is_closing():
            return
        for message in messages:
            self.writer.write(self.framer.encode(TYPE_OF[type(message)], message.SerializeToString()))
        if self.writer.transport.get_write_buffer_size() > MAX_SEND_BUFFER:
            log.warning("esphome proxy: client too slow, dropping it")
            self.close()

    def close(self) -> None:
        self.writer.close()


# -- one BLE connection slot ----------------------------------------------------------------------------------
@dataclass(eq=False)
class Slot:
    address: int
    address_type: int
    task: asyncio.Task | None = None
    connection: Connection | None = None
    peer: Peer | None = None  # set once MTU and discovery are done: the link is usable
    notifying: dict[int, Callable[[bytes], None]] = field(default_factory=dict)


def mac_of(address: int) -> str:
    return ":".join(f"{b:02X}" for b in address.to_bytes(6, "big"))


def address_of(address: hci.Address) -> int:
    return int(address.to_string(False).replace(":", ""), 16)


def uuid_fields(uuid: core.UUID, api_version: tuple[int, int]) -> dict[str, Any]:
    """A UUID as the firmware sends it: short_uuid for 16/32-bit ones to new clients, else two uint64."""
    if len(uuid.uuid_bytes) in (2, 4) and api_version >= SHORT_UUID_API:
        return {"short_uuid": int.from_bytes(uuid.uuid_bytes, "little")}
    value = int.from_bytes(uuid.to_bytes(force_128=True), "little")
    return {"uuid": [value >> 64, value & (1 << 64) - 1]}


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False


class EsphomeProxySim:
    """A simulated ESPHome Bluetooth proxy named ``name`` on ``host:port`` (0: any free port, see ``.port``).

    ``encryption_key`` (base64 of 32 bytes) turns on Noise; ``slots`` is ``bluetooth_proxy: connection_slots``;
    ``hears`` maps the MACs its radio receives to their RSSI (None: every device at the default RSSI).
    Call :meth:`start` after ``sim.start``. Faults: :meth:`reboot`, :meth:`drop_tcp`, :meth:`exhaust_slots`,
    :meth:`stall_gatt`.
    """

    def __init__(self, name: str, sim: Simulator, host: str = "127.0.0.1", port: int = 0,
                 encryption_key: str | None = None, slots: int = 3,
                 hears: dict[str, int] | None = None) -> None:  # fmt: skip
        if not _loopback(host):
            raise SimulatorError(f"the simulated ESPHome proxy {name} listens on loopback only (host = "
                                 f'"127.0.0.1"), not {host}')  # fmt: skip
        self.name = name
        self.sim = sim
        self.host = host
        self.port = port
        self.slots = slots
        self.hears = hears
        self._psk = decode_psk(encryption_key) if encryption_key is not None else None
        self.mac = address_for(f"esphome proxy {name}")
        self.adapter_name = f"proxy-{name}"
        self.adapter: SimController | None = None
        self._hci_port = 0
        self._hci: Any = None  # bumble's transport
        self._device: Device | None = None
        self._server: asyncio.Server | None = None
        self._sessions: set[Session] = set()
        self._owner: Session | None = None  # the advertisement subscriber: the only one BLE answers go to
        self._slots: dict[int, Slot] = {}
        self._pending: dict[int, pb.BluetoothLERawAdvertisement] = {}
        self._tasks: set[asyncio.Task] = set()
        self._flusher: asyncio.Task | None = None
        self._connect_lock = asyncio.Lock()  # a controller makes one LE connection at a time
        self._exhausted = False
        self._stalled = False

    @property
    def bluetooth_mac(self) -> str:
        """An ESP32's Bluetooth MAC is its base (Wi-Fi) MAC plus two."""
        return mac_of((int(self.mac.replace(":", ""), 16) + 2) & (1 << 48) - 1)

    # -- life cycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._hci_port = _free_port()
        self.adapter = await self.sim.add_adapter(self.adapter_name, f"tcp-server:127.0.0.1:{self._hci_port}",
                                                  slots=self.slots, hears=self.hears)  # fmt: skip
        if not self.sim.servers[self.adapter_name].serving:
            raise SimulatorError("start the simulator before its ESPHome proxy")
        await self._come_up()

    async def stop(self) -> None:
        await self._go_down()
        await self.sim.kill_adapter(self.adapter_name)

    async def _come_up(self) -> None:
        self._hci = await open_transport(f"tcp-client:127.0.0.1:{self._hci_port}")
        config = DeviceConfiguration(name=self.name, address=own_address(self.adapter_name))
        device = Device.from_config_with_hci(config, self._hci.source, self._hci.sink)
        device.command_timeout = 3.0
        await asyncio.wait_for(device.power_on(), HCI_POWER_ON_TIMEOUT)
        device.on("advertisement", self._on_advertisement)
        await device.start_scanning(active=True, filter_duplicates=False)
        self._device = device
        self._flusher = asyncio.create_task(self._flush_advertisements())
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("esphome proxy %s: API on %s:%d%s", self.name, self.host, self.port,
                 " (encrypted)" if self._psk else "")  # fmt: skip

    async def _go_down(self) -> None:
        if self._server is not None:
            self._server.close()  # new clients are refused from now on
            self._server = None
        self._owner = None  # before the sessions end, so their end does not start graceful BLE disconnects
        for session in list(self._sessions):
            session.close()
        for task in [self._flusher, *self._tasks]:
            if task is not None:
                task.cancel()
        self._flusher = None
        self._slots.clear()
        self._pending.clear()
        if self.adapter is not None:
            self.adapter.power_off()  # the ESP's radio goes quiet: its BMS see a supervision timeout
        self._device = None
        if self._hci is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._hci.close(), 2)
            self._hci = None

    @property
    def owner(self) -> object | None:
        """The API client that subscribed to advertisements (the daemon): the only one BLE answers go to."""
        return self._owner

    @property
    def stalled(self) -> bool:
        return self._stalled

    # -- faults -----------------------------------------------------------------------------------------------
    async def reboot(self, down_for: float = REBOOT_SECONDS) -> None:
        """Drop every API client and BLE link, refuse connections for ``down_for`` s, come back on the same port."""
        log.info("esphome proxy %s: rebooting", self.name)
        await self._go_down()
        await asyncio.sleep(down_for)
        await self._come_up()

    def drop_tcp(self) -> None:
        """Cut every API client off (Wi-Fi trouble); the proxy then drops its BLE links, having no owner."""
        for session in list(self._sessions):
            session.close()

    def exhaust_slots(self, exhausted: bool = True) -> None:
        """Report no free slot and refuse every connect, whatever is allocated."""
        self._exhausted = exhausted
        self._push_free()

    def stall_gatt(self, stalled: bool = True) -> None:
        """GATT requests get no answer at all (a wedged Bluedroid)."""
        self._stalled = stalled

    # -- API clients ------------------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._sessions) >= MAX_CLIENTS:
            writer.close()
            return
        framer: Framer = NoiseFramer(self._psk, self.name, self.mac) if self._psk else PlaintextFramer()
        session = Session(reader, writer, framer)
        self._sessions.add(session)
        try:
            await asyncio.wait_for(framer.handshake(reader, writer), HANDSHAKE_TIMEOUT)
            session.ready = True
            while True:
                kind, payload = await framer.read(reader, writer)
                self._dispatch(session, kind, payload)
        except (Refused, DecodeError) as exc:
            log.info("esphome proxy %s: client refused: %s", self.name, exc)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass  # the client went away (or never finished its handshake)
        finally:
            self._sessions.discard(session)
            writer.close()
            if self._owner is session:
                self._lose_owner()

    def _dispatch(self, session: Session, kind: int, payload: bytes) -> None:
        cls = MESSAGE_TYPE_TO_PROTO.get(kind)
        handler = self._handlers.get(cls) if cls is not None else None
        if handler is None:
            log.debug("esphome proxy %s: ignoring message type %d", self.name, kind)
            return
        handler(self, session, cls.FromString(payload))

    def _on_hello(self, session: Session, msg: pb.HelloRequest) -> None:
        session.api_version = (msg.api_version_major, msg.api_version_minor)
        major, minor = API_VERSION
        server_info = f"{self.name} (esphome v{ESPHOME_VERSION})"
        session.send(pb.HelloResponse(api_version_major=major, api_version_minor=minor, server_info=server_info,
                                      name=self.name))  # fmt: skip

    def _on_device_info(self, session: Session, msg: pb.DeviceInfoRequest) -> None:
        session.send(pb.DeviceInfoResponse(
            name=self.name, friendly_name=self.name, mac_address=self.mac, esphome_version=ESPHOME_VERSION,
            model="esp32dev", manufacturer="Espressif", bluetooth_proxy_feature_flags=FEATURES,
            bluetooth_mac_address=self.bluetooth_mac, api_encryption_supported=self._psk is not None,
        ))  # fmt: skip

    def _on_capabilities(self, session: Session, msg: pb.DeviceCapabilitiesRequest) -> None:
        proxy = pb.BluetoothProxyCapabilities(feature_flags=FEATURES, mac_address=self.bluetooth_mac)
        session.send(pb.DeviceCapabilitiesResponse(bluetooth_proxy=proxy))

    def _on_ping(self, session: Session, msg: pb.PingRequest) -> None:
        session.send(pb.PingResponse())

    def _on_disconnect_request(self, session: Session, msg: pb.DisconnectRequest) -> None:
        session.send(pb.DisconnectResponse())
        session.close()

    def _on_list_entities(self, session: Session, msg: pb.ListEntitiesRequest) -> None:
        session.send(pb.ListEntitiesDoneResponse())  # a proxy with no entities

    # -- advertisements ---------------------------------------------------------------------------------------
    def _on_subscribe_advertisements(self, session: Session, msg: pb.SubscribeBluetoothLEAdvertisementsRequest) -> None:
        if self._owner is not None and self._owner is not session:
            # The firmware logs "Only one API subscription is allowed at a time" and ignores the request.
            log.error("esphome proxy %s: only one API subscription is allowed at a time", self.name)
            return
        # Only raw batches: the parsed form (flags 0) was removed from the firmware in 2025.8.
        self._owner = session
        session.send(pb.BluetoothScannerStateResponse(
            state=pb.BLUETOOTH_SCANNER_STATE_RUNNING, mode=pb.BLUETOOTH_SCANNER_MODE_ACTIVE,
            configured_mode=pb.BLUETOOTH_SCANNER_MODE_ACTIVE,
        ))  # fmt: skip

    def _on_unsubscribe_advertisements(self, session: Session, msg: Message) -> None:
        if self._owner is session:
            self._lose_owner()

    def _lose_owner(self) -> None:
        # With no subscriber the firmware's loop disconnects every BLE link.
        self._owner = None
        self._pending.clear()
        for slot in list(self._slots.values()):
            self._disconnect(slot)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        if self._owner is None:
            return
        address = address_of(advertisement.address)
        if address not in self._pending and len(self._pending) >= PENDING_ADVERTISEMENTS:
            return
        self._pending[address] = pb.BluetoothLERawAdvertisement(
            address=address, rssi=advertisement.rssi, address_type=advertisement.address.address_type,
            data=bytes(advertisement.data)[:MAX_ADVERTISEMENT_DATA],
        )  # fmt: skip

    async def _flush_advertisements(self) -> None:
        while True:
            await asyncio.sleep(ADVERTISEMENT_INTERVAL)
            pending, self._pending = list(self._pending.values()), {}
            for start in range(0, len(pending), ADVERTISEMENT_BATCH):
                batch = pending[start : start + ADVERTISEMENT_BATCH]
                self._to_owner(pb.BluetoothLERawAdvertisementsResponse(advertisements=batch))

    def _to_owner(self, *messages: Message) -> None:
        if self._owner is not None:
            self._owner.send(*messages)

    # -- connection slots -------------------------------------------------------------------------------------
    def _free(self) -> int:
        return 0 if self._exhausted else max(0, self.slots - len(self._slots))

    def _free_message(self) -> pb.BluetoothConnectionsFreeResponse:
        return pb.BluetoothConnectionsFreeResponse(free=self._free(), limit=self.slots, allocated=list(self._slots))

    def _push_free(self) -> None:
        self._to_owner(self._free_message())

    def _on_subscribe_free(self, session: Session, msg: pb.SubscribeBluetoothConnectionsFreeRequest) -> None:
        session.send(self._free_message())  # the first answer goes to the asker, later pushes to the owner

    def _send_state(self, address: int, connected: bool, mtu: int = 0, error: int = 0) -> None:
        self._to_owner(pb.BluetoothDeviceConnectionResponse(address=address, connected=connected, mtu=mtu,
                                                            error=error))  # fmt: skip

    def _on_device_request(self, session: Session, msg: pb.BluetoothDeviceRequest) -> None:
        kind = msg.request_type
        if kind in CONNECTS:
            self._connect(msg.address, msg.address_type)
        elif kind == DeviceRequest.BLUETOOTH_DEVICE_REQUEST_TYPE_DISCONNECT:
            slot = self._slots.get(msg.address)
            if slot is None:
                self._send_state(msg.address, False)
                self._push_free()
            else:
                self._disconnect(slot)
        elif kind == DeviceRequest.BLUETOOTH_DEVICE_REQUEST_TYPE_PAIR:
            self._to_owner(pb.BluetoothDevicePairingResponse(address=msg.address, paired=False,
                                                             error=ESP_ERR_NOT_SUPPORTED))  # fmt: skip
        elif kind == DeviceRequest.BLUETOOTH_DEVICE_REQUEST_TYPE_UNPAIR:
            self._to_owner(pb.BluetoothDeviceUnpairingResponse(address=msg.address, success=False,
                                                               error=ESP_ERR_NOT_SUPPORTED))  # fmt: skip
        elif kind == DeviceRequest.BLUETOOTH_DEVICE_REQUEST_TYPE_CLEAR_CACHE:
            # Nothing is cached here (every connect discovers afresh), so clearing always succeeds.
            self._to_owner(pb.BluetoothDeviceClearCacheResponse(address=msg.address, success=True))
        else:  # the V1 connect, long gone from the firmware
            self._send_state(msg.address, False, error=ESP_ERR_NOT_SUPPORTED)

    def _connect(self, address: int, address_type: int) -> None:
        slot = self._slots.get(address)
        if slot is not None:
            if slot.peer is not None and slot.connection is not None:  # already connected: say so again
                self._send_state(address, True, slot.connection.att_mtu)
                self._push_free()
            return  # else a connect is under way and will answer
        if self._free() == 0:
            log.warning("esphome proxy %s: no free connections available", self.name)
            self._send_state(address, False)  # the firmware answers with no error number
            return
        slot = Slot(address, address_type)
        self._slots[address] = slot
        self._push_free()
        slot.task = self._spawn(self._establish(slot))

    async def _establish(self, slot: Slot) -> None:
        device = self._device
        assert device is not None
        try:
            async with self._connect_lock:
                target = hci.Address(mac_of(slot.address), slot.address_type)
                slot.connection = await device.connect(target, timeout=CONNECT_TIMEOUT)
            slot.connection.on("disconnection", lambda reason: self._release(slot, reason))
            peer = Peer(slot.connection)
            await asyncio.wait_for(peer.request_mtu(MTU), GATT_TIMEOUT)
            await asyncio.wait_for(peer.discover_all(), GATT_TIMEOUT)
        except core.BaseError as exc:
            # An HCI refusal keeps its number (Connection Limit Exceeded is 0x09) so a test can tell it.
            self._fail(slot, exc.error_code if exc.error_code is not None else ESP_GATT_ERROR)
            return
        except (TimeoutError, core.BaseBumbleError):  # any other failure still gives the slot back
            self._fail(slot, ESP_GATT_ERROR)
            return
        if self._slots.get(slot.address) is not slot:
            return  # the link dropped during discovery; its end was reported
        slot.peer = peer
        self._send_state(slot.address, True, slot.connection.att_mtu)

    def _fail(self, slot: Slot, error: int) -> None:
        connection = slot.connection
        self._release(slot, error)
        if connection is not None and self._device is not None:
            self._spawn(self._hang_up(connection))

    async def _hang_up(self, connection: Connection) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.disconnect(LOCAL_HOST_TERMINATED), GATT_TIMEOUT)

    def _disconnect(self, slot: Slot) -> None:
        """End a slot on request: cancel its connect, or disconnect and report when the link is down."""
        if slot.connection is None:
            if slot.task is not None:
                slot.task.cancel()
            self._release(slot, 0)
            return

        async def disconnect(connection: Connection) -> None:
            await self._hang_up(connection)
            self._release(slot, LOCAL_HOST_TERMINATED)  # no-op when the disconnection event came

        self._spawn(disconnect(slot.connection))

    def _release(self, slot: Slot, error: int) -> None:
        if self._slots.get(slot.address) is not slot:
            return
        del self._slots[slot.address]
        if slot.peer is not None:
            for handle in list(slot.notifying):
                self._unsubscribe(slot, handle)
        self._send_state(slot.address, False, error=error)
        self._push_free()

    # -- GATT -------------------------------------------------------------------------------------------------
    def _gatt(self, session: Session, msg: Message) -> None:
        if self._stalled:
            return
        slot = self._slots.get(msg.address)
        handle = getattr(msg, "handle", 0)
        if slot is None or slot.peer is None:
            self._to_owner(pb.BluetoothGATTErrorResponse(address=msg.address, handle=handle, error=GATT_NOT_CONNECTED))
            return
        self._spawn(self._gatt_request(session, slot, slot.peer, msg, handle))

    async def _gatt_request(self, session: Session, slot: Slot, peer: Peer, msg: Message, handle: int) -> None:
        try:
            reply = await asyncio.wait_for(self._gatt_answer(session, slot, peer, msg), GATT_TIMEOUT)
        except core.ProtocolError as exc:  # the BMS's ATT error
            error = exc.error_code if exc.error_code is not None else ESP_GATT_ERROR
            reply = [pb.BluetoothGATTErrorResponse(address=slot.address, handle=handle, error=error)]
        except (TimeoutError, core.BaseBumbleError):
            reply = [pb.BluetoothGATTErrorResponse(address=slot.address, handle=handle, error=ESP_GATT_ERROR)]
        if self._slots.get(slot.address) is slot:  # a dropped link was reported already
            self._to_owner(*reply)

    async def _gatt_answer(self, session: Session, slot: Slot, peer: Peer, msg: Message) -> list[Message]:
        address = slot.address
        if isinstance(msg, pb.BluetoothGATTGetServicesRequest):
            return [*self._services(peer, address, session.api_version),
                    pb.BluetoothGATTGetServicesDoneResponse(address=address)]  # fmt: skip
        if isinstance(msg, pb.BluetoothGATTReadRequest | pb.BluetoothGATTReadDescriptorRequest):
            data = await peer.read_value(msg.handle)
            return [pb.BluetoothGATTReadResponse(address=address, handle=msg.handle, data=bytes(data))]
        if isinstance(msg, pb.BluetoothGATTWriteRequest):
            await peer.write_value(msg.handle, msg.data, with_response=msg.response)
            return [pb.BluetoothGATTWriteResponse(address=address, handle=msg.handle)] if msg.response else []
        if isinstance(msg, pb.BluetoothGATTWriteDescriptorRequest):
            await peer.write_value(msg.handle, msg.data, with_response=True)
            return [pb.BluetoothGATTWriteResponse(address=address, handle=msg.handle)]
        assert isinstance(msg, pb.BluetoothGATTNotifyRequest)
        # Like Bluedroid's register_for_notify: local only. With remote caching the client writes the CCCD.
        if msg.enable:
            self._subscribe(slot, msg.handle)
        else:
            self._unsubscribe(slot, msg.handle)
        return [pb.BluetoothGATTNotifyResponse(address=address, handle=msg.handle)]

    def _services(self, peer: Peer, address: int, api_version: tuple[int, int]) -> list[Message]:
        responses = []
        for service in peer.services:
            characteristics = [
                pb.BluetoothGATTCharacteristic(
                    handle=characteristic.handle, properties=int(characteristic.properties),
                    descriptors=[pb.BluetoothGATTDescriptor(handle=d.handle, **uuid_fields(d.type, api_version))
                                 for d in characteristic.descriptors],
                    **uuid_fields(characteristic.uuid, api_version),
                )
                for characteristic in service.characteristics
            ]  # fmt: skip
            gatt_service = pb.BluetoothGATTService(handle=service.handle, characteristics=characteristics,
                                                   **uuid_fields(service.uuid, api_version))  # fmt: skip
            responses.append(pb.BluetoothGATTGetServicesResponse(address=address, services=[gatt_service]))
        return responses

    def _subscribe(self, slot: Slot, handle: int) -> None:
        assert slot.peer is not None
        if handle in slot.notifying:
            return

        def on_value(value: bytes) -> None:
            if self._slots.get(slot.address) is slot:
                self._to_owner(pb.BluetoothGATTNotifyDataResponse(address=slot.address, handle=handle,
                                                                  data=bytes(value)))  # fmt: skip

        slot.notifying[handle] = on_value
        client = slot.peer.gatt_client
        # Bluedroid reports notifications and indications alike as NOTIFY events.
        for subscribers in (client.notification_subscribers, client.indication_subscribers):
            subscribers.setdefault(handle, set()).add(on_value)

    def _unsubscribe(self, slot: Slot, handle: int) -> None:
        on_value = slot.notifying.pop(handle, None)
        if on_value is None or slot.peer is None:
            return
        client = slot.peer.gatt_client
        for subscribers in (client.notification_subscribers, client.indication_subscribers):
            subscribers.get(handle, set()).discard(on_value)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    _handlers: ClassVar[dict[type[Message], Callable[[EsphomeProxySim, Session, Any], None]]] = {
        pb.HelloRequest: _on_hello,
        pb.DeviceInfoRequest: _on_device_info,
        pb.DeviceCapabilitiesRequest: _on_capabilities,
        pb.PingRequest: _on_ping,
        pb.DisconnectRequest: _on_disconnect_request,
        pb.ListEntitiesRequest: _on_list_entities,
        pb.SubscribeBluetoothLEAdvertisementsRequest: _on_subscribe_advertisements,
        pb.UnsubscribeBluetoothLEAdvertisementsRequest: _on_unsubscribe_advertisements,
        pb.SubscribeBluetoothConnectionsFreeRequest: _on_subscribe_free,
        pb.BluetoothDeviceRequest: _on_device_request,
        pb.BluetoothGATTGetServicesRequest: _gatt,
        pb.BluetoothGATTReadRequest: _gatt,
        pb.BluetoothGATTReadDescriptorRequest: _gatt,
        pb.BluetoothGATTWriteRequest: _gatt,
        pb.BluetoothGATTWriteDescriptorRequest: _gatt,
        pb.BluetoothGATTNotifyRequest: _gatt,
    }
    # AuthenticationRequest, SubscribeStates/Logs/HomeAssistant* and the rest get no answer, as on a proxy
    # without entities or password (removed in ESPHome 2026.1).


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
