"""A real Dask cluster (two worker processes on 127.0.0.1) gives the sequential results."""

import joblib
import numpy as np
import pytest
from dask import distributed
from sklearn.model_selection import GridSearchCV

from sklm import LSTMLM, NGramLM
from sklm.metrics import neg_perplexity_scorer

X = ["a b c d", "b c d a", "c d a b", "d a b c", "a c b d", "b d a c", "a b d c", "c a d b"] * 3


def _threads(estimator, X, y=None):
    # A "score" that reports how many torch threads the fit used in its worker.
    return estimator.n_threads_


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        memory_limit="1GiB",
        dashboard_address=None,
    )
    with cluster, distributed.Client(cluster) as client:
        yield client


def _search(estimator, grid, scoring):
    return GridSearchCV(estimator, grid, cv=3, scoring=scoring, refit=False, n_jobs=-1)


def test_grid_search_over_order_matches_the_sequential_one(client):
    grid = {"order": [1, 2, 3]}
    sequential = _search(NGramLM(), grid, neg_perplexity_scorer).fit(X)
    with joblib.parallel_backend("dask"):
        on_dask = _search(NGramLM(), grid, neg_perplexity_scorer).fit(X)
    np.testing.assert_array_equal(
        on_dask.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"]
    )
    assert len(client.scheduler_info()["workers"]) == 2


def test_grid_search_over_hidden_size_matches_and_uses_one_thread_per_worker(client):
    grid = {"hidden_size": [4, 8]}
    model = LSTMLM(embedding_dim=4, max_epochs=1, batch_size=4, random_state=0)
    scoring = {"ppl": neg_perplexity_scorer, "threads": _threads}
    sequential = _search(model, grid, scoring).fit(X)
    with joblib.parallel_backend("dask"):
        on_dask = _search(model, grid, scoring).fit(X)
    np.testing.assert_allclose(
        on_dask.cv_results_["mean_test_ppl"], sequential.cv_results_["mean_test_ppl"], rtol=1e-6
    )
    # Each worker was started with one thread, and torch follows it.
    assert set(on_dask.cv_results_["mean_test_threads"]) == {1.0}


@pytest.mark.parametrize(
    "params",
    [
        {"order": 3},
        {"order": 4, "min_count": 2},
        {"order": 2, "smoothing": "witten_bell", "max_vocab": 3},
        {"order": 3, "vocabulary": ["a", "b", "c"]},
    ],
)
def test_ngram_counting_on_the_cluster_equals_the_single_process_fit(client, params):
    rng = np.random.default_rng(0)
    words = np.array(list("abcdefg"))
    corpus = [" ".join(rng.choice(words, size=rng.integers(0, 12))) for _ in range(300)]
    # Words that spell the names of task arguments are data, never task keys.
    corpus += ["tokens vocabulary order shard", "a tokens b"]
    alone = NGramLM(**params).fit(corpus)
    with joblib.parallel_backend("dask"):
        sharded = NGramLM(**params).fit(corpus)
    assert list(sharded.classes_) == list(alone.classes_)
    np.testing.assert_array_equal(sharded.ngram_counts_, alone.ngram_counts_)
    for name in ("keys", "log_prob", "log_backoff"):
        for got, expected in zip(getattr(sharded.tables_, name), getattr(alone.tables_, name)):
            np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(sharded.score_samples(corpus), alone.score_samples(corpus))
    np.testing.assert_array_equal(
        sharded.predict_proba(corpus[:20]), alone.predict_proba(corpus[:20])
    )
