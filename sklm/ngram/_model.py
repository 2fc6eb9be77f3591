"""The n-gram language model estimator."""

import tempfile
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from scipy.special import logsumexp
from sklearn.utils.validation import check_is_fitted

from .._allocator import release_free_memory
from .._mapped import MappedFolder, ResidentCap, resident_bytes
from .._numbering import WordNumbering, alphabetical_order, find_word, gathered
from .._parallel import resolve_threads
from .._sklearn import Interval, StrOptions
from .._validation import iter_corpus
from ..base import (
    BOS,
    EOS,
    EOS_ID,
    UNK,
    UNK_ID,
    Encoded,
    LanguageModel,
    StoredVocabulary,
    Vocabulary,
)
from . import _persistence
from ._arpa import read_arpa
from ._arpa_write import write_arpa
from ._counting import NGramCounts, combine_counts, count_ngrams
from ._external import SpilledIds, SpilledRuns, chunk_positions, parse_memory_size
from ._pruning import entropy_prune
from ._sharding import active_dask_client, dask_count
from ._smoothing import estimate, make_smoothing

#: The longest n-gram ``NGramLM`` accepts. Counting and estimation make one
#: pass over the corpus per order and store up to one n-gram per position
#: in each, so time and memory grow with the order: the bound keeps an
#: absurd order from running for ever.
MAX_ORDER = 64
# A fit with memory_limit numbers the words in the compiled hash table of
# WordNumbering only with a budget of at least this many bytes (Numba's code
# and LLVM take about 0.1 GB of resident memory); below, in its sorted arrays.
COMPILED_WORDS_BUDGET = 500 * 10**6

SMOOTHINGS = (
    "mle",
    "add_k",
    "absolute_discounting",
    "witten_bell",
    "kneser_ney",
    "stupid_backoff",
)


