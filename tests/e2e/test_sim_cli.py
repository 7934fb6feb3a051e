"""The user's way to try a config without hardware: `batmond sim` in one process, `batmond run` in another."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from helpers import DaemonProcess, free_port, wait_until, write_config

from .conftest import BATTERIES

pytestmark = pytest.mark.e2e


async def test_sim_and_run_on_the_same_config(broker, watcher, paths, tmp_path):
    write_config(paths["config"], free_port(), broker.port, BATTERIES)
    sim_log = (tmp_path / "sim.log").open("wb")
    sim = subprocess.Popen([sys.executable, "-m", "batmond", "sim", "--config", str(paths["config"])],
                           stdout=sim_log, stderr=subprocess.STDOUT)  # fmt: skip
    daemon = DaemonProcess(paths["config"], paths["log"])
    try:
        await wait_until(lambda: b"simulating 3 BMS" in (tmp_path / "sim.log").read_bytes(), 30, "simulator up")
        daemon.start()
        for _, _, alias in BATTERIES:
            state = await wait_until(lambda a=alias: watcher.last_json(f"batmond/{a}/state"), 40, alias)
            assert 40 < state["voltage"] < 60
    finally:
        daemon.stop(signal.SIGTERM)
        sim.send_signal(signal.SIGINT)
        sim.wait(15)
        sim_log.close()
    assert "Traceback" not in (tmp_path / "sim.log").read_text()


def test_sim_refuses_a_transport_it_cannot_serve(tmp_path):
    config = tmp_path / "batmon.toml"
    config.write_text('[bluetooth]\ntransport = "usb:0"\n[[device]]\naddress = "C8:47:8C:E4:54:0D"\ntype = "jk"\n')
    result = subprocess.run([sys.executable, "-m", "batmond", "sim", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert "the simulator needs [bluetooth] transport = 'tcp-client:127.0.0.1:PORT'" in result.stderr
    assert "Traceback" not in result.stderr
