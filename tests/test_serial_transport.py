"""The serial transport through real pyserial on pseudo-terminals: errors, exclusivity, the shared bus, hotplug."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest
import serial
from helpers import wait_until

from batmond.protocols.daly import DalyUartCodec
from batmond.protocols.jk_uart import JkUartCodec
from batmond.sim.serial import PtyPort, SerialSimSpec, new_device
from batmond.transports.base import LinkError
from batmond.transports.serial import AdapterMissing, Hotplug, SerialBus, SerialBuses, SerialPortError, open_port

JK = JkUartCodec.serial
DALY = DalyUartCodec.serial


@pytest.fixture
async def jk_port(tmp_path: Path):
    port = PtyPort(str(tmp_path / "by-id" / "usb-jk-port0"), [new_device(SerialSimSpec("jk_uart", "jk1"))])
    port.plug()
    yield port
    port.unplug()


def test_missing_adapter(tmp_path: Path):
    with pytest.raises(AdapterMissing):
        open_port(str(tmp_path / "nothing"), JK)


@pytest.mark.parametrize("kind", ["file", "directory", "dev_null"])
def test_not_a_serial_device_says_what_to_do(tmp_path: Path, kind: str):
    path = {"file": tmp_path / "file", "directory": tmp_path, "dev_null": Path("/dev/null")}[kind]
    if kind == "file":
        path.write_text("x")
    with pytest.raises(SerialPortError) as caught:
        open_port(str(path), JK)
    message = str(caught.value)
    assert "is not a serial device" in message and "/dev/serial/by-id" in message
    assert "\n" not in message


async def test_exclusive_open(jk_port: PtyPort):
    mine = open_port(jk_port.path, JK)
    try:
        with pytest.raises(SerialPortError) as caught:
            open_port(jk_port.path, JK)
        assert "in use by another program" in str(caught.value)
    finally:
        mine.close()
    other = serial.Serial(jk_port.path, exclusive=True)  # another program holding the port
    try:
        with pytest.raises(SerialPortError, match="in use by another program"):
            open_port(jk_port.path, JK)
    finally:
        other.close()
    open_port(jk_port.path, JK).close()  # free again


def test_permission_denied_names_the_dialout_group():
    master, slave = os.openpty()
    device = os.ttyname(slave)
    try:
        os.chmod(device, 0o600)
        if os.geteuid() != 0:
            os.chmod(device, 0)
            with pytest.raises(SerialPortError) as caught:
                open_port(device, JK)
            message = str(caught.value)
        else:
            message = _open_as_nobody(device)
        assert message.startswith(f"permission denied on {device}: add the user batmond runs as to the 'dialout'")
    finally:
        os.close(master)
        os.close(slave)


def _open_as_nobody(device: str) -> str:
    """Root opens anything: try it from a forked child that dropped to the unprivileged 'nobody'."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        message = "opened"
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            open_port(device, JK).close()
        except (SerialPortError, LinkError) as exc:
            message = str(exc)
        except BaseException as exc:
            message = repr(exc)
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read, "rb") as answer:
        return answer.read().decode()


async def test_request_answer_through_the_bus(jk_port: PtyPort):
    bus = SerialBus(jk_port.path, JK, Hotplug())
    link = await bus.connect("jk1", JkUartCodec())
    codec = JkUartCodec()
    kinds: list[str] = []
    link.on_data = lambda data: kinds.extend(codec.feed(data))
    await link.write(codec.poll_requests()[0].data)
    await wait_until(lambda: kinds, 10, "an answer")
    assert kinds == ["status"]
    assert codec.sample().voltage == pytest.approx(jk_port.devices[0].battery.voltage, abs=0.05)
    await link.close()
    assert bus.port is None  # the last link closed the port


async def test_wrong_baud_rate_gives_one_clear_line(jk_port: PtyPort, caplog):
    caplog.set_level(logging.ERROR, "batmond.serial")
    jk_port.devices[0].garbage = True
    bus = SerialBus(jk_port.path, JK, Hotplug())
    link = await bus.connect("jk1", JkUartCodec())
    request = JkUartCodec().poll_requests()[0].data
    for _ in range(6):
        await link.write(request)
        await wait_until(lambda: link.received > 0, 10, "the noisy answer")
    await link.write(request)
    lines = [r.getMessage() for r in caplog.records if "never a jk_uart frame" in r.getMessage()]
    assert lines == [f"{jk_port.path}: bytes arrive but never a jk_uart frame: the line speed must be 115200 8N1 "
                     "(check the BMS's and adapter's settings) and RS485 A/B may be swapped"]  # fmt: skip
    await link.close()


