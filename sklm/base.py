"""The language-model contract, written once.

Every estimator of sklm derives from :class:`LanguageModel`. The base class
validates input, learns the vocabulary, and implements ``score``,
``score_samples``, ``predict_proba``, ``predict`` and ``sample`` on top of a
few small hooks that a model fills:

``_fit_encoded(corpus, vocabulary) -> dict``
    Estimate the model from an :class:`Encoded` corpus
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

Optional hooks, with defaults here: ``_keeps_vocabulary()`` (``warm_start``
keeps the fitted vocabulary), ``_fit_ids_dtype`` (the integer type of the ids
handed to ``_fit_encoded``), ``_scoring_threads()`` and
``_prepare_shared_scoring()`` (the part-wise threaded scoring of a large
input). The fitted vocabulary is set in one place, ``_set_vocabulary``, by
``fit`` and by every loader.

The contract's data lives here too: the special tokens (``<unk>`` is class 0,
``</s>`` class 1, ``<s>`` is only ever context), :class:`Encoded` (a corpus as
one flat id array with sample offsets) and :class:`Vocabulary`.
"""

import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import chain, repeat
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._allocator import keep_large_buffers
from ._numbering import closed_samples, utf8_tokens
from ._parallel import MIN_PART, map_threads, split
from ._sklearn import Interval, _fit_context, validate_params
from ._text_encoding import TextEncoder
from ._validation import check_sample, check_texts_or_corpus, iter_corpus, read_vocabulary

# The contract's data: special tokens, the encoded corpus and the vocabulary.

UNK = "<unk>"
BOS = "<s>"
EOS = "</s>"
UNK_ID = 0
EOS_ID = 1


def join_offsets(offsets, sizes):
    """The offsets of parts laid one after the other (each part ``sizes[i]`` positions long)."""
    starts = np.cumsum([0, *sizes[:-1]])
    return np.concatenate(
        [offsets[0][:1]] + [part[1:] + start for part, start in zip(offsets, starts)]
    )


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
        offsets = join_offsets([part.offsets for part in parts], [len(part.ids) for part in parts])
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
    def from_tokens(cls, tokens):
        """The vocabulary of the given words (the ``vocabulary`` parameter).

        ``<unk>`` and ``</s>`` come first whether listed or not; ``<s>`` is
        dropped (never a class); repeats keep their first place.
        """
        words = dict.fromkeys(t for t in tokens if t not in (UNK, EOS, BOS))
        return cls([UNK, EOS, *words])

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
        return cls.from_counts(
            Counter(chain.from_iterable(samples)), min_count=min_count, max_vocab=max_vocab
        )

    @classmethod
    def from_counts(cls, counts, *, min_count=1, max_vocab=None):
        """The vocabulary of token counts (a mapping token -> count), as :meth:`learn`."""
        types = list(counts)
        values = np.fromiter((counts[t] for t in types), dtype=np.int64, count=len(types))
        kept = _ranked(types, values, min_count, max_vocab)
        return cls([UNK, EOS, *(types[i] for i in kept)])

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
        # The factory is a method of the dict: a cycle, which only the
        # garbage collector would free, the dict and its words held meanwhile.
        provisional.default_factory = None
        del provisional
        counts = np.bincount(tokens, minlength=len(types))
        kept = _ranked(types, counts, min_count, max_vocab)
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

    def classes(self):
        """The tokens as an object array (``classes_``), made on first use."""
        classes = self.__dict__.get("_classes")
        if classes is None:
            classes = self._classes = np.array(self.tokens, dtype=object)
            classes.flags.writeable = False
        return classes

    def mapping(self):
        """A token to id dict (``vocabulary_``) apart from the one used to read."""
        mapping = self.__dict__.get("_mapping")
        if mapping is None:
            mapping = self._mapping = dict(self.index)
        return mapping

    def __getstate__(self):
        # The text encoder, the reading map and the public copies are caches,
        # rebuilt on first use.
        state = dict(self.__dict__)
        for cache in ("_text_encoder", "_read_map", "_classes", "_mapping"):
            state.pop(cache, None)
        return state

    def __setstate__(self, state):
        # Pickles of earlier versions hold the reading map as "_reader".
        state = dict(state)
        state.pop("_reader", None)
        self.__dict__.update(state)

    def decode(self, ids):
        """Map ids back to tokens."""
        return [self.tokens[i] for i in ids]


