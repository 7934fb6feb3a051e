"""MQTT sink: paho-mqtt 2.x on its own network thread, Home Assistant discovery, availability.

paho callbacks run on paho's thread and only hand work to the asyncio loop. Telemetry is QoS 0 and is
dropped (never queued) while the broker is away; discovery, availability and the daemon status are QoS 1
retained. After every (re)connect and whenever HA announces itself online, discovery is re-announced and the
latest states are re-sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import socket
import ssl
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from batmond.config import DeviceConfig, MqttConfig, SamplingConfig
from batmond.hub import Reading
from batmond.sinks import Sink
from batmond.sinks.hass import Topics, device_discovery, device_id, entity_discovery

log = logging.getLogger("batmond.mqtt")
paho_log = logging.getLogger("batmond.mqtt.paho")
# paho 2.2 logs an ERROR each time its network loop finds no socket (while reconnecting, and at a clean stop);
# the sink reports the connection state itself, once per change.
paho_log.addFilter(lambda record: not record.getMessage().startswith("Client is not connected"))
MAX_QUEUED = 1000  # QoS 1 messages kept while disconnected; beyond that they are dropped, not hoarded


def default_client_id() -> str:
    return "batmond-" + re.sub(r"[^A-Za-z0-9_-]+", "-", socket.gethostname())


class MqttSink(Sink):
    def __init__(
        self,
        config: MqttConfig,
        sampling: SamplingConfig,
        on_command: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.config = config
        client_id = config.client_id or default_client_id()
        instance = re.sub(r"[^A-Za-z0-9_-]+", "_", client_id)
        self.topics = Topics(config.base_topic, config.discovery_prefix, instance)
        self.expire_after = max(sampling.expire_values_after, 3 * sampling.effective_publish_period)
        self.on_command = on_command
        self.connected = False
        self._reported_unreachable = False
        self._refusal = ""
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._latest: dict[str, Reading] = {}
        self._online: dict[str, bool] = {}
        self._announced: dict[str, dict[str, str]] = {}  # device id -> {component key: platform}
        self._entity_topics: dict[str, set[str]] = {}
        self._signatures: dict[str, tuple] = {}
        self._reannounce: asyncio.TimerHandle | None = None
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
        self.client.enable_logger(paho_log)
        self.client.will_set(self.topics.daemon_status, "offline", qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.max_queued_messages_set(MAX_QUEUED)
        if config.username is not None:
            self.client.username_pw_set(config.username, config.password)
        if config.tls:
            self.client.tls_set(
                ca_certs=config.ca_file,
                certfile=config.cert_file,
                keyfile=config.key_file,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    @property
    def command_filter(self) -> str:
        return f"{self.topics.base}/+/switch/+/set"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        log.info("connecting to MQTT broker %s:%d%s as %s", self.config.host, self.config.port,
                 " (TLS)" if self.config.tls else "", self.client._client_id.decode())  # fmt: skip
        self.client.connect_async(self.config.host, self.config.port, keepalive=30)
        self.client.loop_start()

    async def stop(self) -> None:
        self._stopping = True
        if self.connected:
            info = self.client.publish(self.topics.daemon_status, "offline", qos=1, retain=True)
            for device_alias in self._online:
                self.client.publish(self.topics.availability(device_alias), "offline", qos=1, retain=True)
            await asyncio.to_thread(_wait, info, 2.0)
        self.client.disconnect()
        self.client.loop_stop()

    # -- paho thread -----------------------------------------------------------------------------------
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._call(self._refused, str(reason))
            return
        client.publish(self.topics.daemon_status, "online", qos=1, retain=True)
        client.subscribe([(self.topics.ha_status, 1), (self.command_filter, 1)])
        self._call(self._connected)

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self._call(self._connect_failed)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._call(self._disconnected, str(reason))

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self._call(self._message, message.topic, bytes(message.payload))

    def _call(self, function: Callable[..., None], *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(function, *args)

    # -- event loop ------------------------------------------------------------------------------------
    def _connected(self) -> None:
        log.info("connected to MQTT broker %s:%d", self.config.host, self.config.port)
        self.connected = True
        self._reported_unreachable = False
        self._refusal = ""
        self._signatures.clear()  # announce everything again
        self._republish()

    def _refused(self, reason: str) -> None:
        if reason != self._refusal:  # once per reason, not once per retry
            hint = " (check username/password in [mqtt])" if "authori" in reason.lower() else ""
            log.error("MQTT broker %s:%d refused the connection: %s%s", self.config.host, self.config.port,
                      reason, hint)  # fmt: skip
            self._refusal = reason

    def _connect_failed(self) -> None:
        if self.connected or not self._reported_unreachable:
            log.warning("MQTT broker %s:%d not reachable; retrying in the background", self.config.host,
                        self.config.port)  # fmt: skip
            self._reported_unreachable = True
        self.connected = False

    def _disconnected(self, reason: str) -> None:
        if self.connected and not self._stopping:
            log.warning("lost the MQTT broker (%s); telemetry is dropped until it is back", reason)
        self.connected = False

    def _message(self, topic: str, payload: bytes) -> None:
        if topic == self.topics.ha_status:
            if payload.strip().lower() == b"online":
                # Stagger the answer so a restarting HA is not flooded by every client at once.
                if self._reannounce is not None:
                    self._reannounce.cancel()
                assert self._loop is not None
                self._reannounce = self._loop.call_later(random.uniform(0.5, 2.0), self._rediscover)
            return
        parts = topic.split("/")
        if len(parts) >= 4 and parts[-1] == "set" and parts[-3] == "switch":
            alias, switch = parts[-4], parts[-2]
            if self.on_command is not None:
                self.on_command(alias, switch, payload.decode("utf-8", "replace"))

    def _rediscover(self) -> None:
        log.info("Home Assistant came online; re-announcing %d device(s)", len(self._latest))
        self._signatures.clear()
        self._republish()

    def _republish(self) -> None:
        for alias, online in self._online.items():
            self.client.publish(self.topics.availability(alias), "online" if online else "offline", 1, True)
        for reading in self._latest.values():
            self.publish(reading)

    # -- Sink ------------------------------------------------------------------------------------------
    def publish(self, reading: Reading) -> None:
        alias = reading.device.alias
        self._latest[alias] = reading
        if not self.connected:
            return
        state = reading.sample.to_dict()
        state["diagnostics"] = reading.diagnostics
        if reading.meters is not None:
            state["meters"] = reading.meters.published()
        if self.config.discovery != "off":
            self._discover(reading, state)
        self.client.publish(self.topics.state(alias), json.dumps(state, separators=(",", ":")), qos=0)

    def availability(self, device: DeviceConfig, online: bool) -> None:
        self._online[device.alias] = online
        if self.connected:
            self.client.publish(self.topics.availability(device.alias), "online" if online else "offline", 1, True)

    def _discover(self, reading: Reading, state: dict[str, Any]) -> None:
        """Announce the device when what it reports (cells, sensors, identity) changed since the last time."""
        signature = (
            tuple(sorted(k for k in state if k not in ("cell_voltages", "temperatures", "switches"))),
            len(state.get("cell_voltages", ())),
            len(state.get("temperatures", ())),
            tuple(state.get("switches", {})),
            reading.info,
        )
        ident = device_id(reading)
        if self._signatures.get(ident) == signature:
            return
        self._signatures[ident] = signature
        if self.config.discovery == "device":
            previous = self._announced.get(ident, {})
            topic, payload, platforms = device_discovery(reading, state, self.topics, self.expire_after, {})
            removed = {k: p for k, p in previous.items() if k not in platforms}
            if removed:
                topic, payload, platforms = device_discovery(reading, state, self.topics, self.expire_after, removed)
            self._announced[ident] = platforms
            self.client.publish(topic, json.dumps(payload, separators=(",", ":")), qos=1, retain=True)
            count = len(platforms)
        else:
            configs = entity_discovery(reading, state, self.topics, self.expire_after)
            topics = {topic for topic, _ in configs}
            for stale in self._entity_topics.get(ident, set()) - topics:
                self.client.publish(stale, b"", qos=1, retain=True)
            self._entity_topics[ident] = topics
            for topic, payload in configs:
                self.client.publish(topic, json.dumps(payload, separators=(",", ":")), qos=1, retain=True)
            count = len(configs)
        log.info("announced %s to Home Assistant (%d entities)", reading.device.alias, count)


def _wait(info: paho.MQTTMessageInfo, timeout: float) -> None:
    with contextlib.suppress(RuntimeError, ValueError):  # not connected: the broker's will says offline for us
        info.wait_for_publish(timeout)
