"""Long documents: a whole text as one sample, trained in parallel streams
and scored in windows with the recurrent state carried, losing nothing."""

import numpy as np
import pytest
import torch

from sklm.base import Encoded
from sklm.neural import GRULM, LSTMLM, RNNLM
from sklm.neural._batching import stream_batch
from sklm.neural.callbacks import Callback

CELLS = [(LSTMLM, {}), (GRULM, {}), (RNNLM, {"nonlinearity": "tanh"})]
CELL_IDS = ["lstm", "gru", "rnn"]


def _document(n_words, seed=0):
    rng = np.random.RandomState(seed)
    return list("".join(rng.choice(["abc ", "abd ", "ba\n"], n_words)))


def _oracle(lm, tokens):
    """Per-token log-probabilities with the whole sample fed at once: no windows."""
    module = lm.module_
    ids = [lm.vocabulary_.get(t, 0) for t in tokens] + [1]
    with torch.no_grad():
        hidden, _ = module(torch.tensor([module.bos_id] + ids[:-1])[:, None])
        return module.target_log_prob(hidden[:, 0], torch.tensor(ids)).double().numpy()


class Batches(Callback):
    def on_train_begin(self, model, state):
        self.batches = state.batches


@pytest.mark.parametrize("cls, params", CELLS, ids=CELL_IDS)
def test_one_long_sample_trains_in_streams_and_scores_as_a_whole(cls, params, tiny):
    doc = _document(400)  # 1,3xx characters, one sample
    seen = Batches()
    lm = tiny(
        cls, batch_size=4, bptt=8, max_epochs=3, learning_rate=0.02, callbacks=[seen], **params
    ).fit([doc])
    # Cut into batch_size streams: every prediction is trained on once per epoch.
    (batch,) = seen.batches
    assert batch.streams and batch.windows[0].inputs.shape[1] == 4
    assert all(h["tokens"] == len(doc) + 1 for h in lm.history_)
    losses = [h["train_loss"] for h in lm.history_]
    assert losses[-1] < losses[0]
    # Scored in windows of 64 positions, the state carried: what feeding
    # the whole document at once gives.
    expected = _oracle(lm, doc)
    np.testing.assert_allclose(lm.score_tokens([doc])[0], expected, rtol=1e-5, atol=1e-5)
    lm.max_eval_positions = 64
    np.testing.assert_allclose(lm.score_tokens([doc])[0], expected, rtol=1e-5, atol=1e-5)
    assert lm.score_samples([doc])[0] == pytest.approx(expected.sum(), rel=1e-5)


def test_long_context_and_mixed_corpus(tiny):
    doc = _document(300, seed=1)
    short = ["a b c", "b a", "c"]
    lm = tiny(LSTMLM, batch_size=2, bptt=5, max_epochs=2).fit([doc] + short)
    assert lm.history_[0]["tokens"] == len(doc) + 1 + sum(len(s.split()) + 1 for s in short)
    lm.max_eval_positions = 32
    # The next-token distribution after a long context, read in windows.
    module = lm.module_
    ids = [lm.vocabulary_[t] for t in doc]
    with torch.no_grad():
        hidden, _ = module(torch.tensor([module.bos_id] + ids)[:, None])
        expected = torch.log_softmax(module.log_proba(hidden[-1]).double(), dim=1).numpy()[0]
    np.testing.assert_allclose(lm.predict_log_proba([doc])[0], expected, atol=1e-5)
    # Generation starts from the same state.
    a = lm.sample(2, prompt=doc, max_length=5, random_state=0)
    lm.max_eval_positions = 1 << 16
    assert a == lm.sample(2, prompt=doc, max_length=5, random_state=0)


def test_streams_lay_the_document_side_by_side():
    ids = np.arange(2, 25)  # 23 predictions: 22 tokens then </s>, here any ids
    corpus = Encoded(ids, np.array([0, len(ids)]))
    inputs, targets = stream_batch(corpus, 0, bos_id=99, n_streams=4)
    assert inputs.shape == targets.shape == (6, 4)
    # Read column by column: <s> then the sample, its targets shifted by one,
    # padding (-1) only at the end of the last column.
    np.testing.assert_array_equal(inputs.T.reshape(-1)[: len(ids)], np.r_[99, ids[:-1]])
    np.testing.assert_array_equal(targets.T.reshape(-1)[: len(ids)], ids)
    assert (targets.T.reshape(-1)[len(ids) :] == -1).all()
    assert inputs[0, 0] == 99  # the document starts from <s>
