"""Signals to a real `batmond run`: SIGHUP reloads the config (a bad one is refused), a stop during start-up
is clean, and systemd hears RELOADING=1 and READY=1 on a real notify socket."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
from pathlib import Path

import pytest
from helpers import wait_until, write_config

from .conftest import BATTERIES, start_batteries

pytestmark = pytest.mark.e2e


def config_text(state: Path, broker_port: int | None, aliases: list[str]) -> str:
    mqtt = f'[mqtt]\nhost = "127.0.0.1"\nport = {broker_port}\nclient_id = "batmond-test"\n' if broker_port else (
        "[mqtt]\nenabled = false\n")  # fmt: skip
    devices = "".join(f'[[device]]\naddress = "{alias}"\ntype = "dummy"\nalias = "{alias}"\n' for alias in aliases)
    return mqtt + f'[state]\ndir = "{state}"\n' + devices


def meters(watcher, alias: str) -> dict[str, float] | None:
    state = watcher.last_json(f"batmond/{alias}/state")
    return state and state.get("meters")


async def test_sighup_reloads_the_config_and_refuses_a_broken_one(tmp_path, broker, watcher, daemon, paths, notify):
    paths["config"].write_text(config_text(tmp_path / "state", broker.port, ["d1"]))
    daemon.start()
    await wait_until(lambda: "READY=1" in notify(), 30, "READY=1")
    before = await wait_until(lambda: meters(watcher, "d1"), 30, "d1's meters")

    paths["config"].write_text(config_text(tmp_path / "state", broker.port, ["d1", "d2"]))
    daemon.process.send_signal(signal.SIGHUP)
    await wait_until(lambda: watcher.last_json("batmond/d2/state"), 30, "d2, added by the reload")
    assert daemon.process.poll() is None
    assert f"reloading {paths['config']}" in daemon.log
    after = await wait_until(lambda: meters(watcher, "d1"), 30, "d1's meters after the reload")
    for name in ("energy_charge_kwh", "energy_discharge_kwh", "cycles"):
        assert after[name] >= before[name], name  # the journal carried them over the restart
    await wait_until(lambda: notify().count("READY=1") == 2, 30, "READY=1 after the reload")
    assert notify().count("RELOADING=1") == 1 and "STOPPING=1" not in notify()

    paths["config"].write_text("[sampling]\nsample_period = -1\n")
    daemon.process.send_signal(signal.SIGHUP)
    await wait_until(lambda: "reload refused" in daemon.log, 20, "the refusal")
    assert f"{paths['config']}:2: [sampling] sample_period: must be greater than 0" in daemon.log
    watcher.clear()
    await wait_until(lambda: watcher.last_json("batmond/d2/state"), 30, "still publishing the running config")
    assert daemon.stop(signal.SIGTERM) == 0
    assert daemon.log.rstrip().endswith("batmond stopped")
    assert "STOPPING=1" in notify()


async def writer_of(fifo: Path) -> int:
    """Open the FIFO for writing once the daemon has opened it to read its config: it then waits in start-up."""
    for _ in range(300):
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # no reader yet
                raise
        await asyncio.sleep(0.1)
    raise AssertionError("the daemon never opened its config")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_during_start_up_is_clean(tmp_path, daemon, paths, signum):
    os.mkfifo(paths["config"])
    daemon.start()
    fd = await writer_of(paths["config"])
    try:
        daemon.process.send_signal(signum)
        assert daemon.process.wait(15) == 0
    finally:
        os.close(fd)
    assert f"stopped during start-up ({signal.Signals(signum).name})" in daemon.log


async def test_a_sighup_during_start_up_does_not_kill_the_daemon(tmp_path, daemon, paths):
    os.mkfifo(paths["config"])
    daemon.start()
    fd = await writer_of(paths["config"])
    try:
        daemon.process.send_signal(signal.SIGHUP)
        os.set_blocking(fd, True)
        os.write(fd, config_text(tmp_path / "state", None, ["d1"]).encode())
    finally:
        os.close(fd)
    await wait_until(lambda: "batmond running" in daemon.log, 30, "running")
    assert daemon.stop(signal.SIGTERM) == 0


async def test_a_sighup_while_stopping_does_not_start_it_again(tmp_path, daemon, paths):
    paths["config"].write_text(config_text(tmp_path / "state", None, ["d1"]))
    daemon.start()
    await wait_until(lambda: "connected (d1" in daemon.log, 30, "running")
    daemon.process.send_signal(signal.SIGTERM)
    daemon.process.send_signal(signal.SIGHUP)  # both arrive long before the stop has closed the journal
    assert daemon.process.wait(15) == 0
    assert "starting again" not in daemon.log and daemon.log.rstrip().endswith("batmond stopped")


async def test_a_reload_reopens_the_bluetooth_adapter_and_reconnects_the_bms(simulator, broker, watcher, daemon, paths):
    await start_batteries(simulator, BATTERIES[:1])
    write_config(paths["config"], simulator.port, broker.port, BATTERIES[:1])
    daemon.start()
    await wait_until(lambda: daemon.log.count("Bluetooth adapter") == 1 and watcher.last_json("batmond/jk1/state"),
                     40, "jk1 read over the simulated radio")  # fmt: skip
    daemon.process.send_signal(signal.SIGHUP)
    await wait_until(lambda: "starting again" in daemon.log, 30, "the reload's stop")
    watcher.clear()
    state = await wait_until(lambda: watcher.last_json("batmond/jk1/state"), 60, "jk1 read again after the reload")
    assert 40 < state["voltage"] < 60
    assert daemon.log.count("is up (address") == 2  # the adapter was closed and opened again in the same process
    assert "ERROR" not in daemon.log, daemon.log
    assert daemon.stop(signal.SIGTERM) == 0
