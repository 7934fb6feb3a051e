"""Decode speed, batmond against aiobmsble, on the same frames. Runs in build/bench-aiobmsble (Python >= 3.12 with
aiobmsble installed for the bench only; bench/run.py makes it); prints JSON.

For each batmond type whose protocol aiobmsble also has, the simulated BMS of that type answers both sides'
requests, each distinct answer built once and then replayed from memory:
- batmond: one poll cycle as in bench/decode.py (poll requests, the answers fed to the codec, ``sample()``,
  ``completed()``);
- aiobmsble: one ``async_update()`` (its requests written to an in-memory client that answers at once from the
  same simulator, its notification handler, decoding and derived values).
Both count whole samples per second; the ratio is batmond's rate over aiobmsble's. A ratio is only given when
both sides decoded the same voltage, current and SoC and used the same frames.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import inspect
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiobmsble.basebms as basebms
from bleak.backends.device import BLEDevice
from bleak.exc import BleakCharacteristicNotFoundError
from bleak.uuids import normalize_uuid_str
from decode import new_bench

from batmond.protocols.base import Request
from batmond.sim.devices import jk as sim_jk

# batmond type -> aiobmsble plugin for the same wire protocol
PAIRS = {"jk": "jikong", "jbd": "jbd", "ant": "ant", "daly2": "daly", "litime": "redodo", "sok": "abc",
         "supervolt": "ej"}  # fmt: skip
# Frames a real BMS sends unasked after some request, which aiobmsble waits for: JK's "ready" after device info.
UNASKED_AFTER = {"jikong": {0x97: sim_jk.WRITE_ACK}}
SECONDS = 0.5


class Characteristic:
    def __init__(self, uuid: str, handle: int, properties: list[str]) -> None:
        self.uuid, self.handle, self.properties = normalize_uuid_str(uuid), handle, properties
        self.descriptors: list = []
        self.description = ""


class Service:
    def __init__(self, uuid: str, characteristics: list[Characteristic]) -> None:
        self.uuid, self.handle, self.characteristics = normalize_uuid_str(uuid), 1, characteristics
        self.description = ""


class Services:
    def __init__(self, services: list[Service]) -> None:
        self.services = services

    def __iter__(self):
        return iter(self.services)

    def get_service(self, uuid: str) -> Service | None:
        return next((s for s in self.services if s.uuid == normalize_uuid_str(uuid)), None)

    def get_characteristic(self, key: int | str) -> Characteristic | None:
        for service in self.services:
            for char in service.characteristics:
                if char.handle == key or (isinstance(key, str) and char.uuid == normalize_uuid_str(key)):
                    return char
        return None


class MemoryClient:
    """Enough of bleak's client for aiobmsble: writes are answered at once by ``answer`` (set per benchmark)."""

    answer: Callable[[bytes], list[bytes]] = staticmethod(lambda data: [])
    unasked: ClassVar[dict[int, bytes]] = {}
    plugin_class: Any = None

    def __init__(self, device: BLEDevice, disconnected_callback=None, services=None, **kwargs) -> None:
        bms = MemoryClient.plugin_class
        rx = bms.uuid_rx()
        try:
            tx = bms.uuid_tx()
        except NotImplementedError:
            tx = None
        both = ["notify", "write", "write-without-response"]
        chars = [Characteristic(rx, 2, both if tx in (None, rx) else ["notify"])]
        if tx not in (None, rx):
            chars.append(Characteristic(tx, 3, ["write", "write-without-response"]))
        self.services = Services([Service(bms.uuid_services()[0], chars)])
        self._connected = False
        self._handlers: list[Callable] = []

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, **kwargs) -> bool:
        self._connected = True
        return True

    async def disconnect(self) -> bool:
        self._connected = False
        return True

    async def start_notify(self, char, callback) -> None:
        self._handlers.append(callback)

    async def stop_notify(self, char) -> None:
        pass

    async def read_gatt_char(self, char, **kwargs) -> bytearray:
        raise BleakCharacteristicNotFoundError(char)

    async def write_gatt_char(self, char, data, response: bool = False) -> None:
        for frame in MemoryClient.answer(bytes(data)):
            await self._notify(frame)
        unasked = MemoryClient.unasked.get(bytes(data)[4] if len(data) > 4 else -1)
        if unasked is not None:
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._notify(unasked)))

    async def _notify(self, frame: bytes) -> None:
        for handler in self._handlers:
            result = handler(None, bytearray(frame))
            if inspect.isawaitable(result):
                await result


