"""The vocabulary of a language model and the encoding of samples into ids."""

from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import chain, repeat

import numpy as np

from ._encoder import TextEncoder

UNK = "<unk>"
BOS = "<s>"
EOS = "</s>"
UNK_ID = 0
EOS_ID = 1


@dataclass(frozen=True)
class Encoded:
    """A corpus of samples as one flat id array.

    Sample ``i`` is ``ids[offsets[i]:offsets[i + 1]]``. When the corpus was
    encoded with ``eos=True`` every sample ends with the ``</s>`` id, so each
    position of ``ids`` is exactly one prediction (the ``<s>`` that opens
    every sample is implicit and never stored).
    """

    ids: np.ndarray
    offsets: np.ndarray

    @property
    def n_samples(self):
        return len(self.offsets) - 1

    @property
    def lengths(self):
        return np.diff(self.offsets)

    def sample(self, i):
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    @classmethod
    def concatenate(cls, parts):
        """One corpus holding the samples of ``parts`` in order."""
        ids = np.concatenate([part.ids for part in parts])
        starts = np.cumsum([0] + [len(part.ids) for part in parts[:-1]])
        offsets = np.concatenate(
            [parts[0].offsets[:1]]
            + [part.offsets[1:] + start for part, start in zip(parts, starts)]
        )
        return cls(ids, offsets)

    def sample_index(self):
        """The sample number of every position of ``ids``."""
        return np.repeat(np.arange(self.n_samples), self.lengths)

    def positions(self):
        """The position of every id inside its own sample (0 for the first)."""
        return np.arange(len(self.ids)) - np.repeat(self.offsets[:-1], self.lengths)


