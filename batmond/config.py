"""/etc/batmon.toml: load with tomlkit, validate, and report every problem as ``file:line: key: reason``."""

from __future__ import annotations

import base64
import binascii
import difflib
import importlib.util
import re
import socket
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomlkit
import tomlkit.exceptions

from batmond import algorithms
from batmond.aio import KNOWN_PLUGINS, AioUnavailable, aio_type, config_type, installed_plugins
from batmond.groups import GroupConfig
from batmond.protocols import base_type, codec_for, codec_types

DEFAULT_PATH = "/etc/batmon.toml"
MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
MAX_BOARD_ADDRESS = 64  # Daly: the request's host byte is 0x3F + board and stays below 0x80
ALIAS_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOPIC_RE = re.compile(r"^[^#+\s]+$")
BUMBLE_SCHEMES = (
    "hci-socket", "usb", "pyusb", "serial", "tcp-client", "tcp-server", "unix", "unix-client",
    "unix-server", "udp", "ws-client", "ws-server", "pty", "file", "vhci", "android-emulator",
    "android-netsim",
)  # fmt: skip


class ConfigError(Exception):
    """A config problem, formatted for one log line: ``path:line: key: reason``."""

    def __init__(self, path: str, line: int | None, key: str, reason: str) -> None:
        self.path, self.line, self.key, self.reason = path, line, key, reason
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {_one_line(key)}: {_one_line(reason)}" if key else f"{where}: {_one_line(reason)}")


