"""Give the C allocator's free memory back to the system between the steps of a fit.

Counting and estimation free arrays of tens of megabytes at every order. glibc
serves arrays below its mmap threshold (which rises with use, up to 32 MiB)
from its heap, and memory freed inside the heap stays with the process, so a
large fit would carry the free space of earlier orders into the peak of later
ones. :func:`release_free_memory` asks glibc to return it (``malloc_trim``);
it changes no allocator setting and does nothing outside Linux with glibc.
"""

import ctypes
import sys

_trim = None


def _load():
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process already uses
        libc.gnu_get_libc_version  # glibc only
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory():
    """Return the free pages of the C heap to the system (glibc only)."""
    global _trim
    if _trim is None:
        _trim = _load()
    if _trim:
        _trim(0)
