"""The `dummy` BMS (codec + in-process link) and the `snoop` codec's options and probes."""

from __future__ import annotations

import asyncio
import random

import pytest
from helpers import feed_in_pieces

from batmond.config import ConfigError, DeviceConfig, parse
from batmond.protocols import codec_for, jbd, jk
from batmond.protocols.dummy import DummyCodec, request
from batmond.protocols.snoop import SnoopCodec
from batmond.protocols.victron import VictronCodec
from batmond.transports.dummy import DummyBms


async def exchange(codec: DummyCodec, bms: DummyBms, data: bytes) -> list[str]:
    link = await bms.connect("dummy test")
    received: list[bytes] = []
    link.on_data = received.append
    await link.write(data)
    for _ in range(100):  # the answer arrives on the loop, piece by piece
        await asyncio.sleep(0)
    assert all(len(piece) <= 20 for piece in received)
    return [kind for piece in received for kind in codec.feed(piece)]


async def test_the_dummy_answers_info_and_status_with_moving_plausible_values() -> None:
    bms, codec = DummyBms("dummy"), DummyCodec()
    assert await exchange(codec, bms, codec.connect_requests()[0].data) == ["info"]
    assert codec.info.model and codec.info.serial.startswith("DUMMY-")
    assert await exchange(codec, bms, codec.poll_requests()[0].data) == ["status"]
    sample = codec.sample()
    assert sample is not None and codec.sample() is None  # one sample per answer
    assert len(sample.cell_voltages) == 16 and all(2.5 < v < 3.7 for v in sample.cell_voltages)
    assert sample.voltage == pytest.approx(sum(sample.cell_voltages), abs=0.01)
    assert 0 <= sample.soc <= 100 and sample.capacity == 280
    assert sample.current == pytest.approx(bms.battery.current, abs=0.001)
    assert sample.switches == {"charge": True, "discharge": True, "balance": True}
    assert codec.stats.bad_checksum == 0


async def test_the_dummy_switches_and_reports_back() -> None:
    bms, codec = DummyBms("dummy"), DummyCodec()
    (switch,) = codec.switch_requests("discharge", False)
    assert await exchange(codec, bms, switch.data) == [switch.expect]
    assert codec.sample().switches["discharge"] is False
    assert bms.battery.discharge_enabled is False
    with pytest.raises(ValueError, match="cannot switch"):
        codec.switch_requests("float_charge", True)


async def test_unknown_requests_get_no_answer() -> None:
    assert await exchange(DummyCodec(), DummyBms("dummy"), b'{"get":"nothing"}\nnot json\n') == []


def test_the_framer_survives_splits_junk_and_corruption() -> None:
    bms = DummyBms("framer")
    good = request({"status": bms.status()})
    corrupt = good.replace(b'"voltage":', b'"voltage":"x"')  # still JSON, wrong type
    stream = b"AT\r\n" + good + b"\x00\x55" + good[:30] + b"\n" + corrupt + good
    codec = DummyCodec()
    rng = random.Random(7)
    kinds = feed_in_pieces(codec, stream, rng, 40)
    assert kinds == ["status", "status"]
    assert codec.stats.bad_checksum == 2  # the truncated line and the corrupt one
    assert codec.stats.junk_bytes >= 4
    assert codec.sample().voltage == pytest.approx(bms.status()["voltage"], abs=0.1)


def test_a_line_without_end_is_dropped_not_kept_forever() -> None:
    codec = DummyCodec()
    assert codec.feed(b"{" + b"1" * 5000) == []
    assert codec.stats.junk_bytes == 5001


def test_dummy_needs_no_radio_and_any_address() -> None:
    config = parse('[[device]]\naddress = "my test pack"\ntype = "dummy"\n')
    (device,) = config.devices
    assert codec_for(device.type).in_process and codec_for(device.type).ble is None
    assert device.alias == "my_test_pack"


def test_snoop_probes_are_each_listed_types_requests() -> None:
    device = DeviceConfig(address="AA:BB:CC:DD:EE:FF", type="snoop:jk,jbd", alias="x")
    codec = SnoopCodec.for_device(device)
    probes = [r.data for r in codec.connect_requests()]
    assert probes == [
        jk.command(jk.CMD_DEVICE_INFO),
        jk.command(jk.CMD_CELL_INFO),  # once, though JK sends it at start-up and when polling
        jbd.request(jbd.MODEL),
        jbd.request(jbd.BASIC_INFO),
        jbd.request(jbd.CELL_VOLTAGES),
    ]
    assert all(r.expect is None for r in codec.connect_requests())  # nothing is waited for
    assert codec.poll_requests() == [] and codec.sample() is None and codec.feed(probes[0]) == []
    plain = SnoopCodec.for_device(DeviceConfig(address="AA:BB:CC:DD:EE:FF", type="snoop", alias="x"))
    assert plain.connect_requests() == []


def test_snoop_types_are_checked_in_the_config() -> None:
    config = parse('[[device]]\naddress = "AA:BB:CC:DD:EE:FF"\ntype = "snoop:jk,jbd"\n')
    assert codec_for(config.devices[0].type) is SnoopCodec
    for bad, reason in (("snoop:jk,nope", "cannot probe 'nope'"), ("snoop:", "list the types"),
                        ("snoop:victron", "cannot probe 'victron'"), ("jk:24s", "takes no options")):  # fmt: skip
        with pytest.raises(ConfigError, match=reason) as error:
            parse(f'[[device]]\naddress = "AA:BB:CC:DD:EE:FF"\ntype = "{bad}"\n', "t.toml")
        assert str(error.value).startswith("t.toml:3: [[device]] #1 type:")
    assert VictronCodec.ble.values  # a GATT value device has no frames to probe with
