"""InfluxDB sink: line protocol, batching, the bounded queue, backoff, and no loss across an outage.

InfluxDB 1.x paths run against a real ``influxd`` (Debian's influxdb package, 1.6.7) that the tests start on
127.0.0.1. Debian has no InfluxDB 2 (influxdb2 is in no Debian suite) and 1.6.7 answers 404 on /api/v2/write
(that compatibility path arrived in 1.8), so the v2 request format, the HTTP status handling and the queue bound
run against ``LineServer``, a small line-protocol HTTP endpoint these tests start themselves.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import logging
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers import free_port, wait_until

from batmond.config import ConfigError, DeviceConfig, InfluxConfig, parse
from batmond.hub import Reading
from batmond.meters import MeterValues
from batmond.sample import Sample
from batmond.sinks.influx import InfluxSink, backoff, escape_measurement, escape_name, line, reading_fields

INFLUXD = shutil.which("influxd")
needs_influxd = pytest.mark.skipif(
    INFLUXD is None, reason="influxd is not installed (apt-get install influxdb; `make system-deps` does it)"
)
DEVICE = DeviceConfig(address="C8:47:8C:E4:54:0D", type="jk", alias="battery1")
FAST_RETRIES = (0.2, 1.0)  # the same doubling backoff as the default (1 s .. 60 s), sized for a test


# -- a real influxd ----------------------------------------------------------------------------------------
class Influxd:
    """InfluxDB 1.x on 127.0.0.1 with its files in a test directory; it can be stopped and started again."""

    def __init__(self, directory: Path, auth: bool = False) -> None:
        assert INFLUXD is not None
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = directory / "influxdb.conf"
        self.config.write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{free_port()}"\n'
            f'[meta]\n  dir = "{directory}/meta"\n'
            f'[data]\n  dir = "{directory}/data"\n  wal-dir = "{directory}/wal"\n  query-log-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            f"  auth-enabled = {'true' if auth else 'false'}\n"
            "[monitor]\n  store-enabled = false\n[continuous_queries]\n  enabled = false\n"
        )
        self.log = directory / "influxd.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([INFLUXD, "-config", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/ping", timeout=1) as answer:
                if answer.status == 204:
                    return
            if self.process.poll() is not None:
                raise RuntimeError(f"influxd exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError("influxd did not answer /ping")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
        self.process = None

    def query(self, statement: str, db: str = "bms", auth: tuple[str, str] | None = None) -> list[dict[str, Any]]:
        data = urllib.parse.urlencode({"q": statement, "db": db}).encode()
        request = urllib.request.Request(f"{self.url}/query", data=data, method="POST")
        if auth is not None:
            request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
        with urllib.request.urlopen(request, timeout=10) as response:
            result = json.loads(response.read())["results"][0]
        assert "error" not in result, result
        return result.get("series", [])

    def rows(self, statement: str, **kwargs: Any) -> list[dict[str, Any]]:
        """The query's points as dicts (column -> value), tags included for GROUP BY *."""
        out = []
        for series in self.query(statement, **kwargs):
            for values in series["values"]:
                out.append({**series.get("tags", {}), **dict(zip(series["columns"], values, strict=True))})
        return out


@pytest.fixture
def influxd(tmp_path: Path):
    server = Influxd(tmp_path / "influxd")
    server.start()
    server.query("CREATE DATABASE bms")
    yield server
    server.stop()


# -- a line-protocol endpoint the tests control --------------------------------------------------------------
@dataclass
class Point:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, bool | int | float | str]
    timestamp: int


def _split(text: str, separator: str) -> list[str]:
    """Split at separators that are neither escaped nor inside a quoted string; escapes are kept."""
    pieces, current, quoted, escaped = [], "", False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            pieces.append(current)
            current = ""
            continue
        current += char
    return [*pieces, current]


def _name(text: str) -> str:
    return re.sub(r"\\([,= ])", r"\1", text)


def _value(text: str) -> bool | int | float | str:
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        return re.sub(r'\\(["\\])', r"\1", text[1:-1])
    if text in ("true", "false"):
        return text == "true"
    if text.endswith("i"):
        return int(text[:-1])
    return float(text)


