"""Counting within a memory budget: sorted runs spilled to disk, then merged.

A corpus larger than the budget is counted a chunk at a time; each chunk's
counts (sorted tables, one per order) go to a temporary folder as raw files
and leave memory. The runs are then merged all at once, order by order, a
slab at a time, into files mapped back as the merged counts (see
:mod:`sklm._mapped`), so that neither the merge nor its result needs the
memory of the whole model. The result is exactly the counts of the whole
corpus (counts are added exactly), so the model is the in-memory fit's, bit
for bit.
"""

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral
from pathlib import Path

import numpy as np

from .._allocator import release_free_memory
from ..base import EOS_ID
from ._counting import NGramCounts, sort_keys

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

        ``word_map``: an array giving the id counted for each id written;
        it maps ``</s>`` to itself and no other id to it.
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
                    ids = word_map[ids]  # </s> to </s>, and no other id to it
                offsets = np.zeros(1 + np.searchsorted(ends, cut, side="right"), dtype=np.int64)
                offsets[1:] = ends[: len(offsets) - 1]
                yield ids, offsets


class SpilledRuns:
    """Counts of chunks of a corpus, all in the same ids, kept on disk until merged.

    Each run is a folder of raw arrays, one file per field and order.
    """

    _FIELDS = ("keys", "counts", "suffix", "bos_initial")

    def __init__(self, folder, n_classes, order):
        self._folder = Path(folder)
        self.n_classes = n_classes
        self.order = order
        self._runs = []
        self._dtypes = {}
        self._n_written = 0

    def __len__(self):
        return len(self._runs)

    def add(self, counts):
        """Write ``counts`` (an ``NGramCounts``) as one run; the caller drops it."""
        run = self._folder / f"run{self._n_written}"
        run.mkdir()
        self._n_written += 1
        for field in self._FIELDS:
            for k, array in enumerate(getattr(counts, field), start=1):
                # The dense unigram keys and the unigrams' suffix need no file.
                if array is not None and not (field == "keys" and k == 1):
                    array.tofile(run / f"{field}{k}.bin")
                    self._dtypes[field, k] = array.dtype
        self._runs.append(run)

    def merge(self, out, slab=None):
        """The counts of all the runs, in files of ``out`` (a ``MappedFolder``).

        One pass per order over every run at once, in slabs of about
        ``slab`` entries (default: a quarter of the limit of ``out``'s cap at
        :data:`MERGE_BYTES` each, at most :data:`MERGE_SLAB`; it changes no
        value).
        The merged keys of order ``k`` are those of the runs with each
        prefix (an index in the run's own table of order ``k - 1``)
        replaced by its index in the merged table, which keeps every run
        sorted. A slab takes from each run its entries up to the smallest of
        the runs' last keys read, so that no later slab holds a smaller key;
        the merged entries are appended to files, and so is where each
        run's entries went (read back, in order, to remap the next order's
        prefixes and suffixes). Memory holds one slab and the unigram
        tables; every array returned is mapped from a file.
        """
        runs = self._runs
        if not runs:
            raise ValueError("no counts to merge")
        base = self.n_classes + 1
        total = np.zeros(base, dtype=np.int64)
        for run in runs:
            total += self._read(out, run, 1, "counts")
        count_type = np.int32 if int(total.sum()) < 2**31 else np.int64
        fields = {
            "keys": [np.arange(base, dtype=np.int64)],
            "counts": [total.astype(count_type)],
            "suffix": [None],
            "bos_initial": [np.array(self._read(out, runs[0], 1, "bos_initial"))],
        }
        del total
        # maps[r]: index in the merged table of order k - 1 of each entry of
        # run r's table (None for unigrams: the word ids are shared).
        maps = [None] * len(runs)
        for k in range(2, self.order + 1):
            index_type = np.int32 if len(fields["keys"][-1]) < 2**31 else np.int64
            merged = _merge_order(
                out,
                k,
                [{name: self._read(out, run, k, name) for name in self._FIELDS} for run in runs],
                maps,
                base,
                count_type,
                index_type,
                _slab_for(out) if slab is None else slab,
            )
            for name in self._FIELDS:
                fields[name].append(merged[name])
            old_maps = [out.path(f"map{k - 1}_{r}.bin") for r in range(len(runs))]
            maps = merged["maps"]
            for path in old_maps:
                path.unlink(missing_ok=True)
            for run in runs:
                for name in self._FIELDS:
                    (run / f"{name}{k}.bin").unlink(missing_ok=True)
            release_free_memory()
        for r in range(len(runs)):
            out.path(f"map{self.order}_{r}.bin").unlink(missing_ok=True)
        for run in runs:
            shutil.rmtree(run, ignore_errors=True)
        self._runs = []
        return NGramCounts(self.n_classes, **fields)

    def _read(self, out, run, k, field):
        if field == "keys" and k == 1:
            return np.arange(self.n_classes + 1, dtype=np.int64)
        return out.map_file(run / f"{field}{k}.bin", self._dtypes[field, k])


#: The most entries merged together, and the bytes each takes while merged
#: (its key, the sort's permutation and sorted copy, the gathered fields, its
#: map entry, and the pending writes of the slab before).
MERGE_SLAB = 1 << 22
MERGE_BYTES = 64


