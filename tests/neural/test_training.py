"""Training behaviour: bad input, failed fits, divergence, warm start,
early stopping, interruption, time budget and progress output."""

import copy
import io
import time

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklm.neural import GRULM, LSTMLM, RNNLM
from sklm.neural.callbacks import Callback, ProgressBar


def _snapshot(lm, X):
    return (
        lm.score_samples(X),
        {k: v.clone() for k, v in lm.module_.state_dict().items()},
        list(lm.history_),
        dict(lm.vocabulary_),
    )


def _assert_unchanged(lm, X, snap):
    scores, weights, history, vocabulary = snap
    np.testing.assert_array_equal(lm.score_samples(X), scores)
    for k, v in lm.module_.state_dict().items():
        assert torch.equal(v, weights[k]), k
    assert lm.history_ == history and lm.vocabulary_ == vocabulary


@pytest.mark.parametrize(
    "params, match",
    [
        ({"hidden_size": 0}, "hidden_size"),
        ({"num_layers": 0}, "num_layers"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"bptt": 0}, "bptt"),
        ({"batch_size": 0}, "batch_size"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"clip_grad_norm": 0}, "clip_grad_norm"),
        ({"softmax": "sampled"}, "softmax"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"device": 3}, "device"),
        ({"device": "tpu9"}, "device='tpu9'"),
        ({"mixed_precision": "yes"}, "mixed_precision"),
        ({"tie_weights": True}, "tie_weights=True needs embedding_dim == hidden_size"),
        ({"tie_weights": True, "embedding_dim": 12, "softmax": "adaptive"}, "softmax='full'"),
        ({"softmax": "adaptive", "cutoffs": [5, 3]}, "cutoffs"),
        ({"softmax": "adaptive", "cutoffs": [100]}, "cutoffs"),
        ({"softmax": "adaptive", "cutoffs": []}, "cutoffs"),
    ],
)
def test_bad_parameters_raise_and_leave_a_fitted_model_unchanged(params, match, tiny, corpus):
    lm = tiny(LSTMLM).fit(corpus)
    snap = _snapshot(lm, corpus)
    lm.set_params(**params)
    with pytest.raises(ValueError, match=match):
        lm.fit(corpus)
    _assert_unchanged(lm, corpus, snap)


def test_rnn_nonlinearity_is_validated(tiny, corpus):
    with pytest.raises(ValueError, match="nonlinearity"):
        tiny(RNNLM, nonlinearity="sigmoid").fit(corpus)


