"""ARPA files: round trips, a hand-written file scored by hand, bad and hostile files."""

import gzip
import math
import os
import random
import time

import numpy as np
import pytest

from sklm import NGramLM, Tokenizer
from sklm.ngram import ARPAFormatError, load_arpa

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
    np.testing.assert_allclose(np.log10(lm.predict_proba(["a"])[0]), [-1.2, -0.2, -0.4], rtol=1e-12)


def test_missing_unk_gets_minus_100_with_a_warning(tmp_path):
    text = HAND.replace("ngram 1=4", "ngram 1=3").replace("-1.0\t<unk>\t0\n", "")
    with pytest.warns(UserWarning, match="<unk>"):
        lm = NGramLM.from_arpa(write(tmp_path, text))
    np.testing.assert_allclose(lm.score_samples(["zz"]), [(-0.5 - 100.0 - 0.5) * LN10], rtol=1e-12)


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
        (lambda t: t.replace("-0.4\ta a\n", ""), r"line 15: blank line after 2 of the 3 2-grams"),
        (lambda t: t.replace("\\end\\\n", ""), r"line 16: expected \\end\\, found the end"),
        (lambda t: t[: t.index("\\2-grams:")], r"expected \\2-grams:, found the end of the file"),
        (lambda t: t.replace("-0.4\ta a", "-0.4\ta a b c"), "line 15"),
        (
            lambda t: t.replace("-0.4\ta a", "minus\ta a"),
            "line 15.*'minus' is not a finite decimal",
        ),
        (lambda t: t.replace("-0.4\ta a", "-0.4\ta zebra"), "line 15.*'zebra' is not a unigram"),
        (lambda t: t.replace("ngram 2=3", "ngram two=3"), "line 4.*ngram k=count"),
        (lambda t: t.replace("-0.3\ta\t-0.2", "-0.3\t</s>\t-0.2"), "line 10.*appears twice"),
        (lambda t: t.replace("-0.4\ta a", "-0.4\ta </s>"), "2-gram appears twice"),
        (lambda t: t.replace("-99\t<s>\t-0.5", "-99\tb\t-0.5").replace("<s> a", "b a"), "<s>"),
    ],
)
def test_malformed_files_raise_naming_the_place(tmp_path, edit, match):
    path = write(tmp_path, edit(HAND))
    with pytest.raises(ARPAFormatError, match=match) as error:
        NGramLM.from_arpa(path)
    assert isinstance(error.value, ValueError)
    assert str(path) in str(error.value)


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


# strict numbers and values --------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "nan",
        "-nan",
        "inf",
        "-inf",
        "-infinity",
        "1e309",
        "-1e309",
        "+5",
        "-+5",
        "1_000",
        "-\u0661",
        "-0x1p3",
        "--1",
        "-1.2.3",
        "-1e",
        "-.",
        "-1d5",
        "- 1",
    ],
)
def test_only_finite_decimals_are_numbers(tmp_path, number):
    path = write(tmp_path, HAND.replace("-0.4\ta a", f"{number}\ta a"))
    with pytest.raises(ARPAFormatError, match="line 15") as error:
        NGramLM.from_arpa(path)
    assert error.value.line == 15


@pytest.mark.parametrize("number", ["-4", "-0.5e-3", "-.5", "-5.", "-0", "0", "-1E+2", "-00.25"])
def test_every_decimal_form_is_read(tmp_path, number):
    lm = NGramLM.from_arpa(write(tmp_path, HAND.replace("-0.4\ta a", f"{number}\ta a")))
    after_a = np.log10(lm.predict_proba(["a"])[0][2])
    np.testing.assert_allclose(after_a, float(number), rtol=1e-13, atol=1e-15)


def test_positive_log_probabilities_are_refused_but_not_backoffs(tmp_path):
    with pytest.raises(ARPAFormatError, match=r"line 15: the log10 probability 0.25 is above 0"):
        NGramLM.from_arpa(write(tmp_path, HAND.replace("-0.4\ta a", "0.25\ta a")))
    lm = NGramLM.from_arpa(write(tmp_path, HAND.replace("-0.3\ta\t-0.2", "-0.3\ta\t1.5e+0")))
    np.testing.assert_allclose(np.log10(lm.predict_proba(["a"])[0][0]), 1.5 - 1.0, rtol=1e-12)


