"""The simulated BMS for bench/run.py, in their own process, logging when each HCI packet enters the socket.

    python bench/sim.py CONFIG.toml WRITES.json [--quiet-hci] [--proxy-slots N]

Serves every [[device]] of the config on every adapter it names, each with its slots (like `batmond sim`) and,
until SIGTERM, records for every packet the controller writes to the daemon's HCI socket the monotonic ns and
the stream offset after it, so bench/run.py can tell when the notification a sample came from entered the
transport (with one adapter; the fleet run measures intervals, not latency). ``--quiet-hci`` does for the
simulator what the daemon's Bluetooth adapter does for itself (batmond/transports/bumble_strings.py): bumble's
per-packet debug strings only when bumble logs at DEBUG. The simulator is not the product, but stock it would
spend a fifth of its CPU on them and crowd the daemon at 32 BMS x 10 Hz on 2 cores.

With [[bluetooth.proxy]] entries (bench/proxy.py) every proxy is an ESPHome proxy (batmond/sim/esphome_proxy.py) on
its port, with its key and ``--proxy-slots`` BLE slots, and the log is of the GATT notifications it writes to its
API client instead: monotonic ns, BMS address, handle and CRC-32 of the data, per notification (the frames are
encrypted with Noise, so the daemon's side names a notification by its content, not by a stream offset).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import zlib

from batmond.config import load
from batmond.sim import Simulator, adapters_from_config, server_transport, specs_from_config
from batmond.sim.hci_server import HciServer
from batmond.transports.bumble_strings import make_debug_strings_lazy


def log_proxy_notifications(writes: list[tuple[int, int, int, int]]) -> None:
    from batmond.sim.esphome_proxy import EsphomeProxySim, pb  # the esphome extra: only for proxies

    to_owner = EsphomeProxySim._to_owner

    def logged(self, *messages) -> None:
        if self._owner is not None:
            at = time.monotonic_ns()
            for message in messages:
                if isinstance(message, pb.BluetoothGATTNotifyDataResponse):
                    writes.append((at, message.address, message.handle, zlib.crc32(message.data)))
        to_owner(self, *messages)

    EsphomeProxySim._to_owner = logged


async def serve(config_path: str, proxy_slots: int) -> list[tuple[int, ...]]:
    config = load(config_path)
    writes: list = []
    if config.bluetooth.proxy:
        log_proxy_notifications(writes)
    offset = 0
    on_packet = HciServer.on_packet

    def logged(self, packet: bytes) -> None:
        nonlocal offset
        sent, at = self._client is not None and not self._client.is_closing(), time.monotonic_ns()
        on_packet(self, packet)
        if sent:
            offset += len(packet)
            writes.append((at, offset))

    if not config.bluetooth.proxy:
        HciServer.on_packet = logged
    simulator = Simulator()
    for name, transport, slots in adapters_from_config(config):
        await simulator.add_adapter(name, server_transport(transport), slots=slots)
    await simulator.start(specs_from_config(config))
    if config.bluetooth.proxy:
        from batmond.sim.esphome_proxy import EsphomeProxySim
    proxies = [EsphomeProxySim(proxy.name, simulator, port=proxy.port, encryption_key=proxy.encryption_key,
                               slots=proxy_slots) for proxy in config.bluetooth.proxy]  # fmt: skip
    for proxy in proxies:
        await proxy.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for proxy in proxies:
        await proxy.stop()
    await simulator.stop()
    return writes


if __name__ == "__main__":
    if "--quiet-hci" in sys.argv:
        make_debug_strings_lazy()
    args = sys.argv[1:]
    slots = int(args.pop(args.index("--proxy-slots") + 1)) if "--proxy-slots" in args else 3
    config_path, writes_path = [a for a in args if not a.startswith("--")]
    log = asyncio.run(serve(config_path, slots))
    with open(writes_path, "w") as out:
        json.dump(log, out)
