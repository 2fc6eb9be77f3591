"""The open-addressing hash of the n-gram tables and the text encoder."""

import numpy as np
import pytest

from sklm._hashing import HashIndex


def _oracle(keys, queries):
    where = {int(key): i for i, key in enumerate(keys)}
    return np.array([where.get(int(q), -1) for q in queries], dtype=np.intp)


# Both ways of a lookup: the compiled loop and the NumPy passes.
WAYS = pytest.mark.parametrize("compiled", [True, False])


@WAYS
@pytest.mark.parametrize("n_keys", [0, 1, 2, 3, 17, 1000, 20_000])
def test_lookup_matches_a_dict(n_keys, compiled):
    rng = np.random.default_rng(n_keys)
    keys = np.unique(rng.integers(-(2**62), 2**62, n_keys))
    rng.shuffle(keys)
    queries = np.concatenate([keys, rng.integers(-(2**62), 2**62, 500), -keys[:50] - 1])
    rng.shuffle(queries)
    np.testing.assert_array_equal(
        HashIndex(keys).lookup(queries, compiled=compiled), _oracle(keys, queries)
    )


@WAYS
def test_lookup_with_long_probe_runs(compiled):
    # Consecutive multiples of 2**52 share their home slot's neighbourhood:
    # whole runs of slots are filled, so a probe walks far.
    keys = np.arange(3000, dtype=np.int64) << 52 >> 8
    index = HashIndex(keys)
    queries = np.concatenate([keys, keys + 1, keys[::-1]])
    np.testing.assert_array_equal(index.lookup(queries, compiled=compiled), _oracle(keys, queries))


@WAYS
def test_lookup_of_sorted_ngram_keys_and_negative_queries(compiled):
    # The layout of the n-gram tables: context * base + word, sorted; scoring
    # asks for negative keys (contexts not stored) too.
    rng = np.random.default_rng(1)
    base = 5001
    keys = np.unique(rng.integers(0, 3000, 40_000) * base + rng.integers(0, base, 40_000))
    queries = np.concatenate([keys[::3], keys + 1, np.arange(-2 * base, 0), [0, keys[-1] + base]])
    np.testing.assert_array_equal(
        HashIndex(keys).lookup(queries, compiled=compiled), _oracle(keys, queries)
    )


@WAYS
def test_lookup_of_no_queries(compiled):
    index = HashIndex(np.array([5, 7], dtype=np.int64))
    assert index.lookup(np.array([], dtype=np.int64), compiled=compiled).shape == (0,)


@pytest.mark.parametrize("n_keys", [0, 1, 17, 20_000])
@pytest.mark.parametrize("block", [7, 1 << 20])
def test_built_slots_pass_their_check_and_reload(n_keys, block):
    rng = np.random.default_rng(n_keys)
    keys = np.unique(rng.integers(-(2**62), 2**62, n_keys))
    index = HashIndex(keys)
    index.check(block=block)
    again = HashIndex.from_slots(keys, index.slot_value.copy(), index.bits)
    again.check(block=block)
    queries = np.concatenate([keys, rng.integers(-(2**62), 2**62, 100)])
    np.testing.assert_array_equal(again.lookup(queries), _oracle(keys, queries))


def test_the_check_follows_probe_runs_across_blocks():
    keys = np.arange(3000, dtype=np.int64) << 52 >> 8  # long runs of filled slots
    HashIndex(keys).check(block=5)


def _damaged(change):
    keys = np.unique(np.random.default_rng(0).integers(-(2**62), 2**62, 20_000))
    index = HashIndex(keys)
    slots = index.slot_value.copy()
    change(slots, np.flatnonzero(slots >= 0))
    return HashIndex.from_slots(keys, slots, index.bits)


def _repeat(slots, filled):
    # A key copied into the next slot of its run: still where probing finds
    # it, but now held twice (and another key not at all).
    i = np.flatnonzero(np.diff(filled) == 1)[0]
    slots[filled[i + 1]] = slots[filled[i]]


def _swap_far(slots, filled):
    far = filled[np.argmax(filled - filled[0] > 100)]
    slots[filled[0]], slots[far] = slots[far], slots[filled[0]]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda slots, filled: slots.__setitem__(filled[0], -1), "every key exactly once"),
        (_repeat, "every key exactly once"),
        (lambda slots, filled: slots.__setitem__(filled[0], 20_000), "outside the key table"),
        (lambda slots, filled: slots.__setitem__(filled[0], -5), "outside the key table"),
        (lambda slots, filled: slots.__setitem__(-1, 0), "end with an empty slot"),
        (_swap_far, "where probing finds it"),
    ],
)
def test_the_check_refuses_damaged_slots(change, message):
    with pytest.raises(ValueError, match=message):
        _damaged(change).check(block=64)


def test_from_slots_refuses_impossible_shapes():
    keys = np.arange(100, dtype=np.int64)
    index = HashIndex(keys)
    with pytest.raises(ValueError, match="too few"):
        HashIndex.from_slots(keys, index.slot_value[:10], index.bits)
    with pytest.raises(ValueError, match="hash bits"):
        HashIndex.from_slots(keys, index.slot_value, 99)
    with pytest.raises(ValueError, match="1-D array"):
        HashIndex.from_slots(keys, index.slot_value.astype(np.float64), index.bits)
