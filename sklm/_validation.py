"""The one validator of ``X`` that every public method calls."""

import os
from collections.abc import Iterable, Set
from itertools import chain, islice

import numpy as np


def _describe(obj):
    text = repr(obj)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(obj).__name__} {text}"


def check_not_table(X, name="X"):
    """Refuse 2-D arrays and data frames: their rows or columns are no samples.

    A 2-D array iterates over rows of cells and a data frame over its column
    names, so either would be read silently as something else.
    """
    if isinstance(X, np.ndarray) and X.ndim > 1:
        raise ValueError(
            f"{name} is a {X.ndim}-D array of shape {X.shape}; expected a 1-D sequence of "
            "samples (texts or token lists). For a column of texts pass X[:, 0] or X.ravel()."
        )
    shape = getattr(X, "shape", None)
    if hasattr(X, "columns") and isinstance(shape, tuple) and len(shape) == 2:
        raise ValueError(
            f"{name} is a {type(X).__name__} (a table); expected a sequence of samples: pass "
            "the column of texts, e.g. df['text']."
        )


def _check_container(X, name):
    check_not_table(X, name)
    if X is None:
        raise ValueError(
            f"{name} is None; expected an iterable of samples, each a str or a "
            "sequence of str tokens."
        )
    if isinstance(X, (str, bytes)):
        raise ValueError(
            f"{name} is a single {type(X).__name__}; expected an iterable of samples "
            f"(for one text, pass [text]). Got {_describe(X)}."
        )
    if isinstance(X, np.ndarray) and X.ndim == 0:
        raise ValueError(f"{name} is a 0-d array; expected an iterable of samples.")
    if isinstance(X, dict) or not isinstance(X, Iterable):
        raise TypeError(
            f"{name} must be an iterable of samples (str or sequences of str); got {_describe(X)}."
        )


def _check_tokens(samples, name, first_index):
    # One C-level pass over every token rather than an isinstance() per token.
    kinds = set(map(type, chain.from_iterable(samples)))
    if all(issubclass(kind, str) for kind in kinds):
        return
    for i, sample in enumerate(samples, start=first_index):
        for j, token in enumerate(sample):
            if not isinstance(token, str):
                raise TypeError(
                    f"{name}[{i}][{j}] is {_describe(token)}; every token must be "
                    "a str (use sklm.Tokenizer to turn texts into tokens)."
                )


def _split_chunk(raw, name, first_index, split=True):
    """Validate one chunk of raw samples and return their token lists.

    With ``split=False``, a chunk of plain texts is returned as it is.
    """
    if set(map(type, raw)) == {str}:
        # The common case, plain texts: split in one C-level pass, and the
        # tokens of str.split() need no type check.
        return list(map(str.split, raw)) if split else raw
    chunk = []
    for i, sample in enumerate(raw, start=first_index):
        if isinstance(sample, str):
            chunk.append(sample.split())
        elif isinstance(sample, (bytes, dict)) or not isinstance(sample, Iterable):
            raise TypeError(
                f"{name}[{i}] must be a str or a sequence of str tokens; got {_describe(sample)}."
            )
        else:
            chunk.append(list(sample))
    _check_tokens(chunk, name, first_index)
    return chunk


def iter_corpus(X, *, name="X", allow_empty=False, chunk_size=16384, first_index=0, split=True):
    """Validate a corpus lazily, yielding chunks of token lists.

    The streaming form of :func:`check_corpus`: memory holds one chunk of
    token lists at a time, so a corpus of millions of tokens can be encoded
    without ever existing as Python strings all at once. The errors are those
    of :func:`check_corpus`; they number the samples from ``first_index``
    (where ``X`` is a part of a larger corpus). With ``split=False``, a chunk
    made only of texts is yielded as that list of texts, unsplit.
    """
    _check_container(X, name)
    samples = iter(X)
    n_seen = 0
    while True:
        raw = list(islice(samples, chunk_size))
        if not raw:
            break
        yield _split_chunk(raw, name, first_index + n_seen, split)
        n_seen += len(raw)
    if n_seen == 0 and not allow_empty:
        raise ValueError(f"{name} is empty; expected at least one sample.")


def check_corpus(X, *, name="X", allow_empty=False):
    """Validate a corpus and return it as a list of token lists.

    A sample is a ``str`` (split on whitespace, as KenLM and SRILM do) or a
    sequence of ``str`` tokens. ``X`` itself is never modified.

    Parameters
    ----------
    X : iterable of str or of sequences of str
        The samples.
    name : str, default="X"
        The name used in error messages.
    allow_empty : bool, default=False
        Whether a corpus of zero samples is accepted.

    Returns
    -------
    samples : list of list of str
        One token list per sample (new lists; the caller may keep them).

    Raises
    ------
    ValueError
        If ``X`` is ``None``, a bare string, or (unless ``allow_empty``) empty.
    TypeError
        If ``X`` is not iterable, or a sample or token is not a string.
    """
    samples = []
    for chunk in iter_corpus(X, name=name, allow_empty=allow_empty):
        samples.extend(chunk)
    return samples


def check_texts_or_corpus(X, *, name="X"):
    """Validate a corpus, leaving it unsplit when every sample is a ``str``.

    Returns ``(samples, texts)``: ``texts`` is True when ``samples`` is the
    list of the texts themselves (to be split on whitespace by the caller,
    who must not modify it), False when ``samples`` is what
    :func:`check_corpus` returns. The errors are those of
    :func:`check_corpus`.
    """
    _check_container(X, name)
    samples = X if type(X) is list else list(X)
    if samples and set(map(type, samples)) == {str}:
        return samples, True
    return check_corpus(samples, name=name), False


def check_samples_list(X, *, name="X"):
    """The samples of ``X`` as a list, unvalidated (validated where they are read).

    Checks only what :func:`iter_corpus` checks of the container; a corpus
    that is empty raises the same error.
    """
    _check_container(X, name)
    samples = X if type(X) is list else list(X)
    if not samples:
        raise ValueError(f"{name} is empty; expected at least one sample.")
    return samples


def check_sample(sample, *, name="prompt"):
    """Validate one sample (a str or a sequence of str) and return its tokens."""
    if sample is None:
        return []
    if isinstance(sample, str):
        return sample.split()
    return check_corpus([sample], name=name)[0]


def read_vocabulary(vocabulary, *, name="vocabulary"):
    """The words of a ``vocabulary`` parameter, as a list of str.

    A list or tuple keeps its order; a set is sorted (so that a fit is
    deterministic); a str or path-like names a UTF-8 file with one word per
    line (blank lines skipped, surrounding whitespace stripped), as SRILM's
    ``-vocab`` reads it.
    """
    if isinstance(vocabulary, (str, os.PathLike)):
        try:
            with open(vocabulary, encoding="utf-8") as file:
                words = [line.strip() for line in file]
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"{name}: cannot read the word file {vocabulary!r}: {error}") from None
        words = [word for word in words if word]
    elif isinstance(vocabulary, Set):
        words = list(vocabulary)
        _check_words(words, name)
        words.sort()
    elif isinstance(vocabulary, (list, tuple)):
        words = list(vocabulary)
    else:
        raise TypeError(
            f"{name} must be a list, tuple or set of str, or the path of a file with "
            f"one word per line; got {_describe(vocabulary)}."
        )
    _check_words(words, name)
    return words


def _check_words(words, name):
    for i, word in enumerate(words):
        if not isinstance(word, str) or not word or word.split() != [word]:
            raise ValueError(
                f"{name}[{i}] is {_describe(word)}; every word must be a non-empty str "
                "without whitespace."
            )
