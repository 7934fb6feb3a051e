"""Switch commands as a careful controller runs them: per switch the latest command wins, one write is in
flight, writes are at least a second apart, and a command that waited too long for its BMS is dropped.
One log line per burst of commands, never one per message. No I/O of its own: the daemon hands it the write.

A flood (an automation in a loop, a stuck button) then costs the BMS two writes, not one per message, and the
switch ends where the last command put it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from batmond.protocols.base import UnsupportedSwitch

log = logging.getLogger("batmond")

# A command may wait this long for its BMS (a poll that is waiting for a slow answer, a busy RS485 bus, the
# write before it). Later it is dropped: nobody expects a switch to flip minutes after the click.
COMMAND_VALIDITY = 10.0  # s
WRITE_INTERVAL = 1.0  # s at least between two writes of one switch
REFUSAL_WINDOW = 10.0  # s: a command refused like one before it within this window is counted, not logged

# (alias, switch, on, not_after): writes the switch and reads it back, or raises
Write = Callable[[str, str, bool, float], Awaitable[None]]


class CommandExpired(Exception):
    """The command's validity ended before its BMS could take it; the message says why ("was busy")."""


@dataclass(slots=True)
class _Switch:
    """One switch of one BMS: the command not yet written and the burst it belongs to."""

    wanted: bool | None = None
    received: float = 0.0  # loop time of the wanted command
    first: float = 0.0  # loop time of the burst's first command
    commands: int = 0
    writes: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class SwitchCommands:
    def __init__(self, write: Write, interval: float = WRITE_INTERVAL, refusal_window: float = REFUSAL_WINDOW) -> None:
        self._write = write
        self.interval = interval
        self.refusal_window = refusal_window
        self._switches: dict[tuple[str, str], _Switch] = {}
        self._refused: dict[tuple[str, ...], list] = {}  # why -> [refused since the line, the last line]

    def refuse(self, why: tuple[str, ...], message: str, *args: object) -> None:
        """Log a refused command: the first of a kind (``why``) at once, then how many more came in the window."""
        line = message % args
        entry = self._refused.get(why)
        if entry is not None:
            entry[0] += 1
            entry[1] = line
            return
        log.warning("%s", line)
        if self.refusal_window > 0:
            self._refused[why] = [0, line]
            asyncio.get_running_loop().call_later(self.refusal_window, self._refusals_over, why)

    def _refusals_over(self, why: tuple[str, ...]) -> None:
        more, line = self._refused.pop(why)
        if more:
            log.warning("%s (and %d more like it in %g s)", line, more, self.refusal_window)

    def submit(self, alias: str, switch: str, on: bool) -> asyncio.Task[None]:
        """Take a valid command; the task returned ends with the burst it joined (written and logged)."""
        now = asyncio.get_running_loop().time()
        state = self._switches.setdefault((alias, switch), _Switch())
        if state.commands == 0:
            state.first = now
        state.wanted, state.received = on, now
        state.commands += 1
        if state.task is None or state.task.done():
            state.task = asyncio.create_task(self._burst(alias, switch, state), name=f"switch-{alias}-{switch}")
        return state.task

    async def _burst(self, alias: str, switch: str, state: _Switch) -> None:
        """Write the latest command until none is left; a burst ends one interval after its last write."""
        loop = asyncio.get_running_loop()
        confirmed: bool | None = None  # what the BMS took in this burst: the same command again is not written
        problem: tuple[int, str] | None = None  # how the last write failed
        on = bool(state.wanted)
        last_received = state.received
        while state.wanted is not None:
            on, last_received = state.wanted, state.received
            state.wanted = None
            if on == confirmed:
                continue
            started = loop.time()
            state.writes += 1
            value = "ON" if on else "OFF"
            try:
                await self._write(alias, switch, on, last_received + COMMAND_VALIDITY)
                confirmed, problem = on, None
            except CommandExpired as exc:
                why = f"the BMS {exc} for {COMMAND_VALIDITY:g} s; a command is not kept for later"
                confirmed, problem = None, (logging.WARNING, f"dropped switch command {switch}={value}: {why}")
            except UnsupportedSwitch as exc:
                confirmed, problem = None, (logging.WARNING, f"{switch} {value}: {exc}")
            except Exception as exc:  # LinkError, NoAnswer, a refusal: the BMS keeps its state
                confirmed, problem = None, (logging.ERROR, f"switching {switch} {value} failed: {exc}")
            await asyncio.sleep(max(0.0, started + self.interval - loop.time()))
        burst = ""
        if state.commands > 1:
            burst = (f" ({state.commands} commands in {last_received - state.first:.1f} s, the last one wins; "
                     f"{state.writes} write{'s' if state.writes != 1 else ''})")  # fmt: skip
        state.commands = state.writes = 0
        if problem is None:
            log.info("%s: switched %s %s%s", alias, switch, "ON" if on else "OFF", burst)
        else:
            log.log(problem[0], "%s: %s%s", alias, problem[1], burst)
