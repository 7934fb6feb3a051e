from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
from helpers import DaemonProcess, free_port

from batmond.sim import SimSpec, Simulator

BATTERIES = [
    ("C8:47:8C:E4:54:0D", "jk", "jk1"),
    ("C8:47:8C:E4:54:0E", "jk_24s", "jk2"),
    ("E4:C1:38:00:12:34", "jbd", "jbd1"),
]


@pytest.fixture
async def simulator():
    port = free_port()
    sim = Simulator(f"tcp-server:127.0.0.1:{port}")
    sim.port = port
    yield sim
    await sim.stop()


async def start_batteries(sim: Simulator, batteries=BATTERIES) -> None:
    await sim.start([SimSpec(type=t, name=alias, address=address) for address, t, alias in batteries])


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    return {"config": tmp_path / "batmon.toml", "log": tmp_path / "daemon.log"}


@pytest.fixture
def daemon(paths):
    """`batmond run` on paths["config"]; killed at the end, and its log must hold no traceback."""
    process = DaemonProcess(paths["config"], paths["log"])
    yield process
    process.stop(signal.SIGKILL)
    assert "Traceback" not in process.log, process.log[-3000:]


@pytest.fixture
def notify(tmp_path, monkeypatch):
    """A real NOTIFY_SOCKET, as systemd gives a Type=notify service: every message the daemon sends."""
    path = tmp_path / "notify"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    messages: list[str] = []

    def received() -> list[str]:
        while True:
            try:
                messages.extend(server.recv(4096).decode().splitlines())
            except BlockingIOError:
                return messages

    yield received
    server.close()
