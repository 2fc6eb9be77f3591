import pickle

import pytest
from sklearn.base import clone

from sklm import Tokenizer


def test_word_mode_splits_words_and_punctuation():
    out = Tokenizer().transform(["Hello, World! It's well-known."])
    assert out == [["hello", ",", "world", "!", "it's", "well-known", "."]]


def test_lowercase_off_keeps_case():
    assert Tokenizer(lowercase=False).transform(["Hi There"]) == [["Hi", "There"]]


def test_custom_pattern_and_whitespace_split():
    assert Tokenizer(token_pattern=r"\S+").transform(["a,b  c."]) == [["a,b", "c."]]
    assert Tokenizer(token_pattern=r"\d+").transform(["x1 22 y"]) == [["1", "22"]]


def test_char_mode_keeps_spaces_and_handles_chinese():
    assert Tokenizer(analyzer="char", lowercase=False).transform(["Ab c"]) == [["A", "b", " ", "c"]]
    assert Tokenizer(analyzer="char").transform(["我爱北京"]) == [["我", "爱", "北", "京"]]


def test_unicode_words_any_script():
    out = Tokenizer().transform(["Ελληνικά καὶ русский, naïve café"])
    assert out == [["ελληνικά", "καὶ", "русский", ",", "naïve", "café"]]


def test_nfc_normalisation_unifies_composed_and_decomposed():
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    tok = Tokenizer()
    assert tok.transform([composed]) == tok.transform([decomposed])


def test_callable_analyzer():
    tok = Tokenizer(analyzer=lambda text: text.split("|"), lowercase=False)
    assert tok.transform(["a|B"]) == [["a", "B"]]
    bad = Tokenizer(analyzer=lambda text: [1, 2])
    with pytest.raises(TypeError, match="analyzer"):
        bad.transform(["x"])


def test_inverse_transform_round_trips_word_and_char():
    tok = Tokenizer()
    text = "the cat (a big one) sat, then left."
    assert tok.inverse_transform(tok.transform([text])) == [text]
    char = Tokenizer(analyzer="char", lowercase=False)
    text = "To be,\n or not 你好"
    assert char.inverse_transform(char.transform([text])) == [text]


def test_tokenize_and_detokenize_one_text():
    tok = Tokenizer()
    assert tok.tokenize("A b.") == ["a", "b", "."]
    assert tok.detokenize(["a", "b", "."]) == "a b."


@pytest.mark.parametrize(
    "X, error, match",
    [
        ("a single text", ValueError, "single str"),
        (None, ValueError, "None"),
        (["ok", 3], TypeError, r"X\[1\]"),
        (5, TypeError, "iterable"),
    ],
)
def test_bad_input(X, error, match):
    with pytest.raises(error, match=match):
        Tokenizer().transform(X)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="analyzer"):
        Tokenizer(analyzer="sentence").fit(["x"])
    with pytest.raises(ValueError, match="token_pattern"):
        Tokenizer(token_pattern="(").transform(["x"])


def test_stateless_clone_and_pickle():
    tok = Tokenizer(analyzer="char")
    assert clone(tok).get_params() == tok.get_params()
    again = pickle.loads(pickle.dumps(tok))
    assert again.transform(["ab"]) == [["a", "b"]]
    # no fit needed
    assert Tokenizer().transform(["x"]) == [["x"]]
