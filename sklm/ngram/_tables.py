"""Backoff-form n-gram tables and the one compiled query over them.

Every :class:`~sklm.NGramLM`, whatever its smoothing, and every model read
from an ARPA file is held as ARPA holds it: per order, the stored n-grams with
a log-probability and a log backoff weight. The probability of ``w`` after a
context is the stored probability of the longest stored n-gram ``u..w`` that
ends the context, plus the log backoff weights of the longer context suffixes
(``unseen_log_backoff`` for a suffix that is not stored; 0 for ARPA).
Interpolated models store interpolated probabilities and use the weight of
the lower-order distribution as the backoff, so this is exact for them.
"""

import numpy as np

from .._hashing import KEEP, HashIndex
from .._parallel import CACHE_BLOCK, sample_runs, use_compiled

#: Positions scored together. The compiled passes over a run read each of its
#: arrays a few times: a run of a million positions keeps their 32 MB of
#: scratch bounded on any corpus, where cache-sized runs would cost more in
#: calls than they save (P1 test x10, 824,300 positions: 12.8 ms in runs of
#: CACHE_BLOCK, 10.3 ms in runs of 16 times that, 10.0 ms in one run).
SCORE_RUN = 16 * CACHE_BLOCK


def _lookup(table, key):
    """Index of each ``key`` in the sorted ``table``, -1 where absent."""
    if len(table) == 0:
        return np.full(len(key), -1, dtype=np.int64)
    found = np.searchsorted(table, key)
    np.minimum(found, len(table) - 1, out=found)
    found[table[found] != key] = -1
    return found


