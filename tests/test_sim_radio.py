"""The simulator's radio as a daemon sees it through real HCI: connection slots, hearing and RSSI, several adapters.

Each test drives a stock bumble central over ``tcp-client:127.0.0.1:PORT``, built and powered on as
batmond/transports/ble.py does (and with its one static address on every adapter), against simulated JBD BMS.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from bumble import core, hci
from bumble.device import Connection, Device, DeviceConfiguration, Peer
from bumble.transport import open_transport
from helpers import free_port, wait_until

from batmond.config import parse
from batmond.protocols import jbd
from batmond.sim import SimSpec, Simulator, adapters_from_config
from batmond.sim.link import DEFAULT_SLOTS, SimController
from batmond.transports.ble import own_address

BMS = [SimSpec(type="jbd", name=f"jbd{i}", address=f"E4:C1:38:00:12:3{i}") for i in range(4)]
X, Y = BMS[0].address, BMS[1].address
NOT_HEARD_WITHIN = 1.0  # BMS advertise every 0.1 s: ten chances to be heard


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(f"tcp-server:127.0.0.1:{free_port()}")
    yield simulator
    await simulator.stop()


def client_of(sim: Simulator, name: str = "hci0") -> str:
    return sim.servers[name].spec.replace("tcp-server:", "tcp-client:")


@contextlib.asynccontextmanager
async def central(transport: str) -> AsyncIterator[Device]:
    async with await open_transport(transport) as hci_transport:
        config = DeviceConfiguration(name="batmond", address=own_address())
        device = Device.from_config_with_hci(config, hci_transport.source, hci_transport.sink)
        device.command_timeout = 3.0
        await asyncio.wait_for(device.power_on(), 5)
        yield device


def target(mac: str) -> hci.Address:
    return hci.Address(mac, hci.Address.RANDOM_DEVICE_ADDRESS)  # simulated BMS advertise a random address


async def connect(device: Device, mac: str, timeout: float = 3.0) -> Connection:
    return await device.connect(target(mac), timeout=timeout)


async def heard(device: Device, mac: str, within: float) -> list[int]:
    """RSSI of every advertisement of ``mac`` the central reports while scanning for ``within`` seconds."""
    rssi: list[int] = []

    def on_advertisement(advertisement) -> None:
        if advertisement.address.to_string(False) == mac:
            rssi.append(advertisement.rssi)

    device.on("advertisement", on_advertisement)
    await device.start_scanning(filter_duplicates=False)
    try:
        await asyncio.sleep(within)
    finally:
        await device.stop_scanning()
        device.remove_listener("advertisement", on_advertisement)
    return rssi


async def basic_info(connection: Connection) -> bytes:
    """Write JBD's basic-info request and collect the notified answer until it is a whole frame."""
    peer = Peer(connection)
    await asyncio.wait_for(peer.request_mtu(517), 3)
    await asyncio.wait_for(peer.discover_services([core.UUID(jbd.JbdCodec.ble.service)]), 3)
    await asyncio.wait_for(peer.discover_characteristics(), 3)
    notify = peer.get_characteristics_by_uuid(core.UUID(jbd.JbdCodec.ble.notify))[0]
    write = peer.get_characteristics_by_uuid(core.UUID(jbd.JbdCodec.ble.write))[0]
    received = bytearray()
    complete = asyncio.Event()

    def on_value(value: bytes) -> None:
        received.extend(value)
        if received.endswith(bytes([jbd.END])) and len(received) > 7:
            complete.set()

    await asyncio.wait_for(peer.subscribe(notify, on_value), 3)
    await asyncio.wait_for(peer.write_value(write, jbd.request(jbd.BASIC_INFO), with_response=False), 3)
    await asyncio.wait_for(complete.wait(), 3)
    return bytes(received)


def disconnected(connection: Connection) -> asyncio.Future[int]:
    reason: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    connection.on("disconnection", lambda code: reason.done() or reason.set_result(code))
    return reason


# -- connection slots ---------------------------------------------------------------------------------------
async def test_one_connect_beyond_the_slots_is_refused_like_a_real_controller(sim):
    assert sim.adapter is not None and sim.adapter.slots is None  # Simulator(transport): bumble's, unlimited
    sim.adapter.slots = 2
    await sim.start(BMS[:3])
    async with central(client_of(sim)) as device:
        first = await connect(device, BMS[0].address)
        await connect(device, BMS[1].address)
        with pytest.raises(hci.HCI_Error) as refused:
            await connect(device, BMS[2].address)
        assert refused.value.error_code == hci.HCI_ErrorCode.CONNECTION_LIMIT_EXCEEDED_ERROR == 0x09
        # LE Extended Create Connection is refused the same way, with a Command Status.
        status = await device.host.send_async_command(extended_create(BMS[2].address), check_status=False)
        assert status == hci.HCI_ErrorCode.CONNECTION_LIMIT_EXCEEDED_ERROR

        await asyncio.wait_for(first.disconnect(), 3)
        third = await connect(device, BMS[2].address)  # the slot is free again
        assert third.peer_address == target(BMS[2].address)


