"""`snoop` and `snoop:jk,jbd,…`: for a BMS batmond does not know yet.

The transport (batmond/transports/snoop.py) dumps the GATT tree, subscribes to everything that notifies and logs
every notification as hex. This codec only supplies the probes: with listed types, each one's start-up and poll
requests, which the transport writes to every writable characteristic. It decodes nothing, so nothing but the
availability is published.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batmond.protocols import base_type, codec_types
from batmond.protocols.base import BleProfile, Codec, FrameStats, Request
from batmond.sample import Sample

if TYPE_CHECKING:
    from batmond.config import DeviceConfig


def _probeable(codec: type[Codec]) -> bool:
    """Bluetooth types whose requests are frames (GATT value devices and snoop itself have none)."""
    return codec.ble is not None and not codec.ble.explore and not codec.ble.values


class SnoopCodec(Codec):
    type_name = "snoop"
    manufacturer = "unknown"
    ble = BleProfile(service="", explore=True)

    def __init__(self, probes: list[Request] | None = None) -> None:
        super().__init__()
        self.probes = probes or []
        self._stats = FrameStats()

    @classmethod
    def probe_types(cls, options: str) -> list[str]:
        return [name.strip() for name in options.split(",") if name.strip()]

    @classmethod
    def options_problem(cls, options: str) -> str | None:
        known = {name for name, codec in codec_types().items() if _probeable(codec)}
        names = cls.probe_types(options)
        if not names:
            return "snoop: list the types to probe after the colon, e.g. 'snoop:jk,jbd', or write just 'snoop'"
        unknown = [name for name in names if name not in known]
        if unknown:
            return f"snoop: cannot probe {', '.join(map(repr, unknown))} (Bluetooth types: {', '.join(sorted(known))})"
        return None

    @classmethod
    def for_device(cls, device: DeviceConfig) -> Codec:
        _, _, options = device.type.partition(":")
        frames: dict[bytes, None] = {}  # in order, each once (a poll often repeats a start-up request)
        for name in cls.probe_types(options):
            codec = codec_types()[base_type(name)].for_device(device)
            frames |= {r.data: None for r in codec.connect_requests() + codec.poll_requests() if r.data}
        return cls([Request(data, None) for data in frames])

    @property
    def stats(self) -> FrameStats:
        return self._stats

    def feed(self, data: bytes) -> list[str]:
        return []

    def connect_requests(self) -> list[Request]:
        return self.probes

    def poll_requests(self) -> list[Request]:
        return []

    def sample(self) -> Sample | None:
        return None

    def reset(self) -> None:
        pass