def parse_line(text: str) -> Point:
    """Line protocol as InfluxDB reads it: measurement[,tag=value...] field=value[,...] timestamp."""
    series, field_text, timestamp = _split(text, " ")
    measurement, *tag_texts = _split(series, ",")
    tags = dict(tuple(map(_name, _split(tag, "="))) for tag in tag_texts)
    fields = {}
    for field_part in _split(field_text, ","):
        key, value = _split(field_part, "=")
        fields[_name(key)] = _value(value)
    return Point(_name(measurement), tags, fields, int(timestamp))


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    lines: list[str]
    points: list[Point]


class LineServer:
    """POST /api/v2/write: parses and records each request, answers from ``answers`` (then 204).

    A body that is not valid line protocol is answered 400, as InfluxDB does.
    """

    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.answers: list[tuple[int, str]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                url = urllib.parse.urlsplit(self.path)
                lines = body.decode().split("\n")
                try:
                    points = [parse_line(text) for text in lines]
                except ValueError as exc:
                    status, text = 400, f"unable to parse: {exc}"
                else:
                    request = Received(url.path, dict(urllib.parse.parse_qsl(url.query)), dict(self.headers),
                                       lines, points)  # fmt: skip
                    with server.lock:
                        server.received.append(request)
                        status, text = server.answers.pop(0) if server.answers else (204, "")
                self.send_response(status)
                payload = json.dumps({"code": "invalid", "message": text}).encode() if text else b""
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.http.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def cycles(self, first: int = 0) -> list[int | float | bool | str]:
        """The ``cycles`` field (each test reading's number) of every request from ``first`` on."""
        with self.lock:
            return [point.fields["cycles"] for request in self.received[first:] for point in request.points]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def line_server():
    server = LineServer()
    yield server
    server.close()


def reading(number: int = 0) -> Reading:
    sample = Sample(voltage=53.204, current=-4.5, soc=87, cycles=number, cell_voltages=(3.301, 3.3),
                    temperatures=(21.5, 22.0), switches={"charge": True, "discharge": False})  # fmt: skip
    diagnostics: dict[str, int | str] = {"frames": 10, "bad_frames": 0}
    return Reading(DEVICE, sample, None, diagnostics, MeterValues(energy_charge_kwh=1.25, cycles=0.5))


def v2_config(url: str, **overrides: Any) -> InfluxConfig:
    base = InfluxConfig(url=url, token="s3cret", org="home", bucket="bms", batch_size=5, flush_interval=3600.0)
    return replace(base, **overrides)


def v1_config(url: str, **overrides: Any) -> InfluxConfig:
    return replace(InfluxConfig(url=url, database="bms", batch_size=5, flush_interval=0.2), **overrides)


# -- line protocol ---------------------------------------------------------------------------------------------
def test_a_reading_becomes_one_point_with_every_value():
    point = line("battery", {"alias": "battery1", "id": "c8478ce4540d", "type": "jk"}, reading_fields(reading(12)), 17)
    assert point == (
        "battery,alias=battery1,id=c8478ce4540d,type=jk "
        "voltage=53.204,current=-4.5,soc=87.0,cycles=12i,"
        "cell01=3.301,cell02=3.3,cell_min=3.3,cell_max=3.301,cell_average=3.3005,cell_delta=0.001,"
        "cell_min_index=2i,cell_max_index=1i,temperature1=21.5,temperature2=22.0,"
        "switch_charge=true,switch_discharge=false,"
        "meter_energy_charge_kwh=1.25,meter_energy_discharge_kwh=0.0,meter_energy_net_kwh=0.0,"
        "meter_charge_net_ah=0.0,meter_cycles=0.5,diag_frames=10i,diag_bad_frames=0i 17"
    )


def test_absent_and_unstorable_values_are_left_out():
    sample = Sample(voltage=float("nan"), current=float("inf"), soc=50.0)
    fields = reading_fields(Reading(DEVICE, sample, None, {"stale_members": 'a "b"\nc'}))
    assert fields == {"current": float("inf"), "soc": 50.0, "diag_stale_members": 'a "b"\nc'}
    assert line("m", {"empty": "", "t": "x"}, fields, 1) == 'm,t=x soc=50.0,diag_stale_members="a \\"b\\" c" 1'
    assert line("m", {}, {"v": float("nan")}, 1) is None


def test_escaping():
    assert escape_name("a b,c=d") == r"a\ b\,c\=d"
    assert escape_name("back\\slash\nnew") == "back_slash_new"  # 1.x keeps "\\" literally; "\n" ends a line
    assert escape_measurement("my battery,x=1") == r"my\ battery\,x=1"


@needs_influxd
async def test_names_and_strings_survive_a_real_influxd(influxd):
    """What the escaping promises, checked by the real parser: every name and value comes back as it went in."""
    sink = InfluxSink(v1_config(influxd.url, measurement="my battery,1"))
    device = replace(DEVICE, type="jk:odd type=1,2")
    point = Reading(device, Sample(voltage=12.5), None, {"note": 'say "hi" \\ there', "odd key=1,2": 3})
    await sink.start()
    sink.publish(point)
    await wait_until(lambda: sink.written == 1, what="the point written")
    await sink.stop()
    rows = influxd.rows('SELECT * FROM "my battery,1" GROUP BY *')
    tags = {"alias": "battery1", "id": "c8478ce4540d", "type": "jk:odd type=1,2"}
    values = {"voltage": 12.5, "diag_note": 'say "hi" \\ there', "diag_odd key=1,2": 3}
    assert rows == [{**tags, "time": rows[0]["time"], **values}]


# -- batching and the HTTP request -------------------------------------------------------------------------------
async def test_v2_batches_by_size_and_flushes_the_rest_at_stop(line_server):
    sink = InfluxSink(v2_config(line_server.url))  # flush_interval: an hour
    await sink.start()
    for number in range(12):
        sink.publish(reading(number))
    # batch_size points waiting start a write, which then takes everything queued, batch by batch.
    await wait_until(lambda: len(line_server.received) == 3, what="the batches of 12 points")
    for number in range(12, 15):
        sink.publish(reading(number))
    assert len(line_server.received) == 3  # fewer than batch_size wait for the interval, or for stop()
    await sink.stop()
    assert [len(request.lines) for request in line_server.received] == [5, 5, 2, 3]
    request = line_server.received[0]
    assert request.path == "/api/v2/write"
    assert request.query == {"org": "home", "bucket": "bms", "precision": "ms"}
    assert request.headers["Authorization"] == "Token s3cret"
    assert request.headers["Content-Encoding"] == "gzip"
    assert line_server.cycles() == list(range(15))
    point = line_server.received[0].points[0]
    assert (point.measurement, point.tags) == ("battery", {"alias": "battery1", "id": "c8478ce4540d", "type": "jk"})
    assert point.fields["soc"] == 87.0 and point.fields["switch_charge"] is True
    assert (sink.written, sink.rejected, sink.dropped, sink.queued) == (15, 0, 0, 0)


async def test_flush_interval_sends_a_partial_batch(line_server):
    sink = InfluxSink(v2_config(line_server.url, batch_size=1000, flush_interval=0.2, gzip=False))
    await sink.start()
    for number in range(3):
        sink.publish(reading(number))
    await wait_until(lambda: line_server.received, what="a write before batch_size points")
    await sink.stop()
    assert len(line_server.received[0].lines) == 3
    assert "Content-Encoding" not in line_server.received[0].headers


# -- the server away, failing or refusing ---------------------------------------------------------------------
async def test_the_queue_keeps_the_newest_points_and_says_so_once(caplog):
    port = free_port()  # nothing listens here yet: connection refused
    sink = InfluxSink(v2_config(f"http://127.0.0.1:{port}", max_queue=10, flush_interval=0.1), FAST_RETRIES)
    caplog.set_level(logging.INFO, "batmond.influxdb")
    await sink.start()
    for number in range(3):
        sink.publish(reading(number))
    await wait_until(lambda: "not writable" in caplog.text, what="the failed write")
    for number in range(3, 25):
        sink.publish(reading(number))
    # Whole batches go, oldest first (the 3 points of the failed write were sealed as one).
    assert sink.dropped + sink.queued == 25 and 10 - 5 < sink.queued <= 10
    kept = sink.queued
    assert caplog.text.count("queue full (10 points)") == 1
    server = LineServer(port)
    try:
        await wait_until(lambda: not sink.queued, what="the queue written")
        await sink.stop()
        assert server.cycles() == list(range(25 - kept, 25))
    finally:
        server.close()
    assert caplog.text.count("not writable") == 1
    assert caplog.text.count("writable again") == 1
    assert caplog.text.count(f"{25 - kept} oldest point(s) were dropped") == 1


async def test_5xx_is_retried_with_backoff_and_nothing_is_lost(line_server, caplog):
    line_server.answers = [(503, "shutting down"), (500, "internal error")]
    sink = InfluxSink(v2_config(line_server.url, batch_size=4, flush_interval=0.1), FAST_RETRIES)
    caplog.set_level(logging.INFO, "batmond.influxdb")
    await sink.start()
    for number in range(10):
        sink.publish(reading(number))
    await wait_until(lambda: sink.written == 10, what="every point written")
    await sink.stop()
    assert line_server.cycles(first=2) == list(range(10))
    assert line_server.received[0].lines == line_server.received[2].lines  # the same batch, again
    assert caplog.text.count("not writable (HTTP 503: shutting down)") == 1
    assert caplog.text.count("writable again") == 1


async def test_a_refused_batch_is_logged_once_with_the_servers_words_and_dropped(line_server, caplog):
    conflict = 'partial write: field type conflict: input field "soc" is type float, already exists as type integer'
    line_server.answers = [(400, conflict), (400, conflict)]
    sink = InfluxSink(v2_config(line_server.url, batch_size=2, flush_interval=0.1), FAST_RETRIES)
    caplog.set_level(logging.INFO, "batmond.influxdb")
    await sink.start()
    for number in range(6):
        sink.publish(reading(number))
    await wait_until(lambda: sink.written + sink.rejected == 6, what="every batch answered")
    await sink.stop()
    assert (sink.rejected, sink.written) == (4, 2)
    assert [len(r.lines) for r in line_server.received] == [2, 2, 2]  # no retry of a refused batch
    assert caplog.text.count(f"refused 2 point(s), dropped: HTTP 400: {conflict}") == 1
    assert "not writable" not in caplog.text


def test_backoff_doubles_up_to_its_bound():
    delays = backoff(1.0, 60.0)
    assert [next(delays) for _ in range(9)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


# -- InfluxDB 1.x for real ---------------------------------------------------------------------------------------
@needs_influxd
async def test_no_point_is_lost_while_influxd_is_down(influxd, caplog):
    sink = InfluxSink(v1_config(influxd.url), FAST_RETRIES)
    caplog.set_level(logging.INFO, "batmond.influxdb")
    await sink.start()
    published = 0

    async def publish(count: int) -> None:
        nonlocal published
        for _ in range(count):
            sink.publish(reading(published))
            published += 1
            await asyncio.sleep(0.02)  # one point per wall-clock millisecond at least: each its own timestamp

    await publish(20)
    await wait_until(lambda: sink.written == 20, what="the first points written")
    influxd.stop()
    await publish(20)
    await wait_until(lambda: "not writable" in caplog.text, what="the outage noticed")
    await publish(60)  # over a second more of outage, several backoff rounds
    assert sink.written == 20 and sink.queued == 80
    influxd.start()
    await publish(20)
    await wait_until(lambda: sink.written == published and not sink.queued, timeout=30, what="the backlog written")
    await sink.stop()
    cycles = [row["cycles"] for row in influxd.rows("SELECT cycles FROM battery")]
    assert cycles == list(range(published)) and published == 120  # each point once, in order
    assert (sink.dropped, sink.rejected) == (0, 0)
    assert caplog.text.count("not writable") == 1 and caplog.text.count("writable again") == 1


@needs_influxd
async def test_v1_credentials_and_a_wrong_password(tmp_path, caplog):
    server = Influxd(tmp_path, auth=True)
    server.start()
    try:
        # With auth on and no user yet, InfluxDB lets the first (admin) user be created without a login.
        server.query("CREATE USER admin WITH PASSWORD 'right-pass-1' WITH ALL PRIVILEGES")
        server.query("CREATE DATABASE bms", auth=("admin", "right-pass-1"))
        caplog.set_level(logging.INFO, "batmond.influxdb")
        wrong = InfluxSink(v1_config(server.url, username="admin", password="wrong-pass-2", retention_policy="autogen"))
        right = InfluxSink(v1_config(server.url, username="admin", password="right-pass-1", retention_policy="autogen"))
        for sink in (wrong, right):
            await sink.start()
        for number in range(3):
            for sink in (wrong, right):
                sink.publish(reading(number))
            await asyncio.sleep(0.01)  # InfluxDB keeps one point per series and timestamp (ms)
        await wait_until(lambda: wrong.rejected == 3 and right.written == 3, what="both answered")
        for sink in (wrong, right):
            await sink.stop()
        assert "refused 3 point(s), dropped: HTTP 401: authorization failed (check username/password" in caplog.text
        assert "right-pass" not in caplog.text and "wrong-pass" not in caplog.text
        rows = server.rows("SELECT cycles FROM autogen.battery", auth=("admin", "right-pass-1"))
        assert [row["cycles"] for row in rows] == [0, 1, 2]
    finally:
        server.stop()


@needs_influxd
def test_batmond_run_writes_a_dummy_pack_to_influxd(influxd, tmp_path):
    config = tmp_path / "batmon.toml"
    config.write_text(
        f'[mqtt]\nenabled = false\n[state]\ndir = "{tmp_path}/state"\n'
        "[sampling]\nsample_period = 0.2\nexpire_values_after = 5.0\n"
        f'[influxdb]\nurl = "{influxd.url}"\ndatabase = "bms"\nflush_interval = 0.2\n'
        '[[device]]\naddress = "test-pack"\ntype = "dummy"\nalias = "pack"\n'
    )
    log = tmp_path / "batmond.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "batmond", "run", "--config", str(config)],
                                   stdout=out, stderr=out)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not influxd.query("SELECT count(voltage) FROM battery"):
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()
    rows = influxd.rows("SELECT * FROM battery GROUP BY *")
    assert rows, log.read_text()
    assert {(row["alias"], row["id"], row["type"]) for row in rows} == {("pack", "name_test_pack", "dummy")}
    assert rows[-1]["voltage"] > 0 and rows[-1]["cell01"] > 0 and rows[-1]["diag_frames"] > 0
    assert "writing to InfluxDB" in log.read_text()


# -- config --------------------------------------------------------------------------------------------------------
DEVICE_TOML = '[[device]]\naddress = "C8:47:8C:E4:54:0D"\ntype = "jk"\n'


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('url = "http://x"\n', "c.toml:4: [influxdb] database: InfluxDB 1 needs database"),
        ('url = "ftp://x"\ndatabase = "b"\n', "c.toml:5: [influxdb] url: must look like http://host:8086"),
        ('url = "http://x:port"\ndatabase = "b"\n', "c.toml:5: [influxdb] url: must look like"),
        ('url = "http://u:p@x"\ndatabase = "b"\n', "c.toml:5: [influxdb] url: put credentials in"),
        ('url = "http://[::1"\ndatabase = "b"\n', "c.toml:5: [influxdb] url: must look like"),
        ('token = "t"\nbucket = "b"\n', "c.toml:4: [influxdb] org: InfluxDB 2 needs token, org and bucket"),
        ('token = "t"\norg = "o"\nbucket = "b"\ndatabase = "d"\n', "c.toml:8: [influxdb] database: is an InfluxDB 1"),
        ('database = "d"\npassword = "p"\n', "c.toml:4: [influxdb] username: password is set but username"),
        ('database = "d"\nmax_queue = 10\nbatch_size = 100\n', "c.toml:6: [influxdb] max_queue: must be at least"),
        ('database = "d"\nflush_interval = 0\n', "c.toml:6: [influxdb] flush_interval: must be greater than 0"),
        ('database = "d"\nbatch_size = "10"\n', "c.toml:6: [influxdb] batch_size: must be an integer"),
        ('database = "d"\nbucket_size = 1\n', "c.toml:6: [influxdb] bucket_size: unknown key (did you mean"),
    ],
)
def test_config_errors_name_the_line_and_key(section, message):
    with pytest.raises(ConfigError) as caught:
        parse(DEVICE_TOML + "[influxdb]\n" + section, "c.toml")
    assert str(caught.value).startswith(message), str(caught.value)


def test_config_v1_v2_and_absent():
    assert parse(DEVICE_TOML).influxdb is None
    v1 = parse(DEVICE_TOML + '[influxdb]\ndatabase = "bms"\nusername = "u"\npassword = "secret"\n').influxdb
    assert v1 is not None and not v1.v2 and v1.enabled and "secret" not in repr(v1)
    v2 = parse(DEVICE_TOML + '[influxdb]\ntoken = "tok"\norg = "o"\nbucket = "b"\nurl = "https://h/x/"\n').influxdb
    assert v2 is not None and v2.v2 and "tok" not in repr(v2)
    assert InfluxSink(v2).url == "https://h/x/api/v2/write?org=o&bucket=b&precision=ms"
    rp = replace(v1, retention_policy="week")
    assert InfluxSink(rp).url == "http://localhost:8086/write?db=bms&precision=ms&rp=week"
