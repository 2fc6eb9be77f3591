"""NGramLM(memory_limit=...): counts spilled to disk in runs, merged, equal to the in-memory fit."""

import gc
import subprocess
import sys
import tempfile
import warnings
from collections import defaultdict

import numpy as np
import pytest
from test_kneser_ney import random_corpus
from test_partial_fit import assert_same_model

from sklm import NGramLM
from sklm._mapped import MappedFolder
from sklm.ngram._counting import count_ngrams
from sklm.ngram._external import (
    MIN_CHUNK_POSITIONS,
    SpilledRuns,
    chunk_positions,
    parse_memory_size,
)


def corpus():
    # Literal specials and empty samples, as fit reads them.
    samples = random_corpus(21, n_samples=200, n_words=14) + [
        [],
        ["w0", "<unk>", "</s>", "<s>", "w1"],
        # Longer than the smallest chunk: read on to its end.
        [f"w{i % 5}" for i in range(3 * MIN_CHUNK_POSITIONS)],
    ]
    return [samples[i] for i in np.random.default_rng(3).permutation(len(samples))]


@pytest.mark.parametrize(
    "params",
    [
        {"order": 3},
        {"order": 5},
        {"order": 4, "min_count": 2},
        {"order": 2, "max_vocab": 5, "smoothing": "witten_bell"},
        {"order": 3, "smoothing": "stupid_backoff"},
        {"order": 3, "prune": (0, 1, 1)},
        {"order": 3, "vocabulary": ["w0", "w1", "w2", "w3", "absent"]},
        {"order": 1},
    ],
)
@pytest.mark.parametrize("memory_limit", [1, "20KB", "1GB"])
def test_bounded_fit_equals_the_in_memory_fit(params, memory_limit, tmp_path, monkeypatch):
    samples = corpus()
    # The smallest budget forces a run every MIN_CHUNK_POSITIONS positions.
    assert sum(len(s) + 1 for s in samples) > 10 * MIN_CHUNK_POSITIONS
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        whole = NGramLM(**params).fit(samples)
        # From a generator, read once.
        bounded = NGramLM(memory_limit=memory_limit, **params).fit(s for s in samples)
    assert_same_model(bounded, whole)
    test = random_corpus(22, n_samples=20) + [["unseen", "w0"]]
    np.testing.assert_array_equal(bounded.score_samples(test), whole.score_samples(test))
    assert list(tmp_path.iterdir()) == []  # the runs are removed


def test_same_arpa_file(tmp_path):
    samples = [" ".join(s) for s in corpus()]
    NGramLM(order=4, memory_limit=1).fit(iter(samples)).to_arpa(tmp_path / "bounded.arpa")
    NGramLM(order=4).fit(samples).to_arpa(tmp_path / "whole.arpa")
    assert (tmp_path / "bounded.arpa").read_bytes() == (tmp_path / "whole.arpa").read_bytes()


