"""Wired BMS: one pyserial port per adapter, shared by every BMS on its bus, reopened when the adapter returns.

A :class:`SerialBus` owns the port of one adapter path (``/dev/serial/by-id/…``, ``/dev/ttyUSB0``). Each BMS on
it gets a :class:`SerialLink`; the poller drives that like any other link. RS485 is half duplex, so the pollers of
one bus take turns through :attr:`SerialBus.lock` (the poller's ``turn``) and the answers go to the link that
wrote last. When the adapter disappears every link closes; ``connect`` then waits until the same path is back
(udev events wake it at once, a once-a-second check works without udev), so an unplug costs no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import stat
import threading
import time

import serial

from batmond.protocols.base import Codec, SerialProfile
from batmond.transports.base import Link, LinkError

log = logging.getLogger("batmond.serial")

POLL_INTERVAL = 1.0  # s between checks for adapters that came or went, with or without udev
REQUEST_GAP = 0.02  # s of silence before a request: Daly drops requests that follow an answer too closely
GARBAGE_EXCHANGES = 3  # answers in a row that are bytes but never a frame before saying "wrong baud rate?"
MIN_GARBAGE = 8  # bytes; fewer after a request is line noise, not an answer at the wrong speed
BUSY_ERRNOS = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY)
MISSING_ERRNOS = (errno.ENOENT, errno.ENODEV, errno.ENXIO)


class SerialPortError(LinkError):
    """The port exists but cannot be used; the message says what to do."""


class AdapterMissing(LinkError):
    """Nothing at the adapter path (yet)."""


def line_settings(profile: SerialProfile) -> str:
    return f"{profile.baudrate} {profile.bytesize}{profile.parity}{profile.stopbits}"


def open_port(path: str, profile: SerialProfile) -> serial.Serial:
    """Open ``path`` exclusively and non-blocking; every failure becomes one line that says what to do."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise AdapterMissing(f"adapter {path} is not there") from None
    except PermissionError:
        raise SerialPortError(_permission_hint(path)) from None
    if not stat.S_ISCHR(mode):
        raise SerialPortError(_not_serial_hint(path))
    port = serial.Serial(baudrate=profile.baudrate, bytesize=profile.bytesize, parity=profile.parity,
                         stopbits=profile.stopbits, timeout=0, write_timeout=1.0, exclusive=True)  # fmt: skip
    port.port = path
    try:
        port.open()
    except serial.SerialException as exc:
        code = exc.errno if isinstance(exc.errno, int) else None
        if code in (errno.EACCES, errno.EPERM):
            raise SerialPortError(_permission_hint(path)) from None
        if code in MISSING_ERRNOS:
            raise AdapterMissing(f"adapter {path} is not there") from None
        if code in BUSY_ERRNOS or "exclusively lock" in str(exc):
            raise SerialPortError(
                f"{path} is in use by another program (ModemManager, a serial console, another batmond?): "
                "stop it, batmond needs the port to itself"
            ) from None
        if code == errno.ENOTTY or "Inappropriate ioctl" in str(exc):
            raise SerialPortError(_not_serial_hint(path)) from None
        raise SerialPortError(f"cannot open {path}: {exc}") from None
    return port


def _permission_hint(path: str) -> str:
    return (
        f"permission denied on {path}: add the user batmond runs as to the 'dialout' group "
        "(sudo usermod -aG dialout USER, then restart batmond) or install batmond's udev rule"
    )


def _not_serial_hint(path: str) -> str:
    return (
        f"{path} is not a serial device: set adapter to the port, "
        "e.g. /dev/serial/by-id/usb-…-port0 (see ls /dev/serial/by-id)"
    )


class Hotplug:
    """Wakes adapter waiters when tty devices come and go (udev, in a thread) and at least once a second."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            import pyudev

            monitor = pyudev.Monitor.from_netlink(pyudev.Context())
            monitor.filter_by("tty")
            monitor.start()
        except Exception as exc:  # no udev in containers and on non-Linux systems: the polling still works
            log.debug("udev not available (%s); checking adapters every %g s", exc, POLL_INTERVAL)
            return
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._watch, args=(monitor, loop), name="udev", daemon=True)
        self._thread.start()

    def _watch(self, monitor, loop: asyncio.AbstractEventLoop) -> None:
        while not self._stop.is_set():
            device = monitor.poll(timeout=POLL_INTERVAL)
            if device is not None and not self._stop.is_set():
                with contextlib.suppress(RuntimeError):  # the loop closed while we were waiting
                    loop.call_soon_threadsafe(self._changed.set)

    def kick(self) -> None:
        self._changed.set()

    async def wait(self) -> None:
        """Return on the next udev event, or after the polling interval."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), POLL_INTERVAL)
        self._changed.clear()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2 * POLL_INTERVAL)


