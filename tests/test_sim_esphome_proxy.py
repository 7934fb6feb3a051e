"""The simulated ESPHome Bluetooth proxy as aioesphomeapi's real APIClient sees it, over TCP on 127.0.0.1.

Behind it: a simulated JBD BMS on the simulator's radio, reached through the proxy's own adapter.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator

import pytest

aioesphomeapi = pytest.importorskip("aioesphomeapi")  # the `esphome` extra

from aioesphomeapi import APIClient, BluetoothProxyFeature  # noqa: E402
from aioesphomeapi.core import (  # noqa: E402
    APIConnectionError,
    EncryptionPlaintextAPIError,
    InvalidEncryptionKeyAPIError,
    RequiresEncryptionAPIError,
    TimeoutAPIError,
)
from helpers import wait_until  # noqa: E402

from batmond.protocols import jbd  # noqa: E402
from batmond.sim import SimSpec, Simulator  # noqa: E402
from batmond.sim.esphome_proxy import FEATURES, EsphomeProxySim  # noqa: E402

pytestmark = pytest.mark.timeout(10)
JBD = SimSpec(type="jbd", name="jbd1", address="E4:C1:38:00:12:34")
OTHER = SimSpec(type="jbd", name="jbd2", address="E4:C1:38:00:12:35")
KEY = base64.b64encode(bytes(range(32))).decode()
RANDOM = 1  # simulated BMS advertise a random address
ADDRESS = int(JBD.address.replace(":", ""), 16)
SECOND = int(OTHER.address.replace(":", ""), 16)
TIMEOUT = 5.0


@contextlib.asynccontextmanager
async def running(encryption_key: str | None = None, slots: int = 3,
                  hears: dict[str, int] | None = None) -> AsyncIterator[EsphomeProxySim]:  # fmt: skip
    sim = Simulator()
    await sim.start([JBD, OTHER])
    proxy = EsphomeProxySim("proxy1", sim, encryption_key=encryption_key, slots=slots, hears=hears)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
        await sim.stop()


@contextlib.asynccontextmanager
async def client_of(proxy: EsphomeProxySim, key: str | None = None, on_stop=None) -> AsyncIterator[APIClient]:
    client = APIClient("127.0.0.1", proxy.port, None, noise_psk=key, client_info="batmond-test")
    await asyncio.wait_for(client.connect(on_stop=on_stop, login=True), TIMEOUT)
    try:
        yield client
    finally:
        with contextlib.suppress(APIConnectionError, TimeoutError):
            await asyncio.wait_for(client.disconnect(), TIMEOUT)


class Owner:
    """A client that owns the proxy's BLE side: it subscribes to advertisements and to the free slots."""

    def __init__(self, client: APIClient) -> None:
        self.client = client
        self.adverts: list = []
        self.free: list[tuple[int, int, list[int]]] = []
        self.states: dict[int, tuple[bool, int, int]] = {}
        client.subscribe_bluetooth_le_raw_advertisements(lambda msg: self.adverts.extend(msg.advertisements))
        client.subscribe_bluetooth_connections_free(lambda free, limit, allocated: self.free.append(
            (free, limit, list(allocated))))  # fmt: skip

    def heard(self, address: int) -> list:
        return [advert for advert in self.adverts if advert.address == address]

    async def connect(self, address: int) -> tuple[bool, int, int]:
        def on_state(connected: bool, mtu: int, error: int) -> None:
            self.states[address] = (connected, mtu, error)

        await self.client.bluetooth_device_connect(address, on_state, timeout=TIMEOUT, feature_flags=FEATURES,
                                                   address_type=RANDOM)  # fmt: skip
        return self.states[address]


# -- handshake ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", [None, KEY], ids=["plaintext", "noise"])
async def test_connect_and_device_info_as_an_active_proxy(key):
    async with running(encryption_key=key) as proxy, client_of(proxy, key) as client:
        info = await asyncio.wait_for(client.device_info(), TIMEOUT)
        assert info.name == "proxy1" and info.mac_address == proxy.mac
        assert info.bluetooth_mac_address == proxy.bluetooth_mac
        assert client.api_version is not None
        flags = info.bluetooth_proxy_feature_flags_compat(client.api_version)
        for feature in ("PASSIVE_SCAN", "ACTIVE_CONNECTIONS", "REMOTE_CACHING", "RAW_ADVERTISEMENTS",
                        "FEATURE_STATE_AND_MODE"):  # fmt: skip
            assert flags & BluetoothProxyFeature[feature], feature
        assert not flags & BluetoothProxyFeature.PAIRING
        assert await asyncio.wait_for(client.list_entities_services(), TIMEOUT) == ([], [])