def test_bounded_fit_reads_text_files_as_the_in_memory_fit(tmp_path, monkeypatch):
    import gzip

    from sklm.datasets import TextFiles

    texts = [" ".join(s) for s in corpus() if s and "<s>" not in s and "</s>" not in s]
    half = len(texts) // 2
    (tmp_path / "a.txt").write_text("\n".join(texts[:half]) + "\n\n", encoding="utf-8")
    with gzip.open(tmp_path / "b.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(texts[half:]))
    files = TextFiles([tmp_path / "a.txt", tmp_path / "b.txt.gz"])
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(runs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        bounded = NGramLM(order=4, memory_limit=1).fit(files)
        whole = NGramLM(order=4).fit(texts)
    assert_same_model(bounded, whole)
    assert list(runs.iterdir()) == []


def test_failed_fit_changes_nothing_and_removes_the_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    samples = corpus()
    lm = NGramLM(order=3, memory_limit=1).fit(samples)
    before = lm.score_samples(samples[:5])

    def broken():
        yield from samples
        yield ["w0", 3]

    with pytest.raises(TypeError):
        lm.fit(broken())
    np.testing.assert_array_equal(lm.score_samples(samples[:5]), before)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("memory_limit", [1, "1GB"])
def test_bounded_fit_of_texts_equals_the_in_memory_fit(
    memory_limit, n_threads, tmp_path, monkeypatch
):
    # Words split from bytes where whitespace allows it, by str.split
    # elsewhere; a NUL byte and Unicode whitespace take the second way.
    odd = "\x00sklm:end\x00"
    texts = [" ".join(sample) for sample in corpus()]
    texts[5] = f"w1 {odd} w2"
    texts[40] = f"w3 x{odd}y\t w0\n"
    texts += ["", "  ", f"{odd} {odd}", "w0 \u2003 w1 \x1c w2", "é w0 ü"] * 3
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    whole = NGramLM(order=3).fit(texts)
    bounded = NGramLM(order=3, memory_limit=memory_limit, n_threads=n_threads).fit(iter(texts))
    assert_same_model(bounded, whole)
    assert odd in bounded.vocabulary_


@pytest.mark.parametrize(
    ("memory_limit", "large"), [("4MB", "arrays"), ("499MB", "arrays"), ("500MB", "table")]
)
def test_the_words_of_large_chunks_are_numbered_within_the_budget(
    memory_limit, large, tmp_path, monkeypatch
):
    # Chunks of more than MIN_PART characters: the words go to the structure
    # of the budget (Numba's table only from 500 MB), long words and
    # non-ASCII too.
    import sklm.ngram._model
    from sklm._numbering import WordNumbering
    from sklm._parallel import MIN_PART

    made = []

    class Recorded(WordNumbering):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

        def words_utf8(self):
            self.moved = self._lookup is None  # the words left the dict
            return super().words_utf8()

    monkeypatch.setattr(sklm.ngram._model, "WordNumbering", Recorded)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    texts = [" ".join(sample) for sample in corpus()]
    texts += ["é w0 ü " + "long" * 5, "w1 " + "long" * 5 + " " + "longer" * 9]
    texts *= -(-2 * MIN_PART // sum(map(len, texts)))
    assert sum(map(len, texts[:16384])) > MIN_PART  # the first chunk is large
    whole = NGramLM(order=3).fit(texts)
    bounded = NGramLM(order=3, memory_limit=memory_limit).fit(iter(texts))
    assert_same_model(bounded, whole)
    assert [numbering.large for numbering in made] == [large]
    assert made[0].moved


@pytest.mark.parametrize("slab", [None, 40])
@pytest.mark.parametrize("n_runs", [1, 2, 3, 6])
@pytest.mark.parametrize("n_classes, n_words, n_samples", [(7, 7, 60), (2**20, 300, 6000)])
def test_spilled_runs_merge_to_the_counts_of_the_concatenation(
    n_runs, n_classes, n_words, n_samples, slab, tmp_path
):
    # The second corpus has keys far beyond 2**31 (prefixes times 2**20 + 1).
    rng = np.random.default_rng(n_runs)
    lengths = rng.integers(0, 9, size=n_samples)
    ids = [np.append(rng.integers(2, n_words, size=n), 1) for n in lengths]
    offsets = np.concatenate([[0], np.cumsum(lengths + 1)])
    whole = count_ngrams(np.concatenate(ids).astype(np.int32), offsets, n_classes, 4)
    cuts = [0, *sorted(rng.choice(np.arange(1, n_samples), n_runs - 1, replace=False))]
    cuts.append(n_samples)
    runs = SpilledRuns(tmp_path, n_classes, 4)
    (tmp_path / "merged").mkdir()
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        part = np.concatenate(ids[lo:hi]).astype(np.int32)
        runs.add(count_ngrams(part, offsets[lo : hi + 1] - offsets[lo], n_classes, 4))
    assert len(runs) == n_runs
    merged = runs.merge(MappedFolder(tmp_path / "merged"), slab=slab)
    assert [p.name for p in tmp_path.iterdir()] == ["merged"]  # the runs are removed
    assert merged.keys[-1][-1] > 2**31 or n_classes < 2**20
    for field in ("keys", "counts", "suffix", "bos_initial"):
        for a, b in zip(getattr(merged, field), getattr(whole, field), strict=True):
            if b is None:
                assert a is None
            else:
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "value, expected",
    [
        (1, 1),
        (2048, 2048),
        ("512MB", 512 * 10**6),
        ("1GB", 10**9),
        ("1gib", 2**30),
        ("1.5 G", 1_500_000_000),
        ("64KiB", 65536),
        ("100", 100),
        (" 2 tb ", 2 * 10**12),
    ],
)
def test_parse_memory_size(value, expected):
    assert parse_memory_size(value) == expected


@pytest.mark.parametrize("value", ["", "1 GBB", "GB", "-1GB", "0", "1e9", "1,000", "nan", 0, -5])
def test_bad_memory_limit(value):
    with pytest.raises(ValueError, match="memory_limit"):
        NGramLM(memory_limit=value).fit(["a b c"])


def test_chunks_grow_with_the_budget_and_shrink_with_the_order():
    assert chunk_positions(1, 3) == MIN_CHUNK_POSITIONS
    assert chunk_positions(10**9, 3) > chunk_positions(10**9, 5) > chunk_positions(10**8, 5)


@pytest.mark.parametrize("how", ["fit", "bounded", "partial_fit"])
def test_the_provisional_words_are_freed_without_the_garbage_collector(how, tmp_path, monkeypatch):
    # The dict that numbers new words holds its own method as its factory: a
    # cycle, which would keep every word until the collector runs.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    samples = [f"w{i} w{i + 1} w{i % 7}" for i in range(500)]
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        if how == "partial_fit":
            NGramLM(order=3).partial_fit(samples)
        else:
            NGramLM(order=3, memory_limit="1GB" if how == "bounded" else None).fit(samples)
        gc.collect()
        # type(), not isinstance(): the garbage may hold dead weak proxies.
        left = [o for o in gc.garbage if type(o) is defaultdict and len(o) > 100]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []


def test_a_fit_on_a_small_budget_does_not_load_numba(tmp_path):
    # Numba's code and LLVM take about 0.1 GB: a fit on a small budget (and
    # its large calls) keeps to NumPy, in a fresh interpreter.
    script = (
        "import sys, tempfile\n"
        f"tempfile.tempdir = {str(tmp_path)!r}\n"
        "from sklm import NGramLM\n"
        "texts = [f'w{i % 997} w{i % 13} long{i % 101}word' for i in range(40_000)]\n"
        "lm = NGramLM(order=3, memory_limit='100MB').fit(iter(texts))\n"
        "assert len(lm.classes_) == 997 + 101 + 2, len(lm.classes_)\n"
        "assert 'numba' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_a_learnt_vocabulary_is_held_as_bytes_until_asked_for():
    # Its Python strings would stay through the estimate (0.1 GB for 417k words).
    from sklm.base import StoredVocabulary

    texts = [" ".join(sample) for sample in corpus()] + ["é ü w0"]
    lm = NGramLM(order=3).fit(texts)
    assert type(lm._vocabulary) is StoredVocabulary
    assert "_tokens" not in lm._vocabulary.__dict__
    expected = NGramLM(order=3, memory_limit=1).fit(iter(texts))
    assert_same_model(lm, expected)
    assert lm.classes_.tolist() == expected.classes_.tolist()
    assert lm.vocabulary_["é"] == expected.vocabulary_["é"]
    # A given vocabulary is kept as it is.
    given = NGramLM(order=3, vocabulary=["w0", "w1", "é"]).fit(texts)
    assert type(given._vocabulary) is not StoredVocabulary
