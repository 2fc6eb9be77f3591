import numpy as np
import pytest

from sklm._validation import check_corpus, check_sample


def test_strings_are_split_on_whitespace_and_sequences_copied():
    X = ["a  b\tc", ("d", "e"), np.array(["f"]), []]
    out = check_corpus(X)
    assert out == [["a", "b", "c"], ["d", "e"], ["f"], []]
    assert out[1] is not X[1]


@pytest.mark.parametrize(
    "X, error, match",
    [
        (None, ValueError, "None"),
        ("a b c", ValueError, "single str"),
        (b"a b", ValueError, "single bytes"),
        ([], ValueError, "empty"),
        (iter([]), ValueError, "empty"),
        (42, TypeError, "iterable"),
        ({"a": 1}, TypeError, "iterable"),
        (["ok", 7], TypeError, r"X\[1\] must be a str"),
        ([["a", None]], TypeError, r"X\[0\]\[1\]"),
        ([[b"a"]], TypeError, r"X\[0\]\[0\]"),
    ],
)
def test_bad_corpora_are_named(X, error, match):
    with pytest.raises(error, match=match):
        check_corpus(X)


def test_error_names_the_parameter():
    with pytest.raises(ValueError, match="contexts is None"):
        check_corpus(None, name="contexts")


def test_check_sample():
    assert check_sample(None) == []
    assert check_sample("a b") == ["a", "b"]
    assert check_sample(["a"]) == ["a"]
    with pytest.raises(TypeError, match="prompt"):
        check_sample([1])


def test_check_texts_or_corpus():
    from sklm._validation import check_texts_or_corpus

    X = ["a b", "c"]
    samples, texts = check_texts_or_corpus(X)
    assert texts and samples == ["a b", "c"]
    samples, texts = check_texts_or_corpus(iter([["a", "b"], "c"]))
    assert not texts and samples == [["a", "b"], ["c"]]
    for bad, error in (
        (None, ValueError),
        ("a b", ValueError),
        ([], ValueError),
        (["a", 3], TypeError),
        ([["a", 3]], TypeError),
    ):
        with pytest.raises(error):
            check_texts_or_corpus(bad)
