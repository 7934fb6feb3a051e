"""Daly D2 (Modbus over BLE) codec against real captures (tests/captures/daly2.py names every source)."""

from __future__ import annotations

import random

import pytest
from captures import daly2 as cap
from helpers import feed_in_pieces

from batmond.protocols import daly2, modbus
from batmond.protocols.base import UnsupportedSwitch
from batmond.protocols.daly2 import Daly2Codec
from batmond.sim.battery import Battery
from batmond.sim.devices.daly2 import SimulatedDaly2

STATUS = [
    ("aiobmsble_4s", cap.AIOBMSBLE_STATUS_4S, cap.AIOBMSBLE_STATUS_4S_EXPECTED),
    ("esphome_8s", cap.ESPHOME_STATUS_8S_NO_ALARMS, cap.ESPHOME_STATUS_8S_EXPECTED),
    ("issue60_24s_1", cap.ISSUE60_STATUS_24S_1, cap.ISSUE60_STATUS_24S_1_EXPECTED),
    ("issue60_24s_2", cap.ISSUE60_STATUS_24S_2, cap.ISSUE60_STATUS_24S_2_EXPECTED),
]
ALL_CAPTURES = [value for name, value in vars(cap).items() if isinstance(value, bytes)]


def test_every_capture_has_a_valid_crc():
    assert ALL_CAPTURES
    for frame in ALL_CAPTURES:
        assert modbus.crc16(frame) == 0, frame.hex()


@pytest.mark.parametrize(("name", "frame", "expected"), STATUS, ids=[s[0] for s in STATUS])
def test_status_decodes_every_field(name, frame, expected):
    codec = Daly2Codec()
    assert codec.feed(frame) == ["status"]
    sample = codec.sample()
    assert sample.voltage == pytest.approx(expected["voltage"])
    assert sample.current == pytest.approx(expected["current"])
    assert sample.power == pytest.approx(expected["voltage"] * expected["current"])
    assert sample.soc == pytest.approx(expected["soc"])
    assert sample.charge == pytest.approx(expected["charge_ah"])
    assert sample.cycles == expected["cycles"]
    assert list(sample.cell_voltages) == pytest.approx(expected["cell_voltages"])
    assert list(sample.temperatures) == pytest.approx(expected["temperatures"])
    assert sample.alarm_code == expected["alarm_code"]
    assert sample.switches == expected["switches"]
    # Not in the real-time block: the rated capacity comes from the settings read, the rest not at all.
    assert sample.capacity is None
    assert (sample.soh, sample.mosfet_temperature, sample.balance_current) == (None, None, None)


def test_charging_current_is_positive_and_discharging_negative():
    codec = Daly2Codec()
    codec.feed(cap.AIOBMSBLE_STATUS_4S)
    assert codec.sample().current == pytest.approx(3.0)  # aiobmsble: battery_charging True
    codec.feed(_status_with(cap.AIOBMSBLE_STATUS_4S, {daly2.D2.current: 30000 - 31}))
    assert codec.sample().current == pytest.approx(-3.1)


def test_rated_capacity_from_the_settings_block_stays_for_every_sample():
    codec = Daly2Codec()
    assert codec.feed(cap.ESPHOME_SETTINGS) == ["settings"]
    for _ in range(2):
        codec.feed(cap.ESPHOME_STATUS_8S_NO_ALARMS)
        assert codec.sample().capacity == pytest.approx(cap.ESPHOME_SETTINGS_EXPECTED["rated_capacity_ah"])


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (cap.AIOBMSBLE_VERSION, cap.AIOBMSBLE_VERSION_EXPECTED),
        (cap.ESPHOME_VERSION_1, cap.ESPHOME_VERSION_1_EXPECTED),
        (cap.ESPHOME_VERSION_2, cap.ESPHOME_VERSION_2_EXPECTED),
    ],
)
def test_version(frame, expected):
    codec = Daly2Codec()
    assert codec.feed(frame) == ["version"]
    assert (codec.info.sw_version, codec.info.hw_version) == (expected["sw_version"], expected["hw_version"])
    assert codec.info.manufacturer == "Daly"
    assert codec.sample() is None


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (cap.AIOBMSBLE_STATUS_4S_PROBLEM_FIRST_BIT, cap.AIOBMSBLE_PROBLEM_CODES["first_bit"]),
        (cap.AIOBMSBLE_STATUS_4S_PROBLEM_LAST_BIT, cap.AIOBMSBLE_PROBLEM_CODES["last_bit"]),
        (cap.ESPHOME_STATUS_8S_WARN_CHARGE_TEMPERATURE, cap.ESPHOME_ALARM_CODES["charge_temperature"]),
        (cap.ESPHOME_STATUS_8S_WARN_CELL_VOLTAGE, cap.ESPHOME_ALARM_CODES["cell_voltage"]),
    ],
)
def test_alarm_bits(frame, code):
    codec = Daly2Codec()
    codec.feed(frame)
    assert codec.sample().alarm_code == code


