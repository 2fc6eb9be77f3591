"""Texts to vocabulary ids without a Python string per token.

Splitting a list of texts on whitespace and looking every token up in a dict
costs a Python object and a dict probe per token, more than the n-gram
lookup that follows. For ASCII texts this module does the same in whole-array
passes over the bytes of the joined texts: it finds the token boundaries,
packs each token into one int64 key and looks the keys up in a hash of the
vocabulary's keys.

A token of at most 8 bytes is its own key (its bytes, then a 0x80 end mark,
which no ASCII byte equals), so it matches exactly. A longer token is keyed
by a hash of its 8-byte words and its length, with a low byte of 0xFF that no
short key has; a match is then confirmed word by word, and the rare token
whose hash meets another token's is looked up in the dict instead.
"""

from itertools import compress

import numpy as np

from ._hashing import HashIndex
from ._parallel import CACHE_BLOCK, run_length, sample_runs

# Bytes of text encoded together: about CACHE_BLOCK tokens of English.
RUN_BYTES = 6 * CACHE_BLOCK

_WORD = 8
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
# Bytes of token i of length L: the low L bytes of the word at its start.
_MASK = np.array([(1 << (8 * n)) - 1 for n in range(_WORD)] + [int(_ALL)], dtype=np.uint64)
_END = np.array([0x80 << (8 * n) for n in range(_WORD)] + [0], dtype=np.uint64)
_MIX = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_LONG = np.uint64(0xFF)
# The id the compiled encoder gives a token whose hash met another token's.
_COLLISION = -2
# Bytes up to 32 are whitespace for str.split(), except 0-8 and 14-27.


def _padded(data):
    """ASCII bytes as uint64 words, zero-padded so that every 8-byte read past
    a token stays inside the buffer."""
    n = len(data)
    buffer = np.zeros(n // _WORD + 3, dtype="<u8")
    buffer.view(np.uint8)[:n] = np.frombuffer(data, dtype=np.uint8)
    return buffer


def _bounds(buffer, n):
    """Where each token of the ``n`` bytes starts and just past where it ends, alternately.

    In whole-array passes: a byte loop would mispredict at both ends of
    every token.
    """
    inside = np.zeros(n + 2, dtype=bool)
    np.greater(buffer.view(np.uint8)[:n], 32, out=inside[1:-1])
    return np.flatnonzero(inside[1:] != inside[:-1])


class _Tokens:
    """Boundaries, keys and 8-byte words of the whitespace-separated tokens of
    ASCII bytes (a vocabulary's, keyed once)."""

    def __init__(self, data):
        from ._compiled import token_keys

        self.buffer = _padded(data)
        bounds = _bounds(self.buffer, len(data))
        self.keys = np.empty(len(bounds) // 2, dtype=np.int64)
        token_keys(self.buffer, bounds, self.keys)
        bounds = bounds.reshape(-1, 2)
        # Contiguous: gathered from below.
        self.starts = np.ascontiguousarray(bounds[:, 0])
        self.lengths = bounds[:, 1] - self.starts
        self.long = np.flatnonzero(self.lengths > _WORD)
        # The words of the long tokens, for the confirmation of a match.
        self.long_words = self._words(self.long) if len(self.long) else None

    def _word_at(self, offset):
        """The 8 bytes from each byte offset, as little-endian uint64."""
        # The buffer read as one (unaligned) uint64 at every byte offset: one
        # gather reads them all.
        data = self.buffer.view(np.uint8)
        words = np.ndarray((len(data) - _WORD + 1,), dtype="<u8", buffer=data, strides=(1,))
        return words[offset]

    def _words(self, tokens):
        """The 8-byte words of ``tokens``, one token after the other.

        Returns ``(words, first, n_words)``: token ``i``'s words are
        ``words[first[i]:first[i] + n_words[i]]``, the last one masked to the
        token's end.
        """
        start = self.starts[tokens]
        length = self.lengths[tokens]
        n_words = (length + _WORD - 1) // _WORD
        first = np.cumsum(n_words) - n_words
        token = np.repeat(np.arange(len(start)), n_words)
        offset = (np.arange(int(n_words.sum()), dtype=np.int64) - first[token]) * _WORD
        word = self._word_at(start[token] + offset)
        word &= np.take(_MASK, length[token] - offset, mode="clip")
        return word, first, n_words


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
        packed = _Tokens(data)  # one token per kept token: no byte <= 32
        # The key table is indexed by id, so that a lookup gives the id itself.
        # An id without a token gets a key that no text gives: its low byte,
        # a token's first byte (or 0xFF), is 0 there.
        n_rows = max(int(ids.max()), unknown) + 1
        keys = np.arange(n_rows, dtype=np.int64) << 8
        keys[ids] = packed.keys
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

    def encode(self, texts):
        """Ids of the tokens of ``texts`` and the number of tokens of each text.

        Returns None when the texts need the general path (non-ASCII text,
        control characters).
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
        parts = []
        for first, last in runs:
            part = self._encode_run(texts[first:last], edges[first : last + 1] - edges[first])
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
        from ._compiled import encode_tokens

        data = _ascii_bytes(texts)
        if data is None:
            return None
        buffer = _padded(data)
        bounds = _bounds(buffer, len(data))
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
        )
        if n_collisions:
            self._by_dict(ids, data)
        return ids, counts

    def _by_dict(self, ids, data):
        """Look up in the dict the tokens whose hash met another token's (marked -2)."""
        tokens = data.decode("ascii").split()
        for i in np.flatnonzero(ids == _COLLISION).tolist():
            row = self._row_of(tokens[i])
            ids[i] = row if row >= 0 else self.unknown

    def _row_of(self, token):
        """Row of ``token`` in the key table (its id), -1 if it is not there."""
        if self.reader is None:
            self.reader = self._reader_source()
        return self.reader.get(token, -1)


class _StoredWords:
    """The 8-byte words of the vocabulary's long tokens, read from a file."""

    def __init__(self, long_words):
        self.long_words = long_words
