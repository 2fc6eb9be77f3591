"""The hash-partitioned reduce of sharded counts against the counts of the whole corpus."""

import numpy as np
import pytest
from toy import encoded_counts

from sklm.base import Vocabulary
from sklm.ngram._counting import continuation_counts
from sklm.ngram._sharding import assemble_counts, reduce_partition, split_counts


def _partitioned(vocabulary, parts, order, n_partitions):
    split = [split_counts(encoded_counts(vocabulary, part, order), n_partitions) for part in parts]
    reduced = [reduce_partition(*(pieces[p] for pieces in split)) for p in range(n_partitions)]
    return split, reduced, assemble_counts(len(vocabulary), *reduced)


def _left_words(samples, order):
    """Oracle: for each n-gram of order < ``order`` (as a word tuple), its distinct left words."""
    left = {}
    for sample in samples:
        words = ["<s>", *sample, "</s>"]
        for k in range(2, order + 1):
            for end in range(k, len(words) + 1):
                gram = tuple(words[end - k : end])
                left.setdefault(gram[1:], set()).add(gram[0])
    return left


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("n_partitions", [1, 2, 3, 7])
def test_partitions_reassemble_the_counts_of_the_whole(order, n_partitions):
    rng = np.random.default_rng(order * 10 + n_partitions)
    words = [f"w{i}" for i in range(9)]
    samples = [list(rng.choice(words, size=rng.integers(0, 9))) for _ in range(80)]
    vocabulary = Vocabulary.learn(samples)
    whole = encoded_counts(vocabulary, samples, order)
    parts = [samples[:30], [], samples[30:31], samples[31:]]
    _, _, assembled = _partitioned(vocabulary, parts, order, n_partitions)
    for k in range(order):
        np.testing.assert_array_equal(assembled.keys[k], whole.keys[k])
        np.testing.assert_array_equal(assembled.counts[k], whole.counts[k])
        np.testing.assert_array_equal(assembled.bos_initial[k], whole.bos_initial[k])
        if k:
            np.testing.assert_array_equal(assembled.suffix[k], whole.suffix[k])
    # The partitions' continuation counts are the single-process ones.
    for k in range(1, order + 1):
        np.testing.assert_array_equal(
            continuation_counts(assembled, k), continuation_counts(whole, k)
        )
        if k < order:
            np.testing.assert_array_equal(
                assembled.continuation[k - 1],
                np.bincount(whole.suffix[k], minlength=len(whole.keys[k - 1])),
            )


def test_continuation_counts_are_counted_within_each_partition():
    rng = np.random.default_rng(5)
    words = [f"w{i}" for i in range(6)]
    samples = [list(rng.choice(words, size=rng.integers(1, 8))) for _ in range(60)]
    order, n_partitions = 4, 3
    vocabulary = Vocabulary.learn(samples)
    split, reduced, _ = _partitioned(vocabulary, [samples[:25], samples[25:]], order, n_partitions)
    oracle = _left_words(samples, order)
    classes = [*vocabulary.classes(), "<s>"]
    found = {}
    for p, partition in enumerate(reduced):
        # Every part sends a suffix to the same partition.
        for k in range(2, order + 1):
            suffixes = [
                {tuple(row[1:]) for row in pieces[p][k - 1][0].tolist()} for pieces in split
            ]
            others = [
                {tuple(row[1:]) for row in pieces[q][k - 1][0].tolist()}
                for pieces in split
                for q in range(n_partitions)
                if q != p
            ]
            assert not set().union(*suffixes) & set().union(*others)
            grams, _, suffixes, n_left, group = partition[k - 1]
            np.testing.assert_array_equal(suffixes[group], grams[:, 1:])
            for row, count in zip(suffixes.tolist(), n_left.tolist()):
                suffix = tuple(classes[w] for w in row)
                assert suffix not in found
                found[suffix] = count
    assert found == {suffix: len(left) for suffix, left in oracle.items()}
    # The hash spreads the n-grams over every partition.
    assert all(len(partition[order - 1][0]) for partition in reduced)
