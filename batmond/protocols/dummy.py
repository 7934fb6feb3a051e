"""`dummy`: a made-up BMS answered inside batmond, for trying a config, MQTT and Home Assistant without hardware.

Its wire format is JSON lines, so the usual request/answer path (framing, junk, bad frames) is still exercised:
requests ``{"get": "info"}``, ``{"get": "status"}`` and ``{"set": "charge", "on": true}``; answers
``{"info": {...}}`` and ``{"status": {...}}``. The link that answers is batmond/transports/dummy.py.
"""

from __future__ import annotations

import json
import math
from typing import Any

from batmond.protocols.base import Codec, FrameStats, Request, UnsupportedSwitch
from batmond.sample import DeviceInfo, Sample

MAX_LINE = 4096
SWITCHES = ("charge", "discharge", "balance")


def request(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


answer = request  # both directions are one JSON object per line


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"not a number: {value!r}")
    return float(value)


def decode_status(status: dict[str, Any]) -> Sample:
    """A status object to a Sample; raises ValueError/TypeError/KeyError when it is malformed."""
    switches = status.get("switches", {})
    if not isinstance(switches, dict) or not all(isinstance(v, bool) for v in switches.values()):
        raise ValueError("switches must map names to true/false")
    return Sample(
        voltage=_number(status["voltage"]),
        current=_number(status["current"]),
        soc=_number(status["soc"]),
        charge=_number(status["charge"]),
        capacity=_number(status["capacity"]),
        cycles=int(_number(status["cycles"])),
        cell_voltages=tuple(_number(v) for v in status["cells"]),
        temperatures=tuple(_number(t) for t in status["temperatures"]),
        mosfet_temperature=_number(status["mosfet_temperature"]),
        switches={str(name): on for name, on in switches.items()},
    )


class DummyCodec(Codec):
    type_name = "dummy"
    manufacturer = "batmond"
    in_process = True
    writable_switches = frozenset(SWITCHES)

    def __init__(self, variant: str | None = None) -> None:
        super().__init__(variant)
        self._stats = FrameStats()
        self._buffer = bytearray()
        self._status: Sample | None = None

    @property
    def stats(self) -> FrameStats:
        return self._stats

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        kinds: list[str] = []
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            kind = self._line(line)
            if kind is not None:
                kinds.append(kind)
        if len(self._buffer) > MAX_LINE:
            self._stats.junk_bytes += len(self._buffer)
            self._buffer.clear()
        return kinds

    def _line(self, line: bytes) -> str | None:
        start = line.find(b"{")
        if start < 0:
            self._stats.junk_bytes += len(line) + 1
            return None
        self._stats.junk_bytes += start
        try:
            message = json.loads(line[start:])
            if "status" in message:
                self._status = decode_status(message["status"])
                kind = "status"
            elif "info" in message:
                info = message["info"]
                self.info = DeviceInfo(manufacturer="batmond", model=str(info["model"]), serial=str(info["serial"]),
                                       sw_version=str(info["version"]))  # fmt: skip
                kind = "info"
            else:
                raise ValueError("neither status nor info")
        except (ValueError, TypeError, KeyError, AttributeError):
            self._stats.bad_checksum += 1
            return None
        self._stats.frames += 1
        return kind

    def connect_requests(self) -> list[Request]:
        return [Request(request({"get": "info"}), "info")]

    def poll_requests(self) -> list[Request]:
        return [Request(request({"get": "status"}), "status")]

    def sample(self) -> Sample | None:
        status, self._status = self._status, None
        return status

    def switch_requests(self, switch: str, on: bool) -> list[Request]:
        if switch not in SWITCHES:
            raise UnsupportedSwitch(f"the dummy BMS cannot switch {switch!r}")
        return [Request(request({"set": switch, "on": on}), "status")]

    def reset(self) -> None:
        self._stats.junk_bytes += len(self._buffer)
        self._buffer.clear()
        self._status = None
