"""The supervisor: one poller task per BMS, the Bluetooth adapter task, the publisher, systemd notification."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from pathlib import Path

import sdnotify

from batmond import algorithms, meters
from batmond.aio import AioType
from batmond.commands import SwitchCommands
from batmond.config import Config, ConfigError, DeviceConfig, check_bluetooth_support, load
from batmond.groups import GroupConfig
from batmond.hub import Hub, Reading
from batmond.journal import GROUP_COMMIT_INTERVAL, Journal, JournalLocked, Record
from batmond.poller import Poller
from batmond.protocols import codec_for
from batmond.sinks import Sink
from batmond.transports.recovery import AdapterDead

log = logging.getLogger("batmond")


HEARTBEAT = 5.0  # s between systemd watchdog pings (WatchdogSec=60s in the unit)
EXIT_ADAPTER_DEAD = 3  # systemd restarts the daemon (Restart=on-failure); distinct from a bug's 1


def heartbeat_interval() -> float:
    """Ping at least three times per watchdog period systemd gives us (WATCHDOG_USEC), at most every 5 s."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    return min(HEARTBEAT, int(usec) / 3e6) if usec.isdigit() and int(usec) > 0 else HEARTBEAT


class StartupError(Exception):
    """The daemon cannot start; the message is one line for the log."""


