"""InfluxDB sink: line protocol over HTTP to InfluxDB 1.x (``/write``) or 2.x/3.x (``/api/v2/write``).

Points wait in a bounded in-memory queue and go out in batches from a worker thread, so a slow or absent server
never stalls the event loop. Every full batch is gzip-compressed as it is sealed: a point is about 1 KB of text
and a day's backlog must fit a small board's memory. While the server is unreachable (connection errors,
timeouts, 5xx, 429) the queue keeps the newest batches and the writer retries with exponential backoff. A batch
the server refuses (any other 4xx: bad data, authentication, a missing database) is logged once per reason and
dropped: sending it again cannot succeed, and retrying it forever would block every later point. Each point
carries its own timestamp and InfluxDB keeps one value per series, field and timestamp, so a batch sent twice
(its answer got lost) is still stored once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import http.client
import itertools
import json
import logging
import math
import re
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from batmond import __version__
from batmond.config import DeviceConfig, InfluxConfig
from batmond.hub import Reading
from batmond.sinks import Sink

log = logging.getLogger("batmond.influxdb")

FieldValue = bool | int | float | str
INTEGER_FIELDS = frozenset({"cycles", "alarm_code", "cell_min_index", "cell_max_index"})
# InfluxDB fixes a field's type with its first value: a float field stays float even when a BMS sends 87 for
# 87 %, or every later point of the shard would be refused with "field type conflict".
PRECISION = "ms"  # sub-second publish periods stay distinct; finer would only cost space
# Line protocol cannot carry these in names or tag values (InfluxDB 1.x keeps "\\" literally and rejects a
# trailing "\"), and a newline would end the line.
_UNSAFE_NAME = re.compile(r"[\\\x00-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_ERROR_TEXT = 300


def escape_name(text: str) -> str:
    """A tag key, tag value or field key: commas, equals signs and spaces escaped."""
    return _UNSAFE_NAME.sub("_", text).replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def escape_measurement(text: str) -> str:
    return _UNSAFE_NAME.sub("_", text).replace(",", r"\,").replace(" ", r"\ ")


def field_value(value: FieldValue) -> str | None:
    """The value as line protocol writes it; ``None`` for what InfluxDB cannot store (NaN, infinity)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return '"' + _CONTROL.sub(" ", value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue], timestamp: int) -> str | None:
    """One point; ``None`` when no field has a value. Tags are sorted, as InfluxDB prefers, and empty ones left out."""
    rendered = [f"{escape_name(key)}={text}" for key, value in fields.items() if (text := field_value(value))]
    if not rendered:
        return None
    tag_text = "".join(f",{escape_name(key)}={escape_name(value)}" for key, value in sorted(tags.items()) if value)
    return f"{escape_measurement(measurement)}{tag_text} {','.join(rendered)} {timestamp}"


def reading_tags(reading: Reading) -> dict[str, str]:
    device = reading.device
    return {"alias": device.alias, "id": device.stable_id, "type": device.type}


def reading_fields(reading: Reading) -> dict[str, FieldValue]:
    """Every value of the MQTT state, flattened: cell01.., temperature1.., switch_*, meter_*, diag_*."""
    fields: dict[str, FieldValue] = {}
    for key, value in reading.sample.to_dict().items():
        if key == "cell_voltages":
            fields.update({f"cell{i:02d}": float(v) for i, v in enumerate(value, 1)})
        elif key == "temperatures":
            fields.update({f"temperature{i}": float(v) for i, v in enumerate(value, 1)})
        elif key != "switches":  # to_dict renders them "ON"/"OFF"; booleans below
            fields[key] = int(value) if key in INTEGER_FIELDS else float(value)
    fields.update({f"switch_{name}": on for name, on in reading.sample.switches.items()})
    if reading.meters is not None:
        fields.update({f"meter_{name}": value for name, value in reading.meters.published().items()})
    fields.update({f"diag_{name}": value for name, value in reading.diagnostics.items()})
    return fields


def write_url(config: InfluxConfig) -> str:
    base = config.url.rstrip("/")
    if config.v2:
        return f"{base}/api/v2/write?" + urlencode({"org": config.org, "bucket": config.bucket, "precision": PRECISION})
    query = {"db": config.database, "precision": PRECISION}
    if config.retention_policy:
        query["rp"] = config.retention_policy
    return f"{base}/write?" + urlencode(query)


def backoff(initial: float, maximum: float) -> Iterator[float]:
    """Seconds to wait before each retry: doubling from ``initial``, never above ``maximum``."""
    return itertools.accumulate(itertools.repeat(None), lambda delay, _: min(maximum, delay * 2), initial=initial)


@dataclass(frozen=True, slots=True)
class Batch:
    count: int  # points
    body: bytes  # gzip-compressed line protocol, one request


def seal(points: list[str]) -> Batch:
    # Compression level 5: a Pi's CPU matters more than the last few percent.
    return Batch(len(points), gzip.compress("\n".join(points).encode(), compresslevel=5))