class StoredVocabulary(Vocabulary):
    """A vocabulary read from a model file, its tokens decoded on first use.

    The tokens are UTF-8 text ``utf8[ends[i - 1]:ends[i]]`` (a mapped array
    of a file written by :func:`sklm.save`); opening a model costs nothing
    per token until a token is needed as a string. The text encoder can come
    from the file too (:meth:`TextEncoder.from_arrays`), so that a text is
    scored without decoding the vocabulary. Pickled as a plain
    :class:`Vocabulary`.

    Parameters
    ----------
    utf8 : ndarray of uint8
    ends : ndarray of int64
        Where each token ends in ``utf8``; non-decreasing, the last at its
        end. Checked here with the first two tokens (``<unk>``, ``</s>``);
        :meth:`check` checks the rest.
    """

    def __init__(self, utf8, ends):
        if utf8.ndim != 1 or ends.ndim != 1 or len(ends) < 2:
            raise ValueError("the stored vocabulary is not two 1-D arrays of tokens.")
        if ends[-1] != len(utf8) or ends[0] < 0 or np.any(ends[1:] < ends[:-1]):
            raise ValueError("the stored vocabulary's token ends are out of order.")
        head = bytes(utf8[: ends[1]])
        if head[: ends[0]] != UNK.encode() or head[ends[0] :] != EOS.encode():
            raise ValueError("the classes do not start with '<unk>', '</s>'.")
        self._utf8 = utf8
        self._ends = ends

    @classmethod
    def arrays(cls, tokens):
        """The ``(utf8, ends)`` arrays of ``tokens``."""
        data, starts, lengths = utf8_tokens(list(tokens))
        return np.frombuffer(data, np.uint8), starts + lengths

    @property
    def tokens(self):
        tokens = self.__dict__.get("_tokens")
        if tokens is None:
            # One decode of all the bytes, then slices of the one string: a
            # decode per token costs several times more.
            data = bytes(self._utf8)
            not_utf8 = ValueError("the stored vocabulary is not UTF-8 text.")
            try:
                text = data.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                raise not_utf8 from None
            ends = np.asarray(self._ends)
            starts = np.concatenate([[0], ends[:-1]])
            if len(text) != len(data):
                # Byte offsets to character offsets: count the first bytes of
                # characters (not 10xxxxxx); every token must start on one.
                first = (np.frombuffer(data, np.uint8) & 0xC0) != 0x80
                if not first[starts[starts < ends]].all():
                    raise not_utf8
                count = np.zeros(len(data) + 1, dtype=np.int64)
                np.cumsum(first, out=count[1:])
                starts, ends = count[starts], count[ends]
            tokens = list(map(text.__getitem__, map(slice, starts.tolist(), ends.tolist())))
            self._tokens = tokens
        return tokens

    @property
    def index(self):
        index = self.__dict__.get("_index")
        if index is None:
            index = self._index = dict(zip(self.tokens, range(len(self.tokens))))
            if BOS in index or len(index) != len(self.tokens):
                raise ValueError("the stored vocabulary holds '<s>' or a repeated token.")
        return index

    def check(self):
        """Decode every token and check them (distinct, no ``<s>``)."""
        return self.index

    def use_stored_encoder(self, arrays, bits):
        """Take the text encoder from a file's tables (:meth:`TextEncoder.to_arrays`).

        Only their shapes are checked, so a vocabulary that was not checked
        scores text without decoding its tokens; a checked one should build
        its own encoder instead (:meth:`text_encoder`).
        """
        encoder = TextEncoder.from_arrays(arrays, bits, UNK_ID, lambda: self._reader)
        if len(encoder.lengths) > len(self):
            raise ValueError("the text encoder's tables do not fit the vocabulary.")
        self._text_encoder = encoder

    def __len__(self):
        return len(self._ends)

    def __reduce__(self):
        return Vocabulary, (self.tokens,)