@pytest.mark.parametrize(
    "edit, match",
    [
        # more entries than announced
        (lambda t: t.replace("ngram 2=3", "ngram 2=2"), r"line 15: expected \\end\\, found '-0.4"),
        (lambda t: t.replace("ngram 1=4", "ngram 1=3"), r"line 10: expected \\2-grams:, found"),
        # announced counts no file of this size can hold
        (lambda t: t.replace("ngram 2=3", "ngram 2=90000000"), r"line 4: .*more than a file"),
        (lambda t: t.replace("ngram 2=3", "ngram 2=2147483648"), "line 4: more than 2147483647"),
        (lambda t: t.replace("ngram 1=4", "ngram 1=0"), "line 3: the header announces no unigrams"),
        (lambda t: t.replace("ngram 2=3", "ngram 3=3"), "line 4: expected 'ngram 2=...'"),
        (lambda t: t.replace("\\2-grams:", "\\3-grams:"), r"line 12: expected \\2-grams:"),
        (lambda t: t.replace("\\data\\\n", "\\data\\\n\\1-grams:\n"), "lists no orders"),
        (lambda t: t.replace("-0.1\t<s> a", "-0.1\t<s> a\t-0.3 7"), "line 13: expected a 2-gram"),
        (lambda t: t.replace("-0.2\ta </s>", "-0.1\t<s> a"), "line 14: the 2-gram appears twice"),
    ],
)
def test_header_and_sections_must_agree(tmp_path, edit, match):
    with pytest.raises(ARPAFormatError, match=match):
        NGramLM.from_arpa(write(tmp_path, edit(HAND)))


def test_words_and_marker_spacing_variants_are_read(tmp_path):
    # Spaces instead of tabs, several spaces, CRLF line ends, blank lines between sections.
    text = HAND.replace("\t", "   ").replace("\n\n", "\n\n\n").replace("\n", "\r\n")
    lm = NGramLM.from_arpa(write(tmp_path, text))
    reference = NGramLM.from_arpa(write(tmp_path, HAND, "ref.arpa"))
    np.testing.assert_array_equal(lm.score_samples(TEST), reference.score_samples(TEST))


def test_sections_without_blank_lines_and_without_colon(tmp_path):
    text = HAND.replace("\n\n", "\n").replace("-grams:", "-grams")
    lm = NGramLM.from_arpa(write(tmp_path, text))
    reference = NGramLM.from_arpa(write(tmp_path, HAND, "ref.arpa"))
    np.testing.assert_array_equal(lm.score_samples(TEST), reference.score_samples(TEST))


# hostile files: bounded time and memory ------------------------------------------------


def test_zeros_without_newline_fail_on_the_line_length(tmp_path):
    path = tmp_path / "zeros"
    path.write_bytes(bytes(3 << 20))
    with pytest.raises(ARPAFormatError, match="line 1: the line is longer than 1048576 bytes"):
        NGramLM.from_arpa(path)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero on this system")
def test_dev_zero_fails_fast():
    with pytest.raises(ARPAFormatError, match="longer than"):
        NGramLM.from_arpa("/dev/zero")


def test_gzip_bomb_fails_on_the_line_length(tmp_path):
    path = tmp_path / "bomb.arpa.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        for _ in range(64):
            f.write(bytes(1 << 20))
    assert path.stat().st_size < 200_000
    with pytest.raises(ARPAFormatError, match="line 1: the line is longer"):
        NGramLM.from_arpa(path)


def test_endless_lines_before_the_header_fail_after_the_preamble_bound(tmp_path):
    path = write(tmp_path, "junk\n" * 20_000 + HAND)
    with pytest.raises(ARPAFormatError, match=r"no \\data\\ header in the first 10000 lines"):
        NGramLM.from_arpa(path)


def test_endless_blank_lines_between_sections_fail(tmp_path):
    path = write(tmp_path, HAND.replace("\n\\2-grams:", "\n" * 20_000 + "\\2-grams:"))
    with pytest.raises(ARPAFormatError, match="more than 10000 blank lines"):
        NGramLM.from_arpa(path)


