"""N-gram counts of a corpus in shards: merged exactly, counted on a Dask cluster.

The counts of a corpus are the sum of the counts of its parts;
:func:`~sklm.ngram._counting.combine_counts` adds them exactly (the tables of
each part renumbered into the united tables, order by order), whatever the
cut.

:func:`dask_count` runs the two passes of a fit on the workers of a
``dask.distributed`` cluster (the vocabulary, then the counts, each part read
by one worker) and merges the parts pairwise on the workers, so the client
only receives the final counts.
"""

from collections import Counter
from itertools import chain

import numpy as np

from .._validation import iter_corpus
from ..base import Encoded, Vocabulary
from ._counting import NGramCounts, combine_counts, count_ngrams


def merge_counts(a: NGramCounts, b: NGramCounts) -> NGramCounts:
    """The counts of two corpora (same classes, same order) taken together."""
    if a.n_classes != b.n_classes or a.order != b.order:
        raise ValueError(
            f"cannot merge counts of {a.n_classes} classes, order {a.order} with counts "
            f"of {b.n_classes} classes, order {b.order}."
        )
    same_words = np.arange(a.base)
    return combine_counts([a, b], [same_words, same_words], a.n_classes)


# The work of one worker ------------------------------------------------------


def _type_counts(shard):
    """Token counts of one part of the corpus (the first pass)."""
    counts = Counter()
    for chunk in iter_corpus(shard, allow_empty=True):
        counts.update(chain.from_iterable(chunk))
    return counts


def _merge_type_counts(a, b):
    a.update(b)
    return a


def _shard_counts(shard, vocabulary, order):
    """N-gram counts of one part of the corpus under the shared vocabulary."""
    parts = [vocabulary.encode(chunk, eos=True) for chunk in iter_corpus(shard, allow_empty=True)]
    if parts:
        corpus = Encoded.concatenate(parts)
    else:
        corpus = Encoded(np.zeros(0, np.int64), np.zeros(1, np.int64))
    ids = corpus.ids.astype(np.int32) if len(vocabulary) < 2**31 else corpus.ids
    return count_ngrams(ids, corpus.offsets, len(vocabulary), order)


def _tree_reduce(client, futures, merge):
    """Merge futures pairwise on the workers until one is left."""
    while len(futures) > 1:
        paired = [client.submit(merge, x, y) for x, y in zip(futures[::2], futures[1::2])]
        if len(futures) % 2:
            paired.append(futures[-1])
        futures = paired
    return futures[0]


def dask_count(client, samples, *, order, min_count, max_vocab, fixed=None, n_shards=None):
    """Vocabulary and n-gram counts of ``samples``, counted on a Dask cluster.

    Parameters
    ----------
    client : dask.distributed.Client
    samples : list
        The corpus (validated by the workers, part by part).
    order, min_count, max_vocab
        As in :class:`~sklm.NGramLM`.
    fixed : Vocabulary or None
        A fixed vocabulary (then the first pass is skipped).
    n_shards : int or None
        How many parts; default: two per worker.

    Returns
    -------
    vocabulary : Vocabulary
    counts : NGramCounts
        Equal to counting the whole corpus in one process.
    """
    if n_shards is None:
        n_shards = 2 * max(len(client.scheduler_info()["workers"]), 1)
    bounds = np.linspace(0, len(samples), n_shards + 1).astype(int)
    shards = [samples[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    shard_futures = client.scatter(shards)
    if fixed is None:
        type_counts = _tree_reduce(
            client, client.map(_type_counts, shard_futures, pure=False), _merge_type_counts
        ).result()
        vocabulary = Vocabulary.from_counts(type_counts, min_count=min_count, max_vocab=max_vocab)
    else:
        vocabulary = fixed
    # One copy of the vocabulary per worker, sent once (as data, never read as
    # task keys, which a word of the corpus could spell).
    shared = client.scatter(vocabulary, broadcast=True)
    counted = client.map(_shard_counts, shard_futures, vocabulary=shared, order=order, pure=False)
    counts = _tree_reduce(client, counted, merge_counts).result()
    return vocabulary, counts


def active_dask_client():
    """The ``dask.distributed`` client of an active ``joblib.parallel_backend("dask")``, or None."""
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    client = getattr(backend, "client", None)
    if type(backend).__name__ != "DaskDistributedBackend" or client is None:
        return None
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return client
    # Already a task on a worker (a fit inside a grid search on the cluster):
    # counting here, not waiting on the workers this task occupies.
    return None
