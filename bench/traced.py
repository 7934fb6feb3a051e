"""`batmond run` with timestamps on both ends of the daemon, for bench/run.py. Not part of the product.

    python bench/traced.py TRACE.json [--esphome] run --config batmon.toml

Hooks are installed on the classes before the daemon starts, so the daemon itself carries no tracing code:
- HCI bytes entering the daemon: the bumble stream transport's ``data_received`` (monotonic ns), and the byte
  offset in the HCI stream of every packet handed to the host (joined with the simulator's write log, that
  says when the controller side wrote the packet into the socket);
- the notification that answered a poller's request: the poller's ``_answered``, which bumble calls in the
  same call stack as ``data_received``;
- the sample recorded from it, and the MQTT PUBLISH of the state that sample made due: paho's ``publish``
  (handed over) and ``on_publish`` (QoS 0: called once the whole packet was written to the broker's socket);
- every fsync/fdatasync (the journal is the only writer that syncs), and every garbage collection.
With --esphome (bench/proxy.py: the BMS reached through an ESPHome proxy) the bytes entering the daemon are
those of aioesphomeapi's socket: its frame helper (compiled, so not patched) is put behind a protocol that times
``data_received``, and the answer is named by the notification it came in (BMS address, handle, CRC-32 of the
data) instead of an HCI stream offset, to be joined with the simulated proxy's log of the notifications it
wrote. Without --esphome aioesphomeapi is not imported, as in a daemon without proxies: the local rows' RSS is
the daemon's own.
On exit the trace is written as JSON. Each hook costs about a microsecond per call.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import json
import os
import sys
import threading
import time
import zlib
from typing import Any

import paho.mqtt.client as paho
from bumble.host import Host
from bumble.transport.common import StreamPacketSource

from batmond.cli import main
from batmond.hub import Hub
from batmond.poller import Poller
from batmond.sinks.mqtt import MqttSink

now_ns = time.monotonic_ns


class Trace:
    def __init__(self) -> None:
        self.rx_ns = 0  # when the chunk being parsed left the socket
        self.rx_depth = 0
        self.stream_end = 0  # HCI stream offset just after the packet being handled
        self.answers: dict[str, tuple[int, int]] = {}  # alias -> (rx ns, stream offset) of its last answer
        # Through a proxy: the notification being handled (address, handle, CRC-32), and those that answered; the
        # answer's "stream offset" is then its index in notify_keys.
        self.notify: tuple[int, int, int] | None = None
        self.notify_keys: list[tuple[int, int, int]] = []
        # The sample being recorded: alias, rx ns, stream offset, ns when the codec had the answer, ns recorded.
        self.current: tuple[str, int, int, int, int] | None = None
        self.sink_ns = 0  # when the MQTT sink was handed the reading
        # Per state PUBLISH: what current held, then the sink's ns, the ns paho's publish() was called, the mid.
        self.published: list[tuple[str, int, int, int, int, int, int, int]] = []
        self.written: list[tuple[int, int]] = []  # mid, ns
        self.samples: list[int] = []  # ns of every recorded sample
        self.answers_outside_rx = 0  # answers not in data_received's call stack (would be mis-timed)
        self.fsyncs: list[int] = []
        self.gc: list[tuple[int, int, int]] = []  # start ns, duration ns, generation of every collection
        self._gc_start = 0
        self.lock = threading.Lock()

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = now_ns()
        else:
            self.gc.append((self._gc_start, now_ns() - self._gc_start, info["generation"]))

    def dump(self, path: str) -> None:
        data: dict[str, Any] = {
            k: v for k, v in vars(self).items() if k not in ("lock", "current", "_gc_start", "sink_ns", "notify")
        }
        data["answers"] = {}
        with open(path, "w") as out:
            json.dump(data, out)


TRACE = Trace()


class TimedProtocol:
    """In front of aioesphomeapi's frame helper on its transport: times every chunk read from the proxy's socket."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def data_received(self, data: bytes) -> None:
        TRACE.rx_ns = now_ns()
        TRACE.rx_depth += 1
        try:
            self.inner.data_received(data)
        finally:
            TRACE.rx_depth -= 1

    def connection_made(self, transport: Any) -> None:
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


