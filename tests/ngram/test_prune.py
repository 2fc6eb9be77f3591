"""Pruning: count thresholds (KenLM's ``lmplz --prune``)."""

import math
import warnings
from collections import Counter

import numpy as np
import pytest
from test_kneser_ney import BOS, EOS, KneserNeyOracle, random_corpus

from sklm import NGramLM


class PrunedKneserNeyOracle(KneserNeyOracle):
    """KenLM's pruned estimate, rule by rule, with dicts and loops.

    Everything is estimated on all the counts (discounts, continuation
    counts); an n-gram of order ``k >= 2`` seen at most ``thresholds[k - 1]``
    times is dropped, and its discounted count goes to its context's gamma:
    ``gamma(h) = (sum of D(a) over the kept children + sum of a over the
    pruned ones) / sum of a over all the children``.
    """

    def __init__(self, samples, order, classes, thresholds):
        super().__init__(samples, order, classes)
        raw = Counter()
        for sample in samples:
            seq = [BOS, *sample, EOS]
            for end in range(len(seq)):
                for k in range(1, order + 1):
                    if end - k + 1 >= 0:
                        raw[tuple(seq[end - k + 1 : end + 1])] += 1
        self.pruned = {g for g, c in raw.items() if len(g) >= 2 and c <= thresholds[len(g) - 1]}
        self.kept = Counter(len(g) for g in raw if g not in self.pruned)

    def prob(self, word, context):
        k = len(context) + 1
        children = self.children[k].get(context)
        if not children:
            return self.prob(word, context[1:])
        total = sum(children.values())
        gamma = 0.0
        for child, count in children.items():
            gone = (*context, child) in self.pruned
            gamma += count if gone else self.discount(k, count)
        gamma /= total
        a = 0 if (*context, word) in self.pruned else children.get(word, 0)
        own = (a - self.discount(k, a)) / total
        lower = 1 / len(self.classes) if k == 1 else self.prob(word, context[1:])
        return own + gamma * lower


