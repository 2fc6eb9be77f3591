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


# Entropy pruning -------------------------------------------------------------


def stored_ngrams(lm, k):
    """The stored k-grams of ``lm`` as tuples of tokens (``<s>`` included)."""
    tables = lm.tables_
    names = [*lm.classes_, BOS]
    words = [np.arange(tables.base)[:, None]]
    for j in range(2, k + 1):
        keys = tables.keys[j - 1]
        words.append(np.column_stack([words[-1][keys // tables.base], keys % tables.base]))
    return {tuple(names[i] for i in row) for row in words[-1].tolist()}


def seen_ngrams(samples, k):
    grams = set()
    for sample in samples:
        seq = [BOS, *sample, EOS]
        grams.update(tuple(seq[i : i + k]) for i in range(len(seq) - k + 1))
    return grams


def context_tokens(h, order):
    """A context tuple as what predict_proba reads.

    ``<s>`` opens every context that predict_proba reads; a context without
    it is filled on the left with never seen words, which no stored n-gram
    holds, so that it backs off (with weight 1) to exactly ``h``.
    """
    if h and h[0] == BOS:
        return list(h[1:])
    return ["never-seen-word"] * (order - 1 - len(h)) + list(h)


def removal_costs(lm, grams):
    """Relative increase of perplexity from removing each n-gram alone, directly.

    For ``hw`` removed: the next-token distribution after ``h`` keeps the
    other stored continuations of ``h`` and gives every other word its
    probability after ``h'`` times the one factor that makes the row sum to
    one; the cost is ``exp(P(h) KL(p(.|h) || p'(.|h))) - 1``, ``P(h)`` the
    chain-rule probability of the words of ``h``.
    """
    index, order = lm.vocabulary_, lm.order
    by_context = {}
    for gram in grams:
        by_context.setdefault(gram[:-1], set()).add(gram[-1])
    costs = {}
    for h, words in by_context.items():
        row = lm.predict_proba([context_tokens(h, order)])[0]
        lower = lm.predict_proba([context_tokens(h[1:], order)])[0]
        p_h = 1.0
        for j, token in enumerate(h):
            if token != BOS:
                p_h *= lm.predict_proba([context_tokens(h[:j], order)])[0][index[token]]
        for w in words:
            others = [index[v] for v in words if v != w]
            backed = np.ones(len(row), dtype=bool)
            backed[others] = False
            alpha = (1 - row[others].sum()) / lower[backed].sum()
            new = np.where(backed, alpha * lower, row)
            kl = float(np.sum(row * np.log(row / new)))
            costs[(*h, w)] = math.expm1(p_h * kl)
    return costs


def threshold_between(costs):
    """A threshold near the median cost, far from every cost."""
    values = np.sort(np.array(list(costs.values())))
    gaps = values[1:] / np.maximum(values[:-1], 1e-300)
    middle = len(values) // 2
    candidates = [i for i in range(len(gaps)) if gaps[i] > 1.01]
    i = min(candidates, key=lambda i: abs(i - middle))
    return float(np.sqrt(values[i] * values[i + 1]))


@pytest.mark.parametrize("smoothing", ["kneser_ney", "witten_bell", "absolute_discounting"])
@pytest.mark.parametrize("order", [2, 3])
def test_entropy_pruning_matches_the_relative_entropy_computed_directly(smoothing, order):
    train = random_corpus(7, n_samples=150, n_words=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        full = NGramLM(order=order, smoothing=smoothing).fit(train)
        highest = seen_ngrams(train, order)
        assert stored_ngrams(full, order) == highest
        costs = removal_costs(full, highest)
        threshold = threshold_between(costs)
        lm = NGramLM(order=order, smoothing=smoothing, prune_entropy=threshold).fit(train)
    expected = {g for g, cost in costs.items() if cost >= threshold}
    assert 0 < len(expected) < len(highest)
    # The highest order is decided against the unpruned model.
    assert stored_ngrams(lm, order) == expected
    if order == 2:
        # Every row: the kept bigrams as they were, every other word backed off
        # with the one weight that makes it sum to one.
        unigram = full.predict_proba([context_tokens((), order)])[0]
        for h in {g[:-1] for g in highest}:
            row = full.predict_proba([context_tokens(h, order)])[0]
            kept = [lm.vocabulary_[g[-1]] for g in expected if g[:-1] == h]
            backed = np.ones(len(row), dtype=bool)
            backed[kept] = False
            alpha = (1 - row[kept].sum()) / unigram[backed].sum()
            want = np.where(backed, alpha * unigram, row)
            got = lm.predict_proba([context_tokens(h, order)])[0]
            np.testing.assert_allclose(got, want, rtol=1e-9)


@pytest.mark.parametrize("smoothing", ["mle", "add_k", "witten_bell", "kneser_ney"])
def test_entropy_pruned_models_normalise_and_keep_prefixes_and_suffixes(smoothing):
    train = random_corpus(8, n_samples=200, n_words=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        full = NGramLM(order=4, smoothing=smoothing).fit(train)
        lm = NGramLM(order=4, smoothing=smoothing, prune_entropy=1e-3).fit(train)
    assert lm.ngram_counts_[1:].sum() < full.ngram_counts_[1:].sum()
    grams = [stored_ngrams(lm, k) for k in (2, 3, 4)]
    for shorter, longer in zip(grams, grams[1:]):
        assert {g[:-1] for g in longer} <= shorter
        assert {g[1:] for g in longer} <= shorter
    contexts = [[], ["w0"], ["w1", "w2"], ["w3", "w0", "w0"], ["nope", "w0"], ["w9"]]
    np.testing.assert_allclose(lm.predict_proba(contexts).sum(axis=1), 1.0, rtol=1e-10)
    sample = ["w0", "w3", "w1", "w0", "w2"]
    steps = [lm.predict_log_proba([sample[:i]])[0] for i in range(len(sample) + 1)]
    ids = [lm.vocabulary_[w] for w in sample] + [lm.vocabulary_[EOS]]
    chain = sum(step[i] for step, i in zip(steps, ids))
    assert lm.score_samples([sample])[0] == pytest.approx(chain, rel=1e-10)


def test_entropy_pruning_after_count_pruning_and_its_limits():
    train = random_corpus(9, n_samples=200, n_words=12)
    counted = NGramLM(order=3, smoothing="witten_bell", prune=(0, 1)).fit(train)
    both = NGramLM(order=3, smoothing="witten_bell", prune=(0, 1), prune_entropy=1e-4).fit(train)
    assert (both.ngram_counts_ <= counted.ngram_counts_).all()
    np.testing.assert_allclose(both.predict_proba([["w0", "w1"]]).sum(), 1.0, rtol=1e-12)
    # 0 prunes only what costs nothing; a huge threshold all it may: the unigrams stay.
    none = NGramLM(order=3, smoothing="witten_bell", prune_entropy=0.0).fit(train)
    np.testing.assert_array_equal(
        none.ngram_counts_, counted.set_params(prune=None).fit(train).ngram_counts_
    )
    everything = NGramLM(order=3, smoothing="witten_bell", prune_entropy=1e300).fit(train)
    np.testing.assert_array_equal(everything.ngram_counts_[1:], [0, 0])
    assert np.isfinite(everything.score(train))
    with pytest.raises(ValueError, match="stupid_backoff"):
        NGramLM(smoothing="stupid_backoff", prune_entropy=1e-6).fit(train)
    with pytest.raises(ValueError, match="prune_entropy"):
        NGramLM(prune_entropy=-1.0).fit(train)
