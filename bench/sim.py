"""The simulated BMS for bench/run.py, in their own process, logging when each HCI packet enters the socket.

    python bench/sim.py CONFIG.toml WRITES.json [--quiet-hci]

Serves every [[device]] of the config on every adapter it names, each with its slots (like `batmond sim`) and,
until SIGTERM, records for every packet the controller writes to the daemon's HCI socket the monotonic ns and
the stream offset after it, so bench/run.py can tell when the notification a sample came from entered the
transport (with one adapter; the fleet run measures intervals, not latency). ``--quiet-hci`` does for the
simulator what the daemon's Bluetooth adapter does for itself (batmond/transports/bumble_strings.py): bumble's
per-packet debug strings only when bumble logs at DEBUG. The simulator is not the product, but stock it would
spend a fifth of its CPU on them and crowd the daemon at 32 BMS x 10 Hz on 2 cores.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

from batmond.config import load
from batmond.sim import Simulator, adapters_from_config, server_transport, specs_from_config
from batmond.sim.hci_server import HciServer
from batmond.transports.bumble_strings import make_debug_strings_lazy


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
    simulator = Simulator()
    for name, transport, slots in adapters_from_config(config):
        await simulator.add_adapter(name, server_transport(transport), slots=slots)
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
        make_debug_strings_lazy()
    config_path, writes_path = [a for a in sys.argv[1:] if not a.startswith("--")]
    log = asyncio.run(serve(config_path))
    with open(writes_path, "w") as out:
        json.dump(log, out)
