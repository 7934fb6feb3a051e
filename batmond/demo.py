"""`batmond demo`: simulated JK and JBD batteries, the real daemon against them, a live table."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

from batmond.config import parse
from batmond.daemon import Daemon
from batmond.sim import Simulator, server_transport, specs_from_config
from batmond.sinks.console import ConsoleTable

# Fixed MACs: meters hang on a device's stable id, so `batmond demo --state-dir DIR` continues them across runs.
DEMO_DEVICES = (
    ("C8:47:8C:E4:54:0D", "jk", "jk-garage"),
    ("C8:47:8C:E4:54:0E", "jk_24s", "jk-shed"),
    ("A4:C1:38:00:12:34", "jbd", "jbd-van"),
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def demo_config(port: int, state_dir: str, broker: str | None) -> str:
    host, _, broker_port = (broker or "").partition(":")
    lines = [
        "[mqtt]",
        f"enabled = {'true' if broker else 'false'}",
        f'host = "{host or "127.0.0.1"}"',
        f"port = {int(broker_port or 1883)}",
        'client_id = "batmond-demo"',
        "[bluetooth]",
        f'transport = "tcp-client:127.0.0.1:{port}"',
        "[sampling]",
        "sample_period = 1.0",
        "[state]",
        f'dir = "{state_dir}"',
    ]
    for address, type_name, alias in DEMO_DEVICES:
        lines += ["[[device]]", f'address = "{address}"', f'type = "{type_name}"', f'alias = "{alias}"']
    return "\n".join(lines) + "\n"


async def run_demo(broker: str | None, duration: float | None, state_dir: str | None) -> int:
    with tempfile.TemporaryDirectory(prefix="batmond-demo-") as scratch:
        directory = state_dir or scratch
        Path(directory).mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
        config = parse(demo_config(free_port(), directory, broker), "<demo>")
        simulator = Simulator(server_transport(config.bluetooth.transport))
        await simulator.start(specs_from_config(config))
        daemon = Daemon(config, [ConsoleTable()])
        if broker:
            from batmond.sinks.mqtt import MqttSink

            daemon.add_sink(MqttSink(config.mqtt, config.sampling, on_command=daemon.command))
            print(f"publishing to MQTT broker {broker} under {config.mqtt.base_topic}/", flush=True)
        try:
            await daemon.run(duration)
        finally:
            await simulator.stop()
    return 0
