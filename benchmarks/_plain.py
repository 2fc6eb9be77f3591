"""Pieces of the hand-written PyTorch loops of ``benchmarks/``, shared by the scripts."""

import torch


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