class BackoffTables:
    """Per-order n-gram tables in backoff form (natural logs).

    Parameters
    ----------
    n_classes : int
        ``V``: word ids are ``0 .. V - 1``; ``<s>`` is id ``V`` (context only).
    keys : list of ndarray
        ``keys[0]`` is ``None`` (the unigram table is dense over ``V + 1``
        ids); ``keys[k - 1]`` holds the sorted int64 keys
        ``prefix_index * (V + 1) + word`` of order ``k``.
    log_prob : list of ndarray
        Log-probability of every stored n-gram (``log_prob[0][V]``, the
        never predicted ``<s>``, is a placeholder).
    log_backoff : list of ndarray
        Log backoff weight of every stored n-gram used as a context (0 where
        it is no context); the last order's entries are unused.
    unseen_log_backoff : float, default=0.0
        Log weight charged for a context suffix that is not stored
        (``stupid_backoff`` pays its factor at every step down).
    normalise_rows : bool, default=False
        Whether the values are scores rather than probabilities, so that a
        next-token distribution is obtained by normalising them.
    """

    def __init__(
        self,
        n_classes,
        keys,
        log_prob,
        log_backoff,
        unseen_log_backoff=0.0,
        normalise_rows=False,
    ):
        self.normalise_rows = bool(normalise_rows)
        self.n_classes = int(n_classes)
        self.keys = keys
        self.log_prob = log_prob
        self.log_backoff = log_backoff
        self.unseen_log_backoff = float(unseen_log_backoff)
        self._hashes = {}
        self._extended = {}

    def __getstate__(self):
        # The hash indexes are a cache, rebuilt on demand after unpickling.
        state = dict(self.__dict__)
        state["_hashes"] = {}
        state["_extended"] = {}
        return state

    def __setstate__(self, state):
        # Pickles of earlier versions lack the newer caches.
        state.setdefault("_extended", {})
        self.__dict__.update(state)

    def _hash(self, k):
        """The hash index of table ``k``, built on first use."""
        index = self._hashes.get(k)
        if index is None:
            index = self._hashes[k] = HashIndex(self.keys[k - 1])
        return index

    def _find(self, k, keys):
        """Index in table ``k`` of each key, -1 where absent."""
        return self._hash(k).lookup(keys)

    def build_indexes(self):
        """Build every lookup structure now (before threads share the tables)."""
        for k in range(2, self.order + 1):
            self._hash(k)

    @property
    def order(self):
        return len(self.log_prob)

    @property
    def base(self):
        return self.n_classes + 1

    def sizes(self):
        """Number of stored n-grams per order (unigrams include ``<s>``)."""
        return np.array([len(p) for p in self.log_prob], dtype=np.int64)

    # whole corpora -----------------------------------------------------------

    def extended_backoff(self, k):
        """Log backoff weights of table ``k - 1`` with 0 and ``unseen_log_backoff`` appended.

        The layout of model files (see :mod:`sklm.ngram._persistence`): the
        weights of a context past ``<s>`` and of one not stored, after those
        of the stored contexts. A loaded model holds it already; otherwise it
        is made for the caller (a copy, not kept: scoring reads the weights
        without it).
        """
        extended = self._extended.get(k)
        if extended is None:
            extended = np.concatenate([self.log_backoff[k - 2], [0.0, self.unseen_log_backoff]])
        return extended

    def _weights_at(self, k, context):
        """Log backoff weight of each context index of table ``k - 1``.

        -1 (a context not stored) has ``unseen_log_backoff``, -2 (one that
        reaches back past ``<s>``) 0.
        """
        table = self.log_backoff[k - 2]
        if len(table):
            weights = np.take(table, context, mode="clip")
        else:
            weights = np.empty(len(context))
        weights[context == -1] = self.unseen_log_backoff
        weights[context == -2] = 0.0
        return weights

    def score_corpus(self, ids, offsets, *, return_lengths=False, compiled=None, run=None):
        """Log-probability of every position of a flat corpus (each sample from ``<s>``).

        ``ids`` holds the samples one after the other, each ending with
        ``</s>``, so every position is one prediction; ``offsets[i]`` is
        where sample ``i`` starts. With ``return_lengths``, also the length
        of the longest stored n-gram that gave each probability (KenLM's
        ``ngram_length``), as a second array. ``compiled`` chooses the
        compiled loop (True) or the NumPy passes (False); None follows
        :func:`~sklm._parallel.use_compiled` on the corpus' size. Both give
        the same values, bit for bit. ``run`` is the number of positions
        scored together (default: ``SCORE_RUN`` compiled, ``CACHE_BLOCK``
        otherwise); it changes no value.
        """
        ids = np.asarray(ids, dtype=np.intp)
        offsets = np.asarray(offsets, dtype=np.intp)
        result = np.empty(len(ids))
        lengths = np.ones(len(ids), dtype=np.int64) if return_lengths else None
        if compiled is None:
            compiled = use_compiled(len(ids))
        # Runs of whole samples: cache-sized for the NumPy passes, which read
        # their arrays a few dozen times; SCORE_RUN for the compiled loop.
        if len(offsets) and offsets[0] == 0 and offsets[-1] == len(ids):
            if run is None:
                run = SCORE_RUN if compiled else CACHE_BLOCK
            runs = sample_runs(offsets, run)
        else:
            runs = [(0, len(offsets) - 1)]
        bounds = [
            (offsets[first], offsets[last]) if len(runs) > 1 else (0, len(ids))
            for first, last in runs
        ]
        if compiled:
            score_run = _CompiledRuns(self, max((hi - lo for lo, hi in bounds), default=0))
        else:
            score_run = self._score_run
        for (first, last), (lo, hi) in zip(runs, bounds):
            starts = offsets[first:last] - lo
            if len(starts) and starts[-1] >= hi - lo:
                starts = starts[starts < hi - lo]  # empty samples at the end (no </s>)
            score_run(
                ids[lo:hi],
                starts,
                result[lo:hi],
                None if lengths is None else lengths[lo:hi],
            )
        return (result, lengths) if return_lengths else result

    def _score_run(self, ids, starts, result, lengths):
        """:meth:`score_corpus` of one run of samples, into ``result`` (and ``lengths``),
        in whole-array NumPy passes."""
        n = len(ids)
        # mode="clip" (ids are in range): the fast path of np.take with out=.
        np.take(self._float_table(0), ids, out=result, mode="clip")
        # Whole-array passes (no compressing to subsets). previous[p] is the
        # index of the (k-1)-gram ending at position p: -1 when it is not
        # stored, -2 when it reaches back past <s>.
        previous = ids
        context = np.empty(n, dtype=np.intp)
        key = np.empty(n, dtype=np.int64)
        miss = np.empty(n, dtype=np.intp)
        bits = result.view(np.int64)
        for k in range(2, self.order + 1):
            context[1:] = previous[:-1]
            # The first token of a sample has only <s> before it.
            context[starts] = self.n_classes if k == 2 else -2
            if k == 2:
                # Every context is a word or <s>: np.take's fast path.
                result += np.take(self.log_backoff[0], context, mode="clip")
            else:
                result += self._weights_at(k, context)
            # Negative contexts give negative keys, which no table holds.
            np.multiply(context, self.base, out=key)
            key += ids
            stored = context >= 0 if k > 2 else None
            if stored is not None and 2 * np.count_nonzero(stored) <= n:
                # Most contexts are not stored (the higher orders): look up
                # only the keys that can match.
                stored = np.flatnonzero(stored)
                index = np.full(n, -1, dtype=np.intp)
                index[stored] = self._hash(k).lookup(key[stored], compiled=False)
            else:
                index = self._hash(k).lookup(key, compiled=False)
            table = self._float_table(k - 1)
            if len(table):
                # The longest match overwrites: a branch-free select on the
                # bits (np.where mispredicts on these irregular hits, at
                # about twice the cost). miss is -1 where index is -1.
                np.right_shift(index, miss.itemsize * 8 - 1, out=miss)
                found = table[index].view(np.int64)
                bits ^= found
                bits &= miss
                bits ^= found
            if lengths is not None:
                lengths[index >= 0] = k
            if k < self.order:
                # The k-grams ending on the first k - 2 tokens of a sample
                # reach back past <s>.
                short = (starts[:, None] + np.arange(k - 2)).ravel()
                index[short[short < n]] = -2
            previous = index

    def _float_table(self, i):
        """``log_prob[i]`` as float64 (which it is unless a caller gave other floats)."""
        table = self.log_prob[i]
        return table if table.dtype == np.float64 else table.astype(np.float64)

    def _order_arrays(self, k):
        """What :func:`~sklm.ngram._compiled.score_order` reads of order ``k``."""
        index = self._hash(k)
        keys, log_prob = index.keys, self._float_table(k - 1)
        if len(keys) == 0:
            # Read (and ignored: every slot is empty) where a key would be.
            keys, log_prob = np.zeros(1, dtype=np.int64), np.zeros(1)
        log_backoff = np.asarray(self.log_backoff[k - 2], dtype=np.float64)
        if len(log_backoff) == 0:
            log_backoff = np.zeros(1)  # read and ignored, as above
        special = np.array([self.unseen_log_backoff, 0.0])
        return (
            log_backoff.view(np.int64),
            special.view(np.int64),
            keys,
            index.slot_value,
            int(index.shift),
            log_prob.view(np.int64),
        )

    # contexts ------------------------------------------------------------------

    def tails(self, ids, offsets):
        """The last ``order - 1`` ids of each ``<s>``-opened context, right-aligned.

        Returns an int64 array of shape ``(n_contexts, order - 1)``; ``<s>`` is
        id ``V`` and -1 marks a position before ``<s>``.
        """
        lengths = np.diff(offsets)
        n_cols = self.order - 1
        tail = np.full((len(lengths), n_cols), -1, dtype=np.int64)
        for col in range(n_cols):
            # Position in "<s> tokens": 0 is <s>, lengths is the last token.
            pos = lengths - (n_cols - 1 - col)
            tail[pos == 0, col] = self.n_classes
            inside = pos > 0
            tail[inside, col] = ids[offsets[:-1][inside] + pos[inside] - 1]
        return tail

    def _advance(self, tail, previous, k):
        """Index in table ``k`` of the k-gram ending at each column (-1 if none)."""
        current = np.full(tail.shape, -1, dtype=np.int64)
        for col in range(k - 1, tail.shape[1]):
            context = previous[:, col - 1]
            ok = (context >= 0) & (tail[:, col] >= 0)
            current[ok, col] = self._find(k, context[ok] * self.base + tail[ok, col])
        return current

    def _context_weights(self, tail, previous, k):
        """Backoff paid by each row when going below the (k-1)-gram context."""
        context = previous[:, -1]
        stored = context >= 0
        fits = tail[:, tail.shape[1] - (k - 1)] >= 0
        weight = np.where(fits, self.unseen_log_backoff, 0.0)
        weight[stored] = self.log_backoff[k - 2][context[stored]]
        return weight, context, stored

    def log_prob_after(self, tail, words):
        """Log-probability of ``words[i]`` after the context ``tail[i]``."""
        words = np.asarray(words, dtype=np.int64)
        result = self.log_prob[0][words].astype(np.float64)
        previous = tail
        for k in range(2, self.order + 1):
            weight, context, stored = self._context_weights(tail, previous, k)
            result += weight
            index = np.full(len(words), -1, dtype=np.int64)
            index[stored] = self._find(k, context[stored] * self.base + words[stored])
            hit = index >= 0
            result[hit] = self.log_prob[k - 1][index[hit]]
            if k < self.order:
                previous = self._advance(tail, previous, k)
        return result

    def next_log_proba(self, tail):
        """Log-scores of every class after each context, shape ``(n, V)``.

        Starts from the unigram row and, order by order, overwrites the
        entries of the stored continuations; the backoff weights are kept as
        one offset per row and added once at the end.
        """
        n_rows, n_classes, base = len(tail), self.n_classes, self.base
        out = np.empty((n_rows, n_classes))
        out[:] = self.log_prob[0][:n_classes]
        offset = np.zeros(n_rows)
        previous = tail
        for k in range(2, self.order + 1):
            weight, context, stored = self._context_weights(tail, previous, k)
            # A zero backoff weight (mle) wipes out everything below this order.
            wiped = np.isneginf(weight)
            if wiped.any():
                out[wiped] = -np.inf
                offset[wiped] = 0.0
                weight[wiped] = 0.0
            offset += weight
            rows = np.flatnonzero(stored)
            table = self.keys[k - 1]
            start = context[rows] * base
            lo = np.searchsorted(table, start)
            hi = np.searchsorted(table, start + base)
            n_children = hi - lo
            total = int(n_children.sum())
            if total:
                first = np.cumsum(n_children) - n_children
                child = np.arange(total, dtype=np.int64) + np.repeat(lo - first, n_children)
                row = np.repeat(rows, n_children)
                out[row, table[child] - np.repeat(start, n_children)] = (
                    self.log_prob[k - 1][child] - offset[row]
                )
            if k < self.order:
                previous = self._advance(tail, previous, k)
        out += offset[:, None]
        return out


