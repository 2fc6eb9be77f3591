"""Kneser-Ney against a slow, obviously correct pure-Python oracle.

The oracle follows KenLM's estimation rules one by one with dicts and loops:
n-grams never cross <s>; the highest order keeps raw counts; lower orders
count distinct left neighbours, except n-grams opening with <s> (raw counts);
the unigram <s> counts 0; three discounts per order from the counts of
counts (fallback 0.5, 1, 1.5); gamma over the sum of the children's adjusted
counts; unigrams interpolated with the uniform distribution over the classes.
"""

import math
import warnings
from collections import Counter, defaultdict

import numpy as np
import pytest

from sklm import NGramLM

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


class KneserNeyOracle:
    def __init__(self, samples, order, classes):
        self.order = order
        self.classes = list(classes)
        raw = [Counter() for _ in range(order + 1)]
        for sample in samples:
            seq = [BOS, *sample, EOS]
            for end in range(len(seq)):
                for k in range(1, order + 1):
                    if end - k + 1 >= 0:
                        raw[k][tuple(seq[end - k + 1 : end + 1])] += 1
        adjusted = [None] + [Counter() for _ in range(order)]
        adjusted[order] = Counter(raw[order])
        for k in range(1, order):
            left = defaultdict(set)
            for gram in raw[k + 1]:
                left[gram[1:]].add(gram[0])
            for gram, count in raw[k].items():
                adjusted[k][gram] = count if gram[0] == BOS else len(left[gram])
        adjusted[1][(BOS,)] = 0
        for word in self.classes:
            adjusted[1].setdefault((word,), 0)
        self.adjusted = adjusted
        self.discounts = [None]
        for k in range(1, order + 1):
            n = Counter(c for c in adjusted[k].values() if c > 0)
            n1, n2, n3, n4 = n[1], n[2], n[3], n[4]
            d = None
            if n1 and n2 and n3:
                y = n1 / (n1 + 2 * n2)
                d = [1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3]
                if not all(0 <= d[j] <= j + 1 for j in range(3)):
                    d = None
            self.discounts.append(d or [0.5, 1.0, 1.5])
        self.children = [None] + [defaultdict(dict) for _ in range(order)]
        for k in range(1, order + 1):
            for gram, count in adjusted[k].items():
                if gram != (BOS,):
                    self.children[k][gram[:-1]][gram[-1]] = count

    def discount(self, k, count):
        return 0.0 if count == 0 else self.discounts[k][min(count, 3) - 1]

    def prob(self, word, context):
        k = len(context) + 1
        children = self.children[k].get(context)
        if not children:
            return self.prob(word, context[1:])
        total = sum(children.values())
        gamma = sum(self.discount(k, c) for c in children.values()) / total
        a = children.get(word, 0)
        own = (a - self.discount(k, a)) / total
        lower = 1 / len(self.classes) if k == 1 else self.prob(word, context[1:])
        return own + gamma * lower

    def _context(self, seq, end):
        return tuple(seq[max(0, end - (self.order - 1)) : end])

    def read(self, sample):
        return [w if w in self.classes and w != EOS else UNK for w in sample]

    def score_sample(self, sample):
        seq = [BOS, *self.read(sample), EOS]
        return sum(math.log(self.prob(seq[i], self._context(seq, i))) for i in range(1, len(seq)))

    def next_proba(self, context):
        seq = [BOS, *self.read(context)]
        h = self._context(seq, len(seq))
        return np.array([self.prob(w, h) for w in self.classes])


def random_corpus(seed, n_samples=120, n_words=9):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(n_words)]
    weights = 1 / np.arange(1, n_words + 1)
    weights /= weights.sum()
    return [list(rng.choice(words, size=rng.integers(0, 9), p=weights)) for _ in range(n_samples)]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_slow_oracle(order, seed):
    train = random_corpus(seed)
    test = random_corpus(seed + 100, n_samples=30) + [[], ["w0", "unseen", "w1"], ["zz"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        lm = NGramLM(order=order).fit(train)
    oracle = KneserNeyOracle(train, order, lm.classes_)
    np.testing.assert_allclose(lm.discounts_, np.array(oracle.discounts[1:]), rtol=1e-12)
    expected = np.array([oracle.score_sample(s) for s in test])
    np.testing.assert_allclose(lm.score_samples(test), expected, rtol=1e-10)
    contexts = [[], ["w0"], ["w1", "w2"], ["w3", "w0", "w0"], ["nope", "w0"], ["w2", "nope"]]
    expected = np.array([oracle.next_proba(c) for c in contexts])
    np.testing.assert_allclose(lm.predict_proba(contexts), expected, rtol=1e-10)


def test_discounts_follow_the_counts_of_counts():
    # Zipfian words, enough of them for every count of count to be non-zero;
    # the highest order (2) is discounted on the raw bigram counts.
    train = random_corpus(3, n_samples=400, n_words=200)
    lm = NGramLM(order=2).fit(train)
    n = lm.counts_of_counts_
    assert (n[:, :3] > 0).all()
    for k in range(2):
        n1, n2, n3, n4 = n[k]
        y = n1 / (n1 + 2 * n2)
        expected = [1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3]
        np.testing.assert_allclose(lm.discounts_[k], expected, rtol=1e-12)
    raw_bigrams = Counter()
    for sample in train:
        seq = [BOS, *sample, EOS]
        raw_bigrams.update(zip(seq, seq[1:]))
    of_counts = Counter(raw_bigrams.values())
    assert list(n[1]) == [of_counts[1], of_counts[2], of_counts[3], of_counts[4]]


def test_repetitive_data_falls_back_with_a_warning():
    # One sentence repeated: every count is the same, so n1 = n2 = 0 (KenLM aborts here).
    with pytest.warns(UserWarning, match="order 1") as record:
        lm = NGramLM(order=3).fit(["the same sentence"] * 5)
    assert any("order 3" in str(w.message) for w in record)
    np.testing.assert_array_equal(lm.discounts_, [[0.5, 1.0, 1.5]] * 3)
    assert np.isfinite(lm.score(["the same sentence", "another one"]))
    np.testing.assert_allclose(lm.predict_proba(["the", ""]).sum(axis=1), 1.0, rtol=1e-12)


def test_unigram_interpolation_reaches_unk():
    lm = NGramLM(order=2).fit(random_corpus(5, n_samples=300))
    proba = lm.predict_proba([["w0"]])[0]
    # <unk> never occurs in training: only the uniform share reaches it.
    assert 0 < proba[0] < proba[lm.vocabulary_["w0"]]
