"""The simulated BMS for bench/run.py, in their own process, logging when each HCI packet enters the socket.

    python bench/sim.py CONFIG.toml WRITES.json [--quiet-hci]

Serves every [[device]] of the config (like `batmond sim`) and, until SIGTERM, records for every packet the
controller writes to the daemon's HCI socket the monotonic ns and the stream offset after it, so bench/run.py
can tell when the notification a sample came from entered the transport. ``--quiet-hci`` makes str() of HCI
packets cheap in this process only: bumble formats every packet for a debug line even when debug logging is
off, which would make the simulator, not the daemon, the bottleneck at 32 BMS x 10 Hz.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

from bumble import hci

from batmond.config import load
from batmond.sim import Simulator, server_transport, specs_from_config
from batmond.sim.hci_server import HciServer


def quiet_hci() -> None:
    def cheap(packet) -> str:
        return type(packet).__name__

    for value in vars(hci).values():
        if isinstance(value, type) and issubclass(value, hci.HCI_Packet):
            value.__str__ = cheap


async def serve(config_path: str) -> list[tuple[int, int]]:
    writes: list[tuple[int, int]] = []
    offset = 0
    on_packet = HciServer.on_packet

    def logged(self, packet: bytes) -> None:
        nonlocal offset
        sent, at = self._client is not None and not self._client.is_closing(), time.monotonic_ns()
        on_packet(self, packet)
        if sent:
            offset += len(packet)
            writes.append((at, offset))

    HciServer.on_packet = logged
    config = load(config_path)
    simulator = Simulator(server_transport(config.bluetooth.transport))
    await simulator.start(specs_from_config(config))
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await simulator.stop()
    return writes


if __name__ == "__main__":
    if "--quiet-hci" in sys.argv:
        quiet_hci()
    config_path, writes_path = [a for a in sys.argv[1:] if not a.startswith("--")]
    log = asyncio.run(serve(config_path))
    with open(writes_path, "w") as out:
        json.dump(log, out)
