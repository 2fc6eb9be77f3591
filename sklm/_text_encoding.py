"""Texts to vocabulary ids without a Python string per token.

Splitting a list of texts on whitespace and looking every token up in a dict
costs a Python object and a dict probe per token, more than the n-gram
lookup that follows. For ASCII texts this module does the same over the
bytes of the joined texts: it finds the token boundaries, packs each token
into one int64 key and looks the keys up in a hash of the vocabulary's keys.
A large call does so in a loop compiled by Numba (``sklm._compiled``); a
small one, until those loops are loaded, in whole-array NumPy passes, which
key the tokens the same way.

A token of at most 8 bytes is its own key (its bytes, then a 0x80 end mark,
which no ASCII byte equals), so it matches exactly. A longer token is keyed
by a hash of its 8-byte words and its length, with a low byte of 0xFF that no
short key has; a match is then confirmed word by word, and the rare token
whose hash meets another token's is looked up in the dict instead.
"""

from itertools import compress

import numpy as np

from ._hashing import KEEP, HashIndex
from ._parallel import CACHE_BLOCK, run_length, sample_runs, use_compiled

# Bytes of text encoded together: about CACHE_BLOCK tokens of English.
RUN_BYTES = 6 * CACHE_BLOCK

WORD = 8
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
# Bytes of token i of length L: the low L bytes of the word at its start.
MASK = np.array([(1 << (8 * n)) - 1 for n in range(WORD)] + [int(_ALL)], dtype=np.uint64)
END = np.array([0x80 << (8 * n) for n in range(WORD)] + [0], dtype=np.uint64)
MIX = np.uint64(0xFF51AFD7ED558CCD)
MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
LONG = np.uint64(0xFF)
# The id the compiled encoder gives a token whose hash met another token's.
COLLISION = -2
# Bytes up to 32 are whitespace for str.split(), except 0-8 and 14-27.