def test_requests_match_captured_requests():
    codec = Daly2Codec()
    assert [(r.data, r.expect) for r in codec.connect_requests()] == [(cap.ESPHOME_REQUEST_VERSION, "version")]
    # The first poll also asks the MOS block (until the BMS shows it has none) and, once, the settings.
    assert [(r.data, r.expect) for r in codec.poll_requests()] == [
        (cap.AIOBMSBLE_REQUEST_MOS, "mos"),
        (cap.ESPHOME_REQUEST_STATUS, "status"),
        (cap.ESPHOME_REQUEST_SETTINGS, "settings"),
    ]
    assert cap.AIOBMSBLE_REQUEST_STATUS == cap.ESPHOME_REQUEST_STATUS
    assert cap.AIOBMSBLE_REQUEST_VERSION == cap.ESPHOME_REQUEST_VERSION


@pytest.mark.parametrize(("switch", "on"), list(cap.SWITCH_FRAMES), ids=[f"{s}-{o}" for s, o in cap.SWITCH_FRAMES])
def test_switch_frames_are_the_documented_bytes(switch, on):
    codec = Daly2Codec()
    write, reread = codec.switch_requests(switch, on)
    assert write.data == cap.SWITCH_FRAMES[(switch, on)]
    assert write.expect == "write"
    assert (reread.data, reread.expect) == (cap.ESPHOME_REQUEST_STATUS, "status")
    # The BMS answers a write by echoing it.
    assert codec.feed(cap.SWITCH_FRAMES[(switch, on)]) == ["write"]


def test_balancer_is_reported_but_not_switchable():
    codec = Daly2Codec()
    assert "balance" not in codec.writable_switches
    with pytest.raises(UnsupportedSwitch):
        codec.switch_requests("balance", True)


def test_refusals_are_reported_as_errors():
    codec = Daly2Codec()
    assert codec.feed(modbus.exception_response(daly2.SLAVE, modbus.WRITE_SINGLE, 0x02)) == ["write-error"]
    kinds = codec.feed(modbus.exception_response(daly2.SLAVE, modbus.READ_HOLDING, 0x02))
    assert {"status-error", "mos-error", "settings-error", "version-error"} == set(kinds)
    assert codec.sample() is None


def test_random_split_merge_and_junk_never_yield_bogus_frames():
    # Junk includes bytes that look like the start of a status and of a settings answer.
    stream = (
        b"\x00\xd2\x03\x7c\x01"
        + cap.ESPHOME_SETTINGS
        + b"\xd2\x03\x52junk\xd2"
        + cap.AIOBMSBLE_STATUS_4S
        + cap.SWITCH_FRAMES[("charge", False)]
        + b"\xd2\x06"
        + cap.ESPHOME_VERSION_1
    )
    rng = random.Random(5)
    for _ in range(100):
        codec = Daly2Codec()
        kinds = feed_in_pieces(codec, stream, rng, 40)
        assert kinds == ["settings", "status", "write", "version"]
        assert codec.stats.frames == 4
        sample = codec.sample()
        assert sample.voltage == pytest.approx(14.0)
        assert sample.capacity == pytest.approx(105.0)


