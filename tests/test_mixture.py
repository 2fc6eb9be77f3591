"""InterpolatedLM: the contract, EM against a slow oracle, frozen components, vocabularies."""

import pickle

import numpy as np
import pytest
import test_common as common
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize_scalar
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV
from test_common import API_CHECKS

from sklm import LSTMLM, InterpolatedLM, NGramLM
from sklm.io import load, save
from sklm.mixture import em_weights

pytestmark = pytest.mark.filterwarnings("ignore:.*cannot estimate the discounts:UserWarning")

TRAIN = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "the mat was red",
    "a dog sat",
    "the cat ran",
    "on the log a cat sat",
    "the red dog ran on the mat",
    "a red cat sat on a dog",
    "the log was on the mat",
]
TEST = ["the cat sat on the log", "a red cat", "unseen words here", ""]
TINY_LSTM = dict(
    embedding_dim=8,
    hidden_size=8,
    max_epochs=2,
    batch_size=4,
    device="cpu",
    random_state=0,
    n_threads=1,
)


def ngram(**params):
    return NGramLM(order=3, smoothing="witten_bell", **params)


def mixture(**params):
    return InterpolatedLM(
        estimators=[("ngram", ngram()), ("unigram", NGramLM(order=1, smoothing="add_k"))],
        validation_fraction=0.3,
        random_state=0,
        **params,
    )


@pytest.fixture(scope="module")
def neural_mixture():
    """An n-gram and a tiny LSTM, EM-tuned."""
    return InterpolatedLM(
        estimators=[("ngram", ngram()), ("lstm", LSTMLM(**TINY_LSTM))],
        validation_fraction=0.3,
        random_state=0,
    ).fit(TRAIN)


def state(model):
    """Everything a model holds, as bytes (a change anywhere changes them)."""
    return pickle.dumps(model.__dict__)


# the contract --------------------------------------------------------------


def test_chain_rule_and_rows_sum_to_one(neural_mixture):
    lm = neural_mixture
    assert 0 < lm.weights_[1] < 1
    per_token = lm.score_tokens(TEST)
    assert_allclose([t.sum() for t in per_token], lm.score_samples(TEST), rtol=1e-12)
    for sample, log_probs in zip(TEST, per_token):
        tokens = sample.split()
        contexts = [tokens[:i] for i in range(len(tokens) + 1)]
        proba = lm.predict_proba(contexts)
        assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
        targets = [lm.vocabulary_.get(t, 0) for t in tokens] + [lm.vocabulary_["</s>"]]
        # The network computes in float32: its two paths agree to its precision.
        assert_allclose(np.log(proba[np.arange(len(targets)), targets]), log_probs, rtol=1e-6)
    total = sum(len(s.split()) + 1 for s in TEST)
    assert lm.score(TEST) == pytest.approx(lm.score_samples(TEST).sum() / total)


def test_next_token_is_the_weighted_sum(neural_mixture):
    lm = neural_mixture
    contexts = ["the", "a red", "", "unseen"]
    expected = sum(w * c.predict_proba(contexts) for w, c in zip(lm.weights_, lm.estimators_))
    assert_allclose(lm.predict_proba(contexts), expected, rtol=1e-12)
    assert_array_equal(lm.predict(contexts), lm.classes_[np.argmax(expected, axis=1)])
    assert_array_equal(lm.classes_, lm.estimators_[1].classes_)


def test_long_sample_does_not_underflow(neural_mixture):
    lm = neural_mixture
    long_sample = " ".join(TRAIN * 40)  # ~ 1,500 tokens: its probability underflows float64
    parts = [c.score_tokens([long_sample])[0] for c in lm.estimators_]
    total = lm.score_samples([long_sample])[0]
    assert np.isfinite(total) and total < -800
    expected = np.logaddexp(*(lp + np.log(w) for lp, w in zip(parts, lm.weights_))).sum()
    assert total == pytest.approx(expected, rel=1e-12)


def test_sample_mixes_the_components(neural_mixture):
    lm = neural_mixture
    a = lm.sample(5, prompt="the", max_length=8, random_state=3)
    assert a == lm.sample(5, prompt="the", max_length=8, random_state=3)
    assert all(len(s) <= 8 and set(s) <= set(lm.classes_) for s in a)
    # Greedy decoding follows the argmax of the mixture's own distribution.
    greedy = lm.sample(prompt="the", max_length=6, temperature=0)[0]
    context = ["the"]
    for token in greedy:
        assert lm.predict([context])[0] == token
        context.append(token)


