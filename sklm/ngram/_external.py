"""Counting within a memory budget: sorted runs spilled to disk, then merged.

A corpus larger than the budget is counted a chunk at a time; each chunk's
counts (sorted tables, one per order) go to a temporary folder as ``.npy``
files and leave memory. The runs are then merged two at a time, each read
back as a memory map, so that a merge holds its output and its sort, while
the pages of its inputs are the kernel's to drop. The result is exactly the
counts of the whole corpus (:func:`~sklm.ngram._counting.combine_counts`
adds counts exactly), so the model is the in-memory fit's, bit for bit.
"""

import re
import shutil
from numbers import Integral
from pathlib import Path

import numpy as np

from .._allocator import release_free_memory
from ..base import EOS_ID
from ._counting import NGramCounts

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*")


def parse_memory_size(value, name="memory_limit"):
    """Bytes of ``value``: an int, or a string such as ``"512MB"`` or ``"1.5GiB"``.

    ``K``/``KB``, ``M``/``MB``, ``G``/``GB``, ``T``/``TB`` are powers of
    1000; ``KiB``, ``MiB``, ``GiB``, ``TiB`` powers of 1024 (case ignored).
    """
    if isinstance(value, Integral) and not isinstance(value, bool):
        size = int(value)
    else:
        match = _SIZE.fullmatch(value) if isinstance(value, str) else None
        unit = match and _UNITS.get(match.group(2).lower())
        if not unit:
            raise ValueError(
                f"The {name!r} parameter must be a number of bytes or a string such as "
                f"'512MB' or '1GiB' (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB). "
                f"Got {value!r} instead."
            )
        size = int(float(match.group(1)) * unit)
    if size < 1:
        raise ValueError(f"The {name!r} parameter must be at least 1 byte. Got {value!r}.")
    return size


#: Bytes a chunk costs per corpus position while it is counted: its ids and
#: the per-position index arrays of the counting (about 24 bytes), and up to
#: one new entry per order (an int64 key, an int32 count and suffix, a flag:
#: 17 bytes, rounded up for the sort of a part).
_FIXED_PER_POSITION = 32
_PER_POSITION_PER_ORDER = 24
#: No chunk is smaller than this: below it, the cost of a run on disk (one
#: dense unigram table per run) outweighs the counting's.
MIN_CHUNK_POSITIONS = 64


