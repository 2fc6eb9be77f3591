import numpy as np
import pytest
from toy import encoded_counts

from sklm.base import Vocabulary
from sklm.ngram._counting import combine_counts


def merge_counts(a, b):
    """The counts of two corpora under one vocabulary, taken together."""
    same_words = np.arange(a.base)
    return combine_counts([a, b], [same_words, same_words], a.n_classes)


def _assert_equal(merged, whole):
    assert merged.n_classes == whole.n_classes and merged.order == whole.order
    for k in range(whole.order):
        np.testing.assert_array_equal(merged.keys[k], whole.keys[k])
        np.testing.assert_array_equal(merged.counts[k], whole.counts[k])
        np.testing.assert_array_equal(merged.bos_initial[k], whole.bos_initial[k])
        if k:
            np.testing.assert_array_equal(merged.suffix[k], whole.suffix[k])


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merged_counts_of_the_parts_equal_the_counts_of_the_whole(order, seed):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(7)]
    samples = [list(rng.choice(words, size=rng.integers(0, 9))) for _ in range(60)]
    vocabulary = Vocabulary.learn(samples)
    whole = encoded_counts(vocabulary, samples, order)
    cuts = sorted(rng.choice(np.arange(1, 60), size=3, replace=False))
    parts = np.split(np.arange(60), cuts)
    merged = None
    for part in parts:
        counts = encoded_counts(vocabulary, [samples[i] for i in part], order)
        merged = counts if merged is None else merge_counts(merged, counts)
    _assert_equal(merged, whole)
    # Merging is symmetric: the other way round gives the same tables.
    a = encoded_counts(vocabulary, samples[:25], order)
    b = encoded_counts(vocabulary, samples[25:], order)
    _assert_equal(merge_counts(b, a), whole)


def test_merging_an_empty_part_changes_nothing():
    samples = [["a", "b", "a"], ["b"]]
    vocabulary = Vocabulary.learn(samples)
    whole = encoded_counts(vocabulary, samples, 3)
    _assert_equal(merge_counts(whole, encoded_counts(vocabulary, [], 3)), whole)
