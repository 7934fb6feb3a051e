"""The meter integrators: trapezoid rule, gaps, missing values, clock jumps, cycles, identity, accuracy."""

from __future__ import annotations

import logging
import math
import time

import pytest

from batmond.config import DeviceConfig
from batmond.hub import Hub
from batmond.meters import MeterBook, MeterValues, SocTravel, Trapezoid, from_state, max_gap_for, record_data
from batmond.protocols.base import FrameStats
from batmond.protocols.jbd import JbdCodec
from batmond.protocols.jk import JkCodec
from batmond.sample import Sample
from batmond.sim.battery import Battery
from batmond.sim.devices.jbd import SimulatedJbd
from batmond.sim.devices.jk import SimulatedJk

GAP = 30.0
MAC = "C8:47:8C:E4:54:0D"


def integrate(points: list[tuple[float, float | None]], max_gap: float = GAP) -> tuple[float, float, list[float]]:
    trapezoid = Trapezoid()
    positive = negative = 0.0
    gaps = []
    for t, y in points:
        p, n, gap = trapezoid.add(t, y, max_gap)
        positive += p
        negative += n
        if gap is not None:
            gaps.append(gap)
    return positive, negative, gaps


def test_constant_power_for_an_hour_is_its_energy():
    positive, negative, _ = integrate([(float(t), 1000.0) for t in range(3601)])
    assert positive == pytest.approx(1000.0)  # W·h
    assert negative == 0.0


def test_a_ramp_is_integrated_exactly():
    # 0 → 3600 W over one hour, sampled every 10 s: the trapezoid rule is exact on straight lines.
    positive, _, _ = integrate([(float(t), float(t)) for t in range(0, 3601, 10)])
    assert positive == pytest.approx(1800.0)


def test_a_sign_change_inside_a_step_splits_at_the_zero_crossing():
    positive, negative, _ = integrate([(0.0, 100.0), (3600.0, -300.0)], max_gap=3600)
    # Zero is crossed after a quarter of the hour: 100 W·0.25 h / 2 in, 300 W·0.75 h / 2 out.
    assert positive == pytest.approx(12.5)
    assert negative == pytest.approx(112.5)
    positive, negative, _ = integrate([(0.0, -300.0), (3600.0, 100.0)], max_gap=3600)
    assert (positive, negative) == (pytest.approx(12.5), pytest.approx(112.5))
    positive, negative, _ = integrate([(0.0, 0.0), (3600.0, -100.0)], max_gap=3600)
    assert (positive, negative) == (0.0, pytest.approx(50.0))


def test_a_gap_longer_than_the_maximum_is_skipped_and_reported():
    positive, _, gaps = integrate([(0.0, 3600.0), (1.0, 3600.0), (100.0, 3600.0), (101.0, 3600.0)])
    assert positive == pytest.approx(2.0)  # two one-second steps, not the 99 s in between
    assert gaps == [99.0]


def test_the_gap_limit_follows_the_sample_period():
    assert max_gap_for(1.0) == 30.0
    assert max_gap_for(60.0) == 300.0


@pytest.mark.parametrize("missing", [None, math.nan, math.inf, -math.inf])
def test_a_missing_value_is_skipped_and_never_poisons(missing):
    positive, negative, _ = integrate([(0.0, 3600.0), (1.0, missing), (2.0, 3600.0), (3.0, 3600.0)])
    assert positive == pytest.approx(3.0)  # across the hole by a straight line, then on
    assert negative == 0.0 and math.isfinite(positive)


def test_a_clock_going_backwards_reseeds_and_never_subtracts():
    positive, negative, gaps = integrate([(10.0, 3600.0), (11.0, 3600.0), (5.0, 3600.0), (6.0, 3600.0)])
    assert positive == pytest.approx(2.0)
    assert negative == 0.0 and gaps == []


def test_the_hub_integrates_on_the_monotonic_clock():
    # Wall-clock steps (NTP on a Pi without RTC) cannot reach a clock that never looks at the wall.
    assert Hub(()).clock is time.monotonic


