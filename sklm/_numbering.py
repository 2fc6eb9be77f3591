"""Distinct words numbered in order of first appearance, by their UTF-8 bytes.

A first pass over a large corpus gives every distinct word an id. A dict of
str does it with a new string object per token and a dict probe per token,
and it keeps a Python string per word. Here, once a call is large, the
words live as UTF-8 bytes in one growing array, the tokens of texts are
found in whole-array passes over their UTF-8 bytes (as in
:mod:`sklm._text_encoding`), and each token is looked up by a 64-bit key,
every match confirmed on the bytes (two words sharing a key still get two
ids). The lookup runs in one of two structures:

``"table"``
    An open-addressing hash table of the keys, probed in a loop compiled by
    Numba (:mod:`sklm._numbering_loops`): the fastest, but Numba's code and
    LLVM take about 0.1 GB of resident memory.
``"arrays"``
    The keys sorted, in whole-array NumPy passes: the distinct keys of a
    call are found by a sort and searched among the known ones. No Numba;
    about 16 bytes per word besides the bytes.

Small calls, until a large one comes, use a dict of str, which gives the
same ids without either.
"""

from bisect import bisect_left
from collections import defaultdict
from itertools import chain

import numpy as np

from ._hashing import GOLDEN
from ._parallel import use_compiled
from ._text_encoding import WORD, bound_pairs, hash_words, marked_words, padded, token_words

# The table is grown by doubling once it is half full.
_MIN_ROWS = 1024
# A hash mask that keeps the whole hash (tests narrow it to force collisions).
_WHOLE_HASH = np.uint64(0xFFFFFFFFFFFFFFFF)
# The arrays' key of a token of 8 bytes or more: a hash of its bytes with
# the top byte set. A shorter token's key is its bytes and a 0x80 mark just
# past them (its top byte is 0 or that mark), so the two kinds never meet and
# a short key is exact.
_HASHED = np.uint64(0xFF << 56)
_SHORT = WORD - 1
STRUCTURES = ("table", "arrays")