def _slab_for(out):
    """Entries merged together within a quarter of the budget of ``out``'s cap."""
    if out.cap is None:
        return MERGE_SLAB
    return int(np.clip(out.cap.limit // 4 // MERGE_BYTES, 1 << 16, MERGE_SLAB))


def _merge_order(out, k, runs, maps, base, count_type, index_type, slab):
    """Merge order ``k`` of ``runs`` (dicts of arrays) into files of ``out``.

    ``maps[r]`` maps run ``r``'s table of order ``k - 1`` to the merged one
    (None: the identity). Returns the merged arrays and the new maps.

    The files are written by a second thread while the next slab is merged
    (a write copies into the kernel's page cache, without the GIL); the
    writes of at most two slabs are pending at a time.
    """
    names = ("keys", "counts", "suffix", "bos_initial")
    dtypes = (np.int64, count_type, index_type, bool)
    sizes = [len(run["keys"]) for run in runs]
    map_type = np.int32 if sum(sizes) < 2**31 else np.int64
    cursors = [0] * len(runs)
    n_merged = 0
    with ThreadPoolExecutor(1) as pool:
        writers = {
            name: out.writer(f"{name}{k}.bin", dtype, pool) for name, dtype in zip(names, dtypes)
        }
        map_writers = [out.writer(f"map{k}_{r}.bin", map_type, pool) for r in range(len(runs))]
        written = []
        while True:
            active = [r for r in range(len(runs)) if cursors[r] < sizes[r]]
            if not active:
                break
            pieces = _take_slab(runs, maps, cursors, active, base, max(1, slab // len(active)))
            keys = np.concatenate([p[1] for p in pieces])
            # Sorted in place (ordered is keys); each piece is sorted, so the
            # largest key is the last of one of them.
            bound = max(int(p[1][-1]) for p in pieces if len(p[1])) + 1
            ordered, perm = sort_keys(keys, bound)
            new = np.empty(len(ordered), dtype=bool)
            new[:1] = True
            np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
            starts = np.flatnonzero(new)
            pending = [writers["keys"].write(ordered[starts])]
            del ordered
            counts = np.concatenate([p[2] for p in pieces])[perm]
            if len(starts) < len(keys):
                # Sums of the runs' counts of each key: differences of a
                # running sum, exact in int64.
                total = np.cumsum(counts, dtype=np.int64)
                counts = total[np.append(starts[1:], len(keys)) - 1]
                counts[1:] -= total[starts[1:] - 1]
                del total
            pending.append(writers["counts"].write(counts))
            del counts
            first = perm[starts]
            # An n-gram found in several runs has the same suffix and first word.
            pending.append(writers["suffix"].write(np.concatenate([p[3] for p in pieces])[first]))
            pending.append(
                writers["bos_initial"].write(np.concatenate([p[4] for p in pieces])[first])
            )
            del first
            group = np.cumsum(new, dtype=map_type)
            group += n_merged - 1
            where = np.empty(len(keys), dtype=map_type)
            where[perm] = group
            del group, perm, new, keys
            at = 0
            for r, piece_keys, *_ in pieces:
                pending.append(map_writers[r].write(where[at : at + len(piece_keys)]))
                at += len(piece_keys)
            n_merged += len(starts)
            del where, pieces, starts
            for done in written:
                done.result()
            written = pending
        for done in written:
            done.result()
    for writer in (*writers.values(), *map_writers):
        writer.close()
    merged = {name: out.read(f"{name}{k}.bin", dtype) for name, dtype in zip(names, dtypes)}
    merged["maps"] = [out.read(f"map{k}_{r}.bin", map_type) for r in range(len(runs))]
    return merged


def _take_slab(runs, maps, cursors, active, base, step):
    """The next entries of the ``active`` runs up to a common bound, remapped.

    Reads up to ``step`` entries of each active run; the bound is the
    smallest of their last keys, so every key up to it is taken now and every
    key left is larger. Returns ``(r, keys, counts, suffix, bos_initial)``
    per run, and advances ``cursors``.
    """
    windows = {}
    for r in active:
        window = np.array(runs[r]["keys"][cursors[r] : cursors[r] + step])
        if maps[r] is not None:
            window = _remap_prefixes(window, maps[r], base)
        windows[r] = window
    bound = min(int(window[-1]) for window in windows.values())
    pieces = []
    for r in active:
        window = windows[r]
        taken = int(np.searchsorted(window, bound, side="right"))
        lo, hi = cursors[r], cursors[r] + taken
        suffix = runs[r]["suffix"][lo:hi]
        if maps[r] is not None:
            suffix = maps[r][suffix]
        pieces.append(
            (r, window[:taken], runs[r]["counts"][lo:hi], suffix, runs[r]["bos_initial"][lo:hi])
        )
        cursors[r] = hi
    return pieces


def _remap_prefixes(keys, prefix_map, base):
    """``keys`` with their prefix ``p`` replaced by ``prefix_map[p]``."""
    remapped = prefix_map[keys // base].astype(np.int64)
    remapped *= base
    remapped += keys % base
    return remapped