def extended_create(mac: str) -> hci.HCI_LE_Extended_Create_Connection_Command:
    return hci.HCI_LE_Extended_Create_Connection_Command(
        initiator_filter_policy=0, own_address_type=hci.OwnAddressType.RANDOM,
        peer_address_type=hci.Address.RANDOM_DEVICE_ADDRESS, peer_address=target(mac), initiating_phys=1,
        scan_intervals=[96], scan_windows=[96], connection_interval_mins=[24], connection_interval_maxs=[40],
        max_latencies=[0], supervision_timeouts=[72], min_ce_lengths=[0], max_ce_lengths=[0],
    )  # fmt: skip


# -- hearing and RSSI ---------------------------------------------------------------------------------------
async def test_an_adapter_reports_only_what_it_hears_at_its_rssi(sim):
    sim.adapter.hears = {X: -50}
    near_y = await sim.add_adapter("hci1", f"tcp-server:127.0.0.1:{free_port()}", hears={Y: -70})
    await sim.start(BMS[:2])
    async with central(client_of(sim)) as a, central(client_of(sim, "hci1")) as b:
        a_x, a_y, b_x = await asyncio.gather(heard(a, X, 0.5), heard(a, Y, 0.5), heard(b, X, NOT_HEARD_WITHIN))
        assert a_x and set(a_x) == {-50}
        assert a_y == [] and b_x == []
        assert set(await heard(b, Y, 0.5)) == {-70}

        # A device it does not hear cannot be connected to: the connect waits until the host gives up.
        with pytest.raises(core.TimeoutError):
            await connect(b, X, timeout=NOT_HEARD_WITHIN)
        near_y.set_rssi(X, -80)  # moved closer: heard from now on
        assert set(await heard(b, X, 0.5)) == {-80}
        assert near_y.hears == {X: -80, Y: -70}


async def test_read_rssi_and_a_device_that_goes_out_of_range(sim):
    sim.adapter.hears = {X: -55}
    await sim.start(BMS[:1])
    async with central(client_of(sim)) as device:
        connection = await connect(device, X)
        assert await asyncio.wait_for(connection.get_rssi(), 3) == -55
        sim.adapter.set_rssi(X, -90)
        assert await asyncio.wait_for(connection.get_rssi(), 3) == -90
        with pytest.raises(hci.HCI_Error) as unknown:
            await device.host.send_sync_command(hci.HCI_Read_RSSI_Command(handle=0x0EEE))
        assert unknown.value.error_code == hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR

        reason = disconnected(connection)
        sim.adapter.set_rssi(X, None)  # out of range: the link times out on both ends
        assert await asyncio.wait_for(reason, 3) == hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR
        await wait_until(lambda: sim.devices["jbd0"].connection is None, 3, "the BMS to see the link drop")


async def test_a_radio_that_hears_everything_at_its_default_rssi(sim):
    sim.adapter.default_rssi = -42
    await sim.start(BMS[:1])
    async with central(client_of(sim)) as device:
        assert set(await heard(device, X, 0.5)) == {-42}
        sim.adapter.set_rssi(X, None)
        assert await heard(device, X, NOT_HEARD_WITHIN) == []
        assert sim.adapter.hears is None


# -- several adapters ---------------------------------------------------------------------------------------
async def test_two_adapters_with_one_address_talk_gatt_to_their_own_bms(sim):
    await sim.add_adapter("hci1", f"tcp-server:127.0.0.1:{free_port()}")
    await sim.start(BMS[:2])
    async with central(client_of(sim)) as a, central(client_of(sim, "hci1")) as b:
        assert a.random_address == b.random_address  # the daemon's one static address on every adapter
        on_a, on_b = await connect(a, X), await connect(b, Y)
        frames = await asyncio.gather(*(basic_info(c) for _ in range(3) for c in (on_a, on_b)))
        for frame in frames:
            assert frame[0] == jbd.START and frame[1] == jbd.BASIC_INFO and frame[-1] == jbd.END
        assert sim.devices["jbd0"].writes and sim.devices["jbd1"].writes
        assert len(sim.adapters["hci0"].le_connections) == len(sim.adapters["hci1"].le_connections) == 1

        # X has its central: it does not advertise, so the other adapter's connect to it never completes.
        with pytest.raises(core.TimeoutError):
            await connect(b, X, timeout=NOT_HEARD_WITHIN)
        reason = disconnected(on_b)
        await asyncio.wait_for(on_a.disconnect(), 3)
        assert not reason.done()  # a's goodbye to X is not b's link to Y
        await connect(b, X)  # X advertises again and takes the other adapter