def test_a_frame_behind_a_false_start_is_delivered_at_once():
    # "d2 03 7c" promises 129 bytes: the 87-byte settings answer behind it must not wait for them.
    codec = Daly2Codec()
    assert codec.feed(b"\xd2\x03\x7c" + cap.ESPHOME_SETTINGS) == ["settings"]
    assert codec.stats.junk_bytes == 3


def test_bad_crc_is_dropped_and_counted():
    corrupt = bytearray(cap.ESPHOME_STATUS_8S_NO_ALARMS)
    corrupt[40] ^= 0x01
    codec = Daly2Codec()
    assert codec.feed(bytes(corrupt)) == []
    assert codec.stats.bad_checksum >= 1
    assert codec.sample() is None
    # The stream goes on: the next good frame is decoded.
    assert codec.feed(cap.ESPHOME_STATUS_8S_NO_ALARMS) == ["status"]


def test_impossible_counts_are_dropped_not_decoded():
    codec = Daly2Codec()
    assert codec.feed(_status_with(cap.ESPHOME_STATUS_8S_NO_ALARMS, {daly2.D2.cell_count: 33})) == []
    assert codec.feed(_status_with(cap.ESPHOME_STATUS_8S_NO_ALARMS, {daly2.D2.temperature_count: 9})) == []
    assert codec.stats.bad_checksum == 2
    assert codec.sample() is None


def test_random_bytes_never_raise():
    rng = random.Random(11)
    codec = Daly2Codec()
    for _ in range(300):
        codec.feed(bytes(rng.choice((0xD2, 0x03, 0x06, 0x7C, 0x52, 0x40, 0x83, rng.randrange(256))) for _ in range(30)))
    assert codec.feed(cap.AIOBMSBLE_STATUS_4S)[-1] == "status"


def test_simulator_answers_the_codec_and_switches():
    sim = SimulatedDaly2("sim", "00:00:00:00:00:01", Battery(cells=16, capacity_ah=280.0, soc=60.0))
    codec = Daly2Codec()
    for request in codec.connect_requests() + codec.poll_requests():
        (answer,) = sim.answer(request.data)
        assert codec.feed(answer) == [request.expect]
    sample = codec.sample()
    assert len(sample.cell_voltages) == 16
    assert sample.capacity == pytest.approx(280.0)
    assert sample.mosfet_temperature == pytest.approx(sim.battery.mosfet_temperature, abs=0.5)
    assert sample.voltage == pytest.approx(sim.battery.voltage, abs=0.1)
    assert codec.info.sw_version and codec.info.hw_version
    write, reread = codec.switch_requests("discharge", False)
    assert sim.answer(write.data) == [write.data]
    assert sim.battery.discharge_enabled is False
    codec.feed(sim.answer(reread.data)[0])
    assert codec.sample().switches["discharge"] is False
    # Like the firmware: nothing for reads outside its registers or for unknown writes.
    assert sim.answer(modbus.read_request(daly2.SLAVE, 0x0200, 4)) == []
    assert sim.answer(modbus.write_request(daly2.SLAVE, 0x00A5, 7)) == []


def test_80_register_status_decodes_the_mosfet_temperature_and_balance_current():
    expected = cap.ESPHOME_STATUS_80REG_2_EXPECTED
    codec = Daly2Codec()
    assert codec.feed(cap.ESPHOME_STATUS_80REG_2) == ["status"]
    sample = codec.sample()
    assert sample.voltage == pytest.approx(expected["voltage"])
    assert sample.current == pytest.approx(expected["current"])
    assert sample.soc == pytest.approx(expected["soc"])
    assert sample.charge == pytest.approx(expected["charge_ah"])
    assert sample.cycles == expected["cycles"]
    assert list(sample.cell_voltages) == pytest.approx(expected["cell_voltages"])
    assert list(sample.temperatures) == pytest.approx(expected["temperatures"])
    assert sample.switches == expected["switches"]
    assert sample.alarm_code == expected["alarm_code"]
    assert sample.mosfet_temperature == pytest.approx(expected["mosfet_temperature"])
    assert sample.balance_current == pytest.approx(expected["balance_current"])
    codec.feed(cap.ESPHOME_STATUS_80REG_1)
    assert codec.sample().current == pytest.approx(cap.ESPHOME_STATUS_80REG_1_CURRENT)


