"""ARPA files: round trips, a hand-written file scored by hand, bad files."""

import gzip
import math

import numpy as np
import pytest

from sklm import NGramLM
from sklm.ngram import load_arpa

LN10 = math.log(10)
TRAIN = ["the cat sat on the mat", "the dog sat", "a cat saw the dog", "a dog ran", "on the mat"]
TEST = ["the cat sat", "a dog sat on the mat", "the zebra ran", "", "mat mat mat"]
CONTEXTS = [[], ["the"], ["a", "dog"], ["zebra"], ["on", "the"]]

pytestmark = pytest.mark.filterwarnings("ignore:.*cannot estimate the discounts:UserWarning")

HAND = """Some preamble that readers skip.
\\data\\
ngram 1=4
ngram 2=3

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.5
-0.5\t</s>\t0
-0.3\ta\t-0.2

\\2-grams:
-0.1\t<s> a
-0.2\ta </s>
-0.4\ta a

\\end\\
"""


def write(tmp_path, text, name="lm.arpa"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "params",
    [
        {"smoothing": "kneser_ney", "order": 3},
        {"smoothing": "kneser_ney", "order": 1},
        {"smoothing": "witten_bell", "order": 4},
        {"smoothing": "absolute_discounting", "order": 2},
        {"smoothing": "add_k", "order": 3, "alpha": 0.1},
    ],
)
@pytest.mark.parametrize("name", ["model.arpa", "model.arpa.gz"])
def test_round_trip_scores_the_same(tmp_path, params, name):
    lm = NGramLM(**params).fit(TRAIN)
    path = tmp_path / name
    assert lm.to_arpa(path) is lm
    if name.endswith(".gz"):
        with gzip.open(path, "rt") as f:
            assert f.readline() == "\\data\\\n"
    loaded = NGramLM.from_arpa(path)
    assert loaded.order == lm.order
    assert set(loaded.classes_) == set(lm.classes_)
    np.testing.assert_allclose(loaded.score_samples(TEST), lm.score_samples(TEST), rtol=1e-12)
    # columns follow each model's own class order
    columns = [list(loaded.classes_).index(c) for c in lm.classes_]
    np.testing.assert_allclose(
        loaded.predict_proba(CONTEXTS)[:, columns], lm.predict_proba(CONTEXTS), rtol=1e-12
    )
    np.testing.assert_array_equal(loaded.ngram_counts_, lm.ngram_counts_)


def test_header_counts_and_kenlm_layout(tmp_path):
    lm = NGramLM(order=2).fit(TRAIN)
    path = tmp_path / "lm.arpa"
    lm.to_arpa(path)
    lines = path.read_text().splitlines()
    assert lines[1:3] == [f"ngram 1={lm.ngram_counts_[0]}", f"ngram 2={lm.ngram_counts_[1]}"]
    unigrams = lines[lines.index("\\1-grams:") + 1 : lines.index("\\2-grams:") - 1]
    # like KenLM: <s> has log10 probability 0 (a placeholder) and every unigram a backoff
    assert "0.0\t<s>\t" in "\n".join(unigrams)
    assert all(len(line.split("\t")) == 3 for line in unigrams)
    bigrams = lines[lines.index("\\2-grams:") + 1 : lines.index("\\end\\") - 1]
    assert all(len(line.split("\t")) == 2 for line in bigrams)


def test_mle_zeros_are_written_as_minus_99(tmp_path):
    lm = NGramLM(order=2, smoothing="mle").fit(TRAIN)
    path = tmp_path / "mle.arpa"
    lm.to_arpa(path)
    loaded = load_arpa(path)
    ours, theirs = lm.score_samples(TEST), loaded.score_samples(TEST)
    finite = np.isfinite(ours)
    assert not finite.all()
    np.testing.assert_allclose(theirs[finite], ours[finite], rtol=1e-12)
    assert (theirs[~finite] < -99 * LN10).all()