async def test_two_adapters_racing_for_one_bms_one_wins_the_other_fails_to_establish(sim):
    await sim.add_adapter("hci1", f"tcp-server:127.0.0.1:{free_port()}")
    await sim.start(BMS[:1])
    async with central(client_of(sim)) as a, central(client_of(sim, "hci1")) as b:
        reasons: list[int] = []
        for device in (a, b):
            device.on("connection", lambda c: c.on("disconnection", reasons.append))
        # Both wait for X (out of range), then hear its next advertisement together: X takes one CONNECT_IND.
        radios = [sim.adapters["hci0"], sim.adapters["hci1"]]
        for radio in radios:
            radio.set_rssi(X, None)
        connects = asyncio.gather(connect(a, X), connect(b, X), return_exceptions=True)
        await wait_until(lambda: all(radio.pending_le_connection for radio in radios), 2, "both connects pending")
        for radio in radios:
            radio.set_rssi(X, -60)
        results = await connects
        await wait_until(lambda: reasons, 2, "the loser's link to fail")
        assert reasons == [hci.HCI_ErrorCode.CONNECTION_FAILED_TO_BE_ESTABLISHED_ERROR]
        assert all(isinstance(result, Connection) for result in results)  # both completed, as on a radio
        assert len(sim.devices["jbd0"].controller.le_connections) == 1
        assert sum(len(sim.adapters[n].le_connections) for n in ("hci0", "hci1")) == 1


async def test_freeze_kill_and_revive_by_name(sim):
    await sim.add_adapter("hci1", f"tcp-server:127.0.0.1:{free_port()}")
    await sim.start(BMS[:2])
    async with central(client_of(sim)) as a, central(client_of(sim, "hci1")) as b:
        on_a, on_b = await connect(a, X), await connect(b, Y)

        sim.freeze_adapter(True, "hci1")
        with pytest.raises((core.TimeoutError, TimeoutError)):
            await asyncio.wait_for(on_b.get_rssi(), 1)
        assert await asyncio.wait_for(on_a.get_rssi(), 3) == -60  # the other adapter still answers
        sim.freeze_adapter(False, "hci1")

        await sim.kill_adapter("hci1")
        await wait_until(lambda: sim.devices["jbd1"].connection is None, 3, "Y to lose its central")
        assert await asyncio.wait_for(basic_info(on_a), 5)  # hci0 does not notice
    with pytest.raises(OSError):
        async with central(client_of(sim, "hci1")):
            pass  # the dongle is gone: nobody answers the HCI connection

    await sim.revive_adapter("hci1")
    async with central(client_of(sim, "hci1")) as b:
        assert await asyncio.wait_for(basic_info(await connect(b, Y)), 5)


async def test_an_unplugged_adapter_takes_its_host_back_and_the_other_keeps_its_link(sim):
    await sim.add_adapter("hci1", f"tcp-server:127.0.0.1:{free_port()}")
    await sim.start(BMS[:2])
    async with central(client_of(sim)) as a:
        on_a = await connect(a, X)
        async with await open_transport(client_of(sim, "hci1")) as pulled:
            sim.unplug_adapter("hci1")
            await asyncio.wait_for(pulled.source.terminated, 3)
        async with central(client_of(sim, "hci1")) as b:  # plugged in again: the daemon reopens it
            assert await asyncio.wait_for(basic_info(await connect(b, Y)), 5)
        assert await asyncio.wait_for(basic_info(on_a), 5)


async def test_adapter_names_and_defaults(sim):
    assert list(sim.adapters) == ["hci0"] and sim.adapter is sim.adapters["hci0"]
    extra = await sim.add_adapter("usb1", f"tcp-server:127.0.0.1:{free_port()}", slots=7, hears={X: -65})
    assert isinstance(extra, SimController) and extra.slots == 7 and extra.hears == {X: -65}
    assert (await sim.add_adapter("usb2", f"tcp-server:127.0.0.1:{free_port()}")).slots == DEFAULT_SLOTS == 5
    assert extra.public_address != sim.adapter.public_address  # two dongles, two public addresses
    with pytest.raises(Exception, match="already an adapter"):
        await sim.add_adapter("usb1", f"tcp-server:127.0.0.1:{free_port()}")
    with pytest.raises(Exception, match="no adapter 'hci9'"):
        sim.freeze_adapter(True, "hci9")


def test_adapters_from_config_reads_the_adapter_list_or_the_single_transport():
    legacy = parse('[bluetooth]\ntransport = "tcp-client:127.0.0.1:9100"\n')
    assert adapters_from_config(legacy) == [("default", "tcp-client:127.0.0.1:9100", DEFAULT_SLOTS)]
    two = parse(
        '[bluetooth]\nmax_connections = 3\n[[bluetooth.adapter]]\nname = "hci0"\ntransport = "unix:/run/a"\n'
        '[[bluetooth.adapter]]\nname = "usb1"\ntransport = "tcp-client:127.0.0.1:9101"\nmax_connections = 7\n'
    )
    assert adapters_from_config(two) == [("hci0", "unix:/run/a", 3), ("usb1", "tcp-client:127.0.0.1:9101", 7)]
