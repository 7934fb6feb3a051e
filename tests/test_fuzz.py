"""Property-based fuzzing of everything that parses outside input: codecs, the stream framer, the config loader
and the MQTT command path.

Generic on purpose: every codec :func:`batmond.protocols.codec_types` finds is fuzzed, and its real captures are
found by feeding every capture in tests/captures to it, so a protocol added later is covered without touching
this file. Hypothesis runs derandomized without an example database, so CI sees the same inputs every run.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import pkgutil
import re
import zlib
from dataclasses import fields
from importlib import import_module
from pathlib import Path

import captures
import pytest
from captures import jbd as jbd_captures
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import batmond
from batmond.config import SECTIONS, ConfigError, DeviceConfig, parse
from batmond.daemon import Daemon
from batmond.limits import plausible
from batmond.protocols import codec_types, dummy, jbd
from batmond.protocols.base import Codec, StreamFramer
from batmond.sample import Sample
from batmond.sinks.mqtt import MqttSink

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ_CHEAP = settings(FUZZ, max_examples=1000)  # for properties whose examples take well under a millisecond

# -- physical bounds ---------------------------------------------------------------------------------------

MAX_CELLS = 64


def out_of_bounds(sample: Sample) -> list[str]:
    """Every value of ``sample`` that no battery this daemon reads can have (empty when all are plausible)."""
    problems = []

    def check(name: str, value: float | None, low: float, high: float) -> None:
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            problems.append(f"{name}={value!r} not in [{low}, {high}]")

    check("voltage", sample.voltage, 0, 1000)
    check("current", sample.current, -2000, 2000)
    check("soc", sample.soc, 0, 100)
    check("soh", sample.soh, 0, 150)  # a new pack may hold more than its rating: LiTime reports 104 %
    check("charge", sample.charge, 0, 99_999.999)
    check("capacity", sample.capacity, 0, 99_999.999)
    check("cycles", sample.cycles, 0, math.inf)
    check("mosfet_temperature", sample.mosfet_temperature, -60, 150)
    if len(sample.cell_voltages) > MAX_CELLS:
        problems.append(f"{len(sample.cell_voltages)} cells")
    for i, cell in enumerate(sample.cell_voltages, 1):
        check(f"cell {i}", cell, 0, 5)
    for i, temperature in enumerate(sample.temperatures, 1):
        check(f"temperature {i}", temperature, -60, 150)
    if sample.power is not None and not math.isfinite(sample.power):
        problems.append(f"power={sample.power!r}")
    return problems


# -- codecs -------------------------------------------------------------------------------------------------

CODECS = codec_types()


def _capture_bytes(value: object) -> list[bytes]:
    """Byte strings in a capture module's constant: bytes, lists of notifications (joined), dicts of either."""
    if isinstance(value, bytes):
        return [value]
    if isinstance(value, list | tuple) and value and all(isinstance(v, bytes) for v in value):
        return [b"".join(value)]
    if isinstance(value, dict):
        return [b for v in value.values() for b in _capture_bytes(v)]
    return []


def _all_captures() -> list[bytes]:
    found: dict[bytes, None] = {}
    for module in pkgutil.iter_modules(captures.__path__):
        loaded = import_module(f"captures.{module.name}")
        for name, value in vars(loaded).items():
            if name.isupper():
                found.update(dict.fromkeys(b for b in _capture_bytes(value) if b))
    return list(found)


def _fresh(type_name: str) -> Codec:
    codec = CODECS[type_name]()
    codec.connect_requests()
    return codec


def _accepted(type_name: str, frame: bytes) -> bool:
    try:
        return any(not kind.endswith("-error") for kind in _fresh(type_name).feed(frame))
    except Exception as exc:  # reported by a test below rather than breaking collection
        FOREIGN_FRAME_ERRORS.append(f"{type_name} on {frame.hex()}: {exc!r}")
        return False


FOREIGN_FRAME_ERRORS: list[str] = []
ALL_CAPTURES = _all_captures()
# A codec's captures are the ones it decodes: no naming convention to keep in step with new protocols.
CAPTURES = {name: [c for c in ALL_CAPTURES if _accepted(name, c)] for name in CODECS}
WITH_CAPTURES = [name for name, found in CAPTURES.items() if found]


