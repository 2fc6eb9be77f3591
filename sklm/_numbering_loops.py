"""The compiled loops of :class:`sklm._numbering.WordNumbering`.

Imported on first large call only: importing it loads Numba
(:mod:`sklm._compiled`).
"""

import numpy as np

from ._compiled import compiled, word_at
from ._text_encoding import MASK, MIX, MIX2, WORD

# The two int64 columns of a table row: a word's hash and its id (-1: empty).
HASH, ID = 0, 1


@compiled(inline="always")
def word_hash(buffer, start, length, hash_mask):
    """A 64-bit hash of the ``length`` bytes at byte ``start`` of ``buffer``, masked."""
    h = np.uint64(length) * MIX2
    for w in range((length + WORD - 1) // WORD):
        at = w * WORD
        h ^= word_at(buffer, start + at) & MASK[min(length - at, WORD)]
        h *= MIX
        h ^= h >> np.uint64(29)
    h ^= h >> np.uint64(32)
    h *= MIX2
    h ^= h >> np.uint64(29)
    return h & hash_mask


@compiled(inline="always")
def same_bytes(buffer, start, store, stored_start, length):
    """Whether ``length`` bytes of ``buffer`` from ``start`` equal those of ``store`` from
    ``stored_start`` (both uint64 words, compared 8 bytes at a time)."""
    for at in range(0, length, WORD):
        mask = MASK[min(length - at, WORD)]
        if (word_at(buffer, start + at) ^ word_at(store, stored_start + at)) & mask:
            return False
    return True


@compiled()
def find_or_insert(
    buffer,
    text,
    starts,
    lengths,
    begin,
    out,
    table,
    shift,
    store,
    stored_bytes,
    ends,
    state,
    max_words,
    hash_mask,
):
    """The id of each token from ``begin`` on, into ``out``; a new word gets the next id.

    Token ``i`` is ``lengths[i]`` bytes of ``text`` from byte ``starts[i]``;
    ``buffer`` is ``text`` read as uint64 words, padded. ``table`` holds
    ``(hash, id)`` rows, open addressing from the row of the hash's top bits
    (``64 - shift`` of them); every hash match is confirmed on the bytes,
    kept in ``stored_bytes`` (``store`` as uint64 words: word ``j`` ends at
    byte ``ends[j]``). ``state`` is ``[words, bytes]`` used, updated in place.

    Stops before a new word once ``max_words`` words are numbered or the
    store lacks room for it, and returns the token reached (``len(starts)``
    when done): the caller grows the arrays and calls again from there.
    """
    shift = np.uint64(shift)
    size_mask = len(table) - 1
    store_capacity = (len(store) - 2) * WORD
    n_words = state[0]
    n_bytes = state[1]
    for i in range(begin, len(starts)):
        start = starts[i]
        length = lengths[i]
        h = word_hash(buffer, start, length, hash_mask)
        key = np.int64(h)
        row = np.int64(h >> shift)
        while True:
            found = table[row, ID]
            if found < 0:
                break
            if table[row, HASH] == key:
                stored = ends[found - 1] if found > 0 else 0
                if ends[found] - stored == length and same_bytes(
                    buffer, start, store, stored, length
                ):
                    break
            row = (row + 1) & size_mask
        if found < 0:
            if n_words >= max_words or n_bytes + length > store_capacity:
                state[0] = n_words
                state[1] = n_bytes
                return i
            stored_bytes[n_bytes : n_bytes + length] = text[start : start + length]
            n_bytes += length
            found = n_words
            ends[found] = n_bytes
            table[row, HASH] = key
            table[row, ID] = found
            n_words += 1
        out[i] = found
    state[0] = n_words
    state[1] = n_bytes
    return len(starts)


@compiled()
def rehash(old, table, shift):
    """Move the rows of ``old`` into the larger empty ``table`` (``shift``: as in
    :func:`find_or_insert`), by their hashes."""
    shift = np.uint64(shift)
    size_mask = len(table) - 1
    for r in range(len(old)):
        if old[r, ID] >= 0:
            h = np.uint64(old[r, HASH])
            row = np.int64(h >> shift)
            while table[row, ID] >= 0:
                row = (row + 1) & size_mask
            table[row, HASH] = old[r, HASH]
            table[row, ID] = old[r, ID]