def test_hand_written_file_scored_by_hand(tmp_path):
    lm = NGramLM.from_arpa(write(tmp_path, HAND))
    assert list(lm.classes_) == ["<unk>", "</s>", "a"]
    assert lm.order == 2
    expected_log10 = [
        -0.1 - 0.4 - 0.2,  # "a a": p(a|<s>) p(a|a) p(</s>|a)
        (-0.5 - 1.0) + -0.5,  # "b": bo(<s>) p(<unk>), then p(</s>) after <unk> (no bigram)
        -0.1 + (-0.2 - 1.0) + -0.5,  # "a b": p(a|<s>), bo(a) p(<unk>), p(</s>)
        -0.5 + -0.5,  # "": bo(<s>) p(</s>)
    ]
    np.testing.assert_allclose(
        lm.score_samples(["a a", "b", "a b", ""]), np.array(expected_log10) * LN10, rtol=1e-12
    )
    # next-token log10 scores after "a": <unk> -0.2-1.0, </s> -0.2, a -0.4
    np.testing.assert_allclose(
        np.log10(lm.predict_proba(["a"])[0]), [-1.2, -0.2, -0.4], rtol=1e-12
    )


def test_missing_unk_gets_minus_100_with_a_warning(tmp_path):
    text = HAND.replace("ngram 1=4", "ngram 1=3").replace("-1.0\t<unk>\t0\n", "")
    with pytest.warns(UserWarning, match="<unk>"):
        lm = NGramLM.from_arpa(write(tmp_path, text))
    np.testing.assert_allclose(
        lm.score_samples(["zz"]), [(-0.5 - 100.0 - 0.5) * LN10], rtol=1e-12
    )


def test_missing_prefix_scores_what_backing_off_gives(tmp_path):
    # The trigram "a a </s>" is stored but its prefix "a a" is not (pruned file).
    text = """\\data\\
ngram 1=4
ngram 2=2
ngram 3=1

\\1-grams:
-1.0\t<unk>
-99\t<s>\t-0.5
-0.5\t</s>\t0
-0.3\ta\t-0.2

\\2-grams:
-0.1\t<s> a\t-0.05
-0.2\ta </s>\t0

\\3-grams:
-0.01\ta a </s>
\\end\\
"""
    lm = NGramLM.from_arpa(write(tmp_path, text))
    assert lm.ngram_counts_.tolist() == [4, 3, 1]
    # "a a a": p(a|<s>) = -0.1; p(a|<s> a) = bo(<s> a) + p(a|a), and "a a" is missing,
    # so p(a|a) = bo(a) + p(a) = -0.2 - 0.3; p(a|a a) = bo(a a) + p(a|a) = 0 - 0.5;
    # p(</s>|a a) = -0.01 (the trigram)
    expected = -0.1 + (-0.05 - 0.5) + (0 - 0.5) + -0.01
    np.testing.assert_allclose(lm.score_samples(["a a a"]), [expected * LN10], rtol=1e-12)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda t: t.replace("\\data\\", "\\dada\\"), r"no \\data\\"),
        (lambda t: t.replace("-0.4\ta a\n", ""), r"2-grams.*holds 2 entries.*announces 3"),
        (lambda t: t.replace("\\end\\\n", ""), r"no \\end\\"),
        (lambda t: t[: t.index("\\2-grams:")], r"expected section \\2-grams"),
        (lambda t: t.replace("-0.4\ta a", "-0.4\ta a b c"), "line 15"),
        (lambda t: t.replace("-0.4\ta a", "minus\ta a"), "line 15.*'minus' is not a number"),
        (lambda t: t.replace("-0.4\ta a", "-0.4\ta zebra"), "line 15.*'zebra' is not a unigram"),
        (lambda t: t.replace("ngram 2=3", "ngram two=3"), "line 4.*ngram k=count"),
        (lambda t: t.replace("-0.3\ta\t-0.2", "-0.3\t</s>\t-0.2"), "line 10.*appears twice"),
        (lambda t: t.replace("-0.4\ta a", "-0.4\ta </s>"), "2-gram appears twice"),
        (lambda t: t.replace("-99\t<s>\t-0.5", "-99\tb\t-0.5").replace("<s> a", "b a"), "<s>"),
    ],
)
def test_malformed_files_raise_naming_the_place(tmp_path, edit, match):
    path = write(tmp_path, edit(HAND))
    with pytest.raises(ValueError, match=match):
        NGramLM.from_arpa(path)


def test_truncated_gzip_file_raises(tmp_path):
    lm = NGramLM(order=3).fit(TRAIN)
    path = tmp_path / "lm.arpa"
    lm.to_arpa(path)
    text = path.read_text()
    cut = tmp_path / "cut.arpa.gz"
    with gzip.open(cut, "wt") as f:
        f.write(text[: len(text) // 2])
    with pytest.raises(ValueError, match="truncated"):
        NGramLM.from_arpa(cut)


def test_unfitted_model_cannot_be_written(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        NGramLM().to_arpa(tmp_path / "x.arpa")