def install_esphome() -> None:
    create_connection = asyncio.BaseEventLoop.create_connection

    async def traced_create_connection(self, protocol_factory, *args, **kwargs):
        transport, protocol = await create_connection(self, protocol_factory, *args, **kwargs)
        if type(protocol).__module__.startswith("aioesphomeapi."):
            transport.set_protocol(TimedProtocol(protocol))  # aioesphomeapi keeps the frame helper it was given
        return transport, protocol

    asyncio.BaseEventLoop.create_connection = traced_create_connection

    from aioesphomeapi.client import APIClient  # the esphome extra

    start_notify = APIClient.bluetooth_gatt_start_notify

    async def traced_start_notify(self, address: int, handle: int, on_bluetooth_gatt_notify, *args, **kwargs):
        def named(handle: int, data: bytearray) -> None:
            TRACE.notify = (address, handle, zlib.crc32(data))
            try:
                on_bluetooth_gatt_notify(handle, data)
            finally:
                TRACE.notify = None

        return await start_notify(self, address, handle, named, *args, **kwargs)

    APIClient.bluetooth_gatt_start_notify = traced_start_notify


def install() -> None:
    data_received = StreamPacketSource.data_received

    def traced_data_received(self, data: bytes) -> None:
        TRACE.rx_ns = now_ns()
        TRACE.rx_depth += 1
        try:
            data_received(self, data)
        finally:
            TRACE.rx_depth -= 1

    StreamPacketSource.data_received = traced_data_received

    on_packet = Host.on_packet

    def traced_on_packet(self, packet: bytes) -> None:
        TRACE.stream_end += len(packet)
        on_packet(self, packet)

    Host.on_packet = traced_on_packet

    answered = Poller._answered

    def traced_answered(self, kinds: list[str]) -> None:
        waiter = self._waiter
        hit = waiter is not None and not waiter.future.done() and waiter.kind in kinds
        answered(self, kinds)
        if hit:
            if TRACE.rx_depth == 0:
                TRACE.answers_outside_rx += 1
            elif TRACE.notify is not None:
                TRACE.notify_keys.append(TRACE.notify)
                TRACE.answers[self.device.alias] = (TRACE.rx_ns, len(TRACE.notify_keys) - 1, now_ns())
            else:
                TRACE.answers[self.device.alias] = (TRACE.rx_ns, TRACE.stream_end, now_ns())

    Poller._answered = traced_answered

    record = Hub.record

    def traced_record(self, device, sample, info, stats) -> None:
        recorded = now_ns()
        TRACE.samples.append(recorded)
        answer = TRACE.answers.pop(device.alias, None)  # None: a streamed frame, sampled on the poller's clock
        TRACE.current = (device.alias, *answer, recorded) if answer else None
        try:
            record(self, device, sample, info, stats)
        finally:
            TRACE.current = None

    Hub.record = traced_record

    publish = paho.Client.publish

    def traced_publish(self, topic: str, payload=None, qos: int = 0, retain: bool = False, properties=None):
        handed = now_ns()
        info = publish(self, topic, payload, qos, retain, properties)
        current = TRACE.current
        if current is not None and topic.endswith(f"/{current[0]}/state"):
            TRACE.published.append((*current, TRACE.sink_ns, handed, info.mid))
        return info

    paho.Client.publish = traced_publish

    sink_publish = MqttSink.publish

    def traced_sink_publish(self, reading) -> None:
        TRACE.sink_ns = now_ns()
        sink_publish(self, reading)

    MqttSink.publish = traced_sink_publish

    start = MqttSink.start

    async def traced_start(self) -> None:
        def on_publish(client, userdata, mid, reason_code=None, properties=None) -> None:
            with TRACE.lock:
                TRACE.written.append((mid, now_ns()))

        self.client.on_publish = on_publish
        await start(self)

    MqttSink.start = traced_start

    gc.callbacks.append(TRACE.on_gc)

    for name in ("fsync", "fdatasync"):
        original = getattr(os, name)

        def counted(fd: int, _original=original) -> None:
            TRACE.fsyncs.append(now_ns())
            _original(fd)

        setattr(os, name, counted)


if __name__ == "__main__":
    trace_path, *argv = sys.argv[1:]
    install()
    if argv[:1] == ["--esphome"]:
        argv = argv[1:]
        install_esphome()
    atexit.register(TRACE.dump, trace_path)
    sys.exit(main(argv))