def test_thousands_of_empty_orders_fail_at_the_header(tmp_path):
    header = "".join(f"ngram {k}={int(k == 1)}\n" for k in range(1, 2001))
    sections = "\n\\1-grams:\n-1\t<s>\n" + "".join(f"\n\\{k}-grams:\n" for k in range(2, 2001))
    path = write(tmp_path, "\\data\\\n" + header + sections + "\n\\end\\\n")
    with pytest.raises(ARPAFormatError, match="line 102: more than 100 orders"):
        NGramLM.from_arpa(path)


def test_empty_highest_orders_are_dropped(tmp_path):
    header = "ngram 1=3\n" + "".join(f"ngram {k}=0\n" for k in range(2, 60))
    sections = "".join(f"\n\\{k}-grams:\n" for k in range(2, 60))
    unigrams = "\n\\1-grams:\n-1\t<s>\n-0.5\t</s>\n-0.5\t<unk>\n"
    lm = NGramLM.from_arpa(
        write(tmp_path, "\\data\\\n" + header + unigrams + sections + "\n\\end\\\n")
    )
    assert lm.order == 1
    np.testing.assert_allclose(lm.score_samples(["x"]), [-LN10], rtol=1e-15)


# encodings ------------------------------------------------------------------------------


def test_latin1_files_are_read_with_their_encoding(tmp_path):
    path = tmp_path / "latin1.arpa"
    path.write_bytes(HAND.replace(" a", " café").replace("\ta", "\tcafé").encode("latin-1"))
    lm = NGramLM.from_arpa(path, encoding="latin-1")
    assert list(lm.classes_) == ["<unk>", "</s>", "café"]
    reference = NGramLM.from_arpa(write(tmp_path, HAND, "ref.arpa"))
    np.testing.assert_array_equal(lm.score_samples(["café café"]), reference.score_samples(["a a"]))
    with pytest.raises(ARPAFormatError, match=r"line 10: b'caf\\xe9' cannot be decoded as utf-8"):
        NGramLM.from_arpa(path)


def test_undecodable_word_in_a_higher_order_names_its_line(tmp_path):
    path = tmp_path / "bad.arpa"
    path.write_bytes(HAND.replace("-0.4\ta a", "-0.4\ta \xff").encode("latin-1"))
    with pytest.raises(ARPAFormatError, match=r"line 15: b'\\xff' cannot be decoded as utf-8"):
        NGramLM.from_arpa(path)


def test_unknown_encodings_are_refused(tmp_path):
    path = write(tmp_path, HAND)
    for encoding in ["utf-16", "no-such-codec"]:
        with pytest.raises(ValueError, match="ASCII-compatible"):
            NGramLM.from_arpa(path, encoding=encoding)


# round trips -----------------------------------------------------------------------------


def tables_equal(a, b):
    assert a.order == b.order
    np.testing.assert_array_equal(a.log_prob[0], b.log_prob[0])
    for k in range(1, a.order):
        np.testing.assert_array_equal(a.keys[k], b.keys[k])
        np.testing.assert_array_equal(a.log_prob[k], b.log_prob[k])
    for k in range(a.order - 1):
        np.testing.assert_array_equal(a.log_backoff[k], b.log_backoff[k])


@pytest.mark.parametrize("smoothing", ["kneser_ney", "witten_bell", "mle", "add_k"])
def test_write_read_write_is_a_fixed_point(tmp_path, smoothing):
    lm = NGramLM(order=3, smoothing=smoothing).fit(TRAIN)
    lm.to_arpa(tmp_path / "a.arpa")
    once = NGramLM.from_arpa(tmp_path / "a.arpa")
    once.to_arpa(tmp_path / "b.arpa")
    assert (tmp_path / "a.arpa").read_bytes() == (tmp_path / "b.arpa").read_bytes()
    twice = NGramLM.from_arpa(tmp_path / "b.arpa")
    tables_equal(once.tables_, twice.tables_)
    np.testing.assert_array_equal(once.score_samples(TEST), twice.score_samples(TEST))
    # log10 then back to natural logs: equal to the last bits of a double
    finite = np.isfinite(lm.score_samples(TEST))
    np.testing.assert_allclose(
        once.score_samples(TEST)[finite], lm.score_samples(TEST)[finite], rtol=4e-16
    )


