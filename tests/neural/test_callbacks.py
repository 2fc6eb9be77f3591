"""Callbacks and the optimizer's parameters: the public seams of training."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from torch.optim.lr_scheduler import StepLR

from sklm import Tokenizer
from sklm.metrics import neg_perplexity_scorer
from sklm.neural import GRULM, LSTMLM, RNNLM
from sklm.neural.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    History,
    LRScheduler,
    ProgressBar,
)


class Log(Callback):
    """Records every hook call, and what the optimizer holds."""

    def on_train_begin(self, model, state):
        self.calls = ["begin"]
        self.group = {k: v for k, v in state.optimizer.param_groups[0].items() if k != "params"}
        self.optimizer = type(state.optimizer)

    def on_batch_end(self, model, state):
        self.calls.append(("batch", state.epoch, state.batch["tokens"]))

    def on_epoch_end(self, model, state):
        self.calls.append(("epoch", state.record["epoch"]))

    def on_train_end(self, model, state):
        self.calls.append("end")


class StopAfter(Callback):
    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_end(self, model, state):
        if state.epoch >= self.epochs:
            state.stop = True


def test_hooks_run_in_order_and_see_every_step(tiny, corpus):
    log = Log()
    lm = tiny(LSTMLM, max_epochs=2, callbacks=[log]).fit(corpus)
    assert log.calls[0] == "begin" and log.calls[-1] == "end"
    epochs = [c for c in log.calls if c[0] == "epoch"]
    assert epochs == [("epoch", 1), ("epoch", 2)]
    for epoch in (1, 2):
        tokens = sum(c[2] for c in log.calls if c[0] == "batch" and c[1] == epoch)
        assert tokens == lm.history_[epoch - 1]["tokens"]
    # The callback objects are those given; fit lists them after the built-in ones.
    assert lm.callbacks_[-1] is log
    assert isinstance(lm.callbacks_[0], History) and lm.callbacks_[0].records == lm.history_


def test_a_callback_stops_training(tiny, corpus):
    lm = tiny(GRULM, max_epochs=10, callbacks=[StopAfter(3)]).fit(corpus)
    assert len(lm.history_) == 3


def test_callbacks_must_have_the_hooks(tiny, corpus):
    with pytest.raises(TypeError, match=r"callbacks\[0\].*on_train_begin"):
        tiny(LSTMLM, callbacks=[object()]).fit(corpus)
    # The base class's hooks do nothing.
    tiny(LSTMLM, max_epochs=1, callbacks=[Callback()]).fit(corpus)


def test_models_with_callbacks_clone_and_pickle(tiny, corpus):
    lm = tiny(
        LSTMLM,
        verbose=1,
        early_stopping=True,
        callbacks=[Log(), EarlyStopping(patience=1), ProgressBar()],
    )
    twin = clone(lm)
    assert [type(c) for c in twin.callbacks] == [Log, EarlyStopping, ProgressBar]
    assert twin.callbacks[0] is not lm.callbacks[0]
    lm.fit(corpus)
    again = pickle.loads(pickle.dumps(lm))
    np.testing.assert_array_equal(again.score_samples(corpus), lm.score_samples(corpus))
    assert again.history_ == lm.history_
    assert clone(lm).get_params()["verbose"] == 1


def test_early_stopping_callback_on_the_training_loss(tiny):
    # Without a validation split it watches the training loss and keeps the
    # current weights (a training loss is measured while the weights change).
    X = ["a b", "b a"]
    lm = tiny(
        LSTMLM,
        optimizer="sgd",
        learning_rate=50.0,
        clip_grad_norm=None,
        max_epochs=30,
        batch_size=1,
        lr_schedule=None,
        callbacks=[EarlyStopping(patience=1)],
    ).fit(X)
    losses = [h["train_loss"] for h in lm.history_]
    assert len(losses) < 30 or all(np.diff(losses) < 0)
    if len(losses) < 30:
        assert losses[-1] >= min(losses[:-1])
        assert all(np.diff(losses[:-1]) < 0)


def test_lr_scheduler_wraps_any_torch_scheduler(tiny, corpus):
    lm = tiny(
        GRULM,
        max_epochs=5,
        learning_rate=0.01,
        lr_schedule=None,
        callbacks=[LRScheduler(StepLR, step_size=2, gamma=0.5)],
    ).fit(corpus)
    rates = [h["learning_rate"] for h in lm.history_]
    np.testing.assert_allclose(rates, [0.01, 0.01, 0.005, 0.005, 0.0025])
    # Stepped after every batch instead.
    log = Log()
    lm = tiny(
        GRULM,
        max_epochs=2,
        learning_rate=0.01,
        lr_schedule=None,
        callbacks=[LRScheduler(StepLR, step_every="batch", step_size=1, gamma=0.5), log],
    )
    lm.fit(corpus)
    steps = sum(1 for c in log.calls if c[0] == "batch" and c[1] == 1)
    assert lm.history_[1]["learning_rate"] == pytest.approx(0.01 * 0.5**steps)
    with pytest.raises(TypeError, match="scheduler class"):
        tiny(GRULM, callbacks=[LRScheduler("steplr")]).fit(corpus)


def test_optimizer_class_and_its_arguments(tiny, corpus):
    log = Log()
    lm = tiny(
        LSTMLM,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        optimizer__nesterov=True,
        learning_rate=0.1,
        callbacks=[log],
    ).fit(corpus)
    assert log.optimizer is torch.optim.SGD
    assert log.group["momentum"] == 0.9 and log.group["nesterov"] is True
    assert log.group["lr"] == 0.1
    params = lm.get_params()
    assert params["optimizer__momentum"] == 0.9 and params["optimizer"] is torch.optim.SGD
    twin = clone(lm)
    assert twin.optimizer__momentum == 0.9 and twin.optimizer__nesterov is True
    assert twin.get_params().keys() == lm.get_params().keys()
    # By name, as before, and with set_params.
    lm = tiny(LSTMLM, optimizer="sgd", callbacks=[log]).set_params(optimizer__momentum=0.5)
    lm.fit(corpus)
    assert log.optimizer is torch.optim.SGD and log.group["momentum"] == 0.5
    assert "optimizer__momentum=0.5" in repr(lm)
    tiny(RNNLM, optimizer=torch.optim.RMSprop, optimizer__alpha=0.9, max_epochs=1).fit(corpus)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"optimizer__momentum": -1.0}, "momentum"),
        ({"optimizer": "adam", "optimizer__momentum": 0.9}, "Adam takes no argument 'momentum'"),
        ({"optimizer__lr": 0.1}, "learning_rate"),
        ({"optimizer": dict}, "torch.optim.Optimizer subclass"),
    ],
)
def test_bad_optimizer_arguments_are_clear_errors(params, match, tiny, corpus):
    lm = tiny(LSTMLM, optimizer="sgd").fit(corpus)
    before = lm.score_samples(corpus)
    lm.set_params(**params)
    with pytest.raises(ValueError, match=match):
        lm.fit(corpus)
    np.testing.assert_array_equal(lm.score_samples(corpus), before)
    with pytest.raises(TypeError, match="unexpected keyword argument 'hiden_size'"):
        LSTMLM(hiden_size=3)


def test_grid_search_over_the_optimizer_momentum():
    texts = ["the cat sat", "the dog sat", "a cat ran", "the dog ran", "a bird sang", "the cat saw"]
    pipe = make_pipeline(
        Tokenizer(),
        LSTMLM(
            hidden_size=4,
            embedding_dim=4,
            max_epochs=1,
            optimizer="sgd",
            device="cpu",
            random_state=0,
            n_threads=1,
        ),
    )
    search = GridSearchCV(
        pipe, {"lstmlm__optimizer__momentum": [0.0, 0.9]}, scoring=neg_perplexity_scorer, cv=2
    ).fit(texts)
    assert search.best_params_["lstmlm__optimizer__momentum"] in (0.0, 0.9)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    best = search.best_estimator_[-1]
    assert best.optimizer__momentum == search.best_params_["lstmlm__optimizer__momentum"]


class InterruptAt(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_batch_end(self, model, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("early_stopping", [False, True])
def test_checkpoint_resumes_where_training_stopped(early_stopping, tiny, corpus, tmp_path):
    path = tmp_path / "training.ckpt"
    params = dict(
        max_epochs=4,
        dropout=0.2,
        learning_rate=0.02,
        early_stopping=early_stopping,
        n_iter_no_change=10,
        validation_fraction=0.3,
    )
    whole = tiny(LSTMLM, **params).fit(corpus)
    # Interrupted in epoch 3: the checkpoint holds epoch 2.
    with pytest.warns(UserWarning, match="interrupted"):
        tiny(LSTMLM, callbacks=[Checkpoint(path), InterruptAt(3)], **params).fit(corpus)
    saved = torch.load(path, weights_only=True)
    assert saved["epoch"] == 2 and len(saved["history"]) == 2
    # Run again with the same checkpoint: epochs 3 and 4 follow, as if never stopped.
    checkpoint = Checkpoint(path)
    resumed = tiny(LSTMLM, callbacks=[checkpoint], **params).fit(corpus)
    assert checkpoint.resumed_from_ == 2
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3, 4]
    for key in ("train_loss", "valid_perplexity", "learning_rate", "tokens"):
        assert [h[key] for h in resumed.history_] == [h[key] for h in whole.history_]
    for name, value in whole.module_.state_dict().items():
        assert torch.equal(value, resumed.module_.state_dict()[name]), name
    assert torch.load(path, weights_only=True)["epoch"] == 4


def test_checkpoint_of_another_network_is_refused(tiny, corpus, tmp_path):
    path = tmp_path / "training.ckpt"
    tiny(LSTMLM, callbacks=[Checkpoint(path)]).fit(corpus)
    with pytest.raises(ValueError, match="another network"):
        tiny(LSTMLM, hidden_size=7, callbacks=[Checkpoint(path)]).fit(corpus)
    # resume=False starts anew and overwrites it.
    tiny(LSTMLM, hidden_size=7, callbacks=[Checkpoint(path, resume=False)]).fit(corpus)
    assert torch.load(path, weights_only=True)["config"]["hidden_size"] == 7
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot be read"):
        tiny(LSTMLM, callbacks=[Checkpoint(path)]).fit(corpus)


def test_checkpoint_write_is_atomic(tiny, corpus, tmp_path):
    # A write that fails (here: a value torch cannot save) leaves the
    # previous checkpoint whole and no temporary file behind.
    path = tmp_path / "training.ckpt"
    tiny(LSTMLM, max_epochs=1, callbacks=[Checkpoint(path)]).fit(corpus)
    good = path.read_bytes()

    class Unsaveable(Callback):
        def state_dict(self):
            return {"lock": __import__("threading").Lock()}

    with pytest.raises(TypeError, match="pickle"):
        callbacks = [Unsaveable(), Checkpoint(path, resume=False)]
        tiny(LSTMLM, max_epochs=1, callbacks=callbacks).fit(corpus)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["training.ckpt"]
