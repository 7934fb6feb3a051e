"""Where readings go. A sink knows devices by their config identity only, never by transport or protocol."""

from __future__ import annotations

from abc import ABC, abstractmethod

from batmond.config import DeviceConfig
from batmond.hub import Reading


class Sink(ABC):
    async def start(self) -> None:  # noqa: B027 - most sinks need no start-up
        pass

    async def stop(self) -> None:  # noqa: B027
        pass

    @abstractmethod
    def publish(self, reading: Reading) -> None: ...

    @abstractmethod
    def availability(self, device: DeviceConfig, online: bool) -> None: ...