def test_numbers_are_written_exactly():
    from sklm.ngram._arpa_write import format_numbers

    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            -rng.random(20_000) * 10.0 ** rng.integers(-7, 4, 20_000),
            rng.standard_normal(2_000),
            [
                0.0,
                -0.0,
                -1e-5,
                1e-5,
                -9.999999999999999e-6,
                -1e15,
                1e15 - 1,
                -99.0,
                -1.0,
                1.0,
                -0.1,
                -0.30102999566398120,
                5e-324,
                -1e300,
                -np.inf,
                0.3,
            ],
        ]
    )
    text, length, value = format_numbers(values)
    strings = [None] * len(values)
    for row, (i, n) in enumerate(zip(value.tolist(), length.tolist())):
        strings[i] = bytes(text[row, :n]).decode()
    expected = np.where(np.isneginf(values), -99.0, values)
    assert [float(s) for s in strings] == expected.tolist()
    assert strings[-2:] == ["-99.0", "0.29999999999999999"]


def oracle_arpa(lm):
    """The ARPA text of ``lm``, written one line at a time in plain Python."""
    from sklm.ngram._arpa_write import escape_name

    tables = lm.tables_
    names = [escape_name(t) if len(t) == 1 and t.isspace() else t for t in lm.classes_]
    names.append("<s>")

    def number(log_e):
        value = float(log_e) / LN10
        value = -99.0 if value == -math.inf else value
        if not 1e-5 <= abs(value) < 1e15:
            return repr(value)
        return np.format_float_positional(
            value, precision=17, unique=False, fractional=False, trim="0"
        )

    def words(k, row):
        if k == 1:
            return [names[row]]
        prefix, word = divmod(int(tables.keys[k - 1][row]), tables.base)
        return words(k - 1, prefix) + [names[word]]

    order = max(lm.order, 2)
    sizes = [*tables.sizes().tolist(), 0][:order]
    text = "\\data\\\n" + "".join(f"ngram {k}={n}\n" for k, n in enumerate(sizes, 1))
    escaped = [name for name, token in zip(names, lm.classes_) if name != token]
    if escaped:
        text = f"# sklm escaped tokens: {' '.join(escaped)}\n" + text
    for k in range(1, order + 1):
        text += f"\n\\{k}-grams:\n"
        rows = range(sizes[k - 1])
        if k == 1:
            rows = [0, tables.n_classes, *range(1, tables.n_classes)]
        for row in rows:
            line = number(tables.log_prob[k - 1][row]) + "\t" + " ".join(words(k, row))
            if k < order:
                backoff = tables.log_backoff[k - 1][row] if k < lm.order else 0.0
                line += "\t" + number(backoff)
            text += line + "\n"
    return text + "\n\\end\\\n"


@pytest.mark.parametrize("order, smoothing", [(1, "kneser_ney"), (3, "mle"), (4, "kneser_ney")])
def test_written_file_equals_a_line_by_line_writer(tmp_path, order, smoothing):
    from sklm.ngram._arpa_write import write_arpa

    # Short and long words (a piece longer than the ones before it in its
    # line is copied another way), zero backoffs, -inf written -99.
    rng = random.Random(order)
    words = ["a", "b", "é", "cc", "x" * 300, "word", " "]
    sentences = [
        " ".join(rng.choice(words[:-1]) for _ in range(rng.randint(1, 12))) for _ in range(300)
    ]
    lm = NGramLM(order=order, smoothing=smoothing).fit([s.split() + [" "] for s in sentences])
    expected = oracle_arpa(lm).encode()
    lm.to_arpa(tmp_path / "lm.arpa")
    assert (tmp_path / "lm.arpa").read_bytes() == expected
    # Blocks of a few n-grams, written by several threads: the same bytes.
    for n_threads, block_rows in [(1, 7), (3, 5), (2, 1)]:
        write_arpa(
            lm.tables_,
            list(lm.classes_),
            tmp_path / "b.arpa.gz",
            n_threads=n_threads,
            block_rows=block_rows,
        )
        assert gzip.decompress((tmp_path / "b.arpa.gz").read_bytes()) == expected


