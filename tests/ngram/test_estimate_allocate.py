"""estimate(allocate=...): the arrays of an order come from the allocator, the tables are the same.

A bounded fit hands :func:`estimate` read-only mapped counts and an allocator
of file-backed zeros. Its tables must be those of the in-memory estimate bit
for bit, every array the length of an order must be one the allocator made,
and no temporary that long may be made in memory.
"""

import tracemalloc
import warnings

import numpy as np
import pytest
from test_counting import random_encoded

from sklm.ngram._counting import (
    _add_counts,
    continuation_counts,
    count_ngrams,
    counts_of_counts,
)
from sklm.ngram._smoothing import (
    AbsoluteDiscounting,
    AddK,
    KneserNey,
    MaximumLikelihood,
    StupidBackoff,
    WittenBell,
    estimate,
)


class Recorder:
    """An allocator of zeros that keeps every array it made."""

    def __init__(self, make=np.zeros):
        self.make = make
        self.arrays = []

    def __call__(self, n, dtype):
        array = self.make(n, dtype)
        self.arrays.append(array)
        return array

    def made(self, array):
        return any(np.shares_memory(array, mine) for mine in self.arrays if len(mine))


def mapped_zeros(folder):
    """File-backed zeros in ``folder``, as a bounded fit allocates them."""
    names = iter(range(1 << 30))

    def zeros(n, dtype):
        if n == 0:  # a file cannot map nothing
            return np.zeros(0, dtype=dtype)
        return np.memmap(folder / f"{next(names)}.bin", dtype=dtype, mode="w+", shape=(n,))

    return zeros


def zipf_encoded(seed, n_samples, n_classes):
    """Encoded samples of Zipfian words: counts of counts with every small count."""
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, n_classes + 1)
    weights /= weights.sum()
    samples = [
        [int(w) for w in rng.choice(n_classes, rng.integers(0, 12), p=weights) if w != 1] + [1]
        for _ in range(n_samples)
    ]
    ids = np.array([w for s in samples for w in s], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in samples])]).astype(np.int64)
    return ids, offsets, n_classes


def read_only(counts):
    for name in ("keys", "counts", "suffix", "bos_initial", "continuation"):
        for array in getattr(counts, name) or []:
            if array is not None:
                array.setflags(write=False)
    return counts


def with_continuation(counts):
    """The counts as a Dask fit gives them, with their continuation counts."""
    order = counts.order
    counts.continuation = [
        np.bincount(counts.suffix[k], minlength=len(counts.keys[k - 1])).astype(np.int64)
        for k in range(1, order)
    ] + [None]
    return counts


