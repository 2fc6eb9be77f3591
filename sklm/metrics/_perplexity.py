"""Perplexity, the scorer for model selection, and OOV figures."""

from itertools import chain

import numpy as np
from sklearn.pipeline import Pipeline

from .._validation import check_corpus
from ..base import BOS, EOS, UNK

_READ_AS_UNK = frozenset((UNK, BOS, EOS))


def _final_model(estimator, X):
    """Split a pipeline into its language model and the transformed ``X``."""
    if isinstance(estimator, Pipeline):
        return estimator[-1], (estimator[:-1].transform(X) if len(estimator) > 1 else X)
    return estimator, X


def perplexity(lm, X):
    """Perplexity of a language model on ``X``.

    ``exp(-lm.score(X))``: the exponential of the mean negative log-probability
    per predicted token, ``</s>`` included, unknown words scored as ``<unk>``
    (KenLM's "Perplexity including OOVs").

    Parameters
    ----------
    lm : fitted language model or Pipeline ending in one
    X : iterable of str or of sequences of str (texts for a pipeline)

    Returns
    -------
    perplexity : float
        Lower is better. ``inf`` only when the model gives a token of ``X``
        probability zero (``smoothing="mle"``).

    Examples
    --------
    >>> from sklm import NGramLM
    >>> from sklm.metrics import perplexity
    >>> lm = NGramLM(order=2).fit(["a b a", "b a b", "a a b"])
    >>> round(perplexity(lm, ["a b"]), 3)
    3.665
    """
    return float(np.exp(-lm.score(X)))


def neg_perplexity_scorer(estimator, X, y=None):
    """Scorer for ``scoring=``: minus the perplexity (higher is better).

    Use it in :class:`~sklearn.model_selection.GridSearchCV` or
    :func:`~sklearn.model_selection.cross_val_score` to select models by
    perplexity rather than by mean log-probability (both give the same
    ranking; perplexity is the figure people quote).

    Parameters
    ----------
    estimator : fitted language model or Pipeline ending in one
    X : iterable of samples
    y : None
        Ignored.

    Returns
    -------
    score : float
        ``-perplexity(estimator, X)``.
    """
    return -perplexity(estimator, X)


def oov_report(lm, X):
    """Out-of-vocabulary figures, as KenLM's ``query`` and SRILM's ``ngram -ppl`` print them.

    A token is out of vocabulary (OOV) when it maps to ``<unk>``; a literal
    ``<unk>`` in ``X`` counts as one too, as it does in KenLM.

    Parameters
    ----------
    lm : fitted language model or Pipeline ending in one
    X : iterable of samples

    Returns
    -------
    report : dict
        ``n_samples``, ``n_predictions`` (tokens + one ``</s>`` per sample),
        ``n_oov``, ``oov_rate`` (OOVs per token, ``</s>`` not counted),
        ``log_prob`` (total, natural log), ``perplexity`` (OOVs included),
        ``perplexity_excluding_oov`` (OOV positions left out of both the
        sum and the count, as KenLM does).

    Examples
    --------
    >>> from sklm import NGramLM
    >>> from sklm.metrics import oov_report
    >>> lm = NGramLM(order=2).fit(["a b a", "b a b"])
    >>> oov_report(lm, ["a c b"])["n_oov"]
    1
    """
    model, Xt = _final_model(lm, X)
    samples = check_corpus(Xt)
    per_sample = model.score_tokens(samples)
    log_probs = np.concatenate(per_sample)
    oov = oov_flags(model, samples)
    n_samples = len(samples)
    n_predictions = len(log_probs)
    n_oov = int(oov.sum())
    n_in = n_predictions - n_oov
    total = float(log_probs.sum())
    return {
        "n_samples": n_samples,
        "n_predictions": n_predictions,
        "n_oov": n_oov,
        "oov_rate": n_oov / max(n_predictions - n_samples, 1),
        "log_prob": total,
        "perplexity": float(np.exp(-total / n_predictions)),
        "perplexity_excluding_oov": (
            float(np.exp(-log_probs[~oov].sum() / n_in)) if n_in else float("nan")
        ),
    }


def oov_flags(lm, X):
    """Which predicted tokens of ``X`` are out of the vocabulary of ``lm``.

    Parameters
    ----------
    lm : fitted language model
    X : iterable of str or of sequences of str

    Returns
    -------
    oov : ndarray of bool
        One flag per prediction, in the order of :meth:`score_tokens`
        concatenated (each sample's tokens, then its ``</s>``, never OOV).
        A literal ``<unk>`` (or a ``<s>``/``</s>`` inside a sample, read as
        ``<unk>``) counts as OOV, as in KenLM.
    """
    samples = check_corpus(X)
    vocabulary = lm.vocabulary_
    lengths = np.fromiter(map(len, samples), np.int64, len(samples))
    tokens = list(chain.from_iterable(samples))
    known = np.fromiter(map(vocabulary.__contains__, tokens), bool, len(tokens))
    special = np.fromiter(map(_READ_AS_UNK.__contains__, tokens), bool, len(tokens))
    flags = np.zeros(len(tokens) + len(samples), dtype=bool)
    is_token = np.ones(len(flags), dtype=bool)
    is_token[np.cumsum(lengths + 1) - 1] = False
    flags[is_token] = ~known | special
    return flags
