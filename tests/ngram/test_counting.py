"""Vectorized counting and lookups against plain Python dictionaries."""

from collections import Counter, defaultdict

import numpy as np
import pytest

from sklm.ngram._counting import (
    continuation_counts,
    count_ngrams,
    counts_of_counts,
    sort_keys,
)
from sklm.ngram._tables import HashIndex


def random_encoded(seed, n_samples=60, n_classes=7):
    rng = np.random.default_rng(seed)
    samples = [list(rng.integers(0, n_classes, rng.integers(0, 7))) for _ in range(n_samples)]
    # every sample ends with </s> (id 1), as Vocabulary.encode lays it out
    samples = [[w for w in s if w != 1] + [1] for s in samples]
    ids = np.array([w for s in samples for w in s], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in samples])]).astype(np.int64)
    return samples, ids, offsets, n_classes


def decode(counts, k):
    """The word tuples of every entry of table k."""
    if k == 1:
        return [(w,) for w in range(counts.base)]
    prefixes = decode(counts, k - 1)
    return [prefixes[c] + (w,) for c, w in zip(counts.context(k), counts.word(k))]


@pytest.mark.parametrize("part_size", [1, 7, 1 << 20])
@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_counts_match_a_dictionary(order, part_size):
    samples, ids, offsets, n_classes = random_encoded(order)
    bos = n_classes
    expected = [Counter() for _ in range(order + 1)]
    for sample in samples:
        seq = [bos, *sample]
        for end in range(len(seq)):
            for k in range(1, min(order, end + 1) + 1):
                expected[k][tuple(seq[end - k + 1 : end + 1])] += 1
    counts = count_ngrams(ids, offsets, n_classes, order, part_size=part_size)
    assert counts.order == order
    for k in range(1, order + 1):
        grams = decode(counts, k)
        got = {g: int(c) for g, c in zip(grams, counts.counts[k - 1]) if c}
        assert got == dict(expected[k])
        assert len(set(grams)) == len(grams)
        if k >= 2:
            keys = counts.keys[k - 1]
            assert np.all(np.diff(keys) > 0)
            suffixes = decode(counts, k - 1)
            assert [suffixes[s] for s in counts.suffix[k - 1]] == [g[1:] for g in grams]
        assert [g[0] == bos for g in grams] == counts.bos_initial[k - 1].tolist()


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_counting_in_parts_equals_one_sort(dtype):
    # Each order counted in many small ranges of contexts, or in one.
    samples, ids, offsets, n_classes = random_encoded(11, n_samples=400, n_classes=9)
    whole = count_ngrams(ids.astype(dtype), offsets, n_classes, 4, part_size=1 << 20)
    parts = count_ngrams(ids.astype(dtype), offsets, n_classes, 4, part_size=50)
    for name in ("keys", "counts", "suffix", "bos_initial"):
        for a, b in zip(getattr(whole, name), getattr(parts, name)):
            if a is None:
                assert b is None
            else:
                np.testing.assert_array_equal(a, b)


def test_counting_reads_empty_samples():
    # An empty sample is a lone <s>: it counts as a unigram and ends no n-gram.
    ids = np.array([4, 1, 1, 5, 1], dtype=np.int64)
    for offsets in ([0, 2, 2, 3, 5, 5], [0, 0, 2, 3, 5]):
        counts = count_ngrams(ids, np.array(offsets), 6, 3)
        assert counts.counts[0][6] == len(offsets) - 1
        assert sorted(decode(counts, 2)) == [(4, 1), (5, 1), (6, 1), (6, 4), (6, 5)]
        assert sorted(decode(counts, 3)) == [(6, 4, 1), (6, 5, 1)]


def test_continuation_counts_follow_kenlm_rules():
    samples, ids, offsets, n_classes = random_encoded(7)
    bos = n_classes
    counts = count_ngrams(ids, offsets, n_classes, 3)
    left = defaultdict(set)
    for sample in samples:
        seq = [bos, *sample]
        for i in range(1, len(seq)):
            for k in (1, 2):
                if i - k >= 0:
                    left[tuple(seq[i - k + 1 : i + 1])].add(seq[i - k])
    for k in (1, 2):
        adjusted = continuation_counts(counts, k)
        for gram, a, raw in zip(decode(counts, k), adjusted, counts.counts[k - 1]):
            if gram == (bos,):
                assert a == 0
            elif gram[0] == bos:
                assert a == raw
            else:
                assert a == len(left[gram])
    np.testing.assert_array_equal(continuation_counts(counts, 3), counts.counts[2])


def test_counts_of_counts():
    assert counts_of_counts(np.array([0, 1, 1, 2, 3, 4, 4, 4, 5, 9])).tolist() == [2, 1, 1, 3]


@pytest.mark.parametrize("n_keys", [0, 1, 5, 1000, 20000])
def test_hash_index_agrees_with_binary_search(n_keys):
    rng = np.random.default_rng(n_keys)
    # clustered keys, as n-gram keys are, so that probing chains get long
    keys = np.unique(rng.integers(0, 3 * n_keys + 1, n_keys) * 1024 + rng.integers(0, 3, n_keys))
    index = HashIndex(keys)
    queries = np.concatenate([keys, rng.integers(-5, keys.max(initial=0) + 10, 5000)])
    position = {int(key): i for i, key in enumerate(keys)}
    expected = np.array([position.get(int(q), -1) for q in queries])
    np.testing.assert_array_equal(index.lookup(queries), expected)


@pytest.mark.parametrize("bound", [50, 2**40, 2**62])
@pytest.mark.parametrize("n", [0, 1, 1000, 70_000])
def test_sorted_keys_and_their_permutation_are_a_stable_argsorts(bound, n):
    # Packed with their positions where they leave room (2**62 leaves none).
    rng = np.random.default_rng(n)
    keys = rng.integers(0, bound, n, dtype=np.int64)
    keys[: n // 2] = np.sort(keys[: n // 2])  # runs, and many ties at 50
    expected = np.argsort(keys, kind="stable")
    ordered, perm = sort_keys(keys.copy(), bound)
    np.testing.assert_array_equal(perm, expected)
    np.testing.assert_array_equal(ordered, keys[expected])
