"""The language-model contract, written once.

Every estimator of sklm derives from :class:`LanguageModel`. The base class
validates input, learns the vocabulary, and implements ``score``,
``score_samples``, ``predict_proba``, ``predict`` and ``sample`` on top of a
few small hooks that a model fills:

``_fit_encoded(corpus, vocabulary) -> dict``
    Estimate the model from an :class:`~sklm.preprocessing.Encoded` corpus
    (each sample ends with ``</s>``) and return the fitted attributes as a
    dict. The hook must not touch ``self``: the base class assigns the dict
    only once everything succeeded, so a failed ``fit`` leaves a fitted model
    as it was.
``_log_prob_tokens(corpus) -> ndarray``
    The natural-log probability of every position of ``corpus.ids``, each
    sample conditioned from ``<s>``.
``_next_log_proba(contexts) -> ndarray``
    For each context (an ``Encoded`` corpus without ``</s>``), the log
    distribution over ``classes_`` of the next token, shape
    ``(n_contexts, n_classes)``.

Generation uses two more hooks with working defaults,
``_generation_start`` and ``_generation_step``, which a model overrides
when it can carry a state forward more cheaply than re-reading the context.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._sklearn import Interval, _fit_context, validate_params
from ._validation import check_sample, check_texts_or_corpus, iter_corpus
from .preprocessing._vocabulary import EOS_ID, UNK_ID, Encoded, Vocabulary


def segment_sum(values, offsets):
    """Sum ``values`` over the segments ``offsets[i]:offsets[i + 1]``.

    Every segment must be non-empty (samples always hold their ``</s>``).
    """
    if len(values) == 0:
        return np.zeros(len(offsets) - 1)
    return np.add.reduceat(values, offsets[:-1])


class LanguageModel(BaseEstimator):
    """Base class of every sklm language model.

    Not meant to be used directly; see :class:`sklm.NGramLM`,
    :class:`sklm.RNNLM`, :class:`sklm.LSTMLM` and :class:`sklm.GRULM`.
    """

    _parameter_constraints = {
        "min_count": [Interval(Integral, 1, None, closed="left")],
        "max_vocab": [Interval(Integral, 1, None, closed="left"), None],
    }

    # scikit-learn estimator plumbing ---------------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.target_tags.required = False
        tags.non_deterministic = False
        return tags

    # fit ---------------------------------------------------------------------

    def _learn_vocabulary(self, X):
        """Validate ``X``, learn the vocabulary and encode ``X`` with it.

        Returns ``(vocabulary, corpus)``. Models that keep their vocabulary
        across fits (``warm_start``) override this.
        """
        return Vocabulary.learn_encode(
            iter_corpus(X), min_count=self.min_count, max_vocab=self.max_vocab
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the vocabulary and estimate the model.

        Parameters
        ----------
        X : iterable of str or of sequences of str
            Training samples: each a text (split on whitespace) or a list of
            tokens (what :class:`~sklm.Tokenizer` emits). Every sample is
            modelled on its own, from ``<s>`` to ``</s>``.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted model.
        """
        vocabulary, corpus = self._learn_vocabulary(X)
        fitted = self._fit_encoded(corpus, vocabulary)
        # Assigned only now, all at once: a failed fit changes nothing.
        self.__dict__.update(fitted)
        self.vocabulary_ = dict(vocabulary.index)
        self.classes_ = np.array(vocabulary.tokens, dtype=object)
        self._vocabulary = vocabulary
        return self

    # scoring ---------------------------------------------------------------

    def _encode(self, X, *, eos):
        check_is_fitted(self)
        return self._encode_checked(*check_texts_or_corpus(X), eos=eos)

    def _encode_checked(self, samples, texts, *, eos):
        """Encode what :func:`check_texts_or_corpus` returned."""
        if texts:
            return self._vocabulary.encode_texts(samples, eos=eos)
        return self._vocabulary.encode(samples, eos=eos)

    def _score_tokens(self, X):
        """Per-token log-probabilities of ``X`` with the encoded corpus."""
        corpus = self._encode(X, eos=True)
        return self._log_prob_tokens(corpus), corpus

    def score_samples(self, X):
        """Total log-probability of each sample.

        Each sample is scored from ``<s>``; its tokens and the closing
        ``</s>`` are predicted (``n + 1`` predictions for ``n`` tokens).
        Tokens outside the vocabulary are scored as ``<unk>``.

        Parameters
        ----------
        X : iterable of str or of sequences of str

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            Natural log. ``-inf`` only where the model gives an event
            probability zero (``smoothing="mle"`` on an unseen n-gram).
        """
        log_probs, corpus = self._score_tokens(X)
        return segment_sum(log_probs, corpus.offsets)

    def score(self, X, y=None):
        """Mean log-probability per predicted token (higher is better).

        The total log-probability of ``X`` divided by the number of
        predictions (tokens plus one ``</s>`` per sample), so that
        ``exp(-score(X))`` is the perplexity KenLM and SRILM report.

        Parameters
        ----------
        X : iterable of str or of sequences of str
        y : None
            Ignored.

        Returns
        -------
        score : float
            Natural log, per token.
        """
        log_probs, _ = self._score_tokens(X)
        return float(np.sum(log_probs) / len(log_probs))

    # next token ------------------------------------------------------------

    def predict_log_proba(self, X):
        """Log-distribution of the next token after each context.

        Parameters
        ----------
        X : iterable of str or of sequences of str
            Each sample is a context, read from ``<s>``; an empty context
            gives the distribution of the first token.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Columns in ``classes_`` order.
        """
        contexts = self._encode(X, eos=False)
        return self._next_log_proba(contexts)

    def predict_proba(self, X):
        """Distribution of the next token after each context.

        Parameters
        ----------
        X : iterable of str or of sequences of str
            Each sample is a context, read from ``<s>``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one; columns in ``classes_`` order.
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """The most likely next token after each context.

        Parameters
        ----------
        X : iterable of str or of sequences of str

        Returns
        -------
        tokens : ndarray of shape (n_samples,), dtype object
        """
        log_proba = self.predict_log_proba(X)
        return self.classes_[np.argmax(log_proba, axis=1)]

    # generation ------------------------------------------------------------

    def _generation_start(self, contexts):
        """Return ``(state, log_proba)`` for the first generated token.

        The default state is the list of context id arrays; each step re-reads
        the whole context through ``_next_log_proba``.
        """
        state = [contexts.sample(i) for i in range(contexts.n_samples)]
        return state, self._next_log_proba(contexts)

    def _generation_step(self, state, next_ids, active):
        """Feed ``next_ids`` and return ``(state, log_proba)`` for the rows in ``active``.

        ``state`` covers every row; only the rows flagged in ``active`` (a
        boolean mask) are still generating and need a distribution: the
        returned ``log_proba`` has one row per active row.
        """
        state = [np.append(ctx, tok) for ctx, tok in zip(state, next_ids)]
        rows = np.flatnonzero(active)
        lengths = np.array([len(state[i]) for i in rows], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        ids = np.concatenate([state[i] for i in rows]) if len(rows) else np.zeros(0, np.int64)
        return state, self._next_log_proba(Encoded(ids.astype(np.int64), offsets))

    @validate_params(
        {
            "n_samples": [Interval(Integral, 1, None, closed="left")],
            "prompt": [str, list, tuple, np.ndarray, None],
            "max_length": [Interval(Integral, 0, None, closed="left")],
            "temperature": [Interval(Real, 0, None, closed="left")],
            "top_k": [Interval(Integral, 1, None, closed="left"), None],
            "top_p": [Interval(Real, 0, 1, closed="right"), None],
            "random_state": ["random_state"],
        },
        prefer_skip_nested_validation=True,
    )
    def sample(
        self,
        n_samples=1,
        *,
        prompt=None,
        max_length=50,
        temperature=1.0,
        top_k=None,
        top_p=None,
        random_state=None,
    ):
        """Generate token sequences.

        Each sequence continues ``prompt`` (from ``<s>``) one token at a time
        and stops when ``</s>`` is drawn or after ``max_length`` tokens.

        Parameters
        ----------
        n_samples : int, default=1
            How many sequences to generate (generated together, in a batch).
        prompt : str or sequence of str, default=None
            Context to continue (a str is split on whitespace). Unseen words
            are read as ``<unk>``. ``None`` starts from ``<s>``.
        max_length : int, default=50
            Most tokens generated per sequence, ``</s>`` not counted;
            ``0`` returns empty sequences.
        temperature : float, default=1.0
            Divides the log-probabilities before sampling: below 1 sharper,
            above 1 flatter. ``0`` is greedy decoding (always the most likely
            token; ties go to the lowest class index).
        top_k : int, default=None
            Sample only among the ``top_k`` most likely tokens.
        top_p : float in (0, 1], default=None
            Nucleus sampling: sample only among the most likely tokens whose
            probabilities add up to at least ``top_p``.
        random_state : int, RandomState instance or None, default=None
            The same seed gives the same sequences.

        Returns
        -------
        samples : list of list of str
            The generated tokens of each sequence, without the prompt and
            without the closing ``</s>``.
        """
        check_is_fitted(self)
        rng = check_random_state(random_state)
        tokens = check_sample(prompt, name="prompt")
        out = [[] for _ in range(n_samples)]
        if max_length == 0:
            return out
        contexts = self._vocabulary.encode([tokens] * n_samples, eos=False)
        state, log_proba = self._generation_start(contexts)
        active = np.ones(n_samples, dtype=bool)
        for step in range(max_length):
            rows = np.flatnonzero(active)
            drawn = _draw(log_proba, rng, temperature, top_k, top_p)
            for row, token_id in zip(rows, drawn):
                if token_id != EOS_ID:
                    out[row].append(self.classes_[token_id])
            active[rows[drawn == EOS_ID]] = False
            if step == max_length - 1 or not active.any():
                break
            next_ids = np.full(n_samples, EOS_ID, dtype=np.int64)
            next_ids[rows] = drawn
            state, log_proba = self._generation_step(state, next_ids, active)
        return out


def _draw(log_proba, rng, temperature, top_k, top_p):
    """Draw one class index per row of ``log_proba``."""
    log_proba = np.asarray(log_proba, dtype=np.float64)
    if temperature == 0:
        return np.argmax(log_proba, axis=1)
    logits = log_proba / temperature
    n_rows, n_classes = logits.shape
    if top_k is not None and top_k < n_classes:
        kth = np.partition(logits, n_classes - top_k, axis=1)[:, n_classes - top_k][:, None]
        logits = np.where(logits >= kth, logits, -np.inf)
    logits = logits - np.max(logits, axis=1, keepdims=True)
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    if top_p is not None and top_p < 1:
        order = np.argsort(-proba, axis=1, kind="stable")
        sorted_p = np.take_along_axis(proba, order, axis=1)
        # Keep the smallest prefix whose mass reaches top_p (the first token always).
        before = np.cumsum(sorted_p, axis=1) - sorted_p
        keep_sorted = before < top_p
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        proba = np.where(keep, proba, 0.0)
        proba /= proba.sum(axis=1, keepdims=True)
    cdf = np.cumsum(proba, axis=1)
    u = rng.random_sample(n_rows)[:, None] * cdf[:, -1:]
    drawn = (cdf <= u).sum(axis=1)
    return np.minimum(drawn, n_classes - 1)


__all__ = ["LanguageModel", "segment_sum", "EOS_ID", "UNK_ID"]