class Vocabulary:
    """Token <-> id mapping with ``<unk>`` at 0 and ``</s>`` at 1.

    ``<s>`` is never a class: it is only ever context. The other tokens follow
    in order of decreasing count, ties broken alphabetically, so a vocabulary
    learnt from the same data is always the same.

    Parameters
    ----------
    tokens : sequence of str
        The classes in id order; must start with ``"<unk>"``, ``"</s>"``.
    """

    def __init__(self, tokens):
        tokens = list(tokens)
        if tokens[:2] != [UNK, EOS]:
            raise ValueError("a vocabulary must start with '<unk>', '</s>'.")
        self.tokens = tokens
        self.index = {token: i for i, token in enumerate(tokens)}

    @property
    def _reader(self):
        """The map used to read text, built on first use.

        A literal '<s>' or '</s>' inside a sample is read as an unknown word:
        '<s>' is never a class, and '</s>' may only close a sample, never sit
        inside one. Not built while a model learns its vocabulary, where a
        second map of a large vocabulary would only add to the peak memory.
        """
        reader = self.__dict__.get("_read_map")
        if reader is None:
            reader = self._read_map = dict(self.index)
            reader[BOS] = UNK_ID
            reader[EOS] = UNK_ID
        return reader

    @classmethod
    def learn(cls, samples, *, min_count=1, max_vocab=None):
        """Learn the vocabulary of token lists.

        Parameters
        ----------
        samples : list of list of str
            Validated samples.
        min_count : int, default=1
            Tokens seen fewer times become ``<unk>``.
        max_vocab : int or None, default=None
            Keep at most this many tokens besides ``<unk>`` and ``</s>``, the
            most frequent first.
        """
        counts = Counter(chain.from_iterable(samples))
        for special in (UNK, EOS, BOS):
            counts.pop(special, None)
        kept = [token for token, count in counts.items() if count >= min_count]
        kept.sort(key=lambda token: (-counts[token], token))
        if max_vocab is not None:
            kept = kept[:max_vocab]
        return cls([UNK, EOS, *kept])

    @classmethod
    def learn_encode(cls, chunks, *, min_count=1, max_vocab=None):
        """Learn the vocabulary of a corpus and encode it, in one pass.

        Parameters
        ----------
        chunks : iterable of list of list of str
            Validated samples, chunk by chunk (see
            :func:`sklm._validation.iter_corpus`); read once, so a generator
            of a large corpus is never held in memory as strings.
        min_count, max_vocab
            As in :meth:`learn`.

        Returns
        -------
        vocabulary : Vocabulary
        corpus : Encoded
            Every sample followed by ``</s>``.
        """
        # Provisional ids in order of first appearance: a defaultdict whose
        # factory is its own length numbers every new token as it is seen,
        # all inside C-level map().
        provisional = defaultdict()
        provisional.default_factory = provisional.__len__
        pieces, lengths = [], []
        for chunk in chunks:
            chunk_lengths = np.fromiter(map(len, chunk), dtype=np.int64, count=len(chunk))
            n_tokens = int(chunk_lengths.sum())
            pieces.append(
                np.fromiter(
                    map(provisional.__getitem__, chain.from_iterable(chunk)),
                    dtype=np.int64,
                    count=n_tokens,
                )
            )
            lengths.append(chunk_lengths)
        tokens = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
        lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
        types = list(provisional)
        counts = np.bincount(tokens, minlength=len(types))
        is_special = np.array([t in (UNK, EOS, BOS) for t in types], dtype=bool)
        eligible = np.flatnonzero((counts >= min_count) & ~is_special)
        # Decreasing count, ties alphabetical: stable sort of the alphabetical order.
        alphabetical = eligible[np.argsort(np.array([types[i] for i in eligible], dtype=object), kind="stable")]
        kept = alphabetical[np.argsort(-counts[alphabetical], kind="stable")]
        if max_vocab is not None:
            kept = kept[:max_vocab]
        vocabulary = cls([UNK, EOS, *(types[i] for i in kept)])
        remap = np.full(len(types), UNK_ID, dtype=np.int64)
        remap[kept] = np.arange(2, len(kept) + 2)
        return vocabulary, _with_eos(remap[tokens], lengths)

    def __len__(self):
        return len(self.tokens)

    def encode(self, samples, *, eos=True):
        """Encode validated token lists as an :class:`Encoded` corpus."""
        lengths = np.fromiter(map(len, samples), dtype=np.int64, count=len(samples))
        n_tokens = int(lengths.sum())
        tokens = np.fromiter(
            map(self._reader.get, chain.from_iterable(samples), repeat(UNK_ID)),
            dtype=np.int64,
            count=n_tokens,
        )
        if eos:
            return _with_eos(tokens, lengths)
        offsets = np.zeros(len(samples) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return Encoded(tokens, offsets)

    def text_encoder(self):
        """The :class:`TextEncoder` of this vocabulary, built on first use."""
        encoder = self.__dict__.get("_text_encoder")
        if encoder is None:
            encoder = self._text_encoder = TextEncoder(self._reader, UNK_ID)
        return encoder

    def encode_texts(self, texts, *, eos=True):
        """Encode texts, each split on whitespace, as an :class:`Encoded` corpus.

        The same ids as ``encode([t.split() for t in texts])``; ASCII texts
        are split and mapped in whole-array passes over their bytes.

        Parameters
        ----------
        texts : list of str
            Validated samples.
        eos : bool, default=True
            Whether every sample ends with ``</s>``.
        """
        encoded = self.text_encoder().encode(texts)
        if encoded is None:
            return self.encode(list(map(str.split, texts)), eos=eos)
        tokens, lengths = encoded
        if eos:
            return _with_eos(tokens, lengths)
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return Encoded(tokens, offsets)

    def __getstate__(self):
        # The text encoder and the reading map are caches, rebuilt on first use.
        state = dict(self.__dict__)
        state.pop("_text_encoder", None)
        state.pop("_read_map", None)
        return state

    def __setstate__(self, state):
        # Pickles of earlier versions hold the reading map as "_reader".
        state = dict(state)
        state.pop("_reader", None)
        self.__dict__.update(state)

    def decode(self, ids):
        """Map ids back to tokens."""
        return [self.tokens[i] for i in ids]


def _with_eos(tokens, lengths):
    """Lay out token ids as an :class:`Encoded` corpus with ``</s>`` after each sample."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=offsets[1:])
    ids = np.full(offsets[-1], EOS_ID, dtype=np.int64)
    is_token = np.ones(offsets[-1], dtype=bool)
    is_token[offsets[1:] - 1] = False
    ids[is_token] = tokens
    return Encoded(ids, offsets)
