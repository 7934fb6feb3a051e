"""Signals before the daemon's event loop takes them over.

`batmond run` spends a tenth of a second or more (seconds on a small board) importing and reading its config
before asyncio handles SIGTERM; with the default actions a stop in that time killed it (exit 143) and so did a
SIGHUP (129). Held from the first line of the command on, a stop ends start-up cleanly and a SIGHUP is ignored:
the config is being read anyway, and systemd sends no reload before READY=1.
"""

from __future__ import annotations

import signal
from types import FrameType


class StopRequested(BaseException):  # not an Exception: no handler on the way takes it for an error
    """SIGTERM or SIGINT during start-up: nothing runs yet, so stopping is just leaving."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped during start-up ({signal.Signals(signum).name})")


def _stop(signum: int, frame: FrameType | None) -> None:
    for other in (signal.SIGTERM, signal.SIGINT):  # a second stop must not interrupt the leaving
        signal.signal(other, signal.SIG_IGN)
    raise StopRequested(signum)


def hold() -> None:
    """Until asyncio installs the daemon's own handlers (Daemon.run)."""
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
