"""batmond's ESPHome proxy transport against the simulated proxy, in one process: resolve, connect a codec
profile, a request answered by notification, the slot report, what is refused through a proxy, a wrong key."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

pytest.importorskip("aioesphomeapi")  # the `esphome` extra

from helpers import free_port, wait_until

from batmond.protocols import jbd
from batmond.sim import SimSpec, Simulator
from batmond.sim.esphome_proxy import EsphomeProxySim
from batmond.transports.base import LinkError
from batmond.transports.ble import BleAdapter
from batmond.transports.esphome import EsphomeProxy, ProxyAddress

pytestmark = pytest.mark.timeout(30)
JBD = SimSpec(type="jbd", name="jbd1", address="E4:C1:38:00:12:34")
KEY = base64.b64encode(bytes(range(32))).decode()
PROFILE = jbd.JbdCodec.ble


@contextlib.asynccontextmanager
async def proxied(proxy_key: str | None = KEY, client_key: str | None = KEY,
                  slots: int = 3) -> AsyncIterator[tuple[EsphomeProxySim, EsphomeProxy]]:  # fmt: skip
    sim = Simulator()
    await sim.start([JBD])
    proxy = EsphomeProxySim("garage", sim, encryption_key=proxy_key, slots=slots)
    await proxy.start()
    radio = EsphomeProxy("garage", "127.0.0.1", proxy.port, client_key, connect_timeout=5.0, scan_timeout=3.0)
    task = asyncio.create_task(radio.run())
    try:
        yield proxy, radio
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await proxy.stop()
        await sim.stop()


async def test_a_jbd_answers_through_the_proxy_and_the_link_says_which_radio():
    async with proxied() as (_, radio):
        await asyncio.wait_for(radio.ready.wait(), 5)
        assert (radio.free, radio.limit) == (3, 3)
        address = await radio.resolve(JBD.address.lower())
        assert isinstance(address, ProxyAddress) and address.to_string(False) == JBD.address
        assert JBD.address in radio.heard and radio.advertised_name(JBD.address) == JBD.name
        link = await radio.connect(JBD.address, PROFILE, "jbd1 test")
        received = bytearray()
        link.on_data = received.extend
        await link.write(jbd.request(jbd.BASIC_INFO))
        await wait_until(lambda: received.endswith(bytes([jbd.END])) and len(received) > 7, 5, "the answer")
        assert received[:2] == bytes([jbd.START, jbd.BASIC_INFO])
        assert link.diagnostics()["adapter"] == "garage" and radio.live_links() == 1
        await link.close()
        assert not link.alive and radio.live_links() == 0
        await wait_until(lambda: radio.free == 3, 5, "the slot given back")


async def test_a_bms_nobody_hears_and_a_pin_are_link_errors():
    async with proxied() as (_, radio):
        with pytest.raises(LinkError, match="not seen advertising by ESPHome proxy garage within 3 s"):
            await radio.resolve("AA:BB:CC:DD:EE:FF")
        with pytest.raises(LinkError, match="pairing with a PIN is not possible through an ESPHome proxy"):
            await radio.connect(JBD.address, PROFILE, "jbd1", pin="123456")
        with pytest.raises(LinkError, match="pairing with a PIN is not possible through an ESPHome proxy"):
            await radio.connect_gatt(JBD.address, "jbd1", pin="123456")


async def test_the_gatt_table_through_the_proxy_is_the_local_adapters_and_works_by_handle():
    """What aiobmsble's client sees (batmond/aio): the same table either way, and requests by value handle."""
    sim = Simulator(f"tcp-server:127.0.0.1:{free_port()}")
    await sim.start([JBD])
    proxy = EsphomeProxySim("garage", sim, encryption_key=KEY)
    await proxy.start()
    local = BleAdapter(sim.host_transport.replace("tcp-server", "tcp-client"), 5.0, 5.0)
    radio = EsphomeProxy("garage", "127.0.0.1", proxy.port, KEY, connect_timeout=5.0, scan_timeout=3.0)
    tasks = [asyncio.create_task(local.run()), asyncio.create_task(radio.run())]
    try:
        local_link = await local.connect_gatt(JBD.address, "jbd1 local")
        local_table = local_link.services
        await local_link.close()
        link = await radio.connect_gatt(JBD.address, "jbd1 proxied")
        assert link.services == local_table
        service = next(s for s in link.services if s.uuid == "0000ff00-0000-1000-8000-00805f9b34fb")
        by_uuid = {c.uuid[4:8]: c for c in service.characteristics}
        assert by_uuid["ff01"].properties & 0x10 and by_uuid["ff02"].properties & 0x04  # notify; write w/o resp.
        received = bytearray()
        await link.start_notify(by_uuid["ff01"].handle, received.extend)
        await link.write_handle(by_uuid["ff02"].handle, jbd.request(jbd.BASIC_INFO), with_response=False)
        await wait_until(lambda: received.endswith(bytes([jbd.END])) and len(received) > 7, 5, "the answer")
        assert received[:2] == bytes([jbd.START, jbd.BASIC_INFO])
        await link.stop_notify(by_uuid["ff01"].handle)
        received.clear()
        await link.write_handle(by_uuid["ff02"].handle, jbd.request(jbd.BASIC_INFO), with_response=False)
        await asyncio.sleep(0.5)
        assert received == b""  # unsubscribed
        await link.close()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await proxy.stop()
        await sim.stop()


async def test_a_dropped_session_ends_the_links_and_comes_back(caplog):
    caplog.set_level(logging.INFO, "batmond.ble")
    async with proxied() as (sim_proxy, radio):
        await asyncio.wait_for(radio.ready.wait(), 5)
        link = await radio.connect(JBD.address, PROFILE, "jbd1")
        sim_proxy.drop_tcp()
        await asyncio.wait_for(link.closed.wait(), 5)
        assert link.close_reason == "ESPHome proxy connection lost"
        await wait_until(lambda: "is back" in caplog.text, 10, "the proxy back")
        assert caplog.text.count("connection lost (rebooted, or off the network)") == 1


async def test_a_wrong_key_is_said_once_and_retried(caplog):
    caplog.set_level(logging.INFO, "batmond.ble")
    async with proxied(client_key=base64.b64encode(bytes(32)).decode()) as (_, radio):
        await wait_until(lambda: "rejected the encryption key" in caplog.text, 5, "the refusal logged")
        await asyncio.sleep(2)  # retried at 0.5 s, 1 s: said once
        assert caplog.text.count("rejected the encryption key") == 1 and not radio.ready.is_set()
        assert KEY not in caplog.text


async def test_a_stalled_proxy_and_a_gatt_error_are_link_errors_that_close_the_link():
    """aioesphomeapi's timeout and GATT errors (which it does not export at its top level) become LinkError."""
    async with proxied() as (sim_proxy, radio):
        link = await radio.connect_gatt(JBD.address, "jbd1")
        with pytest.raises(LinkError, match=r"jbd1: GATT error \d+ through proxy garage"):
            await link.read_handle(0x7777)  # no such attribute: the BMS answers with an ATT error
        assert not link.alive
        link = await radio.connect(JBD.address, PROFILE, "jbd1")
        sim_proxy.stall_gatt()
        with pytest.raises(LinkError, match=r"jbd1: no GATT answer through proxy garage within 0\.5 s"):
            await link.gatt(link.read_handle(0x0003), timeout=0.5)
        assert link.close_reason == "GATT request timed out"
