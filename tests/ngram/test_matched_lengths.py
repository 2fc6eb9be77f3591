import warnings

import numpy as np
import pytest

from sklm import NGramLM

TRAIN = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat saw a dog",
    "the dog saw the cat",
    "a dog sat on a mat",
]
TEST = ["the cat sat on a log", "a bird sat", "the dog ran on the mat", "cat", "<unk> the"]


def _stored_ngrams(lm, tmp_path):
    """Every n-gram the model stores, read back from its ARPA file (word tuples)."""
    path = tmp_path / "m.arpa"
    lm.to_arpa(path)
    stored = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) >= 2:
            stored.add(tuple(fields[1].split(" ")))
    return stored


def _oracle(lm, stored, sample):
    """Longest stored n-gram ending at each prediction, one at a time."""
    words = ["<s>"] + [w if w in lm.vocabulary_ else "<unk>" for w in sample.split()] + ["</s>"]
    lengths = []
    for i in range(1, len(words)):
        longest = 1
        for k in range(2, min(lm.order, i + 1) + 1):
            if tuple(words[i - k + 1 : i + 1]) in stored:
                longest = k
        lengths.append(longest)
    return lengths


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("smoothing", ["kneser_ney", "witten_bell", "add_k", "mle"])
def test_matched_lengths_against_the_stored_ngrams(tmp_path, order, smoothing):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # discounts of a toy corpus fall back
        lm = NGramLM(order=order, smoothing=smoothing).fit(TRAIN)
    stored = _stored_ngrams(lm, tmp_path)
    lengths = lm.matched_lengths(TEST)
    assert len(lengths) == len(TEST)
    for sample, got, log_probs in zip(TEST, lengths, lm.score_tokens(TEST)):
        assert got.dtype.kind == "i" and len(got) == len(log_probs)
        assert got.tolist() == _oracle(lm, stored, sample)
    # A token list gives what its text gives.
    tokens = [s.split() for s in TEST]
    for a, b in zip(lm.matched_lengths(tokens), lengths):
        np.testing.assert_array_equal(a, b)


def test_matched_lengths_of_an_arpa_model(tmp_path):
    path = tmp_path / "tiny.arpa"
    path.write_text(
        "\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n"
        "-1.0\t<unk>\t0\n-0.5\t</s>\n0\t<s>\t-0.3\n-0.4\ta\t-0.2\n\n"
        "\\2-grams:\n-0.1\t<s> a\n-0.2\ta </s>\n\n\\end\\\n",
        encoding="utf-8",
    )
    lm = NGramLM.from_arpa(path)
    assert [x.tolist() for x in lm.matched_lengths(["a", "a a", "b"])] == [
        [2, 2],
        [2, 1, 2],
        [1, 1],
    ]


def test_matched_lengths_needs_a_fitted_model_and_checks_x():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        NGramLM().matched_lengths(["a"])
    lm = NGramLM(order=2, smoothing="witten_bell").fit(TRAIN)
    with pytest.raises((TypeError, ValueError)):
        lm.matched_lengths("the cat")
