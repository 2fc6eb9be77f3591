"""A tiny add-one bigram model used to test the base contract on its own."""

import numpy as np

from sklm.base import LanguageModel


class AddOneBigramLM(LanguageModel):
    """p(w | v) = (c(v w) + 1) / (c(v) + V), the context being the previous id or <s>."""

    _parameter_constraints = {**LanguageModel._parameter_constraints}

    def __init__(self, *, min_count=1, max_vocab=None):
        self.min_count = min_count
        self.max_vocab = max_vocab

    def _fit_encoded(self, corpus, vocabulary):
        n = len(vocabulary)
        bos = n  # row for the <s> context
        prev = np.concatenate([[bos], corpus.ids[:-1]])
        prev[corpus.offsets[:-1]] = bos
        counts = np.ones((n + 1, n))
        np.add.at(counts, (prev, corpus.ids), 1)
        return {"log_table_": np.log(counts / counts.sum(axis=1, keepdims=True))}

    def _context_rows(self, corpus):
        bos = self.log_table_.shape[1]
        prev = np.concatenate([[bos], corpus.ids[:-1]]) if len(corpus.ids) else corpus.ids
        prev[corpus.offsets[:-1][corpus.lengths > 0]] = bos
        return prev

    def _log_prob_tokens(self, corpus):
        return self.log_table_[self._context_rows(corpus), corpus.ids]

    def _next_log_proba(self, contexts):
        bos = self.log_table_.shape[1]
        last = np.full(contexts.n_samples, bos)
        nonempty = contexts.lengths > 0
        last[nonempty] = contexts.ids[contexts.offsets[1:][nonempty] - 1]
        return self.log_table_[last]


def encoded_counts(vocabulary, samples, order):
    """N-gram counts of token lists under ``vocabulary`` (none for no samples)."""
    import numpy as np

    from sklm.base import Encoded
    from sklm.ngram._counting import count_ngrams

    corpus = (
        vocabulary.encode(samples, eos=True)
        if samples
        else Encoded(np.zeros(0, np.int64), np.zeros(1, np.int64))
    )
    return count_ngrams(corpus.ids.astype(np.int32), corpus.offsets, len(vocabulary), order)
