"""Hand-computed probability tables for every smoothing, order 2.

Corpus ``["a b a", "b a"]``, read as ``<s> a b a </s>`` and ``<s> b a </s>``.
Classes (``<unk>``, ``</s>``, then by decreasing count): ``<unk> </s> a b``,
so ``V = 4``.

Unigram counts (predicted tokens): a 3, b 2, </s> 2, <unk> 0; N = 7.
Bigram counts: (<s> a) 1, (<s> b) 1, (a b) 1, (a </s>) 2, (b a) 2.
Context totals: c(<s>) = 2, c(a) = 3, c(b) = 2; distinct followers
N1+(<s>) = 2, N1+(a) = 2, N1+(b) = 1.
"""

import math
import warnings

import numpy as np
import pytest

from sklm import NGramLM

X = ["a b a", "b a"]
UNK, EOS, A, B = range(4)


def fit(**params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return NGramLM(order=2, **params).fit(X)


def check_table(lm, table):
    """``table[context] = {word: p}`` against predict_proba and score_samples."""
    assert list(lm.classes_) == ["<unk>", "</s>", "a", "b"]
    for context, row in table.items():
        proba = lm.predict_proba([context])[0]
        expected = np.array([row[w] for w in range(4)])
        np.testing.assert_allclose(proba, expected, rtol=1e-12, atol=0)
    # "a b a" = p(a|<s>) p(b|a) p(a|b) p(</s>|a)
    t0, ta, tb = table[""], table["a"], table["b"]
    expected = math.log(t0[A] * ta[B] * tb[A] * ta[EOS])
    np.testing.assert_allclose(lm.score_samples(["a b a"]), [expected], rtol=1e-12)


def test_mle():
    lm = fit(smoothing="mle")
    check_table(
        lm,
        {
            "": {UNK: 0, EOS: 0, A: 1 / 2, B: 1 / 2},
            "a": {UNK: 0, EOS: 2 / 3, A: 0, B: 1 / 3},
            "b": {UNK: 0, EOS: 0, A: 1, B: 0},
            # an unseen context is shortened to its longest seen suffix: the unigrams
            "zz": {UNK: 0, EOS: 2 / 7, A: 3 / 7, B: 2 / 7},
        },
    )
    # unseen events: probability 0, log-probability -inf (documented)
    assert lm.score_samples(["b b"])[0] == -np.inf
    assert lm.score_samples(["zz"])[0] == -np.inf


def test_add_k_laplace():
    # (c(hw) + 1) / (c(h) + 4) on the full context; unseen context: 1 / 4
    lm = fit(smoothing="add_k", alpha=1.0)
    check_table(
        lm,
        {
            "": {UNK: 1 / 6, EOS: 1 / 6, A: 2 / 6, B: 2 / 6},
            "a": {UNK: 1 / 7, EOS: 3 / 7, A: 1 / 7, B: 2 / 7},
            "b": {UNK: 1 / 6, EOS: 1 / 6, A: 3 / 6, B: 1 / 6},
            "zz": {UNK: 1 / 4, EOS: 1 / 4, A: 1 / 4, B: 1 / 4},
        },
    )


def test_add_k_lidstone_and_alpha_zero():
    lm = fit(smoothing="add_k", alpha=0.5)
    # (c(hw) + 0.5) / (c(h) + 2)
    np.testing.assert_allclose(
        lm.predict_proba(["a"])[0], [0.5 / 5, 2.5 / 5, 0.5 / 5, 1.5 / 5], rtol=1e-12
    )
    mle = fit(smoothing="mle")
    zero = fit(smoothing="add_k", alpha=0.0)
    contexts = ["a", "b", ""]
    np.testing.assert_array_equal(zero.predict_proba(contexts), mle.predict_proba(contexts))


def test_add_k_unigram():
    lm = NGramLM(order=1, smoothing="add_k", alpha=1.0).fit(X)
    # (c(w) + 1) / (7 + 4)
    np.testing.assert_allclose(lm.predict_proba([""])[0], [1 / 11, 3 / 11, 4 / 11, 3 / 11])


def test_witten_bell():
    lm = fit(smoothing="witten_bell")
    # unigrams: (c(w) + 3 * 1/4) / (7 + 3), three seen types
    p1 = {UNK: 0.75 / 10, EOS: 2.75 / 10, A: 3.75 / 10, B: 2.75 / 10}
    # (c(hw) + N1+(h) p1(w)) / (c(h) + N1+(h))
    check_table(
        lm,
        {
            "": {w: ((w in (A, B)) + 2 * p1[w]) / 4 for w in p1},
            "a": {w: ({B: 1, EOS: 2}.get(w, 0) + 2 * p1[w]) / 5 for w in p1},
            "b": {w: ({A: 2}.get(w, 0) + 1 * p1[w]) / 3 for w in p1},
            "zz": p1,
        },
    )


def test_absolute_discounting():
    lm = fit(smoothing="absolute_discounting", discount=0.5)
    # unigrams: max(c - 0.5, 0) / 7 + 0.5 * 3 / 7 * 1/4
    p1 = {UNK: 1.5 / 28, EOS: 1.5 / 7 + 1.5 / 28, A: 2.5 / 7 + 1.5 / 28, B: 1.5 / 7 + 1.5 / 28}
    # max(c(hw) - 0.5, 0) / c(h) + 0.5 N1+(h) / c(h) p1(w)
    check_table(
        lm,
        {
            "": {w: (0.5 if w in (A, B) else 0) / 2 + 0.5 * 2 / 2 * p1[w] for w in p1},
            "a": {w: {B: 0.5, EOS: 1.5}.get(w, 0) / 3 + 0.5 * 2 / 3 * p1[w] for w in p1},
            "b": {w: {A: 1.5}.get(w, 0) / 2 + 0.5 * 1 / 2 * p1[w] for w in p1},
            "zz": p1,
        },
    )
    np.testing.assert_array_equal(lm.discounts_, [0.5, 0.5])


def test_absolute_discounting_estimates_d_per_order():
    lm = fit(smoothing="absolute_discounting")
    # unigram counts 3, 2, 2: n1 = 0 -> fallback 0.5; bigrams 1, 1, 1, 2, 2: n1 = 3, n2 = 2
    np.testing.assert_allclose(lm.discounts_, [0.5, 3 / (3 + 2 * 2)])
    with pytest.warns(UserWarning, match="absolute_discounting.*order 1"):
        NGramLM(order=2, smoothing="absolute_discounting").fit(X)


def test_kneser_ney_with_fallback_discounts():
    with pytest.warns(UserWarning, match="order 1"):
        lm = NGramLM(order=2).fit(X)
    # adjusted unigram counts (distinct left neighbours): a 2 (<s>, b), b 2 (<s>, a),
    # </s> 1 (a), <unk> 0; n3 = 0 -> D = (0.5, 1, 1.5) for both orders.
    # gamma0 = (D(2) + D(2) + D(1)) / 5 = 0.5
    p1 = {UNK: 0.5 / 4, EOS: 0.5 / 5 + 0.5 / 4, A: 1 / 5 + 0.5 / 4, B: 1 / 5 + 0.5 / 4}
    # bigrams, raw counts: gamma(<s>) = (0.5 + 0.5) / 2, gamma(a) = (0.5 + 1) / 3,
    # gamma(b) = 1 / 2
    check_table(
        lm,
        {
            "": {w: (0.5 if w in (A, B) else 0) / 2 + 0.5 * p1[w] for w in p1},
            "a": {w: {B: 0.5, EOS: 1}.get(w, 0) / 3 + 0.5 * p1[w] for w in p1},
            "b": {w: {A: 1}.get(w, 0) / 2 + 0.5 * p1[w] for w in p1},
            "zz": p1,
        },
    )
    np.testing.assert_array_equal(lm.discounts_, [[0.5, 1, 1.5], [0.5, 1, 1.5]])


def test_stupid_backoff():
    lm = fit(smoothing="stupid_backoff", backoff=0.4)
    # seen n-grams: relative frequencies, as mle
    expected = math.log(1 / 2 * 1 / 3 * 1 * 2 / 3)
    np.testing.assert_allclose(lm.score_samples(["a b a"]), [expected], rtol=1e-12)
    # "b b": S(b|<s>) = 1/2, S(b|b) = 0.4 c(b)/N, S(</s>|b) = 0.4 c(</s>)/N
    expected = math.log(1 / 2 * (0.4 * 2 / 7) * (0.4 * 2 / 7))
    np.testing.assert_allclose(lm.score_samples(["b b"]), [expected], rtol=1e-12)
    # an unseen word scores c(<unk>)/N = 0, as in mle
    assert lm.score_samples(["b zz"])[0] == -np.inf
    # order 3, "b b a": S(b|<s>) = 1/2, S(b|<s> b) = 0.4 * 0.4 * 2/7,
    # S(a|b b) = 0.4 S(a|b) = 0.4 (the unseen context "b b" also pays the factor),
    # S(</s>|b a) = c(b a </s>) / c(b a) = 2/2
    lm3 = NGramLM(order=3, smoothing="stupid_backoff", backoff=0.4).fit(X)
    expected = math.log(1 / 2 * (0.4 * 0.4 * 2 / 7) * 0.4 * 1)
    np.testing.assert_allclose(lm3.score_samples(["b b a"]), [expected], rtol=1e-12)
    # predict_proba: the scores normalised to one
    scores = np.array([0.4 * 0, 0.4 * 2 / 7, 1.0, 0.4 * 2 / 7])
    np.testing.assert_allclose(lm.predict_proba(["b"])[0], scores / scores.sum(), rtol=1e-12)


def test_stupid_backoff_scores_are_not_a_distribution():
    lm = fit(smoothing="stupid_backoff", backoff=1.0)
    # raw scores after "b": S(a|b) = 1, S(b|b) = 2/7, S(</s>|b) = 2/7, S(<unk>|b) = 0:
    # they add up to 11/7, and predict_proba divides them by that
    np.testing.assert_allclose(lm.predict_proba(["b"])[0], [0, 2 / 11, 7 / 11, 2 / 11], rtol=1e-12)
    # score_samples keeps the raw scores, so the chain rule does not hold (documented)
    chain = math.log(1 / 2) + np.log(lm.predict_proba(["b"])[0][EOS])
    assert lm.score_samples(["b"])[0] == pytest.approx(math.log(1 / 2 * 2 / 7))
    assert lm.score_samples(["b"])[0] != pytest.approx(chain)


@pytest.mark.parametrize("block", [1, 3, 64, 1 << 20])
def test_sums_by_sorted_index_are_bincount_bit_for_bit(block):
    # Summed block by block, each sum is still the one bincount forms.
    from sklm.ngram import _smoothing

    rng = np.random.default_rng(block)
    index = np.sort(rng.integers(0, 40, 500) ** 2 // 7).astype(np.int32)
    values = rng.random(500) * 10.0 ** rng.integers(-8, 8, 500)
    size = int(index.max()) + 5
    expected = np.bincount(index, weights=values, minlength=size)
    np.testing.assert_array_equal(
        _smoothing._sum_by(index, values, size, block=block).view(np.int64),
        expected.view(np.int64),
    )
    counts = rng.integers(0, 50, 500).astype(np.int32)
    total = _smoothing._sum_by(index, counts, size, np.int32, block=block)
    assert total.dtype == np.int32
    np.testing.assert_array_equal(total, np.bincount(index, weights=counts, minlength=size))
    np.testing.assert_array_equal(
        _smoothing._sum_by(index, None, size, block=block), np.bincount(index, minlength=size)
    )
    assert _smoothing._sum_by(index[:0], None, 3, block=block).tolist() == [0.0, 0.0, 0.0]
