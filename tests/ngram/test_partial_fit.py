"""NGramLM.partial_fit: counts added chunk by chunk equal one fit on the whole."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from test_kneser_ney import random_corpus

from sklm import NGramLM
from sklm.ngram._model import _insert_alphabetically


def assert_same_model(a, b):
    """Bit for bit the same vocabulary, tables and fitted values."""
    np.testing.assert_array_equal(a.classes_, b.classes_)
    assert a.vocabulary_ == b.vocabulary_
    np.testing.assert_array_equal(a.ngram_counts_, b.ngram_counts_)
    ta, tb = a.tables_, b.tables_
    for k in range(1, ta.order + 1):
        if k > 1:
            np.testing.assert_array_equal(ta.keys[k - 1], tb.keys[k - 1])
        np.testing.assert_array_equal(ta.log_prob[k - 1], tb.log_prob[k - 1])
        np.testing.assert_array_equal(ta.log_backoff[k - 1], tb.log_backoff[k - 1])
    for name in ("discounts_", "counts_of_counts_"):
        if getattr(a, name) is None:
            assert getattr(b, name) is None
        else:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def chunks(samples, seed, n_chunks):
    cuts = np.sort(np.random.default_rng(seed).choice(len(samples) - 1, n_chunks - 1, False) + 1)
    return [samples[lo:hi] for lo, hi in zip([0, *cuts], [*cuts, len(samples)])]


@pytest.mark.parametrize(
    "params",
    [
        {"order": 3},
        {"order": 4, "min_count": 2},
        {"order": 2, "max_vocab": 5, "smoothing": "witten_bell"},
        {"order": 3, "smoothing": "add_k", "alpha": 0.5},
        {"order": 3, "smoothing": "absolute_discounting"},
        {"order": 3, "smoothing": "stupid_backoff"},
        {"order": 3, "smoothing": "mle"},
        {"order": 3, "prune": (0, 1, 1)},
        {"order": 3, "prune_entropy": 1e-4, "smoothing": "witten_bell"},
        {"order": 3, "vocabulary": ["w0", "w1", "w2", "w3", "absent"]},
        {"order": 1},
    ],
)
@pytest.mark.parametrize("n_chunks", [1, 2, 5, 40])
def test_chunks_equal_one_fit_on_the_concatenation(params, n_chunks):
    # Literal specials and empty samples, as fit reads them.
    samples = random_corpus(11, n_samples=120, n_words=14) + [
        [],
        ["w0", "<unk>", "</s>", "<s>", "w1"],
    ]
    samples = [samples[i] for i in np.random.default_rng(n_chunks).permutation(len(samples))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        whole = NGramLM(**params).fit(samples)
        lm = NGramLM(**params)
        for chunk in chunks(samples, n_chunks, n_chunks):
            lm.partial_fit(chunk)
        assert_same_model(lm, whole)
    test = random_corpus(12, n_samples=20) + [["unseen", "w0"]]
    np.testing.assert_array_equal(lm.score_samples(test), whole.score_samples(test))


def test_same_arpa_file(tmp_path):
    samples = [" ".join(s) for s in random_corpus(13, n_samples=150)]
    lm = NGramLM(order=3)
    for chunk in chunks(samples, 0, 4):
        lm.partial_fit(chunk)
    lm.to_arpa(tmp_path / "chunks.arpa")
    NGramLM(order=3).fit(samples).to_arpa(tmp_path / "whole.arpa")
    assert (tmp_path / "chunks.arpa").read_bytes() == (tmp_path / "whole.arpa").read_bytes()


def test_the_vocabulary_grows_and_min_count_sees_the_totals():
    lm = NGramLM(order=2, min_count=2, smoothing="witten_bell")
    lm.partial_fit(["a b", "a c"])
    assert list(lm.classes_) == ["<unk>", "</s>", "a"]
    # "b" and "c" reach min_count over both calls.
    lm.partial_fit(["b c", "d"])
    assert list(lm.classes_) == ["<unk>", "</s>", "a", "b", "c"]
    assert_same_model(lm, clone(lm).fit(["a b", "a c", "b c", "d"]))


def test_estimate_is_redone_after_each_call_and_reads_the_current_parameters():
    first, second = random_corpus(14, n_samples=80), random_corpus(15, n_samples=80)
    lm = NGramLM(order=3, smoothing="witten_bell").partial_fit(first)
    assert_same_model(lm, clone(lm).fit(first))
    lm.partial_fit(second)
    assert_same_model(lm, clone(lm).fit(first + second))
    lm.set_params(smoothing="absolute_discounting", prune=(0, 1))
    lm.partial_fit([["w0"]])
    assert_same_model(lm, clone(lm).fit(first + second + [["w0"]]))


def test_pickled_between_calls_goes_on_counting():
    first, second = random_corpus(16, n_samples=60), random_corpus(17, n_samples=60)
    lm = pickle.loads(pickle.dumps(NGramLM(order=3).partial_fit(first)))
    lm.partial_fit(second)
    assert_same_model(lm, NGramLM(order=3).fit(first + second))


def test_refusals_change_nothing():
    samples = random_corpus(18, n_samples=60)
    lm = NGramLM(order=3).partial_fit(samples)
    before = lm.score_samples(samples)
    for bad in ("a bare string", [["ok"], [1, 2]], []):
        with pytest.raises((ValueError, TypeError)):
            lm.partial_fit(bad)
    lm.set_params(order=2)
    with pytest.raises(ValueError, match="order of NGramLM cannot change"):
        lm.partial_fit(samples)
    lm.set_params(order=3, prune=(1, 1))
    with pytest.raises(ValueError, match="prune"):
        lm.partial_fit(samples)
    lm.set_params(prune=None)
    np.testing.assert_array_equal(lm.score_samples(samples), before)
    lm.partial_fit(samples[:5])
    assert_same_model(lm, NGramLM(order=3).fit(samples + samples[:5]))


def test_a_model_without_counts_is_refused_and_fit_starts_afresh():
    samples = random_corpus(19, n_samples=60)
    fitted = NGramLM(order=2).fit(samples)
    with pytest.raises(ValueError, match="holds no counts"):
        fitted.partial_fit(samples)
    lm = NGramLM(order=2).partial_fit(samples)
    lm.fit(samples[:10])  # discards the counts of partial_fit
    assert_same_model(lm, NGramLM(order=2).fit(samples[:10]))
    with pytest.raises(ValueError, match="holds no counts"):
        lm.partial_fit(samples)
    assert not hasattr(clone(NGramLM(order=2).partial_fit(samples)), "classes_")


@pytest.mark.parametrize("seed", range(6))
def test_insert_alphabetically_matches_a_sort(seed):
    rng = np.random.default_rng(seed)
    pool = ["b", "a", "é", "<s>", "</s>", "Z", "aa", "x~1", "\x00m", "日"]
    words = list(dict.fromkeys(rng.permutation(pool).tolist()))
    tokens = ["<unk>", None, *words]
    cut = int(rng.integers(2, len(tokens) + 1))
    alphabetical = _insert_alphabetically(np.zeros(0, dtype=np.int64), tokens[:cut], 2)
    merged = _insert_alphabetically(alphabetical, tokens, cut)
    expected = sorted(
        (i for i in range(2, len(tokens)) if tokens[i] not in ("<s>", "</s>")),
        key=tokens.__getitem__,
    )
    assert merged.tolist() == expected
    assert merged.dtype == np.int64