def test_the_mos_block_adds_the_mosfet_temperature_to_the_62_register_status():
    codec = Daly2Codec()
    codec.poll_requests()
    assert codec.feed(cap.AIOBMSBLE_MOS) == ["mos"]
    assert codec.feed(cap.AIOBMSBLE_STATUS_4S) == ["status"]
    sample = codec.sample()
    assert sample.mosfet_temperature == pytest.approx(cap.AIOBMSBLE_MOS_EXPECTED["mosfet_temperature"])
    assert sample.balance_current == pytest.approx(cap.AIOBMSBLE_MOS_EXPECTED["balance_current"])
    assert sample.temperatures == (20.0, 21.0, 22.0, 23.0)  # the MOSFET sensor is not one of the cell probes
    assert "mos" in [r.expect for r in codec.poll_requests()]


@pytest.mark.parametrize("raw", [0x0000, 0xFFFF])
def test_a_mos_block_without_a_sensor_is_not_asked_again(raw):
    data = bytearray(cap.AIOBMSBLE_MOS[3:-2])
    data[8:10] = raw.to_bytes(2, "big")  # register 0x42
    codec = Daly2Codec()
    codec.poll_requests()
    assert codec.feed(modbus.read_response(daly2.SLAVE, bytes(data))) == ["mos"]
    codec.feed(cap.AIOBMSBLE_STATUS_4S)
    assert codec.sample().mosfet_temperature is None
    assert "mos" not in [r.expect for r in codec.poll_requests()]


def test_firmware_that_ignores_or_refuses_the_mos_block_is_polled_without_it():
    silent = Daly2Codec()
    silent.feed(cap.AIOBMSBLE_VERSION)
    silent.poll_requests()
    silent.reset()  # the poll timed out waiting for the MOS answer
    assert [r.expect for r in silent.poll_requests()] == ["status", "settings"]
    refusing = Daly2Codec()
    refusing.poll_requests()
    # A refusal of the MOS read answers it (no error that would end the connection) and turns it off.
    assert refusing.feed(modbus.exception_response(daly2.SLAVE, modbus.READ_HOLDING, 0x02)) == ["mos"]
    assert "mos" not in [r.expect for r in refusing.poll_requests()]


def test_settings_are_read_once_and_given_up_on_when_unanswered():
    codec = Daly2Codec()
    codec.feed(cap.AIOBMSBLE_VERSION)
    assert "settings" in [r.expect for r in codec.poll_requests()]
    codec.feed(cap.AIOBMSBLE_MOS + cap.AIOBMSBLE_STATUS_4S)
    codec.reset()  # the status came, the settings did not: not asked again on this connection
    assert [r.expect for r in codec.poll_requests()] == ["mos", "status"]


def test_p81_firmware_decodes_from_its_two_real_time_reads():
    codec = Daly2Codec()
    assert codec.feed(cap.P81_CELLS) == ["cells"]  # the 133-byte answer
    assert codec.sample() is None  # half of the real-time data
    assert codec.feed(cap.P81_STATUS) == ["status"]
    sample = codec.sample()
    expected = cap.P81_EXPECTED
    assert sample.voltage == pytest.approx(expected["voltage"])
    assert sample.current == pytest.approx(expected["current"])
    assert sample.soc == pytest.approx(expected["soc"])
    assert sample.charge == pytest.approx(expected["charge_ah"])
    assert sample.cycles == expected["cycles"]
    assert list(sample.cell_voltages) == pytest.approx(expected["cell_voltages"])
    assert list(sample.temperatures) == pytest.approx(expected["temperatures"])
    assert sample.switches == expected["switches"]
    assert sample.mosfet_temperature == pytest.approx(expected["mosfet_temperature"])
    # Not decoded (README says why): the alarm registers' encoding, the balance current.
    assert (sample.alarm_code, sample.balance_current) == (None, None)
    assert codec.feed(cap.P81_VERSION) == ["version"]
    assert (codec.info.sw_version, codec.info.hw_version, codec.info.serial) == (
        cap.P81_VERSION_EXPECTED["sw_version"],
        cap.P81_VERSION_EXPECTED["hw_version"],
        cap.P81_SERIAL,
    )
    # A status answer without the cells answer before it is not paired with stale cells.
    assert codec.feed(cap.P81_STATUS) == []


