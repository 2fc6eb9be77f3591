"""The C-allocator settings: large training buffers kept for the next step, free heap returned."""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from sklm import _allocator

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# Allocate a 40 MB buffer; print whether the thresholds were raised, how many
# bytes glibc mapped for it (mallinfo2's hblkhd), how many free bytes the heap
# still holds once it is freed (fordblks: what the next step would reuse), and
# how many after release_free_memory.
PROBE = textwrap.dedent(
    """
    import ctypes
    import numpy as np
    from sklm._allocator import keep_large_buffers, release_free_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
            "fsmblks", "uordblks", "fordblks", "keepcost")]

    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = MallInfo2
    applied = keep_large_buffers()
    before = mallinfo2().hblkhd
    buffer = np.ones(10_000_000, dtype=np.float32)
    mapped = mallinfo2().hblkhd - before
    del buffer
    kept = mallinfo2().fordblks
    release_free_memory()
    print(applied, mapped, kept, mallinfo2().fordblks)
    """
)


def run_probe(setting):
    env = dict(os.environ)
    env.pop("SKLM_MALLOC_TUNING", None)
    if setting is not None:
        env["SKLM_MALLOC_TUNING"] = setting
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return (out[0] == "True", *map(int, out[1:]))


@pytest.mark.skipif(not GLIBC, reason="the setting exists only in glibc")
def test_large_buffers_are_reused_instead_of_mapped_again():
    applied, mapped, kept, _ = run_probe(None)
    untouched, mapped_default, kept_default, _ = run_probe("0")
    assert applied and not untouched
    # By default the buffer is mapped for itself and unmapped when freed (the
    # next step pays for mapping and zeroing it again); with the thresholds
    # raised it comes from the heap, which keeps it for the next allocation.
    assert mapped_default >= 40_000_000 and kept_default < 40_000_000
    assert mapped == 0 and kept >= 40_000_000


def test_opt_out_leaves_the_allocator_alone():
    applied, _, _, _ = run_probe("0")
    assert applied is False


@pytest.mark.skipif(not GLIBC, reason="malloc_trim exists only in glibc")
def test_free_heap_is_returned_to_the_system():
    # With the thresholds raised the freed buffer stays in the heap; trimming
    # gives it back.
    _, _, kept, after_release = run_probe(None)
    assert kept >= 40_000_000 and after_release < 40_000_000


def test_outside_glibc_nothing_is_applied(monkeypatch):
    monkeypatch.setattr(_allocator, "_applied", None)
    monkeypatch.setattr(_allocator, "_libc", None)
    monkeypatch.setattr(_allocator.sys, "platform", "darwin")
    assert _allocator.keep_large_buffers() is False
    assert _allocator.keep_large_buffers() is False  # decided once
    _allocator.release_free_memory()  # a no-op there


def test_training_on_the_cpu_applies_it(monkeypatch):
    from sklm import GRULM

    calls = []
    monkeypatch.setattr(_allocator, "_applied", None)
    monkeypatch.setattr(_allocator, "_apply", lambda: calls.append(1) or True)
    GRULM(embedding_dim=4, hidden_size=4, max_epochs=1, device="cpu").fit([["a", "b"]] * 4)
    GRULM(embedding_dim=4, hidden_size=4, max_epochs=1, device="cpu").fit([["a", "b"]] * 4)
    assert calls == [1]
