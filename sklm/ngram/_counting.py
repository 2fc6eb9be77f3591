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


def pad_samples(ids, offsets, bos):
    """Put ``bos`` in front of every sample of a flat id array.

    Returns
    -------
    padded : ndarray of int64
        The ids with one ``bos`` before each sample.
    position : ndarray of int64
        The position of every entry of ``padded`` inside its sample
        (0 for the ``bos``).
    """
    n_samples = len(offsets) - 1
    starts = offsets[:-1] + np.arange(n_samples, dtype=np.int64)
    padded = np.empty(len(ids) + n_samples, dtype=np.int64)
    is_token = np.ones(len(padded), dtype=bool)
    is_token[starts] = False
    padded[starts] = bos
    padded[is_token] = ids
    position = np.arange(len(padded), dtype=np.int64)
    position -= np.repeat(starts, np.diff(offsets) + 1)
    return padded, position


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
    """

    n_classes: int
    keys: list
    counts: list
    suffix: list
    bos_initial: list

    @property
    def order(self):
        return len(self.keys)

    @property
    def base(self):
        return self.n_classes + 1

    def context(self, k):
        """Index in table ``k - 1`` of the first ``k - 1`` words of each k-gram."""
        return self.keys[k - 1] // self.base

    def word(self, k):
        """Last word of each k-gram."""
        return self.keys[k - 1] % self.base

    def release(self, k):
        """Free what only orders up to ``k`` read (once order ``k`` is estimated)."""
        self.counts[k - 1] = None
        self.suffix[k - 1] = None
        if k >= 2:
            self.bos_initial[k - 2] = None


def _ngram_groups(previous, padded, too_short, base, want_inverse):
    """Sort the k-grams of every position into groups of equal n-grams.

    The key of the k-gram ending at position ``p + 1`` is
    ``previous[p] * base + padded[p + 1]``, or -1 where ``too_short[p]`` (no
    k-gram fits there). Returns the distinct keys (sorted), the sorting
    permutation, the start of each group in sorted order, and the group of
    every position (int32 where it fits, to keep large corpora lean; only
    if ``want_inverse``).
    """
    key = previous[:-1].astype(np.int64)
    key *= base
    key += padded[1:]
    key[too_short] = -1
    # A stable sort is the faster one on n-gram keys, which arrive in long
    # partly ordered runs.
    perm = np.argsort(key, kind="stable")
    ordered = key[perm]
    del key
    new = np.empty(len(ordered), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    table = ordered[starts]
    del ordered
    if not want_inverse:
        return table, perm, starts, None
    index_type = np.int32 if len(starts) < 2**31 else np.int64
    inverse = np.empty(len(perm), dtype=index_type)
    inverse[perm] = np.cumsum(new, dtype=index_type) - 1
    return table, perm, starts, inverse


def count_ngrams(ids, offsets, n_classes, order):
    """Count the n-grams of orders 1 to ``order`` of an encoded corpus.

    Each sample is read as ``<s> ids... `` (the ids end with ``</s>``); no
    n-gram reaches back past its sample's ``<s>``.
    """
    bos = n_classes
    base = n_classes + 1
    padded, position = pad_samples(ids, offsets, bos)
    if base < 2**31:
        padded = padded.astype(np.int32)
    n_positions = len(padded)
    keys = [np.arange(base, dtype=np.int64)]
    count_type = np.int32 if len(padded) < 2**31 else np.int64
    counts = [np.bincount(padded, minlength=base).astype(count_type)]
    suffix = [None]
    bos_initial = [keys[0] == bos]
    # Only "at least k - 1 words after <s>" matters; a byte keeps it small.
    position = np.minimum(position, order).astype(np.uint8)
    # Index of the (k-1)-gram ending at each position (-1 where none fits).
    previous = padded
    for k in range(2, order + 1):
        table, perm, starts, inverse = _ngram_groups(
            previous, padded, position[1:] < k - 1, base, want_inverse=k < order
        )
        ends = np.append(starts[1:], len(perm))
        if len(table) and table[0] == -1:
            # Drop the group of positions where no k-gram fits.
            table, starts, ends = table[1:], starts[1:], ends[1:]
            if inverse is not None:
                inverse -= 1
        counts.append((ends - starts).astype(count_type))
        # Every position of a group has the same suffix; read the first's.
        suffix.append(previous[perm[starts] + 1])
        del perm
        keys.append(table)
        bos_initial.append(bos_initial[-1][table // base])
        if k < order:
            if previous is padded or previous.dtype != inverse.dtype:
                previous = np.empty(n_positions, dtype=inverse.dtype)
            # Otherwise the (k-1)-gram indexes are read no more: overwrite them.
            previous[0] = -1
            previous[1:] = inverse
        del inverse
    return NGramCounts(n_classes, keys, counts, suffix, bos_initial)


def continuation_counts(counts, k):
    """Kneser-Ney adjusted counts of order ``k``, KenLM's rules.

    The highest order keeps raw counts. A lower-order n-gram counts the
    distinct words seen immediately to its left (``<s>`` is one such word),
    except n-grams that begin with ``<s>``: nothing can precede them, so they
    keep their raw counts. The unigram ``<s>`` gets 0 (it is never predicted).
    """
    raw = counts.counts[k - 1]
    if k == counts.order:
        # Read only by every caller: no copy (the highest order is the largest).
        adjusted = raw if k > 1 else raw.copy()
    else:
        adjusted = np.bincount(counts.suffix[k], minlength=len(raw)).astype(raw.dtype)
        initial = counts.bos_initial[k - 1]
        adjusted[initial] = raw[initial]
    if k == 1:
        adjusted[counts.n_classes] = 0
    return adjusted


def counts_of_counts(values, largest=4):
    """``n_1 .. n_largest``: how many of ``values`` equal 1, 2, ... ``largest``."""
    values = np.asarray(values)
    clipped = np.minimum(values, largest + 1)
    return np.bincount(clipped, minlength=largest + 2)[1 : largest + 1].astype(np.int64)
