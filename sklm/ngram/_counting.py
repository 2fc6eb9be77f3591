"""Vectorized n-gram counting.

Every n-gram of order ``k >= 2`` is identified by one int64 key,
``prefix * (V + 1) + word``, where ``prefix`` is the index of its first
``k - 1`` words in the sorted table of order ``k - 1`` and ``V`` the number
of classes. The unigram table is dense: the index of a unigram is the word id
itself, with the sentence start ``<s>`` at id ``V`` (it is context only, never
a class). Keys stay far below ``2**63`` because a table never holds more
entries than the corpus has positions.
"""

from dataclasses import dataclass

import numpy as np

from .._allocator import release_free_memory


@dataclass
class NGramCounts:
    """Raw counts of every n-gram of a corpus, order by order.

    Attributes
    ----------
    n_classes : int
        ``V``; ``<s>`` has id ``V`` and keys use the base ``V + 1``.
    keys : list of ndarray
        ``keys[k - 1]``, sorted, for order ``k >= 2``; ``keys[0]`` is
        ``arange(V + 1)`` (the dense unigram table).
    counts : list of ndarray
        Raw count of every entry of ``keys[k - 1]``.
    suffix : list of ndarray
        ``suffix[k - 1]``: index in table ``k - 1`` of each k-gram without its
        first word (``None`` for unigrams).
    bos_initial : list of ndarray of bool
        Whether each entry begins with ``<s>``.
    continuation : list of ndarray or None
        ``continuation[k - 1]``: the number of distinct words seen to the
        left of each entry of order ``k < order``, where the counting gave
        them (a Dask fit counts them on the workers); None: from ``suffix``.
    """

    n_classes: int
    keys: list
    counts: list
    suffix: list
    bos_initial: list
    continuation: list | None = None

    @property
    def order(self):
        return len(self.keys)

    @property
    def base(self):
        return self.n_classes + 1

    def context(self, k, allocate=None):
        """Index in table ``k - 1`` of the first ``k - 1`` words of each k-gram.

        Sorted, as the keys are; int32 where table ``k - 1`` allows it. The
        array comes from ``allocate(n, dtype)`` if given (see
        :func:`~sklm.ngram._smoothing.estimate`), else from NumPy.
        """
        return _prefix(self.keys[k - 1], self.base, len(self.keys[k - 2]), allocate)

    def word(self, k):
        """Last word of each k-gram."""
        return self.keys[k - 1] % self.base

    def release(self, k):
        """Free what only orders up to ``k`` read (once order ``k`` is estimated)."""
        self.counts[k - 1] = None
        self.suffix[k - 1] = None
        if self.continuation is not None:
            self.continuation[k - 1] = None
        if k >= 2:
            self.bos_initial[k - 2] = None


def _prefix(keys, base, n_prefixes, allocate=None):
    """``keys // base``, int32 where ``n_prefixes`` allows it, in ``allocate``'s array if given."""
    dtype = np.int32 if n_prefixes < 2**31 else np.int64
    out = np.empty(len(keys), dtype=dtype) if allocate is None else allocate(len(keys), dtype)
    # Divided into the narrower type directly: no int64 copy of the order.
    return np.floor_divide(keys, base, out=out, casting="unsafe")


# Positions grouped in one sort. Each order is counted part by part, every
# part a range of contexts, so that the sort's keys, permutation and buffers
# exist for one part at a time, not for a whole order of a large corpus.
_PART = 1 << 20


