"""`batmond run` with timestamps on both ends of the daemon, for bench/run.py. Not part of the product.

    python bench/traced.py TRACE.json run --config batmon.toml

Hooks are installed on the classes before the daemon starts, so the daemon itself carries no tracing code:
- HCI bytes entering the daemon: the bumble stream transport's ``data_received`` (monotonic ns), and the byte
  offset in the HCI stream of every packet handed to the host (joined with the simulator's write log, that
  says when the controller side wrote the packet into the socket);
- the notification that answered a poller's request: the poller's ``_answered``, which bumble calls in the
  same call stack as ``data_received``;
- the sample recorded from it, and the MQTT PUBLISH of the state that sample made due: paho's ``publish``
  (handed over) and ``on_publish`` (QoS 0: called once the whole packet was written to the broker's socket);
- every fsync/fdatasync (the journal is the only writer that syncs), and every garbage collection.
On exit the trace is written as JSON. Each hook costs about a microsecond per call.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
import threading
import time
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
            k: v for k, v in vars(self).items() if k not in ("lock", "current", "_gc_start", "sink_ns")
        }
        data["answers"] = {}
        with open(path, "w") as out:
            json.dump(data, out)


TRACE = Trace()


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
    atexit.register(TRACE.dump, trace_path)
    sys.exit(main(argv))
