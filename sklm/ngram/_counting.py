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


def count_ngrams(ids, offsets, n_classes, order):
    """Count the n-grams of orders 1 to ``order`` of an encoded corpus.

    Each sample is read as ``<s> ids... `` (the ids end with ``</s>``); no
    n-gram reaches back past its sample's ``<s>``.
    """
    bos = n_classes
    base = n_classes + 1
    padded, position = pad_samples(ids, offsets, bos)
    keys = [np.arange(base, dtype=np.int64)]
    counts = [np.bincount(padded, minlength=base).astype(np.int64)]
    suffix = [None]
    bos_initial = [keys[0] == bos]
    # Index of the (k-1)-gram ending at each position (-1 where none fits).
    previous = padded
    for k in range(2, order + 1):
        where = np.flatnonzero(position >= k - 1)
        key = previous[where - 1] * base + padded[where]
        table, inverse = np.unique(key, return_inverse=True)
        del key
        counts.append(np.bincount(inverse, minlength=len(table)).astype(np.int64))
        sfx = np.empty(len(table), dtype=np.int64)
        sfx[inverse] = previous[where]
        suffix.append(sfx)
        keys.append(table)
        bos_initial.append(bos_initial[-1][table // base])
        if k < order:
            current = np.full(len(padded), -1, dtype=np.int64)
            current[where] = inverse
            previous = current
        del inverse, where
    return NGramCounts(n_classes, keys, counts, suffix, bos_initial)


def continuation_counts(counts):
    """Kneser-Ney adjusted counts, KenLM's rules.

    The highest order keeps raw counts. A lower-order n-gram counts the
    distinct words seen immediately to its left (``<s>`` is one such word),
    except n-grams that begin with ``<s>``: nothing can precede them, so they
    keep their raw counts. The unigram ``<s>`` gets 0 (it is never predicted).
    """
    order = counts.order
    adjusted = []
    for k in range(1, order + 1):
        raw = counts.counts[k - 1]
        if k == order:
            a = raw.copy()
        else:
            a = np.bincount(counts.suffix[k], minlength=len(raw)).astype(np.int64)
            initial = counts.bos_initial[k - 1]
            a[initial] = raw[initial]
        if k == 1:
            a[counts.n_classes] = 0
        adjusted.append(a)
    return adjusted


def counts_of_counts(values, largest=4):
    """``n_1 .. n_largest``: how many of ``values`` equal 1, 2, ... ``largest``."""
    values = np.asarray(values)
    clipped = np.minimum(values, largest + 1)
    return np.bincount(clipped, minlength=largest + 2)[1 : largest + 1].astype(np.int64)