def _one_line(text: str) -> str:
    """Escape what would break or garble a log line: a quoted TOML key or value may hold newlines or ESC."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass(frozen=True, slots=True)
class MqttConfig:
    enabled: bool = True
    host: str = "localhost"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in logs
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    client_id: str | None = None
    base_topic: str = "batmond"
    discovery_prefix: str = "homeassistant"
    discovery: str = "device"  # device | entity | off


# LE links a controller holds at once unless told otherwise: Home Assistant's bluetooth-adapters library assumes 5
# for a local adapter (DEFAULT_CONNECTION_SLOTS); README "How many BMS per adapter" lists measured figures.
DEFAULT_MAX_CONNECTIONS = 5
DEFAULT_ADAPTER_NAME = "default"
ADAPTER_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True, slots=True)
class AdapterConfig:
    """One ``[[bluetooth.adapter]]``: a bumble transport with a short name that ``[[device]]`` entries pin to."""

    name: str
    transport: str
    max_connections: int | None = None  # None: [bluetooth] max_connections


# BLE links an ESPHome proxy holds unless it says otherwise (bluetooth_proxy: connection_slots, ESPHome's default).
DEFAULT_PROXY_CONNECTIONS = 3
ESPHOME_API_PORT = 6053


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """One ``[[bluetooth.proxy]]``: an ESPHome Bluetooth proxy reached over its native API, a radio like an adapter."""

    name: str
    host: str
    port: int = ESPHOME_API_PORT
    # base64 of 32 bytes, ESPHome's `api: encryption: key:`; None: the proxy speaks plaintext (old firmware)
    encryption_key: str | None = field(default=None, repr=False)  # never in logs
    max_connections: int | None = None  # None: what the proxy reports (3 until it does)


@dataclass(frozen=True, slots=True)
class BluetoothConfig:
    transport: str = "hci-socket:0"
    connect_timeout: float = 10.0
    scan_timeout: float = 15.0
    # Where the root helper bt-reset takes power-cycle requests (batmond-bt-reset.path watches it).
    reset_request_dir: str = "/run/batmond"
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    # s between two samples of a BMS taking turns for a slot (at least sample_period): each turn is a whole
    # connect, which costs the radio's airtime and the CPU several polls' worth.
    turn_interval: float = 5.0
    adapter: tuple[AdapterConfig, ...] = ()  # the [[bluetooth.adapter]] entries, read apart from the other keys
    proxy: tuple[ProxyConfig, ...] = ()  # the [[bluetooth.proxy]] entries (ESPHome), read apart too

    @property
    def adapters(self) -> tuple[AdapterConfig, ...]:
        """Every local adapter, each with its slot count; the single ``transport`` when no adapter is listed.

        None when only proxies are configured and ``transport`` is not set (a server without Bluetooth)."""
        if not self.adapter:
            if not self.transport:
                return ()
            return (AdapterConfig(DEFAULT_ADAPTER_NAME, self.transport, self.max_connections),)
        return tuple(
            AdapterConfig(a.name, a.transport, self.max_connections if a.max_connections is None else a.max_connections)
            for a in self.adapter
        )


@dataclass(frozen=True, slots=True)
class SamplingConfig:
    sample_period: float = 1.0
    publish_period: float | None = None  # defaults to sample_period
    expire_values_after: float = 20.0
    keep_alive: bool = True
    concurrent: bool = True

    @property
    def effective_publish_period(self) -> float:
        return self.publish_period if self.publish_period is not None else self.sample_period


@dataclass(frozen=True, slots=True)
class StateConfig:
    dir: str = "/var/lib/batmond"


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str = "info"


@dataclass(frozen=True, slots=True)
class InfluxConfig:
    enabled: bool = True
    url: str = "http://localhost:8086"
    database: str | None = None  # InfluxDB 1.x
    retention_policy: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in logs
    token: str | None = field(default=None, repr=False)  # InfluxDB 2.x/3.x, with org and bucket
    org: str | None = None
    bucket: str | None = None
    measurement: str = "battery"
    batch_size: int = 1000  # points per request
    flush_interval: float = 10.0  # seconds
    max_queue: int = 100000  # points kept while the server is away; the oldest go first
    timeout: float = 10.0
    gzip: bool = True

    @property
    def v2(self) -> bool:
        return self.token is not None or self.org is not None or self.bucket is not None


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    address: str
    type: str
    alias: str = ""
    pin: str | None = field(default=None, repr=False)
    adapter: str | None = None  # the serial port of a wired BMS
    bluetooth_adapter: str | None = None  # pin a Bluetooth BMS to this [[bluetooth.adapter]] name
    current_calibration: float = 1.0
    invert_current: bool = False
    debug: bool = False
    read_only: bool = False  # refuse every switch command for this BMS
    algorithm: str | None = None  # e.g. "soc 90% 80%"
    full_charge_interval: float | None = None  # days between full charges (SoC calibration)
    board_address: int = 1  # wired BMS on a shared bus (several Daly boards on one RS485 adapter)

    @property
    def is_serial(self) -> bool:
        return self.address.lower() == "serial"

    @property
    def is_mac(self) -> bool:
        return bool(MAC_RE.match(self.address))

    @property
    def current_factor(self) -> float:
        return -self.current_calibration if self.invert_current else self.current_calibration

    @property
    def stable_id(self) -> str:
        """What meters and HA unique_ids hang on: the MAC, or the adapter for wired BMS, never the alias."""
        if self.is_mac:
            return self.address.replace(":", "").lower()
        if self.is_serial and self.adapter:
            board = f"_board{self.board_address}" if self.board_address != 1 else ""
            return "serial_" + re.sub(r"[^A-Za-z0-9]+", "_", self.adapter).strip("_").lower() + board
        return "name_" + re.sub(r"[^A-Za-z0-9]+", "_", self.address).strip("_").lower()


@dataclass(frozen=True, slots=True)
class Config:
    path: str
    mqtt: MqttConfig
    bluetooth: BluetoothConfig
    sampling: SamplingConfig
    state: StateConfig
    log: LogConfig
    devices: tuple[DeviceConfig, ...]
    groups: tuple[GroupConfig, ...] = ()
    influxdb: InfluxConfig | None = None  # only when the file has an [influxdb] section


SECTIONS: dict[str, type] = {
    "mqtt": MqttConfig,
    "bluetooth": BluetoothConfig,
    "sampling": SamplingConfig,
    "state": StateConfig,
    "log": LogConfig,
    "influxdb": InfluxConfig,
}


SECRETS = {f.name for kind in (MqttConfig, InfluxConfig, DeviceConfig, ProxyConfig) for f in fields(kind) if not f.repr}
SECRET_RE = re.compile(rf"^\s*[\"']?({'|'.join(sorted(SECRETS))})[\"']?\s*=")


class _Locator:
    """Finds the line of a key in the TOML text (tomlkit keeps no line numbers)."""

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[str, int | None, str | None], int] = {}
        table, index = "", None
        counts: dict[str, int] = {}
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if match := re.match(r"^\[\[\s*([^\]]+?)\s*\]\]", line):
                table = match.group(1)
                index = counts[table] = counts.get(table, -1) + 1
                self.lines[(table, index, None)] = number
            elif match := re.match(r"^\[\s*([^\]]+?)\s*\]", line):
                table, index = match.group(1), None
                self.lines[(table, None, None)] = number
            elif match := re.match(r"^([A-Za-z0-9_\-\"']+)\s*=", line):
                key = match.group(1).strip("\"'")
                self.lines.setdefault((table, index, key), number)

    def line(self, table: str, index: int | None = None, key: str | None = None) -> int | None:
        return self.lines.get((table, index, key)) or self.lines.get((table, index, None))


def _type_name(annotation: str) -> str:
    return {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "tuple[str, ...]": "a list of strings",
    }.get(annotation, annotation)


def _kind_of(plain: Any) -> str:
    """What a TOML value is, for an error about a secret: the value itself is never shown."""
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
                       (list, "an array"), (dict, "a table")):  # fmt: skip
        if isinstance(plain, kind):
            return name
    return "a date or time"


def _convert(value: Any, annotation: str, secret: bool = False) -> Any:
    """Check a TOML value against a dataclass field annotation; return the plain Python value.

    A ``secret`` (a password, token or PIN) is described by its kind in the error, never by its value."""
    plain = value.unwrap() if hasattr(value, "unwrap") else value
    shown = _kind_of(plain) if secret else repr(plain)
    allowed = [part.strip() for part in annotation.split("|")]
    for kind in allowed:
        if kind == "bool" and isinstance(plain, bool):
            return plain
        if kind == "int" and isinstance(plain, int) and not isinstance(plain, bool):
            return plain
        if kind == "float" and isinstance(plain, int | float) and not isinstance(plain, bool):
            if not abs(plain) <= sys.float_info.max:  # nan passes every range check below; a huge int overflows
                raise TypeError(f"must be a finite number, not {shown}")
            return float(plain)
        if kind == "str" and isinstance(plain, str):
            return plain
        if kind == "tuple[str, ...]" and isinstance(plain, list) and all(isinstance(x, str) for x in plain):
            return tuple(plain)
    wanted = " or ".join(_type_name(k) for k in allowed if k != "None")
    raise TypeError(f"must be {wanted}, not {shown}")


def _build(cls: type, table: Any, where: tuple[str, int | None], ctx: _Context) -> Any:
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else f" (known: {', '.join(known)})"
            raise ctx.error(where, key, "unknown key" + suggestion)
        if key == "pin" and isinstance(value, int):
            value = str(value)
        try:
            # Secrets are the fields kept out of repr: one mark for the dataclass and for these messages.
            values[key] = _convert(value, str(known[key].type), secret=not known[key].repr)
        except TypeError as exc:
            raise ctx.error(where, key, str(exc)) from None
    try:
        return cls(**values)
    except TypeError:
        missing = [f.name for f in fields(cls) if f.name not in values and f.default is f.default_factory]
        raise ctx.error(where, missing[0] if missing else "", "required key is missing") from None


@dataclass
class _Context:
    path: str
    locator: _Locator

    def error(self, where: tuple[str, int | None], key: str, reason: str) -> ConfigError:
        table, index = where
        label = f"[[{table}]] #{index + 1}" if index is not None else f"[{table}]"
        name = f"{label} {key}" if key else label
        return ConfigError(self.path, self.locator.line(table, index, key or None), name, reason)


def parse(text: str, path: str = "<config>") -> Config:
    """Parse and validate config text; raise :class:`ConfigError` on the first problem."""
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        lines = text.splitlines()
        secret = SECRET_RE.match(lines[exc.line - 1]) if 0 < exc.line <= len(lines) else None
        if secret:  # tomlkit's message quotes what it read there
            reason = f"TOML syntax error in the value of {secret.group(1)} at col {exc.col} (not shown: it is a secret"
            raise ConfigError(path, exc.line, "", reason + '; write it as a "quoted string")') from None
        raise ConfigError(path, exc.line, "", f"TOML syntax error: {exc}") from None
    except tomlkit.exceptions.TOMLKitError as exc:  # e.g. a key given twice; tomlkit gives no line
        raise ConfigError(path, _duplicate_line(text, str(exc)), "", f"TOML error: {exc}") from None
    ctx = _Context(path, _Locator(text))
    sections: dict[str, Any] = {}
    for key, value in document.items():
        if key in ("device", "group"):
            continue
        if key not in SECTIONS:
            hint = difflib.get_close_matches(key, [*SECTIONS, "device"], n=1)
            suggestion = f" (did you mean [{hint[0]}]?)" if hint else ""
            raise ConfigError(path, ctx.locator.line(key), f"[{key}]", "unknown section" + suggestion)
        if not isinstance(value, dict):
            raise ConfigError(path, ctx.locator.line("", None, key), key, "must be a table like [" + key + "]")
        if key == "bluetooth":
            sections[key] = _build_bluetooth(value, ctx)
            continue
        sections[key] = _build(SECTIONS[key], value, (key, None), ctx)
    raw_devices = document.get("device", [])
    if not isinstance(raw_devices, list) or not all(isinstance(entry, dict) for entry in raw_devices):
        line = ctx.locator.line("", None, "device") or ctx.locator.line("device")
        raise ConfigError(path, line, "device", "must be written as [[device]] entries")
    devices = tuple(_build(DeviceConfig, entry, ("device", i), ctx) for i, entry in enumerate(raw_devices))
    raw_groups = document.get("group", [])
    if not isinstance(raw_groups, list) or not all(isinstance(entry, dict) for entry in raw_groups):
        line = ctx.locator.line("", None, "group") or ctx.locator.line("group")
        raise ConfigError(path, line, "group", "must be written as [[group]] entries")
    groups = tuple(_build(GroupConfig, entry, ("group", i), ctx) for i, entry in enumerate(raw_groups))
    config = Config(
        path=path,
        mqtt=sections.get("mqtt", MqttConfig()),
        bluetooth=sections.get("bluetooth", BluetoothConfig()),
        sampling=sections.get("sampling", SamplingConfig()),
        state=sections.get("state", StateConfig()),
        log=sections.get("log", LogConfig()),
        influxdb=sections.get("influxdb"),
        devices=tuple(_with_alias(d) for d in devices),
        groups=groups,
    )
    _check(config, ctx)
    return config


def _build_bluetooth(table: Any, ctx: _Context) -> BluetoothConfig:
    """[bluetooth] and its [[bluetooth.adapter]] entries; the single ``transport`` and a list do not mix."""
    plain = dict(table)
    raw_adapters = plain.pop("adapter", [])
    if not isinstance(raw_adapters, list) or not all(isinstance(entry, dict) for entry in raw_adapters):
        raise ctx.error(("bluetooth", None), "adapter", "must be written as [[bluetooth.adapter]] entries")
    adapters = tuple(
        _build(AdapterConfig, entry, ("bluetooth.adapter", i), ctx) for i, entry in enumerate(raw_adapters)
    )
    if adapters and "transport" in plain:
        raise ctx.error(("bluetooth", None), "transport", "is set and [[bluetooth.adapter]] entries are listed "
                        "too: give this transport its own [[bluetooth.adapter]] entry with a name")  # fmt: skip
    raw_proxies = plain.pop("proxy", [])
    if not isinstance(raw_proxies, list) or not all(isinstance(entry, dict) for entry in raw_proxies):
        raise ctx.error(("bluetooth", None), "proxy", "must be written as [[bluetooth.proxy]] entries")
    proxies = tuple(_build(ProxyConfig, entry, ("bluetooth.proxy", i), ctx) for i, entry in enumerate(raw_proxies))
    bluetooth = _build(BluetoothConfig, plain, ("bluetooth", None), ctx)
    if proxies and not adapters and "transport" not in plain:
        # Proxies alone: no local adapter at all (set transport, or list adapters, to have one as well).
        bluetooth = replace(bluetooth, transport="")
    return replace(bluetooth, adapter=adapters, proxy=proxies)


def load(path: str | Path) -> Config:
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, None, "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(path, None, "", "is a directory, not a config file") from None
    except PermissionError:
        raise ConfigError(path, None, "", "permission denied (run as root or as the batmond user)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:  # an I/O error, a path through a file: still one line
        raise ConfigError(path, None, "", exc.strerror or str(exc)) from None
    return parse(text, path)


def _duplicate_line(text: str, message: str) -> int | None:
    """The line of the second occurrence of the key tomlkit complains about (it gives no line itself)."""
    key = message.split('"')[1] if message.count('"') >= 2 else None
    seen: set[tuple[str, str]] = set()
    table = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("["):
            table = line
        elif key and re.match(rf"^{re.escape(key)}\s*=", line):
            if (table, key) in seen:
                return number
            seen.add((table, key))
    return None


def _with_alias(device: DeviceConfig) -> DeviceConfig:
    if device.alias:
        return device
    base = device.stable_id if device.is_mac or device.is_serial else device.address
    return replace(device, alias=re.sub(r"[^A-Za-z0-9_-]+", "_", base).strip("_")[:64] or "battery")


def _check_adapters(bt: BluetoothConfig, ctx: _Context) -> None:
    if bt.max_connections < 1:
        raise ctx.error(("bluetooth", None), "max_connections", "must be at least 1")
    names: dict[str, int] = {}
    transports: dict[str, int] = {}
    for i, adapter in enumerate(bt.adapters):
        where = ("bluetooth.adapter", i) if bt.adapter else ("bluetooth", None)
        if bt.adapter and not ADAPTER_NAME_RE.match(adapter.name):
            raise ctx.error(where, "name", "may only contain letters, digits, '_' and '-' (at most 32)")
        if adapter.name in names:
            raise ctx.error(where, "name", f"{adapter.name!r} is already adapter #{names[adapter.name] + 1}")
        names[adapter.name] = i
        scheme = adapter.transport.split(":", 1)[0]
        if scheme not in BUMBLE_SCHEMES:
            raise ctx.error(
                where, "transport",
                f"unknown bumble transport {scheme!r} (e.g. hci-socket:0, usb:0, serial:/dev/ttyAMA0,1000000)",
            )  # fmt: skip
        if adapter.transport in transports:
            raise ctx.error(where, "transport", f"{adapter.transport!r} is already the transport of adapter "
                            f"{bt.adapters[transports[adapter.transport]].name!r}: one adapter, one entry")  # fmt: skip
        transports[adapter.transport] = i
        if adapter.max_connections is not None and adapter.max_connections < 1:  # 0 set in the entry itself
            raise ctx.error(where, "max_connections", "must be at least 1")
    hosts: dict[tuple[str, int], int] = {}
    for i, proxy in enumerate(bt.proxy):
        where = ("bluetooth.proxy", i)
        if not ADAPTER_NAME_RE.match(proxy.name):
            raise ctx.error(where, "name", "may only contain letters, digits, '_' and '-' (at most 32)")
        if proxy.name in names:
            raise ctx.error(where, "name", f"{proxy.name!r} is already the name of adapter #{names[proxy.name] + 1}"
                            if names[proxy.name] >= 0 else f"{proxy.name!r} is already the name of proxy "
                            f"#{-names[proxy.name]}")  # fmt: skip
        names[proxy.name] = -(i + 1)
        if not proxy.host.strip() or any(c.isspace() for c in proxy.host):
            raise ctx.error(where, "host", "must be the proxy's host name or IP address")
        if not 1 <= proxy.port <= 65535:
            raise ctx.error(where, "port", f"must be between 1 and 65535, not {proxy.port}")
        if (proxy.host, proxy.port) in hosts:
            raise ctx.error(where, "host", f"{proxy.host}:{proxy.port} is already proxy "
                            f"{bt.proxy[hosts[proxy.host, proxy.port]].name!r}: one proxy, one entry")  # fmt: skip
        hosts[proxy.host, proxy.port] = i
        if proxy.encryption_key is not None:
            reason = key_problem(proxy.encryption_key)
            if reason:
                raise ctx.error(where, "encryption_key", reason + " (not shown: it is a secret)")
        if proxy.max_connections is not None and proxy.max_connections < 1:
            raise ctx.error(where, "max_connections", "must be at least 1")
    if bt.proxy and importlib.util.find_spec("aioesphomeapi") is None:
        raise ctx.error(("bluetooth.proxy", 0), "", "ESPHome proxies need aioesphomeapi, which is not installed: "
                        "pip install 'batmond[esphome]'")  # fmt: skip


def key_problem(key: str) -> str | None:
    """Why an ESPHome ``api: encryption: key:`` is malformed (it must be base64 of 32 bytes); never quotes it."""
    try:
        raw = base64.b64decode(key.strip(), validate=True)
    except (binascii.Error, ValueError):
        return "is not base64 (copy api: encryption: key: from the proxy's ESPHome YAML)"
    if len(raw) != 32:
        return f"decodes to {len(raw)} bytes, not 32 (copy api: encryption: key: from the proxy's ESPHome YAML)"
    return None


def _check(config: Config, ctx: _Context) -> None:
    mqtt, sampling, bt = config.mqtt, config.sampling, config.bluetooth
    if not 1 <= mqtt.port <= 65535:
        raise ctx.error(("mqtt", None), "port", f"must be between 1 and 65535, not {mqtt.port}")
    if mqtt.discovery not in ("device", "entity", "off"):
        raise ctx.error(("mqtt", None), "discovery", f"must be 'device', 'entity' or 'off', not {mqtt.discovery!r}")
    for key in ("base_topic", "discovery_prefix"):
        if not TOPIC_RE.match(getattr(mqtt, key)) or getattr(mqtt, key).endswith("/"):
            raise ctx.error(("mqtt", None), key, "must be a topic without spaces, '+', '#' or a trailing '/'")
    for key in ("ca_file", "cert_file", "key_file"):
        name = getattr(mqtt, key)
        if name and not Path(name).is_file():
            raise ctx.error(("mqtt", None), key, f"file {name!r} does not exist")
    if (mqtt.cert_file is None) != (mqtt.key_file is None):
        raise ctx.error(("mqtt", None), "cert_file", "cert_file and key_file go together")
    if (mqtt.ca_file or mqtt.cert_file) and not mqtt.tls:
        raise ctx.error(("mqtt", None), "tls", "ca_file/cert_file are set but tls = false")
    if mqtt.password is not None and mqtt.username is None:
        raise ctx.error(("mqtt", None), "username", "password is set but username is missing")

    _check_adapters(bt, ctx)
    for key in ("connect_timeout", "scan_timeout", "turn_interval"):
        if getattr(bt, key) <= 0:
            raise ctx.error(("bluetooth", None), key, "must be greater than 0")

    if sampling.sample_period <= 0:
        raise ctx.error(("sampling", None), "sample_period", "must be greater than 0")
    if sampling.publish_period is not None and sampling.publish_period < sampling.sample_period:
        raise ctx.error(("sampling", None), "publish_period", "must be at least sample_period")
    if sampling.expire_values_after < 2 * sampling.effective_publish_period:
        raise ctx.error(
            ("sampling", None), "expire_values_after",
            f"must be at least twice the publish period ({2 * sampling.effective_publish_period:g} s)",
        )  # fmt: skip
    if config.log.level.lower() not in ("debug", "info", "warning", "error"):
        raise ctx.error(("log", None), "level", "must be debug, info, warning or error")
    if config.influxdb is not None:
        _check_influxdb(config.influxdb, ctx)

    known_types = codec_types()
    aliases: dict[str, int] = {}
    ids: dict[str, int] = {}
    for i, device in enumerate(config.devices):
        where = ("device", i)
        codec = known_types.get(base_type(device.type))
        if codec is None:  # perhaps one of the BMS read through aiobmsble (batmond/aio)
            try:
                codec = aio_type(device.type)
            except AioUnavailable as exc:
                raise ctx.error(where, "type", str(exc)) from None
        if codec is None:
            aio_types = [config_type(plugin, known_types) for plugin in sorted(installed_plugins() or KNOWN_PLUGINS)]
            hint = difflib.get_close_matches(device.type, [*known_types, *aio_types], n=1)
            suggestion = f"did you mean {hint[0]!r}? " if hint else ""
            raise ctx.error(
                where, "type", f"unknown BMS type {device.type!r} ({suggestion}known: {', '.join(known_types)}; "
                f"through aiobmsble: {', '.join(aio_types)})",
            )  # fmt: skip
        if ":" in device.type and (problem := codec.options_problem(device.type.split(":", 1)[1])):
            raise ctx.error(where, "type", problem)
        if ":" in device.address and not device.is_mac:
            raise ctx.error(where, "address", f"bad MAC address {device.address!r} (expected AA:BB:CC:DD:EE:FF)")
        if not device.address.strip():
            raise ctx.error(where, "address", "must be a MAC address, an advertised name or 'serial'")
        if device.is_serial and not device.adapter:
            raise ctx.error(where, "adapter", "address = 'serial' needs adapter = '/dev/serial/by-id/…'")
        if device.is_serial and codec.serial is None:
            raise ctx.error(where, "type", f"{device.type!r} is a Bluetooth protocol; it cannot be read over serial")
        if not device.is_serial and codec.ble is None and not codec.in_process:
            raise ctx.error(where, "address", f"{device.type!r} is a wired protocol: use address = 'serial'")
        if not ALIAS_RE.match(device.alias):
            raise ctx.error(where, "alias", "may only contain letters, digits, '_' and '-' (at most 64)")
        if device.bluetooth_adapter is not None:
            if device.is_serial or codec.in_process:
                raise ctx.error(where, "bluetooth_adapter", "applies to Bluetooth BMS only")
            names = [adapter.name for adapter in config.bluetooth.adapters]
            names += [proxy.name for proxy in config.bluetooth.proxy]
            if device.bluetooth_adapter not in names:
                tables = (
                    "[[bluetooth.adapter]] or [[bluetooth.proxy]]"
                    if config.bluetooth.proxy
                    else "[[bluetooth.adapter]]"
                )
                raise ctx.error(where, "bluetooth_adapter", f"no {tables} is named "
                                f"{device.bluetooth_adapter!r} (configured: {', '.join(names)})")  # fmt: skip
        if not 1 <= device.board_address <= MAX_BOARD_ADDRESS:
            raise ctx.error(where, "board_address", f"must be between 1 and {MAX_BOARD_ADDRESS}")
        if device.board_address != 1 and not device.is_serial:
            raise ctx.error(where, "board_address", "applies to wired BMS only (address = 'serial')")
        mates = [d for d in config.devices[:i] if device.is_serial and d.is_serial and d.adapter == device.adapter]
        if mates and mates[0].type != device.type:
            raise ctx.error(
                where, "type", f"devices on adapter {device.adapter!r} must share one type (one protocol and "
                f"baud rate per bus), not {mates[0].type!r} and {device.type!r}",
            )  # fmt: skip
        if same_board := [d for d in mates if d.board_address == device.board_address]:
            raise ctx.error(
                where, "board_address", f"board {device.board_address} on {device.adapter!r} is already "
                f"device {same_board[0].alias!r}: give each board on the bus its own board_address",
            )  # fmt: skip
        if device.stable_id in ids:
            raise ctx.error(where, "address", f"same device as device #{ids[device.stable_id] + 1}")
        if device.alias in aliases:
            raise ctx.error(
                where, "alias", f"duplicate alias {device.alias!r} (also device #{aliases[device.alias] + 1})"
            )
        if device.current_calibration == 0:
            raise ctx.error(where, "current_calibration", "must not be 0 (use a negative value to flip the sign)")
        if device.pin is not None and not re.fullmatch(r"\d{1,6}", device.pin):
            raise ctx.error(where, "pin", "must be up to 6 digits")
        aliases[device.alias] = i
        ids[device.stable_id] = i
    _check_control(config, ctx)


def _check_algorithm(owner: DeviceConfig | GroupConfig, where: tuple[str, int | None], ctx: _Context,
                     members: tuple[DeviceConfig, ...]) -> None:  # fmt: skip
    if owner.algorithm is None:
        if owner.full_charge_interval is not None:
            raise ctx.error(where, "full_charge_interval", "only means something with an algorithm")
        return
    try:
        algorithms.parse(owner.algorithm, owner.full_charge_interval)
    except algorithms.AlgorithmError as exc:
        raise ctx.error(where, "algorithm", str(exc)) from None
    for member in members:
        if member.read_only:
            raise ctx.error(where, "algorithm", f"{member.alias!r} is read_only: an algorithm cannot switch it")
        if "charge" not in codec_for(member.type).writable_switches:
            raise ctx.error(where, "algorithm", f"batmond cannot switch charging on {member.alias!r} ({member.type})")


def _check_control(config: Config, ctx: _Context) -> None:
    """Charge algorithms and battery groups, once every device is known to be valid."""
    by_alias = {device.alias: device for device in config.devices}
    for i, device in enumerate(config.devices):
        _check_algorithm(device, ("device", i), ctx, (device,))
    names: set[str] = set()
    for i, group in enumerate(config.groups):
        where = ("group", i)
        if not ALIAS_RE.match(group.name):
            raise ctx.error(where, "name", "may only contain letters, digits, '_' and '-' (at most 64)")
        if group.name in by_alias or group.name in names:
            raise ctx.error(where, "name", f"{group.name!r} is already the alias of a device or another group")
        names.add(group.name)
        if not group.members:
            raise ctx.error(where, "members", "a group needs at least one member")
        for member in group.members:
            if member not in by_alias:
                raise ctx.error(where, "members", f"no [[device]] has alias {member!r}")
        if len(set(group.members)) != len(group.members):
            raise ctx.error(where, "members", "lists a device twice")
        _check_algorithm(group, where, ctx, tuple(by_alias[m] for m in group.members))


def _check_influxdb(influx: InfluxConfig, ctx: _Context) -> None:
    where = ("influxdb", None)
    try:
        url = urlsplit(influx.url)
        url.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:  # that, or a broken IPv6 address ("http://[")
        url = urlsplit("")
    if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
        raise ctx.error(where, "url", "must look like http://host:8086 or https://host/prefix")
    if url.username is not None:
        raise ctx.error(where, "url", "put credentials in username/password (1.x) or token (2.x), not in the URL")
    if influx.v2:
        for key in ("token", "org", "bucket"):
            if not getattr(influx, key):
                raise ctx.error(where, key, "InfluxDB 2 needs token, org and bucket together")
        for key in ("database", "retention_policy", "username", "password"):
            if getattr(influx, key) is not None:
                raise ctx.error(where, key, "is an InfluxDB 1 setting; InfluxDB 2 uses token, org and bucket")
    elif not influx.database:
        raise ctx.error(where, "database", "InfluxDB 1 needs database (InfluxDB 2: token, org and bucket instead)")
    if influx.password is not None and influx.username is None:
        raise ctx.error(where, "username", "password is set but username is missing")
    if not influx.measurement.strip() or influx.measurement.startswith("#"):
        raise ctx.error(where, "measurement", "must be a name (not empty, not starting with '#')")
    if influx.batch_size < 1:
        raise ctx.error(where, "batch_size", "must be at least 1")
    if influx.max_queue < influx.batch_size:
        raise ctx.error(where, "max_queue", f"must be at least batch_size ({influx.batch_size})")
    for key in ("flush_interval", "timeout"):
        if getattr(influx, key) <= 0:
            raise ctx.error(where, key, "must be greater than 0")


def check_bluetooth_support(transport: str) -> str | None:
    """A one-line reason when this Python cannot open the configured HCI transport, else ``None``."""
    if transport.startswith("hci-socket") and not hasattr(socket, "AF_BLUETOOTH"):
        return (
            "transport hci-socket needs a Python built with Bluetooth sockets (socket.AF_BLUETOOTH); "
            "this one lacks them: use Debian's /usr/bin/python3 (the batmond package does) or a usb:/serial: transport"
        )
    return None