class Daemon:
    def __init__(self, config: Config, sinks: list[Sink] | None = None) -> None:
        self.config = config
        self.hub = Hub(config.devices, meters.max_gap_for(config.sampling.sample_period))
        self.journal: Journal | None = None
        self._journal_failing = False
        self.sinks: list[Sink] = sinks if sinks is not None else []
        self.pollers: dict[str, Poller] = {}
        self.fleet = None  # the Bluetooth adapters (batmond.fleet.Fleet), when the config has Bluetooth BMS
        self.serial = None  # the wired adapters (transports.serial.SerialBuses), when the config has any
        self.stopping = asyncio.Event()
        self.reload_with: Config | None = None  # set by SIGHUP: stop, then start again with this config
        self._notifier = sdnotify.SystemdNotifier()
        self._last_publish: float | None = None
        self._online: dict[str, bool] = {}  # by device or group alias: what availability last said
        self._tasks: list[asyncio.Task] = []
        self.commands = SwitchCommands(self._write_switch)
        self.exit_code = 0
        self.groups = {group.name: group for group in config.groups}
        # Charge algorithms by owner alias (a device or a group): (owner, limits, state that the journal keeps).
        self.algorithms: dict[str, tuple[DeviceConfig | GroupConfig, algorithms.SocLimits, algorithms.SocState]] = {}
        self._algorithms_moved: set[str] = set()

    def add_sink(self, sink: Sink) -> None:
        self.sinks.append(sink)

    async def run(self, duration: float | None = None) -> None:
        """Run until SIGTERM/SIGINT (or ``duration`` seconds); then say offline and stop cleanly.

        SIGHUP stops the same way once the config file has been read again and found valid, leaving the new config
        in :attr:`reload_with` for the caller to start again with; a config that is not valid is refused, and the
        daemon goes on as it is."""
        loop = asyncio.get_running_loop()
        for signum, handler in (
            (signal.SIGTERM, self._stop),
            (signal.SIGINT, self._stop),
            (signal.SIGHUP, self._reload),
        ):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, handler)
        self._open_journal()
        try:
            self._start_devices()
        except BaseException:
            await self._close_journal()
            raise
        for sink in self.sinks:
            await sink.start()
        self.hub.on_sample = self._on_sample
        self._tasks.append(asyncio.create_task(self._publish_loop(), name="publisher"))
        self._tasks.append(asyncio.create_task(self._commit_loop(), name="journal"))
        self._publisher_alive = time.monotonic()
        self._tasks.append(asyncio.create_task(self._heartbeat(), name="heartbeat"))
        ready = asyncio.create_task(self._ready(), name="ready")  # not in _tasks: its end is not the daemon's
        log.info("batmond running: %d BMS, sample every %g s, publish every %g s", len(self.config.devices),
                 self.config.sampling.sample_period, self.config.sampling.effective_publish_period)  # fmt: skip
        try:
            if duration is None:
                await self._wait_stopping_or_crash()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wait_stopping_or_crash(), duration)
        finally:
            if self.reload_with is None:
                self._notifier.notify("STOPPING=1")
            ready.cancel()
            # Pollers first, while the adapter is still there to say goodbye to each BMS; then the rest.
            pollers = [task for task in self._tasks if task.get_name().startswith("bms-")]
            for task in pollers:
                task.cancel()
            await asyncio.gather(*pollers, return_exceptions=True)
            for poller in self.pollers.values():
                await poller.close()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._close_journal()
            for sink in self.sinks:
                await sink.stop()
            log.info("batmond stopped; starting again with the new configuration" if self.reload_with else
                     "batmond stopped")  # fmt: skip

    def _stop(self) -> None:
        self.reload_with = None  # a stop during a reload's shutdown is a stop
        self.stopping.set()

    def _reload(self) -> None:
        """SIGHUP: read the config file again; the meters are safe across the restart (journal closed, reopened)."""
        if self.stopping.is_set() and self.reload_with is None:
            log.info("reload ignored: batmond is stopping")
            return
        try:
            config = load(self.config.path)
        except ConfigError as exc:
            log.error("reload refused, still running as before: %s", exc)
            return
        log.info("reloading %s: stopping every BMS and sink, then starting again", self.config.path)
        self._notifier.notify("RELOADING=1")  # the next daemon's READY=1 ends it
        self.reload_with = config
        self.stopping.set()

    async def _ready(self) -> None:
        """READY=1 once the config is valid and, when there are Bluetooth BMS, every adapter is open (or one is,
        and the others did not open within the connect timeout: they keep trying)."""
        if self.fleet is not None:
            missing = await self.fleet.wait_ready()
            if missing:
                log.warning("ready without Bluetooth adapter(s) %s: not up within %g s; they keep trying",
                            ", ".join(missing), self.config.bluetooth.connect_timeout)  # fmt: skip
        self._notifier.notify("READY=1")

    async def _wait_stopping_or_crash(self) -> None:
        stop = asyncio.create_task(self.stopping.wait())
        done, _ = await asyncio.wait([stop, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        for task in done:
            if task is stop or task.cancelled() or task.exception() is None:
                continue
            if isinstance(task.exception(), AdapterDead):  # the recovery ladder's last step
                log.error("%s; exiting so that systemd restarts batmond", task.exception())
                self.exit_code = EXIT_ADAPTER_DEAD
                return
            raise task.exception()  # a bug: let systemd restart us with the traceback in the journal

    def _start_devices(self) -> None:
        ble_devices = [d for d in self.config.devices if not d.is_serial and not codec_for(d.type).in_process]
        if ble_devices:
            self.fleet = self._fleet()
            self._tasks.append(asyncio.create_task(self.fleet.run(), name="bluetooth"))
        if any(d.is_serial for d in self.config.devices):
            from batmond.transports.serial import SerialBuses

            self.serial = SerialBuses()
            self._tasks.append(asyncio.create_task(self.serial.run(), name="serial"))
        turn = None if self.config.sampling.concurrent else asyncio.Lock()
        for index, device in enumerate(self.config.devices):
            codec_type = codec_for(device.type)
            device_turn = turn
            if device.is_serial and self.serial is not None:
                # RS485 is half duplex: the BMS of one bus take turns even when sampling is concurrent.
                device_turn = turn or self.serial.bus(device.adapter, codec_type.serial).lock
            if isinstance(codec_type, AioType):  # aiobmsble runs its own exchanges (batmond/aio)
                from batmond.aio.driver import AioPoller

                assert self.fleet is not None
                port = self.fleet.port(device)
                poller = AioPoller(device, codec_type, port, self.config.sampling, self.hub, device_turn,
                                   self.config.bluetooth.turn_interval)  # fmt: skip
            else:
                # Evenly staggered within the sample period: BMS answering at once wait for each other.
                poller = Poller(device, codec_type, self._connector(device, codec_type), self.config.sampling,
                                self.hub, device_turn, phase=index / len(self.config.devices),
                                turn_interval=self.config.bluetooth.turn_interval)  # fmt: skip
            self.pollers[device.alias] = poller
            self.hub.state(device).writable = frozenset() if device.read_only else codec_type.writable_switches
            self._tasks.append(asyncio.create_task(poller.run(), name=f"bms-{device.alias}"))

    def _fleet(self):
        from batmond.config import DEFAULT_ADAPTER_NAME, DEFAULT_PROXY_CONNECTIONS
        from batmond.fleet import Fleet
        from batmond.transports.ble import BleAdapter
        from batmond.transports.esphome import EsphomeProxy  # aioesphomeapi itself only when a proxy runs

        bt = self.config.bluetooth
        adapters = []
        power_cycle_lock = asyncio.Lock()  # one bt-reset request at a time, whichever adapter asks
        for adapter in bt.adapters:
            reason = check_bluetooth_support(adapter.transport)
            if reason:
                raise StartupError(f"Bluetooth adapter {adapter.name}: {reason}" if bt.adapter else reason)
            # Pairings (PIN) survive restarts, one file per adapter: each pairs with its own address.
            suffix = "" if adapter.name == DEFAULT_ADAPTER_NAME else f"-{adapter.name}"
            keys = str(Path(self.config.state.dir) / f"bluetooth-keys{suffix}.json")
            ble = BleAdapter(adapter.transport, bt.connect_timeout, bt.scan_timeout, keys, bt.reset_request_dir,
                             adapter.name, named=bool(bt.adapter), power_cycle_lock=power_cycle_lock)  # fmt: skip
            adapters.append((ble, adapter.max_connections or bt.max_connections))
        proxies = []
        for proxy in bt.proxy:
            radio = EsphomeProxy(proxy.name, proxy.host, proxy.port, proxy.encryption_key, bt.connect_timeout,
                                 bt.scan_timeout)  # fmt: skip
            proxies.append(radio)
            adapters.append((radio, proxy.max_connections or DEFAULT_PROXY_CONNECTIONS))
        fleet = Fleet(adapters, bt.connect_timeout)
        for radio in proxies:  # the proxy's own slot count wins once it reports one
            radio.on_limit = lambda limit, name=radio.name: setattr(fleet.radios[name], "slots", limit)
        return fleet

    def _connector(self, device: DeviceConfig, codec_type):
        description = f"{device.alias} {device.type} {device.address}"
        if device.is_serial:
            board = f" board {device.board_address}" if device.board_address != 1 else ""
            description = f"{device.alias} {device.type} {device.adapter}{board}"

        if codec_type.in_process:
            from batmond.transports.dummy import DummyBms

            dummy = DummyBms(device.stable_id)  # one pack per device, kept across reconnects
            return lambda: dummy.connect(description)

        async def connect():
            if device.is_serial:
                assert self.serial is not None and device.adapter and codec_type.serial is not None
                bus = self.serial.bus(device.adapter, codec_type.serial)
                return await bus.connect(description, codec_type.for_device(device))
            assert self.fleet is not None and codec_type.ble is not None
            return await self.fleet.port(device).connect(device.address, codec_type.ble, description, device.pin)

        return connect

    def _open_journal(self) -> None:
        directory = self.config.state.dir
        try:
            self.journal = Journal.open(directory)
        except JournalLocked as exc:
            raise StartupError(str(exc)) from None
        except OSError as exc:
            if exc.filename and not isinstance(exc, PermissionError) and Path(exc.filename) != Path(directory):
                # Something in place of one of the daemon's own files (its lock): name that, not the directory.
                raise StartupError(f"{exc.filename}: {exc.strerror or exc} (batmond's own file in [state] dir: "
                                   "move what is there away)") from None  # fmt: skip
            raise StartupError(f"state directory {directory}: {exc.strerror or exc} (set [state] dir to a "
                               "directory the batmond user can write)") from None  # fmt: skip
        recovered, unreadable = meters.from_state(self.journal.state)
        for key in unreadable:
            log.error("journal: the meters of %s could not be read; they start from zero", key)
        self.hub.restore_meters(recovered)
        for owner in (*self.config.devices, *self.config.groups):
            if owner.algorithm:
                limits = algorithms.parse(owner.algorithm, owner.full_charge_interval)
                saved = self.journal.state.get((algorithms.KIND, owner.stable_id))
                state = algorithms.SocState.from_dict(saved) if saved else algorithms.SocState()
                self.algorithms[owner.alias] = (owner, limits, state)

    async def _commit_loop(self) -> None:
        """Group commit: one journal write and fsync per interval for every BMS whose meters moved."""
        pause = GROUP_COMMIT_INTERVAL
        while True:
            await asyncio.sleep(pause)
            syncs = await self._commit(self.hub.meters.take_dirty())
            # A compaction syncs twice: the next commit waits one interval longer, so that the card never sees
            # more than one sync per interval on average.
            pause = GROUP_COMMIT_INTERVAL * max(1, syncs)

    async def _commit(self, batch: dict[str, tuple[str, meters.MeterValues]]) -> int:
        """Commit the batch and the charge algorithms that moved; returns the syncs it took (0: nothing done)."""
        if (not batch and not self._algorithms_moved) or self.journal is None:
            return 0
        records = [
            Record(meters.KIND, key, meters.record_data(alias, values)) for key, (alias, values) in batch.items()
        ]
        moved, self._algorithms_moved = self._algorithms_moved, set()
        for alias in moved:
            owner, _, state = self.algorithms[alias]
            records.append(Record(algorithms.KIND, owner.stable_id, state.to_dict()))
        try:
            syncs = await asyncio.to_thread(self.journal.commit, records)
        except OSError as exc:
            self.hub.meters.restore_dirty(batch)
            self._algorithms_moved |= moved
            if not self._journal_failing:
                log.error("journal in %s cannot be written (%s); meters are not published until it can",
                          self.config.state.dir, exc)  # fmt: skip
            self._journal_failing = True
            return 0
        if self._journal_failing:
            log.info("journal in %s is writable again", self.config.state.dir)
            self._journal_failing = False
        self.hub.meters.mark_durable(batch)  # from now on these values may be published
        return syncs

    async def _close_journal(self) -> None:
        if self.journal is None:
            return
        await self._commit(self.hub.meters.take_all())
        self.journal.close()
        self.journal = None

    def _on_sample(self, device: DeviceConfig) -> None:
        """Publish a BMS's reading as soon as its publish period is over, from the poller that recorded the
        sample: the state leaves within a millisecond or two of the BMS's answer instead of waiting up to a
        period for the next tick. Samples in between are averaged into the next reading."""
        sampling = self.config.sampling
        reading = self.hub.take_due(device, sampling.effective_publish_period, sampling.sample_period / 2)
        if reading is None:
            return
        if not self._online.get(device.alias):
            self._set_availability(device, True)
        self._publish(reading)
        self._last_publish = time.monotonic()

    def _set_availability(self, device: DeviceConfig | GroupConfig, online: bool) -> None:
        self._online[device.alias] = online
        for sink in self.sinks:
            sink.availability(device, online)

    async def _publish_loop(self) -> None:
        """The timer side of publishing: availability, groups, readings no later sample came to send, and the
        systemd status and watchdog."""
        sampling = self.config.sampling
        period = sampling.effective_publish_period
        online = self._online
        next_at = time.monotonic()
        while True:
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            now = time.monotonic()
            for alias, state in self.hub.states.items():
                fresh = state.fresh(sampling.expire_values_after, now)
                if online.get(alias) != fresh:
                    if online.get(alias):
                        log.warning("%s: no data for %g s, marked offline", alias, sampling.expire_values_after)
                    self._set_availability(state.device, fresh)
                reading = self.hub.take_due(state.device, period, -sampling.sample_period / 2)
                if reading is not None:
                    self._publish(reading)
                    self._last_publish = now
            for group in self.config.groups:
                reading = self.hub.take_group(group, sampling.expire_values_after)
                if online.get(group.name) != (reading is not None):
                    self._set_availability(group, reading is not None)
                if reading is not None:
                    self._publish(reading)
            self._check_stalled(now)
            self._publisher_alive = now

    def _check_stalled(self, now: float) -> None:
        """Recovery ladder step 1, third detector: an adapter's links look up, but none of its BMS sends anything."""
        if self.fleet is None:
            return
        for radio in self.fleet.radios.values():
            adapter = radio.adapter
            if not adapter.ready.is_set():
                continue
            states = [self.hub.states[alias] for alias in self.fleet.aliases_on(radio)]
            if not any(state.connected for state in states):
                continue
            last = max(
                [s.last_sample_at for s in states if s.last_sample_at is not None] + [adapter.ladder.up_since or now]
            )
            stall_after = max(60.0, 3 * self.config.sampling.expire_values_after)
            if now - last > stall_after:
                adapter.restart(f"no data from any connected BMS for {now - last:.0f} s")

    def _publish(self, reading: Reading) -> None:
        for sink in self.sinks:
            sink.publish(reading)
        self._run_algorithm(reading)

    def _run_algorithm(self, reading: Reading) -> None:
        entry = self.algorithms.get(reading.device.alias)
        if entry is None:
            return
        owner, limits, state = entry
        decision = algorithms.decide(limits, state, reading.sample.soc, time.time())  # wall clock: days-long
        if decision is None:
            return
        self._algorithms_moved.add(owner.alias)
        value = "ON" if decision else "OFF"
        reason = "full charge for SoC calibration" if state.full_charge else f"algorithm {owner.algorithm!r}"
        log.info("%s: SoC %.1f %%: switching charging %s (%s)", owner.alias, reading.sample.soc, value, reason)
        self.command(owner.alias, "charge", value)

    async def _heartbeat(self) -> None:
        """systemd STATUS and WATCHDOG, every few seconds whatever the publish period, but only while the
        publisher keeps turning: a hung event loop or a dead publisher stops the pings and systemd restarts us."""
        period = self.config.sampling.effective_publish_period
        interval = heartbeat_interval()
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            if now - self._publisher_alive > period + 2 * interval:
                continue
            count = sum(self._online.values())
            last = "never" if self._last_publish is None else f"{now - self._last_publish:.1f} s ago"
            adapters = f"; Bluetooth {self.fleet.status()}" if self.fleet is not None else ""
            self._notifier.notify(
                f"STATUS={count}/{len(self._online)} BMS online, last publish {last}{adapters}\nWATCHDOG=1"
            )

    def command(self, alias: str, switch: str, payload: str) -> list[asyncio.Task[None]]:
        """A switch command from a sink or a charge algorithm (on the event loop): validated here, then
        coalesced and written per switch (batmond.commands); the next publish carries the state read back.
        A command to a group goes to every member. Returns the tasks that write it (none when refused)."""
        group = self.groups.get(alias)
        if group is not None:
            return [task for member in group.members for task in self.command(member, switch, payload)]
        poller = self.pollers.get(alias)
        if poller is None:
            self.commands.refuse(("unknown",), "ignored switch command for unknown device %r", alias[:64])
            return []
        value = payload.strip().upper()
        if value not in ("ON", "OFF"):
            self.commands.refuse((alias, "payload"), "%s: ignored switch command %s=%r (payload must be ON or "
                                 "OFF)", alias, switch, payload[:20])  # fmt: skip
            return []
        if poller.device.read_only:
            self.commands.refuse((alias, "read_only"), "%s: ignored switch command %s=%s: the device is read_only",
                                 alias, switch, value)  # fmt: skip
            return []
        if switch not in self.hub.state(poller.device).writable:
            self.commands.refuse((alias, "switch"), "%s: ignored switch command for %r: not a switch batmond can "
                                 "write on this BMS", alias, switch[:32])  # fmt: skip
            return []
        return [self.commands.submit(alias, switch, value == "ON")]

    async def _write_switch(self, alias: str, switch: str, on: bool, not_after: float) -> None:
        await self.pollers[alias].switch(switch, on, not_after)
