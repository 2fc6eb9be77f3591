"""Checks every sklm estimator passes: scikit-learn's input-agnostic API checks
and the text-specific contract of DESIGN.md."""

import pickle
from functools import partial

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as ec

from sklm import GRULM, LSTMLM, RNNLM, NGramLM, Tokenizer

# The tiny corpus cannot support discount estimation; the documented fallback warns.
pytestmark = pytest.mark.filterwarnings("ignore:.*cannot estimate the discounts:UserWarning")

TINY_NEURAL = dict(
    embedding_dim=8, hidden_size=8, max_epochs=2, batch_size=4, device="cpu", random_state=0
)

LANGUAGE_MODELS = [
    NGramLM(),
    NGramLM(order=1, smoothing="mle"),
    NGramLM(order=2, smoothing="add_k", alpha=0.5),
    NGramLM(order=3, smoothing="absolute_discounting"),
    NGramLM(order=3, smoothing="witten_bell"),
    NGramLM(order=4, smoothing="kneser_ney"),
    NGramLM(order=3, smoothing="stupid_backoff"),
    RNNLM(nonlinearity="tanh", **TINY_NEURAL),
    RNNLM(nonlinearity="relu", **TINY_NEURAL),
    LSTMLM(**TINY_NEURAL),
    GRULM(**TINY_NEURAL),
]
ESTIMATORS = [Tokenizer(), *LANGUAGE_MODELS]

API_CHECKS = [
    ec.check_estimator_cloneable,
    ec.check_estimator_repr,
    ec.check_estimator_tags_renamed,
    ec.check_valid_tag_types,
    ec.check_no_attributes_set_in_init,
    ec.check_do_not_raise_errors_in_init_or_set_params,
    ec.check_get_params_invariance,
    ec.check_set_params,
    ec.check_parameters_default_constructible,
    ec.check_mixin_order,
    ec.check_param_validation,
]

TRAIN = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "the mat was red",
    "a dog sat",
    "the cat ran",
    "on the log a cat sat",
    "the red dog ran on the mat",
]
TEST = ["the cat sat on the log", "a red cat", "unseen words here", ""]


def _id(est):
    params = {
        k: v for k, v in est.get_params().items() if k in ("order", "smoothing", "nonlinearity")
    }
    return type(est).__name__ + "".join(f"-{v}" for v in params.values())


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
@pytest.mark.parametrize("check", API_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_api_checks(estimator, check):
    check(type(estimator).__name__, clone(estimator))


_FITTED = {}


def _fitted(index):
    if index not in _FITTED:
        _FITTED[index] = clone(LANGUAGE_MODELS[index]).fit(TRAIN)
    return _FITTED[index]


@pytest.fixture(params=range(len(LANGUAGE_MODELS)), ids=[_id(m) for m in LANGUAGE_MODELS])
def fitted(request):
    return _fitted(request.param)


# stupid_backoff scores are not a distribution: no chain rule (tested in tests/ngram).
PROPER = [
    i for i, m in enumerate(LANGUAGE_MODELS) if m.get_params().get("smoothing") != "stupid_backoff"
]


def test_fit_returns_self():
    for est in LANGUAGE_MODELS:
        est = clone(est)
        assert est.fit(TRAIN) is est


@pytest.mark.parametrize("estimator", LANGUAGE_MODELS, ids=_id)
def test_unfitted_raises(estimator):
    est = clone(estimator)
    for method in (est.score, est.score_samples, est.predict_proba, est.predict):
        with pytest.raises(NotFittedError):
            method(TEST)
    with pytest.raises(NotFittedError):
        est.sample()


def test_refit_is_deterministic(fitted):
    again = clone(fitted).fit(TRAIN)
    np.testing.assert_array_equal(again.score_samples(TEST), fitted.score_samples(TEST))


def test_clone_is_unfitted_twin(fitted):
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params()
    assert not hasattr(twin, "classes_")


def test_pickle_round_trip(fitted):
    again = pickle.loads(pickle.dumps(fitted))
    assert again is not fitted
    np.testing.assert_array_equal(again.score_samples(TEST), fitted.score_samples(TEST))
    np.testing.assert_array_equal(again.predict_proba(TEST), fitted.predict_proba(TEST))


def test_joblib_round_trip(fitted, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(fitted, path)
    np.testing.assert_array_equal(joblib.load(path).score_samples(TEST), fitted.score_samples(TEST))


def test_input_not_mutated(fitted):
    X = [s.split() for s in TEST]
    snapshot = [list(s) for s in X]
    fitted.score_samples(X)
    fitted.predict_proba(X)
    clone(fitted).fit(X)
    assert X == snapshot


@pytest.mark.parametrize(
    "X, error",
    [
        ("the cat", ValueError),
        (None, ValueError),
        ([], ValueError),
        ([["a", 1]], TypeError),
    ],
)
def test_bad_input_errors_and_leaves_model_unchanged(fitted, X, error):
    before = fitted.score_samples(TEST)
    for method in (fitted.fit, fitted.score, fitted.score_samples, fitted.predict_proba):
        with pytest.raises(error, match="X"):
            method(X)
    np.testing.assert_array_equal(fitted.score_samples(TEST), before)


def test_probabilities_sum_to_one(fitted):
    contexts = ["", "the", "the cat", "zzz", "a dog sat on the", "the unseen"]
    proba = fitted.predict_proba(contexts)
    assert proba.shape == (len(contexts), len(fitted.classes_))
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert list(fitted.predict(contexts)) == list(fitted.classes_[proba.argmax(axis=1)])


@pytest.mark.parametrize("index", PROPER, ids=[_id(LANGUAGE_MODELS[i]) for i in PROPER])
def test_chain_rule(index):
    fitted = _fitted(index)
    for sample in (s.split() for s in TEST):
        contexts = [sample[:i] for i in range(len(sample) + 1)]
        targets = [fitted.vocabulary_.get(t, 0) for t in sample] + [fitted.vocabulary_["</s>"]]
        with np.errstate(divide="ignore"):
            log_proba = fitted.predict_log_proba(contexts)
        expected = log_proba[np.arange(len(targets)), targets].sum()
        np.testing.assert_allclose(
            fitted.score_samples([sample])[0], expected, rtol=1e-5, atol=1e-6
        )


def test_score_is_mean_log_prob_per_prediction(fitted):
    if fitted.get_params().get("smoothing") == "mle":
        X = TRAIN[:3]
    else:
        X = TEST
    n_predictions = sum(len(s.split()) + 1 for s in X)
    assert fitted.score(X) == pytest.approx(fitted.score_samples(X).sum() / n_predictions)


def test_sample_seeded(fitted):
    sample = partial(fitted.sample, 3, max_length=6, prompt="the")
    assert sample(random_state=0) == sample(random_state=0)
    assert all(len(s) <= 6 for s in sample(random_state=1))
    assert fitted.sample(2, max_length=0) == [[], []]
