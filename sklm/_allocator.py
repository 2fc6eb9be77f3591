"""The two ways sklm talks to the C allocator (glibc only; nothing elsewhere).

:func:`keep_large_buffers` (recurrent training on the CPU, and n-gram
scoring of large inputs). Every step of a
word-level model allocates, uses and frees the same few large tensors (the
logits and their gradient: steps x batch x vocabulary floats, tens of
megabytes for a WikiText-sized vocabulary). glibc serves allocations above its
mmap threshold (at most 32 MiB by default) with fresh ``mmap`` calls and
returns them to the system when they are freed, so the next step pays for the
kernel to map and zero the same memory again: about 14 ms per 38 MB buffer, a
third of the step time of an LSTM 2x200 on WikiText-2 on a 2-core CPU
(measured in ``docs/benchmarks/neural.md``). Scoring a large corpus with an
n-gram model makes a few dozen temporary arrays of its length: about 5,500
page faults, a quarter of the CPU time of scoring 824k tokens, when each call
maps them afresh (``docs/benchmarks/ngram.md``). Raising glibc's mmap and trim
thresholds, once per process, lets these buffers come from the heap and be
reused; up to :data:`THRESHOLD` bytes of freed memory may then stay with the
process. It is a process-wide setting of the C library: set the environment
variable ``SKLM_MALLOC_TUNING=0`` before training or scoring to leave it alone.

:func:`release_free_memory` (n-gram fits). Counting and estimation free arrays
of tens of megabytes at every order; memory freed inside glibc's heap stays
with the process, so a large fit would carry the free space of earlier orders
into the peak of later ones. ``malloc_trim`` returns it to the system; it
changes no setting.
"""

import ctypes
import os
import sys

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Allocations below this size come from the heap once the thresholds are
#: raised; this much free memory at the top of the heap is kept rather than
#: returned to the system.
THRESHOLD = 256 * 1024 * 1024

_ENV = "SKLM_MALLOC_TUNING"
_libc = None
_applied = None


def _glibc():
    """The process's C library if it is glibc, else ``False`` (looked up once)."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None)  # the C library this process already uses
                libc.gnu_get_libc_version  # noqa: B018 (glibc only: other libcs differ here)
                libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                libc.mallopt.restype = ctypes.c_int
                libc.malloc_trim.argtypes = [ctypes.c_size_t]
                libc.malloc_trim.restype = ctypes.c_int
                _libc = libc
            except (OSError, AttributeError):
                pass
    return _libc


def keep_large_buffers():
    """Raise glibc's mmap and trim thresholds to :data:`THRESHOLD`, once.

    Returns
    -------
    applied : bool
        Whether the thresholds are raised in this process (``False`` outside
        glibc, or when ``SKLM_MALLOC_TUNING=0``).
    """
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def _apply():
    if os.environ.get(_ENV, "1").strip() == "0":
        return False
    libc = _glibc()
    if not libc:
        return False
    # Trim first: with a high mmap threshold and the default trim threshold,
    # glibc would give the freed buffers back at once.
    return bool(libc.mallopt(_M_TRIM_THRESHOLD, THRESHOLD)) and bool(
        libc.mallopt(_M_MMAP_THRESHOLD, THRESHOLD)
    )


def release_free_memory():
    """Return the free pages of the C heap to the system (glibc only)."""
    libc = _glibc()
    if libc:
        libc.malloc_trim(0)