def test_cuda_without_cuda_is_a_clear_error(tiny, corpus, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        tiny(GRULM, device="cuda").fit(corpus)
    lm = tiny(GRULM, device="auto").fit(corpus)
    assert lm.device_ in ("cpu", "mps")


def test_bad_input_raises(tiny):
    with pytest.raises(ValueError, match="single str"):
        tiny(LSTMLM).fit("the cat sat")
    with pytest.raises(ValueError, match="empty"):
        tiny(LSTMLM).fit([])
    with pytest.raises(TypeError, match=r"X\[1\]\[0\]"):
        tiny(LSTMLM).fit([["a"], [3]])


def test_divergence_is_a_clear_error_and_changes_nothing(tiny, corpus):
    lm = tiny(RNNLM, nonlinearity="relu").fit(corpus)
    snap = _snapshot(lm, corpus)
    lm.set_params(optimizer="sgd", learning_rate=1e12, clip_grad_norm=None, max_epochs=5)
    with pytest.raises(ValueError, match="learning_rate.*clip_grad_norm"):
        lm.fit(corpus)
    _assert_unchanged(lm, corpus, snap)
    # warm_start trains a copy: the fitted network is not touched either.
    lm.set_params(warm_start=True)
    with pytest.raises(ValueError, match="NaN or infinite"):
        lm.fit(corpus)
    _assert_unchanged(lm, corpus, snap)


@pytest.mark.parametrize("clip", [None, 0.25, 1e30])
@pytest.mark.parametrize("batch_size", [1, 50])
def test_non_finite_training_raises_whatever_the_clipping(clip, batch_size, tiny, corpus):
    # SGD at 1e30 on a ReLU network: the loss overflows, with or without clipping.
    lm = tiny(RNNLM, nonlinearity="relu").fit(corpus)
    snap = _snapshot(lm, corpus)
    lm.set_params(
        optimizer="sgd",
        learning_rate=1e30,
        clip_grad_norm=clip,
        max_epochs=1,
        batch_size=batch_size,
        lr_schedule=None,
    )
    with pytest.raises(ValueError, match="NaN or infinite"):
        lm.fit(corpus)
    _assert_unchanged(lm, corpus, snap)
    lm.set_params(learning_rate=1e300)
    with pytest.raises(ValueError, match="learning_rate=1e\\+300 exceeds the largest float32"):
        lm.fit(corpus)
    _assert_unchanged(lm, corpus, snap)


class BreakWeights(Callback):
    """Leaves an infinite weight after the very last step (its loss was finite)."""

    def on_epoch_end(self, model, state):
        if state.epoch == state.last_epoch:
            with torch.no_grad():
                state.module.embedding.weight[0, 0] = float("inf")


def test_non_finite_weights_at_the_end_of_training_raise(tiny, corpus):
    with pytest.raises(ValueError, match="embedding.weight holds NaN or infinite"):
        tiny(LSTMLM, callbacks=[BreakWeights()]).fit(corpus)


def test_scores_are_never_nan(tiny, corpus):
    # A network whose output is NaN (a NaN weight, set by hand here) makes
    # scoring fail clearly instead of returning NaN.
    lm = tiny(LSTMLM).fit(corpus)
    with torch.no_grad():
        lm.module_.decoder.bias[0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        lm.score(corpus)
    with pytest.raises(ValueError, match="NaN"):
        lm.score_samples(corpus)
    with pytest.raises(ValueError, match="NaN"):
        lm.predict_proba(corpus)
    with pytest.raises(ValueError, match="NaN"):
        lm.sample(2, max_length=3, random_state=0)


def test_corpus_smaller_than_one_batch(tiny):
    lm = tiny(LSTMLM, batch_size=50).fit(["a b", "b a c"])
    assert lm.history_[0]["tokens"] == 7
    assert np.isfinite(lm.score(["a b"]))


def test_one_word_vocabulary(tiny):
    lm = tiny(GRULM, max_epochs=5, learning_rate=0.05).fit(["a a a", "a", "a a"])
    assert list(lm.classes_) == ["<unk>", "</s>", "a"]
    proba = lm.predict_proba(["a", "", "b"])
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert proba[0, 0] < proba[0, 2]  # <unk> never seen in training


def test_empty_samples(tiny):
    lm = tiny(LSTMLM).fit(["", "", ""])
    assert list(lm.classes_) == ["<unk>", "</s>"]
    scores = lm.score_samples(["", "x"])
    assert scores.shape == (2,) and np.all(np.isfinite(scores)) and np.all(scores <= 0)
    lm = tiny(LSTMLM).fit(["a b", ""])
    assert lm.score_samples([""])[0] == pytest.approx(np.log(lm.predict_proba([""])[0, 1]))


def test_warm_start_continues(tiny, corpus):
    lm = tiny(LSTMLM, max_epochs=3, learning_rate=0.01).fit(corpus)
    first = [h["train_loss"] for h in lm.history_]
    cold = clone(lm).set_params(max_epochs=6).fit(corpus)
    lm.set_params(warm_start=True)
    lm.fit(corpus + ["a zebra appears"])
    assert [h["epoch"] for h in lm.history_] == [1, 2, 3, 4, 5, 6]
    assert lm.history_[3]["train_loss"] < first[0]
    # The vocabulary stays: the network's output layer is the one it was.
    assert "zebra" not in lm.vocabulary_
    assert len(lm.classes_) == len(cold.classes_)
    # Dropout may change between continued fits, everywhere in the network.
    lm.set_params(dropout=0.3, max_epochs=1).fit(corpus)
    assert lm.module_.drop.p == 0.3
    two = tiny(LSTMLM, num_layers=2, warm_start=True).fit(corpus)
    two.set_params(dropout=0.4).fit(corpus)
    assert two.module_.rnn.dropout == 0.4 and two.module_.drop.p == 0.4
    # Changing the architecture cannot continue the same network.
    snap = _snapshot(lm, corpus)
    lm.set_params(hidden_size=7)
    with pytest.raises(ValueError, match="hidden_size"):
        lm.fit(corpus)
    _assert_unchanged(lm, corpus, snap)


class HeldOut(Callback):
    """Records which samples fit held out for validation."""

    def on_train_begin(self, model, state):
        self.rows = state.valid_rows


def test_validation_perplexity_is_what_score_gives(tiny, corpus):
    held_out = HeldOut()
    lm = tiny(
        GRULM, early_stopping=True, max_epochs=1, validation_fraction=0.3, callbacks=[held_out]
    ).fit(corpus)
    assert len(held_out.rows) == 2
    reported = lm.history_[0]["valid_perplexity"]
    valid = [corpus[i] for i in held_out.rows]
    assert reported == pytest.approx(np.exp(-lm.score(valid)), rel=1e-9)


def test_early_stopping_keeps_the_best_epoch(tiny):
    rng = np.random.RandomState(0)
    words = np.array(list("abcdefgh"))
    # Random text: the held-out perplexity soon gets worse as the model overfits.
    X = [" ".join(rng.choice(words, 6)) for _ in range(30)]
    held_out = HeldOut()
    lm = tiny(
        LSTMLM,
        early_stopping=True,
        n_iter_no_change=2,
        max_epochs=60,
        hidden_size=32,
        learning_rate=0.05,
        lr_schedule=None,
        validation_fraction=1 / 3,
        callbacks=[held_out],
    ).fit(X)
    valid = [h["valid_perplexity"] for h in lm.history_]
    assert len(valid) < 60
    best = int(np.argmin(valid))
    assert len(valid) == best + 1 + 2
    assert lm.score([X[i] for i in held_out.rows]) == pytest.approx(-np.log(valid[best]), rel=1e-9)


def test_early_stopping_on_one_document_holds_out_its_end(tiny):
    # One sample: its last validation_fraction of tokens is held out and
    # validated as a sample of its own, from <s>.
    doc = ("a b c d " * 30).split()
    lm = tiny(LSTMLM, early_stopping=True, validation_fraction=0.25, max_epochs=2).fit([doc])
    n_valid = round(0.25 * (len(doc) + 1))
    assert lm.history_[0]["tokens"] == len(doc) + 1 - n_valid
    held_out = doc[len(doc) + 1 - n_valid :]
    best = min(h["valid_perplexity"] for h in lm.history_)
    assert lm.score([held_out]) == pytest.approx(-np.log(best), rel=1e-9)
    with pytest.raises(ValueError, match="at least 2 samples, or one sample of at least 2 tokens"):
        tiny(LSTMLM, early_stopping=True).fit([""])


def test_plateau_schedule_divides_the_learning_rate(tiny):
    X = ["a b", "b a"]
    lm = tiny(
        LSTMLM, optimizer="sgd", learning_rate=50.0, clip_grad_norm=None, max_epochs=6, batch_size=1
    ).fit(X)
    rates = [h["learning_rate"] for h in lm.history_]
    losses = [h["train_loss"] for h in lm.history_]
    for i in range(1, len(rates)):
        worse = losses[i - 1] >= min(losses[: i - 1] or [np.inf])
        assert rates[i] == pytest.approx(rates[i - 1] / 4 if worse else rates[i - 1])


class RateLog(Callback):
    """The learning rate after every optimizer step."""

    def on_train_begin(self, model, state):
        self.rates = []

    def on_batch_end(self, model, state):
        self.rates.append(state.optimizer.param_groups[0]["lr"])


def test_cosine_schedule_falls_to_zero_over_the_epochs(tiny, corpus):
    log = RateLog()
    lm = tiny(LSTMLM, learning_rate=0.01, lr_schedule="cosine", max_epochs=3, callbacks=[log])
    lm.fit(corpus)
    steps = len(log.rates)
    expected = [0.005 * (1 + np.cos(np.pi * (i + 1) / steps)) for i in range(steps)]
    np.testing.assert_allclose(log.rates, expected, rtol=1e-12, atol=1e-15)
    assert log.rates[-1] == pytest.approx(0.0, abs=1e-15)
    # Each epoch records the rate it began with.
    assert lm.history_[0]["learning_rate"] == 0.01
    assert lm.history_[1]["learning_rate"] == pytest.approx(expected[steps // 3 - 1])


class Slow(Callback):
    """Sleeps after every step, so that max_time ends training."""

    def on_batch_end(self, model, state):
        time.sleep(0.02)


def test_cosine_schedule_follows_max_time_when_it_comes_first(tiny, corpus):
    log = RateLog()
    lm = tiny(
        LSTMLM,
        learning_rate=0.01,
        lr_schedule="cosine",
        max_epochs=1000,
        max_time=0.5,
        callbacks=[Slow(), log],
    )
    lm.fit(corpus)
    # Far fewer steps than 1000 epochs hold; the time budget drove the rate
    # down, monotonically, to near zero at the end.
    assert np.all(np.diff(log.rates) <= 0)
    assert log.rates[-1] < 0.01 * 0.05


class InterruptInEpoch(Callback):
    """Raises KeyboardInterrupt (as Ctrl-C does) in the middle of an epoch."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_batch_end(self, model, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt


def test_keyboard_interrupt_stops_cleanly(tiny, corpus):
    held_out = HeldOut()
    lm = tiny(
        LSTMLM,
        early_stopping=True,
        max_epochs=10,
        learning_rate=0.05,
        validation_fraction=0.3,
        callbacks=[held_out, InterruptInEpoch(3)],
    )
    with pytest.warns(UserWarning, match="interrupted after 2 complete epoch.*best validation"):
        lm.fit(corpus)
    assert [h["epoch"] for h in lm.history_] == [1, 2]
    best = min(h["valid_perplexity"] for h in lm.history_)
    valid = [corpus[i] for i in held_out.rows]
    assert lm.score(valid) == pytest.approx(-np.log(best), rel=1e-9)
    # Without a validation split the current weights are kept.
    lm = tiny(GRULM, max_epochs=10, callbacks=[InterruptInEpoch(3)])
    with pytest.warns(UserWarning, match="current weights"):
        lm.fit(corpus)
    assert len(lm.history_) == 2 and np.isfinite(lm.score(corpus))


def test_max_time_stops_training(tiny, corpus):
    lm = tiny(GRULM, max_epochs=10_000, max_time=0.3).fit(corpus * 5)
    assert len(lm.history_) < 10_000
    assert lm.history_[-1]["complete"] is False
    assert sum(h["seconds"] for h in lm.history_) < 5


def test_verbose_shows_progress(tiny, corpus, capsys):
    tiny(LSTMLM, verbose=1, max_epochs=2).fit(corpus)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err
    assert "tokens/s" in err and "train loss" in err
    tiny(LSTMLM, verbose=0).fit(corpus)
    assert capsys.readouterr().err == ""


def test_fit_does_not_mutate_input(tiny, corpus):
    X = [s.split() for s in corpus]
    copy = [list(s) for s in X]
    tiny(GRULM).fit(X).score(X)
    assert X == copy


class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


@pytest.mark.parametrize("tty", [True, False])
def test_progress_bar_draws_only_on_a_terminal(tty, tiny, corpus):
    stream = _Stream(tty)
    tiny(LSTMLM, max_epochs=2, callbacks=[ProgressBar(stream=stream)]).fit(corpus)
    out = stream.getvalue()
    lines = out.split("\n")
    assert lines[-1] == ""
    ends = [line.split("\r")[-1] for line in lines[:-1]]
    assert ends[0].startswith("epoch 1/2 train loss") and ends[1].startswith("epoch 2/2 train loss")
    if tty:  # tqdm's bar: the epoch, its tokens and their rate
        assert "epoch 1/2:" in out and "tok/s" in out and "\r" in out
    else:
        assert "\r" not in out and "|" not in out and len(lines) == 3


class Recorder(Callback):
    """Records the network before training, the training ids and the order of the batches."""

    def on_train_begin(self, model, state):
        self.initial = copy.deepcopy(state.module)
        self.corpus = state.corpus
        self.order = []

    def on_batch_end(self, model, state):
        if state.batch["window"] == 0:
            self.order.append(list(state.batch["rows"]))


@pytest.mark.parametrize(
    "cls, params",
    [(LSTMLM, {}), (GRULM, {}), (RNNLM, {"nonlinearity": "tanh"})],
    ids=["lstm", "gru", "rnn_tanh"],
)
def test_training_is_a_plain_truncated_bptt_loop(cls, params, corpus):
    # The oracle: a hand-written loop over its own padded batches (inputs
    # <s> w1..wn, targets w1..wn </s>, -100 on padding; samples sorted by
    # length, two per batch), taken in the order fit took them, windows of
    # bptt steps with the state carried and detached, mean cross-entropy,
    # clipped SGD. From the same initial weights and with no dropout both
    # must end with identical weights.
    recorder = Recorder()
    lm = cls(
        embedding_dim=6,
        hidden_size=5,
        num_layers=2,
        dropout=0.0,
        optimizer="sgd",
        learning_rate=2.0,
        lr_schedule=None,
        batch_size=2,
        bptt=4,
        max_epochs=2,
        clip_grad_norm=0.5,
        random_state=0,
        device="cpu",
        callbacks=[recorder],
        **params,
    )
    lm.fit([line.split() * 3 for line in corpus])
    plain, encoded = recorder.initial, recorder.corpus
    opt = torch.optim.SGD(plain.parameters(), lr=2.0)
    order = np.argsort(encoded.lengths, kind="stable")
    batches = [list(order[b : b + 2]) for b in range(0, len(order), 2)]
    assert len(recorder.order) == 2 * len(batches)
    for rows in recorder.order:
        assert rows in batches
        samples = [encoded.ids[encoded.offsets[r] : encoded.offsets[r + 1]] for r in rows]
        steps = max(len(s) for s in samples)
        x = torch.full((steps, len(rows)), plain.bos_id, dtype=torch.long)
        y = torch.full((steps, len(rows)), -100, dtype=torch.long)
        for j, ids in enumerate(samples):
            x[1 : len(ids), j] = torch.as_tensor(ids[:-1])
            y[: len(ids), j] = torch.as_tensor(ids)
        state = None
        for start in range(0, steps, 4):
            if state is not None:
                state = tuple(s.detach() for s in state) if cls is LSTMLM else state.detach()
            hidden, state = plain.rnn(plain.embedding(x[start : start + 4]), state)
            logits = plain.decoder(hidden).reshape(-1, plain.n_classes)
            loss = torch.nn.functional.cross_entropy(
                logits, y[start : start + 4].reshape(-1), ignore_index=-100
            )
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(plain.parameters(), 0.5)
            opt.step()
    for name, value in lm.module_.state_dict().items():
        torch.testing.assert_close(value, plain.state_dict()[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "cls, params",
    [(LSTMLM, {}), (GRULM, {"num_layers": 2, "dropout": 0.2}), (LSTMLM, {"softmax": "adaptive"})],
    ids=["lstm", "gru-2-layers", "lstm-adaptive"],
)
def test_mixed_precision_trains_in_bfloat16_and_scores_in_float32(cls, params, tiny, corpus):
    seen = []

    def record(layer, inputs, output):
        out = output.output if hasattr(output, "output") else output
        seen.append((layer.training, out.dtype))

    class Hook(Callback):
        # The hook rides along on the network that fit builds.
        def on_train_begin(self, model, state):
            state.module.decoder.register_forward_hook(record)

    lm = tiny(
        cls, mixed_precision=True, max_epochs=8, learning_rate=0.02, callbacks=[Hook()], **params
    )
    lm.fit(corpus * 3)
    assert {dtype for training, dtype in seen if training} == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in lm.module_.parameters())
    losses = [h["train_loss"] for h in lm.history_]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]

    seen.clear()
    proba = lm.predict_proba(["the cat", "a"])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    scores = lm.score_samples(corpus)
    assert seen and {dtype for _, dtype in seen} == {torch.float32}
    assert np.isfinite(scores).all()

    again = clone(lm).fit(corpus * 3)  # the same seed, the same model
    np.testing.assert_array_equal(again.score_samples(corpus), scores)
    full = clone(lm).set_params(mixed_precision=False).fit(corpus * 3)
    plain = full.score_samples(corpus)
    assert not np.array_equal(plain, scores)  # bfloat16 did change the training...
    np.testing.assert_allclose(scores, plain, rtol=0.1)  # ...but only slightly


def test_mixed_precision_needs_a_device_with_bfloat16(tiny, corpus, monkeypatch):
    from sklm.neural._device import check_bfloat16

    check_bfloat16(torch.device("cpu"))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.raises(ValueError, match="mixed_precision=True.*'cuda'"):
        check_bfloat16(torch.device("cuda"))
    with pytest.raises(ValueError, match="mixed_precision=True.*'mps'"):
        check_bfloat16(torch.device("mps"))

    # In fit: the error comes before any training, and a fitted model stays as it was.
    lm = tiny(LSTMLM).fit(corpus)
    snap = _snapshot(lm, corpus)
    # A machine whose MPS device would be there (torch's own switch).
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    lm.set_params(mixed_precision=True, device="mps")
    with pytest.raises(ValueError, match="mixed_precision=True.*'mps'"):
        lm.fit(corpus)
    _assert_unchanged(lm, corpus, snap)
