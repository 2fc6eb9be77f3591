"""The vocabulary of a language model and the encoding of samples into ids."""

from collections import Counter
from dataclasses import dataclass
from itertools import chain, repeat

import numpy as np

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
        # A literal '<s>' in text is no class (DESIGN: '<s>' is never predicted),
        # so it is read as an unknown word.
        self.index[BOS] = UNK_ID

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

    def __len__(self):
        return len(self.tokens)

    def encode(self, samples, *, eos=True):
        """Encode validated token lists as an :class:`Encoded` corpus."""
        lengths = np.fromiter(map(len, samples), dtype=np.int64, count=len(samples))
        n_tokens = int(lengths.sum())
        tokens = np.fromiter(
            map(self.index.get, chain.from_iterable(samples), repeat(UNK_ID)),
            dtype=np.int64,
            count=n_tokens,
        )
        if eos:
            lengths = lengths + 1
        offsets = np.zeros(len(samples) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if not eos:
            return Encoded(tokens, offsets)
        ids = np.full(offsets[-1], EOS_ID, dtype=np.int64)
        is_token = np.ones(offsets[-1], dtype=bool)
        is_token[offsets[1:] - 1] = False
        ids[is_token] = tokens
        return Encoded(ids, offsets)

    def decode(self, ids):
        """Map ids back to tokens."""
        return [self.tokens[i] for i in ids]
