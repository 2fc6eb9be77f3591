"""Smoothing strategies and the one recursion that turns them into tables.

Every strategy supplies, order by order, only its own two numbers: the mass
it keeps for each seen n-gram ``hw`` (``own``) and, for each context ``h``,
the weight ``gamma(h)`` left for the lower order. :func:`estimate` then
builds, once for all strategies,

``p(w | h) = own(hw) + gamma(h) * p(w | h')``   (interpolated strategies)

``p(w | h) = own(hw)``                           (backoff strategies)

from the unigrams (interpolated with the uniform distribution ``1 / V``)
upwards, where ``h'`` is ``h`` without its first word, and stores
``log gamma(h)`` as the backoff weight of ``h``. ``V`` counts every class,
``<unk>`` and ``</s>`` included, ``<s>`` excluded.
"""

import warnings

import numpy as np

from .._allocator import release_free_memory
from ._counting import continuation_counts, counts_of_counts
from ._pruning import drop
from ._tables import BackoffTables

# Per-n-gram products are formed a block at a time, so that no temporary the
# size of a whole order exists next to the tables of a large corpus.
_BLOCK = 1 << 20


def _blocks(n, block):
    """Slices of ``block`` entries (the last one shorter) that cover ``range(n)``."""
    return (slice(start, start + block) for start in range(0, n, block))


def _sum_by(index, values, size, dtype=np.float64, out=None, block=_BLOCK):
    """Sum of ``values`` (ones if None) per entry of the sorted ``index``.

    An integer ``dtype`` holds sums of integer values exactly, at half the
    size of float64 for int32. ``out``, if given, receives the sums: zeros
    of ``size`` entries of ``dtype``.

    Summed ``block`` entries at a time, each block ending where the index
    changes, so that every sum is made of the same additions in the same
    order as one ``bincount`` over the whole array, without its intp copy of
    ``index`` and float64 copy of ``values``.
    """
    if out is None:
        out = np.zeros(size, dtype=dtype)
    n = len(index)
    start = 0
    while start < n:
        stop = min(start + block, n)
        if stop < n:
            # Close the block after the last run it reaches into.
            stop += int(np.searchsorted(index[stop:], index[stop - 1], side="right"))
        lo, hi = int(index[start]), int(index[stop - 1]) + 1
        block_values = None if values is None else values[start:stop]
        out[lo:hi] = np.bincount(index[start:stop] - lo, weights=block_values, minlength=hi - lo)
        start = stop
    return out


def _divide(num, den):
    """``num / den`` with 0 where ``den`` is 0 (contexts without children)."""
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _divide_gathered(values, by, index, block=_BLOCK):
    """``values /= by[index]`` in place."""
    for part in _blocks(len(values), block):
        values[part] /= by[index[part]]
    return values


def _add_gathered_product(values, a, a_index, b, b_index, block=_BLOCK):
    """``values += a[a_index] * b[b_index]`` in place."""
    for part in _blocks(len(values), block):
        product = a[a_index[part]]
        product *= b[b_index[part]]
        values[part] += product
    return values


