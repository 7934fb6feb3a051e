"""What every BMS protocol module provides: a pure codec, no I/O.

A codec turns received bytes into frames (``feed``), frames into a :class:`~batmond.sample.Sample`, and
intentions (poll, switch) into request frames. The transport layer writes the requests, waits for the frame
kind each one names, and never looks inside the bytes.
"""

from __future__ import annotations

import functools
import struct
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

from batmond.limits import plausible
from batmond.sample import DeviceInfo, Sample

if TYPE_CHECKING:
    from batmond.config import DeviceConfig


class UnsupportedSwitch(ValueError):
    """The BMS or its protocol cannot switch this."""


@dataclass(frozen=True, slots=True)
class Request:
    """Bytes to write (or ``None``: nothing to write) and the frame kind that answers them.

    ``read`` names a characteristic of :attr:`BleProfile.values` to read instead: its value goes to
    :meth:`Codec.feed_value`, whose kinds answer ``expect`` like frames do.
    """

    data: bytes | None
    expect: str | None
    read: str | None = None


@dataclass(frozen=True, slots=True)
class BleProfile:
    """GATT layout: the service to discover and the characteristics to notify on and to write to."""

    service: str
    notify: str | None = None
    write: str | None = None
    write_with_response: bool = False
    # Names and manufacturer ids in advertisements that suggest this type (used by `batmond scan`).
    name_prefixes: tuple[str, ...] = ()
    # Devices that hold one reading per characteristic (Victron SmartShunt) instead of streaming frames:
    # these are subscribed to, read through Request.read, and their values go to Codec.feed_value.
    values: tuple[str, ...] = ()
    # `snoop`: no known layout; the transport dumps the GATT tree, subscribes to everything and writes the
    # codec's requests to every writable characteristic.
    explore: bool = False


@dataclass(frozen=True, slots=True)
class SerialProfile:
    """Line settings of a wired (RS485/UART) protocol."""

    baudrate: int
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1


@dataclass(slots=True)
class FrameStats:
    frames: int = 0
    bad_checksum: int = 0
    junk_bytes: int = 0
    # Frames that passed their checks but whose length or variant no decoder here knows (a newer firmware):
    # never decoded, never silently dropped either (see Codec.unplaced).
    unplaced: int = 0

    def plus(self, other: FrameStats) -> FrameStats:
        return FrameStats(
            self.frames + other.frames,
            self.bad_checksum + other.bad_checksum,
            self.junk_bytes + other.junk_bytes,
            self.unplaced + other.unplaced,
        )


@dataclass(slots=True)
class StreamFramer:
    """Cuts a byte stream into frames that start with ``header``.

    Survives notifications that split or merge frames and junk between them: it resynchronises on the header,
    and a candidate whose checksum fails is dropped (counted) and the search continues one byte later.
    ``frame_length`` returns the full length once enough bytes are there to know it, ``None`` while it
    needs more, and ``0`` when the bytes at the header cannot be a frame at all; a length above ``max_buffer``
    counts as ``0`` too, which bounds the buffer.
    """

    header: bytes
    frame_length: Callable[[bytes], int | None]
    valid: Callable[[bytes], bool]
    max_buffer: int = 4096
    stats: FrameStats = field(default_factory=FrameStats)
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        while buffer:
            start = buffer.find(self.header)
            if start < 0:
                keep = len(self.header) - 1  # a header may be split across notifications
                self._drop(len(buffer) - keep if len(buffer) > keep else 0)
                break
            self._drop(start)
            length = self.frame_length(bytes(buffer[:16]))
            if length is None:
                break
            # Judged on the length alone, so that what counts as a frame does not depend on how it was cut up.
            if length == 0 or length > self.max_buffer:
                self._drop(1)
                continue
            if len(buffer) < length:
                break
            candidate = bytes(buffer[:length])
            if self.valid(candidate):
                frames.append(candidate)
                self.stats.frames += 1
                del buffer[:length]
            else:
                self.stats.bad_checksum += 1
                del buffer[:1]
        return frames

    def reset(self) -> None:
        """Forget a partial frame (after a timeout or a reconnect), counting it as junk."""
        self._drop(len(self._buffer))

    def _drop(self, count: int) -> None:
        if count > 0:
            self.stats.junk_bytes += count
            del self._buffer[:count]


# How many unplaced frames a codec holds for the poller to report between two feeds, and how many of their
# bytes a report shows: enough to tell a firmware's layout by its header, short enough for one log line.
UNPLACED_KEPT = 4
UNPLACED_SHOWN = 48


def unplaced_report(type_name: str, frame: bytes) -> str:
    """The one line a user can paste into a bug report for a frame batmond cannot place."""
    shown = frame[:UNPLACED_SHOWN].hex(" ") + (" …" if len(frame) > UNPLACED_SHOWN else "")
    return f"cannot place a {len(frame)}-byte {type_name} frame (unknown length or variant; please report it): {shown}"


