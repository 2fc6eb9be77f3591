"""Threads for the work of scoring.

The compiled loops of scoring and text encoding run without the GIL, and
NumPy releases it inside its array operations, so a large corpus cut into a
few contiguous parts is scored by that many threads at once.
"""

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral

import numpy as np

# Below this many characters (or tokens) a part costs more to hand to a
# thread than it gains.
MIN_PART = 200_000

#: Positions scored together: the few dozen arrays of a run this long stay in
#: a core's cache (a pass over 65,536 int64 is 512 KiB), where whole-corpus
#: passes stream through memory; each run costs about 0.2 ms of Python calls.
CACHE_BLOCK = 65_536

#: How much longer the runs of the text encoder are in a part that threads
#: work on side by side (:func:`map_threads`). Its whole-array numpy passes
#: hand the GIL to the other thread and take it back at every call, which
#: costs about as much as the call itself on a cache-sized run; longer runs
#: make fewer calls (P1 test x10 on two threads, with the compiled scoring:
#: 22.2 ms at 1, 21.1 ms at 2, 19.5 ms at 8). They still bound the temporary
#: arrays of a very large part.
SHARED_RUN_SCALE = 8

_thread = threading.local()


def use_compiled(size):
    """Whether a call on ``size`` positions, keys or bytes runs the compiled loops.

    A large call (``MIN_PART`` or more) loads them (:mod:`sklm._compiled`:
    Numba and LLVM, about 0.3 s once per process, a few seconds the very
    first time, when they are compiled and cached); a smaller one runs the
    NumPy passes until they are loaded, so that a model loaded to answer a
    few queries does not wait for Numba. Both give the same results.
    """
    return size >= MIN_PART or "sklm._compiled" in sys.modules


def run_length(length):
    """The length of a run, ``length``, or longer inside :func:`map_threads`'s threads."""
    return length * getattr(_thread, "run_scale", 1)


def available_threads():
    """The CPU cores this process may use, capped by ``OMP_NUM_THREADS``.

    joblib's worker processes (``n_jobs`` of a grid search) set
    ``OMP_NUM_THREADS`` to their share of the cores, as torch reads it too,
    so models scored inside a parallel search do not oversubscribe the CPU.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "").strip()
    if limit.isdigit() and int(limit) > 0:
        cores = min(cores, int(limit))
    return max(cores, 1)


def resolve_threads(n_threads):
    """``n_threads`` as a count: ``None`` means :func:`available_threads`.

    Checked here as well as at ``fit``: ``set_params`` on a fitted model
    changes it without a new fit.
    """
    if n_threads is None:
        return available_threads()
    if (
        isinstance(n_threads, (bool, np.bool_))
        or not isinstance(n_threads, Integral)
        or n_threads < 1
    ):
        raise ValueError(f"n_threads must be an int >= 1 or None; got {n_threads!r}.")
    return int(n_threads)


def split(samples, sizes, n_parts, min_part=None):
    """Cut ``samples`` into at most ``n_parts`` contiguous runs of similar ``sizes`` total.

    Returns a list of slices of ``samples``, each of total size
    ``min_part`` (default :data:`MIN_PART`) at least; one slice (the whole
    list) when the total is below ``2 * min_part`` or ``n_parts`` is 1.
    """
    if min_part is None:
        min_part = MIN_PART
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(sizes.sum())
    n_parts = min(n_parts, total // min_part, len(samples))
    if n_parts <= 1:
        return [samples]
    ends = np.cumsum(sizes)
    cuts = np.searchsorted(ends, total * np.arange(1, n_parts) / n_parts, side="right")
    bounds = np.unique(np.concatenate([[0], cuts, [len(samples)]]))
    return [samples[a:b] for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist())]


def map_threads(func, parts):
    """``[func(part) for part in parts]``, one thread per part when there are several.

    In those threads :func:`run_length` gives longer runs.
    """
    if len(parts) == 1:
        return [func(parts[0])]

    def in_thread(part):
        _thread.run_scale = SHARED_RUN_SCALE
        try:
            return func(part)
        finally:
            _thread.run_scale = 1

    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        return list(pool.map(in_thread, parts))


def sample_runs(ends, size):
    """Cut samples into runs of about ``size`` positions, at sample boundaries.

    ``ends`` holds the cumulative sizes from 0 (an ``offsets`` array: sample
    ``i`` spans ``ends[i]:ends[i + 1]``). Returns ``(first, last)`` pairs:
    the samples ``first`` to ``last - 1`` form a run. A sample longer than
    ``size`` is a run of its own.
    """
    n_samples = len(ends) - 1
    if n_samples <= 0 or ends[-1] - ends[0] <= size:
        return [(0, max(n_samples, 0))]
    targets = np.arange(ends[0] + size, ends[-1], size)
    cuts = np.unique(np.concatenate([[0], np.searchsorted(ends, targets), [n_samples]]))
    return list(zip(cuts[:-1].tolist(), cuts[1:].tolist()))