@pytest.mark.parametrize(
    ("proxy_key", "client_key", "error"),
    [
        (KEY, base64.b64encode(bytes(32)).decode(), InvalidEncryptionKeyAPIError),
        (KEY, None, RequiresEncryptionAPIError),
        (None, KEY, EncryptionPlaintextAPIError),
    ],
    ids=["wrong-key", "plaintext-client", "noise-client-plaintext-proxy"],
)
async def test_a_mismatched_client_is_refused_as_by_the_firmware(proxy_key, client_key, error):
    async with running(encryption_key=proxy_key) as proxy:
        with pytest.raises(error):
            async with client_of(proxy, client_key):
                pass


# -- advertisements -------------------------------------------------------------------------------------------
async def test_advertisements_arrive_at_the_configured_rssi_and_only_for_the_first_subscriber():
    async with running(hears={JBD.address: -67}) as proxy, client_of(proxy) as first, client_of(proxy) as second:
        owner = Owner(first)
        late: list = []
        second.subscribe_bluetooth_le_raw_advertisements(lambda msg: late.extend(msg.advertisements))
        adverts = await wait_until(lambda: owner.heard(ADDRESS), TIMEOUT, "an advertisement of the BMS")
        assert {advert.rssi for advert in adverts} == {-67}
        assert adverts[0].address_type == RANDOM and JBD.name.encode() in adverts[0].data
        await asyncio.sleep(0.5)
        assert not owner.heard(SECOND)  # the proxy does not hear it
        assert late == []  # one advertisement subscriber per proxy


# -- GATT -----------------------------------------------------------------------------------------------------
async def test_a_jbd_answers_a_written_request_by_notification_through_the_proxy():
    async with running() as proxy, client_of(proxy) as client:
        owner = Owner(client)
        await wait_until(lambda: owner.heard(ADDRESS), TIMEOUT, "an advertisement of the BMS")
        connected, mtu, error = await owner.connect(ADDRESS)
        assert connected and error == 0 and mtu > 23

        services = await asyncio.wait_for(client.bluetooth_gatt_get_services(ADDRESS), TIMEOUT)
        service = next(s for s in services.services if s.uuid.startswith("0000ff00"))
        notify = next(c for c in service.characteristics if c.uuid.startswith("0000ff01"))
        write = next(c for c in service.characteristics if c.uuid.startswith("0000ff02"))
        cccd = next(d for d in notify.descriptors if d.uuid.startswith("00002902"))

        received = bytearray()
        await client.bluetooth_gatt_start_notify(ADDRESS, notify.handle, lambda handle, data: received.extend(data))
        # With remote caching the client writes the CCCD itself; the proxy only registers locally.
        await client.bluetooth_gatt_write_descriptor(ADDRESS, cccd.handle, b"\x01\x00", timeout=TIMEOUT)
        assert await client.bluetooth_gatt_read_descriptor(ADDRESS, cccd.handle, timeout=TIMEOUT) == b"\x01\x00"
        await client.bluetooth_gatt_write(ADDRESS, write.handle, jbd.request(jbd.BASIC_INFO), response=False)
        frame = await wait_until(lambda: received.endswith(bytes([jbd.END])) and len(received) > 7 and received,
                                 TIMEOUT, "the basic-info answer")  # fmt: skip
        assert frame[:2] == bytes([jbd.START, jbd.BASIC_INFO])


async def test_stalled_gatt_gets_no_answer_and_recovers():
    async with running() as proxy, client_of(proxy) as client:
        owner = Owner(client)
        await wait_until(lambda: owner.heard(ADDRESS), TIMEOUT, "an advertisement of the BMS")
        assert (await owner.connect(ADDRESS))[0]
        proxy.stall_gatt(True)
        with pytest.raises(TimeoutAPIError):
            await client.bluetooth_gatt_read(ADDRESS, 1, timeout=0.5)
        proxy.stall_gatt(False)
        services = await asyncio.wait_for(client.bluetooth_gatt_get_services(ADDRESS), TIMEOUT)
        assert services.services