def _context_ranges(context_counts, n_positions, part_size):
    """Boundaries of context ranges that hold about ``part_size`` positions each.

    ``context_counts[c]`` bounds the number of positions whose context is
    ``c`` (the raw count of ``c``).
    """
    n_contexts = len(context_counts)
    n_parts = -(-n_positions // part_size)
    if n_parts <= 1:
        return np.array([0, n_contexts])
    cumulative = np.cumsum(context_counts, dtype=np.int64)
    targets = np.arange(1, n_parts) * (cumulative[-1] / n_parts)
    cuts = np.searchsorted(cumulative, targets, side="right")
    return np.unique(np.concatenate([[0], cuts, [n_contexts]]))


def sort_keys(keys, bound):
    """``(ordered, perm)``: ``keys`` (int64, from 0 to ``bound - 1``) sorted,
    and the stable permutation that sorts them. ``keys`` may be overwritten.

    Where the keys leave room for their positions below them, one sort of
    the packed values in place (NumPy's vectorized sort: about 8x faster
    than a stable argsort of n-gram keys); else a stable argsort.
    """
    n = len(keys)
    bits = max(n.bit_length(), 1)
    if bound <= 1 << (63 - bits):
        keys <<= bits
        keys |= np.arange(n, dtype=np.int64)
        keys.sort()
        perm = keys & ((1 << bits) - 1)
        keys >>= bits
        return keys, perm
    perm = np.argsort(keys, kind="stable")
    return keys[perm], perm


def _count_order(context, ids, previous, base, ranges, next_index, count_type):
    """Group the k-grams of every position, one range of contexts at a time.

    The k-gram ending at position ``p`` is ``(context[p], ids[p])``, where
    ``context[p]`` is the index of its first ``k - 1`` words in table
    ``k - 1`` (-1 where no k-gram ends at ``p``), and ``previous[p]`` that of
    its last ``k - 1`` words. Returns the sorted distinct keys, their counts
    and suffixes. If ``next_index`` is given, the index of the k-gram ending
    at each position (-1 where none) is written into it; it may be
    ``previous`` itself, which each range reads only at its own positions
    before writing them.
    """
    index_type = context.dtype
    inside = context >= 0
    # At most one distinct k-gram per position: room enough, and the pages
    # never written are never mapped in.
    n_fit = int(np.count_nonzero(inside))
    table = np.empty(n_fit, dtype=np.int64)
    counts = np.empty(n_fit, dtype=count_type)
    suffix = np.empty(n_fit, dtype=index_type)
    below = np.empty(len(context), dtype=bool)
    n_groups = 0
    for lo, hi in zip(ranges[:-1].tolist(), ranges[1:].tolist()):
        np.greater_equal(context, lo, out=inside)
        np.less(context, hi, out=below)
        inside &= below
        position = np.flatnonzero(inside)
        key = context[position].astype(np.int64)
        key *= base
        key += ids[position]
        ordered, perm = sort_keys(key, hi * base)
        del key
        new = np.empty(len(ordered), dtype=bool)
        new[:1] = True
        np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        done = n_groups + len(starts)
        table[n_groups:done] = ordered[starts]
        del ordered
        counts[n_groups:done] = np.diff(starts, append=len(perm))
        # Every position of a group has the same suffix; read the first's.
        suffix[n_groups:done] = previous[position[perm[starts]]]
        del starts
        if next_index is not None:
            group = np.cumsum(new, dtype=index_type)
            group += n_groups - 1
            next_index[position[perm]] = group
            del group
        n_groups = done
        del position, perm, new
    del inside, below
    if next_index is not None:
        next_index[context < 0] = -1
    for array in (table, counts, suffix):
        # Only this function holds them: shrink in place, without a copy.
        array.resize(n_groups, refcheck=False)
    return table, counts, suffix


def count_ngrams(ids, offsets, n_classes, order, *, part_size=_PART):
    """Count the n-grams of orders 1 to ``order`` of an encoded corpus.

    Each sample is read as ``<s> ids... `` (the ids end with ``</s>``); no
    n-gram reaches back past its sample's ``<s>``. The ``<s>`` are implicit:
    every position of ``ids`` is where one n-gram of each order ends, if it
    fits after its sample's ``<s>``.
    """
    bos = n_classes
    base = n_classes + 1
    ids = np.asarray(ids)
    n_positions = len(ids)
    index_type = np.int32 if max(n_positions, base) < 2**31 else np.int64
    count_type = np.int32 if n_positions + len(offsets) < 2**31 else np.int64
    first = np.asarray(offsets[:-1], dtype=np.int64)
    first = first[first < n_positions]
    keys = [np.arange(base, dtype=np.int64)]
    unigrams = np.bincount(ids, minlength=base).astype(count_type)
    unigrams[bos] = len(offsets) - 1
    counts = [unigrams]
    suffix = [None]
    bos_initial = [keys[0] == bos]
    # previous[p]: index of the (k-1)-gram ending at position p, -1 where
    # none fits; for unigrams, the word itself.
    previous = ids
    context = np.empty(n_positions if order > 1 else 0, dtype=index_type)
    for k in range(2, order + 1):
        # The k-gram ending at p extends the (k-1)-gram ending at p - 1; at a
        # sample's first position, only <s> precedes (a whole context for
        # bigrams only).
        context[1:] = previous[:-1]
        context[first] = bos if k == 2 else -1
        if k == order:
            next_index = None
        elif previous is ids:
            next_index = np.empty(n_positions, dtype=index_type)
        else:
            # The (k-1)-gram indexes are read no more once replaced.
            next_index = previous
        ranges = _context_ranges(counts[-1], n_positions, part_size)
        table, order_counts, order_suffix = _count_order(
            context, ids, previous, base, ranges, next_index, count_type
        )
        if k == order:
            del context
        previous = next_index
        keys.append(table)
        counts.append(order_counts)
        suffix.append(order_suffix)
        bos_initial.append(bos_initial[-1][_prefix(table, base, len(keys[-2]))])
        release_free_memory()
    return NGramCounts(n_classes, keys, counts, suffix, bos_initial)


def continuation_counts(counts, k, out=None, block=None):
    """Kneser-Ney adjusted counts of order ``k``, KenLM's rules.

    The highest order keeps raw counts. A lower-order n-gram counts the
    distinct words seen immediately to its left (``<s>`` is one such word),
    except n-grams that begin with ``<s>``: nothing can precede them, so they
    keep their raw counts. The unigram ``<s>`` gets 0 (it is never predicted).

    If ``out`` is given (zeros, one per entry of order ``k``, of the counts'
    dtype), the counts are made in it ``block`` entries at a time (all at
    once if None), with no temporary the size of the order; the highest order
    of ``k >= 2`` still returns the raw counts themselves.
    """
    raw = counts.counts[k - 1]
    if out is not None:
        return _continuation_counts_into(counts, k, out, block or max(len(raw), 1))
    if k == counts.order:
        # Read only by every caller: no copy (the highest order is the largest).
        adjusted = raw if k > 1 else raw.copy()
    else:
        if counts.continuation is not None:
            adjusted = counts.continuation[k - 1].astype(raw.dtype)
        else:
            adjusted = np.bincount(counts.suffix[k], minlength=len(raw)).astype(raw.dtype)
        initial = counts.bos_initial[k - 1]
        adjusted[initial] = raw[initial]
    if k == 1:
        adjusted[counts.n_classes] = 0
    return adjusted


def _continuation_counts_into(counts, k, out, block):
    """:func:`continuation_counts` made in ``out`` (zeros), ``block`` entries at a time."""
    raw = counts.counts[k - 1]
    if k == counts.order:
        if k > 1:
            return raw
        out[:] = raw
    else:
        if counts.continuation is not None:
            given = counts.continuation[k - 1]
            for start in range(0, len(out), block):
                out[start : start + block] = given[start : start + block]
        else:
            _add_counts(counts.suffix[k], out, block)
        initial = counts.bos_initial[k - 1]
        for start in range(0, len(out), block):
            part = slice(start, start + block)
            np.copyto(out[part], raw[part], where=initial[part])
    if k == 1:
        out[counts.n_classes] = 0
    return out


def _add_counts(index, out, block=1 << 20):
    """``out[i] += 1`` for each ``i`` of ``index``, with no copy of either.

    ``np.add.at`` a ``block`` of ``index`` at a time: its intp copy of the
    indexes stays the size of a block. ``np.bincount`` would count into a
    new array as long as ``out`` at every block, since the indexes are in
    no order. (A compiled loop is about 1.4x faster, 27 ms against 40 ms for
    6M random indexes, but loading Numba for it costs a fit about 0.1 GB of
    resident memory.) The 1 is of ``out``'s dtype: a Python int would send
    an int32 ``out`` down NumPy's slow path, about 15x slower.
    """
    one = out.dtype.type(1)
    for start in range(0, len(index), block):
        np.add.at(out, index[start : start + block], one)


def counts_of_counts(values, largest=4, block=None):
    """``n_1 .. n_largest``: how many of ``values`` equal 1, 2, ... ``largest``.

    Counted ``block`` values at a time if given (the same numbers, with no
    temporary the size of ``values``), else in one pass.
    """
    values = np.asarray(values)
    if block is None:
        clipped = np.minimum(values, largest + 1)
        return np.bincount(clipped, minlength=largest + 2)[1 : largest + 1].astype(np.int64)
    n = np.zeros(largest + 2, dtype=np.int64)
    for start in range(0, len(values), block):
        clipped = np.minimum(values[start : start + block], largest + 1)
        n += np.bincount(clipped, minlength=largest + 2)
    return n[1 : largest + 1]


def combine_counts(parts, word_maps, n_classes):
    """The counts of the concatenation of corpora counted apart.

    Parameters
    ----------
    parts : list of NGramCounts
        Counts of the same order (none released).
    word_maps : list of ndarray
        ``word_maps[i][j]``: the combined id of word ``j`` of part ``i``,
        for ``j`` in ``0 .. parts[i].n_classes`` (its ``<s>`` last, mapped to
        ``n_classes``). Several words may map to one (to ``<unk>``, when a
        vocabulary learnt from all the parts leaves them out).
    n_classes : int
        ``V`` of the combined counts.

    Returns
    -------
    NGramCounts
        Exactly what :func:`count_ngrams` gives on the concatenation of the
        parts' corpora, each word mapped: an n-gram count is a sum over
        samples, and mapping the words maps the n-grams.
    """
    base = n_classes + 1
    total = sum(int(part.counts[0].sum()) for part in parts)
    count_type = np.int32 if total < 2**31 else np.int64
    # maps[i]: index in the combined table of order k - 1 of each entry of
    # part i's table of order k - 1 (for unigrams, the word map).
    maps = [np.asarray(m, dtype=np.int64) for m in word_maps]
    # Sums of integer counts in float64 weights: exact below 2**53.
    unigrams = np.zeros(base, dtype=np.int64)
    for part, m in zip(parts, maps):
        unigrams += np.bincount(m, weights=part.counts[0], minlength=base).astype(np.int64)
    keys = [np.arange(base, dtype=np.int64)]
    counts = [unigrams.astype(count_type)]
    suffix = [None]
    bos_initial = [keys[0] == n_classes]
    for k in range(2, parts[0].order + 1):
        pieces = []
        for part, m, word_map in zip(parts, maps, word_maps):
            key = m[part.context(k)]
            key *= base
            key += word_map[part.word(k)]
            pieces.append(key)
        table, inverse = np.unique(np.concatenate(pieces), return_inverse=True)
        del pieces
        index_type = np.int32 if len(table) < 2**31 else np.int64
        summed = np.zeros(len(table), dtype=np.int64)
        order_suffix = np.empty(len(table), dtype=index_type)
        initial = np.empty(len(table), dtype=bool)
        new_maps = np.split(inverse.ravel(), np.cumsum([len(p.keys[k - 1]) for p in parts])[:-1])
        for part, m, new in zip(parts, maps, new_maps):
            summed += np.bincount(new, weights=part.counts[k - 1], minlength=len(table)).astype(
                np.int64
            )
            # Entries merged into one share their suffix and first word.
            order_suffix[new] = m[part.suffix[k - 1]]
            initial[new] = part.bos_initial[k - 1]
        keys.append(table)
        counts.append(summed.astype(count_type))
        suffix.append(order_suffix)
        bos_initial.append(initial)
        maps = new_maps
    return NGramCounts(n_classes, keys, counts, suffix, bos_initial)
