"""Command line: run, check-config, sim, demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from batmond import __version__
from batmond.config import DEFAULT_PATH, Config, ConfigError, load

log = logging.getLogger("batmond")
EXIT_CONFIG = 78  # sysexits.h EX_CONFIG; batmond.service has RestartPreventExitStatus=78


def setup_logging(level: str = "info", timestamps: bool | None = None) -> None:
    # journald stamps lines itself; a terminal gets the time.
    if timestamps is None:
        timestamps = sys.stderr.isatty()
    fmt = "%(levelname)s %(name)s: %(message)s"
    if timestamps:
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=getattr(logging, level.upper()), format=fmt, stream=sys.stderr, force=True)
    logging.getLogger("bumble").setLevel(logging.WARNING)


def cmd_check_config(args: argparse.Namespace) -> int:
    from batmond.protocols import codec_for

    config = load(args.file)
    wired = sum(d.is_serial for d in config.devices)
    built_in = sum(not d.is_serial and codec_for(d.type).in_process for d in config.devices)
    radio = len(config.devices) - wired - built_in
    print(f"{args.file}: OK ({len(config.devices)} device(s): {radio} Bluetooth, {wired} wired, {built_in} dummy)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from batmond.daemon import StartupError

    config = load(args.config)
    setup_logging(args.log_level or config.log.level)
    try:
        return asyncio.run(serve(config, args))
    except StartupError as exc:
        log.error("%s", exc)
        return 2


async def serve(config: Config, args: argparse.Namespace) -> int:
    """The daemon, started again with the new config after every SIGHUP that brought a valid one."""
    from batmond.daemon import Daemon

    loop = asyncio.get_running_loop()
    end = None if args.duration is None else loop.time() + args.duration
    while True:
        daemon = Daemon(config)
        if config.mqtt.enabled:
            from batmond.sinks.mqtt import MqttSink

            daemon.add_sink(MqttSink(config.mqtt, config.sampling, on_command=daemon.command))
        if config.influxdb is not None and config.influxdb.enabled:
            from batmond.sinks.influx import InfluxSink

            daemon.add_sink(InfluxSink(config.influxdb))
        await daemon.run(None if end is None else max(0.0, end - loop.time()))
        if daemon.reload_with is None:
            return daemon.exit_code
        config = daemon.reload_with
        setup_logging(args.log_level or config.log.level)


def cmd_sim(args: argparse.Namespace) -> int:
    from batmond.config import DEFAULT_PROXY_CONNECTIONS
    from batmond.sim import Simulator, SimulatorError, adapters_from_config, server_transport, specs_from_config
    from batmond.sim.serial import ports_from_config

    config = load(args.config)
    setup_logging(args.log_level or "info")

    async def main() -> None:
        specs, ports = specs_from_config(config), ports_from_config(config)
        simulator = None
        if specs or not ports:
            simulator = Simulator()
            for name, transport, slots in adapters_from_config(config):
                await simulator.add_adapter(name, server_transport(transport), slots)
            await simulator.start(specs)
            for name, server in simulator.servers.items():
                slots = simulator.adapters[name].slots
                print(f"adapter {name} on {server.spec} ({slots} connection slots)", flush=True)
            for entry in config.bluetooth.proxy:
                proxy = await simulator.add_proxy(entry.name, entry.host, entry.port, entry.encryption_key,
                                                  entry.max_connections or DEFAULT_PROXY_CONNECTIONS)  # fmt: skip
                kind = "encrypted" if entry.encryption_key else "plaintext"
                print(f"ESPHome proxy {proxy.name} on {proxy.host}:{proxy.port} ({kind}, {proxy.slots} connection "
                      "slots)", flush=True)  # fmt: skip
            print(f"simulating {len(simulator.devices)} BMS; Ctrl-C stops", flush=True)
        for port in ports:  # wired BMS: a pseudo-terminal behind a symlink at the configured adapter path
            port.plug()
            names = ", ".join(device.name for device in port.devices)
            print(f"simulating {names} on {port.path} (wired); Ctrl-C stops", flush=True)
        try:
            if args.duration is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(args.duration)
        finally:
            for port in ports:
                port.unplug()
            if simulator is not None:
                await simulator.stop()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())
    except (SimulatorError, OSError, KeyError) as exc:  # a transport it cannot serve, a port in use, a type
        print(f"batmond: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from batmond.demo import run_demo

    setup_logging(args.log_level or "warning")
    try:
        return asyncio.run(run_demo(args.broker, args.duration, args.state_dir))
    except KeyboardInterrupt:
        return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from batmond.decode import DecodeError, decode_to_json

    texts = list(args.hex)
    if args.file:
        with open(args.file, encoding="utf-8") as lines:
            texts += lines.read().splitlines()
    if not texts:
        print("batmond: decode needs HEX arguments or --file", file=sys.stderr)
        return 2
    try:
        print(decode_to_json(args.type, texts))
    except DecodeError as exc:
        print(f"batmond: {exc}", file=sys.stderr)
        return 1
    except KeyError as exc:  # unknown type
        print(f"batmond: {exc.args[0]}", file=sys.stderr)
        return 1
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    from bumble import core

    from batmond.config import check_bluetooth_support
    from batmond.scan import Seen, format_table, scan, scan_proxy
    from batmond.transports.base import LinkError
    from batmond.transports.ble import describe

    setup_logging(args.log_level or "warning")
    proxies: tuple = ()
    if args.transport:
        adapters = [("", args.transport)]
    else:
        bluetooth = load(args.config).bluetooth
        proxies = bluetooth.proxy
        named = bool(bluetooth.adapter or proxies)  # the single transport is "default" beside proxies
        adapters = [(a.name if named else "", a.transport) for a in bluetooth.adapters]
        if not adapters and not proxies:
            print("batmond: the config has no Bluetooth adapter or ESPHome proxy; scan one with --transport",
                  file=sys.stderr)  # fmt: skip
            return 2
    for _, transport in adapters:
        if reason := check_bluetooth_support(transport):
            print(f"batmond: {reason}", file=sys.stderr)
            return 2
    # (name, what a failure names, the scan): a proxy's own failures name it already
    radios = [(name, f"Bluetooth adapter {f'{name} ({t})' if name else t}: ", scan(t, args.seconds, name))
              for name, t in adapters]  # fmt: skip
    radios += [(proxy.name, "", scan_proxy(proxy, args.seconds)) for proxy in proxies]

    async def scan_all() -> list[list[Seen] | BaseException]:
        return await asyncio.gather(*(radio for _, _, radio in radios), return_exceptions=True)

    tables = []
    failed = 0
    for (name, label, _), found in zip(radios, asyncio.run(scan_all()), strict=True):
        if isinstance(found, LinkError | OSError | core.BaseBumbleError):
            print(f"batmond: {label}{describe(found)}", file=sys.stderr)
            failed += 1
        elif isinstance(found, BaseException):
            raise found
        else:
            tables.append(format_table(found, name if len(radios) > 1 else None))
    if tables:
        print("\n\n".join(tables))
    return 3 if failed == len(radios) else 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="batmond",
        description="Battery monitor daemon: reads BMS over Bluetooth LE and RS485, publishes to MQTT "
        "with Home Assistant discovery.",
    )
    top.add_argument("--version", action="version", version=f"batmond {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon", description="Read every configured BMS and publish to MQTT.")
    run.add_argument("--config", default=DEFAULT_PATH, help=f"config file (default {DEFAULT_PATH})")
    run.add_argument("--duration", type=float, help="stop after this many seconds (default: run until stopped)")
    run.add_argument("--log-level", choices=("debug", "info", "warning", "error"), help="override [log] level")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="validate a config file",
                           description="Validate a config file: exit 0, or print one line naming file, line "
                           "and key and exit 78 (EX_CONFIG).")  # fmt: skip
    check.add_argument("file", nargs="?", default=DEFAULT_PATH)
    check.set_defaults(func=cmd_check_config)

    sim = sub.add_parser("sim", help="simulate the BMS of a config file",
                         description="Run simulated BMS for every [[device]] of a config whose Bluetooth "
                         "adapters are tcp-client:127.0.0.1:PORT (or unix:PATH) transports; each "
                         "[[bluetooth.proxy]] on 127.0.0.1 is played as an ESPHome proxy (native API, its key "
                         "and slots); wired BMS appear as pseudo-terminals at their adapter paths (symlinks). "
                         "Then run the daemon on the same config in another terminal.")  # fmt: skip
    sim.add_argument("--config", required=True)
    sim.add_argument("--duration", type=float, help="stop after this many seconds")
    sim.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    sim.set_defaults(func=cmd_sim)

    decode = sub.add_parser("decode", help="decode raw BMS notifications (hex) to JSON",
                            description="Feed raw notification bytes (as hex, e.g. from a snoop log) through a "
                            "protocol's framer and decoder and print the values as JSON. Exit 1 with a one-line "
                            "reason if no frame decodes.")  # fmt: skip
    decode.add_argument("--type", required=True, help="BMS type, as in the config (jk, jbd, …)")
    decode.add_argument("--file", help="a file with one hex notification per line")
    decode.add_argument("hex", nargs="*", help="notifications as hex")
    decode.set_defaults(func=cmd_decode)

    scan = sub.add_parser("scan", help="list nearby BLE devices and the type they look like",
                          description="Scan for Bluetooth LE devices and print address, RSSI, name and the "
                          "batmond type their advertisement suggests, on every adapter and ESPHome proxy of "
                          "the config at once (the first column names the radio).")  # fmt: skip
    scan.add_argument("--seconds", type=float, default=10.0, help="how long to scan (default 10)")
    scan.add_argument("--config", default=DEFAULT_PATH, help="scan the adapters and proxies of this config")
    scan.add_argument("--transport", help="scan this bumble transport only, not the config's radios")
    scan.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    scan.set_defaults(func=cmd_scan)

    demo = sub.add_parser("demo", help="simulated JK and JBD batteries read by the daemon, shown live",
                          description="Start simulated JK and JBD batteries and the daemon against them, and "
                          "print a live table of what it reads. No hardware needed.")  # fmt: skip
    demo.add_argument("--broker", metavar="HOST:PORT", help="also publish to this MQTT broker")
    demo.add_argument("--duration", type=float, help="stop after this many seconds")
    demo.add_argument("--state-dir", help="state directory (default: a temporary one)")
    demo.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    demo.set_defaults(func=cmd_demo)

    from batmond.metercmd import add_parser as add_meters_parser

    add_meters_parser(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"batmond: {exc}", file=sys.stderr)
        # EX_CONFIG from every command: systemd does not restart the daemon in a loop for nothing, and scripts
        # see the same status from check-config as from run.
        return EXIT_CONFIG
