"""Battery groups (aggregation) and the SoC charge algorithm (hysteresis, full charge, transitions only)."""

from __future__ import annotations

import pytest

from batmond import algorithms
from batmond.algorithms import AlgorithmError, SocState, decide
from batmond.groups import aggregate
from batmond.sample import Sample

DAY = 86400.0


def test_group_of_parallel_packs():
    a = Sample(voltage=53.0, current=10.0, power=530.0, soc=80.0, soh=100.0, charge=224.0, capacity=280.0,
               cell_voltages=(3.31, 3.32), temperatures=(20.0,), switches={"charge": True, "discharge": True},
               alarm_code=0, cycles=10)  # fmt: skip
    b = Sample(voltage=53.4, current=-4.0, power=-213.6, soc=40.0, soh=90.0, charge=40.0, capacity=100.0,
               cell_voltages=(3.30, 3.35), temperatures=(22.0, 23.0), switches={"charge": False, "discharge": True},
               alarm_code=4, cycles=30)  # fmt: skip
    group = aggregate([a, b])
    assert group.voltage == pytest.approx(53.2)  # mean
    assert group.current == pytest.approx(6.0)  # sums
    assert group.power == pytest.approx(316.4)
    assert group.charge == pytest.approx(264.0) and group.capacity == pytest.approx(380.0)
    assert group.soc == pytest.approx((80 * 280 + 40 * 100) / 380)  # capacity-weighted
    assert group.soh == pytest.approx((100 * 280 + 90 * 100) / 380)
    assert group.cell_voltages == (3.31, 3.32, 3.30, 3.35)  # every member's cells
    assert group.cell_stats.minimum == 3.30 and group.cell_stats.maximum == 3.35
    assert group.temperatures == (20.0, 22.0, 23.0)
    assert group.switches == {"charge": False, "discharge": True}  # on only if on everywhere
    assert group.alarm_code == 4


def test_group_without_capacities_averages_soc_equally_and_leaves_absent_values_absent():
    group = aggregate([Sample(voltage=12.0, soc=50.0), Sample(voltage=12.4, soc=70.0)])
    assert group.soc == 60.0
    assert group.current is None and group.capacity is None and group.cell_voltages == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("soc 80% 90%", "must be below the stop level"),
        ("soc 90%", "expected e.g. 'soc 90% 80%'"),
        ("voltage 3.4 3.3", "unknown algorithm"),
        ("soc 120% 80%", "between 0 and 100"),
    ],
)
def test_bad_algorithm_strings(text, message):
    with pytest.raises(AlgorithmError, match=message):
        algorithms.parse(text)


def run(limits, state, socs, start=0.0, step=60.0):
    return [decide(limits, state, soc, start + i * step) for i, soc in enumerate(socs)]


def test_hysteresis_acts_on_transitions_only():
    limits = algorithms.parse("soc 90% 80%")
    state = SocState()
    decisions = run(limits, state, [85, 88, 90, 91, 90, 85, 81, 80, 79, 85, 90])
    assert decisions == [None, None, False, None, None, None, None, True, None, None, False]


def test_a_manual_switch_is_respected_until_the_next_crossing():
    limits = algorithms.parse("soc 90% 80%")
    state = SocState(charging=False)  # stopped at 90 %
    # The user switches charging back on by hand at 85 %: the algorithm sends nothing while SoC stays between
    # the levels, and still nothing at 89 %; it acts again only when its own decision changes.
    assert run(limits, state, [85, 86, 89]) == [None, None, None]
    assert decide(limits, state, 80, 1e6) is True


def test_periodic_full_charge_and_its_state_survive_a_restart():
    limits = algorithms.parse("soc 90% 80%", full_charge_days=7)
    state = SocState()
    assert decide(limits, state, 92, 0.0) is False
    assert decide(limits, state, 90, 7 * DAY - 1) is None
    assert decide(limits, state, 90, 7 * DAY) is True  # calibration due: charge to 100 %
    restored = SocState.from_dict(state.to_dict())  # the journal round trip
    assert decide(limits, restored, 95, 7 * DAY + 600) is None  # keeps charging past the stop level
    assert decide(limits, restored, 100, 7 * DAY + 1200) is False  # full: back to the limit
    assert restored.last_full == 7 * DAY + 1200 and not restored.full_charge


def test_missing_soc_changes_nothing():
    state = SocState()
    assert decide(algorithms.parse("soc 90% 80%"), state, None, 0.0) is None
    assert state == SocState()


def test_recovery_ladder_order():
    from batmond.transports.recovery import Ladder

    ladder = Ladder(reopens=2, power_cycles=1)
    steps = [ladder.next_step() for _ in range(6)]
    assert steps == ["reopen", "reopen", "power-cycle", "reopen", "reopen", "give-up"]
