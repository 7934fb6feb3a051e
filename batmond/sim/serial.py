"""Simulated wired BMS on pseudo-terminals: the daemon opens them through the real pyserial path.

A :class:`PtyPort` stands in for a USB-RS485 adapter: the simulator keeps the pty master and puts a symlink at
the configured adapter path (as udev does with /dev/serial/by-id/…) pointing to the slave. ``unplug()`` takes
the port away (the daemon's reads fail, the symlink vanishes), ``plug()`` brings a new pty back at the same path,
usually under another /dev/pts number, like a replugged adapter getting another ttyUSB number. Several simulated
BMS can share one port, as Daly boards share an RS485 bus; each answers only the requests addressed to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import pkgutil
import random
import tty
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cache
from typing import ClassVar

from batmond.config import Config
from batmond.sim.battery import Battery

log = logging.getLogger("batmond.sim")


class SerialSimulatedBms(ABC):
    """A BMS behind a wire. Subclasses cut requests out of the received bytes and answer them.

    Faults: ``silent`` (no answers), ``garbage`` (answers arrive as noise, like a wrong baud rate),
    ``corrupt_next`` (answers with a flipped byte).
    """

    types: ClassVar[tuple[str, ...]]

    def __init__(self, name: str, battery: Battery, board: int = 1) -> None:
        self.name = name
        self.battery = battery
        self.board = board
        self.silent = False
        self.garbage = False
        self.corrupt_next = 0
        self.requests: list[bytes] = []
        self._buffer = bytearray()
        self._noise = random.Random(zlib.crc32(name.encode()))

    def receive(self, data: bytes) -> list[bytes]:
        """Bytes from the wire; the answers to put on it."""
        self._buffer += data
        answers = []
        for request in self.take_requests(self._buffer):
            self.requests.append(request)
            del self.requests[:-100]
            self.battery.advance()
            answers += [self._faulty(answer) for answer in self.answer(request)]
        if len(self._buffer) > 4096:
            self._buffer.clear()
        return [] if self.silent else answers

    def _faulty(self, answer: bytes) -> bytes:
        if self.garbage:
            # What a UART sampling at the wrong speed makes of a frame: bytes, none of them a frame start.
            return bytes(self._noise.choice(range(0x10, 0x40)) for _ in answer)
        if self.corrupt_next > 0:
            self.corrupt_next -= 1
            position = self._noise.randrange(4, len(answer) - 1)
            return answer[:position] + bytes([answer[position] ^ 0x5A]) + answer[position + 1 :]
        return answer

    @abstractmethod
    def take_requests(self, buffer: bytearray) -> list[bytes]:
        """Remove the complete requests (addressed to anyone) from the front of ``buffer`` and return them."""

    @abstractmethod
    def answer(self, request: bytes) -> list[bytes]:
        """Frames to send back; empty for requests to another board or ones the firmware ignores."""


@cache
def serial_simulator_types() -> dict[str, type[SerialSimulatedBms]]:
    """The wired simulators in batmond.sim.devices, by config type (a registry apart from the Bluetooth one)."""
    import batmond.sim.devices as package

    found: dict[str, type[SerialSimulatedBms]] = {}
    for module in pkgutil.iter_modules(package.__path__):
        loaded = importlib.import_module(f"{package.__name__}.{module.name}")
        for value in vars(loaded).values():
            if (
                isinstance(value, type)
                and issubclass(value, SerialSimulatedBms)
                and value.__module__ == loaded.__name__
            ):
                for type_name in value.types:
                    found[type_name] = value
    return found


class PtyPort:
    """A simulated adapter at ``path`` with the BMS of its bus."""

    def __init__(self, path: str, devices: list[SerialSimulatedBms] | None = None) -> None:
        self.path = path
        self.devices = devices or []
        self.master: int | None = None
        self.slave: int | None = None
        self.plugs = 0

    @property
    def plugged(self) -> bool:
        return self.master is not None

    def plug(self) -> None:
        if self.plugged:
            return
        if os.path.lexists(self.path) and not os.path.islink(self.path):
            raise FileExistsError(f"{self.path} exists and is not a symlink: refusing to put a simulator there")
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo of the daemon's requests before it configures the port itself
        os.set_blocking(master, False)
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        temporary = f"{self.path}.{os.getpid()}.new"
        os.symlink(os.ttyname(slave), temporary)
        os.replace(temporary, self.path)
        self.master, self.slave = master, slave
        self.plugs += 1
        asyncio.get_running_loop().add_reader(master, self._on_readable)
        log.info("simulated adapter %s -> %s (%s)", self.path, os.ttyname(slave),
                 ", ".join(f"{d.name} board {d.board}" for d in self.devices))  # fmt: skip

    def unplug(self) -> None:
        """The adapter leaves: its path disappears and the daemon's open port fails."""
        if not self.plugged:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        master, slave = self.master, self.slave
        self.master = self.slave = None
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(master)
        for fd in (master, slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _on_readable(self) -> None:
        if self.master is None:
            return
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # nothing opened the slave side yet
        for device in self.devices:
            for answer in device.receive(data):
                self.send(answer)

    def send(self, data: bytes) -> None:
        if self.master is not None:
            with contextlib.suppress(BlockingIOError):
                os.write(self.master, data)


@dataclass(frozen=True, slots=True)
class SerialSimSpec:
    type: str
    name: str
    board: int = 1
    cells: int = 16
    capacity_ah: float = 280.0
    soc: float = 60.0


def new_device(spec: SerialSimSpec) -> SerialSimulatedBms:
    known = serial_simulator_types()
    if spec.type not in known:
        raise KeyError(f"no wired simulator for BMS type {spec.type!r} (have: {', '.join(sorted(known))})")
    battery = Battery(cells=spec.cells, capacity_ah=spec.capacity_ah, soc=spec.soc, seed=zlib.crc32(spec.name.encode()))
    return known[spec.type](spec.name, battery, spec.board)


def ports_from_config(config: Config) -> list[PtyPort]:
    """One simulated adapter per configured adapter path, carrying every wired BMS configured on it."""
    ports: dict[str, PtyPort] = {}
    for device in config.devices:
        if device.is_serial and device.adapter:
            spec = SerialSimSpec(type=device.type, name=device.alias, board=device.board_address)
            ports.setdefault(device.adapter, PtyPort(device.adapter)).devices.append(new_device(spec))
    return list(ports.values())
