"""Batching, the training loop and batched scoring of recurrent LMs.

Training and scoring read samples the same way, through :func:`pad_batch`:
sample ``w1 .. wn </s>`` becomes the inputs ``<s> w1 .. wn`` and the targets
``w1 .. wn </s>``, from a zero state, so the validation perplexity reported
during training is exactly what ``score`` gives afterwards.
"""

import contextlib
import math
import sys
import time
import warnings

import numpy as np
import torch
from torch import nn

from ..base import Encoded
from .._allocator import keep_large_buffers

# Scoring batches: enough samples to keep the matrix products busy, but few
# enough padded positions that long documents (character models) fit in
# memory; the output layer is further cut into row blocks of at most
# MAX_LOGITS logits so that a 30k-word vocabulary never needs gigabytes.
EVAL_BATCH_SIZE = 64
EVAL_MAX_POSITIONS = 1 << 16
MAX_LOGITS = 1 << 24


# --------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------


def subset(corpus, rows):
    """The samples ``rows`` of ``corpus`` as a new :class:`Encoded`."""
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


def eval_batches(lengths):
    """Sample indices sorted by length, in batches of at most ``EVAL_BATCH_SIZE``
    samples and (unless one sample is longer) ``EVAL_MAX_POSITIONS`` padded positions."""
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order] + 1
    batches, i, n = [], 0, len(order)
    while i < n:
        j = min(i + EVAL_BATCH_SIZE, n)
        while j - i > 1 and (j - i) * sorted_lengths[j - 1] > EVAL_MAX_POSITIONS:
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


def _row_blocks(n_rows, n_classes):
    block = max(1, MAX_LOGITS // max(n_classes, 1))
    return range(0, n_rows, block), block


# --------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------


def log_prob_tokens(module, corpus, device):
    """Log-probability of every position of ``corpus.ids`` (float64)."""
    out = np.empty(len(corpus.ids), dtype=np.float64)
    module.eval()
    with torch.inference_mode():
        for rows in eval_batches(corpus.lengths):
            inputs, _, (pos, col, flat) = pad_batch(corpus, rows, module.bos_id)
            hidden, _ = module(torch.from_numpy(inputs).to(device))
            hidden = hidden[torch.from_numpy(pos).to(device), torch.from_numpy(col).to(device)]
            target = torch.from_numpy(corpus.ids[flat]).to(device)
            starts, block = _row_blocks(len(flat), module.n_classes)
            for s in starts:
                lp = module.target_log_prob(hidden[s : s + block], target[s : s + block])
                out[flat[s : s + block]] = lp.double().cpu().numpy()
    return out


def next_log_proba(module, contexts, device):
    """Log-distribution of the next token after each context, float64."""
    out = np.empty((contexts.n_samples, module.n_classes), dtype=np.float64)
    module.eval()
    with torch.inference_mode():
        for rows in eval_batches(contexts.lengths):
            inputs, last = pad_batch(contexts, rows, module.bos_id, targets=False)
            hidden, _ = module(torch.from_numpy(inputs).to(device))
            hidden = hidden[torch.from_numpy(last).to(device), torch.arange(len(rows), device=device)]
            out[rows] = _normalised(module.log_proba(hidden))
    return out


def _normalised(log_proba):
    # Renormalise in float64 so that rows of predict_proba sum to one to
    # double precision rather than to float32's.
    log_proba = log_proba.double()
    return (log_proba - torch.logsumexp(log_proba, dim=1, keepdim=True)).cpu().numpy()


def generation_start(module, contexts, device):
    """Recurrent state after each context and the next-token log-distribution.

    Contexts of equal length run together without padding, so the final state
    of each is exact.
    """
    n = contexts.n_samples
    state = module.initial_state(n, device)
    log_proba = np.empty((n, module.n_classes), dtype=np.float64)
    module.eval()
    with torch.inference_mode():
        lengths = contexts.lengths
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            inputs, last = pad_batch(contexts, rows, module.bos_id, targets=False)
            hidden, part = module(torch.from_numpy(inputs).to(device))
            idx = torch.from_numpy(rows).to(device)
            _set_rows(state, idx, part)
            log_proba[rows] = _normalised(module.log_proba(hidden[-1]))
    return state, log_proba


def generation_step(module, state, next_ids, active, device):
    """Feed one token to the active rows; return the state and their log-distribution."""
    rows = np.flatnonzero(active)
    idx = torch.from_numpy(rows).to(device)
    with torch.inference_mode():
        inputs = torch.from_numpy(np.asarray(next_ids)[rows][None, :]).to(device)
        hidden, part = module(inputs, _get_rows(state, idx))
        _set_rows(state, idx, part)
        return state, _normalised(module.log_proba(hidden[0]))


def _get_rows(state, idx):
    if isinstance(state, tuple):
        return tuple(s[:, idx] for s in state)
    return state[:, idx]


def _set_rows(state, idx, part):
    if isinstance(state, tuple):
        for s, p in zip(state, part):
            s[:, idx] = p
    else:
        state[:, idx] = part


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


class NonFiniteLossError(ValueError):
    """Training produced a NaN or infinite loss or gradient."""


class Progress:
    """One self-updating line on stderr: epoch, share done, loss, tokens/s.

    A dependency-free stand-in for a progress bar: redrawn at most a few
    times a second so that it never slows training down. When the stream is
    not a terminal (a log file, a captured pipe) only the line that ends each
    epoch is written.
    """

    def __init__(self, verbose, max_epochs, tokens_per_epoch, stream=None):
        self.verbose = verbose
        self.max_epochs = max_epochs
        self.tokens_per_epoch = max(tokens_per_epoch, 1)
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty is not None and isatty())
        self._last = 0.0
        self._width = 0

    def update(self, epoch, tokens, loss, seconds):
        """Called after every batch."""
        if not (self.verbose and self.live):
            return
        now = time.perf_counter()
        if now - self._last < 0.25:
            return
        self._last = now
        share = min(tokens / self.tokens_per_epoch, 1.0)
        bar = "#" * int(20 * share)
        line = (
            f"epoch {epoch}/{self.max_epochs} [{bar:<20}] {100 * share:3.0f}% "
            f"loss {loss:.4f} {tokens / max(seconds, 1e-9):,.0f} tokens/s"
        )
        self._width = max(self._width, len(line))
        self.stream.write("\r" + line)
        self.stream.flush()

    def end_epoch(self, record):
        if not self.verbose:
            return
        valid = record["valid_perplexity"]
        valid = "" if valid is None else f" valid perplexity {valid:.3f}"
        line = (
            f"epoch {record['epoch']}/{self.max_epochs} train loss {record['train_loss']:.4f}"
            f"{valid} grad norm {record['grad_norm']:.3f} "
            f"{record['tokens_per_s']:,.0f} tokens/s {record['seconds']:.1f}s"
        )
        if self.live:  # overwrite the progress bar, leftovers included
            line = "\r" + line.ljust(self._width)
        self.stream.write(line + "\n")
        self.stream.flush()