@pytest.mark.parametrize(
    "order, prune",
    [(2, (0, 1)), (3, (0, 1, 1)), (3, (0, 0, 1)), (3, (0, 2)), (4, (0, 1, 1, 3))],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_pruned_kneser_ney_matches_slow_oracle(order, prune, seed):
    train = random_corpus(seed, n_samples=200, n_words=12)
    test = random_corpus(seed + 100, n_samples=30) + [[], ["w0", "unseen", "w1"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        lm = NGramLM(order=order, prune=prune).fit(train)
        unpruned = NGramLM(order=order).fit(train)
    thresholds = list(prune) + [prune[-1]] * (order - len(prune))
    oracle = PrunedKneserNeyOracle(train, order, lm.classes_, thresholds)
    assert oracle.pruned  # the case prunes something
    # Discounts come from all the counts, before pruning.
    np.testing.assert_array_equal(lm.discounts_, unpruned.discounts_)
    expected_sizes = [len(lm.classes_) + 1] + [oracle.kept[k] for k in range(2, order + 1)]
    np.testing.assert_array_equal(lm.ngram_counts_, expected_sizes)
    expected = np.array([oracle.score_sample(s) for s in test])
    np.testing.assert_allclose(lm.score_samples(test), expected, rtol=1e-10)
    contexts = [[], ["w0"], ["w1", "w2"], ["w3", "w0", "w0"], ["nope", "w0"], ["w9", "w11"]]
    expected = np.array([oracle.next_proba(c) for c in contexts])
    np.testing.assert_allclose(lm.predict_proba(contexts), expected, rtol=1e-10)


def test_hand_computed_mle_moves_the_pruned_mass_to_the_lower_order():
    # Bigrams after "a": "a b" twice (kept), "a c" once (pruned), so
    # gamma(a) = 0 + 1/3; unigram MLE over 9 tokens: a 3, b 2, c 1, </s> 3.
    lm = NGramLM(order=2, smoothing="mle", prune=(0, 1)).fit(["a b", "a b", "a c"])
    # Kept: <s> a (3), a b (2), b </s> (2); pruned: a c, c </s>.
    np.testing.assert_array_equal(lm.ngram_counts_, [len(lm.classes_) + 1, 3])
    proba = dict(zip(lm.classes_, lm.predict_proba(["a"])[0]))
    expected = {"a": 3 / 27, "b": 2 / 3 + 2 / 27, "c": 1 / 27, "</s>": 3 / 27, "<unk>": 0.0}
    for token, p in expected.items():
        assert proba[token] == pytest.approx(p, rel=1e-12)
    # "c </s>" is pruned and was the only bigram after "c", whose weight is
    # then 1: the unigram p(</s>) = 3/9 answers.
    expected = math.log(1.0) + math.log(1 / 27) + math.log(3 / 9)
    assert lm.score_samples(["a c"])[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "smoothing", ["mle", "add_k", "absolute_discounting", "witten_bell", "kneser_ney"]
)
def test_pruned_models_still_normalise(smoothing):
    train = random_corpus(4, n_samples=150, n_words=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        lm = NGramLM(order=3, smoothing=smoothing, prune=(0, 1, 2)).fit(train)
        full = NGramLM(order=3, smoothing=smoothing).fit(train)
    assert (lm.ngram_counts_[1:] < full.ngram_counts_[1:]).all()
    contexts = [[], ["w0"], ["w1", "w2"], ["w3", "w0", "w0"], ["nope", "w0"], ["w9"]]
    np.testing.assert_allclose(lm.predict_proba(contexts).sum(axis=1), 1.0, rtol=1e-12)
    # Chain rule: score_samples is the sum of the next-token log-probabilities.
    sample = ["w0", "w3", "w1", "w0"]
    steps = [lm.predict_log_proba([sample[:i]])[0] for i in range(len(sample) + 1)]
    ids = [lm.vocabulary_[w] for w in sample] + [lm.vocabulary_[EOS]]
    chain = sum(step[i] for step, i in zip(steps, ids))
    assert lm.score_samples([sample])[0] == pytest.approx(chain, rel=1e-12)


def test_stupid_backoff_drops_the_pruned_ngrams():
    train = ["a b", "a b", "a c"]
    lm = NGramLM(order=2, smoothing="stupid_backoff", prune=(0, 1)).fit(train)
    full = NGramLM(order=2, smoothing="stupid_backoff").fit(train)
    # Kept n-grams score as before; "a c" now backs off: 0.4 * c(c) / N.
    tokens = lm.score_tokens(["a b", "a c"])
    np.testing.assert_allclose(tokens[0], full.score_tokens(["a b"])[0], rtol=1e-12)
    assert tokens[1][1] == pytest.approx(math.log(0.4 * 1 / 9))


def test_a_short_prune_is_extended_with_its_last_value():
    train = random_corpus(2, n_samples=150)
    a = NGramLM(order=4, prune=(0, 1)).fit(train)
    b = NGramLM(order=4, prune=[0, 1, 1, 1]).fit(train)
    np.testing.assert_array_equal(a.score_samples(train), b.score_samples(train))
    # All-zero thresholds prune nothing.
    c = NGramLM(order=4, prune=(0, 0)).fit(train)
    np.testing.assert_array_equal(c.ngram_counts_, NGramLM(order=4).fit(train).ngram_counts_)


def test_a_huge_threshold_keeps_the_unigrams_only():
    train = random_corpus(2, n_samples=50)
    lm = NGramLM(order=3, prune=(0, 10**30)).fit(train)
    np.testing.assert_array_equal(lm.ngram_counts_[1:], [0, 0])
    np.testing.assert_allclose(lm.predict_proba([["w0"]]).sum(), 1.0, rtol=1e-12)


@pytest.mark.parametrize(
    "prune, match",
    [
        ((1, 1), "start with 0"),
        ((0, 2, 1), "must not decrease"),
        ((0, 1, 1, 1), "1 to order=3"),
        ((), "1 to order=3"),
        ((0, -1), "non-negative integers"),
        ((0, 1.5), "non-negative integers"),
        ((0, True), "non-negative integers"),
        ("011", "'prune' parameter"),
    ],
)
def test_bad_prune_is_refused_and_the_fitted_model_kept(prune, match):
    lm = NGramLM(order=3, smoothing="witten_bell").fit(["a b", "a c"])
    before = lm.score_samples(["a b c"])
    lm.set_params(prune=prune)
    with pytest.raises(ValueError, match=match):
        lm.fit(["a b", "b c"])
    np.testing.assert_array_equal(lm.score_samples(["a b c"]), before)