def test_char_model_round_trips_with_escaped_whitespace(tmp_path):
    texts = ["ab c\u3000d", "a\tb c", "c a b a"]
    pipe_tokens = Tokenizer(analyzer="char").fit_transform(texts)
    lm = NGramLM(order=3).fit(pipe_tokens)
    path = tmp_path / "char.arpa"
    lm.to_arpa(path)
    text = path.read_text(encoding="utf-8")
    note, data = text.split("\n")[:2]
    assert data == "\\data\\"
    assert note.startswith("# sklm escaped tokens: ")
    assert sorted(note.split()[4:]) == ["<U+0009>", "<U+0020>", "<U+3000>"]
    assert "\tc <U+0020>\t" in text
    loaded = NGramLM.from_arpa(path)
    assert set(loaded.classes_) == set(lm.classes_)
    np.testing.assert_allclose(
        loaded.score_samples(pipe_tokens), lm.score_samples(pipe_tokens), rtol=4e-16
    )


def test_escape_note_is_only_read_before_the_header(tmp_path):
    # A file from another tool with a literal <U+0020> word keeps it.
    text = HAND.replace("\ta", "\t<U+0020>").replace(" a", " <U+0020>")
    assert list(NGramLM.from_arpa(write(tmp_path, text)).classes_)[2] == "<U+0020>"


@pytest.mark.parametrize(
    "tokens, match",
    [
        (["x 0.5", "b"], r"'x 0.5'.*holds whitespace"),
        (["a\u00a0b", "b"], "holds whitespace"),
        (["\ud800", "b"], "not encodable as UTF-8"),
        ([" ", "<U+0020>"], "also the escaped name"),
    ],
)
def test_tokens_arpa_cannot_hold_are_refused_before_writing(tmp_path, tokens, match):
    path = tmp_path / "lm.arpa"
    path.write_text("previous")
    lm = NGramLM(order=2).fit([tokens, tokens[::-1]])
    with pytest.raises(ValueError, match=match):
        lm.to_arpa(path)
    assert path.read_text() == "previous"
    assert os.listdir(tmp_path) == ["lm.arpa"]