async def establish_connection(client_class, device, name, disconnected_callback=None, **kwargs):
    client = MemoryClient(device)
    await client.connect()
    return client


def rate(run: Callable[[], Any], seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(20):
            run()
        count += 20
    return count / elapsed


async def arate(run: Callable[[], Any], seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(20):
            await run()
        count += 20
    return count / elapsed


async def compare(type_name: str, plugin: str) -> dict[str, Any]:
    bench = new_bench(type_name)
    bench.cycle()  # what the connect requests left behind
    requests = bench.codec.poll_requests()
    batmond_frames = [data for request in requests for _, data in bench.answers(request)]
    for request in requests:
        bench.deliver(request)
    ours = bench.codec.sample()
    if ours is None:
        return {"error": "batmond's codec gave no sample"}
    ours = ours.completed()

    module = importlib.import_module(f"aiobmsble.bms.{plugin}_bms")
    their_frames: list[bytes] = []

    def answer(data: bytes) -> list[bytes]:
        frames = [frame for _, frame in bench.answers(Request(data, None))]  # the very bytes batmond gets
        their_frames.extend(frames)
        return frames

    MemoryClient.answer = staticmethod(answer)
    MemoryClient.unasked = UNASKED_AFTER.get(plugin, {})
    MemoryClient.plugin_class = module.BMS
    bms = module.BMS(BLEDevice("C0:FF:EE:00:00:01", "BENCH", {"path": "/bench"}))
    try:
        async with asyncio.timeout(20):
            await bms.async_update()  # connects and initialises; not timed
            their_frames.clear()
            theirs = await bms.async_update()
    except Exception as exc:
        return {"error": f"aiobmsble did not decode the simulator's frames: {type(exc).__name__} {exc}".strip()}
    cycle_frames = list(their_frames)
    agree = all(
        ours_value is not None and abs(ours_value - float(theirs.get(key, float("nan")))) < 0.05
        for key, ours_value in (("voltage", ours.voltage), ("current", ours.current), ("battery_level", ours.soc))
    )
    batmond_rate = rate(bench.cycle, SECONDS)
    aiobmsble_rate = await arate(bms.async_update, SECONDS)
    same_frames = sorted(batmond_frames) == sorted(cycle_frames)
    result = {
        "aiobmsble_plugin": plugin,
        "batmond_samples_per_s": round(batmond_rate),
        "aiobmsble_samples_per_s": round(aiobmsble_rate),
        "frames_per_sample": len(batmond_frames),
        "same_frames": same_frames,
        "same_values": agree,
        "ratio": round(batmond_rate / aiobmsble_rate, 2) if agree and same_frames else None,
    }
    if not agree:
        result["values"] = {
            "batmond": [ours.voltage, ours.current, ours.soc],
            "aiobmsble": [theirs.get("voltage"), theirs.get("current"), theirs.get("battery_level")],
        }
    return result


async def main() -> dict[str, Any]:
    basebms.BleakClient = MemoryClient
    basebms.establish_connection = establish_connection
    return {
        "aiobmsble": importlib.metadata.version("aiobmsble"),
        "python": sys.version.split()[0],
        "by_type": {name: await compare(name, plugin) for name, plugin in PAIRS.items()},
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main()), indent=1))