class Smoothing:
    """Base of the strategies; subclasses fill :meth:`unigram` and :meth:`ngram`."""

    interpolated = True
    unseen_log_backoff = 0.0

    def prepare(self, counts, allocate=None, block=_BLOCK):
        """Look at the whole count set once; return extra fitted attributes.

        ``allocate`` and ``block`` are :func:`estimate`'s; a strategy that
        has no use for them makes its arrays with NumPy.
        """
        self.counts = counts
        self.allocate = allocate
        self.block = block
        return {}

    def raw(self, k):
        return self.counts.counts[k - 1]

    def unigram(self):
        """``(own, gamma)``: ``own`` over the ``V`` classes, ``gamma`` a float."""
        raise NotImplementedError

    def ngram(self, k, context):
        """``(own, gamma)`` for order ``k >= 2``.

        ``context`` is the index in table ``k - 1`` of each k-gram's first
        ``k - 1`` words. ``own`` has one value per k-gram, ``gamma`` one per
        entry of table ``k - 1`` (used where it has children).
        """
        raise NotImplementedError

    def _unigram_counts(self):
        return self.raw(1)[: self.counts.n_classes].astype(np.float64)

    def _zeros(self, n, dtype):
        """``n`` zeros of ``dtype``, from ``allocate`` if :meth:`prepare` was given one."""
        return np.zeros(n, dtype=dtype) if self.allocate is None else self.allocate(n, dtype)

    def _context_totals(self, k, context, values=None, out=None):
        # ``context`` is sorted: it comes from the sorted keys of order k.
        return _sum_by(context, values, len(self.counts.keys[k - 2]), out=out, block=self.block)


class MaximumLikelihood(Smoothing):
    """``p(w | h) = c(hw) / c(h)``; unseen events get probability 0."""

    def unigram(self):
        c = self._unigram_counts()
        return c / c.sum(), 0.0

    def ngram(self, k, context):
        c = self.raw(k)
        total = self._context_totals(k, context, c)
        return c / total[context], np.zeros(len(total))


class StupidBackoff(Smoothing):
    """Relative frequency of the longest seen n-gram times ``backoff`` per step down."""

    interpolated = False

    def __init__(self, backoff):
        self.backoff = backoff
        self.unseen_log_backoff = float(np.log(backoff))

    def unigram(self):
        c = self._unigram_counts()
        return c / c.sum(), self.backoff

    def ngram(self, k, context):
        c = self.raw(k)
        total = self._context_totals(k, context, c)
        return c / total[context], np.full(len(total), float(self.backoff))


class AddK(Smoothing):
    """Lidstone on the full context: ``(c(hw) + alpha) / (c(h) + alpha V)``.

    The full context is the last ``order - 1`` words, or fewer at the start of
    a sample (then it begins with ``<s>``). Shorter contexts are never
    consulted, so their n-grams get the uniform ``1 / V`` and weight 1, which
    makes an unseen full context give ``1 / V`` to every class.
    """

    def __init__(self, alpha):
        self.alpha = alpha

    def _full(self, k):
        """Whether each entry of table ``k`` is a full context."""
        if k == self.counts.order - 1:
            return np.ones(len(self.counts.keys[k - 1]), dtype=bool)
        return self.counts.bos_initial[k - 1]

    def unigram(self):
        n_classes = self.counts.n_classes
        if self.counts.order > 1:
            return np.zeros(n_classes), 1.0
        c = self._unigram_counts()
        pseudo = self.alpha * n_classes
        # Written so that an alpha V that overflows gives the uniform 1 / V,
        # not inf / inf.
        return c / (c.sum() + pseudo), 1.0 / (1.0 + c.sum() / pseudo)

    def ngram(self, k, context):
        c = self.raw(k)
        pseudo = self.alpha * self.counts.n_classes
        seen = self._context_totals(k, context, c)
        full = self._full(k - 1)
        own = np.where(full[context], c / (seen + pseudo)[context], 0.0)
        gamma = np.where(full, 1.0 / (1.0 + seen / pseudo), 1.0)
        return own, gamma


def _fallback_warning(name, k, detail):
    warnings.warn(
        f"{name}: cannot estimate the discounts of order {k} ({detail}); "
        "using the fallback discounts for that order.",
        UserWarning,
        stacklevel=7,  # the caller of fit()
    )


