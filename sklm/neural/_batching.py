"""How samples become tensors: padded batches, BPTT windows and streams.

Training and scoring read a sample the same way: sample ``w1 .. wn </s>``
becomes the inputs ``<s> w1 .. wn`` and the targets ``w1 .. wn </s>``, from
a zero state, so the validation perplexity reported during training is
exactly what ``score`` gives afterwards.

Training cuts its input two ways:

- samples of ordinary length are sorted by length and padded into batches
  of ``batch_size`` samples (targets ``-1`` on padding), each read in
  windows of ``bptt`` steps with the state carried (detached) from one
  window to the next;
- a sample longer than ``STREAM_WINDOWS * batch_size * bptt`` tokens (a
  whole document, which no other sample could share a batch with) is cut
  into ``batch_size`` contiguous streams laid side by side, the recipe
  of PyTorch's ``word_language_model`` example: column ``j`` holds the
  ``j``-th slice of the document, the windows run down the columns with the
  state carried, and the document's first column starts from ``<s>``.
"""

from typing import NamedTuple

import numpy as np
import torch

from ..base import Encoded

# Scoring batches: enough samples to keep the matrix products busy, but few
# enough padded positions that long documents fit in memory; a longer sample
# is read in windows of that many positions, its state carried across them.
EVAL_BATCH_SIZE = 64
EVAL_MAX_POSITIONS = 1 << 16

# A sample is cut into streams when each would hold at least this many BPTT
# windows: a stream starts from a zero state (all but the first, mid-text),
# which costs little once it is read for many windows.
STREAM_WINDOWS = 10


class Window(NamedTuple):
    """One truncated-BPTT window: the unit of one optimizer step.

    ``inputs`` is ``(steps, columns)``; ``targets`` is flattened in the order
    of the window's output rows, ``-1`` on padding (left out of the loss);
    ``n_tokens`` counts the real targets.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    n_tokens: int


class Batch(NamedTuple):
    """The windows of one batch, read in order with the state carried.

    ``rows`` are the samples of the corpus it holds; ``streams`` is True
    for a long sample cut into parallel streams.
    """

    rows: np.ndarray
    windows: list
    streams: bool


def subset(corpus, rows):
    """The samples ``rows`` of ``corpus`` as a new :class:`Encoded`."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = corpus.offsets[rows]
    lengths = corpus.offsets[rows + 1] - starts
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    take = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
    return Encoded(corpus.ids[take], offsets)


def length_batches(lengths, batch_size):
    """Sample indices sorted by length, cut into batches of ``batch_size``."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def eval_batches(lengths, max_positions=EVAL_MAX_POSITIONS, batch_size=EVAL_BATCH_SIZE):
    """Sample indices sorted by length, in batches of at most ``batch_size``
    samples and (unless one sample is longer) ``max_positions`` padded positions."""
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = np.asarray(lengths)[order] + 1
    batches, i, n = [], 0, len(order)
    while i < n:
        j = min(i + batch_size, n)
        while j - i > 1 and (j - i) * sorted_lengths[j - 1] > max_positions:
            j = i + (j - i) // 2
        batches.append(order[i:j])
        i = j
    return batches


def pad_batch(corpus, rows, bos_id, *, targets=True):
    """Padded ``(steps, batch)`` arrays for the samples ``rows``.

    With ``targets=True`` (samples ending in ``</s>``) returns
    ``(inputs, targets, flat)``: ``targets`` is ``-1`` on padding and
    ``flat`` maps every real ``(step, column)`` to its position in
    ``corpus.ids``. With ``targets=False`` (contexts) the whole sample is
    input after ``<s>`` and the result is ``(inputs, last_step)``: the step
    whose output predicts the next token of each context.
    """
    starts = corpus.offsets[rows]
    lengths = corpus.offsets[rows + 1] - starts
    steps = lengths if targets else lengths + 1
    n_steps, n_cols = int(steps.max()), len(rows)
    total = int(steps.sum())
    col = np.repeat(np.arange(n_cols), steps)
    pos = np.arange(total) - np.repeat(np.cumsum(steps) - steps, steps)
    # Input at step t is the token before target t; <s> at step 0.
    src = np.repeat(starts, steps) + pos - 1
    inputs = np.full((n_steps, n_cols), bos_id, dtype=np.int64)
    later = pos > 0
    inputs[pos[later], col[later]] = corpus.ids[src[later]]
    if not targets:
        return inputs, steps - 1
    out = np.full((n_steps, n_cols), -1, dtype=np.int64)
    out[pos, col] = corpus.ids[src + 1]
    return inputs, out, (pos, col, src + 1)


def stream_batch(corpus, row, bos_id, n_streams):
    """One long sample as ``n_streams`` side-by-side columns: ``(inputs, targets)``.

    Column ``j`` holds positions ``j * L .. (j + 1) * L - 1`` of the sample
    (``L`` the sample's length divided by ``n_streams``, rounded up); the
    last column is padded at its end (targets ``-1``). Nothing is dropped.
    """
    ids = corpus.ids[corpus.offsets[row] : corpus.offsets[row + 1]].astype(np.int64)
    n = len(ids)
    steps = -(-n // n_streams)
    inputs = np.full(steps * n_streams, bos_id, dtype=np.int64)
    targets = np.full(steps * n_streams, -1, dtype=np.int64)
    inputs[1:n] = ids[:-1]
    targets[:n] = ids
    # Fill column by column: a (n_streams, steps) view, transposed.
    return (
        np.ascontiguousarray(inputs.reshape(n_streams, steps).T),
        np.ascontiguousarray(targets.reshape(n_streams, steps).T),
    )


def windows(inputs, targets, bptt, device):
    """Truncated-BPTT :class:`Window` s of one padded ``(steps, columns)`` batch.

    Bucketing by length keeps padding rare, so scoring the few padded rows
    costs less than selecting the real ones (whose backward pass is a
    scatter).
    """
    out = []
    for start in range(0, inputs.shape[0], bptt):
        x = np.ascontiguousarray(inputs[start : start + bptt])
        t = targets[start : start + bptt].reshape(-1)
        n_real = int(np.count_nonzero(t >= 0))
        out.append(Window(torch.from_numpy(x).to(device), torch.from_numpy(t).to(device), n_real))
    return out


def training_batches(corpus, bos_id, *, batch_size, bptt, device):
    """Every :class:`Batch` of one training epoch, in a fixed order.

    Samples up to ``STREAM_WINDOWS * batch_size * bptt`` tokens are padded
    into length-sorted batches; each longer one becomes a batch of
    ``batch_size`` streams.
    """
    lengths = corpus.lengths
    long = lengths > STREAM_WINDOWS * batch_size * bptt
    batches = []
    short_rows = np.flatnonzero(~long)
    if len(short_rows):
        for rows in length_batches(lengths[short_rows], batch_size):
            rows = short_rows[rows]
            x, y, _ = pad_batch(corpus, rows, bos_id)
            batches.append(Batch(rows, windows(x, y, bptt, device), False))
    for row in np.flatnonzero(long):
        x, y = stream_batch(corpus, row, bos_id, batch_size)
        batches.append(Batch(np.array([row]), windows(x, y, bptt, device), True))
    return batches