def test_write_failure_leaves_the_previous_file(tmp_path, monkeypatch):
    lm = NGramLM(order=2).fit(TRAIN)
    path = tmp_path / "lm.arpa.gz"
    path.write_bytes(b"previous")
    lm.tables_.log_prob[1][0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lm.to_arpa(path)
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["lm.arpa.gz"]


def test_paths_must_be_paths():
    lm = NGramLM(order=2).fit(TRAIN)
    with pytest.raises(TypeError, match="path"):
        lm.to_arpa(None)
    with pytest.raises(TypeError, match="path"):
        NGramLM.from_arpa(None)


def test_order_1_is_written_with_an_empty_2_grams_section(tmp_path):
    lm = NGramLM(order=1).fit(TRAIN)
    path = tmp_path / "o1.arpa"
    lm.to_arpa(path)
    text = path.read_text()
    assert "ngram 2=0\n" in text and "\\2-grams:\n\n\\end\\" in text
    loaded = NGramLM.from_arpa(path)
    assert loaded.order == 1
    np.testing.assert_allclose(loaded.score_samples(TEST), lm.score_samples(TEST), rtol=4e-16)


def test_large_file_is_read_in_blocks(tmp_path):
    # More than one 2 MiB block per section, in file order unsorted (KenLM's order differs).
    rng = random.Random(0)
    words = [f"w{i}" for i in range(3000)]
    sentences = [
        " ".join(rng.choice(words) for _ in range(rng.randint(1, 30))) for _ in range(9_000)
    ]
    lm = NGramLM(order=3).fit(sentences)
    path = tmp_path / "big.arpa"
    lm.to_arpa(path)
    lines = path.read_text().split("\n")
    start, end = lines.index("\\3-grams:") + 1, lines.index("\\end\\") - 1
    body = lines[start:end]
    random.Random(1).shuffle(body)
    shuffled = tmp_path / "shuffled.arpa"
    shuffled.write_text("\n".join(lines[:start] + body + lines[end:]))
    assert len("\n".join(body)) > 2 << 20
    tables_equal(NGramLM.from_arpa(shuffled).tables_, NGramLM.from_arpa(path).tables_)


@pytest.fixture(scope="module")
def multi_block_arpa(tmp_path_factory):
    """An order-3 ARPA file whose 3-grams take several 2 MiB blocks, some of their
    contexts removed (filled in as blanks), the 3-gram lines shuffled."""
    rng = random.Random(0)
    words = [f"w{i}" for i in range(3000)]
    sentences = [
        " ".join(rng.choice(words) for _ in range(rng.randint(1, 30))) for _ in range(12_000)
    ]
    path = tmp_path_factory.mktemp("blocks") / "lm.arpa"
    NGramLM(order=3).fit(sentences).to_arpa(path)
    lines = path.read_text().split("\n")
    b_start, b_end = lines.index("\\2-grams:") + 1, lines.index("\\3-grams:") - 1
    start, end = b_end + 2, lines.index("\\end\\") - 1
    bigrams = [line for i, line in enumerate(lines[b_start:b_end]) if i % 50 != 7]
    body = lines[start:end]
    random.Random(1).shuffle(body)
    header = [
        f"ngram 2={len(bigrams)}" if line.startswith("ngram 2=") else line
        for line in lines[:b_start]
    ]
    lines = header + bigrams + lines[b_end:start] + body + lines[end:]
    path.write_text("\n".join(lines))
    assert len("\n".join(body)) > 3 * (2 << 20)
    return path, lines, start


def test_blocks_read_by_threads_give_the_one_thread_tables(multi_block_arpa, monkeypatch):
    path, _, _ = multi_block_arpa
    threaded = NGramLM.from_arpa(path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the reader then parses one block at a time
    tables_equal(threaded.tables_, NGramLM.from_arpa(path).tables_)


@pytest.mark.parametrize("n_threads", ["1", "2"])
def test_the_first_error_in_the_file_is_raised_whichever_block_fails_first(
    multi_block_arpa, tmp_path, monkeypatch, n_threads
):
    # Two bad lines in different blocks of the 3-grams: the earlier one is
    # reported, also when a later block is parsed first.
    monkeypatch.setenv("OMP_NUM_THREADS", n_threads)
    _, lines, start = multi_block_arpa
    lines = list(lines)
    end = lines.index("\\end\\") - 1
    per_block = (2 << 20) * (end - start) // len("\n".join(lines[start:end]))
    early, late = start + 3 * per_block // 2, start + 5 * per_block // 2
    lines[late] = "x" + lines[late]
    lines[early] = "y" + lines[early]
    bad = tmp_path / "bad.arpa"
    bad.write_text("\n".join(lines))
    with pytest.raises(ARPAFormatError, match="log10 probability 'y") as error:
        NGramLM.from_arpa(bad)
    assert error.value.line == early + 1


# mutation fuzz -------------------------------------------------------------------------


def _mutate(data, rng):
    if len(data) < 2:
        return data + b"\\data\\\n"
    data = bytearray(data)
    kind = rng.randrange(7)
    i = rng.randrange(len(data))
    if kind == 0:
        data[i] = rng.randrange(256)
    elif kind == 1:
        del data[i : i + rng.randint(1, 40)]
    elif kind == 2:
        data[i:i] = rng.choice([b"\n", b"\t", b" ", b"-", b"e", b"\\", b"nan", b"9" * 400, b"\x00"])
    elif kind == 3:
        lines = bytes(data).split(b"\n")
        j = rng.randrange(len(lines))
        lines.insert(j, lines[rng.randrange(len(lines))])
        data = bytearray(b"\n".join(lines))
    elif kind == 4:
        lines = bytes(data).split(b"\n")
        del lines[rng.randrange(len(lines))]
        data = bytearray(b"\n".join(lines))
    elif kind == 5:
        digits = [j for j, c in enumerate(data) if 48 <= c <= 57]
        if digits:
            data[rng.choice(digits)] = rng.randrange(48, 58)
    else:
        data = data[:i]
    return bytes(data)


def test_mutation_fuzz_gives_a_model_or_a_format_error(tmp_path):
    lm = NGramLM(order=3).fit(TRAIN)
    path = tmp_path / "lm.arpa"
    lm.to_arpa(path)
    original = path.read_bytes()
    rng = random.Random(12345)
    outcomes = {"model": 0, "error": 0}
    deadline = time.monotonic() + 20  # a guard against a hang, not a timing assertion
    for trial in range(300):
        data = original
        for _ in range(rng.randint(1, 3)):
            data = _mutate(data, rng)
        name = tmp_path / ("m.arpa.gz" if trial % 5 == 0 else "m.arpa")
        name.write_bytes(gzip.compress(data) if trial % 5 == 0 else data)
        try:
            loaded = NGramLM.from_arpa(name)
        except ARPAFormatError as error:
            assert str(name) in str(error)
            outcomes["error"] += 1
        else:
            outcomes["model"] += 1
            scores = loaded.score_samples(TEST)
            assert not np.isnan(scores).any()
            assert (scores <= 1e-9).all() or loaded.tables_.log_backoff[0].max() > 0
        assert time.monotonic() < deadline
    assert outcomes["model"] > 10 and outcomes["error"] > 100


def test_corrupt_gzip_stream_is_a_format_error(tmp_path):
    lm = NGramLM(order=3).fit(TRAIN)
    lm.to_arpa(tmp_path / "lm.arpa.gz")
    data = bytearray((tmp_path / "lm.arpa.gz").read_bytes())
    for i in range(20, len(data) - 20, 7):
        data[i] ^= 0x55
    (tmp_path / "bad.arpa.gz").write_bytes(bytes(data))
    with pytest.raises(ARPAFormatError, match="bad.arpa.gz"):
        NGramLM.from_arpa(tmp_path / "bad.arpa.gz")


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        NGramLM.from_arpa(tmp_path / "absent.arpa")


def test_numbers_are_read_exactly_as_python_reads_them():
    from sklm.ngram._arpa import _Hasher, _numbers

    rng = random.Random(0)
    values = (np.random.default_rng(1).random(3000) * 10.0 ** np.arange(-8, 4).repeat(250)).tolist()
    texts = (
        [repr(-v) for v in values] + [f"{-v:.8g}" for v in values] + [f"{v:.17f}" for v in values]
    )
    texts += [f"{v:.20f}"[:24] for v in values[:500]]
    for _ in range(3000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 20)))
        head = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 3)))
        texts.append(rng.choice(["", "-"]) + head + rng.choice([".", ""]) + digits)
    texts += ["0", "-0", "-99", "5.", "-.5", "1e5", "-1.5E-3", "00.1", "-99999999", "1234567890.5"]
    data = "\t".join(texts).encode() + b"\n"
    length = np.array([len(t) for t in texts])
    start = np.cumsum(length + 1) - (length + 1)
    bad, parsed = _numbers(_Hasher.windows(data), start, start + length)
    assert bad is None
    expected = np.array([float(t) for t in texts])
    np.testing.assert_array_equal(parsed.view(np.int64), expected.view(np.int64))