def fit(make_counts, smoothing, **kwargs):
    """``estimate`` on fresh counts (it consumes them), with the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tables, fitted = estimate(read_only(make_counts()), smoothing(), **kwargs)
    return tables, fitted, [str(w.message) for w in caught]


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_same_estimate(got, expected):
    (tables, fitted, warned), (tables0, fitted0, warned0) = got, expected
    assert warned == warned0
    assert fitted.keys() == fitted0.keys()
    for name in fitted0:
        assert same_bits(fitted[name], fitted0[name]), name
    assert tables.n_classes == tables0.n_classes
    assert tables.unseen_log_backoff == tables0.unseen_log_backoff
    assert tables.normalise_rows == tables0.normalise_rows
    for name in ("keys", "log_prob", "log_backoff"):
        ours, theirs = getattr(tables, name), getattr(tables0, name)
        assert len(ours) == len(theirs)
        for k, (a, b) in enumerate(zip(ours, theirs), 1):
            assert (a is None) == (b is None), (name, k)
            assert a is None or same_bits(a, b), (name, k)


def corpora():
    yield "random", random_encoded(0)[1:]
    yield "random-more-classes", random_encoded(5, n_samples=150, n_classes=12)[1:]
    yield "zipf", zipf_encoded(1, n_samples=400, n_classes=30)
    # A lone </s>; empty samples and one sample only.
    yield "one-empty-sample", (np.array([1]), np.array([0, 1]), 4)
    yield "empty-samples", (np.array([1, 1, 3, 1]), np.array([0, 1, 2, 4, 4]), 5)
    yield "one-sample", (np.array([2, 3, 2, 3, 2, 1]), np.array([0, 6]), 4)


CORPORA = dict(corpora())


def counts_of(name, order):
    ids, offsets, n_classes = CORPORA[name]
    return lambda: count_ngrams(ids, offsets, n_classes, order)


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("name", list(CORPORA))
@pytest.mark.parametrize("block", [3, 1 << 20])
def test_kneser_ney_with_an_allocator_is_the_in_memory_estimate(name, order, block):
    make_counts = counts_of(name, order)
    allocate = Recorder()
    got = fit(make_counts, KneserNey, allocate=allocate, block=block)
    assert_same_estimate(got, fit(make_counts, KneserNey))
    # Every array the length of an order came from the allocator, the
    # tables' among them.
    tables = got[0]
    counts = make_counts()
    made = {(len(a), a.dtype) for a in allocate.arrays}
    for k in range(2, order + 1):
        n, n_contexts = len(counts.keys[k - 1]), len(counts.keys[k - 2])
        count_type = counts.counts[k - 1].dtype
        assert (n, counts.context(k).dtype) in made  # the context indexes
        assert (n, np.dtype(np.float64)) in made  # the discounts, then probabilities
        assert (n_contexts, count_type) in made  # the sums per context
        assert (n_contexts, np.dtype(np.float64)) in made  # gamma, then backoff
        if k < order:
            assert (n, count_type) in made  # the adjusted counts
        if n:  # an empty array shares no memory
            assert allocate.made(tables.log_prob[k - 1]), k
        if n_contexts:
            assert allocate.made(tables.log_backoff[k - 2]), k


@pytest.mark.parametrize("order", [2, 3, 5])
def test_given_continuation_counts_are_read_the_same(order):
    # A Dask fit counts them on the workers; copied a block at a time.
    make_counts = counts_of("zipf", order)
    got = fit(lambda: with_continuation(make_counts()), KneserNey, allocate=Recorder(), block=7)
    assert_same_estimate(got, fit(make_counts, KneserNey))


@pytest.mark.parametrize(
    "smoothing",
    [
        MaximumLikelihood,
        lambda: AddK(0.5),
        lambda: AbsoluteDiscounting(),
        lambda: AbsoluteDiscounting(0.7),
        WittenBell,
        lambda: StupidBackoff(0.4),
    ],
)
@pytest.mark.parametrize("order", [1, 3])
def test_every_strategy_gives_its_tables_with_an_allocator(smoothing, order):
    make_counts = counts_of("zipf", order)
    got = fit(make_counts, smoothing, allocate=Recorder(), block=5)
    assert_same_estimate(got, fit(make_counts, smoothing))


def test_pruning_with_an_allocator_gives_the_same_tables():
    make_counts = counts_of("zipf", 4)
    prune = (0, 1, 1, 2)
    got = fit(make_counts, KneserNey, prune=prune, allocate=Recorder(), block=11)
    assert_same_estimate(got, fit(make_counts, KneserNey, prune=prune))


def test_file_backed_tables_are_the_in_memory_tables(tmp_path):
    make_counts = counts_of("zipf", 3)
    got = fit(make_counts, KneserNey, allocate=mapped_zeros(tmp_path), block=64)
    assert_same_estimate(got, fit(make_counts, KneserNey))
    assert all(isinstance(a, np.memmap) for a in got[0].log_prob[1:] + got[0].log_backoff[:-1])


def test_continuation_counts_into_an_array_are_the_counts():
    counts = read_only(count_ngrams(*CORPORA["zipf"], 4))
    for k in range(1, 5):
        raw = counts.counts[k - 1]
        expected = continuation_counts(counts, k)
        for block in (None, 1, 6):
            got = continuation_counts(counts, k, np.zeros(len(raw), raw.dtype), block)
            assert same_bits(got, expected)
            assert same_bits(counts_of_counts(got, block=block), counts_of_counts(expected))


@pytest.mark.parametrize("block", [1, 7, 50_000, 1 << 20])
def test_added_counts_are_a_bincount(block):
    rng = np.random.default_rng(0)
    index = rng.integers(0, 1000, 50_000).astype(np.int32)
    index.setflags(write=False)
    out = np.full(1000, 3, dtype=np.int32)
    _add_counts(index, out, block)
    np.testing.assert_array_equal(out, np.bincount(index, minlength=1000) + 3)


def test_no_temporary_the_size_of_an_order(tmp_path):
    # Numpy reports its allocations to tracemalloc; mapped files are not
    # traced, nor the counts, made before tracing starts.
    rng = np.random.default_rng(0)
    n_classes, n_positions = 2000, 400_000
    ids = rng.integers(2, n_classes, n_positions)
    ids[rng.integers(0, n_positions, n_positions // 20)] = 1  # </s>
    ids[-1] = 1
    offsets = np.concatenate([[0], np.flatnonzero(ids == 1) + 1])

    def peak(**kwargs):
        counts = count_ngrams(ids, offsets, n_classes, 3)
        largest = max(len(keys) for keys in counts.keys)
        tracemalloc.start()
        try:
            with warnings.catch_warnings():
                # Uniform words: no unigram is seen after one word only.
                warnings.simplefilter("ignore", UserWarning)
                estimate(counts, KneserNey(), **kwargs)
            return tracemalloc.get_traced_memory()[1], largest
        finally:
            tracemalloc.stop()

    bounded, largest = peak(allocate=mapped_zeros(tmp_path), block=4096)
    one_order = 8 * largest
    assert largest > 200_000
    assert bounded < one_order / 4, (bounded, one_order)
    # The same measure sees the in-memory estimate's arrays.
    assert peak()[0] > one_order
