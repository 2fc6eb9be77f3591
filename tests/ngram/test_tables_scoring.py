"""BackoffTables.score_corpus against a plain, position-by-position oracle, bit for bit."""

import warnings

import numpy as np
import pytest

from sklm import NGramLM

WORDS = "the a cat dog sat on mat log saw ran bird big small red".split()


def _corpus(rng, n_samples, mean_length):
    return [
        " ".join(rng.choice(WORDS + ["zebra"], rng.poisson(mean_length))) for _ in range(n_samples)
    ]


def _grams(tables):
    """For each order, the dict from an n-gram (tuple of ids) to its index."""
    base = tables.base
    grams = [{(w,): w for w in range(base)}]
    by_index = [[(w,) for w in range(base)]]
    for k in range(2, tables.order + 1):
        keys = tables.keys[k - 1]
        tuples = [by_index[-1][key // base] + (key % base,) for key in keys.tolist()]
        grams.append({t: i for i, t in enumerate(tuples)})
        by_index.append(tuples)
    return grams


def _oracle(tables, ids, offsets):
    """Each position on its own: the recursion of score_corpus, in the same float order."""
    grams = _grams(tables)
    out = []
    for i in range(len(offsets) - 1):
        padded = [tables.n_classes] + ids[offsets[i] : offsets[i + 1]].tolist()
        for q in range(1, len(padded)):
            value = tables.log_prob[0][padded[q]]
            for k in range(2, tables.order + 1):
                if q - k + 1 < 0:
                    value += 0.0  # the context reaches back past <s>
                    continue
                context = grams[k - 2].get(tuple(padded[q - k + 1 : q]))
                value += (
                    tables.unseen_log_backoff
                    if context is None
                    else tables.log_backoff[k - 2][context]
                )
                index = grams[k - 1].get(tuple(padded[q - k + 1 : q + 1]))
                if index is not None:
                    value = tables.log_prob[k - 1][index]
            out.append(value)
    return np.array(out)


def _fitted(order, smoothing, train):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NGramLM(order=order, smoothing=smoothing).fit(train)


# Both ways of scoring: the compiled loop and the NumPy passes.
WAYS = pytest.mark.parametrize("compiled", [True, False])


@WAYS
@pytest.mark.parametrize(
    "order, smoothing",
    # stupid_backoff needs an order of 2 or more.
    [
        (o, s)
        for s in ("kneser_ney", "stupid_backoff", "mle")
        for o in (1, 2, 3, 5)
        if (o, s) != (1, "stupid_backoff")
    ],
)
def test_score_corpus_equals_the_oracle(order, smoothing, compiled):
    rng = np.random.default_rng(order)
    lm = _fitted(order, smoothing, _corpus(rng, 300, 6))
    corpus = lm._vocabulary.encode_texts(_corpus(rng, 200, 5) + ["", "zebra", "the the"])
    tables = lm.tables_
    got, lengths = tables.score_corpus(
        corpus.ids, corpus.offsets, return_lengths=True, compiled=compiled
    )
    expected = _oracle(tables, corpus.ids, corpus.offsets)
    np.testing.assert_array_equal(got.view(np.int64), expected.view(np.int64))
    assert lengths.min() >= 1 and lengths.max() <= order


RUN = 5_000  # positions per run in these tests (SCORE_RUN is a million, CACHE_BLOCK 65,536)


@WAYS
def test_runs_of_samples_score_as_one_pass(compiled):
    # Several runs, one sample longer than a run by itself: the same values,
    # bit for bit, as each sample scored alone.
    rng = np.random.default_rng(7)
    lm = _fitted(3, "kneser_ney", _corpus(rng, 400, 8))
    texts = _corpus(rng, 2 * RUN // 8, 8)
    texts.insert(100, " ".join(rng.choice(WORDS, RUN + 10)))
    corpus = lm._vocabulary.encode_texts(texts)
    assert len(corpus.ids) > 3 * RUN
    tables = lm.tables_
    got, lengths = tables.score_corpus(
        corpus.ids, corpus.offsets, return_lengths=True, compiled=compiled, run=RUN
    )
    for i in [0, 99, 100, 101, len(texts) // 2, len(texts) - 1]:
        start, end = corpus.offsets[i], corpus.offsets[i + 1]
        alone, alone_lengths = tables.score_corpus(
            corpus.ids[start:end], [0, end - start], return_lengths=True, compiled=compiled
        )
        np.testing.assert_array_equal(got[start:end].view(np.int64), alone.view(np.int64))
        np.testing.assert_array_equal(lengths[start:end], alone_lengths)
    # The long sample against the oracle too.
    start, end = corpus.offsets[100], corpus.offsets[101]
    expected = _oracle(tables, corpus.ids[start:end], np.array([0, end - start]))
    np.testing.assert_array_equal(got[start:end].view(np.int64), expected.view(np.int64))


@WAYS
def test_empty_samples_without_eos_anywhere_in_the_runs(compiled):
    # score_corpus takes any flat corpus: samples without </s> may be empty,
    # also where a run ends.
    rng = np.random.default_rng(3)
    lm = _fitted(3, "kneser_ney", _corpus(rng, 200, 6))
    tables = lm.tables_
    lengths = rng.integers(0, 4, 3 * RUN // 2)
    lengths[-5:] = 0
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ids = rng.integers(0, tables.n_classes, offsets[-1])
    got = tables.score_corpus(ids, offsets, compiled=compiled, run=RUN)
    pieces = [
        tables.score_corpus(ids[a:b], [0, b - a], compiled=compiled)
        for a, b in zip(offsets[:-1], offsets[1:])
    ]
    np.testing.assert_array_equal(got.view(np.int64), np.concatenate(pieces).view(np.int64))


def test_the_two_ways_agree_bit_for_bit_on_a_large_corpus():
    # Past the size where a call loads the compiled loop on its own.
    rng = np.random.default_rng(11)
    lm = _fitted(4, "kneser_ney", _corpus(rng, 2000, 9))
    corpus = lm._vocabulary.encode_texts(_corpus(rng, 30_000, 8))
    assert len(corpus.ids) > 200_000
    tables = lm.tables_
    compiled = tables.score_corpus(corpus.ids, corpus.offsets, return_lengths=True, compiled=True)
    arrays = tables.score_corpus(corpus.ids, corpus.offsets, return_lengths=True, compiled=False)
    np.testing.assert_array_equal(compiled[0].view(np.int64), arrays[0].view(np.int64))
    np.testing.assert_array_equal(compiled[1], arrays[1])