def test_long_line_inside_a_section_is_refused(tmp_path):
    word = "w" * (1 << 20)
    text = HAND.replace("-0.4\ta a", f"-0.4\ta {word}")
    with pytest.raises(ARPAFormatError, match="line 15: the line is longer than 1048576 bytes"):
        NGramLM.from_arpa(write(tmp_path, text))


def test_kenlm_loads_order_1_and_escaped_files_and_agrees(tmp_path):
    kenlm = pytest.importorskip("kenlm")
    order1 = NGramLM(order=1).fit(TRAIN)
    order1.to_arpa(tmp_path / "o1.arpa")
    model = kenlm.Model(str(tmp_path / "o1.arpa"))
    ours = order1.score_samples(["the cat sat"])[0] / LN10
    assert model.score("the cat sat", bos=True, eos=True) == pytest.approx(ours, abs=1e-5)
    chars = [list("ab c"), list("a bc "), list("c a")]
    lm = NGramLM(order=3).fit(chars)
    lm.to_arpa(tmp_path / "char.arpa")
    model = kenlm.Model(str(tmp_path / "char.arpa"))
    ours = lm.score_samples([list("a b")])[0] / LN10
    assert model.score("a <U+0020> b", bos=True, eos=True) == pytest.approx(ours, abs=1e-5)
