"""Pieces of the hand-written PyTorch loops of ``benchmarks/``, shared by the scripts."""

import contextlib

import torch
from torch import nn


def padded_batches(module, corpus, batch_size, length_batches):
    """Yield ``(x, y)`` per batch of lines, as a plain loop pads them.

    ``length_batches(lengths, batch_size)`` gives the rows of each batch.
    ``x`` (steps, batch) holds ``<s>`` and each line's tokens but the last,
    ``y`` its tokens and ``</s>``; padded targets are -100, which
    ``cross_entropy(..., ignore_index=-100)`` leaves out.
    """
    for rows in length_batches(corpus.lengths, batch_size):
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