class InfluxSink(Sink):
    def __init__(
        self,
        config: InfluxConfig,
        retry_delays: tuple[float, float] = (1.0, 60.0),
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.url = write_url(config)
        self.retry_delays = retry_delays
        self.clock = clock  # wall clock, ns: points are stamped when the sample is published, not when written
        self.batches: deque[Batch] = deque()  # sealed, oldest first
        self.tail: list[str] = []  # the newest points, fewer than batch_size
        self.queued = 0  # points in batches and tail
        self.written = 0  # points the server accepted
        self.rejected = 0  # points in batches the server refused
        self.dropped = 0  # oldest points dropped because the queue was full
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._delays: Iterator[float] | None = None  # set while the server is unreachable
        self._dropping = 0  # dropped since the queue last had room
        self._refusals: set[str] = set()
        # The server is on the LAN: a desktop's proxy variables must not send the writes elsewhere.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._headers = {"Content-Type": "text/plain; charset=utf-8", "User-Agent": f"batmond/{__version__}"}
        if config.v2:
            self._headers["Authorization"] = f"Token {config.token}"
        elif config.username is not None:
            # Basic authentication rather than u=/p= in the query: URLs end up in proxy and server logs.
            secret = f"{config.username}:{config.password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(secret).decode()
        if config.gzip:
            self._headers["Content-Encoding"] = "gzip"

    @property
    def target(self) -> str:
        config = self.config
        if config.v2:
            return f"InfluxDB {config.url} (bucket {config.bucket!r} of org {config.org!r})"
        return f"InfluxDB {config.url} (database {config.database!r})"

    async def start(self) -> None:
        log.info("writing to %s every %g s or %d points", self.target, self.config.flush_interval,
                 self.config.batch_size)  # fmt: skip
        self._task = asyncio.create_task(self._run(), name="influxdb")
        self._task.add_done_callback(_report_crash)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.queued and self._delays is None:  # one last round, so a restart loses nothing the server takes
            with contextlib.suppress(TimeoutError):  # bounded: systemd waits for the stop only so long
                await asyncio.wait_for(self._flush(), self.config.timeout)
        if self.queued:
            log.warning("%s: %d point(s) not written at shutdown", self.target, self.queued)

    # -- Sink ------------------------------------------------------------------------------------------
    def publish(self, reading: Reading) -> None:
        point = line(self.config.measurement, reading_tags(reading), reading_fields(reading),
                     self.clock() // 1_000_000)  # fmt: skip
        if point is None:
            return
        self.tail.append(point)
        self.queued += 1
        if len(self.tail) >= self.config.batch_size:
            self._seal()
            self._wake.set()
        while self.queued > self.config.max_queue:  # max_queue >= batch_size: there is a sealed batch to drop
            count = self.batches.popleft().count
            self.queued -= count
            self.dropped += count
            if not self._dropping:
                log.warning("%s: queue full (%d points); dropping the oldest until the server takes data again",
                            self.target, self.config.max_queue)  # fmt: skip
            self._dropping += count

    def _seal(self) -> None:
        self.batches.append(seal(self.tail))
        self.tail = []

    def availability(self, device: DeviceConfig, online: bool) -> None:
        pass  # a gap in the series says it; InfluxDB has no notion of an offline device

    # -- writer ----------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            if self._delays is not None:
                await asyncio.sleep(next(self._delays))
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.config.flush_interval)
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        """Write what is queued, batch by batch, until the queue is empty or the server is unreachable."""
        while self.queued:
            if not self.batches:
                self._seal()
            batch = self.batches[0]
            status, detail = await asyncio.to_thread(self._post, batch.body)
            if status is None or status == 429 or status >= 500:
                self._unreachable(f"HTTP {status}: {detail}" if status else detail)
                return
            if self.batches and self.batches[0] is batch:  # unless the queue overflowed meanwhile and dropped it
                self.batches.popleft()
                self.queued -= batch.count
            if 200 <= status < 300:
                self._wrote(batch.count)
            else:
                self._refused(status, detail, batch.count)

    def _unreachable(self, reason: str) -> None:
        if self._delays is None:
            log.warning("%s not writable (%s); keeping up to %d points and retrying", self.target, reason,
                        self.config.max_queue)  # fmt: skip
            self._delays = backoff(*self.retry_delays)
        else:
            log.debug("%s still not writable (%s)", self.target, reason)

    def _wrote(self, count: int) -> None:
        self.written += count
        if self._delays is not None:
            log.info("%s writable again; %d point(s) still queued", self.target, self.queued)
            self._delays = None
        if self._dropping:
            log.warning("%s: %d oldest point(s) were dropped while the queue was full", self.target, self._dropping)
            self._dropping = 0

    def _refused(self, status: int, detail: str, count: int) -> None:
        self.rejected += count
        self._delays = None  # it answered: it is up
        reason = f"HTTP {status}: {detail}"
        if reason in self._refusals:
            log.debug("%s refused %d point(s) again (%s)", self.target, count, reason)
            return
        self._refusals.add(reason)
        hint = {401: " (check username/password or token)", 403: " (check the token's write permission)",
                404: " (does the database or bucket exist?)"}.get(status, "")  # fmt: skip
        log.error("%s refused %d point(s), dropped: %s%s", self.target, count, reason, hint)

    def _post(self, body: bytes) -> tuple[int | None, str]:
        """On a worker thread: (HTTP status, server's error text), or (None, reason) when there was no answer."""
        if not self.config.gzip:
            body = gzip.decompress(body)
        request = urllib.request.Request(self.url, data=body, headers=self._headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.config.timeout) as response:
                return response.status, ""
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, _error_text(exc.read(4096))
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            return None, str(getattr(exc, "reason", exc)) or type(exc).__name__


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("the InfluxDB writer stopped on a bug; nothing more is written", exc_info=exc)


def _error_text(body: bytes) -> str:
    """The server's own words: 1.x answers {"error": …}, 2.x {"code": …, "message": …}."""
    text = body.decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError, AttributeError):
        data = json.loads(text)
        text = str(data.get("error") or data.get("message") or text)
    return _CONTROL.sub(" ", text)[:MAX_ERROR_TEXT] or "(no error text)"
