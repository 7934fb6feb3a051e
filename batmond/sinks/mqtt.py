"""MQTT sink: paho-mqtt 2.x driven by the daemon's asyncio loop, Home Assistant discovery, availability.

paho runs without a thread of its own (its external-loop API): the event loop watches paho's socket and a
PUBLISH is written to the broker's socket by the call that made it. A network thread would have to be woken
for every message and would then take turns with the event loop on the GIL, which at tens of states per
second was most of the latency tail. Only connecting (DNS, TCP, TLS handshake: all blocking in paho) runs in a
short-lived thread, and nothing else touches the client meanwhile. The sink reconnects itself, with backoff,
and drives paho's keep-alive.

Telemetry is QoS 0 and is dropped (never queued) while the broker is away; discovery, availability and the
daemon status are QoS 1 retained. After every (re)connect and whenever HA announces itself online, discovery
is re-announced and the latest states of the BMS that are online are re-sent (never an offline one's old values).

Commands are never taken from a retained message: one left on the broker (by any client, kept on disk by
mosquitto) would switch a battery at every start, after every broker restart. MQTT 5 is spoken so that the
broker says how every command was published (retain as published), also while batmond listens; a retained
command is logged once per burst with its topic and cleared from the broker with an empty retained message.
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
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from batmond.config import DeviceConfig, MqttConfig, SamplingConfig
from batmond.hub import Reading
from batmond.sinks import Sink
from batmond.sinks.hass import Topics, device_discovery, device_id, entity_discovery

log = logging.getLogger("batmond.mqtt")
paho_log = logging.getLogger("batmond.mqtt.paho")
MAX_QUEUED = 1000  # QoS 1 messages kept while disconnected; beyond that they are dropped, not hoarded
KEEPALIVE = 30  # s
KEEPALIVE_CHECK = 1.0  # s between paho's keep-alive checks (PINGREQ due; a broker that stopped answering)
RECONNECT_DELAY = (1.0, 30.0)  # s: first wait after a failure or a lost connection, doubling up to the second
STOP_TIMEOUT = 2.0  # s to wait for the broker to acknowledge the "offline" status at a clean stop
# s from sending CONNECT to giving up on its CONNACK: a broker accepts TCP and never answers when it is hung, or a
# port forward's far end is gone. paho alone would wait a keep-alive period and then drop it without a word.
CONNACK_TIMEOUT = 10.0
RETAINED_WINDOW = 1.0  # s: retained commands on one topic within it make one log line and one clear
REANNOUNCE_INTERVAL = 10.0  # s at least between two re-announcements (HA's birth message, however often)


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
        self._problem = ""  # what the log last said about connecting: said again only when it changes
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._latest: dict[str, Reading] = {}
        self._online: dict[str, bool] = {}
        self._announced: dict[str, dict[str, str]] = {}  # device id -> {component key: platform}
        self._entity_topics: dict[str, set[str]] = {}
        self._signatures: dict[str, tuple] = {}
        self._reannounce: asyncio.TimerHandle | None = None
        self._announced_at = -REANNOUNCE_INTERVAL  # loop time of the last re-announcement for HA's birth
        self._retained: dict[str, list] = {}  # command topic -> [retained messages in this window, last payload]
        self._connection: asyncio.Task | None = None
        self._connector: threading.Thread | None = None  # while it runs, nothing else touches the client
        self._loop_thread = 0
        self._closed = asyncio.Event()  # paho closed the socket of the current connection
        self._accepted = False  # the broker accepted the current connection
        self._writer = False  # the loop watches the socket for room to write the rest
        self._flush_due = False
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        self.client.enable_logger(paho_log)
        self.client.will_set(self.topics.daemon_status, "offline", qos=1, retain=True)
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
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_socket_close = self._on_socket_close
        self.client.on_socket_register_write = self._on_register_write
        self.client.on_socket_unregister_write = self._on_unregister_write

    @property
    def command_filter(self) -> str:
        return f"{self.topics.base}/+/switch/+/set"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        log.info("connecting to MQTT broker %s:%d%s as %s", self.config.host, self.config.port,
                 " (TLS)" if self.config.tls else "", self.client._client_id.decode())  # fmt: skip
        # A clean start every time: a session kept by the broker would hand over commands queued while batmond
        # was away, stale ones.
        self.client.connect_async(self.config.host, self.config.port, keepalive=KEEPALIVE, clean_start=True)
        self._connection = asyncio.create_task(self._keep_connected(), name="mqtt")

    async def stop(self) -> None:
        self._stopping = True
        if self.connected:
            info = self.client.publish(self.topics.daemon_status, "offline", qos=1, retain=True)
            for device_alias in self._online:
                self.client.publish(self.topics.availability(device_alias), "offline", qos=1, retain=True)
            self._flush()
            await self._acknowledged(info, STOP_TIMEOUT)
        if self._connection is not None:
            self._connection.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connection
        if not (self._connector and self._connector.is_alive()) and self.client.socket() is not None:
            self.client.disconnect()
            self._flush()  # paho closes the socket once the DISCONNECT is written

    # -- the connection ---------------------------------------------------------------------------------
    async def _keep_connected(self) -> None:
        delay = RECONNECT_DELAY[0]
        while True:
            self._closed.clear()
            self._accepted = False
            try:
                await self._connect()
            except Exception as exc:  # OSError (refused, unreachable, DNS, TLS) or paho's own checks
                self._connect_failed(describe(exc))
            else:
                await self._serve()
            if self._accepted:
                delay = RECONNECT_DELAY[0]
            await asyncio.sleep(delay)
            delay = min(2 * delay, RECONNECT_DELAY[1])

    async def _connect(self) -> None:
        """paho's reconnect() (resolve, connect, TLS handshake, queue CONNECT) in a thread: it blocks."""
        assert self._loop is not None
        loop, done = self._loop, self._loop.create_future()

        def connect() -> None:
            outcome: BaseException | None = None
            try:
                self.client.reconnect()
            except Exception as exc:
                outcome = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: the daemon has stopped
                loop.call_soon_threadsafe(_settle, done, outcome)

        # A daemon thread: a connect still hanging at exit (TCP or TLS, up to paho's 5 s timeout) is not waited for.
        self._connector = threading.Thread(target=connect, name="mqtt-connect", daemon=True)
        self._connector.start()
        await done
        sock = self.client.socket()
        assert sock is not None
        # Each PUBLISH leaves at once instead of waiting for the broker to acknowledge the previous segment.
        with contextlib.suppress(OSError):  # a socket already reset: the reader finds out
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        loop.add_reader(sock, self._readable)
        self._flush()  # the CONNECT

    async def _serve(self) -> None:
        """Until paho closes the socket: its keep-alive (a PINGREQ when due; a broker that stopped answering),
        and a CONNACK that never comes."""
        assert self._loop is not None
        connack_by = self._loop.time() + CONNACK_TIMEOUT
        while not self._closed.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(KEEPALIVE_CHECK):  # not wait_for: it can swallow stop()'s cancel
                    await self._closed.wait()
            if self._closed.is_set():
                break
            if not self._accepted and self._loop.time() >= connack_by:
                self._report("connack", logging.WARNING, "timed out waiting for CONNACK from %s:%d (%g s after "
                             "connecting; is that port an MQTT listener, and the broker responsive?); retrying in the "
                             "background", self.config.host, self.config.port, CONNACK_TIMEOUT)  # fmt: skip
                self.client.disconnect()  # paho closes the socket once the DISCONNECT is written
                connack_by = float("inf")  # a peer that does not even take those bytes: keep-alive ends it
            self.client.loop_misc()
            self._flush()

    async def _acknowledged(self, info: paho.MQTTMessageInfo, timeout: float) -> None:
        """Wait until the broker acknowledged a QoS 1 message (this loop reads the PUBACK), or the connection
        ended, or ``timeout``."""
        assert self._loop is not None
        deadline = self._loop.time() + timeout
        while self.client.socket() is not None and self._loop.time() < deadline:
            try:
                if info.is_published():
                    return
            except (RuntimeError, ValueError):  # not sent at all: the broker's will says offline for us
                return
            await asyncio.sleep(0.02)

    def _readable(self) -> None:
        self.client.loop_read()
        sock = self.client.socket()
        if isinstance(sock, ssl.SSLSocket) and sock.pending():  # decrypted bytes the socket will not signal
            assert self._loop is not None
            self._loop.call_soon(self._readable)

    def _flush(self) -> None:
        """Write what paho has queued, now; what the socket cannot take yet waits for the loop's writer."""
        self._flush_due = False
        client = self.client
        if not client.want_write():
            return
        client.loop_write()
        sock = client.socket()
        if client.want_write() and sock is not None and not self._writer:
            assert self._loop is not None
            self._loop.add_writer(sock, client.loop_write)
            self._writer = True

    # -- paho callbacks: on the event loop, inside loop_read/loop_write/loop_misc ------------------------
    # (except the write registration of the CONNECT, in the connect thread). They hand work to the loop:
    # publishing from inside a paho callback must not write (paho holds its callback lock there).
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._call(self._refused, str(reason))
            return
        self._accepted = True
        client.publish(self.topics.daemon_status, "online", qos=1, retain=True)
        client.subscribe([
            # Live messages arrive unflagged, so a retained flag means "delivered on subscribe".
            (self.topics.ha_status, SubscribeOptions(qos=1)),
            # Every retained command flagged as such; batmond's own clearing does not come back to it.
            (self.command_filter, SubscribeOptions(qos=1, noLocal=True, retainAsPublished=True)),
        ])  # fmt: skip
        self._call(self._connected)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._call(self._disconnected, str(reason))

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self._call(self._message, message.topic, bytes(message.payload), bool(message.retain))

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.remove_reader(sock)
        self._on_unregister_write(client, userdata, sock)
        self._closed.set()

    def _on_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        """paho queued something: write it at the end of this loop turn (the publisher flushes its own)."""
        if self._flush_due or threading.get_ident() != self._loop_thread:  # the CONNECT: _connect flushes it
            return
        assert self._loop is not None
        self._flush_due = True
        self._loop.call_soon(self._flush)

    def _on_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if self._writer:
            assert self._loop is not None
            self._loop.remove_writer(sock)
            self._writer = False

    def _call(self, function: Callable[..., None], *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon(function, *args)

    # -- event loop ------------------------------------------------------------------------------------
    def _connected(self) -> None:
        log.info("connected to MQTT broker %s:%d", self.config.host, self.config.port)
        self.connected = True
        self._problem = ""
        self._signatures.clear()  # announce everything again
        self._republish()

    def _report(self, problem: str, level: int, message: str, *args: Any) -> None:
        """Log a connection problem once per change of problem, not once per retry."""
        if problem != self._problem:
            log.log(level, message, *args)
            self._problem = problem

    def _refused(self, reason: str) -> None:
        words = reason.lower()  # MQTT 5 brokers say "Bad user name or password" or "Not authorized"
        hint = " (check username/password in [mqtt])" if "authori" in words or "password" in words else ""
        self._report("refused: " + reason, logging.ERROR, "MQTT broker %s:%d refused the connection: %s%s",
                     self.config.host, self.config.port, reason, hint)  # fmt: skip

    def _connect_failed(self, reason: str) -> None:
        self._report("unreachable", logging.WARNING, "MQTT broker %s:%d not reachable (%s); retrying in the "
                     "background", self.config.host, self.config.port, reason)  # fmt: skip
        self.connected = False

    def _disconnected(self, reason: str) -> None:
        if self.connected and not self._stopping:
            log.warning("lost the MQTT broker (%s); telemetry is dropped until it is back", reason)
        self.connected = False

    def _message(self, topic: str, payload: bytes, retain: bool) -> None:
        assert self._loop is not None
        if topic == self.topics.ha_status:
            # Retained: HA's birth configured to be kept, met on subscribe; this connect announced everything.
            if payload.strip().lower() == b"online" and not retain and self._reannounce is None:
                # Staggered, so a restarting HA is not flooded by every client at once; at most one
                # re-announcement per interval however often HA says it is online (the first one is kept).
                due = max(random.uniform(0.5, 2.0), self._announced_at + REANNOUNCE_INTERVAL - self._loop.time())
                self._reannounce = self._loop.call_later(due, self._rediscover)
            return
        if retain:
            if payload:  # empty: someone deleted a retained message (as batmond does), nothing to refuse
                self._refuse_retained(topic, payload)
            return
        parts = topic.split("/")
        if len(parts) >= 4 and parts[-1] == "set" and parts[-3] == "switch":
            alias, switch = parts[-4], parts[-2]
            if self.on_command is not None:
                self.on_command(alias, switch, payload.decode("utf-8", "replace"))

    def _refuse_retained(self, topic: str, payload: bytes) -> None:
        """Never executed; logged and cleared once per topic and window, however many arrive."""
        assert self._loop is not None
        entry = self._retained.get(topic)
        if entry is not None:
            entry[0] += 1
            entry[1] = payload
            return
        self._retained[topic] = [1, payload]
        self._loop.call_later(RETAINED_WINDOW, self._clear_retained, topic)

    def _clear_retained(self, topic: str) -> None:
        count, payload = self._retained.pop(topic)
        shown = payload[:20].decode("utf-8", "replace")
        times = f" ({count} messages)" if count > 1 else ""
        if not self.connected:  # the next connect's subscription brings it again, and it is cleared then
            log.warning("ignored retained command %s=%r%s: commands must not be retained", topic[:128], shown,
                        times)  # fmt: skip
            return
        self.client.publish(topic, b"", qos=1, retain=True)
        self._flush()
        log.warning("ignored retained command %s=%r%s: commands must not be retained; cleared it from the broker",
                    topic[:128], shown, times)  # fmt: skip

    def _rediscover(self) -> None:
        self._reannounce = None
        if not self.connected:
            return  # the next connect announces everything anyway
        log.info("Home Assistant came online; re-announcing %d device(s)", len(self._latest))
        self._signatures.clear()
        self._republish()
        assert self._loop is not None
        self._announced_at = self._loop.time()

    def _republish(self) -> None:
        for alias, online in self._online.items():
            self.client.publish(self.topics.availability(alias), "online" if online else "offline", 1, True)
        for alias, reading in self._latest.items():
            # An offline BMS is announced but its last state is not sent again: a consumer would take the old
            # values for new ones (they may be minutes old); its next reading is published when it is back.
            self._send(reading, with_state=self._online.get(alias, True))

    # -- Sink ------------------------------------------------------------------------------------------
    def publish(self, reading: Reading) -> None:
        self._latest[reading.device.alias] = reading
        self._send(reading, with_state=True)

    def _send(self, reading: Reading, with_state: bool) -> None:
        """Announce ``reading``'s device if what it reports changed, and publish its state if ``with_state``."""
        if not self.connected:
            return
        document = reading.sample.to_dict()
        document["diagnostics"] = reading.diagnostics
        if reading.meters is not None:
            document["meters"] = reading.meters.published()
        if self.config.discovery != "off":
            self._discover(reading, document)
        if with_state:
            self.client.publish(self.topics.state(reading.device.alias), json.dumps(document, separators=(",", ":")),
                                qos=0)  # fmt: skip
        self._flush()

    def availability(self, device: DeviceConfig, online: bool) -> None:
        self._online[device.alias] = online
        if self.connected:
            self.client.publish(self.topics.availability(device.alias), "online" if online else "offline", 1, True)
            self._flush()

    def _discover(self, reading: Reading, state: dict[str, Any]) -> None:
        """Announce the device when what it reports (cells, sensors, identity) changed since the last time."""
        signature = (
            tuple(sorted(k for k in state if k not in ("cell_voltages", "temperatures", "switches"))),
            len(state.get("cell_voltages", ())),
            len(state.get("temperatures", ())),
            tuple(state.get("switches", {})),
            tuple(sorted(state.get("diagnostics", {}))),  # a link diagnostic (RSSI) may appear later
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


def _settle(future: asyncio.Future[None], outcome: BaseException | None) -> None:
    if future.done():  # the wait was cancelled: the daemon stops
        return
    if outcome is None:
        future.set_result(None)
    else:
        future.set_exception(outcome)


def describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
