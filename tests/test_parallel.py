"""Cutting a corpus into parts for threads, and the default thread count."""

import numpy as np
import pytest

from sklm import _parallel


def test_split_is_contiguous_balanced_and_covers_everything():
    rng = np.random.default_rng(0)
    samples = list(range(1000))
    sizes = rng.integers(0, 50, len(samples))
    parts = _parallel.split(samples, sizes, 4, min_part=100)
    assert len(parts) == 4
    assert sum(parts, []) == samples
    totals = [int(sizes[p[0] : p[-1] + 1].sum()) for p in parts]
    # Each part within one sample's size of a quarter of the total.
    assert max(abs(t - sizes.sum() / 4) for t in totals) <= sizes.max()


@pytest.mark.parametrize(
    "n_samples, size, n_parts, expected",
    [
        (10, 100, 4, 1),  # 1,000 in all: below two parts of 600
        (10, 150, 4, 2),  # 1,500: two parts of 600 at least
        (3, 10_000, 8, 3),  # never more parts than samples
        (100, 100, 1, 1),
        (0, 0, 4, 1),
    ],
)
def test_split_makes_no_part_smaller_than_min_part(n_samples, size, n_parts, expected):
    samples = list(range(n_samples))
    parts = _parallel.split(samples, [size] * n_samples, n_parts, min_part=600)
    assert len(parts) == expected
    assert sum(parts, []) == samples


def test_available_threads_follows_omp_num_threads(monkeypatch):
    import os

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = _parallel.available_threads()
    assert cores == len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _parallel.available_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert _parallel.available_threads() == cores
    assert _parallel.resolve_threads(None) == cores
    assert _parallel.resolve_threads(3) == 3


def test_map_threads_keeps_the_order():
    parts = [[1, 2], [3], [4, 5, 6]]
    assert _parallel.map_threads(sum, parts) == [3, 3, 15]
    assert _parallel.map_threads(sum, [[7]]) == [7]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_resolve_threads_rejects_what_is_not_a_positive_int(bad):
    with pytest.raises(ValueError, match="n_threads"):
        _parallel.resolve_threads(bad)
