"""N-gram counts of a corpus in parts: counted on a Dask cluster, reduced by partitions.

The counts of a corpus are the sum of the counts of its parts. :func:`dask_count`
runs the two passes of a fit on the workers of a ``dask.distributed``
cluster: the vocabulary (the words of each part counted, the counts added),
then the n-gram counts of each part. A part is a slice of a list of samples,
or some of the files of a :class:`~sklm.datasets.TextFiles`, which the
worker then reads itself.

The parts' counts are added by a hash-partitioned reduce. Each part cuts its
n-grams, as tuples of word ids, into ``P`` partitions by a hash of their
suffix (the n-gram without its first word; a unigram goes by its word). One
task per partition adds up the counts of its n-grams from every part, and
counts the distinct words seen to the left of each suffix: the continuation
counts of Kneser-Ney, exact within one partition because every left
extension of a suffix falls in the partition of that suffix. A last task
lays the partitions out as the tables of :func:`count_ngrams`, which the
client receives.
"""

import heapq
import operator
import os
from collections import Counter
from itertools import chain

import numpy as np

from .._hashing import GOLDEN
from .._validation import check_samples_list, iter_corpus
from ..base import EOS_ID, UNK_ID, Encoded, Vocabulary
from ._counting import NGramCounts, count_ngrams

# The partitioned reduce ------------------------------------------------------


def _mix(values):
    """SplitMix64's finaliser: well spread 64-bit hashes of uint64 values."""
    z = values ^ (values >> np.uint64(30))
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def split_counts(counts, n_partitions):
    """Cut the n-grams of ``counts`` into partitions by the hash of their suffix.

    Returns one list per partition, holding for each order ``k`` the pair
    ``(grams, counts)``: the n-grams as rows of ``k`` word ids and their
    counts. The hash of an n-gram depends only on its words, so one n-gram
    (and one suffix) goes to the same partition from every part.
    """
    base = counts.base
    word_type = np.int32 if base < 2**31 else np.int64
    pieces = [[] for _ in range(n_partitions)]
    modulus = np.uint64(n_partitions)
    # hashes[i]: the hash of the words of entry i of the current order.
    hashes = _mix(np.arange(base, dtype=np.uint64))
    seen = np.flatnonzero(counts.counts[0])
    _cut(pieces, hashes[seen] % modulus, seen[:, None].astype(word_type), counts.counts[0][seen])
    words = np.arange(base, dtype=word_type)[:, None]
    for k in range(2, counts.order + 1):
        context = counts.context(k)
        last = counts.word(k)
        grams = np.empty((len(last), k), dtype=word_type)
        grams[:, :-1] = words[context]
        grams[:, -1] = last
        partition = hashes[counts.suffix[k - 1]] % modulus
        if k < counts.order:
            hashes = _mix(hashes[context] * GOLDEN + last.astype(np.uint64))
        _cut(pieces, partition, grams, counts.counts[k - 1])
        words = grams
    return pieces


def _cut(pieces, partition, grams, counts):
    perm = np.argsort(partition, kind="stable")
    ends = np.cumsum(np.bincount(partition.astype(np.intp), minlength=len(pieces)))
    for piece, lo, hi in zip(pieces, chain([0], ends[:-1].tolist()), ends.tolist()):
        piece.append((grams[perm[lo:hi]], counts[perm[lo:hi]]))