def test_weights_one_zero_is_the_first_component():
    alone = ngram().fit(TRAIN)
    lm = mixture(weights=[1.0, 0.0]).fit(TRAIN)
    assert_array_equal(lm.weights_, [1.0, 0.0])
    assert lm.n_iter_ == 0 and lm.validation_perplexities_ is None
    assert_array_equal(lm.score_samples(TEST), alone.score_samples(TEST))
    assert_array_equal(lm.predict_proba(TEST), alone.predict_proba(TEST))
    assert lm.sample(4, random_state=1) == alone.sample(4, random_state=1)


# EM ----------------------------------------------------------------------------


def slow_em(probabilities, n_steps):
    """compute-best-mix written out token by token, in probabilities."""
    n_tokens, k = len(probabilities), len(probabilities[0])
    weights = [1.0 / k] * k
    history = [list(weights)]
    for _ in range(n_steps):
        shares = [0.0] * k
        for p in probabilities:
            total = sum(w * q for w, q in zip(weights, p))
            for j in range(k):
                shares[j] += weights[j] * p[j] / total
        weights = [s / n_tokens for s in shares]
        history.append(weights)
    return history


def test_em_matches_a_slow_oracle_and_climbs():
    rng = np.random.RandomState(0)
    probabilities = rng.dirichlet([0.3] * 40, size=(3, 60))[:, :, 0].T  # 60 tokens, 3 components
    log_probs = np.log(probabilities)
    history = slow_em(probabilities.tolist(), 15)
    for step, expected in enumerate(history):
        weights, scores, _ = em_weights(log_probs, max_iter=max(step, 1), tol=-1)
        if step:
            assert_allclose(weights, expected, rtol=1e-10)
        oracle_score = np.mean(np.log(probabilities @ np.array(expected)))
        assert scores[step] == pytest.approx(oracle_score, rel=1e-12)
    weights, scores, converged = em_weights(log_probs, tol=1e-12, max_iter=10000)
    assert converged and len(scores) > 10
    assert np.all(np.diff(scores) >= -1e-15)
    assert weights.sum() == pytest.approx(1.0)


