"""Pieces of the hand-written PyTorch loops of ``benchmarks/``, shared by the scripts.

The plain loops train the very network sklm would start from: a fit that
stops before its first epoch (a callback sets ``state.stop``, sklm's public
seam) hands over the initial network, the encoded training samples and
torch's random state, so that both sides start alike.
"""

import contextlib
import copy

import numpy as np
import torch
from sklearn.base import clone
from torch import nn

from sklm.neural.callbacks import Callback


class Capture(Callback):
    """Takes what a fit starts from; with ``stop=True`` it ends the fit there.

    Attributes after ``fit``: ``module`` (a copy of the untrained network),
    ``corpus`` (the encoded training samples: ``ids``, ``offsets``),
    ``torch_rng`` (torch's CPU random state as training begins, which
    decides the dropout masks).
    """

    def __init__(self, stop=True):
        self.stop = stop

    def on_train_begin(self, model, state):
        self.module = copy.deepcopy(state.module)
        self.corpus = state.corpus
        self.torch_rng = torch.get_rng_state()
        if self.stop:
            state.stop = True


def initial_network(lm, X):
    """``(module, corpus, torch_rng)``: what ``lm.fit(X)`` would start training from.

    A clone of ``lm`` is fitted for no epoch; ``lm`` itself is untouched.
    """
    capture = Capture()
    clone(lm).set_params(callbacks=[*(lm.callbacks or []), capture]).fit(X)
    return capture.module, capture.corpus, capture.torch_rng


def length_batches(lengths, batch_size):
    """Rows sorted by length (stable), cut into batches of ``batch_size``."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def padded_batches(module, corpus, batch_size):
    """Yield ``(x, y)`` per batch of lines, as a plain loop pads them.

    Lines sorted by length, ``batch_size`` per batch.
    ``x`` (steps, batch) holds ``<s>`` and each line's tokens but the last,
    ``y`` its tokens and ``</s>``; padded targets are -100, which
    ``cross_entropy(..., ignore_index=-100)`` leaves out.
    """
    lengths = np.diff(corpus.offsets)
    for rows in length_batches(lengths, batch_size):
        samples = [corpus.ids[corpus.offsets[r] : corpus.offsets[r + 1]] for r in rows]
        steps = max(len(s) for s in samples)
        x = torch.full((steps, len(rows)), module.bos_id, dtype=torch.long)
        y = torch.full((steps, len(rows)), -100, dtype=torch.long)
        for j, ids in enumerate(samples):
            x[1 : len(ids), j] = torch.as_tensor(ids[:-1])
            y[: len(ids), j] = torch.as_tensor(ids)
        yield x, y


def train_batch(module, opt, x, y, bptt, clip, bf16=False):
    """Truncated BPTT over one padded batch, as a plain loop writes it.

    Embedding, dropout, the recurrent layers, dropout, the linear decoder
    (the layers of ``module``), mean cross-entropy over the real targets,
    gradient norm clipped at ``clip``, one optimizer step per window of
    ``bptt`` steps; the state is carried across windows, detached. With
    ``bf16`` the forward pass runs under ``torch.autocast`` in bfloat16 (the
    loss in float32); without it there is no autocast context at all.
    """
    state = None
    for start in range(0, x.shape[0], bptt):
        if isinstance(state, tuple):  # LSTM: (hidden, cell)
            state = tuple(s.detach() for s in state)
        elif state is not None:
            state = state.detach()
        bfloat16 = torch.autocast(x.device.type, dtype=torch.bfloat16)
        with bfloat16 if bf16 else contextlib.nullcontext():
            hidden, state = module.rnn(
                module.drop(module.embedding(x[start : start + bptt])), state
            )
            logits = module.decoder(module.drop(hidden)).reshape(-1, module.n_classes)
        if bf16:
            logits = logits.float()
        loss = nn.functional.cross_entropy(
            logits, y[start : start + bptt].reshape(-1), ignore_index=-100
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(module.parameters(), clip)
        opt.step()
