"""A real Dask cluster (two worker processes on 127.0.0.1) gives the sequential results."""

import gzip

import joblib
import numpy as np
import pytest
from dask import distributed
from sklearn.model_selection import GridSearchCV

from sklm import LSTMLM, NGramLM
from sklm.base import Vocabulary
from sklm.datasets import TextFiles
from sklm.metrics import neg_perplexity_scorer
from sklm.ngram._counting import continuation_counts, count_ngrams
from sklm.ngram._sharding import dask_count

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
def test_ngram_counting_on_the_cluster_equals_the_single_process_fit(client, params, tmp_path):
    corpus = _corpus(0)
    alone = NGramLM(**params).fit(corpus)
    with joblib.parallel_backend("dask"):
        sharded = NGramLM(**params).fit(corpus)
    _assert_same_model(sharded, alone, corpus, tmp_path)


def _corpus(seed, n=300):
    rng = np.random.default_rng(seed)
    words = np.array(list("abcdefg"))
    corpus = [" ".join(rng.choice(words, size=rng.integers(0, 12))) for _ in range(n)]
    # Words that spell the names of task arguments are data, never task keys.
    return corpus + ["tokens vocabulary order shard", "a tokens b"]


def _assert_same_model(sharded, alone, corpus, tmp_path):
    assert list(sharded.classes_) == list(alone.classes_)
    np.testing.assert_array_equal(sharded.ngram_counts_, alone.ngram_counts_)
    for name in ("keys", "log_prob", "log_backoff"):
        for got, expected in zip(getattr(sharded.tables_, name), getattr(alone.tables_, name)):
            np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(sharded.score_samples(corpus), alone.score_samples(corpus))
    np.testing.assert_array_equal(
        sharded.predict_proba(corpus[:20]), alone.predict_proba(corpus[:20])
    )
    sharded.to_arpa(tmp_path / "sharded.arpa")
    alone.to_arpa(tmp_path / "alone.arpa")
    assert (tmp_path / "sharded.arpa").read_bytes() == (tmp_path / "alone.arpa").read_bytes()


def _write_files(folder, corpus):
    """The corpus in five files: plain and gzip, one of them empty."""
    paths = []
    for i, lines in enumerate(np.array_split(np.array(corpus, dtype=object), 4)):
        path = folder / f"part{i}.txt"
        data = "".join(f"{line}\n" for line in lines).encode()
        path.write_bytes(gzip.compress(data) if i % 2 else data)
        paths.append(path)
    (folder / "empty.txt").write_bytes(b"\n  \n")
    return [paths[0], folder / "empty.txt", *paths[1:]]


@pytest.mark.parametrize("params", [{"order": 3}, {"order": 4, "vocabulary": ["a", "b", "c"]}])
def test_workers_read_their_own_files(client, params, tmp_path, monkeypatch):
    # A file has no empty sample (its blank lines are skipped).
    corpus = [line for line in _corpus(1) if line]
    files = TextFiles(_write_files(tmp_path, corpus))
    alone = NGramLM(**params).fit(corpus)
    _assert_same_model(NGramLM(**params).fit(files), alone, corpus, tmp_path)

    def no_reading(self):
        raise AssertionError("the client read the files")

    # The workers' own TextFiles read; the client's may not.
    monkeypatch.setattr(TextFiles, "__iter__", no_reading)
    with joblib.parallel_backend("dask"):
        sharded = NGramLM(**params).fit(files)
    monkeypatch.undo()
    _assert_same_model(sharded, alone, corpus, tmp_path)


def test_files_missing_or_empty_on_the_workers(client, tmp_path):
    (tmp_path / "blank.txt").write_text("\n\n")
    with joblib.parallel_backend("dask"):
        with pytest.raises(FileNotFoundError, match="no-such.txt"):
            NGramLM().fit(TextFiles([tmp_path / "blank.txt", tmp_path / "no-such.txt"]))
        with pytest.raises(ValueError, match="X is empty"):
            NGramLM().fit(TextFiles([tmp_path / "blank.txt"]))


@pytest.mark.parametrize("vocabulary", [None, ["a", "b", "c", "d"]])
def test_a_bad_sample_is_named_by_its_index_in_x(client, vocabulary):
    # The workers validate their own parts; the error gives the index in X,
    # as a fit in one process does, not the index within a worker's part.
    bad = [list(s.split()) for s in X]
    bad[len(X) - 2] = ["a", 7]
    lm = NGramLM(vocabulary=vocabulary)
    with pytest.raises(TypeError) as alone:
        lm.fit(bad)
    with joblib.parallel_backend("dask"):
        with pytest.raises(TypeError) as clustered:
            lm.fit(bad)
    assert f"X[{len(X) - 2}]" in str(alone.value)
    assert str(clustered.value) == str(alone.value)


@pytest.mark.parametrize("n_partitions", [1, 3, 8])
def test_partitioned_reduce_gives_the_counts_and_continuation_counts_of_one_process(
    client, n_partitions
):
    corpus = _corpus(2, n=400)
    order = 4
    vocabulary, counts = dask_count(
        client,
        corpus,
        order=order,
        min_count=1,
        max_vocab=None,
        n_shards=5,
        n_partitions=n_partitions,
    )
    assert (
        vocabulary.classes().tolist()
        == Vocabulary.learn([s.split() for s in corpus]).classes().tolist()
    )
    encoded = vocabulary.encode([s.split() for s in corpus], eos=True)
    whole = count_ngrams(encoded.ids, encoded.offsets, len(vocabulary), order)
    for k in range(order):
        np.testing.assert_array_equal(counts.keys[k], whole.keys[k])
        np.testing.assert_array_equal(counts.counts[k], whole.counts[k])
        if k:
            np.testing.assert_array_equal(counts.suffix[k], whole.suffix[k])
    # Counted by the reducers, each within its partition of suffixes.
    assert counts.continuation[order - 1] is None
    for k in range(1, order):
        np.testing.assert_array_equal(
            counts.continuation[k - 1],
            np.bincount(whole.suffix[k], minlength=len(whole.keys[k - 1])),
        )
        np.testing.assert_array_equal(continuation_counts(counts, k), continuation_counts(whole, k))


def test_the_same_corpus_fitted_again_and_again(client):
    # Each fit's data lives under keys of its own: the release of one fit's
    # data cannot take away the next one's.
    corpus = _corpus(3, n=50)
    alone = NGramLM(order=2).fit(corpus)
    for _ in range(3):
        with joblib.parallel_backend("dask"):
            sharded = NGramLM(order=2).fit(corpus)
        np.testing.assert_array_equal(sharded.score_samples(corpus), alone.score_samples(corpus))