def padded(data):
    """Bytes as uint64 words, zero-padded so that every 8-byte read past a
    token stays inside the buffer."""
    n = len(data)
    buffer = np.zeros(n // WORD + 3, dtype="<u8")
    buffer.view(np.uint8)[:n] = np.frombuffer(data, dtype=np.uint8)
    return buffer


def bound_pairs(buffer, n):
    """Where each token of the ``n`` bytes starts and just past where it ends, alternately.

    In whole-array passes: a byte loop would mispredict at both ends of
    every token.
    """
    inside = np.zeros(n + 2, dtype=bool)
    np.greater(buffer.view(np.uint8)[:n], 32, out=inside[1:-1])
    return np.flatnonzero(inside[1:] != inside[:-1])


def words_at(buffer, offsets):
    """The 8 bytes from each byte offset of ``buffer`` (:func:`padded`), as
    little-endian uint64."""
    # The buffer read as one (unaligned) uint64 at every byte offset: one
    # gather reads them all.
    data = buffer.view(np.uint8)
    words = np.ndarray((len(data) - WORD + 1,), dtype="<u8", buffer=data, strides=(1,))
    return words[offsets]


def marked_words(buffer, starts, lengths):
    """The first 8 bytes of each token, and a 0x80 mark just past a token of
    fewer than 8 bytes (which tells ``b"a"`` from ``b"a\\x00"``), as uint64."""
    word = words_at(buffer, starts)
    # Clipped: a token of 8 bytes or more keeps its 8 bytes, no end mark.
    word &= np.take(MASK, lengths, mode="clip")
    word |= np.take(END, lengths, mode="clip")
    return word


def token_words(buffer, starts, lengths):
    """The 8-byte words of the tokens at byte ``starts`` of ``lengths`` bytes,
    one token after the other.

    Returns ``(words, first, n_words)``: token ``i``'s words are
    ``words[first[i]:first[i] + n_words[i]]``, the last one masked to the
    token's end.
    """
    n_words = (lengths + WORD - 1) // WORD
    first = np.cumsum(n_words) - n_words
    token = np.repeat(np.arange(len(starts)), n_words)
    offset = (np.arange(int(n_words.sum()), dtype=np.int64) - first[token]) * WORD
    word = words_at(buffer, starts[token] + offset)
    word &= np.take(MASK, lengths[token] - offset, mode="clip")
    return word, first, n_words


def hash_words(word, first, n_words, length):
    """A 64-bit hash of each token's words (:func:`token_words`) and length,
    in whole-array passes.

    Each word is mixed with its position and the mixes are summed per
    token, so the work is one pass over the tokens' bytes however long a
    token is (a token of megabytes costs what its bytes cost).
    """
    position = np.arange(len(word), dtype=np.int64) - np.repeat(first, n_words)
    h = word ^ (position.astype(np.uint64) * MIX2)
    h *= MIX
    h ^= h >> np.uint64(29)
    h *= MIX2
    h = np.add.reduceat(h, first)
    h ^= length.astype(np.uint64)
    h ^= h >> np.uint64(29)
    h *= MIX2
    h ^= h >> np.uint64(32)
    return h


class _Tokens:
    """Boundaries and keys of the whitespace-separated tokens of ASCII bytes.

    With ``all_words``, also the 8-byte words of every long token (the
    vocabulary's, for the confirmation of matches); otherwise only those of
    the tokens over 16 bytes, which the two words of a match do not cover.
    """

    def __init__(self, data, *, all_words=False):
        self.buffer = padded(data)
        # Alternately where a token starts and just past where it ends.
        bounds = bound_pairs(self.buffer, len(data)).reshape(-1, 2)
        # Contiguous: searched per text and gathered from below.
        self.starts = np.ascontiguousarray(bounds[:, 0])
        self.lengths = bounds[:, 1] - self.starts
        self.keys = marked_words(self.buffer, self.starts, self.lengths)
        self.long = np.flatnonzero(self.lengths > WORD)
        self.long_words = None
        if len(self.long):
            self._key_long(all_words)

    def _key_long(self, all_words):
        """Key the tokens over 8 bytes by a hash of their words.

        Nearly all of them have at most 16 bytes: their two words are mixed
        directly. The longer ones get a hash of all their words.
        """
        long = self.long
        length = self.lengths[long]
        # The first two words of each long token: a match is confirmed on
        # them (and, over 16 bytes, on the rest of the words).
        self.first = self.keys[long]
        second = words_at(self.buffer, self.starts[long] + WORD)
        second &= np.take(MASK, length - WORD, mode="clip")
        self.second = second
        h = second * MIX2
        h ^= self.first
        h *= MIX
        h ^= h >> np.uint64(29)
        h *= MIX2
        h ^= h >> np.uint64(32)
        h |= LONG
        self.longer = np.flatnonzero(length > 2 * WORD)
        if len(self.longer):
            longer_words = self._words(long[self.longer])
            h[self.longer] = hash_words(*longer_words, length[self.longer]) | LONG
            self.long_words = longer_words
        if all_words:
            self.long_words = self._words(long)
        self.keys[long] = h

    def _words(self, tokens):
        """:func:`token_words` of ``tokens`` (indexes of this text's tokens)."""
        return token_words(self.buffer, self.starts[tokens], self.lengths[tokens])


def _distinct(values):
    """Whether no two of the integers ``values`` are equal (one sort; ``np.unique``
    hashes, several times slower here)."""
    ordered = np.sort(values)
    return bool((ordered[1:] != ordered[:-1]).all())


def _ascii_bytes(texts):
    """The texts joined by newlines as ASCII bytes, or None if that cannot be split here."""
    joined = "\n".join(texts)
    if not joined.isascii():
        return None
    data = joined.encode("ascii")
    text = np.frombuffer(data, dtype=np.uint8)
    # Control characters that are not whitespace (0-8 and 14-27, which
    # wrap below 14 once 14 is taken away): rare, left to str.split().
    if (text - np.uint8(14) < 14).any() or (text < 9).any():
        return None
    return data


class TextEncoder:
    """Maps the whitespace-separated tokens of ASCII texts to ids.

    Parameters
    ----------
    reader : dict
        Token to id; a token missing from it gets ``unknown``.
    unknown : int
        The id of a token not in ``reader``.
    """

    #: The arrays of :meth:`to_arrays`, by name.
    ARRAYS = ("keys", "slots", "lengths", "long_row", "long_words", "long_first", "long_n")

    def __init__(self, reader, unknown):
        self.reader = reader
        self.unknown = unknown
        self.index = None
        # Tokens that a whitespace split of ASCII text can produce: non-empty,
        # every byte above 32 (ASCII's whitespace and control characters are
        # at or below it). Those read as unknown need no key (a key not
        # found gives the unknown id).
        # (Iterations in C: a Python loop over a large vocabulary would cost
        # most of the encoder's build.)
        n = len(reader)
        tokens = list(reader)
        ids = np.fromiter(reader.values(), dtype=np.intp, count=n)
        wanted = np.fromiter(map(str.isascii, tokens), dtype=bool, count=n)
        wanted &= ids != unknown
        if not wanted.all():
            tokens = list(compress(tokens, wanted))
            ids = ids[wanted]
        if not tokens:
            return
        data = "\n".join(tokens).encode("ascii")
        lengths = np.fromiter(map(len, tokens), dtype=np.intp, count=len(tokens))
        ends = np.cumsum(lengths + 1) - 1  # the newline after each token
        low = np.zeros(len(data) + 1, dtype=np.int32 if len(data) < 2**31 else np.intp)
        np.cumsum(np.frombuffer(data, dtype=np.uint8) <= 32, out=low[1:])
        keep = (lengths > 0) & (low[ends] == low[ends - lengths])
        if not keep.all():
            kept = np.flatnonzero(keep)
            if not len(kept):
                return
            tokens = [tokens[j] for j in kept.tolist()]
            ids = ids[kept]
            data = "\n".join(tokens).encode("ascii")
        if ids.min() < 0 or not _distinct(ids):
            return  # not one token per id: keep to the dict
        packed = _Tokens(data, all_words=True)  # one token per kept token: no byte <= 32
        # The key table is indexed by id, so that a lookup gives the id itself.
        # An id without a token gets a key that no text gives: its low byte,
        # a token's first byte (or 0xFF), is 0 there.
        n_rows = max(int(ids.max()), unknown) + 1
        keys = np.arange(n_rows, dtype=np.int64) << 8
        keys[ids] = packed.keys.view(np.int64)
        if not _distinct(keys):
            return  # two long tokens share a hash: keep to the dict
        self.index = HashIndex(keys)
        self.lengths = np.zeros(n_rows, dtype=np.intp)
        self.lengths[ids] = packed.lengths
        # Words of the long tokens, chunk by chunk, for the confirmation.
        self.long_row = np.full(n_rows, -1, dtype=np.intp)
        self.long_row[ids[packed.long]] = np.arange(len(packed.long))
        self.packed = packed

    def to_arrays(self):
        """The encoder's tables (None when it has no fast path), for a file.

        Returns ``(arrays, bits)``: :meth:`from_arrays` rebuilds the encoder
        from them without the vocabulary's tokens.
        """
        if self.index is None:
            return None
        words = self.packed.long_words
        if words is None:
            words = tuple(np.zeros(0, dtype=dtype) for dtype in ("<u8", np.intp, np.intp))
        values = (
            self.index.keys,
            self.index.slot_value,
            self.lengths,
            self.long_row,
            *words,
        )
        arrays = {name: np.asarray(a) for name, a in zip(self.ARRAYS, values)}
        for name in ("lengths", "long_row", "long_first", "long_n"):
            arrays[name] = arrays[name].astype(np.int64, copy=False)
        return arrays, self.index.bits

    @classmethod
    def from_arrays(cls, arrays, bits, unknown, reader):
        """The encoder of :meth:`to_arrays`' tables, checked only in shape.

        ``reader`` is called for the token to id dict the first time a long
        token's hash meets another's (rare), so the vocabulary's tokens are
        not needed before.
        """
        keys, slots, lengths, long_row, words, first, n_words = (arrays[n] for n in cls.ARRAYS)
        n_rows = len(keys)
        if (
            keys.dtype != np.int64
            or words.dtype != np.uint64
            or any(a.dtype != np.int64 for a in (lengths, long_row, first, n_words))
            or any(a.ndim != 1 for a in (keys, lengths, long_row, words, first, n_words))
            or len(lengths) != n_rows
            or len(long_row) != n_rows
            or len(first) != len(n_words)
            or n_rows <= unknown
        ):
            raise ValueError("the text encoder's tables are inconsistent.")
        encoder = cls.__new__(cls)
        encoder.reader = None
        encoder._reader_source = reader
        encoder.unknown = unknown
        encoder.index = HashIndex.from_slots(keys, slots, bits)
        encoder.lengths = lengths
        encoder.long_row = long_row
        encoder.packed = _StoredWords((words, first, n_words) if len(first) else None)
        return encoder

    def encode(self, texts, *, compiled=None):
        """Ids of the tokens of ``texts`` and the number of tokens of each text.

        Returns None when the texts need the general path (non-ASCII text,
        control characters). ``compiled`` chooses the compiled loop (True) or
        the NumPy passes (False); None follows :func:`~sklm._parallel.use_compiled`
        on the texts' size. Both give the same ids.
        """
        if self.index is None:
            return None
        # Texts are joined by one newline: text i spans [edges[i], +len).
        text_lengths = np.fromiter(map(len, texts), dtype=np.intp, count=len(texts))
        edges = np.empty(len(texts) + 1, dtype=np.intp)
        edges[0] = 0
        np.cumsum(text_lengths + 1, out=edges[1:])
        # Runs of texts whose arrays stay in the CPU cache, as in scoring.
        runs = sample_runs(edges, run_length(RUN_BYTES))
        if compiled is None:
            compiled = use_compiled(edges[-1])
        encode_run = self._encode_run_compiled if compiled else self._encode_run
        parts = []
        for first, last in runs:
            part = encode_run(texts[first:last], edges[first : last + 1] - edges[first])
            if part is None:
                return None
            parts.append(part)
        if len(parts) == 1:
            return parts[0]
        return (
            np.concatenate([ids for ids, _ in parts]),
            np.concatenate([counts for _, counts in parts]),
        )

    def _encode_run(self, texts, edges):
        """:meth:`encode` of a few texts, ``edges`` their offsets in the joined bytes."""
        data = _ascii_bytes(texts)
        if data is None:
            return None
        tokens = _Tokens(data)
        found = self.index.lookup(tokens.keys.view(np.int64), compiled=False)
        if len(tokens.long):
            self._confirm(tokens, found, data)
        # found is the id, or -1 for an unknown token: the unknown id there.
        ids = found
        ids += (found >> (found.itemsize * 8 - 1)) & (self.unknown + 1)
        first_token = np.searchsorted(tokens.starts, edges)
        return ids, np.diff(first_token)

    def _encode_run_compiled(self, texts, edges):
        """:meth:`_encode_run` in one compiled loop over the tokens."""
        from ._compiled import encode_tokens

        data = _ascii_bytes(texts)
        if data is None:
            return None
        buffer = padded(data)
        bounds = bound_pairs(buffer, len(data))
        long_words = self.packed.long_words
        if long_words is None:
            long_words = (np.zeros(1, dtype=np.uint64), np.zeros(1, dtype=np.intp), None)
        ids = np.empty(len(bounds) // 2, dtype=np.intp)
        counts = np.zeros(len(texts), dtype=np.intp)
        n_collisions = encode_tokens(
            buffer,
            bounds,
            edges,
            self.index.keys,
            self.index.slot_value,
            int(self.index.shift),
            self.lengths,
            self.long_row,
            long_words[0],
            long_words[1],
            self.packed.long_words is not None,
            self.unknown,
            ids,
            counts,
            np.empty(len(ids), dtype=np.int64),
            np.empty(len(ids), dtype=np.intp),
            KEEP,
        )
        if n_collisions:
            wrong = np.flatnonzero(ids == COLLISION)
            starts = bounds[2 * wrong]
            self._by_dict(ids, data, wrong, starts, bounds[2 * wrong + 1] - starts)
            ids[wrong[ids[wrong] < 0]] = self.unknown
        return ids, counts

    def _confirm(self, tokens, found, data):
        """Check the long tokens' matches byte for byte (a hash can collide).

        Every match is compared on its length and first two words (the whole
        of a token of at most 16 bytes), the few longer ones on all words.
        """
        long = tokens.long
        match = found[long]
        rows = np.flatnonzero(match >= 0)
        if not len(rows):
            return
        candidate = match[rows]
        vocab_row = self.long_row[candidate]
        if self.packed.long_words is None:
            # No vocabulary token is long: every match is a hash collision.
            wrong = long[rows]
            self._by_dict(found, data, wrong, tokens.starts[wrong], tokens.lengths[wrong])
            return
        vocab_words, vocab_first, _ = self.packed.long_words
        # A short vocabulary token (row -1 here, which reads the last long
        # token's words) fails on its length: the query's is over 8 bytes.
        at = vocab_first[vocab_row]
        same = tokens.lengths[long[rows]] == self.lengths[candidate]
        same &= vocab_words[at] == tokens.first[rows]
        same &= vocab_words[at + 1] == tokens.second[rows]
        if len(tokens.longer):
            position = np.full(len(long), -1, dtype=np.intp)
            position[tokens.longer] = np.arange(len(tokens.longer))
            query = position[rows]
            check = np.flatnonzero(same & (query >= 0))
            if len(check):
                # Every word of each matched pair compared in one pass (equal
                # lengths have as many words).
                query_words, query_first, query_n = tokens.long_words
                query, vocab = query[check], vocab_row[check]
                n = query_n[query]
                begin = np.cumsum(n) - n
                pair = np.repeat(np.arange(len(check)), n)
                within = np.arange(int(n.sum())) - begin[pair]
                equal = (
                    query_words[query_first[query][pair] + within]
                    == vocab_words[vocab_first[vocab][pair] + within]
                )
                same[check] = np.logical_and.reduceat(equal, begin)
        wrong = long[rows[~same]]
        self._by_dict(found, data, wrong, tokens.starts[wrong], tokens.lengths[wrong])

    def _by_dict(self, found, data, wrong, starts, lengths):
        """Look the tokens ``wrong`` up in the dict (after a hash collision).

        Token ``wrong[j]`` is ``lengths[j]`` bytes of ``data`` from
        ``starts[j]``; ``found`` receives its row, -1 if it is not there.
        """
        if len(wrong):
            text = data.decode("ascii")
            for i, start, length in zip(wrong.tolist(), starts.tolist(), lengths.tolist()):
                found[i] = self._row_of(text[start : start + length])

    def _row_of(self, token):
        """Row of ``token`` in the key table (its id), -1 if it is not there."""
        if self.reader is None:
            self.reader = self._reader_source()
        return self.reader.get(token, -1)


class _StoredWords:
    """The 8-byte words of the vocabulary's long tokens, read from a file."""

    def __init__(self, long_words):
        self.long_words = long_words
