"""The LM contract of sklm.base, on a toy add-one bigram model."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from toy import AddOneBigramLM

from sklm.base import _draw, segment_sum

TRAIN = ["a b a c", "b a", "c c a b", "a"]


@pytest.fixture
def lm():
    return AddOneBigramLM().fit(TRAIN)


def test_vocabulary_and_classes(lm):
    assert list(lm.classes_[:2]) == ["<unk>", "</s>"]
    assert "<s>" not in lm.vocabulary_ and "<s>" not in set(lm.classes_)
    # decreasing count, ties alphabetical: a x5, then b x3 and c x3 -> a, b, c
    assert list(lm.classes_[2:]) == ["a", "b", "c"]
    for token, i in lm.vocabulary_.items():
        assert lm.classes_[i] == token


def test_min_count_and_max_vocab():
    lm = AddOneBigramLM(min_count=4).fit(TRAIN)
    assert list(lm.classes_) == ["<unk>", "</s>", "a"]
    lm = AddOneBigramLM(min_count=3).fit(TRAIN + ["d d"])
    assert list(lm.classes_) == ["<unk>", "</s>", "a", "b", "c"]
    lm = AddOneBigramLM(max_vocab=1).fit(TRAIN)
    assert list(lm.classes_) == ["<unk>", "</s>", "a"]


def test_score_samples_matches_hand_computation(lm):
    # c(<s> a) = 2 of 4 samples; V = 5 classes -> p(a|<s>) = 3/9
    # c(a </s>) = 2, c(a) as context = 5 -> p(</s>|a) = 3/10
    expected = np.log(3 / 9) + np.log(3 / 10)
    assert lm.score_samples(["a"])[0] == pytest.approx(expected)


def test_score_is_mean_per_prediction(lm):
    X = ["a b", "c", ""]
    total = lm.score_samples(X).sum()
    assert lm.score(X) == pytest.approx(total / (2 + 1 + 0 + 3))


def test_each_sample_predicts_its_tokens_and_eos(lm):
    per_sample = lm.score_tokens(["a b", "", "zzz"])
    assert [len(p) for p in per_sample] == [3, 1, 2]
    assert np.allclose([p.sum() for p in per_sample], lm.score_samples(["a b", "", "zzz"]))
    # zzz is scored as <unk>
    assert per_sample[2][0] == pytest.approx(lm.score_tokens([["<unk>"]])[0][0])


def test_chain_rule_and_rows_sum_to_one(lm):
    sample = ["a", "zzz", "c", "b"]
    total = 0.0
    for i in range(len(sample) + 1):
        proba = lm.predict_proba([sample[:i]])[0]
        assert proba.sum() == pytest.approx(1.0)
        target = sample[i] if i < len(sample) else "</s>"
        total += np.log(proba[lm.vocabulary_.get(target, 0)])
    assert lm.score_samples([sample])[0] == pytest.approx(total)


def test_predict_returns_argmax_token(lm):
    proba = lm.predict_proba(["a", ""])
    assert list(lm.predict(["a", ""])) == list(lm.classes_[proba.argmax(axis=1)])


def test_literal_unk_is_the_unk_class_and_markers_inside_samples_are_unknown(lm):
    assert np.allclose(lm.score_samples([["<unk>"]]), lm.score_samples([["qqq"]]))
    assert np.allclose(lm.score_samples([["</s>"]]), lm.score_samples([["<s>"]]))


def test_unfitted_methods_raise():
    lm = AddOneBigramLM()
    for method in (lm.score, lm.score_samples, lm.predict_proba, lm.predict):
        with pytest.raises(NotFittedError):
            method(["a"])
    with pytest.raises(NotFittedError):
        lm.sample()


def test_failed_fit_keeps_fitted_model(lm):
    before = lm.score_samples(TRAIN)
    classes = lm.classes_.copy()
    with pytest.raises(TypeError):
        lm.fit([["a", 3]])
    with pytest.raises(ValueError):
        lm.fit([])
    np.testing.assert_array_equal(lm.classes_, classes)
    np.testing.assert_array_equal(lm.score_samples(TRAIN), before)


def test_fit_accepts_generators_and_does_not_mutate_input():
    X = [["a", "b"], ["b"]]
    snapshot = [list(s) for s in X]
    lm1 = AddOneBigramLM().fit(X)
    lm2 = AddOneBigramLM().fit(s for s in X)
    assert X == snapshot
    np.testing.assert_array_equal(lm1.score_samples(X), lm2.score_samples(X))


def test_sample_is_seeded_and_bounded(lm):
    a = lm.sample(5, max_length=7, random_state=0)
    b = lm.sample(5, max_length=7, random_state=0)
    assert a == b and len(a) == 5
    assert all(len(s) <= 7 for s in a)
    assert all("</s>" not in s and "<s>" not in s for s in a)
    assert lm.sample(3, max_length=0) == [[], [], []]


def test_greedy_sampling_follows_argmax(lm):
    out = lm.sample(2, prompt="c", max_length=4, temperature=0)
    context = ["c"]
    expected = []
    for _ in range(4):
        token = lm.predict([context])[0]
        if token == "</s>":
            break
        expected.append(token)
        context.append(token)
    assert out == [expected, expected]


def test_prompt_of_unseen_words_is_read_as_unk(lm):
    a = lm.sample(3, prompt="xx yy", random_state=1)
    b = lm.sample(3, prompt=["<unk>", "<unk>"], random_state=1)
    assert a == b


@pytest.mark.parametrize(
    "params, match",
    [
        ({"temperature": -1}, "temperature"),
        ({"max_length": -1}, "max_length"),
        ({"top_k": 0}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"n_samples": 0}, "n_samples"),
        ({"prompt": 3}, "prompt"),
    ],
)
def test_sample_rejects_bad_parameters(lm, params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        lm.sample(**params)


def test_draw_top_k_and_top_p_restrict_support():
    rng = np.random.RandomState(0)
    log_p = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 2000))
    assert set(_draw(log_p, rng, 1.0, 2, None)) == {0, 1}
    # 0.5 alone < 0.7, 0.5 + 0.3 >= 0.7: the nucleus is {0, 1}
    assert set(_draw(log_p, rng, 1.0, None, 0.7)) == {0, 1}
    assert set(_draw(log_p, rng, 1.0, None, 0.5)) == {0}
    counts = np.bincount(_draw(log_p, rng, 1.0, None, None), minlength=4) / 2000
    np.testing.assert_allclose(counts, [0.5, 0.3, 0.15, 0.05], atol=0.04)


def test_draw_temperature_sharpens_and_flattens():
    rng = np.random.RandomState(0)
    log_p = np.log(np.array([[0.6, 0.4]] * 4000))
    cold = np.mean(_draw(log_p, rng, 0.5, None, None) == 0)
    hot = np.mean(_draw(log_p, rng, 2.0, None, None) == 0)
    # p^(1/T) renormalised: T=0.5 -> 0.36/0.52 = 0.692; T=2 -> 0.7746/1.4070 = 0.551
    assert cold == pytest.approx(0.692, abs=0.03)
    assert hot == pytest.approx(0.551, abs=0.03)


def test_segment_sum():
    np.testing.assert_array_equal(
        segment_sum(np.array([1.0, 2, 3, 4]), np.array([0, 1, 4])), [1, 9]
    )