class WordNumbering:
    """Ids of distinct words in order of first appearance.

    Parameters
    ----------
    first_words : list of str or None
        The words of the first ids, in order; None reserves an id that no
        word gets (the end of a sample, say).
    large : {"table", "arrays"}, default="table"
        Where the words go once a call is large (see the module): the
        compiled hash table (Numba) or sorted arrays (NumPy only).
    hash_mask : int, default=2**64 - 1
        The bits of the 64-bit hash kept. Lowering it makes distinct words
        share hashes: a seam that checks that every match is confirmed on
        the bytes; the ids do not depend on it.

    Examples
    --------
    >>> numbering = WordNumbering(["<unk>", None])
    >>> numbering.encode_texts(["a b a", "<unk> c"], end=1).tolist()
    [2, 3, 2, 1, 0, 4, 1]
    >>> len(numbering)
    5
    """

    def __init__(self, first_words, *, large="table", hash_mask=_WHOLE_HASH):
        if large not in STRUCTURES:
            raise ValueError(f"large must be one of {STRUCTURES}, got {large!r}.")
        # A dict whose factory is its own length numbers a new word inside
        # C-level map(); None keys are the reserved ids.
        self._lookup = defaultdict(None, zip(first_words, range(len(first_words))))
        self._lookup.default_factory = self._lookup.__len__
        self.large = large
        self._hash_mask = np.uint64(hash_mask)
        self._table = None
        self._sorted_keys = None

    def __len__(self):
        if self._lookup is not None:
            return len(self._lookup)
        return int(self._state[0])

    def encode_texts(self, texts, end, *, force=None):
        """The ids of the whitespace-separated tokens of ``texts``, each text closed by ``end``.

        ``force=True`` moves the words to the ``large`` structure now; None
        does so once a call is large (:func:`~sklm._parallel.use_compiled`).
        Every way gives the same ids.

        Returns
        -------
        ids : ndarray of int64
        """
        if self._use_large(sum(map(len, texts)), force):
            encoded = _split_bytes(texts)
            if encoded is not None:
                return self._encode_bytes(*encoded, end)
        return self.encode_token_lists(list(map(str.split, texts)), end, force=force)

    def encode_token_lists(self, samples, end, *, force=None):
        """The ids of the tokens of ``samples`` (lists of str), each sample closed by ``end``.

        Returns
        -------
        ids : ndarray of int64
        """
        counts = np.fromiter(map(len, samples), dtype=np.int64, count=len(samples))
        tokens = chain.from_iterable(samples)
        if self._use_large(int(counts.sum()), force):
            ids = self._find_or_insert(*utf8_tokens(list(tokens)))
        else:
            ids = np.fromiter(
                map(self._lookup.__getitem__, tokens), dtype=np.int64, count=int(counts.sum())
            )
        return closed_samples(ids, counts, end)

    def words_utf8(self):
        """The words by id as ``(utf8, ends)``: word ``i`` is ``utf8[ends[i - 1]:ends[i]]``.

        A reserved id has an empty entry. The arrays are copies.
        """
        if self._lookup is not None:
            utf8, starts, lengths = utf8_tokens([w or "" for w in self._lookup])
            return np.frombuffer(utf8, dtype=np.uint8).copy(), starts + lengths
        n_words, n_bytes = (int(n) for n in self._state)
        return self._bytes[:n_bytes].copy(), self._ends[:n_words].copy()

    def close(self):
        """Free the words (the dict holds its own method: a cycle the collector
        may not reach soon)."""
        if self._lookup is not None:
            self._lookup.default_factory = None
        self._lookup = self._table = self._store = self._bytes = self._ends = None
        self._sorted_keys = self._sorted_ids = self._collided = None

    # the move from the dict ---------------------------------------------------

    def _use_large(self, size, force):
        """Whether a call of ``size`` runs on the large structure, moving the
        dict's words there (same ids) the first time."""
        if self._lookup is None:
            return True
        if not (force or (force is None and use_compiled(size))):
            return False
        words = list(self._lookup)
        self._lookup.default_factory = None
        self._lookup = None
        self._state = np.zeros(2, dtype=np.int64)
        self._store = np.zeros(2, dtype=np.uint64)
        self._bytes = self._store.view(np.uint8)
        self._ends = np.zeros(0, dtype=np.int64)
        if self.large == "table":
            self._table = np.full((_MIN_ROWS, 2), -1, dtype=np.int64)
        else:
            self._sorted_keys = np.zeros(0, dtype=np.uint64)
            self._sorted_ids = np.zeros(0, dtype=np.int64)
            # Words whose key an earlier word has: their bytes to their ids,
            # and those keys (sorted), which send a call to the exact loop.
            self._collided = {}
            self._collided_keys = np.zeros(0, dtype=np.uint64)
        # Runs of words between the reserved ids, each numbered in order.
        at = 0
        while at < len(words):
            if words[at] is None:
                self._reserve(1)
                self._ends[self._state[0]] = self._state[1]
                self._state[0] += 1
                at += 1
                continue
            stop = words.index(None, at) if None in words[at:] else len(words)
            ids = self._find_or_insert(*utf8_tokens(words[at:stop]))
            if not np.array_equal(ids, np.arange(at, stop)):
                raise ValueError("the first words of a WordNumbering must be distinct.")
            at = stop
        return True

    def _reserve(self, n_words, n_bytes=0):
        """Room for ``n_words`` more words of ``n_bytes`` bytes, grown by doubling."""
        need = int(self._state[0]) + n_words
        if self._table is not None and 2 * need > len(self._table):
            from ._numbering_loops import rehash

            rows = len(self._table)
            while 2 * need > rows:
                rows *= 2
            table = np.full((rows, 2), -1, dtype=np.int64)
            rehash(self._table, table, _shift(rows))
            self._table = table
        if need > len(self._ends):
            self._ends = _grown(self._ends, need)
        need_words = (int(self._state[1]) + n_bytes + WORD - 1) // WORD + 2
        if need_words > len(self._store):
            self._store = _grown(self._store, need_words)
            self._bytes = self._store.view(np.uint8)

    def _find_or_insert(self, data, starts, lengths):
        """The ids of the tokens ``data[starts[i]:starts[i] + lengths[i]]`` (bytes)."""
        if self._table is None:
            return self._find_or_insert_arrays(data, starts, lengths)
        from ._numbering_loops import find_or_insert

        buffer = padded(data)
        text = buffer.view(np.uint8)
        out = np.empty(len(starts), dtype=np.int64)
        at = 0
        while at < len(starts):
            # Room for a block of new words, or for the one that stopped the loop.
            block = min(len(starts) - at, max(len(self._table) // 4, 1))
            self._reserve(block, max(int(lengths[at]), block * 16))
            at = find_or_insert(
                buffer,
                text,
                starts,
                lengths,
                at,
                out,
                self._table,
                _shift(len(self._table)),
                self._store,
                self._bytes,
                self._ends,
                self._state,
                min(len(self._table) // 2, len(self._ends)),
                self._hash_mask,
            )
        return out

    # the sorted arrays --------------------------------------------------------

    def _keys(self, buffer, starts, lengths):
        """The arrays' key of each token (see ``_HASHED``), mixed (times an odd
        number: still one key per word, with the top bits spread for
        :func:`_first_seen`), and the hashed tokens with their words
        (:func:`~sklm._text_encoding.token_words`), for the confirmation."""
        keys = marked_words(buffer, starts, lengths)
        hashed = np.flatnonzero(lengths > _SHORT)
        words = token_words(buffer, starts[hashed], lengths[hashed])
        if len(hashed):
            h = hash_words(*words, lengths[hashed])
            h &= self._hash_mask
            h |= _HASHED
            keys[hashed] = h
        keys *= GOLDEN
        return keys, hashed, words[0]

    def _find_or_insert_arrays(self, data, starts, lengths):
        """:meth:`_find_or_insert` on the sorted keys, in whole-array passes.

        The call's distinct keys (one sort) are searched among the known
        ones; the new ones get ids in order of first appearance. Every
        hashed token is then compared with its word's bytes: where two words
        share a key (in this call, or one of them before), the call is undone
        and run by the exact loop (:meth:`_find_or_insert_exact`).
        """
        buffer = padded(data)
        keys, hashed, words = self._keys(buffer, starts, lengths)
        if len(self._collided_keys) and np.isin(keys, self._collided_keys).any():
            return self._find_or_insert_exact(data, starts, lengths, keys)
        distinct, first, inverse = _first_seen(keys)
        # Both sorted: the search walks the known keys once.
        known = self._sorted_keys
        at = np.searchsorted(known, distinct)
        found = at < len(known)
        found[found] = known[at[found]] == distinct[found]
        ids = np.full(len(distinct), -1, dtype=np.int64)
        ids[found] = self._sorted_ids[at[found]]
        new = np.flatnonzero(~found)
        by_appearance = new[np.argsort(first[new], kind="stable")]
        n_words, n_bytes = (int(n) for n in self._state)
        ids[by_appearance] = np.arange(n_words, n_words + len(new))
        self._append_words(buffer, starts[first[by_appearance]], lengths[first[by_appearance]])
        out = ids[inverse]
        if not self._same_bytes(words, lengths[hashed], out[hashed]):
            self._state[:] = n_words, n_bytes  # the new words forgotten
            return self._find_or_insert_exact(data, starts, lengths, keys)
        self._add_keys(distinct[new], ids[new])
        return out

    def _append_words(self, buffer, starts, lengths):
        """Store the bytes of new words (``lengths`` bytes at ``starts`` of ``buffer``)."""
        n_words, n_bytes = (int(n) for n in self._state)
        total = int(lengths.sum())
        self._reserve(len(starts), total)
        ends = n_bytes + np.cumsum(lengths)
        self._ends[n_words : n_words + len(starts)] = ends
        if total:
            # Byte j of the new words: from the token it falls in.
            token = np.repeat(np.arange(len(starts)), lengths)
            offset = np.arange(total, dtype=np.int64) - np.repeat(ends - lengths - n_bytes, lengths)
            self._bytes[n_bytes : n_bytes + total] = buffer.view(np.uint8)[starts[token] + offset]
        self._state[:] = n_words + len(starts), n_bytes + total

    def _same_bytes(self, words, lengths, ids):
        """Whether tokens of ``lengths`` bytes, whose 8-byte ``words`` are
        :func:`~sklm._text_encoding.token_words`', have the bytes of the
        stored words ``ids``."""
        stored_end = self._ends[ids]
        stored_start = np.where(ids > 0, self._ends[ids - 1], 0)
        if not np.array_equal(stored_end - stored_start, lengths):
            return False
        return np.array_equal(words, token_words(self._store, stored_start, lengths)[0])

    def _add_keys(self, keys, ids):
        """Merge ``keys`` (sorted, new) and their ids into the sorted arrays."""
        if not len(keys):
            return
        at = np.searchsorted(self._sorted_keys, keys)
        self._sorted_keys = np.insert(self._sorted_keys, at, keys)
        self._sorted_ids = np.insert(self._sorted_ids, at, ids)

    def _find_or_insert_exact(self, data, starts, lengths, keys):
        """:meth:`_find_or_insert_arrays` a token at a time, for calls where
        two words share a key (rare: 56 bits of hash)."""
        out = np.empty(len(starts), dtype=np.int64)
        added = {}  # keys first met in this call
        for i, (start, length, key) in enumerate(
            zip(starts.tolist(), lengths.tolist(), keys.tolist())
        ):
            word = data[start : start + length]
            found = added.get(key)
            if found is None:
                found = self._known_id(key)
            if found is not None and self._word(found) == word:
                out[i] = found
                continue
            found = self._collided.get(word)
            if found is None:
                found = len(self)
                self._append_words(
                    np.frombuffer(word + bytes(2 * WORD), dtype=np.uint8),
                    np.zeros(1, dtype=np.int64),
                    np.array([length]),
                )
                if key in added or self._known_id(key) is not None:
                    self._collided[word] = found
                    self._collided_keys = np.union1d(
                        self._collided_keys, np.array([key], dtype=np.uint64)
                    )
                else:
                    added[key] = found
            out[i] = found
        new = np.array(sorted(added), dtype=np.uint64)
        self._add_keys(new, np.array([added[k] for k in new.tolist()], dtype=np.int64))
        return out

    def _known_id(self, key):
        """The id of the first word of ``key`` in the sorted arrays, None if none."""
        at = int(np.searchsorted(self._sorted_keys, key))
        if at < len(self._sorted_keys) and self._sorted_keys[at] == key:
            return int(self._sorted_ids[at])
        return None

    def _word(self, i):
        """The stored bytes of word ``i``."""
        return bytes(self._bytes[(self._ends[i - 1] if i else 0) : self._ends[i]])

    # texts ---------------------------------------------------------------------

    def _encode_bytes(self, data, text_lengths, end):
        """:meth:`encode_texts` of texts of ``text_lengths`` bytes joined by
        newlines as ``data``: the tokens found in whole-array passes over the bytes."""
        bounds = bound_pairs(padded(data), len(data))
        starts = np.ascontiguousarray(bounds[0::2])
        lengths = bounds[1::2] - starts
        edges = np.zeros(len(text_lengths) + 1, dtype=np.int64)
        np.cumsum(text_lengths + 1, out=edges[1:])
        counts = np.diff(np.searchsorted(starts, edges))
        return closed_samples(self._find_or_insert(data, starts, lengths), counts, end)


def _split_bytes(texts):
    """``(data, lengths)``: the UTF-8 bytes of ``texts`` joined by newlines and the
    byte length of each, or None where a whitespace split of the bytes would
    not be ``str.split``'s.

    Bytes up to 32 are then exactly the whitespace (9-13 and 28-32; the
    control characters 0-8 and 14-27, which are not, send the texts to
    ``str.split``, as in :mod:`sklm._text_encoding`). Every byte of a
    non-ASCII character is over 127, so only the Unicode whitespace
    characters (``\x85``, ``\xa0``, ``\u2003``...) need a check.

    The texts' byte lengths come from the newline bytes where no text holds
    a newline of its own (no pass over the code points).
    """
    data = "\n".join(texts).encode("utf-8", "surrogatepass")
    text = np.frombuffer(data, dtype=np.uint8)
    if (text - np.uint8(14) < 14).any() or (text < 9).any():
        return None
    newlines = np.flatnonzero(text == 10)
    if len(texts) and len(newlines) == len(texts) - 1:
        starts = np.concatenate([[0], newlines + 1])
        lengths = np.append(newlines, len(data)) - starts
    else:
        lengths = utf8_tokens(texts, "\n")[2]
    lead = np.flatnonzero((text >= 0xC2) & (text <= 0xE3))
    if len(lead):
        room = np.zeros(len(text) + 2, dtype=np.uint8)
        room[: len(text)] = text
        a, b, c = room[lead], room[lead + 1], room[lead + 2]
        space = (a == 0xC2) & ((b == 0x85) | (b == 0xA0))
        space |= (a == 0xE1) & (b == 0x9A) & (c == 0x80)
        space |= (a == 0xE2) & (b == 0x80) & ((c <= 0x8A) | (c == 0xA8) | (c == 0xA9) | (c == 0xAF))
        space |= (a == 0xE2) & (b == 0x81) & (c == 0x9F)
        space |= (a == 0xE3) & (b == 0x80) & (c == 0x80)
        if space.any():
            return None
    return data, lengths


def _first_seen(keys):
    """``(distinct, first, inverse)`` of the uint64 ``keys``, as ``np.unique``
    gives them with ``return_index`` and ``return_inverse`` (sorted).

    One sort of values, not a stable argsort (about 3x faster): the top bits
    of each key are packed with its position below them, so the keys must
    have their top bits spread (mixed) for the sort to tell them apart. Keys
    whose top bits meet are caught by a check, and the rare call where two
    distinct keys meet falls back to ``np.unique``.
    """
    n = len(keys)
    bits = max(n.bit_length(), 1)
    if n == 0 or bits > 32:
        return np.unique(keys, return_index=True, return_inverse=True)
    shift = np.uint64(bits)
    packed = keys >> shift
    packed <<= shift
    packed |= np.arange(n, dtype=np.uint64)
    packed.sort()
    position = (packed & np.uint64((1 << bits) - 1)).astype(np.int64)
    packed >>= shift
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(packed[1:], packed[:-1], out=starts[1:])
    ordered = keys[position]
    if (ordered[1:] != ordered[:-1])[~starts[1:]].any():
        return np.unique(keys, return_index=True, return_inverse=True)
    first = position[starts]
    inverse = np.empty(n, dtype=np.int64)
    inverse[position] = np.cumsum(starts) - 1
    return keys[first], first, inverse


def _shift(rows):
    """The shift that maps a 64-bit hash to one of ``rows`` (a power of 2) rows."""
    return 64 - (rows.bit_length() - 1)


def _grown(array, need):
    """``array`` in a new array of at least ``need`` entries, doubled, zeros after."""
    grown = np.zeros(max(need, 2 * len(array)), dtype=array.dtype)
    grown[: len(array)] = array
    return grown


def closed_samples(ids, counts, end):
    """``ids`` of samples of ``counts`` tokens each, each sample followed by ``end``."""
    out = np.empty(len(ids) + len(counts), dtype=np.int64)
    ends = np.cumsum(counts + 1) - 1
    words = np.ones(len(out), dtype=bool)
    words[ends] = False
    out[words] = ids
    out[ends] = end
    return out


def utf8_tokens(tokens, sep=""):
    """``(data, starts, lengths)``: the UTF-8 bytes of the str ``tokens`` joined
    by ``sep`` (lone surrogates passed through), token ``i`` at
    ``data[starts[i]:starts[i] + lengths[i]]``.

    One encode of the joined text, not a bytes object per token: where the
    text is not ASCII, the byte offsets come from the code points' UTF-8
    lengths.
    """
    joined = sep.join(tokens)
    data = joined.encode("utf-8", "surrogatepass")
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    starts = np.cumsum(lengths + len(sep)) - (lengths + len(sep))
    if len(data) != len(joined):
        points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        size = 1 + (points >= 0x80).astype(np.int64) + (points >= 0x800) + (points >= 0x10000)
        byte_at = np.zeros(len(points) + 1, dtype=np.int64)
        np.cumsum(size, out=byte_at[1:])
        lengths = byte_at[starts + lengths] - byte_at[starts]
        starts = byte_at[starts]
    return data, starts, lengths


# the words in alphabetical order ----------------------------------------------


def alphabetical_order(utf8, ends, ids):
    """``ids`` sorted by their words' UTF-8 bytes, which is Python's order of str.

    UTF-8 orders code points as their values (lone surrogates passed through
    included), so the order is that of ``sorted`` over the words as str,
    without a Python object per word. The words must be distinct. Sorted by
    their first 8 bytes, then the ties by the next 8, and so on; the few
    ties left after many rounds are sorted by Python.
    """
    ends = np.asarray(ends, dtype=np.int64)
    starts = np.concatenate([[0], ends[:-1]])
    data = np.zeros(len(utf8) + WORD, dtype=np.uint8)
    data[: len(utf8)] = utf8
    # The 8 bytes at every byte offset, big-endian: compared as integers,
    # they compare as the bytes do.
    chunks = np.ndarray((len(utf8) + 1,), dtype=">u8", buffer=data, strides=(1,))
    masks = np.array(
        [0] + [(2**64 - 1) ^ ((1 << (64 - 8 * n)) - 1) for n in range(1, 9)], dtype=np.uint64
    )
    order = np.asarray(ids, dtype=np.int64)
    # Positions of order where a group of words equal so far starts.
    first = np.zeros(len(order), dtype=bool)
    todo = np.arange(len(order))  # positions in groups not settled
    at = 0
    while len(todo):
        if len(todo) < 64 and at > 4 * WORD:
            _python_sort(utf8, starts, ends, order, first, todo)
            break
        words = order[todo]
        length = ends[words] - starts[words]
        left = length - at
        key = chunks[starts[words] + np.minimum(length, at)] & masks[np.clip(left, 0, WORD)]
        group = np.cumsum(first[todo])
        # Shorter first among equal bytes: a word before its extensions by zero bytes.
        within = np.lexsort((left, key, group))
        order[todo] = words[within]
        key, left, group = key[within], left[within], group[within]
        new = np.ones(len(todo), dtype=bool)
        new[1:] = (key[1:] != key[:-1]) | (group[1:] != group[:-1])
        first[todo] = new
        # A group goes on while it has two words and one of them is longer.
        starts_at = np.flatnonzero(new)
        size = np.diff(np.append(starts_at, len(todo)))
        longer = np.maximum.reduceat(left, starts_at) > WORD
        keep = np.repeat((size > 1) & longer, size)
        todo = todo[keep]
        at += WORD
    return order


def _python_sort(utf8, starts, ends, order, first, todo):
    """Finish the groups of positions ``todo`` of ``order`` with Python's sort of bytes."""
    group = np.cumsum(first[todo])
    for g in np.unique(group):
        where = todo[group == g]
        words = order[where].tolist()
        words.sort(key=lambda i: bytes(utf8[starts[i] : ends[i]]))
        order[where] = words


def find_word(utf8, ends, alphabetical, word):
    """The id of ``word`` (str) among the ids ``alphabetical`` (sorted by
    :func:`alphabetical_order`), None if absent."""
    target = word.encode("utf-8", "surrogatepass")

    def word_of(i):
        return bytes(utf8[(ends[i - 1] if i else 0) : ends[i]])

    at = bisect_left(alphabetical, target, key=word_of)
    if at < len(alphabetical) and word_of(alphabetical[at]) == target:
        return int(alphabetical[at])
    return None


def gathered(utf8, ends, ids, *, head=()):
    """``(utf8, ends)`` of the words ``head`` (str) then of the ``ids``, in that order.

    Copied a block of words at a time, so that the index arrays stay small.
    """
    ends = np.asarray(ends, dtype=np.int64)
    starts = np.concatenate([[0], ends[:-1]])
    first = "".join(head).encode("utf-8", "surrogatepass")
    head_lengths = [len(w.encode("utf-8", "surrogatepass")) for w in head]
    lengths = ends[ids] - starts[ids]
    out_ends = np.cumsum(np.concatenate([np.array(head_lengths, dtype=np.int64), lengths]))
    out = np.empty(int(out_ends[-1]) if len(out_ends) else 0, dtype=np.uint8)
    out[: len(first)] = np.frombuffer(first, dtype=np.uint8)
    block = 1 << 16
    for b in range(0, len(ids), block):
        some = ids[b : b + block]
        n = lengths[b : b + block]
        to = out_ends[len(head) + b : len(head) + b + len(some)] - n
        shift = np.repeat(starts[some] - to, n)
        index = np.arange(int(to[0]) if len(to) else 0, int(to[-1] + n[-1]) if len(to) else 0)
        out[index] = utf8[index + shift]
    return out, out_ends
