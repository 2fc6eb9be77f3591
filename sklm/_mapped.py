"""Arrays held in files and mapped into memory, and a cap on resident memory.

A fit bounded by ``memory_limit`` keeps its merged counts and its tables in
files (see :mod:`sklm.ngram._external`). The pages of a mapped file that a
process has read or written count in its resident memory like any other
until the kernel needs them back, which it may never do on a machine with
memory to spare. :class:`ResidentCap` watches the process's resident memory
from a thread and, when it passes the cap, tells the kernel that the mapped
pages are not needed now (``madvise(MADV_DONTNEED)``): for a shared mapping
of a file this only unmaps them. What was written stays in the page cache,
to be written back to the file; the next read of a page maps it again from
there (or from disk). Nothing is lost, whichever thread reads or writes the
arrays at that moment.

Linux only: elsewhere the cap does nothing (the resident size is read from
``/proc/self/statm``) and the arrays are plain shared mappings of files.
"""

import mmap
import os
import threading
import weakref
from pathlib import Path

import numpy as np

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes():
    """Resident memory of this process in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except OSError:
        return 0


class ResidentCap:
    """While active, release the pages of the watched mappings above ``limit`` bytes.

    A context manager: a thread reads the process's resident memory every
    ``interval`` seconds and, when it is above ``limit``, releases every
    page of every watched mapping (:meth:`release`). The memory the process
    holds otherwise (its heap, the interpreter) is not touched: when that
    alone passes the limit, a release would win back only the pages mapped
    since the last one, so the next waits until the resident memory has
    grown by ``slack`` bytes past the least it has been since the last.
    """

    def __init__(self, limit, interval=0.005, slack=64 * 2**20):
        self.limit = int(limit)
        self.interval = float(interval)
        self.slack = int(slack)
        self.n_releases = 0
        self._maps = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    def watch(self, mapping):
        """Release the pages of ``mapping`` (an ``mmap.mmap``) with the others."""
        with self._lock:
            self._maps = [ref for ref in self._maps if ref() is not None]
            self._maps.append(weakref.ref(mapping))

    def release(self):
        """Unmap the resident pages of every watched mapping still open."""
        with self._lock:
            maps = [ref() for ref in self._maps]
        for mapping in maps:
            if mapping is None:
                continue
            try:
                mapping.madvise(mmap.MADV_DONTNEED)
            except (ValueError, OSError):  # closed meanwhile, or not supported
                pass
        self.n_releases += 1

    def _watch_resident(self):
        # The least resident memory seen since the last release: what the
        # process holds besides the mapped pages, at most.
        floor = 0
        while not self._stop.wait(self.interval):
            resident = resident_bytes()
            floor = min(floor, resident)
            if resident > max(self.limit, floor + self.slack):
                self.release()
                floor = resident_bytes()

    def __enter__(self):
        if hasattr(mmap, "MADV_DONTNEED") and resident_bytes():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._watch_resident, name="sklm-resident-cap", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        return False


class MappedFolder:
    """Arrays in the files of ``folder``, each mapped shared, watched by ``cap``.

    Parameters
    ----------
    folder : path-like
        An existing folder; files are named by the caller.
    cap : ResidentCap or None
        Releases the pages of every mapping made here while it is active.

    An array stays valid after its file is deleted (POSIX keeps a mapped
    file until it is unmapped, which happens when the array is freed).
    """

    def __init__(self, folder, cap=None):
        self.folder = Path(folder)
        self.cap = cap
        self._n_made = 0

    def path(self, name):
        return self.folder / name

    def _map(self, path, dtype, count, writable):
        dtype = np.dtype(dtype)
        if count == 0:
            return np.zeros(0, dtype=dtype)
        with open(path, "r+b" if writable else "rb") as handle:
            mapping = mmap.mmap(
                handle.fileno(),
                count * dtype.itemsize,
                access=mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ,
            )
        if self.cap is not None:
            self.cap.watch(mapping)
        array = np.frombuffer(mapping, dtype=dtype, count=count)
        if not writable:
            array.flags.writeable = False
        return array

    def zeros(self, n, dtype):
        """A new array of ``n`` zeros in a file of its own (writable)."""
        self._n_made += 1
        path = self.path(f"array{self._n_made}.bin")
        with open(path, "wb") as handle:
            # A sparse file: the zeros cost no disk until written.
            handle.truncate(int(n) * np.dtype(dtype).itemsize)
        return self._map(path, dtype, int(n), writable=True)

    def read(self, name, dtype, writable=False):
        """The whole file ``name`` of the folder as an array of ``dtype``."""
        return self.map_file(self.path(name), dtype, writable)

    def map_file(self, path, dtype, writable=False):
        """The whole file at ``path`` as an array of ``dtype``, watched by the cap."""
        size = Path(path).stat().st_size
        return self._map(path, dtype, size // np.dtype(dtype).itemsize, writable)

    def writer(self, name, dtype, executor=None):
        """An :class:`Appender` of arrays of ``dtype`` to the file ``name``."""
        return Appender(self.path(name), dtype, executor)


class Appender:
    """Arrays written one after the other to a file, read back once closed.

    With an ``executor`` (of one thread, so that the writes keep their
    order), :meth:`write` hands the write to it and returns its future; the
    array must then not change until the write is done. Without one it
    writes at once and returns None.
    """

    def __init__(self, path, dtype, executor=None):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.n_items = 0
        self._executor = executor
        self._file = open(self.path, "wb")

    def write(self, values):
        values = np.ascontiguousarray(values, dtype=self.dtype)
        self.n_items += len(values)
        data = memoryview(values).cast("B")
        if self._executor is None:
            self._file.write(data)
            return None
        return self._executor.submit(self._file.write, data)

    def close(self):
        self._file.close()
