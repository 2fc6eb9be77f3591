"""Training from text files larger than memory: the corpus read as a stream of shards.

A :class:`~sklm.datasets.TextFiles` given to a recurrent model's ``fit`` is
never held whole. A first pass learns the vocabulary (or takes the
``vocabulary`` parameter) and counts the tokens; every epoch then reads the
files again, encodes them a shard at a time (whole samples, about
``stream_shard_tokens`` tokens each) and trains on the batches of each
shard, drawn in a random order, before reading the next. A shard trains as
``partial_fit`` on those samples would: the same batches, the same draws.
"""

from collections import Counter
from itertools import chain

import numpy as np

from .._validation import iter_corpus
from ..base import Encoded, Vocabulary


class Stream:
    """The shards of a re-readable corpus, encoded with a fixed vocabulary.

    Parameters
    ----------
    X : sklm.datasets.TextFiles
        Read once per epoch (and once before, by :meth:`learn`).
    vocabulary : Vocabulary
    shard_tokens : int
        A shard ends with the first sample that brings it to this many
        tokens (``</s>`` included).

    Attributes
    ----------
    n_samples, n_tokens : int
        The size of the corpus, counted by the first pass.
    """

    def __init__(self, X, vocabulary, shard_tokens, n_samples, n_tokens):
        self.X = X
        self.vocabulary = vocabulary
        self.shard_tokens = int(shard_tokens)
        self.n_samples = n_samples
        self.n_tokens = n_tokens

    @classmethod
    def learn(cls, X, vocabulary, *, shard_tokens, min_count=1, max_vocab=None):
        """Read ``X`` once: its size, and its vocabulary unless one is given."""
        counts = Counter() if vocabulary is None else None
        n_samples = n_tokens = 0
        for chunk in iter_corpus(X):
            n_samples += len(chunk)
            n_tokens += sum(map(len, chunk)) + len(chunk)  # each sample's </s>
            if counts is not None:
                counts.update(chain.from_iterable(chunk))
        if counts is not None:
            vocabulary = Vocabulary.from_counts(counts, min_count=min_count, max_vocab=max_vocab)
        return cls(X, vocabulary, shard_tokens, n_samples, n_tokens)

    def shards(self):
        """The corpus again, as :class:`Encoded` shards of whole samples."""
        pending, size = [], 0
        # Chunks of at most an eighth of a shard's tokens in samples, so that
        # a shard of short samples is read in several chunks.
        for chunk in iter_corpus(self.X, chunk_size=max(1, min(16384, self.shard_tokens // 8))):
            encoded = self.vocabulary.encode(chunk, eos=True)
            start = 0
            ends = encoded.offsets[1:]
            while start < encoded.n_samples:
                # The first sample that brings the shard to shard_tokens.
                reach = encoded.offsets[start] + self.shard_tokens - size
                stop = int(np.searchsorted(ends, reach, side="left")) + 1
                stop = min(max(stop, start + 1), encoded.n_samples)
                piece = _samples(encoded, start, stop)
                pending.append(piece)
                size += len(piece.ids)
                start = stop
                if size >= self.shard_tokens:
                    yield Encoded.concatenate(pending)
                    pending, size = [], 0
        if pending:
            yield Encoded.concatenate(pending)


def _samples(corpus, start, stop):
    """Samples ``start`` to ``stop - 1`` of ``corpus``."""
    lo, hi = int(corpus.offsets[start]), int(corpus.offsets[stop])
    return Encoded(corpus.ids[lo:hi], corpus.offsets[start : stop + 1] - lo)
