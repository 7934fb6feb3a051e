"""What happened, as the harness saw it: every message at the broker with the instant it arrived, and the
daemon's lives (one per process, with its memory samples)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from helpers import Watcher

BASE = "batmond"  # the daemon's default MQTT base topic


class Recorder(Watcher):
    """Every message at the broker with the instant it arrived."""

    def __init__(self, port: int) -> None:
        self.timed: list[tuple[float, str, bytes, bool]] = []
        self.timed_lock = threading.Lock()
        super().__init__(port)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self.timed_lock:
            self.timed.append((time.monotonic(), message.topic, bytes(message.payload), bool(message.retain)))

    def states(self, alias: str) -> list[tuple[float, dict[str, Any]]]:
        topic = f"{BASE}/{alias}/state"
        with self.timed_lock:
            found = [(t, payload) for t, tp, payload, retained in self.timed if tp == topic and not retained]
        return [(t, json.loads(payload)) for t, payload in found]


@dataclass
class Life:
    pid: int
    start: float
    end: float | None = None
    how: str = ""  # "SIGKILL", "exit N", "SIGTERM"
    rss: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, kB)
    durable: dict[str, dict[str, float]] = field(default_factory=dict)  # meters by alias, read after its end


def life_at(lives: list[Life], t: float) -> int:
    index = 0
    for i, life in enumerate(lives):
        if life.start <= t:
            index = i
    return index


def signature(lives: list[Life], t: float, state: dict[str, Any]) -> tuple[int, int, int]:
    diagnostics = state.get("diagnostics", {})
    return life_at(lives, t), int(diagnostics.get("reconnects", -1)), int(diagnostics.get("frames", -1))


def fresh_after(recorder: Recorder, lives: list[Life], alias: str, since: float) -> float | None:
    """When the first state built from data received after ``since`` arrived.

    A state carries the frame and reconnect counters of its reading, and a reading is only built when a
    sample arrived, so a (daemon life, reconnects, frames) never seen before ``since`` is new data; a
    republished old reading (the daemon re-sends the latest after a broker reconnect) is not.
    """
    seen: set[tuple[int, int, int]] = set()
    for t, state in recorder.states(alias):
        key = signature(lives, t, state)
        if t <= since:
            seen.add(key)
        elif key not in seen:
            return t
    return None
