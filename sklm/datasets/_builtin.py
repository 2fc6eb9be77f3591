"""The built-in corpus: the reference documentation that ships with CPython."""

import re
import sys
import zlib

from sklearn.utils import Bunch

from .._sklearn import StrOptions, validate_params

# A heading is a title line followed by a line of one repeated punctuation mark.
_UNDERLINE = re.compile(r"^([*=\-^~#+\"'])\1{2,}$")
# A sentence ends at . ! or ? (possibly inside a closing bracket or quote)
# followed by a space and something that starts a sentence (a capital,
# possibly after a quote, bracket or emphasis mark); this keeps "e.g. the"
# and "x.y" whole.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][)\"”’']))\s+(?=[\"“'(*]?[A-Z])")
_BULLET = re.compile(r"^(?:[*\-•]|\d+\.|\(\d+\))\s+")
_MIN_WORDS = 3
# Every sample whose CRC-32 falls in this residue class mod 10 is held out:
# the split depends only on the text, so it is the same on every run and
# platform, and a sentence repeated across topics never straddles the split.
_TEST_RESIDUE = 0

_DESCR = """\
CPython reference documentation corpus
--------------------------------------

The English prose of the Python language reference and library topics that
every CPython installation ships for ``help()`` (``pydoc_data.topics``), one
sentence per sample. No download and no data file are needed.

How samples are made: each topic is cut into paragraphs at blank lines;
headings, tables, grammar rules, doctests and literal (code) blocks are
dropped; each prose paragraph has its wrapped lines joined, its whitespace
normalised and its leading bullet removed, and is split into sentences.
Sentences of fewer than {min_words} whitespace-separated words (mostly
signatures such as ``object.__len__(self)``) are dropped. Punctuation and
case are kept: tokenize with :class:`sklm.Tokenizer`.

Split: a sample is in the test subset when the CRC-32 of its text is
{residue} modulo 10 (about 10 % of samples), in the train subset otherwise.
The split depends only on the text. The documentation itself changes between
Python versions, so the exact samples and counts do too; ``python_version``
records the version that produced them.

This Python ({version}): {n_all} samples, {n_train} train, {n_test} test,
{n_words} words.
"""


def _paragraphs(text):
    block = []
    for line in text.splitlines():
        if line.strip():
            block.append(line.rstrip())
        elif block:
            yield block
            block = []
    if block:
        yield block


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _prose_paragraphs(text):
    """The prose paragraphs of one topic, each as one whitespace-normalised line."""
    literal_above = None  # indent of the paragraph that introduced a literal block
    last_ended_colon, last_indent = False, 0
    for block in _paragraphs(text):
        indent = min(_indent(line) for line in block)
        if literal_above is not None:
            if indent > literal_above:
                continue
            literal_above = None
        # reST renders "paragraph::" as "paragraph:" followed by a block
        # indented deeper than it: that block is code, not prose.
        if last_ended_colon and indent > last_indent:
            literal_above = last_indent
            last_ended_colon = False
            continue
        first = block[0].lstrip()
        joined = " ".join(" ".join(block).split())
        if (
            _UNDERLINE.match(block[-1].strip())
            or first[:1] in "+|"
            or first.startswith((">>>", "-[", "["))
            or "::=" in joined
        ):
            last_ended_colon = False
            continue
        last_ended_colon, last_indent = joined.endswith(":"), indent
        yield joined


def _sentences(text):
    for paragraph in _prose_paragraphs(text):
        paragraph = _BULLET.sub("", paragraph)
        for sentence in _SENTENCE_END.split(paragraph):
            if len(sentence.split()) >= _MIN_WORDS:
                yield sentence


def _is_test(sentence):
    return zlib.crc32(sentence.encode("utf-8")) % 10 == _TEST_RESIDUE


@validate_params(
    {"subset": [StrOptions({"train", "test", "all"})]},
    prefer_skip_nested_validation=True,
)
def load_pydoc(*, subset="train"):
    """Load the built-in corpus: CPython's reference documentation, one sentence per sample.

    The English prose of the topics that ``help()`` shows (the ``if``
    statement, string methods, the data model, ...), read from the
    ``pydoc_data.topics`` module that ships with every CPython: no download
    and no data file. About 3,500 sentences and 53,000 words (Python 3.11),
    enough to fit and compare n-gram models of orders 1 to 5 in seconds.

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        Which part to return. The split is deterministic: a sentence is in
        ``"test"`` when the CRC-32 of its text is 0 modulo 10 (about 10 %),
        in ``"train"`` otherwise; ``"all"`` returns both in document order.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : list of str
            The sentences (case and punctuation kept, whitespace normalised),
            topic after topic in alphabetical order of topic name.
        topic : list of str
            The ``pydoc`` topic each sentence comes from (``"if"``,
            ``"string-methods"``, ...).
        python_version : str
            The Python version whose documentation was read; the text, and
            so the samples, differ slightly between versions.
        DESCR : str
            How the samples and the split are made, with their counts.

    See Also
    --------
    fetch_ptb, fetch_wikitext2, fetch_tiny_shakespeare : larger corpora,
        downloaded once and cached.

    Examples
    --------
    >>> from sklm.datasets import load_pydoc
    >>> train = load_pydoc(subset="train")
    >>> test = load_pydoc(subset="test")
    >>> len(train.data) > 9 * len(test.data) > 0
    True
    >>> set(train.data).isdisjoint(test.data)
    True
    """
    from pydoc_data.topics import topics

    sentences, names = [], []
    for name in sorted(topics):
        for sentence in _sentences(topics[name]):
            sentences.append(sentence)
            names.append(name)
    held_out = [_is_test(s) for s in sentences]
    if subset == "all":
        keep = [True] * len(sentences)
    else:
        keep = [h == (subset == "test") for h in held_out]
    n_test = sum(held_out)
    descr = _DESCR.format(
        min_words=_MIN_WORDS,
        residue=_TEST_RESIDUE,
        version=sys.version.split()[0],
        n_all=len(sentences),
        n_train=len(sentences) - n_test,
        n_test=n_test,
        n_words=sum(len(s.split()) for s in sentences),
    )
    return Bunch(
        data=[s for s, k in zip(sentences, keep) if k],
        topic=[t for t, k in zip(names, keep) if k],
        python_version=sys.version.split()[0],
        DESCR=descr,
    )
