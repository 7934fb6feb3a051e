"""bumble's per-packet debug strings, made only when bumble logs at DEBUG.

bumble writes a debug line for every HCI packet and every ATT PDU it sends or receives with f-strings, which
are formatted before the logger is asked whether DEBUG is on: each packet is turned into a multi-line, ANSI
coloured dump even though batmond keeps bumble at WARNING. At 32 BMS that was about a fifth of the daemon's
CPU. Here those packet classes' ``str()`` gives just the class name while the ``bumble`` logger is not at
DEBUG (one cached level check), and the colour codes around the host's lines are computed once. With DEBUG
on, bumble's own formatting is back, unchanged.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from bumble import att, colors, hci, host, l2cap

BUMBLE_LOG = logging.getLogger("bumble")
_DONE = "_batmond_lazy_str"


def make_debug_strings_lazy() -> None:
    """Idempotent; affects the whole process (every bumble Device in it)."""
    if getattr(host, _DONE, False):
        return
    for base in (hci.HCI_Packet, att.ATT_PDU, l2cap.L2CAP_PDU, l2cap.L2CAP_Control_Frame):
        for cls in _with_subclasses(base):
            if "__str__" in vars(cls):
                cls.__str__ = _lazy(cls.__str__)  # type: ignore[method-assign]
    # A pure function of its arguments: the host calls it twice per packet with the same few constants.
    host.color = functools.lru_cache(maxsize=64)(colors.color)
    setattr(host, _DONE, True)


def _with_subclasses(base: type) -> set[type]:
    found: set[type] = set()
    pending = [base]
    while pending:
        cls = pending.pop()
        if cls not in found:
            found.add(cls)
            pending.extend(cls.__subclasses__())
    return found


def _lazy(original: Callable[[object], str]) -> Callable[[object], str]:
    def __str__(self: object) -> str:
        if BUMBLE_LOG.isEnabledFor(logging.DEBUG):
            return original(self)
        return type(self).__name__

    return __str__