class NGramLM(LanguageModel):
    """N-gram language model with the classic smoothings.

    Each sample is read as ``<s> w1 .. wn </s>``: one ``<s>``, no padding,
    and no n-gram reaches back past ``<s>``; its ``n + 1`` tokens are
    predicted from at most ``order - 1`` preceding words. ``V`` below is
    ``len(classes_)`` (every class, ``<unk>`` and ``</s>`` included, ``<s>``
    excluded), ``c`` a count in the training data and ``N1+(h)`` the number
    of distinct words seen after the context ``h``; ``h'`` is ``h`` without
    its first word.

    - ``"mle"``: ``p(w | h) = c(hw) / c(h)``. An unseen event gets probability
      0 (log-probability ``-inf``; the only other smoothing that can give it
      is ``"stupid_backoff"``, for a word never seen in training). A
      context never seen in training is shortened to its longest seen
      suffix (down to the unigrams ``c(w) / N``).
    - ``"add_k"``: Lidstone, ``(c(hw) + alpha) / (c(h) + alpha V)`` on the
      full context (the last ``order - 1`` words, fewer after ``<s>``); an
      unseen context gives ``1 / V``. ``alpha=1`` is Laplace, ``alpha=0``
      is ``"mle"``.
    - ``"absolute_discounting"``: interpolated,
      ``max(c(hw) - D, 0) / c(h) + D N1+(h) / c(h) p(w | h')``, down to the
      uniform ``1 / V``; ``D = n1 / (n1 + 2 n2)`` per order unless
      ``discount`` is given.
    - ``"witten_bell"``: interpolated, ``lambda(h) p_ML(w | h) + (1 -
      lambda(h)) p(w | h')`` with ``lambda(h) = c(h) / (c(h) + N1+(h))``,
      down to the uniform ``1 / V``.
    - ``"kneser_ney"``: interpolated modified Kneser-Ney, exactly as KenLM's
      ``lmplz`` estimates it: continuation counts below the highest order
      (raw counts for n-grams that open with ``<s>``), three discounts per
      order from the counts of counts, ``D_k = k - (k + 1) Y n_{k+1} / n_k``
      with ``Y = n1 / (n1 + 2 n2)``, and unigrams interpolated with the
      uniform ``1 / V``. Where an order's counts of counts cannot give
      discounts in ``[0, k]`` (small or repetitive data), that order uses
      ``(0.5, 1, 1.5)`` and a ``UserWarning`` names it.
    - ``"stupid_backoff"`` (Brants et al., 2007): the relative frequency
      ``c(hw) / c(h)`` of the longest seen n-gram, times ``backoff`` for
      every word dropped from the context; unigrams ``c(w) / N`` (so, as
      with ``"mle"``, a word never seen in training, ``<unk>`` included,
      scores 0; ``min_count`` above 1 gives ``<unk>`` a count). These are
      scores, not probabilities: ``score`` and ``score_samples`` return the
      log-scores (a pseudo log-likelihood) and ``predict_proba`` rows are the
      scores normalised to sum to one.

    For every other smoothing ``predict_proba`` rows sum to one and
    ``score_samples`` is the sum of the log ``predict_proba`` of each actual
    next token. Every model is stored in backoff form, as an ARPA file holds
    it (interpolated probabilities, backoff weight ``gamma(h)``), so scoring
    and ``predict_proba`` share one vectorized query.

    Parameters
    ----------
    order : int, default=3
        Length of the longest n-gram (``1`` is a unigram model), at most
        64: each order costs one pass over the corpus and up to one stored
        n-gram per training token.
    smoothing : {"mle", "add_k", "absolute_discounting", "witten_bell", \
            "kneser_ney", "stupid_backoff"}, default="kneser_ney"
        How probability is given to unseen events (see above).
    alpha : float, default=1.0
        Pseudo-count of ``"add_k"``; ``1`` is Laplace smoothing, ``0`` is
        maximum likelihood. Must be non-negative and finite; the larger it
        is, the closer the model is to the uniform ``1 / V`` (which a value
        so large that ``alpha V`` overflows gives exactly).
    discount : float in [0, 1] or None, default=None
        ``D`` of ``"absolute_discounting"``; ``None`` estimates
        ``n1 / (n1 + 2 n2)`` per order from the counts of counts (0.5, with
        a warning, where that is impossible).
    backoff : float in (0, 1], default=0.4
        Factor of ``"stupid_backoff"`` per word dropped from the context.
    prune : sequence of int or None, default=None
        Count thresholds per order, as KenLM's ``lmplz --prune``: an n-gram
        of order ``k >= 2`` seen at most ``prune[k - 1]`` times in training
        is left out of the model. The first threshold (unigrams) must be 0
        (the vocabulary is ``min_count``'s and ``max_vocab``'s business),
        the thresholds must not decrease, and a sequence shorter than
        ``order`` is extended with its last value. ``(0, 1, 1)`` drops the
        bigrams and trigrams seen once. The model is estimated on all the
        counts first (discounts and continuation counts are those of the
        unpruned model); the mass of each pruned n-gram then goes to the
        weight of its context, so that it is given through the lower
        order. With ``"kneser_ney"`` this is exactly ``lmplz``'s pruned
        model. The other interpolated smoothings (``"mle"``, ``"add_k"``,
        ``"absolute_discounting"``, ``"witten_bell"``) prune by the same
        rule and still sum to one; ``"stupid_backoff"`` simply drops the
        pruned n-grams (its scores then back off with its fixed factor).
    prune_entropy : float or None, default=None
        Entropy-based pruning (Stolcke, 1998), as SRILM's ``ngram -prune``:
        once the model is estimated (and count-pruned, if ``prune`` is
        set), an n-gram is removed when removing it alone makes the model's
        perplexity grow by a relative amount below ``prune_entropy`` (the
        relative entropy between the two models, weighted by the
        probability of the n-gram's context). Orders are pruned from the
        highest down, and the backoff weights of the contexts that lost
        n-grams are recomputed so that the model still sums to one. An
        n-gram that is a prefix or a suffix of a kept longer one is kept.
        ``1e-8`` prunes little; ``1e-6`` to ``1e-5`` typically halves a
        model or more. Not available with ``"stupid_backoff"``, whose
        scores are no distribution.
    min_count : int, default=1
        Words seen fewer times in training become ``<unk>``.
    max_vocab : int, default=None
        Keep at most this many words (besides ``<unk>`` and ``</s>``), the
        most frequent first.
    vocabulary : list, tuple or set of str, str or path-like, default=None
        A fixed vocabulary (the classes besides ``<unk>`` and ``</s>``), as
        a list (kept in order), a set (sorted), or the path of a UTF-8 file
        with one word per line (as SRILM's ``-vocab``). Words outside it are
        ``<unk>``; ``min_count`` and ``max_vocab`` are then ignored. Models
        fitted with one vocabulary share their ``classes_`` (what
        :class:`~sklm.InterpolatedLM` needs).
    n_threads : int, default=None
        Threads that ``score`` and ``score_samples`` use on a large input
        (200,000 characters or tokens per thread at least), each scoring a
        contiguous part of it, and that ``to_arpa`` formats blocks of lines
        on, and on which a fit with ``memory_limit`` counts its chunks (two
        at most); the results do not depend on it. ``None``:
        the CPU cores this process may use, capped by ``OMP_NUM_THREADS``
        where it is set (as joblib sets it in the workers of a parallel
        grid search). ``1`` scores in the calling thread only. A large
        input also makes the call raise glibc's allocator thresholds for the
        process, so that its temporary arrays are reused (see the user
        guide; ``SKLM_MALLOC_TUNING=0`` opts out).
    memory_limit : int, str or None, default=None
        A memory budget for :meth:`fit`: bytes, or a string such as
        ``"512MB"`` or ``"1GiB"`` (``KB``, ``MB``, ``GB``, ``TB`` are powers
        of 1000, ``KiB``, ``MiB``, ``GiB``, ``TiB`` of 1024). ``X`` is then
        read lazily (a generator that reads lines from files, say, is never
        held whole), encoded and counted a chunk at a time, each chunk sized
        to about half of what the words leave of the budget, two chunks at a
        time on two threads (``n_threads``); each chunk's sorted counts are
        written to
        a temporary folder (``tempfile.gettempdir()``), and the runs are
        merged in one pass, a slab at a time, into files there. The model's
        tables are made in files there too, mapped into memory; while the
        fit runs, the pages of those files are released from the process
        whenever its resident memory passes the budget (Linux). The model is
        exactly the one fitted in memory. The files are deleted when ``fit``
        returns; on POSIX systems the mapped tables stay readable, and keep
        their disk space (about 24 bytes per stored n-gram), until the model
        is freed. Bounded: the corpus, the counting, the merge and, for
        ``"kneser_ney"`` without ``prune`` or ``prune_entropy``, the
        estimate. Not bounded: the distinct words (their UTF-8 bytes, and
        while the corpus is read an index of them: sorted keys, about 16
        bytes per word, below a budget of 500 MB; from 500 MB a hash table
        in a loop compiled by Numba, twice as fast, whose code takes about
        0.1 GB), the estimate of the
        other smoothings and of pruning, which make arrays of the size of an
        order in memory, and the hash indexes that the first ``score`` (or
        :func:`sklm.save`) builds. ``None`` counts the whole corpus at once,
        in memory, in one thread. Ignored by ``partial_fit`` (each
        call is counted whole) and under a Dask backend.

    Attributes
    ----------
    vocabulary_ : dict
        Token to class index.
    classes_ : ndarray of str
        The classes: ``"<unk>"``, ``"</s>"``, then the words.
    ngram_counts_ : ndarray of shape (order,)
        Number of stored n-grams per order (the unigrams include ``<s>``),
        as in the ``\\data\\`` header of :meth:`to_arpa`.
    discounts_ : ndarray or None
        ``"kneser_ney"``: shape ``(order, 3)``, ``D1, D2, D3+`` per order
        (row 0: unigrams). ``"absolute_discounting"``: shape ``(order,)``.
        ``None`` for the other smoothings.
    counts_of_counts_ : ndarray of shape (order, 4) or None
        ``"kneser_ney"``: ``n1 .. n4`` of the adjusted counts per order.
    tables_ : BackoffTables
        The backoff-form tables (natural logs) used by every query.

    See Also
    --------
    sklm.metrics.perplexity : Perplexity of a fitted model.

    Notes
    -----
    ``c(h)`` is the number of times ``h`` is followed by a token (its
    children's total), which for any context but a trailing ``</s>`` is its
    count. Words below ``min_count`` (or past ``max_vocab``) are replaced by
    ``<unk>`` before counting, so ``<unk>`` is then estimated like any other
    word; with ``min_count=1`` it never occurs in training and, as in KenLM,
    only smoothing gives it mass.

    Counting, estimation and every query are whole-array numpy operations:
    n-grams are int64 keys ``prefix_index * (V + 1) + word`` built order by
    order (each order sorted a range of contexts at a time, so that a large
    corpus is never sorted whole), and looked up through an open-addressing
    hash built on first use.

    Examples
    --------
    >>> from sklm import NGramLM
    >>> X = ["the cat sat", "the dog sat", "a cat ran"]
    >>> lm = NGramLM(order=2, smoothing="witten_bell").fit(X)
    >>> lm.classes_
    array(['<unk>', '</s>', 'cat', 'sat', 'the', 'a', 'dog', 'ran'], dtype=object)
    >>> lm.predict(["the dog"])
    array(['sat'], dtype=object)
    >>> lm.predict_proba(["the"]).sum().round(12)
    np.float64(1.0)
    >>> lm.score_samples(["the cat sat"]).round(4)
    array([-3.3276])
    """

    _parameter_constraints = {
        **LanguageModel._parameter_constraints,
        "order": [Interval(Integral, 1, MAX_ORDER, closed="both")],
        "smoothing": [StrOptions(set(SMOOTHINGS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "discount": [Interval(Real, 0, 1, closed="both"), None],
        "backoff": [Interval(Real, 0, 1, closed="right")],
        "prune": [list, tuple, np.ndarray, None],
        "prune_entropy": [Interval(Real, 0, None, closed="left"), None],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "memory_limit": [Interval(Integral, 1, None, closed="left"), str, None],
    }

    def __init__(
        self,
        *,
        order=3,
        smoothing="kneser_ney",
        alpha=1.0,
        discount=None,
        backoff=0.4,
        prune=None,
        prune_entropy=None,
        min_count=1,
        max_vocab=None,
        vocabulary=None,
        n_threads=None,
        memory_limit=None,
    ):
        self.order = order
        self.smoothing = smoothing
        self.alpha = alpha
        self.discount = discount
        self.backoff = backoff
        self.prune = prune
        self.prune_entropy = prune_entropy
        self.min_count = min_count
        self.max_vocab = max_vocab
        self.vocabulary = vocabulary
        self.n_threads = n_threads
        self.memory_limit = memory_limit

    # hooks -------------------------------------------------------------------

    # The encoded corpus is held while it is counted: at half the size, the
    # ids weigh less on the peak memory of the counting.
    _fit_ids_dtype = np.int32

    def _prune_thresholds(self):
        """The ``prune`` parameter as one threshold per order, or None."""
        if self.prune is None:
            return None
        given = list(self.prune)
        if not 1 <= len(given) <= self.order or not all(
            isinstance(t, Integral) and not isinstance(t, bool) and t >= 0 for t in given
        ):
            raise ValueError(
                f"The 'prune' parameter of NGramLM must be a sequence of 1 to order={self.order} "
                f"non-negative integers (count thresholds per order). Got {self.prune!r} instead."
            )
        if given[0] != 0 or any(b < a for a, b in zip(given, given[1:])):
            raise ValueError(
                "The 'prune' parameter of NGramLM must start with 0 (unigrams are not pruned) "
                f"and must not decrease, as lmplz --prune requires. Got {self.prune!r} instead."
            )
        given += given[-1:] * (self.order - len(given))
        # No count reaches 2**62: a larger threshold prunes all the same.
        thresholds = np.array([min(int(t), 2**62) for t in given], dtype=np.int64)
        return thresholds if thresholds.any() else None

    def _learn_vocabulary(self, X):
        vocabulary, corpus = super()._learn_vocabulary(X)
        if self.vocabulary is not None:  # the given one, kept as it is
            return vocabulary, corpus
        # A learnt vocabulary is held as UTF-8 bytes, as a bounded fit holds
        # it: its Python strings and their dict (0.1 GB for the 417k words
        # of 8.07M tokens) would stay through the estimate. They are made
        # again from the bytes if asked for (classes_, vocabulary_, scoring).
        return StoredVocabulary(*StoredVocabulary.arrays(vocabulary.tokens)), corpus

    def _fit_encoded(self, corpus, vocabulary):
        counts = count_ngrams(corpus.ids, corpus.offsets, len(vocabulary), self.order)
        return self._fit_counts(counts)

    def _fit_sharded(self, X):
        # Under joblib.parallel_backend("dask"), the counting runs on the cluster.
        client = active_dask_client()
        if client is None:
            if self.memory_limit is None:
                return None
            return self._fit_bounded(X, parse_memory_size(self.memory_limit))
        vocabulary, counts = dask_count(
            client,
            X,
            order=self.order,
            min_count=self.min_count,
            max_vocab=self.max_vocab,
            fixed=self._fixed_vocabulary(),
        )
        return vocabulary, self._fit_counts(counts)

    def _fit_counts(self, counts, allocate=None):
        """The fitted attributes of the model of ``counts`` (an ``NGramCounts``).

        ``allocate(n, dtype)``, if given, makes the arrays of the size of an
        order (the tables among them); see :func:`estimate`.
        """
        prune = self._prune_thresholds()
        if self.prune_entropy is not None and self.smoothing == "stupid_backoff":
            raise ValueError(
                "prune_entropy needs a normalised model; smoothing='stupid_backoff' gives "
                "scores, not probabilities. Use prune= (count thresholds) instead."
            )
        tables, fitted = estimate(counts, make_smoothing(self), prune, allocate=allocate)
        if self.prune_entropy is not None:
            tables = entropy_prune(tables, self.prune_entropy)
        return {
            "discounts_": None,
            "counts_of_counts_": None,
            **fitted,
            "tables_": tables,
            "ngram_counts_": tables.sizes(),
            # A fit starts afresh: no counts of partial_fit carry over.
            "_partial": None,
            "_pending": False,
        }

    def _log_prob_tokens(self, corpus):
        return self.tables_.score_corpus(corpus.ids, corpus.offsets)

    def _scoring_threads(self):
        return resolve_threads(self.n_threads)

    def _prepare_shared_scoring(self):
        self.tables_.build_indexes()

    def _distribution(self, tail):
        log_proba = self.tables_.next_log_proba(tail)
        if self.tables_.normalise_rows:
            log_proba -= logsumexp(log_proba, axis=1, keepdims=True)
        return log_proba

    def _next_log_proba(self, contexts):
        return self._distribution(self.tables_.tails(contexts.ids, contexts.offsets))

    def _generation_start(self, contexts):
        # The state is only the last order - 1 ids of each row.
        tail = self.tables_.tails(contexts.ids, contexts.offsets)
        return tail, self._distribution(tail)

    def _generation_step(self, state, next_ids, active):
        if state.shape[1]:
            state = np.concatenate([state[:, 1:], np.asarray(next_ids)[:, None]], axis=1)
        return state, self._distribution(state[active])

    # reports -----------------------------------------------------------------

    def matched_lengths(self, X):
        """Length of the n-gram that gave each predicted token its probability.

        For each predicted token (a sample's tokens, then its ``</s>``), the
        length of the longest stored n-gram ending in that token, whose
        probability was used: 1 (the unigram) up to ``order``, as KenLM's
        ``query`` prints it (``ngram_length``). A short one marks a token
        whose context was seldom or never seen in training.

        Parameters
        ----------
        X : iterable of str or of sequences of str

        Returns
        -------
        lengths : list of ndarray of int
            One array per sample, aligned with :meth:`score_tokens`.

        Examples
        --------
        >>> from sklm import NGramLM
        >>> lm = NGramLM(order=3, smoothing="witten_bell")
        >>> lm = lm.fit(["the cat sat", "the dog sat", "a cat ran"])
        >>> lm.matched_lengths(["the cat ran", "a dog"])
        [array([2, 3, 2, 3]), array([2, 1, 1])]
        """
        corpus = self._encode(X, eos=True)
        _, lengths = self.tables_.score_corpus(corpus.ids, corpus.offsets, return_lengths=True)
        return np.split(lengths, corpus.offsets[1:-1])

    # partial_fit -------------------------------------------------------------

    def partial_fit(self, X, y=None):
        """Add the n-gram counts of ``X`` to those of the previous calls.

        The model is then the one that :meth:`fit` gives on all the samples
        of every call so far, in any order: the same vocabulary, the same
        n-grams, probabilities and backoff weights, bit for bit (an n-gram
        count is a sum over samples). The counts are kept, not the samples;
        the estimate (discounts, probabilities, pruning) is made on first
        use after a call (scoring, ``predict_proba``, ``tables_``,
        ``ngram_counts_``...), with the parameters set at that time.

        The vocabulary is the fixed ``vocabulary`` if one is given at the
        first call; otherwise it is learnt from the words of all the calls,
        with ``min_count`` and ``max_vocab`` applied to their total counts,
        so that a word rare in each chunk but frequent overall is kept, and
        ``classes_`` may grow from one call to the next. ``order`` cannot
        change between calls. A model fitted with :meth:`fit`, read from an
        ARPA file or loaded with :func:`sklm.load` holds no counts:
        ``partial_fit`` refuses it (``fit`` discards the counts of earlier
        ``partial_fit`` calls).

        Parameters
        ----------
        X : iterable of str or of sequences of str
            Training samples, as for :meth:`fit`.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The model, fitted on every sample so far.

        Examples
        --------
        >>> from sklm import NGramLM
        >>> lm = NGramLM(order=2, smoothing="witten_bell")
        >>> lm = lm.partial_fit(["the cat sat", "the dog sat"]).partial_fit(["a cat ran"])
        >>> whole = NGramLM(order=2, smoothing="witten_bell").fit(
        ...     ["the cat sat", "the dog sat", "a cat ran"])
        >>> bool((lm.score_samples(["the cat ran"]) == whole.score_samples(["the cat ran"])).all())
        True
        """
        self._validate_params()
        state = self.__dict__.get("_partial")
        if state is None:
            if hasattr(self, "classes_"):
                raise ValueError(
                    "This NGramLM was fitted with fit(), read from ARPA or loaded, and holds "
                    "no counts to add to; call partial_fit on an unfitted model (clone(lm)), "
                    "or fit on the whole corpus."
                )
            fixed = self._fixed_vocabulary()
            state = {
                "order": self.order,
                "fixed": fixed,
                "tokens": None,
                "alphabetical": None,
                "parts": [],
            }
            if fixed is None:
                # Provisional ids in order of first appearance; None stands
                # for the </s> that closes every sample.
                state["tokens"] = [UNK, None]
                state["alphabetical"] = np.zeros(0, dtype=np.int64)
        elif self.order != state["order"]:
            raise ValueError(
                f"The order of NGramLM cannot change between partial_fit calls: the counts "
                f"are of order {state['order']}, order is now {self.order}."
            )
        self._prune_thresholds()  # refused now rather than on first use
        order = state["order"]
        if state["fixed"] is not None:
            tokens = alphabetical = None
            corpus = Encoded.concatenate(
                [state["fixed"].encode(chunk, eos=True) for chunk in iter_corpus(X)]
            )
            n_classes = len(state["fixed"])
        else:
            tokens, corpus = _encode_provisional(X, state["tokens"])
            alphabetical = _insert_alphabetically(
                state["alphabetical"], tokens, len(state["tokens"])
            )
            n_classes = len(tokens)
        ids = corpus.ids.astype(np.int32) if n_classes < 2**31 else corpus.ids
        parts = [*state["parts"], count_ngrams(ids, corpus.offsets, n_classes, order)]
        # The counts of the calls are combined once the later ones hold as
        # many n-grams as the first: each n-gram is then merged O(log calls)
        # times, not once per call.
        sizes = [sum(len(keys) for keys in part.keys) for part in parts]
        if len(parts) > 1 and sum(sizes[1:]) >= sizes[0]:
            parts = [combine_counts(parts, _provisional_maps(parts, n_classes), n_classes)]
        if state["fixed"] is None:
            seen = np.zeros(len(tokens), dtype=np.int64)
            for part in parts:
                seen[: part.n_classes] += part.counts[0][: part.n_classes]
            vocabulary = self._learnt_vocabulary(tokens, alphabetical, seen)
        else:
            vocabulary = state["fixed"]
        # Assigned only now, all at once: a failed call changes nothing.
        self._partial = {**state, "tokens": tokens, "alphabetical": alphabetical, "parts": parts}
        self._pending = True
        self._set_vocabulary(vocabulary)
        return self

    def _learnt_vocabulary(self, tokens, alphabetical, seen):
        """The vocabulary ``fit`` learns from the provisional ``tokens`` counted.

        ``fit``'s rule (:class:`~sklm.base.Vocabulary`): the words seen
        ``min_count`` times or more, by decreasing count, ties alphabetical,
        at most ``max_vocab``. ``alphabetical`` lists the ids of the words in
        alphabetical order; ``seen`` the count of each token.
        """
        kept = self._kept_words(alphabetical, seen)
        return Vocabulary([UNK, EOS, *np.array(tokens, dtype=object)[kept].tolist()])

    def _kept_words(self, alphabetical, seen):
        """The ids of the words of :meth:`_learnt_vocabulary`, in class order."""
        eligible = alphabetical[seen[alphabetical] >= self.min_count]
        # Decreasing count, ties alphabetical: a stable sort of the alphabetical order.
        return eligible[np.argsort(-seen[eligible], kind="stable")][: self.max_vocab]

    def _fit_bounded(self, X, budget):
        """Fit counting ``X`` a chunk at a time within ``budget`` bytes.

        A first pass encodes ``X`` (provisional ids, those of partial_fit,
        unless the vocabulary is fixed) into a temporary file and counts the
        words; the vocabulary learnt from those counts maps the ids of a
        second pass, over the file, that counts chunk after chunk and spills
        each chunk's sorted counts; the runs are then merged.
        """
        fixed = self._fixed_vocabulary()
        self._prune_thresholds()  # refused before the corpus is read
        before = resident_bytes()
        order = self.order
        # Provisional ids: 0 "<unk>", 1 the end of a sample, then the words
        # in order of first appearance.
        numbering = WordNumbering(
            [UNK, None], large="table" if budget >= COMPILED_WORDS_BUDGET else "arrays"
        )
        seen = np.zeros(0, dtype=np.int64)
        # The merged counts and the tables live in files of this folder,
        # mapped; the files go with the folder, the mappings stay (POSIX)
        # as long as the model holds them.
        with (
            tempfile.TemporaryDirectory(
                prefix="sklm-counts-", ignore_cleanup_errors=True
            ) as folder,
            ResidentCap(budget) as cap,
        ):
            spilled = SpilledIds(folder)
            for chunk in iter_corpus(X, split=fixed is not None):
                if fixed is not None:
                    spilled.write(fixed.encode(chunk, eos=True).ids)
                    continue
                if isinstance(chunk[0], str):
                    ids = numbering.encode_texts(chunk, EOS_ID)
                else:
                    ids = numbering.encode_token_lists(chunk, EOS_ID)
                spilled.write(ids)
                if len(numbering) > len(seen):
                    # Grown by doubling: each count is copied O(1) times.
                    grown = np.zeros(max(len(numbering), 2 * len(seen)), dtype=np.int64)
                    grown[: len(seen)] = seen
                    seen = grown
                # Added in place: a bincount per chunk would make and add an
                # array as long as the words seen so far (20 ms against 0.8 ms
                # for a chunk of 290k tokens among 4M words).
                np.add.at(seen, ids, 1)
                del ids
            if fixed is not None:
                vocabulary, words = fixed, None
            else:
                # The words as UTF-8 bytes, with no Python string per word.
                n_provisional = len(numbering)
                utf8, ends = numbering.words_utf8()
                numbering.close()
                del numbering
                # _insert_alphabetically's order: the words (ids from 2 on),
                # without a literal "<s>" or "</s>".
                alphabetical = alphabetical_order(utf8, ends, np.arange(2, n_provisional))
                specials = [find_word(utf8, ends, alphabetical, word) for word in (BOS, EOS)]
                specials = [i for i in specials if i is not None]
                if specials:
                    alphabetical = alphabetical[~np.isin(alphabetical, specials)]
                seen.resize(n_provisional, refcheck=False)
                kept = self._kept_words(alphabetical, seen)
                del alphabetical, seen
                # The vocabulary of _learnt_vocabulary, held as UTF-8 bytes
                # copied from the words': the strings and dicts are made
                # only if asked for.
                vocabulary = StoredVocabulary(*gathered(utf8, ends, kept, head=(UNK, EOS)))
                del utf8, ends
                # Each provisional id's class: <unk> for the words left out
                # and for literal "<s>" and "</s>" (never kept), as in fit;
                # id 1 is the end of a sample.
                words = np.full(n_provisional, UNK_ID, dtype=np.int32)
                words[EOS_ID] = EOS_ID
                words[kept] = np.arange(2, len(kept) + 2, dtype=np.int32)
                del kept
            n_classes = len(vocabulary)
            runs = SpilledRuns(folder, n_classes, order)
            # The words are held from here on: the chunks get what they leave
            # of the budget (at least an eighth of it).
            release_free_memory()
            held = max(resident_bytes() - before, 0)
            # Chunks are counted on up to two threads (NumPy's sorts and
            # passes release the GIL), each with its share of the budget.
            threads = min(2, resolve_threads(self.n_threads))
            chunk = chunk_positions(max(budget - held, budget // 8) // threads, order)
            pending = deque()
            with ThreadPoolExecutor(threads) as pool:
                for ids, offsets in spilled.chunks(chunk, words):
                    if len(pending) == threads:
                        runs.add(pending.popleft().result())
                        release_free_memory()
                    pending.append(pool.submit(count_ngrams, ids, offsets, n_classes, order))
                    del ids, offsets
                while pending:
                    runs.add(pending.popleft().result())
                    release_free_memory()
            merged = Path(folder) / "merged"
            merged.mkdir()
            out = MappedFolder(merged, cap)
            counts = runs.merge(out)
            fitted = self._fit_counts(counts, allocate=out.zeros)
        return vocabulary, fitted

    def _partial_counts(self):
        """The counts of every partial_fit call, under the current vocabulary."""
        state = self._partial
        parts = state["parts"]
        n_classes = len(self._vocabulary)
        if state["fixed"] is not None:
            if len(parts) == 1:
                # estimate() releases what it reads: hand it fresh lists.
                counts = parts[0]
                return NGramCounts(
                    counts.n_classes,
                    list(counts.keys),
                    list(counts.counts),
                    list(counts.suffix),
                    list(counts.bos_initial),
                )
            return combine_counts(parts, _provisional_maps(parts, n_classes), n_classes)
        words = _final_ids(state["tokens"], self._vocabulary)
        # Each part knows the tokens seen up to its call; its <s> is id V.
        maps = [np.append(words[: part.n_classes], n_classes) for part in parts]
        return combine_counts(parts, maps, n_classes)

    def _finalise(self):
        """Estimate the model of the partial_fit counts (on first use)."""
        fitted = self._fit_counts(self._partial_counts())
        del fitted["_partial"], fitted["_pending"]
        self.__dict__.update(fitted)
        self.__dict__["_pending"] = False

    # ARPA --------------------------------------------------------------------

    def to_arpa(self, path):
        """Write the model as an ARPA file (gzip when ``path`` ends in ``.gz``).

        Values are log10, written with 17 significant digits, enough to read
        them back exactly. ``<s>`` gets log10 probability 0 (it is never
        predicted), as KenLM writes it. Interpolated smoothings, ``"add_k"``
        and ``"kneser_ney"`` (KenLM's layout: a backoff on every n-gram below
        the highest order) are written exactly. ``"mle"``: a zero probability
        or weight is written as -99 (ARPA has no ``-inf``), so readers give
        those events ``10**-99`` instead of 0. ``"stupid_backoff"``: ARPA
        applies a backoff only for contexts it stores, so a reader skips the
        factor for unseen contexts, and the values are scores, not
        probabilities. An order-1 model is written with an empty 2-grams
        section, as KenLM needs at least two orders (:meth:`from_arpa`
        drops empty highest orders).

        ARPA separates words by whitespace, so a token that is one
        whitespace character (the space of a character-level model) is
        written as ``<U+XXXX>``, its code point (``" "`` is ``<U+0020>``),
        and listed on a comment line before ``\\data\\``
        (``# sklm escaped tokens: <U+0020>``), which KenLM and SRILM skip
        and :meth:`from_arpa` reads to restore the tokens. Query such a
        model with KenLM by writing ``<U+0020>`` for a space. Any other
        token that holds whitespace, an empty token or one that UTF-8
        cannot encode (a lone surrogate) raises a ``ValueError`` before
        anything is written.

        The file is written a block of n-grams at a time and atomically: it
        replaces ``path`` only once complete (see :func:`sklm.io.atomic_write`).

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            If a token cannot be written, or the model holds NaN values.
        """
        check_is_fitted(self)
        write_arpa(self.tables_, list(self.classes_), path, n_threads=self.n_threads)
        return self

    @classmethod
    def from_arpa(cls, path, *, encoding="utf-8"):
        """Load an ARPA file (KenLM, SRILM or sklm; plain or gzip).

        The model scores every token exactly as KenLM's ``query`` does on the
        same file (up to KenLM's float32 rounding): the longest stored n-gram,
        plus the backoff weights of the longer stored contexts; an unknown
        word is ``<unk>``. A file without ``<unk>`` gives it log10
        probability -100 (with a warning), as KenLM does. A prefix of a
        stored n-gram missing from the file (pruned SRILM models) is added
        with the probability that backing off gives. Empty highest orders
        are dropped. Tokens escaped by :meth:`to_arpa` are restored.
        ``predict_proba`` rows sum to whatever the file's probabilities sum
        to.

        The reader is strict and bounded: numbers must be finite decimals
        (``-?(D+[.D*]|.D+)[(e|E)[+-]D+]``: no ``nan``, ``inf``, ``+5``,
        ``1_000`` or overflow), log10 probabilities at most 0; the header's
        counts must match the sections (and fit in the file's size); no
        n-gram may appear twice and every word must be a unigram. Lines are
        at most 1 MiB, orders at most 100, and at most 10,000 lines precede
        ``\\data\\``. It reads a few megabytes of lines at a time and never
        holds the whole file in memory.

        Parameters
        ----------
        path : str or path-like
        encoding : str, default="utf-8"
            Encoding of the file's words; any ASCII-compatible encoding
            (``"latin-1"``, ``"cp1252"``, ...).

        Returns
        -------
        lm : NGramLM
            A fitted model whose ``order`` is the file's. Its other
            parameters keep their defaults: calling ``fit`` estimates a new
            model from data.

        Raises
        ------
        ARPAFormatError
            A ``ValueError`` naming the file and the line, if the file is
            malformed, truncated, cannot be decoded, or exceeds the bounds.
        """
        tokens, tables = read_arpa(path, encoding=encoding)
        lm = cls(order=tables.order)
        vocabulary = Vocabulary(tokens)
        lm.tables_ = tables
        lm.ngram_counts_ = tables.sizes()
        lm.discounts_ = None
        lm.counts_of_counts_ = None
        lm._set_vocabulary(vocabulary)
        return lm

    # sklm.save / sklm.load ---------------------------------------------------

    def _save_state(self):
        """The fitted state for :func:`sklm.save` (see ``_persistence``)."""
        return _persistence.save_state(self)

    def _load_state(self, meta, arrays, *, verify=True):
        """Set the fitted state read by :func:`sklm.load` (see ``_persistence``)."""
        _persistence.load_state(self, meta, arrays, verify=verify)


def _lazy_fitted(name):
    """A fitted attribute that is estimated on first use after ``partial_fit``."""

    def get(self):
        if self.__dict__.get("_pending"):
            self._finalise()
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute '{name}'"
            ) from None

    def set(self, value):
        self.__dict__[name] = value

    return property(get, set, doc=f"``{name}``, estimated on first use after partial_fit.")


for _name in ("tables_", "ngram_counts_", "discounts_", "counts_of_counts_"):
    setattr(NGramLM, _name, _lazy_fitted(_name))
del _name


def _final_ids(tokens, vocabulary):
    """The id in ``vocabulary`` of each provisional token (``<unk>`` if left out)."""
    index = vocabulary.index
    # A literal "</s>" inside a sample is an unknown word, as in fit.
    return np.array(
        [UNK_ID, EOS_ID, *(UNK_ID if t == EOS else index.get(t, UNK_ID) for t in tokens[2:])],
        dtype=np.int64,
    )


def _provisional_maps(parts, n_classes):
    """Word maps of counts made as the provisional ids grew to ``n_classes``.

    The ids keep their values from one call to the next; only ``<s>``, id
    ``V`` of each part, moves to the end.
    """
    return [np.append(np.arange(part.n_classes), n_classes) for part in parts]


def _insert_alphabetically(alphabetical, tokens, n_old):
    """``alphabetical`` (ids of words in alphabetical order) with ids ``n_old..`` added.

    A literal ``<s>`` or ``</s>`` is no word and is left out. One merge of the
    new words into the order kept from the calls before, instead of sorting
    every word again at every call.
    """
    # Python's sort of a list of str compares them at C speed, several times
    # faster than NumPy's argsort of an object array (6.5 s against 16 s for
    # 4.17M words); the words are distinct, so no tie needs breaking.
    words = (i for i in range(n_old, len(tokens)) if tokens[i] != BOS and tokens[i] != EOS)
    new = np.array(sorted(words, key=tokens.__getitem__), dtype=np.int64)
    if not len(alphabetical):
        return new
    words = np.array([tokens[i] for i in new.tolist()], dtype=object)
    known = np.array(tokens, dtype=object)[alphabetical]
    return np.insert(alphabetical, np.searchsorted(known, words), new)


def _provisional_lookup(tokens):
    """A dict of ``tokens`` to their ids that numbers every new token as it is seen."""
    # A dict whose factory is its own length does it all inside C-level map().
    lookup = defaultdict(None, zip(tokens, range(len(tokens))))
    # A cycle (the dict holds its own method): set the factory to None when
    # done, or the dict and every word in it stay until the garbage collector
    # runs, which a fit that makes few Python objects may never trigger.
    lookup.default_factory = lookup.__len__
    return lookup


def _encode_provisional(X, tokens):
    """Encode ``X`` with provisional ids, new tokens numbered as they come.

    Returns the extended token list (``tokens`` is not changed) and the
    :class:`Encoded` corpus, every sample closed by id 1.
    """
    lookup = _provisional_lookup(tokens)
    pieces, lengths = [], []
    for chunk in iter_corpus(X):
        chunk_lengths = np.fromiter(map(len, chunk), dtype=np.int64, count=len(chunk))
        pieces.append(
            np.fromiter(
                map(lookup.__getitem__, chain.from_iterable(chunk)),
                dtype=np.int64,
                count=int(chunk_lengths.sum()),
            )
        )
        lengths.append(chunk_lengths)
    lengths = np.concatenate(lengths)
    ends = np.cumsum(lengths)
    ids = np.insert(np.concatenate(pieces), ends, EOS_ID)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=offsets[1:])
    tokens = list(lookup)
    lookup.default_factory = None
    return tokens, Encoded(ids, offsets)


def load_arpa(path):
    """Load an ARPA file as a fitted :class:`NGramLM` (see :meth:`NGramLM.from_arpa`).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    lm : NGramLM
    """
    return NGramLM.from_arpa(path)
