"""The compiled loop of n-gram scoring (see :mod:`sklm._compiled`), imported on first use."""

import numpy as np

from .._compiled import compiled, lookup_into


@compiled()
def score_order(
    ids,
    starts,
    previous,
    k,
    order,
    n_classes,
    log_backoff_bits,
    special_bits,
    keys,
    slot_value,
    shift,
    log_prob_bits,
    result_bits,
    current,
    lengths,
    key,
    todo,
    keep,
):
    """Order ``k`` of ``BackoffTables.score_corpus``, over one run of samples.

    ``result_bits`` (the float64 results as int64) holds, per position, the
    log-probability given by the orders below ``k``. The backoff weight of
    the (k-1)-gram context is added to it, and a stored k-gram overwrites it
    (the longest match wins): a value is its longest match's probability
    plus the weights of the longer contexts, added from the lowest.
    ``previous[p]`` is the index of the (k-1)-gram ending at ``p`` (for k = 2
    the word itself); ``current`` receives that of the k-gram: -1 when it is
    not stored, -2 when it reaches back past ``<s>``. The weights are read as
    int64 bits: ``log_backoff_bits`` those of table ``k - 1`` (never empty),
    ``special_bits`` those of a context not stored (``unseen_log_backoff``)
    and of one past ``<s>`` (0).

    The overwrite is a mask read from ``keep`` (see ``sklm._compiled.lookup_into``), not
    a branch. Compiled without the GIL, so threads score their parts side by
    side.
    """
    n = len(ids)
    base = n_classes + 1
    result = result_bits.view(np.float64)
    first = n_classes if k == 2 else -2  # <s>, or past it
    # The contexts first, in key (a test per position of whether a sample
    # starts there would mispredict at every start).
    if n:
        key[0] = first
    key[1:] = previous[:-1]
    for s in starts:
        key[s] = first
    # The weight of each context, as bits in todo (scratch until the lookup):
    # a stored one's, or special[0] for -1 and special[1] for -2.
    for p in range(n):
        c = key[p]
        negative = keep[(c >> 63) & 1]
        todo[p] = (log_backoff_bits[c & ~negative] & ~negative) | (
            special_bits[(-c - 1) & 1] & negative
        )
        key[p] = c * base + ids[p]
    weights = todo.view(np.float64)
    for p in range(n):
        result[p] += weights[p]
    lookup_into(keys, slot_value, shift, key, current, todo, keep)
    with_lengths = len(lengths) > 0
    for p in range(n):
        found = current[p]
        kept = keep[(found >> 63) & 1]
        at = found & ~kept
        result_bits[p] = (result_bits[p] & kept) | (log_prob_bits[at] & ~kept)
        if with_lengths:
            lengths[p] = (lengths[p] & kept) | (k & ~kept)
    if k < order:
        # The k-grams ending on the first k - 2 tokens of a sample reach back
        # past <s>.
        for s in starts:
            for j in range(s, min(s + k - 2, n)):
                current[j] = -2