async def test_silence_is_not_called_a_wrong_baud_rate(jk_port: PtyPort, caplog):
    caplog.set_level(logging.ERROR, "batmond.serial")
    jk_port.devices[0].silent = True
    bus = SerialBus(jk_port.path, JK, Hotplug())
    link = await bus.connect("jk1", JkUartCodec())
    for _ in range(5):
        await link.write(JkUartCodec().poll_requests()[0].data)
    assert not caplog.records
    await link.close()


async def test_two_daly_boards_share_one_port_and_answers_reach_the_asker(tmp_path: Path):
    boards = [new_device(SerialSimSpec("daly_uart", f"daly{n}", board=n, soc=20.0 * n)) for n in (1, 2)]
    port = PtyPort(str(tmp_path / "daly-bus"), boards)
    port.plug()
    bus = SerialBus(port.path, DALY, Hotplug())
    try:
        codecs = [DalyUartCodec(board=n) for n in (1, 2)]
        links = [await bus.connect(f"daly{n}", DalyUartCodec(board=n)) for n in (1, 2)]
        for i in (1, 0):
            kinds: list[str] = []
            links[i].on_data = lambda data, i=i, kinds=kinds: kinds.extend(codecs[i].feed(data))
            async with bus.lock:
                await links[i].write(codecs[i].poll_requests()[0].data)
                await wait_until(lambda kinds=kinds: "soc" in kinds, 10, f"board {i + 1}'s answer")
        assert [codec.sample().soc for codec in codecs] == [20.0, 40.0]
        assert [codec.stats.junk_bytes for codec in codecs] == [0, 0]  # no answer went to the wrong link
        assert [len(d.requests) for d in boards] == [2, 2]  # both boards hear every request on the bus
    finally:
        port.unplug()
        bus.close()


async def test_adapter_missing_at_start_is_waited_for(tmp_path: Path, caplog):
    caplog.set_level(logging.WARNING, "batmond.serial")
    port = PtyPort(str(tmp_path / "by-id" / "usb-late-port0"), [new_device(SerialSimSpec("jk_uart", "jk1"))])
    bus = SerialBus(port.path, JK, Hotplug())
    connecting = asyncio.create_task(bus.connect("jk1 jk_uart", JkUartCodec()))
    await wait_until(lambda: caplog.records, 10, "the waiting line")
    assert not connecting.done()
    assert f"waiting for adapter {port.path} (jk1 jk_uart)" in caplog.records[0].getMessage()
    port.plug()
    link = await asyncio.wait_for(connecting, 10)
    assert link.alive
    await link.close()
    port.unplug()


async def test_unplug_closes_the_links_and_replug_at_the_same_path_reconnects(jk_port: PtyPort):
    buses = SerialBuses()
    bus = buses.bus(jk_port.path, JK)
    runner = asyncio.create_task(buses.run())
    try:
        link = await bus.connect("jk1", JkUartCodec())
        first_device = bus.device_path
        jk_port.unplug()
        await asyncio.wait_for(link.closed.wait(), 10)
        assert "went away" in link.close_reason or "unplugged" in link.close_reason
        with pytest.raises(LinkError):
            await link.write(b"x")
        reconnecting = asyncio.create_task(bus.connect("jk1", JkUartCodec()))
        jk_port.plug()
        link = await asyncio.wait_for(reconnecting, 10)
        codec = JkUartCodec()
        kinds: list[str] = []
        link.on_data = lambda data: kinds.extend(codec.feed(data))
        await link.write(codec.poll_requests()[0].data)
        await wait_until(lambda: kinds == ["status"], 10, "an answer after the replug")
        assert jk_port.plugs == 2 and bus.device_path is not None
        assert first_device.startswith("/dev/pts/")
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_symlink_moved_to_another_device_closes_the_old_port(tmp_path: Path):
    first = PtyPort(str(tmp_path / "adapter"), [new_device(SerialSimSpec("jk_uart", "jk1"))])
    first.plug()
    bus = SerialBus(first.path, JK, Hotplug())
    link = await bus.connect("jk1", JkUartCodec())
    # udev moved the by-id name to a new ttyUSB number while the old one lingers.
    master, slave = os.openpty()
    try:
        os.unlink(first.path)
        os.symlink(os.ttyname(slave), first.path)
        bus.check_present()
        assert not link.alive and "unplugged" in link.close_reason
        assert bus.port is None
    finally:
        os.close(master)
        os.close(slave)
        first.unplug()
