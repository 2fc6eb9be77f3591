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
import tempfile
from numbers import Integral
from pathlib import Path

import numpy as np

from .._allocator import release_free_memory
from ._counting import NGramCounts, combine_counts

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


class SpilledRuns:
    """Counts of chunks of a corpus kept on disk until they are merged.

    Use as a context manager: the temporary folder (under ``dir``, the
    system's default if None) is removed on exit, whatever happens.
    """

    _FIELDS = ("keys", "counts", "suffix", "bos_initial")

    def __init__(self, dir=None):
        self._dir = dir
        self._runs = []
        self._folder = None
        self._n_written = 0

    def __enter__(self):
        self._folder = Path(tempfile.mkdtemp(prefix="sklm-counts-", dir=self._dir))
        return self

    def __exit__(self, *exc_info):
        self._runs = []
        shutil.rmtree(self._folder, ignore_errors=True)
        return False

    def __len__(self):
        return len(self._runs)

    def add(self, counts, *, mapped=False):
        """Write ``counts`` (an ``NGramCounts``) as one run; the caller drops it.

        ``mapped``: whether its ids are already the final ones.
        """
        self._runs.append((*self._save(counts), mapped))

    def _save(self, counts):
        run = self._folder / f"run{self._n_written}"
        run.mkdir()
        self._n_written += 1
        for field in self._FIELDS:
            for k, array in enumerate(getattr(counts, field), start=1):
                # The dense unigram keys and the unigrams' suffix need no file.
                if array is not None and not (field == "keys" and k == 1):
                    np.save(run / f"{field}{k}.npy", array)
        return run, counts.n_classes, counts.order

    @classmethod
    def _load(cls, run, *, mmap):
        folder, n_classes, order = run[:3]
        mode = "r" if mmap else None
        fields = {}
        for field in cls._FIELDS:
            arrays = []
            for k in range(1, order + 1):
                path = folder / f"{field}{k}.npy"
                if field == "keys" and k == 1:
                    arrays.append(np.arange(n_classes + 1, dtype=np.int64))
                else:
                    arrays.append(np.load(path, mmap_mode=mode) if path.exists() else None)
            fields[field] = arrays
        return NGramCounts(n_classes, **fields)

    def parts(self):
        """Every run, mapped from disk (read-only): for their unigram counts."""
        return [self._load(run, mmap=True) for run in self._runs]

    def merge(self, word_map, n_classes):
        """The counts of all the runs, in memory, under the final ids.

        ``word_map(n)``: the final id of each id ``0 .. n - 1`` of a run
        counted with ``n`` classes (its ``<s>``, id ``n``, becomes
        ``n_classes``). Runs are merged in rounds, two neighbours at a time,
        every intermediate result spilled again, so that no merge reads more
        than two runs; the first merge of a run maps its words.
        """
        runs = self._runs
        if not runs:
            raise ValueError("no counts to merge")
        identity = np.arange(n_classes + 1, dtype=np.int64)

        def maps(pair):
            return [
                identity[: run[1] + 1] if run[3] else np.append(word_map(run[1]), n_classes)
                for run in pair
            ]

        while len(runs) > 1:
            merged = []
            for i in range(0, len(runs) - 1, 2):
                pair = runs[i : i + 2]
                counts = combine_counts(
                    [self._load(run, mmap=True) for run in pair], maps(pair), n_classes
                )
                if len(runs) == 2:
                    self._runs = []
                    return counts
                merged.append((*self._save(counts), True))
                del counts
                release_free_memory()
                for run in pair:
                    shutil.rmtree(run[0], ignore_errors=True)
            if len(runs) % 2:
                merged.append(runs[-1])
            runs = self._runs = merged
        (run,) = runs
        self._runs = []
        if run[3]:
            return self._load(run, mmap=False)
        return combine_counts([self._load(run, mmap=True)], maps([run]), n_classes)
