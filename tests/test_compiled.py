"""The compiled loops: loaded only by large calls, and compiled even where nothing can be cached."""

import subprocess
import sys
import textwrap

import numpy as np

from sklm._compiled import compiled


def test_a_function_without_a_cache_location_is_still_compiled():
    # Code from exec has no file, so Numba has nowhere to cache it and
    # refuses cache=True, as it does where install and home are read-only.
    namespace = {}
    exec(
        "def total(values):\n    s = 0.0\n    for v in values:\n        s += v\n    return s",
        namespace,
    )
    total = compiled()(namespace["total"])
    assert total(np.arange(5.0)) == 10.0


def test_numba_is_loaded_by_a_large_call_only():
    # In a fresh interpreter: not by the import, a fit, a small score or an
    # ARPA read; then by a score of more than MIN_PART characters, with the
    # same values as the NumPy passes gave.
    script = textwrap.dedent(
        """
        import os, sys, tempfile
        import numpy as np
        from sklm import NGramLM
        from sklm._parallel import MIN_PART

        words = "the cat dog sat on a mat log ran bird sang saw".split()
        rng = np.random.default_rng(0)
        train = [" ".join(rng.choice(words, 9)) for _ in range(500)]
        lm = NGramLM(order=3).fit(train)
        small = lm.score_samples(train[:50])
        with tempfile.TemporaryDirectory() as tmp:
            lm.to_arpa(os.path.join(tmp, "lm.arpa"))
            NGramLM.from_arpa(os.path.join(tmp, "lm.arpa"))
        assert "numba" not in sys.modules, "loaded before a large call"
        large = train * (MIN_PART // sum(map(len, train)) + 1)
        values = lm.score_samples(large)
        assert "numba" in sys.modules, "not loaded by a large call"
        assert np.array_equal(values[:50], small)
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