def make_optimizer(name, parameters, learning_rate):
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=learning_rate)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=learning_rate)
    return torch.optim.AdamW(parameters, lr=learning_rate)


def _detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def _windows(inputs, targets, bptt, device):
    """Truncated-BPTT windows of one batch: ``(inputs, targets, n_real)``.

    ``targets`` is flattened in the order of the window's output rows, with
    ``-1`` on padding, which the loss leaves out. Bucketing by length keeps
    padding rare, so scoring the few padded rows costs less than selecting
    the real ones (whose backward pass is a scatter).
    """
    out = []
    for start in range(0, inputs.shape[0], bptt):
        x = np.ascontiguousarray(inputs[start : start + bptt])
        t = targets[start : start + bptt].reshape(-1)
        n_real = int(np.count_nonzero(t >= 0))
        out.append((torch.from_numpy(x).to(device), torch.from_numpy(t).to(device), n_real))
    return out


def _autocast(device, bfloat16):
    if not bfloat16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _state_copy(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def train(
    module,
    train_corpus,
    valid_corpus,
    *,
    optimizer,
    learning_rate,
    lr_schedule,
    batch_size,
    bptt,
    max_epochs,
    clip_grad_norm,
    early_stopping,
    n_iter_no_change,
    max_time,
    rng,
    device,
    verbose,
    mixed_precision=False,
    first_epoch=1,
):
    """Train ``module`` in place; return the per-epoch history.

    With a validation corpus the module ends with the weights of its best
    validation epoch. A KeyboardInterrupt stops training with a warning,
    keeping those best weights (or, without validation, the current ones).
    Raises :class:`NonFiniteLossError` on a NaN/inf loss or gradient. With
    ``mixed_precision`` the forward pass and the loss run under
    ``torch.autocast`` in bfloat16 (the loss itself in float32).
    """
    if device.type == "cpu":
        keep_large_buffers()
    batches = [
        _windows(*pad_batch(train_corpus, rows, module.bos_id)[:2], bptt, device)
        for rows in length_batches(train_corpus.lengths, batch_size)
    ]
    opt = make_optimizer(optimizer, module.parameters(), float(learning_rate))
    params = [p for p in module.parameters() if p.requires_grad]
    max_norm = math.inf if clip_grad_norm is None else clip_grad_norm
    progress = Progress(verbose, first_epoch + max_epochs - 1, len(train_corpus.ids))
    history = []
    best_metric, best_state, no_improve = math.inf, None, 0
    started = time.perf_counter()
    try:
        for epoch in range(first_epoch, first_epoch + max_epochs):
            module.train()
            loss_sum = torch.zeros((), device=device, dtype=torch.float64)
            norm_sum = torch.zeros((), device=device, dtype=torch.float64)
            norm_max = torch.zeros((), device=device, dtype=torch.float64)
            tokens = n_steps = 0
            out_of_time = False
            epoch_start = time.perf_counter()
            for b in rng.permutation(len(batches)):
                state = None
                for x, y, n_real in batches[b]:
                    state = _detach(state)
                    with _autocast(device, mixed_precision):
                        hidden, state = module(x, state)
                        loss = module.loss(hidden.reshape(-1, hidden.shape[-1]), y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    norm = nn.utils.clip_grad_norm_(params, max_norm)
                    opt.step()
                    loss_sum += loss.detach() * n_real
                    norm_sum += norm
                    norm_max = torch.maximum(norm_max, norm.double())
                    tokens += n_real
                    n_steps += 1
                # One host sync per batch: cheap on a CPU, rare enough on a GPU.
                check = float(loss_sum + norm_sum)
                if not math.isfinite(check):
                    if clip_grad_norm is None:
                        advice = "enable gradient clipping (clip_grad_norm, e.g. 0.25)"
                    else:
                        advice = f"lower clip_grad_norm (now {clip_grad_norm})"
                    raise NonFiniteLossError(
                        f"training diverged in epoch {epoch}: the loss or the gradient "
                        "norm became NaN or infinite. Lower learning_rate (now "
                        f"{learning_rate}) or {advice}."
                    )
                now = time.perf_counter()
                progress.update(epoch, tokens, float(loss_sum) / tokens, now - epoch_start)
                if max_time is not None and now - started >= max_time:
                    out_of_time = True
                    break
            seconds = time.perf_counter() - epoch_start
            record = {
                "epoch": epoch,
                "train_loss": float(loss_sum) / max(tokens, 1),
                "valid_perplexity": None,
                "grad_norm": float(norm_sum) / max(n_steps, 1),
                "grad_norm_max": float(norm_max),
                "learning_rate": float(opt.param_groups[0]["lr"]),
                "tokens": tokens,
                "seconds": seconds,
                "tokens_per_s": tokens / max(seconds, 1e-9),
                "complete": not out_of_time,
            }
            if valid_corpus is not None:
                lp = log_prob_tokens(module, valid_corpus, device)
                record["valid_perplexity"] = float(np.exp(-lp.mean()))
                metric = record["valid_perplexity"]
            else:
                metric = record["train_loss"]
            history.append(record)
            progress.end_epoch(record)
            improved = metric < best_metric
            if improved:
                best_metric, no_improve = metric, 0
                if valid_corpus is not None:
                    best_state = _state_copy(module)
            else:
                no_improve += 1
                if lr_schedule == "plateau":
                    for group in opt.param_groups:
                        group["lr"] /= 4.0
            if out_of_time:
                break
            if early_stopping and no_improve >= n_iter_no_change:
                break
    except KeyboardInterrupt:
        kept = "the weights of the best validation epoch" if best_state else "the current weights"
        warnings.warn(
            f"training interrupted after {len(history)} complete epoch(s); keeping {kept}.",
            UserWarning,
            # train <- _fit_encoded <- fit <- fit's validation wrapper <- caller
            stacklevel=5,
        )
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return history
