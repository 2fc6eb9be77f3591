import sys
from pydoc_data.topics import topics

import pytest

from sklm.datasets import load_pydoc
from sklm.datasets._builtin import _sentences

TOPIC = """\
The "spam" statement
********************

The "spam" statement repeats its suite.  It is rarely used, e.g. in
tests.  See also the "eggs" statement. This one is short.

   spam_stmt ::= "spam" ":" suite

For example:

   spam:
       print(1)

   spam:
       print(2)

Back to prose after the code (see above.) Done here today.

+-------+-------+
| a     | b     |
+-------+-------+

Details
=======

* A bulleted item of several words.

1. A numbered item of several words.

>>> spam()
'eggs'

object.__spam__(self)

   Called to implement the spam protocol.
"""


def test_sentences_keep_prose_and_drop_everything_else():
    assert list(_sentences(TOPIC)) == [
        'The "spam" statement repeats its suite.',
        "It is rarely used, e.g. in tests.",
        'See also the "eggs" statement.',
        "This one is short.",
        "Back to prose after the code (see above.)",
        "Done here today.",
        "A bulleted item of several words.",
        "A numbered item of several words.",
        "Called to implement the spam protocol.",
    ]


def test_split_is_deterministic_disjoint_and_complete():
    all_ = load_pydoc(subset="all")
    train = load_pydoc(subset="train")
    test = load_pydoc()  # default is train
    assert test.data == train.data
    test = load_pydoc(subset="test")
    assert load_pydoc(subset="test").data == test.data
    assert len(train.data) + len(test.data) == len(all_.data)
    assert set(train.data).isdisjoint(test.data)
    assert sorted(train.data + test.data) == sorted(all_.data)
    assert 0.05 < len(test.data) / len(all_.data) < 0.15
    # Each subset keeps document order (a subsequence of "all").
    it = iter(all_.data)
    assert all(any(s == t for t in it) for s in train.data)


def test_samples_are_clean_sentences():
    bunch = load_pydoc(subset="all")
    assert len(bunch.data) == len(bunch.topic) > 1000
    assert sum(len(s.split()) for s in bunch.data) > 30_000
    assert set(bunch.topic) <= set(topics)
    assert bunch.topic == sorted(bunch.topic)
    for s in bunch.data:
        assert s == " ".join(s.split())
        assert len(s.split()) >= 3
        assert "::=" not in s and not s.startswith((">>>", "+-", "|"))
        assert "*****" not in s and "=====" not in s
    assert bunch.python_version == sys.version.split()[0]
    assert str(len(bunch.data)) in bunch.DESCR


def test_bad_subset():
    with pytest.raises(ValueError, match="subset"):
        load_pydoc(subset="valid")


def test_a_five_gram_model_beats_a_unigram_on_held_out_text():
    from sklm import NGramLM, Tokenizer
    from sklm.metrics import perplexity

    tokenizer = Tokenizer()
    train = tokenizer.transform(load_pydoc(subset="train").data)
    test = tokenizer.transform(load_pydoc(subset="test").data)
    five = NGramLM(order=5).fit(train)
    one = NGramLM(order=1).fit(train)
    # Context helps on held-out sentences of the same documentation.
    assert 1 < perplexity(five, test) < perplexity(one, test) / 2
