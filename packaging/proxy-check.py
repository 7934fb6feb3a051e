#!/usr/bin/env python3
"""`batmond run` reads a JK BMS through a simulated encrypted ESPHome proxy: the packaging tests' proof that an
installed artefact carries the esphome extra (test-binary.sh for the binary, test-deb.sh for the package).

    python3 packaging/proxy-check.py BATMOND WORK-DIRECTORY

BATMOND is the command to test (a binary, a chroot wrapper, or "batmond"); WORK-DIRECTORY must be seen at the same
path by it. The Python running this needs batmond's simulator (the repository's venv, or /usr/lib/batmond on
PYTHONPATH). Prints one line of figures; exits non-zero with the reason.
"""

import asyncio
import base64
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from batmond.sim import SimSpec, Simulator, address_for
from batmond.sim.esphome_proxy import EsphomeProxySim

KEY = base64.b64encode(bytes(range(32))).decode()
TIMEOUT = 60.0


async def main(binary: str, work: Path) -> str:
    sim = Simulator()
    await sim.start([SimSpec(type="jk", name="pjk", address=address_for("proxy-jk"))])
    proxy = EsphomeProxySim("garage", sim, encryption_key=KEY)
    await proxy.start()
    try:
        config = work / "proxy.toml"
        config.write_text(f'[mqtt]\nenabled = false\n[[bluetooth.proxy]]\nname = "garage"\nhost = "127.0.0.1"\n'
                          f'port = {proxy.port}\nencryption_key = "{KEY}"\n[sampling]\nsample_period = 1.0\n'
                          f'[state]\ndir = "{work / "state"}"\n[[device]]\naddress = "{address_for("proxy-jk")}"\n'
                          'type = "jk"\nalias = "pjk"\n')  # fmt: skip
        started = time.monotonic()
        checked = await asyncio.to_thread(
            subprocess.run, [binary, "check-config", str(config)], capture_output=True, text=True, timeout=60
        )  # the proxy is not asked: nothing to serve meanwhile
        checking = time.monotonic() - started
        if checked.returncode != 0 or "OK" not in checked.stdout:
            raise SystemExit(f"check-config of a proxy: {checked.returncode} {checked.stdout + checked.stderr!r}")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(work / "notify"))
        notify.setblocking(False)
        env = dict(os.environ, NOTIFY_SOCKET=str(work / "notify"), WATCHDOG_USEC="1500000")  # STATUS= every 0.5 s
        log = work / "run.log"
        started, status, online = time.monotonic(), "", None
        with log.open("wb") as out:
            daemon = await asyncio.create_subprocess_exec(binary, "run", "--config", str(config), stdout=out,
                                                          stderr=subprocess.STDOUT, env=env)  # fmt: skip
        try:
            while online is None and time.monotonic() < started + TIMEOUT and daemon.returncode is None:
                with contextlib.suppress(TimeoutError):
                    message = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(notify, 4096), 1)
                    status = next((line[7:] for line in message.decode().splitlines() if line[:7] == "STATUS="),
                                  status)  # fmt: skip
                    online = time.monotonic() - started if status.startswith("1/1 BMS online") else None
        finally:
            if daemon.returncode is None:
                daemon.terminate()
            code = await asyncio.wait_for(daemon.wait(), 15)
        text = log.read_text(errors="replace")
        if online is None:
            raise SystemExit(f"no BMS online through the proxy in {TIMEOUT:g} s (status {status!r}):\n{text[-3000:]}")
        for bad, what in (
            (code != 0, f"exit {code} on SIGTERM"),
            ("Traceback" in text, "a traceback"),
            (" is up (garage" not in text, "no 'proxy is up' line"),
            (KEY in text, "the key logged"),
        ):
            if bad:
                raise SystemExit(f"run through the proxy: {what}:\n{text[-3000:]}")
        return (
            f"esphome: check-config of a proxy {checking:.2f} s; JK BMS online through the encrypted proxy "
            f"{online:.2f} s after the start ({status.split(';')[0]})"
        )
    finally:
        await proxy.stop()
        await sim.stop()


with tempfile.TemporaryDirectory(prefix="batmond-esphome-", dir=sys.argv[2]) as directory:
    print(asyncio.run(main(sys.argv[1], Path(directory))))
