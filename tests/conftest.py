from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import Broker, Watcher


@pytest.fixture
def broker(tmp_path: Path):
    server = Broker(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def watcher(broker: Broker):
    client = Watcher(broker.port)
    yield client
    client.close()
