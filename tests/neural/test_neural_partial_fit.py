"""partial_fit: one epoch per call, the optimizer, schedule and random streams
carried, the vocabulary fixed at the first call."""

import pickle

import numpy as np
import pytest
import torch
from torch.optim.lr_scheduler import StepLR

from sklm import load, save
from sklm.neural import GRULM, LSTMLM
from sklm.neural.callbacks import LRScheduler


def _weights(lm):
    return {k: v.clone() for k, v in lm.module_.state_dict().items()}


def _assert_same_weights(a, b):
    for name, value in a.module_.state_dict().items():
        assert torch.equal(value, b.module_.state_dict()[name]), name


def _params(tiny, cls, **params):
    # Dropout and a schedule that changes the learning rate every epoch: both
    # must be continued, not restarted, by each call.
    return tiny(
        cls,
        dropout=0.3,
        lr_schedule=None,
        callbacks=[LRScheduler(StepLR, step_size=1, gamma=0.5)],
        **params,
    )


@pytest.mark.parametrize("cls", [LSTMLM, GRULM])
def test_k_calls_are_fit_with_k_epochs(cls, tiny, corpus):
    whole = _params(tiny, cls, max_epochs=3).fit(corpus)
    lm = _params(tiny, cls)
    for _ in range(3):
        assert lm.partial_fit(corpus) is lm
    _assert_same_weights(whole, lm)
    assert [h["epoch"] for h in lm.history_] == [1, 2, 3]
    assert [h["learning_rate"] for h in lm.history_] == [1e-3, 5e-4, 2.5e-4]
    assert [h["train_loss"] for h in lm.history_] == [h["train_loss"] for h in whole.history_]


def test_the_optimizer_state_is_what_makes_them_equal(tiny, corpus):
    # Continuing with a new optimizer (warm_start) gives another network:
    # the equality above needs Adam's moments carried over.
    carried = _params(tiny, LSTMLM).partial_fit(corpus).partial_fit(corpus)
    restarted = _params(tiny, LSTMLM, max_epochs=1).fit(corpus)
    restarted.set_params(warm_start=True).fit(corpus)
    assert any(
        not torch.equal(v, restarted.module_.state_dict()[k])
        for k, v in carried.module_.state_dict().items()
    )
    # Adam counts the steps of both calls.
    once = _params(tiny, LSTMLM).partial_fit(corpus)._partial_carry["optimizer"]["state"]
    twice = carried._partial_carry["optimizer"]["state"]
    assert once and all(float(twice[k]["step"]) == 2 * float(s["step"]) for k, s in once.items())


def test_the_loss_decreases_from_chunk_to_chunk(tiny, corpus):
    lm = tiny(LSTMLM, learning_rate=0.01)
    for _ in range(4):
        lm.partial_fit(corpus)
    losses = [h["train_loss"] for h in lm.history_]
    assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0]


def test_the_vocabulary_is_fixed_at_the_first_call(tiny, corpus):
    lm = tiny(LSTMLM).partial_fit(corpus)
    classes = list(lm.classes_)
    lm.partial_fit(["a zebra sat on the cat", "zebra"])
    assert list(lm.classes_) == classes and "zebra" not in lm.vocabulary_
    np.testing.assert_array_equal(lm.score_samples(["zebra sat"]), lm.score_samples(["<unk> sat"]))
    fixed = tiny(LSTMLM, vocabulary=["zebra", "cat"]).partial_fit(corpus)
    assert sorted(fixed.classes_) == sorted(["<unk>", "</s>", "zebra", "cat"])


def test_a_failed_call_changes_nothing(tiny, corpus):
    lm = tiny(LSTMLM).partial_fit(corpus)
    weights, history = _weights(lm), list(lm.history_)
    carry = lm._partial_carry
    lm.set_params(hidden_size=5)
    with pytest.raises(ValueError, match="hidden_size"):
        lm.partial_fit(corpus)
    assert lm.history_ == history and lm._partial_carry is carry
    for name, value in lm.module_.state_dict().items():
        assert torch.equal(value, weights[name]), name
    assert "_partial_fitting" not in vars(lm)


def test_fit_starts_anew_and_partial_fit_continues_a_fit(tiny, corpus):
    lm = tiny(LSTMLM).partial_fit(corpus).partial_fit(corpus)
    lm.fit(corpus)
    _assert_same_weights(lm, tiny(LSTMLM).fit(corpus))
    assert len(lm.history_) == 2 and lm._partial_carry is None
    lm.partial_fit(corpus)
    assert [h["epoch"] for h in lm.history_] == [1, 2, 3]
    assert lm._partial_carry is not None


def test_a_pickled_model_continues_as_the_live_one(tiny, corpus):
    lm = _params(tiny, LSTMLM).partial_fit(corpus)
    copy = pickle.loads(pickle.dumps(lm))
    lm.partial_fit(corpus)
    copy.partial_fit(corpus)
    _assert_same_weights(lm, copy)


def test_early_stopping_holds_nothing_out(tiny, corpus):
    lm = tiny(LSTMLM, early_stopping=True).partial_fit(corpus)
    everything = tiny(LSTMLM).partial_fit(corpus)
    assert lm.history_[0]["valid_perplexity"] is None
    assert lm.history_[0]["tokens"] == everything.history_[0]["tokens"]
    _assert_same_weights(lm, everything)


def test_a_loaded_model_continues_with_a_new_optimizer(tiny, corpus, tmp_path):
    lm = tiny(LSTMLM).partial_fit(corpus)
    save(lm, tmp_path / "lm.sklm")
    loaded = load(tmp_path / "lm.sklm")
    assert getattr(loaded, "_partial_carry", None) is None
    loaded.partial_fit(corpus)
    assert [h["epoch"] for h in loaded.history_] == [1, 2]
    assert list(loaded.classes_) == list(lm.classes_)