def chunk_positions(budget, order):
    """Corpus positions counted in one chunk within ``budget`` bytes.

    Half of the budget goes to the counting of a chunk; the rest is left to
    the interpreter, the words seen so far and the merge.
    """
    per_position = _FIXED_PER_POSITION + _PER_POSITION_PER_ORDER * order
    return max(MIN_CHUNK_POSITIONS, budget // 2 // per_position)


class SpilledIds:
    """The encoded corpus in a file, written a chunk at a time, read back in chunks.

    Every sample ends with ``</s>`` (id 1) and no other position holds id 1,
    so the sample boundaries need no file of their own.
    """

    def __init__(self, folder):
        self._path = Path(folder) / "ids.bin"
        self._file = open(self._path, "wb")
        self.n_positions = 0

    def write(self, ids):
        np.asarray(ids, dtype=np.int32).tofile(self._file)
        self.n_positions += len(ids)

    def chunks(self, limit, word_map=None):
        """Encoded corpora of whole samples, about ``limit`` positions each.

        ``word_map``: an array giving the id counted for each id written.
        """
        self._file.close()
        with open(self._path, "rb") as handle:
            tail = np.zeros(0, dtype=np.int32)
            while True:
                block = np.fromfile(handle, dtype=np.int32, count=max(limit - len(tail), 1))
                ids = np.concatenate([tail, block])
                if not len(ids):
                    return
                ends = np.flatnonzero(ids == EOS_ID) + 1
                if not len(block):
                    cut = len(ids)
                elif len(ends):
                    cut = int(ends[-1])
                else:  # one sample longer than the chunk: read on
                    tail = ids
                    continue
                tail = ids[cut:]
                ids = ids[:cut]
                if word_map is not None:
                    ids = word_map[ids]
                offsets = np.zeros(1 + int(np.count_nonzero(ids == EOS_ID)), dtype=np.int64)
                offsets[1:] = np.flatnonzero(ids == EOS_ID) + 1
                yield ids, offsets


class SpilledRuns:
    """Counts of chunks of a corpus, all in the same ids, kept on disk until merged."""

    _FIELDS = ("keys", "counts", "suffix", "bos_initial")

    def __init__(self, folder, n_classes, order):
        self._folder = Path(folder)
        self.n_classes = n_classes
        self.order = order
        self._runs = []
        self._n_written = 0

    def __len__(self):
        return len(self._runs)

    def add(self, counts):
        """Write ``counts`` (an ``NGramCounts``) as one run; the caller drops it."""
        self._runs.append(self._save(counts))

    def _save(self, counts):
        run = self._folder / f"run{self._n_written}"
        run.mkdir()
        self._n_written += 1
        for field in self._FIELDS:
            for k, array in enumerate(getattr(counts, field), start=1):
                # The dense unigram keys and the unigrams' suffix need no file.
                if array is not None and not (field == "keys" and k == 1):
                    np.save(run / f"{field}{k}.npy", array)
        return run

    def _load(self, run, k, field):
        """One array of order ``k`` of a run, read into memory."""
        if field == "keys" and k == 1:
            return np.arange(self.n_classes + 1, dtype=np.int64)
        if field == "suffix" and k == 1:
            return None
        return np.load(run / f"{field}{k}.npy")

    def merge(self):
        """The counts of all the runs, in memory.

        Runs are merged in rounds, two neighbours at a time, every
        intermediate result spilled again; a merge reads its two runs one
        order at a time.
        """
        runs = self._runs
        if not runs:
            raise ValueError("no counts to merge")
        while len(runs) > 1:
            merged = []
            for i in range(0, len(runs) - 1, 2):
                counts = self._merge_pair(*runs[i : i + 2])
                if len(runs) == 2:
                    self._runs = []
                    return counts
                merged.append(self._save(counts))
                del counts
                release_free_memory()
                for run in runs[i : i + 2]:
                    shutil.rmtree(run, ignore_errors=True)
            if len(runs) % 2:
                merged.append(runs[-1])
            runs = self._runs = merged
        orders = range(1, self.order + 1)
        fields = {name: [self._load(runs[0], k, name) for k in orders] for name in self._FIELDS}
        self._runs = []
        return NGramCounts(self.n_classes, **fields)

    def _merge_pair(self, run_a, run_b):
        # Each array of the two runs is read when it is needed and dropped
        # once scattered into the merged order: the merge holds its output,
        # the maps of one order and the two runs' copies of one array.
        base = self.n_classes + 1
        fields = {name: [] for name in self._FIELDS}
        maps = None
        for k in range(1, self.order + 1):
            if k == 1:
                table, where = self._load(run_a, 1, "keys"), (None, None)
                total = self._load(run_a, 1, "counts").astype(np.int64)
                total += self._load(run_b, 1, "counts")
                count_type = np.int32 if int(total.sum()) < 2**31 else np.int64
                fields["keys"].append(table)
                fields["counts"].append(total.astype(count_type))
                fields["suffix"].append(None)
                fields["bos_initial"].append(self._load(run_a, 1, "bos_initial"))
                del total
                maps = where
                continue
            pair = []
            for run, prefix_map in zip((run_a, run_b), maps):
                keys = self._load(run, k, "keys")
                if k > 2:
                    # Prefixes into the merged table of order k - 1: the maps
                    # are increasing, so the keys stay sorted.
                    keys = _remap_prefixes(keys, prefix_map, base)
                pair.append(keys)
            table, *where = sorted_union(*pair)
            del pair, keys
            fields["keys"].append(table)
            index_type = np.int32 if len(fields["keys"][-2]) < 2**31 else np.int64
            for name, dtype in (
                ("counts", count_type),
                ("suffix", index_type),
                ("bos_initial", bool),
            ):
                merged = np.zeros(len(table), dtype=dtype)
                for run, positions, prefix_map in zip((run_a, run_b), where, maps):
                    values = self._load(run, k, name)
                    if name == "suffix" and k > 2:
                        values = prefix_map[values]
                    if name == "counts":
                        merged[positions] += values
                    else:
                        # An n-gram found in both runs has the same suffix
                        # and first word.
                        merged[positions] = values
                    del values
                fields[name].append(merged)
                del merged
            maps = where
            release_free_memory()
        return NGramCounts(self.n_classes, **fields)


def _remap_prefixes(keys, prefix_map, base):
    """``keys`` with their prefix ``p`` replaced by ``prefix_map[p]``."""
    remapped = prefix_map[keys // base].astype(np.int64)
    remapped *= base
    remapped += keys % base
    return remapped


def sorted_union(a, b):
    """The sorted union of two sorted arrays of distinct keys, and where each went.

    Returns ``(table, where_a, where_b)`` with ``table[where_a] == a`` and
    ``table[where_b] == b``: a merge in linear passes and binary searches,
    no sort.
    """
    index_type = np.int32 if len(a) + len(b) < 2**31 else np.int64
    position = np.searchsorted(a, b)
    found = position < len(a)
    found[found] = a[position[found]] == b[found]
    new = ~found
    only_b = b[new]
    where_a = np.searchsorted(only_b, a).astype(index_type)
    where_a += np.arange(len(a), dtype=index_type)
    where_b = np.empty(len(b), dtype=index_type)
    where_b[new] = position[new] + np.arange(len(only_b))
    where_b[found] = where_a[position[found]]
    del position, found
    table = np.empty(len(a) + len(only_b), dtype=a.dtype)
    table[where_a] = a
    table[where_b[new]] = only_b
    return table, where_a, where_b