def test_hub_meters_use_the_calibrated_sign_so_charge_and_discharge_never_swap():
    now = [0.0]
    straight = DeviceConfig(MAC, "jk", "straight")
    inverted = DeviceConfig("C8:47:8C:E4:54:0E", "jk", "inverted", invert_current=True, current_calibration=2.0)
    hub = Hub((straight, inverted), clock=lambda: now[0])
    for t in range(3601):
        now[0] = float(t)
        for device in (straight, inverted):
            hub.record(device, Sample(voltage=50.0, current=10.0), None, FrameStats())
    meters = hub.meters.meters
    assert meters[straight.stable_id].values.energy_charge_kwh == pytest.approx(0.5)
    assert meters[straight.stable_id].values.charge_net_ah == pytest.approx(10.0)
    assert meters[inverted.stable_id].values.energy_discharge_kwh == pytest.approx(1.0)
    assert meters[inverted.stable_id].values.energy_charge_kwh == 0.0
    assert meters[inverted.stable_id].values.charge_net_ah == pytest.approx(-20.0)


def test_a_gap_in_the_hub_is_logged(caplog):
    caplog.set_level(logging.INFO, logger="batmond")
    now = [0.0]
    device = DeviceConfig(MAC, "jk", "b1")
    hub = Hub((device,), max_gap=30.0, clock=lambda: now[0])
    for t in (0.0, 1.0, 200.0, 201.0):
        now[0] = t
        hub.record(device, Sample(voltage=50.0, current=72.0), None, FrameStats())
    assert hub.meters.meters[device.stable_id].values.energy_charge_kwh == pytest.approx(0.002)
    assert [r.message for r in caplog.records] == ["b1: no sample for 199 s; the meters do not guess across that gap"]


def soc_cycles(levels: list[float]) -> float:
    travel = SocTravel()
    return sum(travel.add(level) for level in levels) / 200


def test_full_down_and_up_is_one_cycle():
    down = [100.0 - i for i in range(101)]
    assert soc_cycles(down + down[::-1]) == pytest.approx(1.0)
    assert soc_cycles([100.0 - i / 10 for i in range(1001)] * 1 + [i / 10 for i in range(1001)]) == pytest.approx(1.0)


def test_soc_flicker_is_not_cycling():
    assert soc_cycles([60.0, 61.0] * 500) == 0.0
    assert soc_cycles([100.0, 99.0] * 500) == 0.0
    assert soc_cycles([50.0, None, math.nan, 50.0]) == 0.0


def test_a_soc_recalibration_jump_is_not_counted():
    # Discharging 90 → 75, then the BMS snaps to 100 % (its top-voltage reset), then discharging goes on.
    assert soc_cycles([90.0, 85.0, 75.0, 100.0, 98.0, 96.0]) == pytest.approx(19 / 200)


def test_net_energy_is_charged_minus_discharged():
    book = MeterBook({}, GAP)
    for t in range(600):
        power = 2000.0 * math.sin(t / 30)
        book.update("id", "b1", float(t), power, power / 50, None)
    values = book.meters["id"].values
    assert values.energy_charge_kwh > 0 and values.energy_discharge_kwh > 0
    assert values.energy_net_kwh == pytest.approx(values.energy_charge_kwh - values.energy_discharge_kwh)


def test_meters_belong_to_the_stable_id_not_the_alias():
    now = [0.0]
    old = DeviceConfig(MAC, "jk", "garage")
    renamed = DeviceConfig(MAC, "jk", "garage-left")
    hub = Hub((old,), clock=lambda: now[0])
    for t in range(10):
        now[0] = float(t)
        hub.record(old, Sample(voltage=50.0, current=10.0), None, FrameStats())
    committed = hub.meters.take_dirty()
    hub.meters.mark_durable(committed)
    # The daemon restarts with the new alias: the journal's values continue under the same id.
    state = {("meters", key): record_data(alias, values) for key, (alias, values) in committed.items()}
    recovered, unreadable = from_state(state)
    assert unreadable == []
    hub = Hub((renamed,), clock=lambda: now[0])
    hub.restore_meters(recovered)
    for t in range(10, 20):
        now[0] = float(t)
        hub.record(renamed, Sample(voltage=50.0, current=10.0), None, FrameStats())
    meters = hub.meters.meters[renamed.stable_id]
    assert meters.alias == "garage-left"
    assert meters.values.charge_net_ah == pytest.approx(18 * 10 / 3600)  # 9 steps, then 9 more after the seed
    assert hub.meters.take_dirty()[renamed.stable_id][0] == "garage-left"


