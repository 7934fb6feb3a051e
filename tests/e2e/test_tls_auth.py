"""MQTT over TLS with username/password against a real mosquitto configured that way."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import Broker, DaemonProcess, Watcher, free_port, wait_until, write_config

from .conftest import BATTERIES, start_batteries

pytestmark = pytest.mark.e2e
USER, PASSWORD = "batmond", "s3cret-Pa55"


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca_crt),
            "-days", "2", "-subj", "/CN=batmond test CA")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(crt), "-days", "2", "-extfile", str(ext))  # fmt: skip
    return ca_crt, crt, key


async def test_tls_and_password(simulator, tmp_path, paths):
    ca, crt, key = make_certificates(tmp_path)
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwords), USER, PASSWORD], check=True)
    broker = Broker(
        tmp_path,
        extra_config=f"allow_anonymous false\npassword_file {passwords}\ncafile {ca}\ncertfile {crt}\nkeyfile {key}\n",
    )
    broker.start()
    watcher = Watcher(broker.port, ca_file=str(ca), username=USER, password=PASSWORD)
    daemon = DaemonProcess(paths["config"], paths["log"])
    try:
        await start_batteries(simulator, BATTERIES[:1])
        extra = f'tls = true\nca_file = "{ca}"\nusername = "{USER}"\npassword = "{PASSWORD}"'
        write_config(paths["config"], simulator.port, broker.port, BATTERIES[:1], extra=extra)
        daemon.start()
        state = await wait_until(lambda: watcher.last_json("batmond/jk1/state"), 40, "state over TLS")
        assert state["voltage"] > 40
        assert "(TLS)" in daemon.log
        assert PASSWORD not in daemon.log  # secrets never appear in logs
    finally:
        daemon.stop(signal.SIGKILL)
        watcher.close()
        broker.stop()


async def test_wrong_password_is_reported_and_retried(simulator, tmp_path, paths):
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwords), USER, PASSWORD], check=True)
    broker = Broker(tmp_path, extra_config=f"allow_anonymous false\npassword_file {passwords}\n")
    broker.start()
    daemon = DaemonProcess(paths["config"], paths["log"])
    try:
        await start_batteries(simulator, BATTERIES[:1])
        extra = f'username = "{USER}"\npassword = "wrong-one"'
        write_config(paths["config"], simulator.port, broker.port, BATTERIES[:1], extra=extra)
        daemon.start()
        await wait_until(lambda: "refused the connection" in daemon.log, 20, "refusal logged")
        assert "wrong-one" not in daemon.log
        assert daemon.process.poll() is None  # keeps running and retrying
    finally:
        daemon.stop(signal.SIGKILL)
        broker.stop()


async def test_no_secret_reaches_a_debug_log(broker, tmp_path, paths):
    """The audit of issue 20 as a guard: MQTT password, InfluxDB token and a PIN, with every debug line on."""
    influx_port = free_port()  # nothing listens: the writer logs its failures, with their reasons
    paths["config"].write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\nusername = "{USER}"\npassword = "{PASSWORD}"\n'
        f'[influxdb]\nurl = "http://127.0.0.1:{influx_port}"\ntoken = "tok-{PASSWORD}"\norg = "o"\nbucket = "b"\n'
        "flush_interval = 0.5\n"
        f'[state]\ndir = "{tmp_path / "state"}"\n[[device]]\naddress = "dummy"\ntype = "dummy"\npin = "135246"\n'
    )
    result = subprocess.run([sys.executable, "-m", "batmond", "run", "--log-level", "debug", "--duration", "4",
                             "--config", str(paths["config"])], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "connected to MQTT broker" in result.stderr and "not writable" in result.stderr  # both paths were taken
    for secret in (PASSWORD, "135246"):
        assert secret not in result.stderr + result.stdout
