"""One task per BMS: connect, run the codec's request/answer exchanges, hand samples to the hub.

Knows links and codecs only through their interfaces: which transport or protocol it drives is the daemon's
choice. Logs once per state change (connected, lost, failing), never once per sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from batmond.commands import CommandExpired
from batmond.config import DeviceConfig, SamplingConfig
from batmond.hub import Hub
from batmond.protocols.base import Codec, FrameStats, Request, unplaced_report
from batmond.transports.base import Link, LinkError, stray_cancel

RESPONSE_TIMEOUT = 5.0
MISSED_ANSWERS_BEFORE_RECONNECT = 3
# A request whose answer failed its checksum is sent again at once, this many times: the BMS is there and
# talking, and waiting out RESPONSE_TIMEOUT would cost a BMS taking turns its whole turn.
GARBLED_ANSWER_RETRIES = 3
RECONNECT_BACKOFF = (1.0, 60.0)
RSSI_PERIOD = 30.0  # s between readings of a held link's RSSI
# Lengths of unplaced frames already logged for one BMS: a firmware that sends them every second is logged
# once per length, and a stream of garbage of ever new lengths stops being logged after this many.
UNPLACED_LENGTHS_LOGGED = 16


class NoAnswer(Exception):
    pass


class GarbledAnswer(Exception):
    pass


@dataclass(slots=True)
class _Waiter:
    kind: str
    future: asyncio.Future[None]
    bad_frames: int  # the codec's count of bad frames when the request went out


class Poller:
    def __init__(
        self,
        device: DeviceConfig,
        codec_type: type[Codec],
        connect: Callable[[], Awaitable[Link]],
        sampling: SamplingConfig,
        hub: Hub,
        turn: asyncio.Lock | None = None,
        phase: float = 0.0,
        turn_interval: float = 0.0,
    ) -> None:
        self.device = device
        # s between samples when the link is given up after each one to let other BMS have the slot
        self.turn_interval = max(sampling.sample_period, turn_interval)
        self.codec_type = codec_type
        self.connect = connect
        self.sampling = sampling
        self.hub = hub
        self.turn = turn  # shared by all pollers when sampling is not concurrent
        self.phase = phase  # where in the sample period this BMS is polled, as a fraction (the daemon staggers)
        self.log = logging.getLogger(f"batmond.bms.{device.alias}")
        if device.debug:
            self.log.setLevel(logging.DEBUG)
        self._waiter: _Waiter | None = None
        # One exchange at a time: a switch write and a poll would take each other's answer (there is one waiter),
        # and a write is computed from the state the last answer reported.
        self._exchanging = asyncio.Lock()
        self._up = asyncio.Event()  # a session's link and codec are there
        self._codec: Codec | None = None
        self._link: Link | None = None
        self._link_watch: asyncio.Future[bool] | None = None  # done when the session's link has ended
        self._backoff = RECONNECT_BACKOFF[0]
        self._unplaced_lengths: set[int] = set()  # for this BMS's whole life, across reconnects
        # Frames of the sessions before this one: the counters a user sees cover the BMS's whole life, not the
        # last connect (under rotation a session is one sample, and its counts would never move).
        self._earlier_frames = FrameStats()
        self._held_slot = True  # the last session's link was its own, not a turn in a rotation

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self._session()
            except (LinkError, NoAnswer) as exc:
                self._lost(str(exc))
            except asyncio.CancelledError:
                if not stray_cancel():
                    raise
                self._lost("a request was aborted: the link or the adapter went away")
            else:  # one sample taken and the link given up (keep_alive = false, or its turn in a rotation)
                period = self.sampling.sample_period if self._held_slot else self.turn_interval
                await self.close()
                await asyncio.sleep(max(0.0, started + period - time.monotonic()))
                continue
            finally:
                await self.close()
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, RECONNECT_BACKOFF[1])

    async def _session(self) -> None:
        started = time.monotonic()
        link = self._link = await self.connect()
        connect_time = time.monotonic() - started
        codec = self._codec = self.codec_type.for_device(self.device)
        link.on_data = self._on_data
        link.on_value = self._on_value
        # One task per session watches the link (not one per request): its end fails the request in flight.
        watch = self._link_watch = asyncio.ensure_future(link.closed.wait())
        watch.add_done_callback(lambda _: self._link_ended(link))
        state = self.hub.state(self.device)
        state.connected = True
        self._up.set()
        await link.refresh_diagnostics()
        state.link = link.diagnostics() | {"connect_time": round(connect_time, 2)}
        rssi_due = time.monotonic() + RSSI_PERIOD
        if link.resident:
            self.log.info("connected (%s) in %.2f s", link.description, connect_time)
        else:  # taking turns for a slot: a connect per sample is no news
            self.log.debug("connected (%s) in %.2f s for one sample", link.description, connect_time)
        try:
            async with self._exchanging:
                await self._exchange(codec.connect_requests())
        except NoAnswer as exc:
            self.log.warning("no answer to the start-up requests (%s); polling anyway", exc)
        if codec.info:
            self.hub.record_info(self.device, codec.info)
        missed = 0
        while link.alive:
            cycle_start = time.monotonic()
            try:
                async with self.turn or contextlib.nullcontext(), self._exchanging:
                    await self._exchange(codec.poll_requests())
                missed = 0
            except NoAnswer as exc:
                missed += 1
                codec.reset()
                # A BMS taking turns for a slot gives it up at the first silence: the others are waiting.
                if missed >= (MISSED_ANSWERS_BEFORE_RECONNECT if link.resident else 1):
                    raise NoAnswer(f"{missed} polls without an answer ({exc})") from None
            sample = codec.sample()
            if sample is not None:
                self._backoff = RECONNECT_BACKOFF[0]
                self.hub.record(self.device, sample, codec.info, self._earlier_frames.plus(codec.stats))
            if not self.sampling.keep_alive or not link.resident:
                self._held_slot = link.resident
                return
            if time.monotonic() >= rssi_due:
                rssi_due += RSSI_PERIOD
                await link.refresh_diagnostics()
                state.link.update(link.diagnostics())
            remaining = self._slot_near(cycle_start + self.sampling.sample_period) - time.monotonic()
            if remaining > 0:
                await asyncio.wait([watch], timeout=remaining)
        raise _ended(link)

    def _slot_near(self, due: float) -> float:
        """The instant nearest ``due`` on this BMS's grid: every sample period, at its phase within the period.

        On a fixed grid the pollers neither drift (timer lateness added up, 1 % at 10 Hz) nor bunch up: a BMS
        polled late used to fall into the slot of the next one and stay there, and BMS answering at the same
        moment wait for each other on the one event loop. A cycle that overran starts again at once.
        """
        period = self.sampling.sample_period
        offset = self.phase * period
        return offset + round((due - offset) / period) * period

    async def switch(self, name: str, on: bool, not_after: float) -> None:
        """Write a switch and wait for the BMS to report back; raises on failure. The command waits for the
        BMS to be connected and free until ``not_after`` (loop time) and is dropped then: a switch must not
        flip long after it was asked for, when a BMS finally connects."""
        try:
            async with asyncio.timeout_at(not_after):
                await self._up.wait()
        except TimeoutError:
            raise CommandExpired("was not connected") from None
        async with self.turn or contextlib.nullcontext(), self._exchanging:
            if asyncio.get_running_loop().time() > not_after:
                raise CommandExpired("was busy")
            if self._codec is None or self._link is None or not self._link.alive:  # lost while it waited
                raise LinkError("not connected")
            await self._exchange(self._codec.switch_requests(name, on))

    async def _exchange(self, requests: list[Request]) -> None:
        for request in requests:
            await self._request(request)

    async def _request(self, request: Request) -> None:
        assert self._link is not None
        if request.expect is None:
            await self._send(request)
            return
        asked = GARBLED_ANSWER_RETRIES + 1
        for attempt in range(1, asked + 1):
            try:
                await self._ask(request, request.expect)
                return
            except GarbledAnswer:
                self.log.debug("the %r answer failed its checksum (%d of %d)", request.expect, attempt, asked)
        raise NoAnswer(f"{asked} {request.expect!r} answers in a row failed their checksum")

    async def _ask(self, request: Request, kind: str) -> None:
        """Send ``request`` and wait for its ``kind`` of answer (``request.expect``, known not to be None)."""
        assert self._link is not None and self._codec is not None
        link, loop = self._link, asyncio.get_running_loop()
        # The answer, the timeout and the link's end all settle this one future: the poller wakes once, on the
        # loop turn after the answer, with no helper tasks to start and cancel per request.
        future: asyncio.Future[None] = loop.create_future()
        self._waiter = _Waiter(kind, future, self._codec.stats.bad_checksum)
        timeout: asyncio.TimerHandle | None = None
        try:
            await self._send(request)
            if not link.alive:  # ended before the link watch could fail the future
                raise _ended(link)
            timeout = loop.call_later(RESPONSE_TIMEOUT, _expire, future, kind)
            await future
        finally:
            if timeout is not None:
                timeout.cancel()
            self._waiter = None

    async def _send(self, request: Request) -> None:
        assert self._link is not None
        if request.read is not None:
            self._on_value(request.read, await self._link.read_characteristic(request.read))
        elif request.data is not None:
            if self.log.isEnabledFor(logging.DEBUG):
                self.log.debug("> %s", request.data.hex(" "))
            await self._link.write(request.data)

    def _on_data(self, data: bytes) -> None:
        if self._codec is None:
            return
        if self.log.isEnabledFor(logging.DEBUG):  # the hex dump would be made before the logger is asked
            self.log.debug("< %s", data.hex(" "))
        self._answered(self._codec.feed(data))
        self._report_unplaced(self._codec)

    def _on_value(self, characteristic: str, value: bytes) -> None:
        if self._codec is None:
            return
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("< %s %s", characteristic, value.hex(" "))
        self._answered(self._codec.feed_value(characteristic, value))
        self._report_unplaced(self._codec)

    def _report_unplaced(self, codec: Codec) -> None:
        for frame in codec.take_unplaced():
            lengths = self._unplaced_lengths
            if len(frame) in lengths or len(lengths) >= UNPLACED_LENGTHS_LOGGED:
                continue
            lengths.add(len(frame))
            self.log.warning("%s", unplaced_report(codec.type_name, frame))

    def _answered(self, kinds: list[str]) -> None:
        waiter = self._waiter
        if waiter is None or waiter.future.done():
            return
        if waiter.kind in kinds:
            waiter.future.set_result(None)
        elif f"{waiter.kind}-error" in kinds:
            waiter.future.set_exception(LinkError(f"the BMS refused the {waiter.kind!r} request"))
        elif self._codec is not None and self._codec.stats.bad_checksum > waiter.bad_frames:
            waiter.future.set_exception(GarbledAnswer())

    def _link_ended(self, link: Link) -> None:
        waiter = self._waiter
        if link.alive or waiter is None or waiter.future.done():  # alive: the watch was cancelled by close()
            return
        waiter.future.set_exception(_ended(link))

    def _lost(self, reason: str) -> None:
        if self.hub.state(self.device).link_lost(reason):
            self.log.warning("%s; reconnecting in %.0f s", reason, self._backoff)

    async def close(self) -> None:
        if self._link_watch is not None:
            self._link_watch.cancel()
            self._link_watch = None
        link, self._link = self._link, None
        if link is not None:
            await link.close()
        if self._codec is not None:
            self._earlier_frames = self._earlier_frames.plus(self._codec.stats)
            self._codec = None
        self._up.clear()
        self.hub.state(self.device).connected = False


def _expire(future: asyncio.Future[None], kind: str) -> None:
    if not future.done():
        future.set_exception(NoAnswer(f"no {kind!r} frame within {RESPONSE_TIMEOUT:g} s"))


def _ended(link: Link) -> LinkError:
    return LinkError(link.close_reason or "link closed")