def test_only_durable_values_reach_a_reading():
    now = [0.0]
    device = DeviceConfig(MAC, "jk", "b1")
    hub = Hub((device,), clock=lambda: now[0])
    for t in range(5):
        now[0] = float(t)
        hub.record(device, Sample(voltage=50.0, current=10.0), None, FrameStats())
    assert hub.take(device).meters is None  # nothing committed yet
    batch = hub.meters.take_dirty()
    now[0] = 5.0
    hub.record(device, Sample(voltage=50.0, current=10.0), None, FrameStats())
    hub.meters.mark_durable(batch)
    reading = hub.take(device)
    assert reading.meters == batch[device.stable_id][1]
    assert reading.meters.charge_net_ah < hub.meters.meters[device.stable_id].values.charge_net_ah


def test_published_values_never_exceed_the_durable_ones():
    values = MeterValues(0.1234567891, 2.9999999999, -1.0000004, 0.29, 0.034999999999999996)
    published = values.published()
    for name, value in published.items():
        assert value <= getattr(values, name)
        assert getattr(values, name) - value < 1e-6
        assert round(value, 6) == value


def test_unreadable_meter_records_are_reported_not_used():
    state = {("meters", "a"): {"alias": "x", "cycles": "many"}, ("algorithm", "a"): {"whatever": 1}}
    assert from_state(state) == ({}, ["a"])


def _sample_jbd(bms: SimulatedJbd, codec: JbdCodec) -> Sample | None:
    for request in codec.poll_requests():
        for frame in bms.answer(request.data):
            codec.feed(frame)
    return codec.sample()


def _sample_jk(bms: SimulatedJk, codec: JkCodec) -> Sample | None:
    codec.feed(bms.cell_info())
    return codec.sample()


@pytest.mark.parametrize(
    ("simulator", "codec_type", "sample", "variant"),
    [(SimulatedJbd, JbdCodec, _sample_jbd, None), (SimulatedJk, JkCodec, _sample_jk, "32s")],
    ids=["jbd", "jk"],
)
def test_meters_agree_with_the_simulated_truth_within_one_percent(simulator, codec_type, sample, variant):
    """Six simulated hours of a day-like swing with random load steps, through the real protocol encoding."""
    now = [0.0]
    battery = Battery(soc=50.0, swing_amps=60.0, swing_period=5400.0, seed=7, clock=lambda: now[0])
    bms = simulator("sim", MAC, battery, variant)
    codec = codec_type(variant)
    if simulator is SimulatedJk:
        codec.feed(bms.device_info())
        codec.feed(bms.settings())
    device = DeviceConfig(MAC, "jbd", "b1")
    hub = Hub((device,), clock=lambda: now[0])
    for step in range(6 * 3600):
        now[0] = float(step)
        battery.advance()
        reading = sample(bms, codec)
        assert reading is not None
        hub.record(device, reading, None, codec.stats)
    values = hub.meters.meters[device.stable_id].values
    assert battery.energy_in_wh > 5000 and battery.energy_out_wh > 5000  # both directions, well exercised
    assert values.energy_charge_kwh * 1000 == pytest.approx(battery.energy_in_wh, rel=0.01)
    assert values.energy_discharge_kwh * 1000 == pytest.approx(battery.energy_out_wh, rel=0.01)
    assert values.cycles > 0
    print(f"charged {values.energy_charge_kwh * 1000 / battery.energy_in_wh - 1:+.4%}, "
          f"discharged {values.energy_discharge_kwh * 1000 / battery.energy_out_wh - 1:+.4%}")  # fmt: skip
