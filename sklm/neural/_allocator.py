"""Let the C allocator keep the large buffers of a training step for the next one.

Every step of a word-level model on the CPU allocates, uses and frees the same
few large tensors (the logits and their gradient: steps x batch x vocabulary
floats, tens of megabytes for a WikiText-sized vocabulary). glibc serves
allocations above its mmap threshold (at most 32 MiB by default) with fresh
``mmap`` calls and returns them to the system when they are freed, so the next
step pays for the kernel to map and zero the same memory again: about 14 ms per
38 MB buffer, a third of the step time of an LSTM 2x200 on WikiText-2 on a
2-core CPU (measured in ``docs/benchmarks/neural.md``).

:func:`keep_large_buffers` raises glibc's mmap and trim thresholds once per
process, so these buffers come from the heap and are reused. The cost is that
up to :data:`THRESHOLD` bytes of freed memory may stay with the process instead
of going back to the system. It is a process-wide setting of the C library: set
the environment variable ``SKLM_MALLOC_TUNING=0`` before training to leave the
allocator alone. It does nothing outside Linux with glibc.
"""

import ctypes
import os
import sys

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Allocations below this size come from the heap; this much free memory at the
#: top of the heap is kept rather than returned to the system.
THRESHOLD = 256 * 1024 * 1024

_ENV = "SKLM_MALLOC_TUNING"
_applied = None


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
    if os.environ.get(_ENV, "1").strip() == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process already uses
        libc.gnu_get_libc_version  # glibc only: other libcs read mallopt differently
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # Trim first: with a high mmap threshold and the default trim threshold,
    # glibc would give the freed buffers back at once.
    return bool(mallopt(_M_TRIM_THRESHOLD, THRESHOLD)) and bool(
        mallopt(_M_MMAP_THRESHOLD, THRESHOLD)
    )
