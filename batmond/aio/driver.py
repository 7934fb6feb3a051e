"""Polls one aiobmsble BMS: ``await bms.async_update()`` each sample period, the result as a batmond Sample.

Does for aiobmsble devices what :class:`batmond.poller.Poller` does for codecs, with the same outward behaviour:
hub records, the connected flag, one log line per state change, reconnect back-off. aiobmsble connects (through
:mod:`batmond.aio.client`), retries and decodes by itself; this module maps its values onto batmond's contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from typing import TYPE_CHECKING, Any

from aiobmsble import BMSConfig, BMSInfo, BMSSample, TempSensor
from aiobmsble.basebms import BaseBMS
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from batmond.aio import AioType
from batmond.aio.client import Target, install
from batmond.config import DeviceConfig, SamplingConfig
from batmond.hub import Hub
from batmond.limits import plausible
from batmond.protocols.base import FrameStats, UnsupportedSwitch
from batmond.sample import DeviceInfo, Sample
from batmond.transports.base import LinkError, stray_cancel
from batmond.transports.ble import MAC_LIKE, BleAdapter

if TYPE_CHECKING:
    from batmond.fleet import Port

MISSED_UPDATES_BEFORE_RECONNECT = 3
RECONNECT_BACKOFF = (1.0, 60.0)
# A safety net only: aiobmsble bounds connects (81 s) and each exchange (5 s per write mode) itself.
UPDATE_TIMEOUT = 120.0
# What a failing exchange raises inside aiobmsble (bleak's errors come from batmond.aio.client).
LINK_ERRORS = (BleakError, LinkError, TimeoutError, ConnectionError, EOFError)
SWITCHES = {"chrg_mosfet": "charge", "dischrg_mosfet": "discharge", "heater": "heater"}


class UpdateFailed(Exception):
    pass


def to_sample(data: BMSSample) -> Sample:
    """aiobmsble's values in batmond's contract; both use V, A with + = charging, W, %, Ah and °C.

    A temperature sensor typed MOSFET is the MOSFET temperature; the others are the pack temperatures. Where only
    the mean is reported (Seplos v3 keeps its sensors per pack), that mean is the one temperature.
    """
    sensors = data.get("temp_values") or []
    mosfet = [float(t) for t in sensors if isinstance(t, TempSensor) and t.type is TempSensor.T.MOSFET]
    temperatures = [float(t) for t in sensors if not (isinstance(t, TempSensor) and t.type is TempSensor.T.MOSFET)]
    if not sensors and "temperature" in data:
        temperatures = [float(data["temperature"])]
    return Sample(
        voltage=_number(data, "voltage"),
        current=_number(data, "current"),
        power=_number(data, "power"),
        soc=_number(data, "battery_level"),
        soh=_number(data, "battery_health"),
        charge=_number(data, "cycle_charge"),
        capacity=_number(data, "design_capacity"),
        cycles=int(data["cycles"]) if "cycles" in data else None,
        cell_voltages=tuple(float(v) for v in data.get("cell_voltages", ())),
        temperatures=tuple(temperatures),
        mosfet_temperature=mosfet[0] if mosfet else None,
        balance_current=_number(data, "balance_current"),
        switches={name: bool(data[key]) for key, name in SWITCHES.items() if key in data},  # type: ignore[literal-required]
        alarm_code=int(data["problem_code"]) if "problem_code" in data else None,
    )


def _number(data: BMSSample, key: str) -> float | None:
    value: Any = data.get(key)  # type: ignore[misc]
    return None if value is None else float(value)


def to_info(info: BMSInfo, bms: type[BaseBMS]) -> DeviceInfo:
    """What the BMS says about itself; manufacturer and model default to the plugin's static ones."""
    return DeviceInfo(
        manufacturer=info.get("manufacturer") or bms.INFO.get("manufacturer"),
        model=info.get("model") or bms.INFO.get("model"),
        serial=info.get("serial_number"),
        hw_version=info.get("hw_version"),
        sw_version=info.get("sw_version") or info.get("fw_version"),
    )