class AbsoluteDiscounting(Smoothing):
    """Interpolated absolute discounting on raw counts, one ``D`` per order.

    ``p(w | h) = max(c(hw) - D, 0) / c(h) + D N1+(h) / c(h) p(w | h')``.
    """

    FALLBACK = 0.5

    def __init__(self, discount=None):
        self.discount = discount

    def prepare(self, counts, allocate=None, block=_BLOCK):
        super().prepare(counts, allocate, block)
        discounts = np.empty(counts.order)
        for k in range(1, counts.order + 1):
            raw = self.raw(k)[: counts.n_classes] if k == 1 else self.raw(k)
            if self.discount is not None:
                discounts[k - 1] = self.discount
                continue
            n1, n2 = counts_of_counts(raw, largest=2)
            if n1 == 0 or n2 == 0:
                if len(raw) and raw.any():
                    _fallback_warning("absolute_discounting", k, f"n1={n1}, n2={n2}")
                discounts[k - 1] = self.FALLBACK
            else:
                discounts[k - 1] = n1 / (n1 + 2 * n2)
        self.discounts = discounts
        return {"discounts_": discounts}

    def unigram(self):
        c = self._unigram_counts()
        d = self.discounts[0]
        total = c.sum()
        return np.maximum(c - d, 0.0) / total, d * np.count_nonzero(c) / total

    def ngram(self, k, context):
        c = self.raw(k)
        d = self.discounts[k - 1]
        total = self._context_totals(k, context, c)
        children = self._context_totals(k, context)
        own = np.maximum(c - d, 0.0)
        own /= total[context]
        return own, _divide(d * children, total)


class WittenBell(Smoothing):
    """Interpolated Witten-Bell: ``lambda(h) = c(h) / (c(h) + N1+(h))``.

    ``p(w | h) = (c(hw) + N1+(h) p(w | h')) / (c(h) + N1+(h))``.
    """

    def unigram(self):
        c = self._unigram_counts()
        types = np.count_nonzero(c)
        return c / (c.sum() + types), types / (c.sum() + types)

    def ngram(self, k, context):
        c = self.raw(k)
        denominator = self._context_totals(k, context, c)
        children = self._context_totals(k, context)
        denominator += children
        return c / denominator[context], _divide(children, denominator)


