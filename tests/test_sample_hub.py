"""The value contract: derived values, calibration, averaging over a publish period."""

from __future__ import annotations

import pytest

from batmond.config import DeviceConfig
from batmond.hub import Hub, Reading
from batmond.protocols.base import FrameStats
from batmond.sample import Sample, average


def test_power_is_derived_only_when_missing():
    assert Sample(voltage=50.0, current=-2.0).completed().power == -100.0
    assert Sample(voltage=50.0, current=-2.0, power=-99.0).completed().power == -99.0
    assert Sample(voltage=50.0).completed().power is None


def test_absent_values_are_left_out_never_zero():
    state = Sample(voltage=13.2).to_dict()
    assert state == {"voltage": 13.2}


def test_cell_statistics_are_one_based():
    state = Sample(cell_voltages=(3.30, 3.28, 3.35, 3.31)).to_dict()
    assert state["cell_min"] == 3.28 and state["cell_min_index"] == 2
    assert state["cell_max"] == 3.35 and state["cell_max_index"] == 3
    assert state["cell_delta"] == pytest.approx(0.07)
    assert state["cell_average"] == pytest.approx(3.31)


@pytest.mark.parametrize(
    ("calibration", "invert", "current", "power"),
    [(1.0, False, 10.0, 500.0), (1.0, True, -10.0, -500.0), (1.02, False, 10.2, 510.0), (-1.0, True, 10.0, 500.0)],
)
def test_calibration_and_inversion_apply_to_current_and_power_together(calibration, invert, current, power):
    device = DeviceConfig("C8:47:8C:E4:54:0D", "jk", "b1", current_calibration=calibration, invert_current=invert)
    hub = Hub((device,))
    hub.record(device, Sample(voltage=50.0, current=10.0), None, FrameStats())
    reading = hub.take(device)
    assert reading.sample.current == pytest.approx(current)
    assert reading.sample.power == pytest.approx(power)


def test_fast_values_are_averaged_over_a_publish_period_and_the_rest_is_latest():
    device = DeviceConfig("C8:47:8C:E4:54:0D", "jk", "b1")
    hub = Hub((device,))
    for volts, amps, soc in ((50.0, 10.0, 60.0), (52.0, -10.0, 61.0), (51.0, 3.0, 62.0)):
        hub.record(device, Sample(voltage=volts, current=amps, soc=soc), None, FrameStats(frames=3))
    reading = hub.take(device)
    assert reading.sample.voltage == pytest.approx(51.0)
    assert reading.sample.current == pytest.approx(1.0)
    assert reading.sample.power == pytest.approx((500 - 520 + 153) / 3)
    assert reading.sample.soc == 62.0
    assert reading.diagnostics["frames"] == 3
    assert hub.take(device) is None  # nothing new since


def test_average_skips_missing_values():
    merged = average([Sample(voltage=50.0), Sample(voltage=None, current=2.0), Sample(voltage=52.0)])
    assert merged.voltage == 51.0 and merged.current == 2.0


def test_a_reading_is_due_once_per_publish_period_on_a_fixed_grid():
    device = DeviceConfig("C8:47:8C:E4:54:0D", "jk", "b1")
    now = [0.0]
    hub = Hub((device,), clock=lambda: now[0])

    def sample_at(t: float, volts: float) -> Reading | None:
        now[0] = t
        hub.record(device, Sample(voltage=volts), None, FrameStats())
        return hub.take_due(device, 1.0, 0.5)

    assert sample_at(0.0, 50.0).sample.voltage == 50.0  # the first sample goes out at once
    assert sample_at(0.95, 51.0).sample.voltage == 51.0  # a little early: still this period's reading
    assert sample_at(1.4, 52.0) is None  # too early: kept for the next one
    assert sample_at(1.96, 54.0).sample.voltage == pytest.approx(53.0)  # averaged with the kept one
    assert sample_at(2.2, 55.0) is None
    now[0] = 3.2
    assert hub.take_due(device, 1.0, -0.5) is None  # the publisher's tick waits for the next sample a while
    now[0] = 3.6
    assert hub.take_due(device, 1.0, -0.5).sample.voltage == 55.0  # it did not come: send what there is


def test_every_recorded_sample_is_announced():
    device = DeviceConfig("C8:47:8C:E4:54:0D", "jk", "b1")
    hub = Hub((device,))
    seen: list[str] = []
    hub.on_sample = lambda d: seen.append(d.alias)
    hub.record(device, Sample(voltage=50.0), None, FrameStats())
    assert seen == ["b1"]
