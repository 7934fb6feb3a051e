"""The shortened soak that CI runs: every kind of fault at least once in 90 s, with every check of `make soak`."""

from __future__ import annotations

import pytest

from .harness import soak

pytestmark = [pytest.mark.soak, pytest.mark.e2e]
SECONDS = 90.0
SEED = 20261124  # fixed, so that a failure in CI can be replayed with `harness.py --seed`


async def test_shortened_soak(tmp_path):
    ok, report = await soak(SECONDS, SEED, tmp_path)
    print(report)
    assert ok, report
