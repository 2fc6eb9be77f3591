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

import numpy as np

from ._hashing import HashIndex

_WORD = 8
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
# Bytes of token i of length L: the low L bytes of the word at its start.
_MASK = np.array([(1 << (8 * n)) - 1 for n in range(_WORD)] + [int(_ALL)], dtype=np.uint64)
_END = np.array([0x80 << (8 * n) for n in range(_WORD)] + [0], dtype=np.uint64)
_MIX = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_LONG = np.uint64(0xFF)
# Bytes up to 32 are whitespace for str.split(), except 0-8 and 14-27.


class _Tokens:
    """Boundaries, keys and words of the whitespace-separated tokens of ASCII bytes."""

    def __init__(self, data):
        n = len(data)
        # Zero padding: every 8-byte read past a token stays inside the buffer.
        buffer = np.zeros(n // _WORD + 3, dtype="<u8")
        buffer.view(np.uint8)[:n] = np.frombuffer(data, dtype=np.uint8)
        self.buffer = buffer
        text = buffer.view(np.uint8)[:n]
        inside = np.zeros(n + 2, dtype=bool)
        np.greater(text, 32, out=inside[1:-1])
        # Alternately where a token starts and just past where it ends.
        bounds = np.flatnonzero(inside[1:] != inside[:-1])
        bounds = bounds.reshape(-1, 2)
        # Contiguous: searched per text and gathered from below.
        self.starts = np.ascontiguousarray(bounds[:, 0])
        self.lengths = bounds[:, 1] - self.starts
        word = self._word_at(self.starts)
        short = np.minimum(self.lengths, _WORD)
        word &= np.take(_MASK, short)
        word |= np.take(_END, short)
        self.keys = word
        self.long = np.flatnonzero(self.lengths > _WORD)
        self.long_words = None
        if len(self.long):
            self._hash_long()

    def _word_at(self, offset):
        """The 8 bytes from each byte offset, as little-endian uint64."""
        # The buffer read as one (unaligned) uint64 at every byte offset: one
        # gather reads them all.
        data = self.buffer.view(np.uint8)
        words = np.ndarray((len(data) - _WORD + 1,), dtype="<u8", buffer=data, strides=(1,))
        return words[offset]

    def _hash_long(self):
        """Key every long token by a hash of all its words, in whole-array passes.

        Each word is mixed with its position and the mixes are summed per
        token, so the work is one pass over the long tokens' bytes however
        long a token is (a token of megabytes costs what its bytes cost).
        """
        start = self.starts[self.long]
        length = self.lengths[self.long]
        n_words = (length + _WORD - 1) // _WORD
        first = np.cumsum(n_words) - n_words
        token = np.repeat(np.arange(len(start)), n_words)
        position = np.arange(int(n_words.sum()), dtype=np.int64) - first[token]
        offset = position * _WORD
        word = self._word_at(start[token] + offset)
        word &= np.take(_MASK, np.minimum(length[token] - offset, _WORD))
        # The words of every long token, one after the other (``first`` and
        # ``n_words`` say where each token's are), for the confirmation.
        self.long_words = (word, first, n_words)
        h = word ^ (position.astype(np.uint64) * _MIX2)
        h *= _MIX
        h ^= h >> np.uint64(29)
        h *= _MIX2
        h = np.add.reduceat(h, first)
        h ^= length.astype(np.uint64)
        h ^= h >> np.uint64(29)
        h *= _MIX2
        h ^= h >> np.uint64(32)
        h |= _LONG
        self.keys[self.long] = h


def _ascii_bytes(texts):
    """The texts joined by newlines as ASCII bytes, or None if that cannot be split here."""
    joined = "\n".join(texts)
    if not joined.isascii():
        return None
    data = joined.encode("ascii")
    text = np.frombuffer(data, dtype=np.uint8)
    # Newlines and tabs are few: look only at the bytes below 28.
    low = text[np.flatnonzero(text < 28)]
    if np.any((low < 9) | (low > 13)):
        # Control characters that are not whitespace: rare, left to str.split().
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

    def __init__(self, reader, unknown):
        self.reader = reader
        self.unknown = unknown
        # Tokens that a whitespace split of ASCII text can produce.
        tokens = [t for t in reader if t.isascii() and t.split() == [t] and min(t) > " "]
        data = "\n".join(tokens).encode("ascii")
        packed = _Tokens(data) if tokens else None
        if packed is not None and len(packed.starts) != len(tokens):
            packed = None  # control characters inside a token: no fast path
        self.index = None
        if packed is None:
            return
        keys = packed.keys.view(np.int64)
        if len(np.unique(keys)) != len(keys):
            return  # two long tokens share a hash: keep to the dict
        self.index = HashIndex(keys)
        # The id of each key, and the unknown id at -1 (a key not found).
        self.ids = np.array([reader[t] for t in tokens] + [unknown], dtype=np.intp)
        self.lengths = packed.lengths
        # Words of the long tokens, chunk by chunk, for the confirmation.
        self.long_row = np.full(len(tokens), -1, dtype=np.intp)
        self.long_row[packed.long] = np.arange(len(packed.long))
        self.packed = packed

    def encode(self, texts):
        """Ids of the tokens of ``texts`` and the number of tokens of each text.

        Returns None when the texts need the general path (non-ASCII text,
        control characters).
        """
        if self.index is None:
            return None
        data = _ascii_bytes(texts)
        if data is None:
            return None
        tokens = _Tokens(data)
        found = self.index.lookup(tokens.keys.view(np.int64))
        if len(tokens.long):
            self._confirm(tokens, found, data)
        ids = self.ids[found]  # found is -1 for unknown tokens: see HashIndex._probe
        # Texts are joined by one newline: text i spans [char_start, +len).
        text_lengths = np.fromiter(map(len, texts), dtype=np.intp, count=len(texts))
        edges = np.empty(len(texts) + 1, dtype=np.intp)
        edges[0] = 0
        np.cumsum(text_lengths + 1, out=edges[1:])
        first_token = np.searchsorted(tokens.starts, edges)
        return ids, np.diff(first_token)

    def _confirm(self, tokens, found, data):
        """Check the long tokens' matches byte for byte (a hash can collide)."""
        long = tokens.long
        match = found[long]
        rows = np.flatnonzero(match >= 0)
        candidate = match[rows]
        vocab_row = self.long_row[candidate]
        same = (tokens.lengths[long[rows]] == self.lengths[candidate]) & (vocab_row >= 0)
        check = np.flatnonzero(same)
        if len(check):
            # Every word of each matched pair compared in one pass (equal
            # lengths have as many words; a long token has at least two).
            query_words, query_first, query_n = tokens.long_words
            vocab_words, vocab_first, _ = self.packed.long_words
            query, vocab = rows[check], vocab_row[check]
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
        if len(wrong):
            # A hash collision: the dict decides.
            text = data.decode("ascii")
            for i in wrong.tolist():
                start = int(tokens.starts[i])
                token = text[start : start + int(tokens.lengths[i])]
                found[i] = self._row_of(token)

    def _row_of(self, token):
        """Row of ``token`` in the key table, -1 if it is not there."""
        token_id = self.reader.get(token)
        if token_id is None:
            return -1
        rows = np.flatnonzero(self.ids[:-1] == token_id)
        return int(rows[0]) if len(rows) else -1
