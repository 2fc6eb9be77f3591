"""NGramLM as an estimator: the chain rule, rows summing to one, bad input,
boundaries, generation and persistence."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone

from sklm import NGramLM
from sklm.base import LanguageModel

SMOOTHINGS = [
    "mle",
    "add_k",
    "absolute_discounting",
    "witten_bell",
    "kneser_ney",
    "stupid_backoff",
]
DISTRIBUTIONS = [s for s in SMOOTHINGS if s != "stupid_backoff"]

TRAIN = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat saw the dog",
    "the dog ran",
    "a bird sang on the mat",
    "",
]
TEST = ["the cat sat on the log", "a dog sang", "the unicorn sat", "", "on"]

pytestmark = pytest.mark.filterwarnings("ignore:.*cannot estimate the discounts:UserWarning")


def fit(smoothing, order, **params):
    return NGramLM(order=order, smoothing=smoothing, **params).fit(TRAIN)


def chain_rule_scores(lm, samples):
    """Sum of log predict_proba of each actual next token, context by context."""
    totals = []
    for sample in samples:
        tokens = sample.split()
        targets = [lm.vocabulary_.get(t, 0) for t in tokens] + [1]
        contexts = [tokens[:i] for i in range(len(tokens) + 1)]
        proba = lm.predict_proba(contexts)
        totals.append(np.sum(np.log(proba[np.arange(len(targets)), targets])))
    return np.array(totals)


@pytest.mark.parametrize("smoothing", DISTRIBUTIONS)
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_chain_rule_and_rows_sum_to_one(smoothing, order):
    lm = fit(smoothing, order)
    test = TRAIN + TEST
    with np.errstate(divide="ignore"):
        # mle: -inf on both sides for the samples holding an unseen event
        np.testing.assert_allclose(lm.score_samples(test), chain_rule_scores(lm, test), rtol=1e-9)
    contexts = [[], ["the"], ["the", "dog"], ["unicorn"], ["a", "cat", "saw"], ["on", "the"]]
    proba = lm.predict_proba(contexts)
    assert proba.shape == (len(contexts), len(lm.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    assert np.all(proba >= 0)
    assert not np.isnan(lm.score_samples(TEST)).any()


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_stupid_backoff_rows_are_normalised_scores(order):
    lm = fit("stupid_backoff", order)
    proba = lm.predict_proba([[], ["the"], ["the", "dog"], ["unicorn", "sat"]])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)


def test_boundaries_and_units():
    lm = fit("kneser_ney", 3)
    # n + 1 predictions per sample; score is the mean per prediction
    scores = lm.score_samples(TEST)
    n_predictions = sum(len(s.split()) + 1 for s in TEST)
    assert lm.score(TEST) == pytest.approx(scores.sum() / n_predictions, rel=1e-12)
    # an empty sample predicts </s> after <s> only
    first = lm.predict_proba([""])[0]
    assert lm.score_samples([""])[0] == pytest.approx(np.log(first[1]), rel=1e-12)
    # <s> is no class, and a literal <s> inside a sample reads as <unk>
    assert "<s>" not in lm.vocabulary_ and "<s>" not in set(lm.classes_)
    assert lm.score_samples(["the <s> sat"]) == pytest.approx(lm.score_samples(["the zzz sat"]))


def test_ngrams_do_not_reach_past_sentence_start():
    # "b" follows "a" only across a sentence boundary, never inside one
    lm = NGramLM(order=2, smoothing="mle").fit(["x a", "b y"])
    assert lm.predict_proba(["x a"])[0][lm.vocabulary_["b"]] == 0
    assert lm.predict_proba(["x a"])[0][1] == 1.0


def test_unknown_words_are_unk():
    lm = fit("witten_bell", 2)
    assert lm.score_samples(["the zebra"]) == pytest.approx(lm.score_samples(["the giraffe"]))
    unk_first = lm.predict_proba(["zebra"])
    np.testing.assert_allclose(unk_first, lm.predict_proba(["<unk>"]))


def test_fitted_attributes():
    lm = fit("kneser_ney", 3)
    assert lm.discounts_.shape == (3, 3)
    assert lm.counts_of_counts_.shape == (3, 4)
    # unigrams: every class plus <s>
    assert lm.ngram_counts_[0] == len(lm.classes_) + 1
    bigrams = {(a, b) for s in TRAIN for a, b in zip(["<s>", *s.split()], [*s.split(), "</s>"])}
    assert lm.ngram_counts_[1] == len(bigrams)
    assert fit("witten_bell", 2).discounts_ is None
    assert fit("absolute_discounting", 3).discounts_.shape == (3,)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"order": 0}, "order"),
        ({"order": 2.5}, "order"),
        ({"smoothing": "good_turing"}, "smoothing"),
        ({"smoothing": "add_k", "alpha": -1.0}, "alpha"),
        ({"min_count": 0}, "min_count"),
        ({"discount": 1.5}, "discount"),
        ({"backoff": 0.0}, "backoff"),
        ({"max_vocab": 0}, "max_vocab"),
        ({"n_threads": 0}, "n_threads"),
        ({"n_threads": 1.5}, "n_threads"),
        ({"order": 10**12}, "order"),
        ({"order": 65}, "order"),
        ({"alpha": float("inf")}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
    ],
)
def test_bad_parameters_raise_at_fit(params, match):
    lm = NGramLM(**params)  # __init__ only stores
    with pytest.raises(ValueError, match=match):
        lm.fit(TRAIN)
    with pytest.raises(ValueError, match=match):
        lm.partial_fit(TRAIN)


def test_the_largest_order_fits():
    lm = NGramLM(order=64, smoothing="witten_bell").fit(TRAIN)
    assert len(lm.ngram_counts_) == 64
    np.testing.assert_allclose(lm.predict_proba(TRAIN).sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("order", [1, 3])
@pytest.mark.parametrize("alpha", [1e300, 1e308, np.finfo(float).max])
def test_an_overflowing_alpha_gives_the_uniform_distribution(order, alpha):
    # alpha V overflows to inf: the limit, 1 / V for every class, not NaN.
    lm = NGramLM(order=order, smoothing="add_k", alpha=alpha).fit(TRAIN)
    n_classes = len(lm.classes_)
    np.testing.assert_allclose(lm.predict_proba(TRAIN), 1 / n_classes, rtol=1e-12)
    scores = lm.score_samples(TRAIN + ["unseen words"])
    assert np.isfinite(scores).all()
    lengths = np.array([len(s.split()) + 1 for s in TRAIN + ["unseen words"]])
    np.testing.assert_allclose(scores, -lengths * np.log(n_classes), rtol=1e-12)


@pytest.mark.parametrize("as_tokens", [False, True])
def test_threaded_scoring_equals_scoring_in_one_piece(monkeypatch, as_tokens):
    from sklm import _parallel

    rng = np.random.default_rng(0)
    words = np.array("the cat dog sat on a mat log ran bird sang saw".split())
    test = [" ".join(rng.choice(words, rng.integers(0, 12))) for _ in range(3000)]
    test += ["zebra unicorn", ""] * 50  # unknown words, empty samples
    if as_tokens:
        test = [t.split() for t in test]
    lm = fit("kneser_ney", 3, n_threads=1)
    one_piece = lm.score_samples(test)
    # Parts of a few thousand characters: the corpus is cut into three.
    monkeypatch.setattr(_parallel, "MIN_PART", 2_000)
    sizes = [len(t) for t in test]
    assert len(_parallel.split(test, sizes, 3)) == 3
    threaded = lm.set_params(n_threads=3)
    np.testing.assert_array_equal(threaded.score_samples(test), one_piece)
    n_tokens = sum(len(t) if as_tokens else len(t.split()) for t in test)
    threaded_score = threaded.score(test)
    assert threaded_score == pytest.approx(one_piece.sum() / (n_tokens + len(test)), rel=1e-12)
    assert threaded_score == lm.set_params(n_threads=1).score(test)


def test_threaded_scoring_in_longer_runs_equals_scoring_in_one_piece(monkeypatch):
    # Runs of a few dozen positions (and bytes of text), so that each part
    # holds many, and a thread's runs of text (longer: run_length) cut elsewhere.
    from sklm import _parallel, _text_encoding
    from sklm.ngram import _tables

    monkeypatch.setattr(_tables, "SCORE_RUN", 40)
    monkeypatch.setattr(_text_encoding, "RUN_BYTES", 250)
    monkeypatch.setattr(_parallel, "MIN_PART", 2_000)
    rng = np.random.default_rng(1)
    words = np.array("the cat dog sat on a mat log ran bird sang saw zebra".split())
    test = [" ".join(rng.choice(words, rng.integers(0, 40))) for _ in range(2000)]
    lm = fit("kneser_ney", 3, n_threads=1)
    one_piece = lm.score_samples(test)
    one_piece_tokens = np.concatenate(lm.score_tokens(test))
    longer = 40 * _parallel.SHARED_RUN_SCALE
    assert _parallel.SHARED_RUN_SCALE > 1
    assert _parallel.map_threads(lambda _: _parallel.run_length(40), [0, 1]) == [longer, longer]
    assert _parallel.run_length(40) == 40
    threaded = lm.set_params(n_threads=2)
    np.testing.assert_array_equal(threaded.score_samples(test), one_piece)
    np.testing.assert_array_equal(np.concatenate(threaded.score_tokens(test)), one_piece_tokens)


def test_bad_n_threads_set_after_fit_raises_at_score_and_keeps_the_model():
    lm = fit("kneser_ney", 3)
    before = lm.score_samples(TEST)
    lm.set_params(n_threads=0)
    with pytest.raises(ValueError, match="n_threads"):
        lm.score(TEST)
    np.testing.assert_array_equal(lm.set_params(n_threads=1).score_samples(TEST), before)


def test_failed_fit_leaves_the_model_unchanged():
    lm = fit("kneser_ney", 3)
    before = lm.score_samples(TEST)
    classes = lm.classes_.copy()
    for bad in (None, "a bare string", [], [["ok"], [1, 2]]):
        with pytest.raises((ValueError, TypeError)):
            lm.fit(bad)
    lm.set_params(order=0)
    with pytest.raises(ValueError):
        lm.fit(TRAIN)
    lm.set_params(order=3)
    np.testing.assert_array_equal(lm.score_samples(TEST), before)
    np.testing.assert_array_equal(lm.classes_, classes)


def test_refit_replaces_every_fitted_attribute():
    lm = fit("kneser_ney", 3)
    lm.set_params(smoothing="witten_bell").fit(TRAIN)
    assert lm.discounts_ is None and lm.counts_of_counts_ is None
    np.testing.assert_allclose(lm.score_samples(TEST), fit("witten_bell", 3).score_samples(TEST))


def test_min_count_and_max_vocab():
    lm = NGramLM(order=2, min_count=2).fit(TRAIN)
    assert "bird" not in lm.vocabulary_ and "the" in lm.vocabulary_
    # rare words are <unk> in training too, so <unk> has counts and context
    assert lm.predict_proba(["<unk>"]).sum() == pytest.approx(1.0)
    lm = NGramLM(order=2, max_vocab=3).fit(TRAIN)
    assert len(lm.classes_) == 5


def test_predict_is_the_argmax():
    lm = fit("kneser_ney", 3)
    contexts = ["the dog", "a cat", "", "unicorn"]
    expected = lm.classes_[np.argmax(lm.predict_proba(contexts), axis=1)]
    np.testing.assert_array_equal(lm.predict(contexts), expected)
    assert lm.predict(["the cat sat on the"])[0] in {"mat", "log"}


def test_pickle_round_trip_scores_identically():
    lm = fit("kneser_ney", 4)
    before = lm.score_samples(TEST)  # also builds the lookup cache
    again = pickle.loads(pickle.dumps(lm))
    np.testing.assert_array_equal(again.score_samples(TEST), before)
    np.testing.assert_array_equal(again.predict_proba(["the"]), lm.predict_proba(["the"]))
    assert clone(lm).get_params() == lm.get_params()


# generation ------------------------------------------------------------------------


def test_sampling_is_seeded_and_stops_at_eos():
    lm = fit("kneser_ney", 3)
    a = lm.sample(5, max_length=20, random_state=0)
    b = lm.sample(5, max_length=20, random_state=0)
    assert a == b
    assert all(len(s) <= 20 and "</s>" not in s and "<s>" not in s for s in a)
    assert lm.sample(3, max_length=0) == [[], [], []]


def test_greedy_decoding_follows_predict():
    lm = fit("witten_bell", 3)
    (greedy,) = lm.sample(1, prompt="the dog", temperature=0, max_length=6)
    context = ["the", "dog"]
    for token in greedy:
        assert lm.predict([context])[0] == token
        context.append(token)
    assert lm.sample(1, prompt="the dog", top_k=1, max_length=6, random_state=1)[0] == greedy
    assert lm.sample(1, prompt="the dog", top_p=1e-9, max_length=6, random_state=2)[0] == greedy


def test_prompt_of_unseen_words():
    lm = fit("kneser_ney", 3)
    out = lm.sample(2, prompt=["zebra", "giraffe"], max_length=5, random_state=0)
    assert len(out) == 2 and all(len(s) <= 5 for s in out)


class _ReReadingNGramLM(NGramLM):
    """The same model with the base class's generic generation hooks."""

    _generation_start = LanguageModel._generation_start
    _generation_step = LanguageModel._generation_step


