"""scikit-learn integration: pipelines, grid search in parallel, clone,
and the estimator API checks."""

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks as ec

from sklm import Tokenizer, generate
from sklm.metrics import neg_perplexity_scorer, perplexity
from sklm.neural import GRULM, LSTMLM, RNNLM

TEXTS = [
    "The cat sat on the mat.",
    "The dog sat on the log.",
    "A cat ran after the dog!",
    "The dog ran away.",
    "A bird sang on the log.",
    "The cat saw a bird.",
    "The bird flew away.",
    "A dog saw the cat.",
]
SMALL = dict(embedding_dim=8, max_epochs=1, batch_size=4, device="cpu", random_state=0)


def test_pipeline_fits_scores_and_generates():
    pipe = make_pipeline(Tokenizer(), LSTMLM(hidden_size=8, **SMALL)).fit(TEXTS)
    assert np.isfinite(pipe.score(TEXTS))
    assert perplexity(pipe, TEXTS) == pytest.approx(np.exp(-pipe.score(TEXTS)))
    texts = generate(pipe, "the cat", max_length=4, random_state=0)
    assert len(texts) == 1 and texts[0].startswith("the cat")


def test_grid_search_over_hidden_size_in_parallel():
    pipe = make_pipeline(Tokenizer(), LSTMLM(**SMALL))
    search = GridSearchCV(
        pipe, {"lstmlm__hidden_size": [4, 8]}, scoring=neg_perplexity_scorer, cv=2, n_jobs=2
    ).fit(TEXTS)
    assert search.best_params_["lstmlm__hidden_size"] in (4, 8)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.all(scores < -1)
    assert search.best_estimator_[-1].hidden_size == search.best_params_["lstmlm__hidden_size"]


def test_parallel_workers_do_not_oversubscribe_the_cores():
    result = cross_validate(
        GRULM(hidden_size=4, **SMALL),
        [t.lower().split() for t in TEXTS],
        cv=2,
        n_jobs=2,
        return_estimator=True,
    )
    budget = max(1, joblib.cpu_count() // 2)
    assert all(1 <= est.n_threads_ <= budget for est in result["estimator"])


@pytest.mark.parametrize("cls", [RNNLM, LSTMLM, GRULM])
def test_clone_is_an_unfitted_twin(cls):
    lm = cls(hidden_size=5, **SMALL).fit(TEXTS)
    twin = clone(lm)
    assert twin.get_params() == lm.get_params()
    assert not hasattr(twin, "module_") and not hasattr(twin, "history_")


@pytest.mark.parametrize("cls", [RNNLM, LSTMLM, GRULM])
@pytest.mark.parametrize(
    "check",
    [
        ec.check_no_attributes_set_in_init,
        ec.check_parameters_default_constructible,
        ec.check_get_params_invariance,
        ec.check_set_params,
        ec.check_estimator_repr,
        ec.check_param_validation,
    ],
    ids=lambda c: c.__name__,
)
def test_sklearn_api_checks(cls, check):
    check(cls.__name__, cls(**SMALL))


def test_n_threads_bounds_torch_inside_each_call_and_restores_the_callers():
    import torch

    seen = []
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        lm = GRULM(hidden_size=4, n_threads=1, **SMALL).fit(TEXTS)
        assert lm.n_threads_ == 1 and torch.get_num_threads() == 2
        # The thread count torch runs the network with, in every later call.
        lm.module_.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
        lm.score(TEXTS)
        lm.predict_proba(["the cat"])
        lm.sample(2, max_length=3, random_state=0)
        assert len(seen) >= 4 and set(seen) == {1}
        assert torch.get_num_threads() == 2
        # None keeps whatever the caller (or joblib's worker) set.
        assert GRULM(hidden_size=4, **SMALL).fit(TEXTS).n_threads_ == 2
    finally:
        torch.set_num_threads(previous)


def test_n_threads_is_validated():
    with pytest.raises(ValueError, match="n_threads"):
        GRULM(n_threads=0, **SMALL).fit(TEXTS)