class SerialLink(Link):
    """One BMS on a bus. ``probe`` is a private codec of the BMS's type that only counts frames, so the bus can
    tell "nothing answers" from "something answers at the wrong speed" without looking inside the bytes."""

    def __init__(self, bus: SerialBus, description: str, probe: Codec) -> None:
        super().__init__(description)
        self.bus = bus
        self.probe = probe
        self.received = 0  # bytes since this link's last write
        self._frames_at_write = 0
        self._garbage = 0

    async def write(self, data: bytes) -> None:
        self._check_answer()
        await self.bus.write(self, data)

    def deliver(self, data: bytes) -> None:
        self.received += len(data)
        self.probe.feed(data)
        self.on_data(data)

    def _check_answer(self) -> None:
        """Judge the answer to the previous request: frames, silence, or garbage (wrong baud rate, swapped A/B)."""
        frames = self.probe.stats.frames
        if frames > self._frames_at_write:
            self._garbage = 0
            self.bus.garbage_reported = False
        elif self.received >= MIN_GARBAGE:
            self._garbage += 1
            if self._garbage >= GARBAGE_EXCHANGES and not self.bus.garbage_reported:
                self.bus.garbage_reported = True
                log.error("%s: bytes arrive but never a %s frame: the line speed must be %s (check the BMS's and "
                          "adapter's settings) and RS485 A/B may be swapped", self.bus.path, self.probe.type_name,
                          line_settings(self.bus.profile))  # fmt: skip
        self._frames_at_write = frames
        self.received = 0

    async def close(self) -> None:
        self.mark_closed("closed by batmond")
        self.bus.detach(self)


class SerialBus:
    """The port of one adapter path and the links of the BMS on it."""

    def __init__(self, path: str, profile: SerialProfile, hotplug: Hotplug) -> None:
        self.path = path
        self.profile = profile
        self.hotplug = hotplug
        self.lock = asyncio.Lock()  # the pollers' turn: one request/answer exchange on the wire at a time
        self.links: set[SerialLink] = set()
        self.port: serial.Serial | None = None
        self.device_path: str | None = None  # what the adapter path pointed to when opened
        self.talker: SerialLink | None = None
        self.garbage_reported = False
        self._opening = asyncio.Lock()
        self._last_activity = 0.0
        self._waiting_logged = False
        self._announce = True

    async def connect(self, description: str, probe: Codec) -> SerialLink:
        """A link on this bus; waits (without limit) while the adapter is unplugged."""
        async with self._opening:
            while self.port is None:
                try:
                    self._open()
                except AdapterMissing:
                    if not self._waiting_logged:
                        self._waiting_logged = True
                        log.warning("waiting for adapter %s (%s): not plugged in? It is picked up as soon as it "
                                    "appears", self.path, description)  # fmt: skip
                    await self.hotplug.wait()
        link = SerialLink(self, description, probe)
        self.links.add(link)
        return link

    def _open(self) -> None:
        port = open_port(self.path, self.profile)
        try:
            asyncio.get_running_loop().add_reader(port.fileno(), self._on_readable)
        except NotImplementedError:  # an event loop without file readers (Windows)
            port.close()
            raise SerialPortError(f"cannot watch {self.path} on this system: wired BMS need Linux") from None
        self.port = port
        self.device_path = os.path.realpath(self.path)
        self._waiting_logged = False
        # Said once per arrival, not on every reopen (keep_alive = false closes the port after each sample).
        level = logging.INFO if self._announce else logging.DEBUG
        log.log(level, "opened %s (%s, %s)", self.path, self.device_path, line_settings(self.profile))
        self._announce = False

    def _on_readable(self) -> None:
        port = self.port
        if port is None:
            return
        try:
            data = port.read(max(port.in_waiting, 1))
        except (serial.SerialException, OSError) as exc:
            self.lost(f"adapter {self.path} went away ({exc.__class__.__name__})")
            return
        self._last_activity = time.monotonic()
        talker = self.talker
        if data and talker is not None and talker.alive:
            talker.deliver(data)

    async def write(self, link: SerialLink, data: bytes) -> None:
        if self.port is None:
            raise LinkError(f"adapter {self.path} is gone")
        wait = self._last_activity + REQUEST_GAP - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if self.port is None:
            raise LinkError(f"adapter {self.path} is gone")
        self.talker = link
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as exc:
            self.lost(f"adapter {self.path} went away ({exc.__class__.__name__})")
            raise LinkError(f"adapter {self.path} went away") from None
        self._last_activity = time.monotonic()

    def check_present(self) -> None:
        """Close the port when its path vanished or now names another device (replugged elsewhere)."""
        if self.port is not None and os.path.realpath(self.path) != self.device_path:
            self.lost(f"adapter {self.path} was unplugged")

    def lost(self, reason: str) -> None:
        if self.port is None:
            return
        log.warning("%s; waiting for it to come back", reason)
        self._announce = True
        self.close()
        for link in list(self.links):
            link.mark_closed(reason)
        self.links.clear()
        self.hotplug.kick()

    def detach(self, link: SerialLink) -> None:
        self.links.discard(link)
        if self.talker is link:
            self.talker = None
        if not self.links:
            self.close()

    def close(self) -> None:
        port, self.port = self.port, None
        self.talker = None
        if port is None:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(port.fileno())
        with contextlib.suppress(Exception):
            port.close()


class SerialBuses:
    """Every adapter of the config, and the task that notices adapters leaving while nobody writes."""

    def __init__(self) -> None:
        self.hotplug = Hotplug()
        self.buses: dict[str, SerialBus] = {}

    def bus(self, path: str, profile: SerialProfile) -> SerialBus:
        if path not in self.buses:
            self.buses[path] = SerialBus(path, profile, self.hotplug)
        return self.buses[path]

    async def run(self) -> None:
        self.hotplug.start()
        try:
            while True:
                await asyncio.sleep(POLL_INTERVAL)
                for bus in self.buses.values():
                    bus.check_present()
        finally:
            self.close()

    def close(self) -> None:
        for bus in self.buses.values():
            for link in list(bus.links):
                link.mark_closed("batmond stopped")
            bus.links.clear()
            bus.close()
        self.hotplug.stop()