def _packed(columns):
    """The word ids of ``columns`` packed into as few int64 as keep their order.

    Rows compare as their tuples of packed values do (three ids of up to 21
    bits fit in one int64).
    """
    bits = max(int(max((c.max() for c in columns if len(c)), default=1)).bit_length(), 1)
    per = max(63 // bits, 1)
    digits = []
    for start in range(0, len(columns), per):
        digit = columns[start].astype(np.int64)
        for column in columns[start + 1 : start + per]:
            digit <<= bits
            digit |= column
        digits.append(digit)
    return digits


def _order(digits):
    """The permutation that sorts rows of packed values, the first leading."""
    # One stable argsort where the rows fit in one int64; np.lexsort's last key leads.
    return np.argsort(digits[0], kind="stable") if len(digits) == 1 else np.lexsort(digits[::-1])


def _sorted_runs(columns):
    """Sort rows by ``columns``, the first leading: the permutation, and where equal rows begin."""
    digits = _packed(columns)
    perm = _order(digits)
    new = np.ones(len(perm), dtype=bool)
    if len(perm) > 1:
        new[1:] = False
        for digit in digits:
            ordered = digit[perm]
            new[1:] |= ordered[1:] != ordered[:-1]
    return perm, np.flatnonzero(new)


def reduce_partition(*pieces):
    """The counts of one partition, added over the parts, with the continuation counts.

    ``pieces``: the lists that :func:`split_counts` gave for this partition,
    one per part. Returns, for each order ``k``, ``(grams, counts, suffixes,
    left, group)``: the distinct n-grams, sorted, and their total counts;
    the distinct suffixes among them, sorted, with ``left``, the number of
    distinct words seen to the left of each; ``group``, the index in
    ``suffixes`` of each n-gram's suffix. Unigrams have only ``grams`` and
    ``counts`` (the rest ``None``).
    """
    reduced = []
    for k in range(1, len(pieces[0]) + 1):
        grams = np.concatenate([piece[k - 1][0] for piece in pieces])
        counts = np.concatenate([piece[k - 1][1] for piece in pieces]).astype(np.int64)
        perm, starts = _sorted_runs([grams[:, j] for j in range(k)])
        counts = np.add.reduceat(counts[perm], starts) if len(starts) else counts
        grams = grams[perm[starts]]
        if k == 1:
            reduced.append((grams, counts, None, None, None))
            continue
        by_suffix, groups = _sorted_runs([grams[:, j] for j in range(1, k)])
        # The n-grams are distinct: those of one suffix differ in their first word.
        left = np.diff(groups, append=len(grams))
        group = np.empty(len(grams), dtype=np.int64)
        group[by_suffix] = np.repeat(np.arange(len(groups)), left)
        suffixes = grams[by_suffix[groups], 1:]
        reduced.append((grams, counts, suffixes, left, group))
    return reduced


def _lookup(keys, grams, base):
    """Index of each row of ``grams`` (the words of a j-gram) in the table of order j.

    Fastest on rows in sorted order (the searches then walk the tables in order).
    """
    index = grams[:, 0].astype(np.int64)
    for j in range(1, grams.shape[1]):
        index = np.searchsorted(keys[j], index * base + grams[:, j])
    return index


def assemble_counts(n_classes, *partitions):
    """The :class:`NGramCounts` of the partitions that :func:`reduce_partition` gave.

    The keys, counts, suffixes and ``<s>`` flags equal those of
    :func:`count_ngrams` on the whole corpus; ``continuation`` holds the
    partitions' continuation counts, in table order.
    """
    base = n_classes + 1
    unigrams = np.zeros(base, dtype=np.int64)
    for partition in partitions:
        grams, counts = partition[0][:2]
        unigrams[grams[:, 0]] = counts
    # count_ngrams' rule: every position and every sample start counted.
    count_type = np.int32 if unigrams.sum() + 1 < 2**31 else np.int64
    keys = [np.arange(base, dtype=np.int64)]
    counts = [unigrams.astype(count_type)]
    suffix = [None]
    bos_initial = [keys[0] == n_classes]
    continuation = []
    for k in range(2, len(partitions[0]) + 1):
        parts = [partition[k - 1] for partition in partitions]
        grams = np.concatenate([part[0] for part in parts])
        left = np.zeros(len(keys[-1]), dtype=np.int64)
        tails = []
        for _, _, suffixes, n_left, group in parts:
            # The suffixes come sorted: the searches walk the tables in order.
            tail = _lookup(keys, suffixes, base)
            left[tail] = n_left
            tails.append(tail[group])
        continuation.append(left)
        # The partitions come sorted: a stable sort merges them. Sorted by
        # words, the rows are in the order of their keys.
        perm = _order(_packed([grams[:, j] for j in range(k)]))
        grams = grams[perm]
        key = _lookup(keys, grams[:, :-1], base)
        key *= base
        key += grams[:, -1]
        tail = np.concatenate(tails)[perm]
        index_type = np.int32 if len(keys[-1]) < 2**31 else np.int64
        keys.append(key)
        counts.append(np.concatenate([part[1] for part in parts])[perm].astype(count_type))
        suffix.append(tail.astype(index_type))
        bos_initial.append(grams[:, 0] == n_classes)
    continuation.append(None)
    return NGramCounts(n_classes, keys, counts, suffix, bos_initial, continuation)


# The work of one worker ------------------------------------------------------


def _read_part(shard):
    """The first pass over one part: its own vocabulary (every word) and the part encoded by it.

    Kept on the worker until the second pass re-codes it, so that the part
    is read and split once.
    """
    return Vocabulary.learn_encode(shard.chunks())


def _type_counts(part):
    """How often each word of a part occurs."""
    vocabulary, corpus = part
    counts = np.bincount(corpus.ids, minlength=len(vocabulary)).tolist()
    # Past <unk> and </s>: the words themselves.
    return Counter(dict(zip(vocabulary.tokens[2:], counts[2:])))


def _merge_type_counts(a, b):
    a.update(b)
    return a


def _split_part(part, vocabulary, order, n_partitions):
    """The second pass: a part's n-gram counts under the shared vocabulary, cut by partition."""
    own, corpus = part
    words = vocabulary.encode([own.tokens[2:]], eos=False).ids
    recode = np.concatenate([[UNK_ID, EOS_ID], words])
    recode = recode.astype(np.int32 if len(vocabulary) < 2**31 else np.int64)
    counts = count_ngrams(recode[corpus.ids], corpus.offsets, len(vocabulary), order)
    return split_counts(counts, n_partitions)


def _count_and_split(shard, vocabulary, order, n_partitions):
    """Both passes at once, under a fixed vocabulary."""
    parts = [vocabulary.encode(chunk, eos=True) for chunk in shard.chunks()]
    if parts:
        corpus = Encoded.concatenate(parts)
    else:
        corpus = Encoded(np.zeros(0, np.int64), np.zeros(1, np.int64))
    return _split_part((vocabulary, corpus), vocabulary, order, n_partitions)


def _tree_reduce(client, futures, merge):
    """Merge futures pairwise on the workers until one is left; its result."""
    # Every future is held until the end: a future the client drops may be
    # released by the scheduler before a task that needs it is registered.
    held = list(futures)
    while len(futures) > 1:
        paired = [client.submit(merge, x, y) for x, y in zip(futures[::2], futures[1::2])]
        if len(futures) % 2:
            paired.append(futures[-1])
        futures = paired
        held += paired
    return futures[0].result()


def _file_groups(paths, n_groups):
    """Indices of ``paths`` in ``n_groups`` groups of about equal bytes (largest first)."""
    try:
        sizes = [os.path.getsize(path) for path in paths]
    except OSError:
        # The client may not see the workers' files: equal numbers of files.
        sizes = [1] * len(paths)
    groups = [(0, i, []) for i in range(min(n_groups, len(paths)))]
    for i in sorted(range(len(paths)), key=lambda i: -sizes[i]):
        load, rank, members = heapq.heappop(groups)
        members.append(i)
        heapq.heappush(groups, (load + sizes[i], rank, members))
    return [sorted(members) for _, _, members in sorted(groups, key=lambda g: g[1])]


class _Shard:
    """One part of the corpus: a list of samples or a TextFiles.

    Sent to a worker as one pickle; Dask sends a bare list item by item,
    slowly when it holds many samples.
    """

    def __init__(self, samples, first=0):
        self.samples = samples
        self.first = first  # index in X of the first sample, for the errors

    def chunks(self):
        """The samples validated chunk by chunk (errors name their index in ``X``)."""
        return iter_corpus(self.samples, allow_empty=True, first_index=self.first)


def _shards(X, n_shards):
    """The parts of ``X``: slices of its samples, or groups of its files."""
    from ..datasets import TextFiles

    if isinstance(X, TextFiles):
        return [
            _Shard(
                TextFiles([X.paths[i] for i in group], encoding=X.encoding, normalize=X.normalize)
            )
            for group in _file_groups(X.paths, n_shards)
        ]
    samples = check_samples_list(X)
    bounds = np.linspace(0, len(samples), n_shards + 1).astype(int)
    return [
        _Shard(samples[lo:hi], first=int(lo)) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo
    ]


def dask_count(
    client, X, *, order, min_count, max_vocab, fixed=None, n_shards=None, n_partitions=None
):
    """Vocabulary and n-gram counts of ``X``, counted on a Dask cluster.

    Parameters
    ----------
    client : dask.distributed.Client
    X : list of samples or TextFiles
        The corpus (validated by the workers, part by part). The files of a
        :class:`~sklm.datasets.TextFiles` are read by the workers only.
    order, min_count, max_vocab
        As in :class:`~sklm.NGramLM`.
    fixed : Vocabulary or None
        A fixed vocabulary (then the first pass is skipped).
    n_shards : int or None
        How many parts; default: two per worker (at most one per file).
    n_partitions : int or None
        How many partitions the reduce cuts the n-grams into; default: one
        per worker.

    Returns
    -------
    vocabulary : Vocabulary
    counts : NGramCounts
        Equal to counting the whole corpus in one process, with the
        continuation counts of the partitions.
    """
    n_workers = max(len(client.scheduler_info()["workers"]), 1)
    # Scattered, so that no sample or file name is ever read as a task key;
    # under keys of their own (not the hash of the data), which the release
    # of an earlier fit's data of the same corpus cannot take away.
    shards = client.scatter(_shards(X, n_shards or 2 * n_workers), hash=False)
    from distributed import wait

    parts = None
    if fixed is None:
        parts = client.map(_read_part, shards, pure=False)
        type_counts = _tree_reduce(client, client.map(_type_counts, parts), _merge_type_counts)
        vocabulary = Vocabulary.from_counts(type_counts, min_count=min_count, max_vocab=max_vocab)
    else:
        vocabulary = fixed
    # One copy of the vocabulary per worker, sent once (as data, never read as
    # task keys, which a word of the corpus could spell).
    shared = client.scatter(vocabulary, broadcast=True, hash=False)
    n_partitions = n_partitions or n_workers
    options = {"vocabulary": shared, "order": order, "n_partitions": n_partitions}
    if fixed is None:
        split = client.map(_split_part, parts, **options)
    else:
        split = client.map(_count_and_split, shards, pure=False, **options)
    # Each stage's futures are dropped only once the next stage has read them
    # (as in _tree_reduce), and then at once, to free the workers' memory.
    wait(split)
    del shards, parts
    pieces = [[client.submit(operator.getitem, s, p) for s in split] for p in range(n_partitions)]
    reduced = [client.submit(reduce_partition, *partition) for partition in pieces]
    wait(reduced)
    del split, pieces
    counts = client.submit(assemble_counts, len(vocabulary), *reduced).result()
    if counts.counts[0][counts.n_classes] == 0:
        raise ValueError("X is empty; expected at least one sample.")
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