def test_captures_are_found_and_no_codec_chokes_on_another_protocols_frames():
    assert {"jk", "jbd"} <= set(WITH_CAPTURES)
    assert all(len(CAPTURES[name]) >= 3 for name in ("jk", "jbd"))
    assert not FOREIGN_FRAME_ERRORS


def _drive(codec: Codec, chunks: list[bytes], value_chars: tuple[str, ...] = ()) -> list[Sample]:
    """Feed ``chunks`` the way the poller does and return every sample the codec assembled."""
    samples = []
    for i, chunk in enumerate(chunks):
        codec.feed(chunk)
        if value_chars:
            codec.feed_value(value_chars[i % len(value_chars)], chunk[: 1 + i % 5])  # 2 and 4 bytes are valid
        if i % 3 == 2:  # the poller asks for a sample after each poll, whatever arrived
            if (sample := codec.sample()) is not None:
                samples.append(sample)
            codec.poll_requests()
    if (sample := codec.sample()) is not None:
        samples.append(sample)
    codec.poll_requests()
    return samples


def _split(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, start = [], 0
    for size in sizes:
        if start >= len(data):
            break
        chunks.append(data[start : start + size])
        start += size
    if start < len(data):
        chunks.append(data[start:])
    return chunks


chunk_sizes = st.lists(st.integers(1, 64), max_size=40)


@pytest.mark.parametrize("type_name", CODECS)
@FUZZ
@given(data=st.binary(max_size=2048), sizes=chunk_sizes)
def test_random_bytes_never_raise(type_name, data, sizes):
    codec = _fresh(type_name)
    values = codec.ble.values if codec.ble else ()
    for sample in _drive(codec, _split(data, sizes), values):
        assert not out_of_bounds(sample)
    codec.reset()


@st.composite
def mutated(draw: st.DrawFn, frame: bytes) -> bytes:
    """A frame with a few bytes flipped, inserted or deleted: what a noisy wire or a lost notification leaves."""
    data = bytearray(frame)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and data:
            del data[at : at + draw(st.integers(1, 4))]
        elif op == "cut":  # a lost notification: 20 bytes gone
            del data[at : at + 20]
    return bytes(data)


@st.composite
def noisy_stream(draw: st.DrawFn, frames: list[bytes]) -> list[bytes]:
    """Several captures (so multi-frame samples complete), each possibly mutated, junk between, split anyhow."""
    stream = b""
    for _ in range(draw(st.integers(1, 8))):
        frame = draw(st.sampled_from(frames))
        stream += draw(st.binary(max_size=24)) + draw(st.one_of(st.just(frame), mutated(frame)))
    return _split(stream, draw(chunk_sizes))


@pytest.mark.parametrize("type_name", WITH_CAPTURES)
@FUZZ
@given(data=st.data())
def test_mutated_captures_never_raise_nor_yield_impossible_values(type_name, data):
    chunks = data.draw(noisy_stream(CAPTURES[type_name]))
    for sample in _drive(_fresh(type_name), chunks):
        assert not out_of_bounds(sample), [chunk.hex() for chunk in chunks]


@pytest.mark.parametrize("type_name", WITH_CAPTURES)
def test_captures_split_anywhere_decode_like_whole_frames(type_name):
    for index, frame in enumerate(CAPTURES[type_name]):
        # The captures before this one give multi-frame protocols what they need for a sample.
        primed = _fresh(type_name)
        for earlier in CAPTURES[type_name][:index]:
            primed.feed(earlier)
        whole = copy.deepcopy(primed)
        kinds = whole.feed(frame)
        expected = (kinds, whole.sample(), whole.info, whole.stats.frames)
        for cut in range(1, len(frame)):
            split = copy.deepcopy(primed)
            got = split.feed(frame[:cut]) + split.feed(frame[cut:])
            assert (got, split.sample(), split.info, split.stats.frames) == expected, (frame.hex(), cut)


# -- the physical limits every codec's sample() passes ------------------------------------------------------


def test_a_frame_that_passes_its_checksum_by_chance_yields_no_impossible_sample():
    payload = bytearray(jbd_captures.JBD_BASIC_INFO[4:-3])
    payload[19] = 180  # SoC 180 %: what a corrupted frame whose sum still matches can carry
    codec = _fresh("jbd")
    assert codec.feed(jbd.response(jbd.BASIC_INFO, bytes(payload))) == ["basic"]
    assert codec.sample() is None
    assert codec.stats.bad_checksum == 1


def test_an_unplugged_sensor_loses_its_reading_not_the_sample():
    sample = Sample(voltage=13.3, soc=50.0, soh=255.0, temperatures=(21.5, -273.1, 22.0), mosfet_temperature=999.0)
    assert plausible(sample) == Sample(voltage=13.3, soc=50.0, temperatures=(21.5, 22.0))
    assert plausible(Sample(voltage=13.3, cell_voltages=(3.3, 65.5))) is None
    assert plausible(Sample(voltage=math.nan)) is None


# -- StreamFramer with a synthetic protocol -----------------------------------------------------------------

HEADER = b"\xa5\x5a"
MAX_PAYLOAD = 200


def synthetic_frame(payload: bytes) -> bytes:
    body = HEADER + bytes([len(payload)]) + payload
    return body + zlib.crc32(body).to_bytes(4, "little")


def synthetic_length(head: bytes) -> int | None:
    if len(head) < 3:
        return None
    return head[2] + 7 if head[2] <= MAX_PAYLOAD else 0


def synthetic_valid(frame: bytes) -> bool:
    return zlib.crc32(frame[:-4]) == int.from_bytes(frame[-4:], "little")


def synthetic_framer() -> StreamFramer:
    return StreamFramer(HEADER, synthetic_length, synthetic_valid)


payloads = st.lists(st.binary(max_size=40), min_size=1, max_size=6)
# Junk rich in header pieces and length bytes, the hard case for resynchronisation.
junk = st.lists(st.one_of(st.binary(max_size=6), st.sampled_from([HEADER, HEADER[:1], HEADER + b"\x05", b"\xff"])),
                max_size=6).map(b"".join)  # fmt: skip


@FUZZ
@given(payloads=payloads, junks=st.lists(junk, min_size=7, max_size=7), sizes=chunk_sizes)
def test_framer_finds_every_frame_again_after_junk(payloads, junks, sizes):
    frames = [synthetic_frame(p) for p in payloads]
    stream = b"".join(j + f for j, f in zip(junks, frames, strict=False)) + junks[-1]
    framer = synthetic_framer()
    emitted = [frame for chunk in _split(stream, sizes) for frame in framer.feed(chunk)]
    # Junk may open a candidate longer than what follows; the next notifications settle it.
    emitted += framer.feed(bytes(MAX_PAYLOAD + 7))
    found = iter(emitted)
    assert all(any(e == frame for e in found) for frame in frames)  # every frame, in order
    assert all(synthetic_valid(e) for e in emitted)


@FUZZ
@given(payloads=payloads, junks=st.lists(st.binary(max_size=30).filter(lambda j: HEADER[:1] not in j), min_size=7,
                                         max_size=7), sizes=chunk_sizes)  # fmt: skip
def test_framer_delivers_a_frame_as_soon_as_it_is_complete_when_junk_has_no_header(payloads, junks, sizes):
    frames = [synthetic_frame(p) for p in payloads]
    framer = synthetic_framer()
    for j, frame in zip(junks, frames, strict=False):
        emitted = [e for chunk in _split(j + frame, sizes) for e in framer.feed(chunk)]
        assert emitted == [frame]


def sum8_length(head: bytes) -> int | None:
    return None if len(head) < 4 else int.from_bytes(head[2:4], "little") + 5


def sum8_valid(frame: bytes) -> bool:
    return sum(frame[:-1]) & 0xFF == frame[-1]


# A 300-byte frame longer than max_buffer: once emitted when it came whole, never when it came in pieces.
LONG_FRAME = b"\x55\x00\x27\x01" + bytes(295) + b"\x7d"


@FUZZ
@given(data=st.binary(max_size=3000), sizes=chunk_sizes)
@example(data=LONG_FRAME, sizes=[20] * 15)
def test_framer_never_emits_a_frame_that_fails_its_checksum_and_stays_bounded(data, sizes):
    # A weak 8-bit sum and a 16-bit length: random input makes frames that pass and lengths far beyond the buffer.
    framer = StreamFramer(b"\x55", sum8_length, sum8_valid, max_buffer=256)
    emitted = []
    for chunk in _split(data, sizes):
        emitted += framer.feed(chunk)
        assert len(framer._buffer) <= framer.max_buffer
    assert all(f[:1] == b"\x55" and sum8_valid(f) and sum8_length(f) == len(f) for f in emitted)
    assert framer.stats.frames == len(emitted)
    whole = StreamFramer(b"\x55", sum8_length, sum8_valid, max_buffer=256)
    assert whole.feed(data) == emitted  # however the stream was cut
    framer.reset()
    assert framer.feed(b"") == []


# -- config loader ------------------------------------------------------------------------------------------

CONFIG_PATH = "/etc/batmon.toml"
EXAMPLE = (Path(batmond.__file__).parent / "batmon.example.toml").read_text()
KEYS = sorted({f.name for cls in (*SECTIONS.values(), DeviceConfig) for f in fields(cls)})


def quoted(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, as long as no surrogate pair is needed)."""
    return json.dumps(text, ensure_ascii=False)


# Quoted keys may hold any character, newlines and escape sequences included.
toml_key = st.one_of(st.sampled_from(["device", *SECTIONS]), st.sampled_from(KEYS), st.text(max_size=8).map(quoted))
toml_scalar = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.integers(0, 5000).map(lambda digits: "1" + "0" * digits),
    st.floats().map(repr),
    st.text(max_size=20).map(quoted),
    st.sampled_from(["true", "false", "nan", "-inf", "1979-05-27", "07:32:00", "1979-05-27T07:32:00Z", "'literal'",
                     '"""a\nb"""', '"C8:47:8C:E4:54:0D"', '"serial"', '"jk"', '"dummy"', '"snoop:jk,jbd"', ""]),
)  # fmt: skip
TOML_VALUES = st.recursive(
    toml_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
        st.lists(st.tuples(toml_key, inner), max_size=3).map(
            lambda pairs: "{" + ", ".join(f"{k} = {v}" for k, v in pairs) + "}"
        ),
    ),
    max_leaves=5,
)
NUMBER_EDGES = st.sampled_from(["nan", "+nan", "inf", "-inf", "-0.0", "0", "-1", "1e400", "5e-324", "65536"])
TOML_TOKENS = st.sampled_from(
    ["[", "]", "[[", "]]", "[mqtt]", "[[device]]", "[sampling]", "[bluetooth]", "[state]", "[log]", "device",
     "=", " = ", "\n", '"', "'", "#", ".", ",", "{", "}", "\\", "\\u", "\x00", " ", *KEYS]
)  # fmt: skip
toml_ish = st.lists(st.one_of(TOML_TOKENS, TOML_VALUES, st.text(max_size=5)), max_size=40).map("".join)
toml_table = st.one_of(st.sampled_from([*SECTIONS, "device"]), toml_key).flatmap(
    lambda name: st.sampled_from([f"[{name}]", f"[[{name}]]"])
)
toml_line = st.builds(lambda key, value: f"{key} = {value}", toml_key, TOML_VALUES)
toml_document = st.lists(st.one_of(toml_line, toml_line, toml_table), max_size=14).map("\n".join)


@st.composite
def mutated_example(draw: st.DrawFn) -> str:
    lines = EXAMPLE.splitlines()
    for _ in range(draw(st.integers(1, 3))):  # more mutations leave nothing but syntax errors
        op = draw(st.sampled_from(["delete", "rename", "retype", "uncomment", "duplicate", "insert"]))
        # Keys, values and commented-out settings, not the prose around them.
        settings_at = [i for i, line in enumerate(lines) if re.match(r"^#?\s*\w+\s*=", line)]
        if op in ("rename", "retype", "uncomment") and settings_at:
            at = draw(st.sampled_from(settings_at))
        else:
            at = draw(st.integers(0, len(lines) - 1))
        line = lines[at]
        key, eq, value = line.lstrip("# ").partition("=")
        if op == "delete":
            del lines[at]
        elif op == "rename" and eq:
            lines[at] = draw(st.one_of(toml_key, st.text(max_size=8))) + " =" + value
        elif op == "retype" and eq:
            lines[at] = key + "= " + draw(st.one_of(TOML_VALUES, NUMBER_EDGES))
        elif op == "uncomment":
            lines[at] = line.lstrip("# ")
        elif op == "duplicate":
            lines.insert(at, line)
        elif op == "insert":
            lines.insert(at, draw(st.one_of(toml_line, toml_table, toml_ish)))
    return "\n".join(lines) + "\n"


def assert_config_or_one_line_error(text: str) -> None:
    try:
        config = parse(text, CONFIG_PATH)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(CONFIG_PATH + ":"), message
        assert len(message.splitlines()) == 1, message
    else:
        # Whatever it accepted is usable: no nan or infinite period, timeout or calibration slipped through.
        numbers = [getattr(part, f.name) for part in (config.sampling, config.bluetooth, *config.devices)
                   for f in fields(part) if isinstance(getattr(part, f.name), float)]  # fmt: skip
        assert all(math.isfinite(n) for n in numbers), config


def test_the_example_config_parses():
    assert parse(EXAMPLE, CONFIG_PATH).devices


# What the fuzzer found, kept as plain cases: an AttributeError, an OverflowError, multi-line messages, and nan
# accepted as a sample period.
FOUND = [
    ("device = [1, 2]", "device: must be written as [[device]] entries"),
    ('"a\\nb" = 1', "[a\\nb]: unknown section"),
    ('[mqtt]\n"x\\u001b[31m" = 1', "[mqtt] x\\x1b[31m: unknown key"),
    ("[sampling]\nsample_period = nan", "sample_period: must be a finite number, not nan"),
    ("[bluetooth]\nscan_timeout = 1" + "0" * 400, "scan_timeout: must be a finite number"),
    ("[[device]]\naddress = 'x'\ntype = 'jk'\ncurrent_calibration = -inf", "must be a finite number, not -inf"),
]


@pytest.mark.parametrize(("text", "message"), FOUND)
def test_what_the_fuzzer_found_is_a_one_line_config_error(text, message):
    with pytest.raises(ConfigError) as error:
        parse(text, CONFIG_PATH)
    assert message in str(error.value)
    assert_config_or_one_line_error(text)


@FUZZ_CHEAP
@given(text=st.one_of(toml_document, toml_ish, st.text()))
def test_random_config_text_parses_or_fails_in_one_line(text):
    assert_config_or_one_line_error(text)


@settings(FUZZ, max_examples=400)
@given(text=mutated_example())
def test_mutated_example_config_parses_or_fails_in_one_line(text):
    assert_config_or_one_line_error(text)


# -- MQTT switch commands: MqttSink._message -> Daemon.switch ----------------------------------------------

DAEMON_CONFIG = """
[mqtt]
base_topic = "batmond"
[sampling]
sample_period = 3600.0        # one poll at connect, then none: the switch exchanges have the link to themselves
expire_values_after = 7200.0
[[device]]
address = "fuzz-pack"
type = "dummy"
alias = "pack"
"""
SWITCHES = ["charge", "discharge", "balance", "float_charge"]
WHITESPACE = st.text(alphabet=" \t\r\n\x0b\x0c\u00a0\u2003", max_size=3)


def any_case(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda upper: "".join(c.upper() if u else c for c, u in zip(word, upper, strict=True))
    )


on_off = st.builds(
    lambda before, word, after: (before + word + after).encode(),
    WHITESPACE,
    st.sampled_from(["on", "off"]).flatmap(any_case),
    WHITESPACE,
)
payload_bytes = st.one_of(
    on_off,
    on_off,
    st.binary(max_size=64),
    st.text(max_size=30).map(str.encode),
    st.sampled_from([b"", b"\xff\xfeON", b"ON\x00", b"O N", b"1", b"true", b"\xc0\xaf"]),
    st.builds(lambda piece, count: piece * count, st.binary(min_size=1, max_size=4), st.integers(10_000, 300_000)),
)
segment = st.one_of(st.sampled_from(["pack", "other", "switch", "set", "", "+", "#"]), st.text(max_size=12))
command_topic = st.builds(
    lambda alias, switch: f"batmond/{alias}/switch/{switch}/set",
    st.one_of(st.just("pack"), st.just("pack"), segment),
    st.one_of(st.sampled_from(SWITCHES), segment),
)
topics = st.one_of(
    command_topic,
    command_topic,
    command_topic,
    st.lists(segment, max_size=7).map("/".join),
    st.just("homeassistant/status"),
)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def expected_log(alias: str, switch: str, text: str, writable: frozenset[str]) -> str:
    """What Daemon.switch says about one command (the oracle: ON/OFF, any case, surrounding whitespace)."""
    if alias != "pack":
        return "ignored switch command for unknown device"
    if text.strip().casefold() not in ("on", "off"):
        return "payload must be ON or OFF"
    if switch not in writable:
        return "not a switch batmond can write"
    return f"switched {switch} {text.strip().upper()}"


def test_any_mqtt_message_is_either_a_valid_switch_command_or_ignored_with_a_log_line():
    config = parse(DAEMON_CONFIG, "fuzz.toml")
    daemon = Daemon(config)
    commands: list[tuple[str, str, str]] = []
    sink = MqttSink(config.mqtt, config.sampling, on_command=lambda *command: commands.append(command))
    device = config.devices[0]
    records = Records()
    logger = logging.getLogger("batmond")
    old_level = logger.level
    logger.addHandler(records)
    logger.setLevel(logging.INFO)
    loop = asyncio.new_event_loop()
    sink._loop = loop  # as MqttSink.start() sets it, without connecting to a broker
    # Every example writes at once and logs its refusal; the rate limits are tested end to end.
    daemon.commands.interval = daemon.commands.refusal_window = 0.0

    async def connected() -> None:
        daemon._start_devices()  # the dummy pack is answered in process: no radio, no broker
        for _ in range(500):  # bounded: the first sample arrives within a few loop turns
            if daemon.hub.state(device).latest is not None:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the dummy pack never answered")

    async def handle(topic: str, payload: bytes, retain: bool = False) -> None:
        commands.clear()
        records.messages.clear()
        sink._message(topic, payload, retain)
        if retain:
            assert commands == []  # a retained message is never a command, whatever it says
        for alias, switch, text in commands:
            battery = daemon.pollers["pack"]._link.bms.battery  # the simulated pack behind the dummy link
            before = {name: getattr(battery, f"{name}_enabled") for name in dummy.SWITCHES}
            await asyncio.gather(*daemon.command(alias, switch, text))  # until its burst is written and logged
            expected = expected_log(alias, switch, text, daemon.hub.state(device).writable)
            assert any(expected in message for message in records.messages), (expected, records.messages)
            after = {name: getattr(battery, f"{name}_enabled") for name in dummy.SWITCHES}
            if expected.startswith("switched"):
                before[switch] = text.strip().upper() == "ON"
            assert after == before

    @settings(FUZZ, max_examples=400)
    @given(topic=topics, payload=payload_bytes, retain=st.booleans())
    def any_message(topic: str, payload: bytes, retain: bool) -> None:
        loop.run_until_complete(handle(topic, payload, retain))

    # Valid commands are rare among arbitrary messages: these make sure every switch goes both ways many times.
    @settings(FUZZ, max_examples=100)
    @given(switch=st.sampled_from(sorted(dummy.SWITCHES)), payload=on_off)
    def valid_command(switch: str, payload: bytes) -> None:
        loop.run_until_complete(handle(f"batmond/pack/switch/{switch}/set", payload))

    try:
        loop.run_until_complete(connected())
        any_message()
        valid_command()
    finally:
        for task in daemon._tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*daemon._tasks, return_exceptions=True))
        loop.close()
        logger.removeHandler(records)
        logger.setLevel(old_level)