def word_columns(tables, k, rows):
    """Class ids (``<s>`` is ``V``) of the words of the ``k``-grams at ``rows``."""
    base = tables.base
    columns = np.empty((len(rows), k), dtype=np.int64)
    if k == 1:
        columns[:, 0] = rows
        return columns
    key = tables.keys[k - 1][rows]
    for j in range(k - 1, 0, -1):
        prefix = key // base
        columns[:, j] = key - prefix * base
        if j > 1:
            key = tables.keys[j - 1].take(prefix)
    columns[:, 0] = prefix
    return columns


class _CompiledRuns:
    """:meth:`BackoffTables.score_corpus` run by run in the compiled loop.

    Gathers what the loop reads of each order once per corpus, and its
    working arrays, as long as the longest run.
    """

    def __init__(self, tables, longest):
        from ._compiled import score_order

        self.score_order = score_order
        self.tables = tables
        self.orders = [tables._order_arrays(k) for k in range(2, tables.order + 1)]
        self.unigram = tables._float_table(0)
        self.key = np.empty(longest, dtype=np.int64)
        self.todo = np.empty(longest, dtype=np.intp)
        self.indexes = [np.empty(longest, dtype=np.intp), np.empty(longest, dtype=np.intp)]
        self.no_lengths = np.zeros(0, dtype=np.int64)

    def __call__(self, ids, starts, result, lengths):
        n = len(ids)
        tables = self.tables
        # mode="clip" (ids are in range): the fast path of np.take with out=.
        np.take(self.unigram, ids, out=result, mode="clip")
        # previous[p] is the index of the (k-1)-gram ending at position p.
        previous = ids
        for k, arrays in enumerate(self.orders, start=2):
            current = self.indexes[k % 2][:n]  # the two alternate
            self.score_order(
                ids,
                starts,
                previous,
                k,
                tables.order,
                tables.n_classes,
                *arrays,
                result.view(np.int64),
                current,
                self.no_lengths if lengths is None else lengths,
                self.key[:n],
                self.todo[:n],
                KEEP,
            )
            previous = current
