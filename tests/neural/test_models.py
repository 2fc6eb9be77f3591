"""Probabilities of the recurrent models: chain rule, proper distributions,
agreement with a token-by-token oracle, seeding and the parameter counts."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklm.neural import GRULM, LSTMLM, RNNLM

VARIANTS = [
    (RNNLM, {"nonlinearity": "tanh"}),
    (RNNLM, {"nonlinearity": "relu"}),
    (LSTMLM, {}),
    (GRULM, {}),
    (LSTMLM, {"softmax": "adaptive"}),
    (GRULM, {"softmax": "adaptive", "cutoffs": [3, 6]}),
    (LSTMLM, {"num_layers": 2, "dropout": 0.3}),
    (GRULM, {"tie_weights": True, "embedding_dim": 12}),
]
IDS = [c.__name__ + "".join(f"-{k}={v}" for k, v in p.items()) for c, p in VARIANTS]


@pytest.fixture(params=VARIANTS, ids=IDS)
def fitted(request, tiny, corpus):
    cls, params = request.param
    return tiny(cls, **params).fit(corpus)


def _oracle_log_prob(lm, tokens):
    """Feed one token at a time through the network itself, from <s> and a zero state."""
    module = lm.module_
    ids = [lm.vocabulary_.get(t, 0) for t in tokens] + [1]
    total, state, prev = 0.0, None, module.bos_id
    with torch.no_grad():
        for target in ids:
            hidden, state = module(torch.tensor([[prev]]), state)
            total += float(module.log_proba(hidden[0])[0, target])
            prev = target
    return total


def test_rows_sum_to_one(fitted, corpus):
    contexts = corpus + ["the", "zebra unseen", ""]
    proba = fitted.predict_proba(contexts)
    assert proba.shape == (len(contexts), len(fitted.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    assert np.all(proba > 0)


def test_chain_rule(fitted, corpus):
    test = corpus + ["the unseen zebra sat", "cat"]
    expected = []
    for text in test:
        tokens = text.split()
        log_proba = np.log(fitted.predict_proba([tokens[:i] for i in range(len(tokens) + 1)]))
        nxt = [fitted.vocabulary_.get(t, 0) for t in tokens] + [1]
        expected.append(log_proba[np.arange(len(nxt)), nxt].sum())
    np.testing.assert_allclose(fitted.score_samples(test), expected, rtol=1e-5, atol=1e-4)


def test_scores_match_token_by_token_oracle(fitted, corpus):
    test = corpus + ["the cat sat on the mat on the log after the dog ran"]
    oracle = [_oracle_log_prob(fitted, t.split()) for t in test]
    np.testing.assert_allclose(fitted.score_samples(test), oracle, rtol=1e-5, atol=1e-4)
    n_predictions = sum(len(t.split()) + 1 for t in test)
    assert fitted.score(test) == pytest.approx(sum(oracle) / n_predictions, rel=1e-5)


def test_generation_state_matches_predict_proba(fitted):
    # The carried state of sample() must give what re-reading the context gives.
    contexts = fitted._vocabulary.encode([["the", "cat"], ["the", "cat"]], eos=False)
    state, log_proba = fitted._generation_start(contexts)
    np.testing.assert_allclose(log_proba, fitted.predict_log_proba([["the", "cat"]] * 2), atol=1e-5)
    dog = fitted.vocabulary_["dog"]
    state, log_proba = fitted._generation_step(state, np.array([dog, dog]), np.array([True, False]))
    assert log_proba.shape == (1, len(fitted.classes_))
    np.testing.assert_allclose(
        log_proba[0], fitted.predict_log_proba([["the", "cat", "dog"]])[0], atol=1e-5
    )


def test_sample_is_reproducible_and_bounded(fitted):
    a = fitted.sample(4, prompt="the cat", max_length=6, random_state=3)
    assert a == fitted.sample(4, prompt="the cat", max_length=6, random_state=3)
    assert len(a) == 4 and all(len(s) <= 6 for s in a)
    assert all(t in fitted.vocabulary_ for s in a for t in s)
    greedy = fitted.sample(1, prompt="the", temperature=0, max_length=1)[0]
    best = fitted.predict([["the"]])[0]
    assert greedy == ([] if best == "</s>" else [best])
    assert fitted.sample(2, max_length=0) == [[], []]


def test_prompt_of_unseen_words_reads_as_unk(tiny, corpus):
    lm = tiny(LSTMLM).fit(corpus)
    a = lm.sample(3, prompt="zebra yak", max_length=5, random_state=0)
    b = lm.sample(3, prompt=["<unk>", "<unk>"], max_length=5, random_state=0)
    assert a == b


@pytest.mark.parametrize("cls", [RNNLM, LSTMLM, GRULM])
def test_same_seed_same_model(cls, tiny, corpus):
    a = tiny(cls, dropout=0.2, num_layers=2).fit(corpus)
    b = clone(a).fit(corpus)
    for (name, wa), wb in zip(a.module_.state_dict().items(), b.module_.state_dict().values()):
        assert torch.equal(wa, wb), name
    np.testing.assert_array_equal(a.score_samples(corpus), b.score_samples(corpus))
    c = clone(a).set_params(random_state=1).fit(corpus)
    assert not np.allclose(a.score_samples(corpus), c.score_samples(corpus))


def test_fit_leaves_global_torch_rng_alone(tiny, corpus):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    tiny(LSTMLM, dropout=0.5).fit(corpus)
    assert torch.equal(torch.get_rng_state(), before)


def test_training_lowers_the_loss(tiny, corpus):
    lm = tiny(LSTMLM, max_epochs=8, learning_rate=0.02).fit(corpus * 3)
    losses = [h["train_loss"] for h in lm.history_]
    assert losses[-1] < losses[0]
    assert lm.score(corpus) > -np.log(len(lm.classes_))  # better than uniform


def test_history_records(tiny, corpus):
    lm = tiny(GRULM, max_epochs=3).fit(corpus)
    assert [h["epoch"] for h in lm.history_] == [1, 2, 3]
    n_predictions = sum(len(t.split()) + 1 for t in corpus)
    for h in lm.history_:
        assert h["tokens"] == n_predictions
        assert h["valid_perplexity"] is None
        assert h["seconds"] > 0 and h["tokens_per_s"] > 0
        assert h["grad_norm"] > 0 and h["grad_norm_max"] >= h["grad_norm"] - 1e-12
        assert h["complete"] is True
        assert np.isfinite(h["train_loss"])


def test_gru_has_three_quarters_of_lstm_recurrent_weights(tiny, corpus):
    lstm = tiny(LSTMLM, num_layers=2).fit(corpus)
    gru = tiny(GRULM, num_layers=2).fit(corpus)
    rnn = tiny(RNNLM, num_layers=2).fit(corpus)

    def recurrent(lm):
        return sum(p.numel() for p in lm.module_.rnn.parameters())

    assert 4 * recurrent(gru) == 3 * recurrent(lstm)
    assert 4 * recurrent(rnn) == recurrent(lstm)
    others = lstm.n_parameters_ - recurrent(lstm)
    assert gru.n_parameters_ - recurrent(gru) == others
    assert lstm.n_parameters_ == sum(p.numel() for p in lstm.module_.parameters())


def test_tied_weights_share_the_embedding(tiny, corpus):
    lm = tiny(LSTMLM, tie_weights=True, embedding_dim=12).fit(corpus)
    untied = tiny(LSTMLM, embedding_dim=12).fit(corpus)
    n_classes = len(lm.classes_)
    assert untied.n_parameters_ - lm.n_parameters_ == n_classes * 12


def test_adaptive_softmax_keeps_its_cutoffs(tiny, corpus):
    lm = tiny(LSTMLM, softmax="adaptive", cutoffs=(4, 8)).fit(corpus)
    assert list(lm.module_.decoder.cutoffs[:-1]) == [4, 8]
    # Even a small network keeps every tail projection at least one wide.
    assert all(
        p.weight.shape[0] >= 1
        for p in lm.module_.decoder.tail.modules()
        if isinstance(p, torch.nn.Linear)
    )


def test_long_samples_beyond_bptt(tiny):
    # Samples far longer than bptt are trained in windows and scored whole.
    long = [" ".join(["a", "b", "c", "d"] * 30), "a b c d"]
    lm = tiny(GRULM, bptt=5, max_epochs=4, learning_rate=0.05).fit(long)
    tokens = long[0].split()
    oracle = _oracle_log_prob(lm, tokens)
    assert lm.score_samples([long[0]])[0] == pytest.approx(oracle, rel=1e-5)
    # It has learnt the cycle: after "a" comes "b".
    assert lm.predict([["a", "b", "c", "d", "a"]])[0] == "b"


def test_scoring_batches_bound_padded_positions():
    from sklm.neural._batching import EVAL_BATCH_SIZE, eval_batches

    lengths = np.array([3, 500, 2, 40, 41, 7, 1000, 0] * 10)
    batches = eval_batches(lengths, max_positions=2000)
    seen = np.sort(np.concatenate(batches))
    np.testing.assert_array_equal(seen, np.arange(len(lengths)))
    for rows in batches:
        assert len(rows) <= EVAL_BATCH_SIZE
        assert len(rows) == 1 or len(rows) * (lengths[rows].max() + 1) <= 2000


def test_scores_do_not_depend_on_batching_or_windows(tiny):
    # Scored together, one by one, or by a model that reads at most 50
    # positions at a time (small batches, long samples in windows): the same.
    X = ["a b " * 40, "a", "b a b", "", "b " * 300]
    lm = tiny(LSTMLM).fit(X)
    expected, expected_next = lm.score_samples(X), lm.predict_log_proba(X)
    one_by_one = [lm.score_samples([x])[0] for x in X]
    np.testing.assert_allclose(one_by_one, expected, rtol=1e-6)

    lm.max_eval_positions = 50
    np.testing.assert_allclose(lm.score_samples(X), expected, rtol=1e-6)
    np.testing.assert_allclose(lm.predict_log_proba(X), expected_next, atol=1e-6)
