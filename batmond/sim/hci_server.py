"""The simulator's end of the daemon's HCI transport: a TCP or unix socket server, one client at a time.

bumble's own tcp-server transport keeps the accepted connection open when it is closed, and a late
``connection_lost`` of an old client can unplug a new one. This server closes everything on ``close()`` and
only forgets the client that actually went away, so "the dongle was pulled" and "the daemon restarted" both
behave as on hardware.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bumble.transport.common import StreamPacketSource

log = logging.getLogger("batmond.sim")


class HciServer:
    def __init__(self, spec: str) -> None:
        scheme, _, address = spec.partition(":")
        if scheme not in ("tcp-server", "unix-server"):
            raise ValueError(f"the simulator serves tcp-server:HOST:PORT or unix-server:PATH, not {spec!r}")
        self.spec = spec
        self._scheme = scheme
        self._address = address
        self._controller = None
        self._server: asyncio.AbstractServer | None = None
        self._client: asyncio.Transport | None = None

    def attach(self, controller) -> None:
        """The controller whose HCI packets go to and come from the client."""
        self._controller = controller

    def on_packet(self, packet: bytes) -> None:  # controller -> daemon
        if self._client is not None and not self._client.is_closing():
            self._client.write(packet)

    @property
    def serving(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._scheme == "tcp-server":
            host, _, port = self._address.rpartition(":")
            self._server = await loop.create_server(lambda: _Client(self), host or "127.0.0.1", int(port))
        else:
            self._server = await loop.create_unix_server(lambda: _Client(self), self._address)

    def drop_client(self) -> None:
        """Cut the daemon off, as a USB unplug would."""
        if self._client is not None:
            self._client.close()

    async def close(self) -> None:
        self.drop_client()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None


class _Client(asyncio.Protocol):
    def __init__(self, server: HciServer) -> None:
        self.server = server
        self.source = StreamPacketSource()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        previous = self.server._client
        if previous is not None:
            previous.close()  # a controller has one host
        self.transport = transport
        self.server._client = transport
        self.source.set_packet_sink(self.server._controller)
        log.debug("HCI client connected")

    def connection_lost(self, exc) -> None:
        if self.server._client is self.transport:
            self.server._client = None

    def data_received(self, data: bytes) -> None:
        self.source.data_received(data)