class KneserNey(Smoothing):
    """Interpolated modified Kneser-Ney exactly as KenLM's ``lmplz`` estimates it.

    Adjusted counts ``a``: raw at the highest order and for n-grams opening
    with ``<s>``, continuation counts elsewhere. Per order, three discounts
    from the counts of counts ``n1..n4`` of ``a``: ``Y = n1 / (n1 + 2 n2)``,
    ``D_k = k - (k + 1) Y n_{k+1} / n_k``. Then
    ``p(w | h) = (a(hw) - D(a(hw))) / sum_w a(hw) + gamma(h) p(w | h')`` with
    ``gamma(h) = (D1 N1(h) + D2 N2(h) + D3 N3+(h)) / sum_w a(hw)``.
    """

    FALLBACK = (0.5, 1.0, 1.5)

    def prepare(self, counts, allocate=None, block=_BLOCK):
        super().prepare(counts, allocate, block)
        order = counts.order
        discounts = np.empty((order, 3))
        of_counts = np.empty((order, 4), dtype=np.int64)
        scratch = None
        if allocate is not None and order > 2:
            # Only their counts of counts are wanted here: the adjusted counts
            # of the middle orders are made one after another in one array.
            middle = [counts.counts[k - 1] for k in range(2, order)]
            scratch = allocate(max(map(len, middle)), np.result_type(*middle))
            del middle
        for k in range(1, order + 1):
            adjusted = self._adjusted(k, scratch)
            n = counts_of_counts(adjusted, largest=4, block=None if allocate is None else block)
            of_counts[k - 1] = n
            estimate = None
            if n[0] and n[1] and n[2]:
                y = n[0] / (n[0] + 2 * n[1])
                estimate = np.array([j - (j + 1) * y * n[j] / n[j - 1] for j in (1, 2, 3)])
                if np.any((estimate < 0) | (estimate > np.arange(1, 4))):
                    detail = "a discount outside [0, k]: " + ", ".join(
                        f"D{j}={v:.4g}" for j, v in enumerate(estimate, 1)
                    )
                    estimate = None
            else:
                detail = f"n1={n[0]}, n2={n[1]}, n3={n[2]}"
            if estimate is None:
                if adjusted.any():
                    _fallback_warning("kneser_ney", k, detail)
                estimate = np.array(self.FALLBACK)
            discounts[k - 1] = estimate
        del adjusted, scratch
        self.discounts = discounts
        return {"discounts_": discounts, "counts_of_counts_": of_counts}

    def _adjusted(self, k, scratch=None):
        """The adjusted counts of order ``k`` (:func:`continuation_counts`).

        With an allocator, those of an order ``1 < k < order`` are made in
        ``scratch`` if given, else in an array of their own from it.
        """
        counts = self.counts
        if self.allocate is None:
            return continuation_counts(counts, k)
        raw = counts.counts[k - 1]
        if k == counts.order and k > 1:
            return raw
        if k == 1:
            out = np.zeros(len(raw), dtype=raw.dtype)  # V + 1 entries
        elif scratch is not None:
            out = scratch[: len(raw)]
            out.fill(0)
        else:
            out = self.allocate(len(raw), raw.dtype)
        return continuation_counts(counts, k, out, self.block)

    def _own_and_discount(self, k, adjusted):
        """``a - D(a)`` and ``D(a)`` (``D(0) = 0``)."""
        by_count = np.concatenate([[0.0], self.discounts[k - 1]])
        discount = by_count[np.minimum(adjusted, 3)]
        return adjusted - discount, discount

    def unigram(self):
        adjusted = self._adjusted(1)[: self.counts.n_classes]
        own, discount = self._own_and_discount(1, adjusted)
        total = float(adjusted.sum())
        own /= total
        return own, discount.sum() / total

    def ngram(self, k, context):
        adjusted = self._adjusted(k)
        n_contexts = len(self.counts.keys[k - 2])
        block = self.block
        # Sums of counts: exact as integers, and smaller than float64.
        total = _sum_by(
            context,
            adjusted,
            n_contexts,
            adjusted.dtype,
            out=self._zeros(n_contexts, adjusted.dtype),
            block=block,
        )
        by_count = np.concatenate([[0.0], self.discounts[k - 1]])
        discount = self._zeros(len(adjusted), np.float64)
        for part in _blocks(len(adjusted), block):
            discount[part] = by_count[np.minimum(adjusted[part], 3)]
        gamma = self._context_totals(k, context, discount, out=self._zeros(n_contexts, np.float64))
        # Block by block: no mask of every context.
        for part in _blocks(n_contexts, block):
            np.divide(gamma[part], total[part], out=gamma[part], where=total[part] != 0)
        # a - D(a), in the discount's own memory
        own = np.subtract(adjusted, discount, out=discount)
        del adjusted
        return _divide_gathered(own, total, context, block), gamma


def make_smoothing(model):
    """The strategy for an :class:`~sklm.NGramLM`'s parameters."""
    name = model.smoothing
    if name == "mle" or (name == "add_k" and model.alpha == 0):
        return MaximumLikelihood()
    if name == "add_k":
        return AddK(model.alpha)
    if name == "absolute_discounting":
        return AbsoluteDiscounting(model.discount)
    if name == "witten_bell":
        return WittenBell()
    if name == "kneser_ney":
        return KneserNey()
    return StupidBackoff(model.backoff)


