"""The Bluetooth recovery ladder: reopen, then power-cycle through the root helper, then give up.

batmon-ha's users' first complaint is "stops after days; only a reboot or a Bluetooth power cycle helps". batmond
climbs this ladder by itself, each step logged once with its reason:

1. detect: the transport is lost, a harmless HCI command times out, or no connected BMS sends anything;
2. close the transport, throw the bumble Device away, reopen and reset (``REOPENS`` times, with backoff);
3. ask the root helper ``bt-reset`` (packaging/libexec) to power-cycle the adapter, through a request file
   that ``batmond-bt-reset.path`` watches, so the daemon itself stays unprivileged;
4. exit non-zero and let systemd restart the daemon.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("batmond.ble")

REOPENS = 3  # failed reopen attempts before asking for a power cycle
POWER_CYCLES = 1  # power cycles that did not help before giving up
STABLE_AFTER = 300.0  # s up: a later failure is a new incident, the ladder starts again from the bottom
HELPER_TIMEOUT = 60.0  # s to wait for the helper's result


class AdapterDead(Exception):
    """Every step failed; the daemon exits non-zero so systemd restarts it."""


@dataclass
class Ladder:
    reopens: int = REOPENS
    power_cycles: int = POWER_CYCLES
    _failures: int = 0
    _cycles: int = 0
    _up_since: float | None = None

    def up(self) -> None:
        self._up_since = time.monotonic()

    @property
    def up_since(self) -> float | None:
        return self._up_since

    def next_step(self) -> str:
        """After a failure: "reopen", "power-cycle" or "give-up"."""
        if self._up_since is not None and time.monotonic() - self._up_since >= STABLE_AFTER:
            self._failures = self._cycles = 0  # it ran fine for a while: a new incident
        self._up_since = None
        self._failures += 1
        if self._failures <= self.reopens:
            return "reopen"
        if self._cycles < self.power_cycles:
            self._cycles += 1
            self._failures = 0
            return "power-cycle"
        return "give-up"


class PowerCycler:
    """Client of the root helper's request-file protocol (see packaging/libexec/bt-reset)."""

    def __init__(self, request_dir: str, one_at_a_time: asyncio.Lock | None = None) -> None:
        self.directory = Path(request_dir)
        # The helper takes one request file at a time: the adapters of one daemon share this lock.
        self.one_at_a_time = one_at_a_time or asyncio.Lock()
        self.request = self.directory / "bt-reset.request"
        self.result = self.directory / "bt-reset.result"

    @property
    def available(self) -> bool:
        return self.directory.is_dir() and os.access(self.directory, os.W_OK)

    async def power_cycle(self, transport: str, timeout: float = HELPER_TIMEOUT) -> tuple[int, str]:
        """Ask for a power cycle and wait for the outcome: (status, message); status 0 means it is back."""
        async with self.one_at_a_time:
            return await self._request(transport, timeout)

    async def _request(self, transport: str, timeout: float) -> tuple[int, str]:
        self.result.unlink(missing_ok=True)
        staging = self.directory / f".bt-reset.{os.getpid()}"
        staging.write_text(transport + "\n")
        staging.replace(self.request)  # atomic: the path unit never sees half a request
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.result.exists():
                text = self.result.read_text().strip()
                self.result.unlink(missing_ok=True)
                status, _, message = text.partition(" ")
                return (int(status) if status.isdigit() else 5), message
            await asyncio.sleep(0.2)
        self.request.unlink(missing_ok=True)
        return 5, f"no answer from the bt-reset helper within {timeout:g} s (is batmond-bt-reset.path enabled?)"


HCIDEVDOWN = 0x400448CA  # _IOW('H', 202, int)
BTPROTO_HCI = 1


def bring_down(transport: str) -> None:
    """Take the kernel adapter of an ``hci-socket:N`` transport DOWN before binding its user channel.

    The bind fails with EBUSY while the adapter is UP (bluetoothd brought it up, or it was never taken down).
    Needs CAP_NET_ADMIN, which the user channel needs anyway; the packaged unit also does this as root
    (``bt-reset prepare``), so a failure here is only logged.
    """
    if not transport.startswith("hci-socket") or not hasattr(socket, "AF_BLUETOOTH"):
        return
    index_text = transport.partition(":")[2] or "0"
    if not index_text.isdigit():
        return
    try:
        with socket.socket(socket.AF_BLUETOOTH, socket.SOCK_RAW, BTPROTO_HCI) as control:
            fcntl.ioctl(control.fileno(), HCIDEVDOWN, int(index_text))
    except OSError as exc:
        log.debug("could not take hci%s down before opening it: %s", index_text, exc)
