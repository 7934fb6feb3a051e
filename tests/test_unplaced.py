"""Frames batmond cannot place (a firmware's unknown length or variant): counted, logged once, never silent.

The real poller, hub and codec against the simulated Daly D2 firmware, whose answers a "newer firmware" link
precedes with well-formed answers of register counts no layout here knows.
"""

from __future__ import annotations

import asyncio
import logging

from batmond.config import DeviceConfig, SamplingConfig
from batmond.hub import Hub
from batmond.poller import Poller
from batmond.protocols import daly2, modbus
from batmond.protocols.base import UNPLACED_KEPT, UNPLACED_SHOWN, unplaced_report
from batmond.sim.battery import Battery
from batmond.sim.devices.daly2 import SimulatedDaly2
from batmond.transports.base import Link

# Well-formed D2 answers of 5 and 70 registers: no block batmond asks for has these sizes.
SHORT = modbus.read_response(daly2.SLAVE, bytes(range(10)))
LONG = modbus.read_response(daly2.SLAVE, bytes(140))


class NewerFirmwareLink(Link):
    """Answers through the simulated firmware; before each status answer comes one of ``extras`` in turn."""

    def __init__(self, extras: list[bytes]) -> None:
        super().__init__("newer firmware")
        self.sim = SimulatedDaly2("sim", "00:00:00:00:00:01", Battery(cells=4, capacity_ah=100.0, soc=50.0))
        self.extras = extras
        self.sent = 0

    async def write(self, data: bytes) -> None:
        answers = self.sim.answer(data)
        if data == daly2.read(daly2.STATUS_BLOCK):
            answers = [self.extras[self.sent % len(self.extras)], *answers]
            self.sent += 1
        for answer in answers:
            asyncio.get_running_loop().call_soon(self.on_data, answer)


def test_unplaced_frames_are_counted_logged_once_per_length_and_the_known_ones_still_decode(caplog):
    device = DeviceConfig(address="00:00:00:00:00:01", type="daly2", alias="pack")
    hub = Hub((device,))
    link = NewerFirmwareLink([SHORT, SHORT, LONG])

    async def connect() -> Link:
        return link

    async def main() -> None:
        poller = Poller(device, daly2.Daly2Codec, connect, SamplingConfig(sample_period=0.001), hub)
        task = asyncio.ensure_future(poller.run())
        for _ in range(2000):  # bounded: six polls take a few dozen loop turns
            if link.sent >= 6 and hub.state(device).latest is not None:
                break
            await asyncio.sleep(0.001)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await poller.close()

    with caplog.at_level(logging.WARNING, logger="batmond.bms.pack"):
        asyncio.run(main())
    state = hub.state(device)
    assert state.latest is not None and state.latest.cell_voltages  # the known blocks decoded all along
    diagnostics = state.diagnostics()
    assert diagnostics["unplaced_frames"] == link.sent >= 6
    assert diagnostics["bad_frames"] == 0
    lines = [r.getMessage() for r in caplog.records if "cannot place" in r.getMessage()]
    assert lines == [unplaced_report("daly2", SHORT), unplaced_report("daly2", LONG)]
    assert lines[0] == (
        "cannot place a 15-byte daly2 frame (unknown length or variant; please report it): "
        "d2 03 0a 00 01 02 03 04 05 06 07 08 09 " + SHORT[-2:].hex(" ")
    )
    assert lines[1].endswith(LONG[:UNPLACED_SHOWN].hex(" ") + " …")


def test_a_codec_keeps_a_bounded_number_for_the_report_and_counts_them_all():
    codec = daly2.Daly2Codec()
    assert codec.feed(SHORT * (UNPLACED_KEPT + 3)) == []
    assert codec.stats.unplaced == UNPLACED_KEPT + 3
    assert codec.take_unplaced() == [SHORT] * UNPLACED_KEPT
    assert codec.take_unplaced() == []
