"""Property tests: the contract on random small corpora and parameters.

For every smoothing (and a tiny neural model): next-token rows sum to one,
the chain rule holds, scores do not depend on the order or the batching of
X, save/load, pickle and ARPA round trips score identically, and seeded
sampling is reproducible. Examples are few and derandomized, so the file is
quick and every run checks the same cases; ``--hypothesis-seed`` and a larger
``max_examples`` explore further.
"""

import pickle
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sklm
from sklm import LSTMLM, NGramLM

WORDS = ["a", "b", "c", "d", "<unk>"]
UNSEEN = ["z", "a z", "", "b b b b b b"]
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

corpora = st.lists(
    st.lists(st.sampled_from(WORDS), min_size=0, max_size=6).map(" ".join),
    min_size=1,
    max_size=6,
).filter(lambda X: any(x.split() for x in X))


@st.composite
def ngram_models(draw):
    smoothing = draw(
        st.sampled_from(
            ["mle", "add_k", "absolute_discounting", "witten_bell", "kneser_ney", "stupid_backoff"]
        )
    )
    params = dict(order=draw(st.integers(1, 4)), smoothing=smoothing)
    if smoothing == "add_k":
        params["alpha"] = draw(st.sampled_from([0.0, 0.01, 0.5, 1.0, 3.0]))
    if smoothing == "absolute_discounting":
        params["discount"] = draw(st.sampled_from([None, 0.0, 0.3, 1.0]))
    if smoothing == "stupid_backoff":
        params["backoff"] = draw(st.sampled_from([0.1, 0.4, 1.0]))
    params["min_count"] = draw(st.sampled_from([1, 1, 2]))
    return NGramLM(**params)


def _fit(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # discount fallbacks on tiny data
        return model.fit(X)


def _chain_rule_scores(lm, X):
    """Sum of the log predict_proba of each actual next token, sample by sample."""
    totals = []
    index = lm.vocabulary_
    for sample in X:
        tokens = sample.split()
        contexts = [tokens[:i] for i in range(len(tokens) + 1)]
        proba = lm.predict_proba(contexts)
        targets = [index.get(t, 0) for t in tokens] + [1]
        with np.errstate(divide="ignore"):
            totals.append(np.log(proba[np.arange(len(targets)), targets]).sum())
    return np.array(totals)


def _check_contract(lm, X, *, rtol, exact_round_trips=True):
    test = list(X) + UNSEEN
    scores = lm.score_samples(test)
    assert not np.isnan(scores).any()
    # Rows sum to one (stupid_backoff's rows are normalised scores).
    contexts = [x.split() for x in test] + [[]]
    np.testing.assert_allclose(lm.predict_proba(contexts).sum(axis=1), 1.0, rtol=rtol)
    if getattr(lm, "smoothing", None) != "stupid_backoff":
        np.testing.assert_allclose(_chain_rule_scores(lm, test), scores, rtol=rtol)
    # Order and batching of X change nothing.
    order = np.random.default_rng(0).permutation(len(test))
    np.testing.assert_allclose(lm.score_samples([test[i] for i in order]), scores[order], rtol=rtol)
    halves = np.concatenate([lm.score_samples(test[:2]), lm.score_samples(test[2:])])
    np.testing.assert_allclose(halves, scores, rtol=rtol)
    # Round trips: pickle and the safe format score identically.
    with tempfile.TemporaryDirectory() as folder:
        loaded = sklm.load(sklm.save(lm, Path(folder) / "m.sklm"))
    for copy in (pickle.loads(pickle.dumps(lm)), loaded):
        if exact_round_trips:
            np.testing.assert_array_equal(copy.score_samples(test), scores)
        else:
            np.testing.assert_allclose(copy.score_samples(test), scores, rtol=rtol)
    # Seeded sampling is reproducible.
    first = lm.sample(3, max_length=8, random_state=7)
    assert lm.sample(3, max_length=8, random_state=7) == first
    assert loaded.sample(3, max_length=8, random_state=7) == first


@settings(max_examples=40, **SETTINGS)
@given(model=ngram_models(), X=corpora)
def test_ngram_contract_on_random_corpora(model, X):
    lm = _fit(model, X)
    _check_contract(lm, X, rtol=1e-9)


@settings(max_examples=15, **SETTINGS)
@given(
    model=ngram_models().filter(lambda m: m.smoothing not in ("mle", "stupid_backoff")),
    X=corpora,
)
def test_ngram_arpa_round_trip_on_random_corpora(model, X):
    # mle writes log 0 as -99 and stupid_backoff's factor for unseen
    # contexts is not ARPA's: both are documented exceptions.
    lm = _fit(model, X)
    test = list(X) + UNSEEN
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.arpa"
        lm.to_arpa(path)
        arpa = NGramLM.from_arpa(path)
    np.testing.assert_allclose(arpa.score_samples(test), lm.score_samples(test), rtol=1e-9)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=3, **SETTINGS)
@given(
    X=corpora,
    cell=st.sampled_from(["LSTMLM", "GRULM", "RNNLM"]),
    softmax=st.sampled_from(["full", "adaptive"]),
    seed=st.integers(0, 2**16),
)
def test_tiny_neural_contract_on_random_corpora(X, cell, softmax, seed):
    cls = getattr(sklm, cell)
    lm = cls(
        embedding_dim=4,
        hidden_size=5,
        max_epochs=1,
        batch_size=2,
        bptt=3,
        softmax=softmax,
        device="cpu",
        random_state=seed,
        n_threads=1,
    ).fit(X)
    _check_contract(lm, X, rtol=1e-5)


def test_neural_seeded_fit_is_reproducible():
    X = ["a b c", "b c d", "a a"]
    params = dict(embedding_dim=4, hidden_size=5, max_epochs=1, device="cpu", random_state=3)
    a, b = LSTMLM(**params).fit(X), LSTMLM(**params).fit(X)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