def test_the_firmware_family_is_found_by_who_answers():
    codec = Daly2Codec()
    assert codec.connect_requests()[0].data == cap.ESPHOME_REQUEST_VERSION  # D2 is asked first
    codec.poll_requests()
    codec.reset()  # nothing answered: the next poll speaks 0x81
    assert [r.data for r in codec.poll_requests()] == [
        cap.P81_REQUEST_CELLS,
        cap.P81_REQUEST_STATUS,
        cap.P81_REQUEST_SETTINGS,
        cap.P81_REQUEST_VERSION,
    ]
    codec.feed(cap.P81_CELLS)
    codec.reset()  # a p81 BMS that answered once is not switched away from by a lost answer
    assert codec.poll_requests()[0].data == cap.P81_REQUEST_CELLS
    with pytest.raises(UnsupportedSwitch):
        codec.switch_requests("charge", False)
    # An answer from the D2 slave settles it the other way.
    codec.feed(cap.AIOBMSBLE_STATUS_4S)
    assert codec.poll_requests()[1].data == cap.ESPHOME_REQUEST_STATUS


def _status_with(frame: bytes, registers: dict[int, int]) -> bytes:
    data = bytearray(frame[3:-2])
    for register, value in registers.items():
        data[2 * register : 2 * register + 2] = value.to_bytes(2, "big")
    return modbus.read_response(daly2.SLAVE, bytes(data))


def test_a_p81_bms_is_found_and_read_through_the_simulated_firmware():
    sim = SimulatedDaly2("sim", "00:00:00:00:00:02", Battery(cells=16, capacity_ah=280.0, soc=60.0), "p81")
    codec = Daly2Codec()
    (connect,) = codec.connect_requests()
    assert sim.answer(connect.data) == []  # a D2 read: the p81 firmware stays silent
    assert all(sim.answer(r.data) == [] for r in codec.poll_requests())
    codec.reset()  # the poller's timeout: the next poll asks the 0x81 way
    for request in codec.poll_requests():
        (answer,) = sim.answer(request.data)
        assert answer[0] == daly2.P81_ANSWER
        assert codec.feed(answer) == [request.expect]
    sample = codec.sample()
    b = sim.battery
    assert len(sample.cell_voltages) == 16
    assert sample.voltage == pytest.approx(b.voltage, abs=0.1)
    assert sample.current == pytest.approx(b.current, abs=0.1)
    assert sample.capacity == pytest.approx(280.0)
    assert sample.mosfet_temperature == pytest.approx(b.mosfet_temperature, abs=0.5)
    assert codec.info.sw_version.endswith("P81")


def test_aiobmsble_p81_capture():
    codec = Daly2Codec()
    assert codec.feed(cap.AIOBMSBLE_P81_CELLS + cap.AIOBMSBLE_P81_STATUS) == ["cells", "status"]
    sample = codec.sample()
    expected = cap.AIOBMSBLE_P81_EXPECTED
    assert sample.voltage == pytest.approx(expected["voltage"])
    assert sample.current == pytest.approx(expected["current"])
    assert sample.soc == pytest.approx(expected["soc"])
    assert sample.charge == pytest.approx(expected["charge_ah"])
    assert sample.cycles == expected["cycles"]
    assert list(sample.cell_voltages) == pytest.approx(expected["cell_voltages"])
    assert list(sample.temperatures) == expected["temperatures"]  # 0xFF: no sensor, dropped by the limits
    assert sample.mosfet_temperature == pytest.approx(expected["mosfet_temperature"])
    assert sample.balance_current == pytest.approx(expected["balance_current"])
    assert sample.switches == expected["switches"]
    assert codec.feed(cap.AIOBMSBLE_P81_VERSION) == ["version"]
    info = cap.AIOBMSBLE_P81_VERSION_EXPECTED
    assert (codec.info.sw_version, codec.info.hw_version, codec.info.serial) == (
        info["sw_version"],
        info["hw_version"],
        info["serial"],
    )