def test_em_reaches_the_best_mix():
    rng = np.random.RandomState(1)
    probabilities = rng.uniform(0.01, 0.5, size=(200, 2))
    weights, _, converged = em_weights(np.log(probabilities), tol=1e-14, max_iter=100000)
    best = minimize_scalar(
        lambda w: -np.log(probabilities @ [w, 1 - w]).sum(),
        bounds=(0, 1),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert converged
    assert weights[0] == pytest.approx(best.x, abs=1e-5)


def test_em_leaves_impossible_tokens_out():
    with np.errstate(divide="ignore"):
        log_probs = np.log([[0.5, 0.1], [0.2, 0.4], [0.0, 0.0], [0.3, 0.0]])
        weights, scores, _ = em_weights(log_probs)
        expected, _, _ = em_weights(log_probs[[0, 1, 3]])
    assert_allclose(weights, expected)
    assert np.all(scores == -np.inf)


def test_fit_reports_the_held_out_likelihood():
    # Frozen components: nothing to fit, so the weights are tuned on all of X.
    a = FrozenEstimator(ngram().fit(TRAIN[:6]))
    b = FrozenEstimator(ngram(vocabulary=list(a.classes_)).fit(TRAIN[4:]))
    lm = InterpolatedLM(estimators=[("a", a), ("b", b)]).fit(TRAIN)
    assert 0.2 < lm.weights_[0] < 0.8
    assert np.all(np.diff(lm.validation_scores_) >= -1e-15)
    assert lm.validation_scores_[-1] > lm.validation_scores_[0]
    assert lm.converged_ and lm.n_iter_ == len(lm.validation_scores_) - 1
    assert lm.validation_perplexity_ == pytest.approx(np.exp(-lm.score(TRAIN)), rel=1e-12)
    assert lm.validation_scores_[-1] == pytest.approx(lm.score(TRAIN), abs=1e-12)
    assert_allclose(lm.validation_perplexities_, [np.exp(-a.score(TRAIN)), np.exp(-b.score(TRAIN))])
    # Any other weights do worse on the samples they were tuned on.
    for w in (lm.weights_[0] - 0.05, lm.weights_[0] + 0.05):
        other = InterpolatedLM(estimators=[("a", a), ("b", b)], weights=[w, 1 - w]).fit(TRAIN)
        assert other.score(TRAIN) < lm.score(TRAIN)


def test_held_out_split_is_seeded_and_refit_uses_all_samples():
    lm = mixture().fit(TRAIN)
    assert_array_equal(lm.weights_, mixture().fit(TRAIN).weights_)
    # validation_fraction=0.3 of 10 samples: 3 held out, drawn by random_state.
    kept = np.sort(np.random.RandomState(0).permutation(10)[3:])
    on_kept = ngram().fit([TRAIN[i] for i in kept])
    assert_array_equal(lm.estimators_[0].score_samples(TEST), on_kept.score_samples(TEST))
    refit = mixture(refit=True).fit(TRAIN)
    assert_array_equal(refit.weights_, lm.weights_)
    assert_array_equal(refit.validation_perplexities_, lm.validation_perplexities_)
    on_all = ngram().fit(TRAIN).score_samples(TEST)
    assert_array_equal(refit.estimators_[0].score_samples(TEST), on_all)
    assert not np.array_equal(lm.estimators_[0].score_samples(TEST), on_all)


# components ----------------------------------------------------------------------


def test_frozen_components_stay_untouched():
    ngram_model = ngram().fit(TRAIN[:7])
    lstm = LSTMLM(**TINY_LSTM, vocabulary=list(ngram_model.classes_)).fit(TRAIN[:7])
    before = [state(ngram_model), state(lstm)]
    frozen = [FrozenEstimator(ngram_model), FrozenEstimator(lstm)]
    lm = InterpolatedLM(estimators=[("ngram", frozen[0]), ("lstm", frozen[1])]).fit(TRAIN)
    assert lm.estimators_[0] is frozen[0] and lm.estimators_[1] is frozen[1]
    assert [state(ngram_model), state(lstm)] == before
    lm.score(TEST), lm.predict_proba(TEST), lm.sample(2, random_state=0)
    assert [state(ngram_model), state(lstm)] == before
    # A clone keeps the frozen components themselves (they are never refitted).
    assert clone(lm).estimators[0][1] is frozen[0]


def test_unfitted_components_take_the_frozen_vocabulary():
    small = FrozenEstimator(ngram().fit(TRAIN[:3]))  # a smaller vocabulary than TRAIN's
    lm = InterpolatedLM(estimators=[("small", small), ("big", ngram(min_count=1))], random_state=0)
    lm.fit(TRAIN)
    assert_array_equal(lm.estimators_[1].classes_, small.classes_)
    assert lm.estimators[1][1].vocabulary is None  # the parameter is left alone


def test_vocabulary_mismatch_is_a_clear_error():
    lm = InterpolatedLM(estimators=[("a", ngram()), ("b", ngram(min_count=2))], weights=[0.5, 0.5])
    message = r"share one vocabulary.*'a' has \d+ classes, 'b' has \d+.*vocabulary="
    with pytest.raises(ValueError, match=message):
        lm.fit(TRAIN)
    # The mixture's vocabulary= is the one-line fix.
    words = sorted({w for s in TRAIN for w in s.split()})
    lm.set_params(vocabulary=words).fit(TRAIN)
    assert_array_equal(lm.estimators_[0].classes_, lm.estimators_[1].classes_)
    assert list(lm.classes_[2:]) == words
    # Frozen components that disagree fail before anything is fitted.
    a, b = FrozenEstimator(ngram().fit(TRAIN[:3])), FrozenEstimator(ngram().fit(TRAIN[3:6]))
    lstm = LSTMLM(**{**TINY_LSTM, "max_epochs": 10**6})
    message = r"share one vocabulary.*class \d+ is .* in .a. and .* in .b."
    with pytest.raises(ValueError, match=message):
        InterpolatedLM(estimators=[("a", a), ("lstm", lstm), ("b", b)]).fit(TRAIN)
    with pytest.raises(ValueError, match="the vocabulary parameter"):
        InterpolatedLM(estimators=[("a", a), ("lstm", lstm)], vocabulary=["cat"]).fit(TRAIN)


def test_nested_params_clone_and_grid_search():
    lm = mixture()
    params = lm.get_params()
    assert params["ngram__order"] == 3 and params["unigram__alpha"] == 1.0
    lm.set_params(ngram__order=2, unigram=NGramLM(order=1, smoothing="witten_bell"))
    assert lm.estimators[0][1].order == 2 and lm.estimators[1][1].smoothing == "witten_bell"
    fitted = lm.fit(TRAIN)
    twin = clone(fitted)
    assert not hasattr(twin, "weights_") and twin.get_params()["ngram__order"] == 2
    with pytest.raises(NotFittedError):
        twin.score(TEST)
    search = GridSearchCV(mixture(), {"ngram__order": [2, 3]}, cv=2).fit(TRAIN)
    assert search.best_params_["ngram__order"] in (2, 3)


@pytest.mark.parametrize("check", API_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_api_checks(check):
    check("InterpolatedLM", mixture())


# The text checks that tests/test_common.py runs on every single model.
COMMON_CHECKS = [
    common.test_refit_is_deterministic,
    common.test_pickle_round_trip,
    common.test_joblib_round_trip,
    common.test_input_not_mutated,
    common.test_probabilities_sum_to_one,
    common.test_score_is_mean_log_prob_per_prediction,
    common.test_sample_seeded,
]


@pytest.fixture(scope="module")
def common_fitted():
    return InterpolatedLM(
        estimators=[("ngram", NGramLM(order=4)), ("lstm", LSTMLM(**TINY_LSTM))],
        validation_fraction=0.3,
        random_state=0,
    ).fit(common.TRAIN)


@pytest.mark.parametrize("check", COMMON_CHECKS, ids=lambda c: c.__name__)
def test_common_text_checks(check, common_fitted, tmp_path):
    if check is common.test_joblib_round_trip:
        check(common_fitted, tmp_path)
    else:
        check(common_fitted)


@pytest.mark.parametrize(
    "X, error",
    [("the cat", ValueError), (None, ValueError), ([], ValueError), ([["a", 1]], TypeError)],
)
def test_bad_input_errors_and_leaves_model_unchanged(common_fitted, X, error):
    common.test_bad_input_errors_and_leaves_model_unchanged(common_fitted, X, error)


def test_unfitted_raises():
    common.test_unfitted_raises(mixture())


# persistence -------------------------------------------------------------------------


def test_pickle_round_trip(neural_mixture):
    lm = neural_mixture
    again = pickle.loads(pickle.dumps(lm))
    assert_array_equal(again.score_samples(TEST), lm.score_samples(TEST))
    assert_array_equal(again.predict_proba(TEST), lm.predict_proba(TEST))
    assert again.sample(3, random_state=0) == lm.sample(3, random_state=0)
    assert_array_equal(again.weights_, lm.weights_)


def test_save_state_round_trip():
    frozen = FrozenEstimator(ngram().fit(TRAIN))
    lm = InterpolatedLM(
        estimators=[("frozen", frozen), ("unigram", NGramLM(order=1, smoothing="add_k"))]
    ).fit(TRAIN)
    meta, arrays = lm._save_state()
    assert meta["components"][0] is None and meta["components"][1] is lm.estimators_[1]
    loaded = clone(lm)
    loaded._load_state(meta, arrays)
    assert_array_equal(loaded.score_samples(TEST), lm.score_samples(TEST))
    assert_array_equal(loaded.validation_scores_, lm.validation_scores_)
    bad = dict(arrays, weights=np.array([0.5, 0.6]))
    with pytest.raises(ValueError, match="sum"):
        clone(lm)._load_state(meta, bad)


def test_sklm_save_load_round_trip(neural_mixture, tmp_path):
    frozen = FrozenEstimator(neural_mixture.estimators_[0])
    lm = InterpolatedLM(
        estimators=[("frozen", frozen), ("lstm", LSTMLM(**TINY_LSTM))], random_state=0
    ).fit(TRAIN)
    save(lm, tmp_path / "mixture.sklm")
    loaded = load(tmp_path / "mixture.sklm")
    assert isinstance(loaded.estimators_[0], FrozenEstimator)
    assert_array_equal(loaded.weights_, lm.weights_)
    assert_array_equal(loaded.validation_perplexities_, lm.validation_perplexities_)
    assert_array_equal(loaded.score_samples(TEST), lm.score_samples(TEST))
    assert_array_equal(loaded.predict_proba(TEST), lm.predict_proba(TEST))


# errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "weights, match",
    [([0.5, 0.6], "sum to 1"), ([1.0], "one weight per component"), ([1.5, -0.5], "non-negative")],
)
def test_bad_weights(weights, match):
    with pytest.raises(ValueError, match=match):
        mixture(weights=weights).fit(TRAIN)


def test_bad_components_and_data():
    with pytest.raises(ValueError, match="estimators is empty"):
        InterpolatedLM(estimators=[]).fit(TRAIN)
    with pytest.raises(TypeError, match="sklm language model"):
        InterpolatedLM(estimators=[("x", GridSearchCV(ngram(), {}))]).fit(TRAIN)
    with pytest.raises(NotFittedError, match="frozen component 'x' is not fitted"):
        InterpolatedLM(estimators=[("x", FrozenEstimator(ngram()))]).fit(TRAIN)
    with pytest.raises(ValueError, match="not unique"):
        InterpolatedLM(estimators=[("x", ngram()), ("x", ngram())]).fit(TRAIN)
    with pytest.raises(ValueError, match="at least 2 samples"):
        mixture().fit(["one sample"])
    with pytest.raises(ValueError, match="single str"):
        mixture().fit("the cat sat")


def fitted_state(model):
    return pickle.dumps({k: v for k, v in model.__dict__.items() if k.endswith("_")})


def test_failed_fit_changes_nothing():
    lm = mixture().fit(TRAIN)
    before = fitted_state(lm)
    lm.set_params(unigram=ngram(min_count=2))
    with pytest.raises(ValueError, match="share one vocabulary"):
        lm.fit(TRAIN)
    with pytest.raises(ValueError, match="sum to 1"):
        lm.set_params(weights=[0.2, 0.2]).fit(TRAIN)
    assert fitted_state(lm) == before