@pytest.mark.parametrize("order", [1, 2, 4])
def test_generation_state_matches_rereading_the_context(order):
    fast = fit("kneser_ney", order)
    slow = _ReReadingNGramLM(order=order).fit(TRAIN)
    for prompt in (None, "the", "a cat saw the"):
        kwargs = dict(prompt=prompt, max_length=12, random_state=3, top_k=4)
        assert fast.sample(6, **kwargs) == slow.sample(6, **kwargs)


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_small_and_degenerate_corpora(smoothing):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # order far above the longest sample
        lm = NGramLM(order=5, smoothing=smoothing).fit(["a"])
        np.testing.assert_allclose(lm.predict_proba(["", "a", "a a a a"]).sum(axis=1), 1.0)
        # "a a" was never seen: only mle gives it probability 0
        assert np.isfinite(lm.score_samples(["a a a a a a"])[0]) == (smoothing != "mle")
        # only empty samples: the classes are <unk> and </s>
        lm = NGramLM(order=3, smoothing=smoothing).fit(["", ""])
    assert list(lm.classes_) == ["<unk>", "</s>"]
    score = lm.score_samples([""])[0]
    if smoothing in ("mle", "stupid_backoff"):
        assert score == 0.0  # </s> always follows <s>
    else:
        assert -np.log(2) < score < 0  # smoothing keeps some mass for <unk>
