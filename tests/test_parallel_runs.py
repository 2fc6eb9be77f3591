"""Runs of whole samples, the unit of cache-sized work in scoring."""

import numpy as np
import pytest

from sklm._parallel import sample_runs


@pytest.mark.parametrize("seed", range(5))
def test_runs_cover_every_sample_in_order_and_stay_near_the_size(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 40, 2000)
    sizes[rng.integers(0, 2000, 3)] = 1000  # samples longer than a run
    ends = np.concatenate([[0], np.cumsum(sizes)])
    runs = sample_runs(ends, 300)
    assert runs[0][0] == 0 and runs[-1][1] == len(sizes)
    assert all(a < b for a, b in runs)
    assert all(b == c for (_, b), (c, _) in zip(runs, runs[1:]))
    for a, b in runs:
        # A run passes the size by less than its last sample.
        assert ends[b] - ends[a] < 300 + sizes[b - 1]


@pytest.mark.parametrize(
    "ends, expected",
    [
        ([0], [(0, 0)]),
        ([0, 5], [(0, 1)]),
        ([0, 100, 200], [(0, 2)]),
        ([0, 150, 300, 450], [(0, 2), (2, 3)]),
        ([0, 1000, 1001], [(0, 1), (1, 2)]),
    ],
)
def test_small_cases(ends, expected):
    assert sample_runs(np.array(ends), 200) == expected
