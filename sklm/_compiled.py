"""The loops that NumPy cannot run fast, compiled by Numba.

Scoring and text encoding look up a key per token: in whole-array NumPy
passes that costs a pass per step and a branch the CPU mispredicts on every
other key. These loops run them in place, without the GIL, so threads scoring
parts of a corpus run side by side. The module is imported on first use:
``import sklm`` and the n-gram fits do not load Numba and LLVM (about 0.1 GB
of resident memory), except a fit with a ``memory_limit`` of 500 MB or more,
which numbers the words in a compiled hash table.
Compiled code is cached next to the module (``cache=True``).
"""

import numba
import numpy as np

from ._hashing import GOLDEN
from ._text_encoding import COLLISION, END, LONG, MASK, MIX, MIX2, WORD


def compiled(**options):
    """``numba.njit(nogil=True, cache=True, **options)``, uncached where it cannot be.

    Numba caches next to the module, else in the user's cache folder; where
    neither can be written (a read-only install and home), it refuses
    ``cache=True`` outright, and the function is then compiled in each
    process instead.
    """

    def decorate(function):
        try:
            return numba.njit(nogil=True, cache=True, **options)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(nogil=True, **options)(function)

    return decorate


# hash lookups --------------------------------------------------------------


@compiled()
def probe(keys, slot_value, shift, key):
    """Index of ``key`` in ``keys`` through the slots of a ``HashIndex``, -1 if absent.

    Probes from the key's home slot to the key or an empty slot: the way on
    for the few keys that :func:`lookup_into` cannot settle at once.
    ``shift`` is ``64 - bits``.
    """
    slot = (np.uint64(key) * GOLDEN) >> np.uint64(shift)
    while True:
        value = slot_value[slot]
        if value < 0:
            return -1
        if keys[value] == key:
            return value
        slot += np.uint64(1)


@compiled()
def lookup_into(keys, slot_value, shift, query, found, todo, keep):
    """Index in ``keys`` of each ``query`` key (-1 where absent), into ``found``.

    The compiled form of ``HashIndex.lookup``, in three passes that do
    not branch on the data (``keep`` is ``_hashing.KEEP``; ``todo`` is scratch of
    ``len(query)``): every key's home slot is read, then checked, and only the
    keys whose home slot holds another key probe on.
    """
    if len(keys) == 0:
        found[:] = -1
        return
    rotate = np.uint64(shift)
    for i in range(len(query)):
        found[i] = slot_value[(np.uint64(query[i]) * GOLDEN) >> rotate]
    n_todo = 0
    for i in range(len(query)):
        value = found[i]
        empty = value >> 63
        differ = np.int64(keys[value & ~empty] != query[i])
        todo[n_todo] = i
        n_todo += differ & (empty + 1)  # a filled slot holding another key
        found[i] = value | keep[differ | (empty & 1)]
    for j in range(n_todo):
        i = todo[j]
        found[i] = probe(keys, slot_value, shift, query[i])


# text encoding -------------------------------------------------------------


@compiled(inline="always")
def word_at(buffer, offset):
    """The 8 bytes from byte ``offset`` of ``buffer`` (uint64 words), little-endian."""
    q = offset >> 3
    r = np.uint64((offset & 7) * 8)
    # Shifted in two steps, so that r = 0 (a shift by 64) gives 0 without a
    # branch, which would mispredict on most tokens.
    return (buffer[q] >> r) | ((buffer[q + 1] << np.uint64(1)) << (np.uint64(63) - r))


@compiled()
def token_key(buffer, start, length):
    """The key of the token of ``length`` bytes at byte ``start``.

    The key ``_text_encoding._Tokens`` gives it in whole-array passes (the
    format of ``_text_encoding``'s doc, which model files store). A token
    over 16 bytes is keyed by a hash of all its words: each word mixed with
    its position, the mixes summed, one pass over its bytes however long.
    """
    first = word_at(buffer, start)
    if length <= WORD:
        return (first & MASK[length]) | END[length]
    if length <= 2 * WORD:
        second = word_at(buffer, start + WORD) & MASK[min(length - WORD, WORD)]
        h = second * MIX2
        h ^= first
        h *= MIX
        h ^= h >> np.uint64(29)
        h *= MIX2
        h ^= h >> np.uint64(32)
        return h | LONG
    total = np.uint64(0)
    for w in range((length + WORD - 1) // WORD):
        at = w * WORD
        word = word_at(buffer, start + at) & MASK[min(length - at, WORD)]
        h = word ^ (np.uint64(w) * MIX2)
        h *= MIX
        h ^= h >> np.uint64(29)
        h *= MIX2
        total += h
    h = total ^ np.uint64(length)
    h ^= h >> np.uint64(29)
    h *= MIX2
    h ^= h >> np.uint64(32)
    return h | LONG


@compiled()
def encode_tokens(
    buffer,
    bounds,
    edges,
    keys,
    slot_value,
    shift,
    lengths,
    long_row,
    vocabulary_words,
    vocabulary_first,
    has_long,
    unknown,
    ids,
    counts,
    query,
    todo,
    keep,
):
    """Ids of the tokens of ASCII bytes (``buffer``, uint64 words).

    Token ``i`` spans bytes ``bounds[2 * i]`` to ``bounds[2 * i + 1]``. Keys
    each token (:func:`token_key`, as ``_text_encoding._Tokens`` keys the
    vocabulary) and looks the keys up in the hash of
    the vocabulary's keys; the match of a long token is confirmed on its
    length and every 8-byte word. Text ``j`` starts at byte ``edges[j]``;
    ``counts[j]`` receives its number of tokens. A token whose hash met
    another token's gets ``COLLISION`` (the caller asks the dict). ``query``
    and ``todo`` are scratch of ``len(ids)``; ``keep`` is ``KEEP``, an
    argument so that the compiler cannot see through its masks (see
    :func:`lookup_into`). Returns the number of collisions. Compiled without
    the GIL.
    """
    n_texts = len(counts)
    current = 0
    n_long = 0
    for i in range(len(ids)):
        start = bounds[2 * i]
        length = bounds[2 * i + 1] - start
        query[i] = np.int64(token_key(buffer, start, length))
        todo[n_long] = i  # a list of the long tokens, without a branch
        n_long += length > WORD
        while current + 1 < n_texts and edges[current + 1] <= start:
            current += 1
        counts[current] += 1
    long_tokens = todo[:n_long].copy()
    lookup_into(keys, slot_value, shift, query, ids, todo, keep)
    n_collisions = 0
    for i in long_tokens:
        found = ids[i]
        if found < 0:
            continue
        # A hash: the match must have the token's bytes.
        start = bounds[2 * i]
        length = bounds[2 * i + 1] - start
        row = long_row[found]
        same = has_long and row >= 0 and lengths[found] == length
        if same:
            at = vocabulary_first[row]
            for w in range((length + WORD - 1) // WORD):
                word = word_at(buffer, start + w * WORD)
                word &= MASK[min(length - w * WORD, WORD)]
                if vocabulary_words[at + w] != word:
                    same = False
                    break
        if not same:
            ids[i] = COLLISION
            n_collisions += 1
    for i in range(len(ids)):
        # -1 (absent) reads as the unknown id.
        found = ids[i]
        unseen = keep[np.int64(found == -1)]
        ids[i] = (found & ~unseen) | (unknown & unseen)
    return n_collisions
