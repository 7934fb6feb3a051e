"""A broker that accepts TCP but never answers CONNECT (a hung broker, a port forward to nothing): said once."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from helpers import Broker, free_port, wait_until

pytestmark = pytest.mark.e2e
TIMED_OUT = "timed out waiting for CONNACK from 127.0.0.1:"


class SilentListener:
    """A real TCP peer on 127.0.0.1 that accepts every connection, reads what comes and never writes a byte."""

    def __init__(self, port: int) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.received: list[bytearray] = []  # per connection, everything the client wrote
        self.closed: list[bool] = []  # per connection: the client closed it
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:  # closed
                return
            with self.lock:
                self.received.append(bytearray())
                self.closed.append(False)
                index = len(self.received) - 1
            threading.Thread(target=self._read, args=(connection, index), daemon=True).start()

    def _read(self, connection: socket.socket, index: int) -> None:
        with connection:
            while chunk := connection.recv(4096):
                with self.lock:
                    self.received[index] += chunk
        with self.lock:
            self.closed[index] = True

    def close(self) -> None:
        self.server.close()


def write_config(path: Path, port: int) -> None:
    path.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nclient_id = "batmond-test"\n'
        f'[state]\ndir = "{path.parent / "state"}"\n[[device]]\naddress = "dummy"\ntype = "dummy"\n'
    )


async def test_a_broker_that_never_answers_connect_is_reported_once_then_retried(tmp_path, daemon, paths):
    port = free_port()
    listener = SilentListener(port)
    write_config(paths["config"], port)
    daemon.start()
    try:
        await wait_until(lambda: TIMED_OUT in daemon.log, 40, "the CONNACK timeout logged")
        # Retried with backoff; the first two attempts were given up on (the daemon closed them) and one line said so.
        await wait_until(lambda: len(listener.closed) >= 3 and all(listener.closed[:2]), 60, "two attempts given up")
        assert daemon.log.count(TIMED_OUT) == 1, daemon.log
        assert all(data[:1] == b"\x10" for data in listener.received)  # each began with a real MQTT CONNECT
    finally:
        listener.close()
    # A real broker on that port: the daemon connects and says so.
    broker = Broker(tmp_path, port=port)
    broker.start()
    try:
        await wait_until(lambda: "connected to MQTT broker 127.0.0.1" in daemon.log, 60, "connected")
    finally:
        broker.stop()
