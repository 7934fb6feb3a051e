"""The user's way to try a config without hardware: `batmond sim` in one process, `batmond run` in another."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from helpers import DaemonProcess, free_port, start_sim, wait_until, write_config

from .conftest import BATTERIES

pytestmark = pytest.mark.e2e


async def test_sim_and_run_on_the_same_config(broker, watcher, paths, tmp_path):
    write_config(paths["config"], free_port(), broker.port, BATTERIES)
    sim = start_sim(paths["config"], tmp_path / "sim.log")
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
    assert "Traceback" not in (tmp_path / "sim.log").read_text()


async def test_sim_serves_every_adapter_of_the_config_with_its_slots(broker, watcher, paths, tmp_path):
    """Two adapters of 2 slots and 3 BMS: the simulator refuses a third link on either, so the daemon places them
    over both (or lets one take turns), and all three publish."""
    lines = ["[mqtt]", 'host = "127.0.0.1"', f"port = {broker.port}", "[bluetooth]", "max_connections = 2",
             "connect_timeout = 5.0"]  # fmt: skip
    for name in ("house", "shed"):
        lines += ["[[bluetooth.adapter]]", f'name = "{name}"', f'transport = "tcp-client:127.0.0.1:{free_port()}"']
    lines += ["[sampling]", "sample_period = 1.0", "expire_values_after = 30.0", "[state]", f'dir = "{tmp_path}"']
    for address, type_name, alias in BATTERIES:
        lines += ["[[device]]", f'address = "{address}"', f'type = "{type_name}"', f'alias = "{alias}"']
    paths["config"].write_text("\n".join(lines) + "\n")
    sim = start_sim(paths["config"], tmp_path / "sim.log")
    daemon = DaemonProcess(paths["config"], paths["log"])
    try:
        await wait_until(lambda: b"simulating 3 BMS" in (tmp_path / "sim.log").read_bytes(), 30, "simulator up")
        printed = (tmp_path / "sim.log").read_text()
        assert "adapter house on tcp-server:127.0.0.1:" in printed and "(2 connection slots)" in printed
        daemon.start()
        for _, _, alias in BATTERIES:
            state = await wait_until(lambda a=alias: watcher.last_json(f"batmond/{a}/state"), 40, alias)
            assert state["diagnostics"]["adapter"] in ("house", "shed")
    finally:
        daemon.stop(signal.SIGTERM)
        sim.send_signal(signal.SIGINT)
        sim.wait(15)
    assert "Traceback" not in (tmp_path / "sim.log").read_text() and "Traceback" not in daemon.log


def test_sim_refuses_a_transport_it_cannot_serve(tmp_path):
    config = tmp_path / "batmon.toml"
    config.write_text('[bluetooth]\ntransport = "usb:0"\n[[device]]\naddress = "C8:47:8C:E4:54:0D"\ntype = "jk"\n')
    result = subprocess.run([sys.executable, "-m", "batmond", "sim", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert "the simulator needs [bluetooth] transport = 'tcp-client:127.0.0.1:PORT'" in result.stderr
    assert "Traceback" not in result.stderr
