"""The open-addressing hash of the n-gram tables and the text encoder."""

import numpy as np
import pytest

from sklm._hashing import HashIndex


def _oracle(keys, queries):
    where = {int(key): i for i, key in enumerate(keys)}
    return np.array([where.get(int(q), -1) for q in queries], dtype=np.intp)


@pytest.mark.parametrize("n_keys", [0, 1, 2, 3, 17, 1000, 20_000])
def test_lookup_matches_a_dict(n_keys):
    rng = np.random.default_rng(n_keys)
    keys = np.unique(rng.integers(-(2**62), 2**62, n_keys))
    rng.shuffle(keys)
    queries = np.concatenate([keys, rng.integers(-(2**62), 2**62, 500), -keys[:50] - 1])
    rng.shuffle(queries)
    np.testing.assert_array_equal(HashIndex(keys).lookup(queries), _oracle(keys, queries))


def test_lookup_with_long_probe_runs():
    # Consecutive multiples of 2**52 share their home slot's neighbourhood:
    # whole runs of slots are filled, so a probe walks far.
    keys = np.arange(3000, dtype=np.int64) << 52 >> 8
    index = HashIndex(keys)
    queries = np.concatenate([keys, keys + 1, keys[::-1]])
    np.testing.assert_array_equal(index.lookup(queries), _oracle(keys, queries))


def test_lookup_of_sorted_ngram_keys_and_negative_queries():
    # The layout of the n-gram tables: context * base + word, sorted; scoring
    # asks for negative keys (contexts not stored) too.
    rng = np.random.default_rng(1)
    base = 5001
    keys = np.unique(rng.integers(0, 3000, 40_000) * base + rng.integers(0, base, 40_000))
    queries = np.concatenate([keys[::3], keys + 1, np.arange(-2 * base, 0), [0, keys[-1] + base]])
    np.testing.assert_array_equal(HashIndex(keys).lookup(queries), _oracle(keys, queries))


def test_lookup_of_no_queries():
    index = HashIndex(np.array([5, 7], dtype=np.int64))
    assert index.lookup(np.array([], dtype=np.int64)).shape == (0,)
