"""AioPoller: aiobmsble's updates become hub samples; lost links and silent BMS reconnect like batmond's poller."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from helpers import wait_until

from batmond.config import DeviceConfig, SamplingConfig
from batmond.hub import Hub
from batmond.protocols import codec_for
from batmond.sample import Sample

from .conftest import NEEDS_EXTRA, add_replay

pytest.importorskip("aiobmsble", reason=NEEDS_EXTRA)

import aiobmsble.basebms
from aiobmsble import TempSensor

from batmond.aio.driver import AioPoller, to_info, to_sample

from .test_replay import RECORDINGS

T = TempSensor.T


def test_values_map_onto_batmonds_contract():
    sample = to_sample({
        "voltage": 53.06, "current": -2.5, "power": -132.65, "battery_level": 50, "battery_health": 98,
        "cycle_charge": 25, "design_capacity": 50, "cycles": 1, "cell_voltages": [3.316, 3.317],
        "temp_values": [TempSensor(32.0, T.AMBIENT), TempSensor(34.0, T.MOSFET), TempSensor(29.0, T.CELL)],
        "temperature": 31.667, "balance_current": 0.05, "problem_code": 4, "chrg_mosfet": True,
        "dischrg_mosfet": False, "heater": False, "balancer": 0b101, "runtime": 36000, "cycle_capacity": 1326.5,
    })  # fmt: skip
    assert sample == Sample(
        voltage=53.06, current=-2.5, power=-132.65, soc=50.0, soh=98.0, charge=25.0, capacity=50.0, cycles=1,
        cell_voltages=(3.316, 3.317), temperatures=(32.0, 29.0), mosfet_temperature=34.0, balance_current=0.05,
        switches={"charge": True, "discharge": False, "heater": False}, alarm_code=4,
    )  # fmt: skip
    # Only a mean (Seplos v3 keeps its sensors per pack): that is the temperature. Nothing reported: None.
    assert to_sample({"voltage": 52.34, "temperature": 24.4}) == Sample(voltage=52.34, temperatures=(24.4,))
    assert to_sample({}) == Sample()


def test_device_info_falls_back_to_the_plugins_static_names():
    from aiobmsble.bms.renogy_bms import BMS

    info = to_info({"serial_number": "20210526", "name": "RBT100LFP12-BT", "sw_version": "0100"}, BMS)
    assert (info.manufacturer, info.serial, info.sw_version) == ("Renogy", "20210526", "0100")
    assert info.model == BMS.INFO["model"]


@contextlib.asynccontextmanager
async def polling(adapter, key: str, sample_period: float = 0.2):
    recording, address, _ = RECORDINGS[key]
    device = DeviceConfig(address=address, type=recording.type_name, alias=key)
    hub = Hub((device,))
    aio = codec_for(recording.type_name)
    poller = AioPoller(device, aio, adapter, SamplingConfig(sample_period=sample_period), hub)  # type: ignore[arg-type]
    task = asyncio.create_task(poller.run())
    try:
        yield hub.state(device), poller
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await poller.close()


async def test_samples_arrive_and_a_dropped_link_reconnects(simulator, adapter, caplog):
    caplog.set_level(logging.INFO, "batmond")
    peripheral = await add_replay(simulator, RECORDINGS["seplos"][0], RECORDINGS["seplos"][1])
    async with polling(adapter, "seplos") as (state, poller):
        await wait_until(lambda: state.latest is not None and state.connected, 30, "first sample")
        assert state.latest.voltage == 52.34 and len(state.latest.cell_voltages) == 32
        assert state.info is not None and state.info.manufacturer == "Seplos"
        assert peripheral.drop_link()
        await wait_until(lambda: state.reconnects == 1, 30, "the loss noticed")
        frames = poller.stats.frames
        await wait_until(lambda: state.connected and poller.stats.frames > frames + 1, 30, "sampling again")
    assert poller.stats.bad_checksum == 0
    assert caplog.text.count("reconnecting in") == 1


async def test_a_silent_bms_is_given_up_after_three_updates_and_comes_back(simulator, adapter, monkeypatch):
    monkeypatch.setattr(aiobmsble.basebms.BaseBMS, "_RETRY_TIMEOUT", 0.05)  # aiobmsble's own tests do this too
    peripheral = await add_replay(simulator, RECORDINGS["cbtpwr"][0], RECORDINGS["cbtpwr"][1])
    async with polling(adapter, "cbtpwr") as (state, poller):
        await wait_until(lambda: state.latest is not None, 30, "first sample")
        peripheral.silent = True
        await wait_until(lambda: state.reconnects >= 1, 60, "given up")
        assert "3 updates failed" in state.last_error and not state.connected
        peripheral.silent = False
        frames = poller.stats.frames
        await wait_until(lambda: state.connected and poller.stats.frames > frames, 60, "back")
