"""Batched scoring, next-token distributions and generation of recurrent LMs.

Every function reads samples as :mod:`._batching` lays them out, in
evaluation mode and without gradients. A batch is run through the network
in windows of at most ``max_positions`` positions with the recurrent state
carried from one window to the next, so a sample of a million tokens is
scored exactly as if it were fed at once, in bounded memory.
"""

import numpy as np
import torch

from ._batching import EVAL_MAX_POSITIONS, eval_batches, pad_batch

# The output layer is cut into row blocks of at most MAX_LOGITS logits so
# that a 30k-word vocabulary never needs gigabytes.
MAX_LOGITS = 1 << 24


def _row_blocks(n_rows, n_classes):
    block = max(1, MAX_LOGITS // max(n_classes, 1))
    return range(0, n_rows, block), block


def _windows(module, inputs, device, max_positions, state=None):
    """Yield ``(start, hidden, state)`` over windows of ``inputs``, state carried."""
    n_steps, width = inputs.shape
    window = max(1, max_positions // max(width, 1))
    for start in range(0, n_steps, window):
        x = torch.from_numpy(np.ascontiguousarray(inputs[start : start + window])).to(device)
        hidden, state = module(x, state)
        yield start, hidden, state


def log_prob_tokens(module, corpus, device, max_positions=EVAL_MAX_POSITIONS):
    """Log-probability of every position of ``corpus.ids`` (float64)."""
    out = np.empty(len(corpus.ids), dtype=np.float64)
    module.eval()
    with torch.inference_mode():
        for rows in eval_batches(corpus.lengths, max_positions):
            inputs, _, (pos, col, flat) = pad_batch(corpus, rows, module.bos_id)
            # Real positions in step order, so that each window takes a slice.
            order = np.argsort(pos, kind="stable")
            pos, col, flat = pos[order], col[order], flat[order]
            for start, hidden, _ in _windows(module, inputs, device, max_positions):
                lo, hi = np.searchsorted(pos, [start, start + hidden.shape[0]])
                if lo == hi:
                    continue
                h = hidden[
                    torch.from_numpy(pos[lo:hi] - start).to(device),
                    torch.from_numpy(col[lo:hi]).to(device),
                ]
                where = flat[lo:hi]
                target = torch.from_numpy(corpus.ids[where].astype(np.int64)).to(device)
                starts, block = _row_blocks(len(where), module.n_classes)
                for s in starts:
                    lp = module.target_log_prob(h[s : s + block], target[s : s + block])
                    out[where[s : s + block]] = lp.double().cpu().numpy()
    return out


def next_log_proba(module, contexts, device, max_positions=EVAL_MAX_POSITIONS):
    """Log-distribution of the next token after each context, float64."""
    out = np.empty((contexts.n_samples, module.n_classes), dtype=np.float64)
    module.eval()
    with torch.inference_mode():
        for rows in eval_batches(contexts.lengths, max_positions):
            inputs, last = pad_batch(contexts, rows, module.bos_id, targets=False)
            for start, hidden, _ in _windows(module, inputs, device, max_positions):
                here = np.flatnonzero((last >= start) & (last < start + hidden.shape[0]))
                if len(here) == 0:
                    continue
                h = hidden[
                    torch.from_numpy(last[here] - start).to(device),
                    torch.from_numpy(here).to(device),
                ]
                out[rows[here]] = normalised(module.log_proba(h))
    return out


def normalised(log_proba):
    """Renormalise in float64, so that rows of ``predict_proba`` sum to one
    to double precision rather than to float32's."""
    log_proba = log_proba.double()
    return (log_proba - torch.logsumexp(log_proba, dim=1, keepdim=True)).cpu().numpy()


def generation_start(module, contexts, device, max_positions=EVAL_MAX_POSITIONS):
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
            inputs, _ = pad_batch(contexts, rows, module.bos_id, targets=False)
            # Only the last window's output and the final state matter.
            *_, (_, hidden, part) = _windows(module, inputs, device, max_positions)
            idx = torch.from_numpy(rows).to(device)
            _set_rows(state, idx, part)
            log_proba[rows] = normalised(module.log_proba(hidden[-1]))
    return state, log_proba


def generation_step(module, state, next_ids, active, device):
    """Feed one token to the active rows; return the state and their log-distribution."""
    rows = np.flatnonzero(active)
    idx = torch.from_numpy(rows).to(device)
    with torch.inference_mode():
        inputs = torch.from_numpy(np.asarray(next_ids, dtype=np.int64)[rows][None, :]).to(device)
        hidden, part = module(inputs, _get_rows(state, idx))
        _set_rows(state, idx, part)
        return state, normalised(module.log_proba(hidden[0]))


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
