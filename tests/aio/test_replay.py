"""aiobmsble's own BMS classes, unmodified, read simulated peripherals through batmond's client on bumble.

The peripherals replay aiobmsble's published test exchanges (tests/captures/aiobmsble.py) on the virtual radio;
batmond's real Bluetooth adapter connects to them over HCI. Each plugin must produce exactly the sample its own
test suite asserts: same values, same derived fields, same temperature sensor types.
"""

from __future__ import annotations

import enum
from typing import Any

import pytest

from .conftest import NEEDS_EXTRA, add_replay

pytest.importorskip("aiobmsble", reason=NEEDS_EXTRA)

from aiobmsble import BMSConfig, TempSensor
from bleak.backends.device import BLEDevice
from captures import aiobmsble as rec

from batmond.aio import AioType, aio_type
from batmond.aio.client import Target, install
from batmond.sim.aio_devices import Recording

RECORDINGS = {
    "seplos": (rec.SEPLOS, "C0:D6:3C:00:00:01", rec.SEPLOS_EXPECTED),
    "cbtpwr": (rec.CBTPWR, "38:AB:41:00:00:01", rec.CBTPWR_EXPECTED),
    "renogy": (rec.RENOGY, "60:98:66:00:00:01", rec.RENOGY_EXPECTED),
    "renogy_pro": (rec.RENOGY_PRO, "60:98:66:00:00:02", rec.RENOGY_PRO_EXPECTED),
    "redodo": (rec.REDODO, "C8:47:80:15:D8:34", rec.REDODO_EXPECTED),
    "ecoworthy_1": (rec.ECOWORTHY_1, "E2:E7:79:00:00:01", rec.ECOWORTHY_1_EXPECTED),
    "ecoworthy_2": (rec.ECOWORTHY_2, rec.ECOWORTHY_2_ADDRESS, rec.ECOWORTHY_2_EXPECTED),
    "tdt": (rec.TDT, rec.TDT_ADDRESS, rec.TDT_EXPECTED),
}


def plain(value: Any) -> Any:
    """A sample as the capture file writes it: temperatures as (value, sensor type), enums as ints."""
    if isinstance(value, TempSensor):
        return (value.value, value.type.name)
    if isinstance(value, enum.Enum):
        return int(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def make_bms(recording: Recording, address: str, adapter, keep_alive: bool = True):
    install()
    found = aio_type(recording.type_name)
    assert isinstance(found, AioType)
    module = __import__(found.module, fromlist=["BMS"])
    target = Target(adapter, address, f"test {recording.type_name}")
    return module.BMS(BLEDevice(address, recording.name, target), BMSConfig(keep_alive=keep_alive))


@pytest.mark.parametrize("key", list(RECORDINGS))
async def test_plugin_reads_the_replayed_bms_exactly_as_its_own_tests_expect(simulator, adapter, key):
    recording, address, expected = RECORDINGS[key]
    peripheral = await add_replay(simulator, recording, address)
    bms = make_bms(recording, address, adapter)
    try:
        assert plain(await bms.async_update()) == expected
        assert bms.is_connected
        # Again on the same connection: aiobmsble keeps it (keep_alive) and asks again.
        assert plain(await bms.async_update()) == expected
        if recording.answers:
            assert all(write in recording.answers or write == b"HiLink" for write in peripheral.writes)
    finally:
        await bms.disconnect()
    assert not bms.is_connected


async def test_reconnect_mode_connects_for_every_update(simulator, adapter):
    recording, address, expected = RECORDINGS["cbtpwr"]
    peripheral = await add_replay(simulator, recording, address)
    bms = make_bms(recording, address, adapter, keep_alive=False)
    for _ in range(2):
        assert plain(await bms.async_update()) == expected
        assert not bms.is_connected
    assert peripheral.connection is None


async def test_device_info_comes_from_the_bms_where_the_plugin_asks_it(simulator, adapter):
    # SRC: aiobmsble tests/bms/test_renogy_bms.py and test_tdt_bms.py, test_device_info.
    for key, expected in (
        ("renogy", {"serial_number": "20210526", "name": "RBT100LFP12-BT", "sw_version": "0100"}),
        ("tdt", {"sw_version": "CLY-5673-V1.3", "manufacturer": "22", "serial_number": "0001"}),
    ):
        recording, address, _ = RECORDINGS[key]
        await add_replay(simulator, recording, address)
        bms = make_bms(recording, address, adapter)
        try:
            assert await bms.device_info() == expected
        finally:
            await bms.disconnect()


async def test_a_characteristic_the_device_lacks_is_bleaks_not_found_error(simulator, adapter):
    from bleak.exc import BleakCharacteristicNotFoundError

    recording, address, _ = RECORDINGS["seplos"]
    await add_replay(simulator, recording, address)
    bms = make_bms(recording, address, adapter)
    try:
        await bms.async_update()
        client = bms._client
        with pytest.raises(BleakCharacteristicNotFoundError):
            await client.read_gatt_char("2a24")
        services = client.services
        assert services.get_characteristic("fff1").properties == ["notify"]
        assert services.get_characteristic("0000fff2-0000-1000-8000-00805f9b34fb").properties == [
            "write-without-response",
            "write",
        ]
    finally:
        await bms.disconnect()


async def test_duplicate_uuids_are_told_apart_by_handle(simulator, adapter):
    """Renogy Pro has FFD1 and FFF1 twice each (notify and write handles): bleak refuses the UUID, the plugin
    uses handles, and the simulator sees the requests on the write handle of service FFD0."""
    from bleak.exc import BleakError

    recording, address, expected = RECORDINGS["renogy_pro"]
    await add_replay(simulator, recording, address)
    bms = make_bms(recording, address, adapter)
    try:
        assert plain(await bms.async_update()) == expected
        with pytest.raises(BleakError, match="Multiple Characteristics"):
            bms._client.services.get_characteristic("fff1")
    finally:
        await bms.disconnect()