async def test_pairing_is_not_supported_and_clearing_the_cache_succeeds():
    async with running() as proxy, client_of(proxy) as client:
        owner = Owner(client)
        await wait_until(lambda: owner.heard(ADDRESS), TIMEOUT, "an advertisement of the BMS")
        assert (await owner.connect(ADDRESS))[0]
        pairing = await client.bluetooth_device_pair(ADDRESS, timeout=TIMEOUT)
        assert not pairing.paired and pairing.error == 0x106  # ESP_ERR_NOT_SUPPORTED
        unpairing = await client.bluetooth_device_unpair(ADDRESS, timeout=TIMEOUT)
        assert not unpairing.success and unpairing.error == 0x106
        assert (await client.bluetooth_device_clear_cache(ADDRESS, timeout=TIMEOUT)).success


# -- slots ----------------------------------------------------------------------------------------------------
async def test_slots_are_counted_pushed_and_a_connect_beyond_them_fails():
    async with running(slots=1) as proxy, client_of(proxy) as client:
        owner = Owner(client)
        await wait_until(lambda: owner.heard(ADDRESS) and owner.heard(SECOND), TIMEOUT, "both BMS")
        assert owner.free[0] == (1, 1, [])
        assert (await owner.connect(ADDRESS))[0]
        assert owner.free[-1] == (0, 1, [ADDRESS])
        assert await owner.connect(SECOND) == (False, 0, 0)  # "No free connections available"

        await asyncio.wait_for(client.bluetooth_device_disconnect(ADDRESS), TIMEOUT)
        await wait_until(lambda: owner.free[-1] == (1, 1, []), TIMEOUT, "the slot freed")
        proxy.exhaust_slots(True)
        await wait_until(lambda: owner.free[-1][0] == 0, TIMEOUT, "no free slot reported")
        assert (await owner.connect(SECOND))[0] is False
        proxy.exhaust_slots(False)
        await wait_until(lambda: owner.free[-1][0] == 1, TIMEOUT, "the slot back")


async def test_a_controller_out_of_connections_is_a_connect_error():
    async with running() as proxy, client_of(proxy) as client:
        owner = Owner(client)
        await wait_until(lambda: owner.heard(ADDRESS), TIMEOUT, "an advertisement of the BMS")
        assert proxy.adapter is not None
        proxy.adapter.slots = 0  # the ESP's controller refuses, whatever the proxy's own count says
        assert await owner.connect(ADDRESS) == (False, 0, 0x09)  # Connection Limit Exceeded
        await wait_until(lambda: owner.free[-1] == (3, 3, []), TIMEOUT, "the slot given back")


# -- faults ---------------------------------------------------------------------------------------------------
async def test_reboot_drops_the_client_and_the_bms_link_and_it_can_reconnect():
    async with running() as proxy:
        stopped = asyncio.Event()

        async def on_stop(expected: bool) -> None:
            stopped.set()

        async with client_of(proxy, on_stop=on_stop) as client:
            owner = Owner(client)
            await wait_until(lambda: owner.heard(ADDRESS), TIMEOUT, "an advertisement of the BMS")
            assert (await owner.connect(ADDRESS))[0]
            rebooting = asyncio.create_task(proxy.reboot(down_for=1.0))
            await asyncio.wait_for(stopped.wait(), TIMEOUT)
            await asyncio.sleep(0.2)
            with pytest.raises(OSError):  # refused while down
                _, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
                writer.close()
            await asyncio.wait_for(rebooting, TIMEOUT)
        assert proxy.sim.devices[JBD.name].connection is None  # the BMS saw its link go
        async with client_of(proxy) as client:
            owner = Owner(client)
            # The BMS lost its link with the reboot, so it advertises again and takes a new connect.
            await wait_until(lambda: owner.heard(ADDRESS), TIMEOUT, "the BMS advertising again")
            assert (await owner.connect(ADDRESS))[0]


async def test_dropping_tcp_ends_the_session_and_frees_the_ble_links():
    async with running() as proxy:
        stopped = asyncio.Event()

        async def on_stop(expected: bool) -> None:
            stopped.set()

        async with client_of(proxy, on_stop=on_stop) as client:
            owner = Owner(client)
            await wait_until(lambda: owner.heard(ADDRESS), TIMEOUT, "an advertisement of the BMS")
            assert (await owner.connect(ADDRESS))[0]
            proxy.drop_tcp()
            await asyncio.wait_for(stopped.wait(), TIMEOUT)
        # No advertisement subscriber left: the firmware drops every BLE link.
        await wait_until(lambda: proxy.sim.devices[JBD.name].connection is None, TIMEOUT, "the BMS link gone")
        async with client_of(proxy) as client:
            owner = Owner(client)
            await wait_until(lambda: owner.free and owner.free[-1] == (3, 3, []), TIMEOUT, "every slot free")
