"""Decode throughput of every codec, on frames the simulators build, with no transport at all.

One poll cycle is what a poller does between two samples: the codec's poll requests, the simulator's answers to
them fed in as whole notifications, then ``sample()`` and ``completed()`` (derived values, as the hub does).
Frames per second counts the frames the codec's framer accepted.

    python bench/decode.py        # prints JSON: {type: {"frames_per_s", "samples_per_s", "frames_per_sample"}}
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from batmond.protocols import codec_types, victron
from batmond.protocols.base import Codec, Request
from batmond.sim.battery import Battery
from batmond.sim.devices import simulator_types
from batmond.sim.serial import serial_simulator_types

SKIPPED = ("dummy", "snoop")  # no wire protocol: the in-process BMS, and the GATT explorer
# Firmware variants a codec finds by itself, benched as rows of their own: row name -> (type, simulator variant).
# jk:24s is the autodetecting codec on a 24-cell board: it tells the layout from each cell frame.
VARIANTS = {"jk_24s": ("jk_24s", "24s"), "jk:24s": ("jk", "24s"), "daly2:p81": ("daly2", "p81")}


@dataclass
class Bench:
    """A codec and a simulated BMS of its type that answers its requests (each answer is built once)."""

    type_name: str
    codec: Codec
    answer: Callable[[Request], list[tuple[str | None, bytes]]]
    cache: dict[tuple[bytes | None, str | None], list[tuple[str | None, bytes]]] = field(default_factory=dict)

    def answers(self, request: Request) -> list[tuple[str | None, bytes]]:
        key = (request.data, request.read)
        if key not in self.cache:
            self.cache[key] = self.answer(request)
        return self.cache[key]

    def deliver(self, request: Request) -> None:
        for characteristic, data in self.answers(request):
            if characteristic is None:
                self.codec.feed(data)
            else:
                self.codec.feed_value(characteristic, data)

    def cycle(self) -> bool:
        """One poll cycle; True if it gave a sample."""
        for request in self.codec.poll_requests():
            self.deliver(request)
        sample = self.codec.sample()
        if sample is None:
            return False
        sample.completed()
        return True


def new_bench(row: str) -> Bench:
    type_name, variant = VARIANTS.get(row, (row, None))
    codec = codec_types()[type_name]()
    battery = Battery(cells=16, seed=7)
    ble, wired = simulator_types(), serial_simulator_types()
    if type_name in ble:
        sim = ble[type_name]("BENCH", "C0:FF:EE:00:00:01", battery, variant)
        sim.streaming = True  # JK: the stream task needs a radio; its frames are the answers to the poll

        def answer(request: Request) -> list[tuple[str | None, bytes]]:
            if request.read is not None:
                return [(request.read, sim.encoded(victron.BY_UUID[request.read.lower()]))]
            return [(None, frame) for frame in sim.answer(request.data)] if request.data else []

    elif type_name in wired:
        sim = wired[type_name]("BENCH", battery)

        def answer(request: Request) -> list[tuple[str | None, bytes]]:
            return [(None, frame) for frame in sim.receive(request.data)] if request.data else []

    else:
        raise KeyError(f"no simulator for {type_name}")
    bench = Bench(row, codec, answer)
    for request in codec.connect_requests():
        bench.deliver(request)
    if variant is not None and not bench.cycle():
        codec.reset()  # as after the poller's timeout: a codec that finds the variant by who answers asks anew
    return bench


def throughput(row: str, seconds: float = 0.4) -> dict[str, float]:
    bench = new_bench(row)
    if not bench.cycle():
        raise RuntimeError(f"{row}: the simulator's answers gave no sample")
    frames_before, samples = bench.codec.stats.frames, 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(50):
            samples += bench.cycle()
        elapsed = time.perf_counter() - started
        if elapsed >= seconds or time.perf_counter() > deadline:
            break
    frames = bench.codec.stats.frames - frames_before  # victron: characteristic values count as frames
    return {
        "frames_per_s": round(frames / elapsed),
        "samples_per_s": round(samples / elapsed),
        "frames_per_sample": round(frames / max(samples, 1), 2),
    }


def bench_types() -> list[str]:
    known = set(simulator_types()) | set(serial_simulator_types())
    names = [name for name in codec_types() if name in known and name not in SKIPPED]
    return names + [row for row in VARIANTS if row not in names]


async def _all(seconds: float) -> dict[str, dict[str, float]]:
    # Some simulators create asyncio primitives; give them a loop, nothing runs on it.
    return {name: throughput(name, seconds) for name in bench_types()}


def all_throughputs(seconds: float = 0.4) -> dict[str, dict[str, float]]:
    return asyncio.run(_all(seconds))


if __name__ == "__main__":
    print(json.dumps(all_throughputs(), indent=1))