class AioPoller:
    """One task per aiobmsble BMS: the daemon runs it and closes it like a :class:`~batmond.poller.Poller`."""

    def __init__(
        self,
        device: DeviceConfig,
        aio: AioType,
        adapter: BleAdapter | Port,
        sampling: SamplingConfig,
        hub: Hub,
        turn: asyncio.Lock | None = None,
        turn_interval: float = 0.0,
    ) -> None:
        self.device = device
        self.aio = aio
        # s between updates while it takes turns for a slot (see batmond.fleet)
        self.turn_interval = max(sampling.sample_period, turn_interval)
        self.adapter = adapter
        self.sampling = sampling
        self.hub = hub
        self.turn = turn  # shared by all pollers when sampling is not concurrent
        self.log = logging.getLogger(f"batmond.bms.{device.alias}")
        if device.debug:
            self.log.setLevel(logging.DEBUG)
        self.stats = FrameStats()  # frames: good updates; bad_checksum: updates aiobmsble could not decode
        self.target = Target(adapter, device.address, f"{device.alias} {device.type} {device.address}", device.pin)
        self._bms: BaseBMS | None = None
        self._backoff = RECONNECT_BACKOFF[0]

    async def run(self) -> None:
        while True:
            try:
                await self._session()
            except (UpdateFailed, *LINK_ERRORS) as exc:
                self._lost(str(exc) or type(exc).__name__)
            except asyncio.CancelledError:
                if not stray_cancel():
                    raise
                self._lost("a request was aborted: the link or the adapter went away")
            finally:
                await self.close()
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, RECONNECT_BACKOFF[1])

    async def switch(self, name: str, on: bool, not_after: float) -> None:
        raise UnsupportedSwitch(f"{self.device.type} is read through aiobmsble, which cannot switch {name!r}")

    async def _session(self) -> None:
        started = time.monotonic()
        bms = self._bms or await self._create()
        sample = await self._update(bms)  # connects
        state = self.hub.state(self.device)
        state.connected = True
        self.log.info("connected (%s, aiobmsble %s) in %.2f s", self.target.description, self.aio.module,
                      time.monotonic() - started)  # fmt: skip
        try:
            self.hub.record_info(self.device, to_info(await bms.device_info(), type(bms)))
        except (*LINK_ERRORS, ValueError) as exc:
            self.log.debug("no device information: %s", exc or type(exc).__name__)
        missed = 0
        while True:
            link = self.target.link
            if link is not None:
                await link.refresh_diagnostics()
                state.link = link.diagnostics()
            if sample is not None:
                self._backoff = RECONNECT_BACKOFF[0]
                self.hub.record(self.device, sample, state.info, self.stats)
            rotating = link is not None and not link.resident
            if rotating:  # its turn in a rotation is over: the slot goes to the next BMS until the next update
                with contextlib.suppress(*LINK_ERRORS):
                    await bms.disconnect()
            period = self.turn_interval if rotating else self.sampling.sample_period
            await self._wait(period - (time.monotonic() - started))
            # aiobmsble would quietly reconnect in the next update: a lost link is reported (and backed off) here.
            if self.sampling.keep_alive and not rotating and not bms.is_connected:
                raise UpdateFailed(link.close_reason if link is not None and link.close_reason else "link closed")
            started = time.monotonic()
            try:
                sample = await self._update(bms)
                missed = 0
            except LINK_ERRORS as exc:
                missed += 1
                sample = None
                if missed >= MISSED_UPDATES_BEFORE_RECONNECT:
                    raise UpdateFailed(f"{missed} updates failed ({exc or type(exc).__name__})") from None

    async def _create(self) -> BaseBMS:
        """The aiobmsble BMS object, made once: it reconnects by itself and keeps what it learnt (write mode)."""
        install()
        module = importlib.import_module(self.aio.module)
        # Plugins read the MAC and the advertised name (ECO-WORTHY frames carry the MAC, OGT derives a key from the
        # name): learn both from the advertisement, as bleak's scanner would have.
        address = (await self.adapter.resolve(self.device.address)).to_string(False)
        name = self.adapter.advertised_name(address) or (None if MAC_LIKE.match(self.device.address) else
                                                          self.device.address)  # fmt: skip
        config = BMSConfig(keep_alive=self.sampling.keep_alive)
        self._bms = module.BMS(BLEDevice(address, name, self.target), config, self.log.name)
        return self._bms

    async def _update(self, bms: BaseBMS) -> Sample | None:
        """One update: the sample, or ``None`` when aiobmsble decoded nothing usable (counted as a bad frame)."""
        async with self.turn or contextlib.nullcontext():
            try:
                data = await asyncio.wait_for(bms.async_update(), UPDATE_TIMEOUT)
            except LINK_ERRORS:
                raise
            except Exception as exc:  # a frame the plugin could not decode, like a codec's bad frame
                self.stats.bad_checksum += 1
                self.log.warning("aiobmsble could not decode the answer: %s: %s", type(exc).__name__, exc)
                return None
        self.log.debug("aiobmsble: %s", data)
        sample = plausible(to_sample(data))
        if sample is None or sample == Sample():
            self.stats.bad_checksum += 1
            return None
        self.stats.frames += 1
        return sample

    async def _wait(self, seconds: float) -> None:
        link = self.target.link
        if seconds <= 0:
            return
        if link is None or not self.sampling.keep_alive or not link.alive:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(link.closed.wait(), seconds)

    def _lost(self, reason: str) -> None:
        if self.hub.state(self.device).link_lost(reason):
            self.log.warning("%s; reconnecting in %.0f s", reason, self._backoff)

    async def close(self) -> None:
        if self._bms is not None:
            with contextlib.suppress(*LINK_ERRORS):
                await self._bms.disconnect(reset=True)  # also forgets the write mode it detected
        self.hub.state(self.device).connected = False