def _ranked(types, counts, min_count, max_vocab):
    """Indices of the words of a vocabulary: the rule every learnt vocabulary follows.

    Words counted ``min_count`` times or more (specials excluded), by
    decreasing count, ties alphabetical, at most ``max_vocab``.
    """
    is_special = np.fromiter(map(_SPECIALS.__contains__, types), dtype=bool, count=len(types))
    eligible = np.flatnonzero((np.asarray(counts) >= min_count) & ~is_special)
    # Decreasing count, ties alphabetical: a stable sort of the alphabetical order.
    alphabetical = eligible[
        np.argsort(np.array([types[i] for i in eligible], dtype=object), kind="stable")
    ]
    kept = alphabetical[np.argsort(-np.asarray(counts)[alphabetical], kind="stable")]
    return kept if max_vocab is None else kept[:max_vocab]


_SPECIALS = frozenset((UNK, EOS, BOS))


def _with_eos(tokens, lengths):
    """Lay out token ids as an :class:`Encoded` corpus with ``</s>`` after each sample."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=offsets[1:])
    return Encoded(closed_samples(tokens, lengths, EOS_ID), offsets)


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
        "vocabulary": [list, tuple, set, frozenset, str, os.PathLike, None],
    }

    # scikit-learn estimator plumbing ---------------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.target_tags.required = False
        tags.non_deterministic = False
        return tags

    # the hooks a model fills ------------------------------------------------

    def _fit_encoded(self, corpus: Encoded, vocabulary: Vocabulary) -> dict:
        """Hook: estimate the model; return its fitted attributes (see the module docstring)."""
        raise NotImplementedError

    def _log_prob_tokens(self, corpus: Encoded) -> np.ndarray:
        """Hook: the natural-log probability of every position of ``corpus.ids``."""
        raise NotImplementedError

    def _next_log_proba(self, contexts: Encoded) -> np.ndarray:
        """Hook: the next-token log distribution of each context, ``(n, n_classes)``."""
        raise NotImplementedError

    # fit ---------------------------------------------------------------------

    def _fit_sharded(self, X) -> tuple[Vocabulary, dict] | None:
        """Hook: fit on a cluster when one is active; ``(vocabulary, fitted)`` or None.

        None (the default) fits in this process: ``_learn_vocabulary`` then
        ``_fit_encoded``.
        """
        return None

    def _keeps_vocabulary(self) -> bool:
        """Hook: whether ``fit`` keeps the fitted vocabulary (``warm_start``)."""
        return False

    def _fixed_vocabulary(self) -> Vocabulary | None:
        """The :class:`Vocabulary` of the ``vocabulary`` parameter, or None."""
        vocabulary = getattr(self, "vocabulary", None)
        if vocabulary is None:
            return None
        return Vocabulary.from_tokens(read_vocabulary(vocabulary))

    def _learn_vocabulary(self, X) -> tuple[Vocabulary, Encoded]:
        """Validate ``X``, learn (or take) the vocabulary and encode ``X`` with it.

        Returns ``(vocabulary, corpus)``. The ids are held as
        ``_fit_ids_dtype`` where the vocabulary fits in it.
        """
        if self._keeps_vocabulary():
            vocabulary = self._vocabulary
        else:
            vocabulary = self._fixed_vocabulary()
        if vocabulary is not None:
            corpus = Encoded.concatenate(
                [vocabulary.encode(chunk, eos=True) for chunk in iter_corpus(X)]
            )
        else:
            vocabulary, corpus = Vocabulary.learn_encode(
                iter_corpus(X), min_count=self.min_count, max_vocab=self.max_vocab
            )
        dtype = np.dtype(self._fit_ids_dtype)
        if corpus.ids.dtype != dtype and len(vocabulary) <= np.iinfo(dtype).max:
            corpus = Encoded(corpus.ids.astype(dtype), corpus.offsets)
        return vocabulary, corpus

    #: The integer type of the ids handed to ``_fit_encoded`` (a model that
    #: keeps the encoded corpus while it estimates may ask for int32).
    _fit_ids_dtype = np.int64

    def _set_vocabulary(self, vocabulary: Vocabulary) -> None:
        """Set the fitted vocabulary: the one place that does (fit and every loader)."""
        self.__dict__.pop("classes_", None)  # held by earlier versions
        self.__dict__.pop("vocabulary_", None)
        self._vocabulary = vocabulary

    def __sklearn_is_fitted__(self):
        # Fitted once a vocabulary is set (fit, partial_fit and every loader).
        return "_vocabulary" in self.__dict__

    def _fitted_vocabulary(self, name):
        vocabulary = self.__dict__.get("_vocabulary")
        if vocabulary is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return vocabulary

    @property
    def classes_(self):
        """The classes, in id order (an array of str; made on first use)."""
        return self._fitted_vocabulary("classes_").classes()

    @property
    def vocabulary_(self):
        """Token to id, as a dict (made on first use)."""
        return self._fitted_vocabulary("vocabulary_").mapping()

    def __setstate__(self, state):
        # Pickles of earlier versions hold classes_ and vocabulary_ themselves.
        state = dict(state)
        if "_vocabulary" in state:
            state.pop("classes_", None)
            state.pop("vocabulary_", None)
        super().__setstate__(state)

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
        sharded = self._fit_sharded(X)
        if sharded is None:
            vocabulary, corpus = self._learn_vocabulary(X)
            fitted = self._fit_encoded(corpus, vocabulary)
            del corpus
        else:
            vocabulary, fitted = sharded
        # Assigned only now, all at once: a failed fit changes nothing.
        self.__dict__.update(fitted)
        self._set_vocabulary(vocabulary)
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

    def _scoring_threads(self) -> int:
        """Hook: how many threads ``score*`` may use on a large input (default 1)."""
        return 1

    def _prepare_shared_scoring(self):
        """Hook: build, before threads share the model, what it builds lazily."""

    def _score_tokens(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Per-token log-probabilities of ``X`` and where each sample starts in them.

        Returns ``(log_probs, offsets)``: sample ``i``'s predictions are
        ``log_probs[offsets[i]:offsets[i + 1]]``. A large input is cut into
        contiguous parts scored by ``_scoring_threads()`` threads (numpy and
        torch release the GIL); every position is scored as in one piece.
        """
        check_is_fitted(self)
        samples, texts = check_texts_or_corpus(X)
        sizes = np.fromiter(map(len, samples), np.int64, len(samples))
        parts = split(samples, sizes, self._scoring_threads())

        def score_part(part):
            corpus = self._encode_checked(part, texts, eos=True)
            return self._log_prob_tokens(corpus), corpus.offsets

        if sizes.sum() >= MIN_PART:
            # Tens of megabytes of temporary arrays per call: reused from the
            # heap instead of being mapped and zeroed again by the kernel.
            keep_large_buffers()
        if len(parts) > 1:
            if texts:
                self._vocabulary.text_encoder()
            self._prepare_shared_scoring()
        scored = map_threads(score_part, parts)
        if len(scored) == 1:
            return scored[0]
        # Only the offsets are joined: the parts' ids are not needed again.
        log_probs = [log_probs for log_probs, _ in scored]
        offsets = join_offsets([offsets for _, offsets in scored], list(map(len, log_probs)))
        return np.concatenate(log_probs), offsets

    def score_tokens(self, X):
        """Log-probability of every predicted token of each sample.

        Parameters
        ----------
        X : iterable of str or of sequences of str

        Returns
        -------
        log_probs : list of ndarray
            One 1-D float array per sample: the natural-log probability of
            each of its tokens, then of its closing ``</s>`` (``n + 1``
            values for ``n`` tokens). Each array sums to that sample's
            :meth:`score_samples`.
        """
        log_probs, offsets = self._score_tokens(X)
        return np.split(log_probs, offsets[1:-1])

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
        log_probs, offsets = self._score_tokens(X)
        return segment_sum(log_probs, offsets)

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
        classes = self.classes_
        for step in range(max_length):
            rows = np.flatnonzero(active)
            drawn = _draw(log_proba, rng, temperature, top_k, top_p)
            for row, token_id in zip(rows, drawn):
                if token_id != EOS_ID:
                    out[row].append(classes[token_id])
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


__all__ = [
    "BOS",
    "EOS",
    "EOS_ID",
    "Encoded",
    "LanguageModel",
    "UNK",
    "UNK_ID",
    "Vocabulary",
    "segment_sum",
]
