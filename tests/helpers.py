"""Real parts for tests: a mosquitto broker on 127.0.0.1, an MQTT watcher, the daemon as a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Broker:
    """A mosquitto on 127.0.0.1 that tests can stop and start again on the same port."""

    def __init__(self, directory: Path, extra_config: str = "", port: int | None = None,
                 persistence: Path | None = None) -> None:  # fmt: skip
        """``persistence``: a directory where mosquitto keeps retained messages across its restarts (written at
        a clean stop), as a broker installed from a package does."""
        self.directory = directory
        self.port = port or free_port()
        self.config = directory / "mosquitto.conf"
        if persistence:
            persistence.mkdir(parents=True, exist_ok=True)
        kept = f"persistence true\npersistence_location {persistence}/\n" if persistence else "persistence false\n"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            + (extra_config or "allow_anonymous true\n")
            + kept
            + "log_dest stderr\n"
        )
        self.process: subprocess.Popen | None = None
        self.log = directory / "mosquitto.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            args = [MOSQUITTO, "-c", str(self.config)]
            if os.geteuid() == 0:
                # mosquitto drops to its own user before opening password and key files; stay as we are.
                self.config.write_text(self.config.read_text().replace("user root\n", "") + "user root\n")
            self.process = subprocess.Popen(args, stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


class Watcher:
    """An MQTT subscriber that keeps every message, for assertions on what reached the broker."""

    def __init__(self, port: int, topic: str = "#", ca_file: str | None = None,
                 username: str | None = None, password: str | None = None) -> None:  # fmt: skip
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"watcher-{free_port()}")
        if ca_file:
            self.client.tls_set(ca_certs=ca_file)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def payloads(self, topic: str) -> list[bytes]:
        with self.lock:
            return [payload for t, payload, _ in self.messages if t == topic]

    def last(self, topic: str) -> bytes | None:
        found = self.payloads(topic)
        return found[-1] if found else None

    def last_json(self, topic: str) -> Any:
        payload = self.last(topic)
        return None if payload is None else json.loads(payload)

    def count(self, topic: str) -> int:
        return len(self.payloads(topic))

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish_once(port: int, topic: str, payload: str, retain: bool = False) -> None:
    """Publish one message (QoS 1) from a client of its own, e.g. before anything else is connected."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"publisher-{free_port()}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def retained(port: int, topic: str) -> list[bytes]:
    """What the broker holds retained on ``topic``, as a fresh subscriber sees it. A marker published after the
    subscription is acknowledged arrives after any retained message of that subscription (one ordered stream per
    client), so its arrival ends the wait: no sleeping."""
    found: list[bytes] = []
    marker = f"test/retained-marker/{free_port()}"
    done = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"retained-{free_port()}")

    def on_message(c: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if message.topic == marker:
            done.set()
        elif message.retain:
            found.append(bytes(message.payload))

    client.on_connect = lambda c, u, f, rc, p: c.subscribe([(topic, 1), (marker, 1)])
    client.on_subscribe = lambda c, u, mid, codes, p: c.publish(marker, "end", qos=1)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        if not done.wait(10):
            raise AssertionError(f"no answer from the broker on 127.0.0.1:{port}")
    finally:
        client.disconnect()
        client.loop_stop()
    return found


async def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


class DaemonProcess:
    """`batmond run` as a real process, its log kept for assertions."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log_path = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "batmond", "run", "--config", str(self.config)],
                stdout=log, stderr=log, env=env,
            )  # fmt: skip

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        code = self.process.returncode
        self.process = None
        return code


def write_config(path: Path, sim_port: int, broker_port: int, devices: list[tuple[str, ...]],
                 extra: str = "", sampling: str = "", extra_bluetooth: str = "") -> Path:  # fmt: skip
    lines = [
        "[mqtt]", 'host = "127.0.0.1"', f"port = {broker_port}", 'client_id = "batmond-test"', extra,
        "[bluetooth]", f'transport = "tcp-client:127.0.0.1:{sim_port}"', "connect_timeout = 5.0", extra_bluetooth,
        "[sampling]", sampling or "sample_period = 1.0\nexpire_values_after = 4.0",
        "[state]", f'dir = "{path.parent / "state"}"',
    ]  # fmt: skip
    for address, type_name, alias, *more in devices:  # more: extra lines of the [[device]] entry
        lines += ["[[device]]", f'address = "{address}"', f'type = "{type_name}"', f'alias = "{alias}"', *more]
    path.write_text("\n".join(lines) + "\n")
    return path


def feed_in_pieces(codec: Any, stream: bytes, rng: Any, largest: int) -> list[str]:
    """Feed a byte stream to a codec in random pieces (1..largest bytes), as BLE notifications or serial reads
    cut it; return the frame kinds it completed."""
    kinds: list[str] = []
    position = 0
    while position < len(stream):
        size = rng.randint(1, largest)
        kinds += codec.feed(stream[position : position + size])
        position += size
    return kinds


def start_sim(config: Path, log: Path) -> subprocess.Popen:
    """`batmond sim --config CONFIG` as a process of its own, its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "batmond", "sim", "--config", str(config)], stdout=out, stderr=out
        )
