"""Readers of the benchmark corpora, shared by the scripts of ``benchmarks/``.

Every reader takes the folder that holds the public corpora (``ptb.valid.txt``,
``ptb.test.txt``, ``wikitext-2.valid.txt``, ``wikitext-2.test.txt``,
``tinyshakespeare.txt``) and applies the word-level protocol: a line is
normalised to ``" ".join(line.split())`` and dropped when that leaves it empty;
each line is one sample.

- P1: train ``ptb.valid.txt``, test ``ptb.test.txt``.
- P1U: P1 with every literal ``<unk>`` replaced by ``__unk__``, so that it is
  counted like any word.
- P2: train ``wikitext-2.valid.txt``, test ``wikitext-2.test.txt``.
- P3: ``tinyshakespeare.txt``; the first ``int(0.9 * n)`` lines train, the
  rest test.
- C3: ``tinyshakespeare.txt`` as one character stream, newline included; the
  first 90% of the characters train, the last 10% test.
- big: the five files once as they are, then nine copies in which every word
  carries a copy mark (``word~1`` ... ``word~9``), so that the copies share no
  n-gram and the counts of counts stay those of real text.
"""

from pathlib import Path

from sklm.datasets import load_lines

FILES = (
    "ptb.valid.txt",
    "ptb.test.txt",
    "wikitext-2.valid.txt",
    "wikitext-2.test.txt",
    "tinyshakespeare.txt",
)
N_BIG_COPIES = 10


def iter_lines(path):
    """Yield the normalised non-empty lines of one file, lazily."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            words = line.split()
            if words:
                yield " ".join(words)


def read_lines(path):
    """The normalised non-empty lines of one file, as a list (:func:`sklm.datasets.load_lines`)."""
    return load_lines(path)


def _split_pair(data, train_name, test_name, *, unk_as_word=False):
    data = Path(data)
    train, test = read_lines(data / train_name), read_lines(data / test_name)
    if unk_as_word:
        train, test = _unk_as_word(train), _unk_as_word(test)
    return train, test


def _unk_as_word(lines):
    return [" ".join("__unk__" if w == "<unk>" else w for w in line.split()) for line in lines]


def load_p1(data):
    """Protocol P1: ``(train, test)`` lines of the Penn Treebank parts."""
    return _split_pair(data, "ptb.valid.txt", "ptb.test.txt")


def load_p1u(data):
    """Protocol P1U: P1 with ``<unk>`` read as the ordinary word ``__unk__``."""
    return _split_pair(data, "ptb.valid.txt", "ptb.test.txt", unk_as_word=True)


def load_p2(data):
    """Protocol P2: ``(train, test)`` lines of the WikiText-2 parts."""
    return _split_pair(data, "wikitext-2.valid.txt", "wikitext-2.test.txt")


def load_p3(data):
    """Protocol P3: ``(train, test)`` lines of Tiny Shakespeare, split 90/10."""
    lines = read_lines(Path(data) / "tinyshakespeare.txt")
    cut = int(0.9 * len(lines))
    return lines[:cut], lines[cut:]


def load_c3(data):
    """Protocol C3: ``(train, test)`` character strings of Tiny Shakespeare."""
    text = (Path(data) / "tinyshakespeare.txt").read_text(encoding="utf-8")
    cut = int(0.9 * len(text))
    return text[:cut], text[cut:]


def iter_big(data, *, n_copies=N_BIG_COPIES):
    """Yield the lines of the "big" corpus one at a time.

    Copy 0 is the five files as they are; copy ``k`` (1 to ``n_copies - 1``)
    appends ``~k`` to every word. Only the lines of copy 0 are held in memory
    (a tenth of the corpus, about 5 MB); the marked copies are made one line
    at a time, so a benchmark that fits on it measures the model, not the
    loader.
    """
    base = []
    for name in FILES:
        base.extend(read_lines(Path(data) / name))
    yield from base
    for k in range(1, n_copies):
        mark = f"~{k} "
        end = mark[:-1]
        for line in base:
            # One str.replace per line instead of a join over words: the
            # words of a normalised line are separated by single spaces.
            yield line.replace(" ", mark) + end


def big_stats(data, *, n_copies=N_BIG_COPIES):
    """``(n_lines, n_tokens, n_types)`` of the "big" corpus, by a full pass."""
    n_lines = n_tokens = 0
    types = set()
    for line in iter_big(data, n_copies=n_copies):
        words = line.split()
        n_lines += 1
        n_tokens += len(words)
        types.update(words)
    return n_lines, n_tokens, len(types)