class Framer(Protocol):
    stats: FrameStats

    def reset(self) -> None: ...


class Codec(ABC):
    """One BMS protocol. Instances hold the decoding state of one connection to one BMS."""

    type_name: ClassVar[str]
    manufacturer: ClassVar[str]
    ble: ClassVar[BleProfile | None] = None
    serial: ClassVar[SerialProfile | None] = None
    # Answered by a link made inside batmond (the `dummy` BMS): no radio, no wire.
    in_process: ClassVar[bool] = False
    writable_switches: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, variant: str | None = None) -> None:
        self.variant = variant
        self.info: DeviceInfo | None = None
        self._unplaced: list[bytes] = []

    def __init_subclass__(cls, **kwargs: object) -> None:
        # Every protocol's sample() passes the physical limits (batmond/limits.py says why): done here so that no
        # protocol, present or future, can forget it. A sample that fails counts as a bad frame.
        super().__init_subclass__(**kwargs)
        decode = cls.__dict__.get("sample")
        if decode is None or getattr(decode, "__isabstractmethod__", False):
            return

        @functools.wraps(decode)
        def sample(self: Codec) -> Sample | None:
            decoded = decode(self)
            if decoded is None:
                return None
            checked = plausible(decoded)
            if checked is None:
                self.stats.bad_checksum += 1
            return checked

        cls.sample = sample  # type: ignore[method-assign]

    @classmethod
    def for_device(cls, device: DeviceConfig) -> Codec:
        """A codec for one configured device; protocols needing per-device options (a bus address) override."""
        return cls()

    @classmethod
    def options_problem(cls, options: str) -> str | None:
        """Why ``options`` (what follows ``:`` in ``type = "name:options"``) is wrong, or ``None`` if fine."""
        return f"{cls.type_name!r} takes no options after ':'"

    # Most codecs cut frames with a framer kept here; its counters are the codec's diagnostics.
    _framer: Framer

    @property
    def stats(self) -> FrameStats:
        return self._framer.stats

    def unplaced(self, frame: bytes) -> None:
        """Count a frame that passed its checks but that no layout here fits, and keep it for the report.

        A codec calls this instead of decoding a guess: the poller logs the first frame of each length once
        (:func:`unplaced_report`), and the count reaches the diagnostics as ``unplaced_frames``.
        """
        self.stats.unplaced += 1
        if len(self._unplaced) < UNPLACED_KEPT:
            self._unplaced.append(frame)

    def take_unplaced(self) -> list[bytes]:
        """The unplaced frames kept since the last call (at most :data:`UNPLACED_KEPT`)."""
        taken, self._unplaced = self._unplaced, []
        return taken

    @abstractmethod
    def feed(self, data: bytes) -> list[str]:
        """Take received bytes; return the kinds of the complete, valid frames they finished."""

    def feed_value(self, characteristic: str, value: bytes) -> list[str]:
        """Take the value of one of :attr:`BleProfile.values` (read or notified); return the kinds it fills."""
        return []

    def connect_requests(self) -> list[Request]:
        """Requests to send once after connecting (device info, start streaming …)."""
        return []

    @abstractmethod
    def poll_requests(self) -> list[Request]:
        """Requests for one sample, sent in order, each waiting for its answer."""

    @abstractmethod
    def sample(self) -> Sample | None:
        """The sample assembled from the frames received for this poll; ``None`` if incomplete."""

    def switch_requests(self, switch: str, on: bool) -> list[Request]:
        raise UnsupportedSwitch(f"{self.type_name} cannot switch {switch!r}")

    @abstractmethod
    def reset(self) -> None:
        """Called after a timeout or reconnect: drop partial frames."""


# Little helpers for the declarative byte layouts in the protocol modules.
def u8(frame: bytes, offset: int) -> int:
    return frame[offset]


def u16le(frame: bytes, offset: int) -> int:
    return struct.unpack_from("<H", frame, offset)[0]


def i16le(frame: bytes, offset: int) -> int:
    return struct.unpack_from("<h", frame, offset)[0]


def u32le(frame: bytes, offset: int) -> int:
    return struct.unpack_from("<I", frame, offset)[0]


def i32le(frame: bytes, offset: int) -> int:
    return struct.unpack_from("<i", frame, offset)[0]


def u16be(frame: bytes, offset: int) -> int:
    return struct.unpack_from(">H", frame, offset)[0]


def i16be(frame: bytes, offset: int) -> int:
    return struct.unpack_from(">h", frame, offset)[0]


def ascii_field(frame: bytes, start: int, end: int) -> str | None:
    text = frame[start:end].split(b"\x00", 1)[0].decode("ascii", "replace").strip()
    return text or None
