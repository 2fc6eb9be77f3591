"""Arrays in mapped files, and the cap that releases their pages."""

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sklm._mapped import MappedFolder, ResidentCap, resident_bytes

linux = pytest.mark.skipif(resident_bytes() == 0, reason="needs /proc/self/statm (Linux)")

MB = 2**20


def test_zeros_read_and_append(tmp_path):
    folder = MappedFolder(tmp_path)
    a = folder.zeros(1000, np.float64)
    assert a.dtype == np.float64 and a.shape == (1000,) and not a.any()
    a[:] = np.arange(1000)
    writer = folder.writer("b.bin", np.int32)
    writer.write([1, 2, 3])
    writer.write(np.arange(4, 6, dtype=np.int64))  # cast to the writer's type
    writer.close()
    assert writer.n_items == 5
    b = folder.read("b.bin", np.int32)
    np.testing.assert_array_equal(b, [1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="read-only"):
        b[0] = 0
    assert folder.zeros(0, np.int64).shape == (0,)
    # What was written through the mapping is in the file.
    del a
    np.testing.assert_array_equal(np.fromfile(tmp_path / "array1.bin"), np.arange(1000))


def test_an_array_outlives_its_deleted_file(tmp_path):
    folder = MappedFolder(tmp_path)
    a = folder.zeros(10, np.int64)
    a += 7
    for path in tmp_path.iterdir():
        path.unlink()
    a += 1
    np.testing.assert_array_equal(a, np.full(10, 8))


@linux
def test_release_drops_the_resident_pages_and_keeps_the_values(tmp_path):
    cap = ResidentCap(limit=2**62)  # never released by the thread
    folder = MappedFolder(tmp_path, cap)
    a = folder.zeros(64 * MB // 8, np.int64)
    before = resident_bytes()
    a[:] = np.arange(len(a))  # every page written
    touched = resident_bytes()
    assert touched - before > 56 * MB
    cap.release()
    assert touched - resident_bytes() > 56 * MB
    # The values come back from the page cache.
    assert a[12345] == 12345 and a[-1] == len(a) - 1
    np.testing.assert_array_equal(a[::4096], np.arange(0, len(a), 4096))


@linux
def test_the_cap_releases_from_its_thread_above_the_limit(tmp_path):
    with ResidentCap(limit=resident_bytes() + 16 * MB, interval=0.001) as cap:
        folder = MappedFolder(tmp_path, cap)
        a = folder.zeros(128 * MB // 8, np.int64)
        a[:] = 3
        deadline = time.monotonic() + 5
        while cap.n_releases == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cap.n_releases > 0
    assert cap._thread is None  # stopped on exit
    assert int(a.sum()) == 3 * len(a)


def test_a_cap_without_mappings_is_harmless():
    with ResidentCap(limit=1, interval=0.001) as cap:
        time.sleep(0.02)
    cap.release()


def test_appender_writes_in_order_through_an_executor(tmp_path):
    folder = MappedFolder(tmp_path)
    with ThreadPoolExecutor(1) as pool:
        writer = folder.writer("c.bin", np.int64, pool)
        futures = [writer.write(np.arange(i * 100, (i + 1) * 100)) for i in range(50)]
        for future in futures:
            future.result()
    writer.close()
    np.testing.assert_array_equal(folder.read("c.bin", np.int64), np.arange(5000))
