"""Pruning of backoff tables: dropping entries, and Stolcke's entropy criterion.

Count pruning (KenLM's ``lmplz --prune``) is decided during the estimation
(see :func:`~sklm.ngram._smoothing.estimate`); both kinds end by removing
entries from the tables with :func:`drop`.

Entropy pruning (Stolcke, 1998, SRILM's ``ngram -prune``) works on an
estimated model in backoff form. Removing the n-gram ``hw`` sends ``w``
after ``h`` to the lower order, ``p'(w | h) = alpha'(h) p(w | h')``, and
renormalises the context's backoff weight,

``alpha'(h) = (1 - sum_{v kept} p(v | h)) / (1 - sum_{v kept} p(v | h'))``,

which changes the probability of every word backed off from ``h``. The
relative entropy between the model before and after is

``D = -P(h) [p(w | h) (log p'(w | h) - log p(w | h))
+ (1 - sum_v p(v | h)) (log alpha'(h) - log alpha(h))]``

with ``P(h)`` the probability the model gives the words of ``h`` (chain
rule over the stored n-grams; ``<s>`` has probability 1). An n-gram is
removed when ``exp(D) - 1``, the relative increase of the model's
perplexity that its removal alone causes, is below the threshold. Orders
are pruned from the highest down, each against the model that the higher
orders left; the weights of the contexts that lost children are then
recomputed. An n-gram that is the prefix (a context) or the suffix of a
kept longer one is kept, so every stored n-gram keeps both.
"""

import numpy as np

from ._tables import BackoffTables, _lookup


def drop(keys, log_prob, log_backoff, keep, base):
    """Remove from the tables, in place, the entries ``keep`` marks False.

    ``keep[k - 1]`` is a mask over table ``k`` (None: keep it all). Every
    entry kept must have its prefix kept; the keys of each order are then
    renumbered to the prefixes' new indexes, which keeps them sorted.
    """
    new_index = None
    for k in range(2, len(keys) + 1):
        kept = keep[k - 1]
        table = keys[k - 1]
        if kept is not None:
            table = table[kept]
            log_prob[k - 1] = log_prob[k - 1][kept]
            if len(log_backoff[k - 1]):
                log_backoff[k - 1] = log_backoff[k - 1][kept]
        if new_index is not None:
            word = table % base
            table = new_index[table // base]
            table *= base
            table += word
            del word
        keys[k - 1] = table
        new_index = None if kept is None else np.cumsum(kept, dtype=np.int64) - 1


def _structure(tables):
    """Per order: prefix index, suffix index and log ``P`` of every n-gram.

    The prefix of a k-gram is its first ``k - 1`` words, the suffix its
    last ``k - 1`` (both indexes in table ``k - 1``; -1 for a suffix not
    stored); log ``P`` is the log-probability of its words by the chain rule.
    """
    base = tables.base
    prefix, suffix = [None], [None]
    log_p = [tables.log_prob[0].copy()]
    log_p[0][tables.n_classes] = 0.0  # <s> opens every sample
    for k in range(2, tables.order + 1):
        keys = tables.keys[k - 1]
        context = keys // base
        word = keys % base
        if k == 2:
            below = word
        else:
            below_key = suffix[k - 2][context] * base + word
            below = _lookup(tables.keys[k - 2], below_key)
            below[suffix[k - 2][context] < 0] = -1
        prefix.append(context)
        suffix.append(below)
        log_p.append(log_p[k - 2][context] + tables.log_prob[k - 1])
    return prefix, suffix, log_p


def entropy_prune(tables, threshold):
    """Tables without the n-grams whose removal costs little relative entropy.

    Parameters
    ----------
    tables : BackoffTables
        A normalised model (interpolated or backoff); not changed.
    threshold : float
        An n-gram is removed when the model's perplexity grows by a relative
        amount below ``threshold`` when it alone is removed.

    Returns
    -------
    tables : BackoffTables
    """
    order = tables.order
    if order < 2:
        return tables
    keys = [None] + [k.copy() for k in tables.keys[1:]]
    log_prob = [p.copy() for p in tables.log_prob]
    log_backoff = [b.copy() for b in tables.log_backoff]
    prefix, suffix, log_p = _structure(tables)
    if any((s < 0).any() for s in suffix[2:]):
        raise ValueError("entropy pruning needs the suffix of every stored n-gram.")
    limit = np.log1p(threshold)
    keep = [None] * order
    for k in range(order, 1, -1):
        n = len(keys[k - 1])
        needed = np.zeros(n, dtype=bool)
        if k < order:
            # The prefixes and suffixes of the kept (k+1)-grams stay.
            above = keep[k]
            needed[prefix[k][above]] = True
            below = suffix[k][above]
            needed[below[below >= 0]] = True
        context = prefix[k - 1]
        n_contexts = len(log_prob[k - 2])
        p = np.exp(log_prob[k - 1])
        q_log = log_prob[k - 2][suffix[k - 1]]
        q = np.exp(q_log)
        numerator = 1.0 - np.bincount(context, weights=p, minlength=n_contexts)
        denominator = 1.0 - np.bincount(context, weights=q, minlength=n_contexts)
        numerator_c, denominator_c = numerator[context], denominator[context]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_alpha_new = np.log(numerator_c + p) - np.log(denominator_c + q)
            backed_off = numerator_c * (log_alpha_new - log_backoff[k - 2][context])
        # Nothing is backed off from a context whose weight is 0 ("mle").
        backed_off[(numerator_c <= 0) | np.isneginf(log_backoff[k - 2][context])] = 0.0
        change = -np.exp(log_p[k - 2][context]) * (
            p * (q_log + log_alpha_new - log_prob[k - 1]) + backed_off
        )
        kept = needed | ~(change < limit)
        keep[k - 1] = kept
        # Weights of the contexts that lost children, over the kept ones.
        lost = np.zeros(n_contexts, dtype=bool)
        lost[context[~kept]] = True
        if lost.any():
            alive = np.zeros(n_contexts, dtype=bool)
            alive[context[kept]] = True
            kept_p = np.bincount(context[kept], weights=p[kept], minlength=n_contexts)
            kept_q = np.bincount(context[kept], weights=q[kept], minlength=n_contexts)
            with np.errstate(divide="ignore", invalid="ignore"):
                weight = np.log1p(-kept_p) - np.log1p(-kept_q)
            update = lost & alive
            log_backoff[k - 2][update] = weight[update]
            # A context left without children is one no more.
            log_backoff[k - 2][lost & ~alive] = tables.unseen_log_backoff
    drop(keys, log_prob, log_backoff, keep, tables.base)
    return BackoffTables(
        tables.n_classes,
        keys,
        log_prob,
        log_backoff,
        tables.unseen_log_backoff,
        normalise_rows=tables.normalise_rows,
    )
