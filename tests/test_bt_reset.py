"""packaging/libexec/bt-reset against a sysfs tree shaped like a real one (USB dongle, Pi UART controller, USB tty)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from batmond.transports.recovery import PowerCycler

SCRIPT = Path(__file__).resolve().parent.parent / "packaging" / "libexec" / "bt-reset"
USB_DONGLE = "devices/pci0000:00/0000:00:14.0/usb1/1-1"
USB_SERIAL = "devices/pci0000:00/0000:00:14.0/usb1/1-2"
SERDEV = "devices/platform/soc/fe201000.serial/serial0/serial0-0"


def files(root: Path, entries: dict[str, str]) -> None:
    for name, value in entries.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(value)


def link(root: Path, name: str, target: str) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(root / target, (root / name).parent), root / name)


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    usb_device = {"busnum": "1\n", "devnum": "3\n", "idVendor": "0a12\n", "idProduct": "0001\n", "authorized": "1\n"}
    files(root / USB_DONGLE, usb_device)
    files(root / USB_DONGLE / "1-1:1.0", {"bInterfaceClass": "e0\n", "bInterfaceSubClass": "01\n",
                                          "bInterfaceProtocol": "01\n"})  # fmt: skip
    files(root / USB_DONGLE / "1-1:1.0/bluetooth/hci0/rfkill0", {"soft": "1\n"})
    link(root, "class/bluetooth/hci0", f"{USB_DONGLE}/1-1:1.0/bluetooth/hci0")
    link(root, f"{USB_DONGLE}/1-1:1.0/bluetooth/hci0/device", f"{USB_DONGLE}/1-1:1.0")
    link(root, "bus/usb/devices/1-1", USB_DONGLE)

    files(root / USB_SERIAL, {**usb_device, "devnum": "4\n", "idVendor": "0403\n", "idProduct": "6001\n"})
    files(root / USB_SERIAL / "1-2:1.0", {"bInterfaceClass": "ff\n", "bInterfaceSubClass": "ff\n",
                                          "bInterfaceProtocol": "ff\n"})  # fmt: skip
    files(root / USB_SERIAL / "1-2:1.0/ttyUSB0", {"dev": "188:0\n"})
    link(root, "class/tty/ttyUSB0", f"{USB_SERIAL}/1-2:1.0/ttyUSB0")
    link(root, f"{USB_SERIAL}/1-2:1.0/ttyUSB0/device", f"{USB_SERIAL}/1-2:1.0/ttyUSB0")
    link(root, "bus/usb/devices/1-2", USB_SERIAL)

    files(root / "bus/serial/drivers/hci_uart_bcm", {"bind": "", "unbind": ""})
    files(root / SERDEV / "bluetooth/hci1", {"name": "hci1\n"})
    link(root, f"{SERDEV}/driver", "bus/serial/drivers/hci_uart_bcm")
    link(root, "class/bluetooth/hci1", f"{SERDEV}/bluetooth/hci1")
    link(root, f"{SERDEV}/bluetooth/hci1/device", SERDEV)
    return root


def bt_reset(sysfs: Path, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    options = ["--sysfs", str(sysfs), "--dev", str(sysfs.parent / "dev"), "--timeout", "2"]
    options += ["--config", str(config or sysfs.parent / "absent.toml")]
    return subprocess.run([sys.executable, str(SCRIPT), *args, *options], capture_output=True, text=True, timeout=60)


def test_usb_dongle_without_usbfs_node_is_reauthorized_and_unblocked(sysfs: Path) -> None:
    done = bt_reset(sysfs, "reset", "hci-socket:0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "USB re-authorization of 1-1; hci0 unblocked and down"
    assert "cannot open" in done.stderr and f"0 > {sysfs / USB_DONGLE}/authorized" in done.stderr
    assert (sysfs / USB_DONGLE / "authorized").read_text() == "1"
    assert (sysfs / USB_DONGLE / "1-1:1.0/bluetooth/hci0/rfkill0/soft").read_text() == "0"


def test_uart_controller_is_rebound_through_its_serdev_driver(sysfs: Path) -> None:
    done = bt_reset(sysfs, "reset", "hci-socket:1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("hci_uart_bcm unbind/bind of serial0-0")
    driver = sysfs / "bus/serial/drivers/hci_uart_bcm"
    assert (driver / "unbind").read_text() == "serial0-0" and (driver / "bind").read_text() == "serial0-0"


def test_prepare_unblocks_rfkill_only(sysfs: Path) -> None:
    done = bt_reset(sysfs, "prepare", "hci-socket:0")
    assert (done.returncode, done.stdout.strip()) == (0, "hci0 unblocked and down")
    assert (sysfs / USB_DONGLE / "1-1:1.0/bluetooth/hci0/rfkill0/soft").read_text() == "0"
    assert (sysfs / USB_DONGLE / "authorized").read_text() == "1\n"  # untouched


def test_usb_transports_find_the_dongle_by_index_and_by_id(sysfs: Path) -> None:
    for transport in ("usb:0", "usb:0A12:0001"):
        done = bt_reset(sysfs, "reset", transport)
        assert (done.returncode, done.stdout.strip()) == (0, "USB re-authorization of 1-1; nothing to prepare")
    assert bt_reset(sysfs, "reset", "usb:1").returncode == 2
    assert bt_reset(sysfs, "reset", "usb:1234:5678").returncode == 2


def test_serial_transport_from_the_config_resets_the_usb_serial_adapter(sysfs: Path) -> None:
    config = sysfs.parent / "batmon.toml"
    config.write_text('[bluetooth]\ntransport = "serial:/dev/ttyUSB0,1000000"\n')
    done = bt_reset(sysfs, "reset", config=config)
    assert (done.returncode, done.stdout.strip()) == (0, "USB re-authorization of 1-2; nothing to prepare")


def test_exit_statuses_for_missing_and_remote_adapters(sysfs: Path) -> None:
    assert bt_reset(sysfs, "reset", "hci-socket:7").returncode == 2
    assert bt_reset(sysfs, "reset", "tcp-client:127.0.0.1:9100").returncode == 3
    bad = sysfs.parent / "bad.toml"
    bad.write_text("[bluetooth\n")
    assert bt_reset(sysfs, "reset", config=bad).returncode == 1


def test_request_file_is_consumed_and_answered(sysfs: Path) -> None:
    run = sysfs.parent / "run"
    run.mkdir()
    request = run / "bt-reset.request"
    request.write_text("hci-socket:0\n")
    done = bt_reset(sysfs, "request", str(request))
    assert done.returncode == 0, done.stderr
    assert not request.exists()
    assert (run / "bt-reset.result").read_text() == "0 USB re-authorization of 1-1; hci0 unblocked and down\n"

    request.write_text("hci-socket:0; rm -rf /\n")
    assert bt_reset(sysfs, "request", str(request)).returncode == 0
    assert (run / "bt-reset.result").read_text().startswith("1 bad transport in request")
    assert not request.exists()


async def test_two_adapters_asking_at_once_each_get_their_own_power_cycle(sysfs: Path) -> None:
    """The helper takes one request file at a time (batmond-bt-reset.path): two adapters that fail together wait
    for each other instead of overwriting each other's request."""
    run = sysfs.parent / "run"
    run.mkdir()
    request = run / "bt-reset.request"

    async def path_unit() -> None:  # what batmond-bt-reset.path does: run the helper whenever a request exists
        while True:
            if request.exists():
                await asyncio.to_thread(bt_reset, sysfs, "request", str(request))
            await asyncio.sleep(0.05)

    shared = asyncio.Lock()
    house, shed = PowerCycler(str(run), shared), PowerCycler(str(run), shared)
    unit = asyncio.create_task(path_unit())
    try:
        answers = await asyncio.gather(house.power_cycle("hci-socket:0", 20), shed.power_cycle("hci-socket:1", 20))
    finally:
        unit.cancel()
    assert answers == [(0, "USB re-authorization of 1-1; hci0 unblocked and down"),
                       (0, "hci_uart_bcm unbind/bind of serial0-0; hci1 unblocked and down")], answers  # fmt: skip
