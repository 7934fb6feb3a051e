"""aiobmsble types through a simulated ESPHome proxy, encrypted and plaintext (old firmware): the daemon's
aiobmsble client runs on the proxy's GATT link exactly as on a local adapter, and the recorded values reach the
broker unchanged."""

from __future__ import annotations

import base64
import signal

import pytest
from helpers import DaemonProcess, wait_until

from batmond.sim import SimSpec

from .conftest import NEEDS_EXTRA

pytest.importorskip("aiobmsble", reason=NEEDS_EXTRA)
pytest.importorskip("aioesphomeapi")  # the `esphome` extra

from batmond.sim.esphome_proxy import EsphomeProxySim

from .test_daemon import add_recordings, recordings_published

pytestmark = pytest.mark.e2e
KEY = base64.b64encode(bytes(range(32))).decode()
NATIVE_JBD = "A4:C1:38:00:00:01"


@pytest.mark.parametrize("key", [KEY, None], ids=["encrypted", "plaintext"])
async def test_aiobmsble_types_through_a_proxy_publish_what_they_do_locally(simulator, broker, watcher, tmp_path, key):
    devices = await add_recordings(simulator)
    jbd = await simulator.add(SimSpec(type="jbd", name="native-jbd", address=NATIVE_JBD))
    devices.append((NATIVE_JBD, "jbd_ble", "jbd-through-aiobmsble"))
    proxy = EsphomeProxySim("garage", simulator, encryption_key=key, slots=len(devices))
    await proxy.start()
    lines = ["[mqtt]", 'host = "127.0.0.1"', f"port = {broker.port}", 'client_id = "batmond-test"',
             "[bluetooth]", "connect_timeout = 5.0", "scan_timeout = 10.0",
             "[[bluetooth.proxy]]", 'name = "garage"', 'host = "127.0.0.1"', f"port = {proxy.port}",
             *([f'encryption_key = "{key}"'] if key else []), "[sampling]", "sample_period = 1.0",
             "[state]", f'dir = "{tmp_path / "state"}"']  # fmt: skip
    for address, type_name, alias in devices:
        lines += ["[[device]]", f'address = "{address}"', f'type = "{type_name}"', f'alias = "{alias}"']
    config = tmp_path / "batmon.toml"
    config.write_text("\n".join(lines) + "\n")
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    daemon.start()
    try:
        for key, state in (await recordings_published(watcher, 90)).items():
            assert state["diagnostics"]["adapter"] == "garage", key
        state = await wait_until(lambda: watcher.last_json("batmond/jbd-through-aiobmsble/state"), 60, "jbd_ble")
        assert state["diagnostics"]["adapter"] == "garage"
        assert len(state["cell_voltages"]) == jbd.battery.cells and jbd.writes
    finally:
        daemon.stop(signal.SIGKILL)
        await proxy.stop()
    assert "Traceback" not in daemon.log, daemon.log[-3000:]
    assert KEY not in daemon.log