def estimate(counts, smoothing, prune=None, *, allocate=None, block=_BLOCK):
    """Build the backoff tables of ``smoothing`` on ``counts`` (consumed).

    The counts of each order are released as soon as no later order needs
    them, so the tables and the counts never both exist in full.

    ``prune``, if given, holds a count threshold per order (non-decreasing,
    0 for the unigrams): an n-gram of order ``k >= 2`` seen at most
    ``prune[k - 1]`` times is left out of the tables, as KenLM's ``lmplz
    --prune`` does. Everything is first estimated on all the counts (the
    discounts, the continuation counts); then the mass ``own(hw)`` of each
    pruned n-gram goes to its context's weight ``gamma(h)``, so that it is
    given through the lower order, and the distribution still sums to one.
    The n-grams kept keep their contexts and suffixes, whose counts are at
    least theirs.

    ``allocate``, if given, is called as ``allocate(n, dtype)`` and returns a
    1-D array of ``n`` zeros of ``dtype``: a file-backed one, in a fit whose
    memory is bounded (the counts may then be read-only mapped arrays too).
    Every array of the length of an order ``k >= 2`` that Kneser-Ney
    estimation makes then comes from it: the context indexes, the adjusted
    counts, the per-context sums, and the probabilities and backoff weights
    that become the tables. They are computed ``block`` entries at a time,
    so that no temporary the size of an order is made in memory; the
    numbers are the same, bit for bit. The other strategies, and ``prune``,
    still make some of their arrays with NumPy. Without ``allocate``,
    ``block`` sizes only the passes that are blocked anyway; it changes no
    value.

    Returns
    -------
    tables : BackoffTables
    fitted : dict
        Extra fitted attributes of the strategy (e.g. ``discounts_``).
    """
    fitted = smoothing.prepare(counts, allocate, block)
    n_classes = counts.n_classes
    keep = [None] * counts.order
    own, gamma = smoothing.unigram()
    p = own + gamma / n_classes if smoothing.interpolated else own
    # <s> is never predicted; like KenLM, store probability 1 as a placeholder.
    previous = np.append(p, 1.0)
    log_prob = [previous]
    log_backoff = []
    for k in range(2, counts.order + 1):
        context = counts.context(k, allocate)
        own, gamma = smoothing.ngram(k, context)
        kept = None
        if prune is not None and prune[k - 1] > 0:
            kept = counts.counts[k - 1] > prune[k - 1]
            if smoothing.interpolated:
                pruned = ~kept
                gamma += _sum_by(context[pruned], own[pruned], len(gamma))
                del pruned
            keep[k - 1] = kept
        if smoothing.interpolated:
            _add_gathered_product(own, previous, counts.suffix[k - 1], gamma, context, block)
        has_children = np.zeros(len(gamma), dtype=bool)
        if kept is not None:
            # A context whose children are all pruned is one no more.
            has_children[context[kept]] = True
        else:
            # Block by block: no intp copy of every index.
            for part in _blocks(len(context), block):
                has_children[context[part]] = True
        del context, kept
        with np.errstate(divide="ignore"):
            backoff = np.log(gamma, out=gamma)
        for part in _blocks(len(backoff), block):
            backoff[part][~has_children[part]] = smoothing.unseen_log_backoff
        log_backoff.append(backoff)
        del gamma, backoff, has_children
        # The probabilities of order k - 1 have served: log them in place,
        # so that no order is held twice.
        with np.errstate(divide="ignore"):
            log_prob[k - 2] = np.log(log_prob[k - 2], out=log_prob[k - 2])
        log_prob.append(own)
        previous = own
        del own
        # Large corpora: drop the counts no later order reads.
        counts.release(k)
        release_free_memory()
    previous = None
    with np.errstate(divide="ignore"):
        log_prob[-1] = np.log(log_prob[-1], out=log_prob[-1])
    # The highest order is no context: its backoff weights are never read.
    log_backoff.append(np.zeros(0))
    keys = [None] + counts.keys[1:]
    if any(k is not None for k in keep):
        drop(keys, log_prob, log_backoff, keep, counts.base)
    tables = BackoffTables(
        n_classes,
        keys,
        log_prob,
        log_backoff,
        smoothing.unseen_log_backoff,
        normalise_rows=not smoothing.interpolated,
    )
    return tables, fitted
