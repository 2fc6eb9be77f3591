import numpy as np
import pytest

from sklm._validation import check_corpus, iter_corpus
from sklm.base import StoredVocabulary, Vocabulary


def test_learn_and_learn_encode_agree():
    X = ["b a b", "c c c a", "", "d <unk> b"]
    v1 = Vocabulary.learn(check_corpus(X), min_count=2)
    v2, enc = Vocabulary.learn_encode(iter_corpus(X, chunk_size=2), min_count=2)
    assert v1.tokens == v2.tokens == ["<unk>", "</s>", "b", "c", "a"]
    again = v1.encode(check_corpus(X))
    np.testing.assert_array_equal(enc.ids, again.ids)
    np.testing.assert_array_equal(enc.offsets, again.offsets)


def test_encoded_layout_has_eos_per_sample():
    v = Vocabulary(["<unk>", "</s>", "x", "y"])
    enc = v.encode([["x", "y"], [], ["q"]])
    np.testing.assert_array_equal(enc.ids, [2, 3, 1, 1, 0, 1])
    np.testing.assert_array_equal(enc.offsets, [0, 3, 4, 6])
    np.testing.assert_array_equal(enc.sample_index(), [0, 0, 0, 1, 2, 2])
    np.testing.assert_array_equal(enc.positions(), [0, 1, 2, 0, 0, 1])
    ctx = v.encode([["x", "y"], []], eos=False)
    np.testing.assert_array_equal(ctx.ids, [2, 3])
    np.testing.assert_array_equal(ctx.offsets, [0, 2, 2])


def test_vocabulary_must_start_with_specials():
    with pytest.raises(ValueError, match="<unk>"):
        Vocabulary(["a", "<unk>", "</s>"])


TRICKY_TOKENS = [
    "a",
    "ab",
    "abcdefg",
    "abcdefgh",
    "abcdefghi",
    "abcdefghijklmnop",
    "abcdefghijklmnopq",
    "abcdefghijklmnopqrstuvwxyz0123456789",
    "<unk>",
    "<s>",
    "</s>",
    "x\x7fy",
    "two words",
    "caf\u00e9",
    "",
    "\x00",
]


@pytest.mark.parametrize(
    "texts",
    [
        ["a ab abcdefgh abcdefghi", "  abcdefghijklmnop\tabcdefghijklmnopq  ", ""],
        ["abcdefghijklmnopqrstuvwxyz0123456789 abcdefghijklmnopqrstuvwxyz0123456788"],
        ["<s> a </s> <unk> zzz", "abcdefgi abcdefghj abcdefghijklmnoq", "x\x7fy x\x7f"],
        ["a\x1cab\x1dabcdefg\x1e\x1fa\x0b\x0cab\rabcdefgh\n a"],
        ["a\x00ab", "abcdefg"],  # a control character: the general path
        ["caf\u00e9 a", "a\u3000ab\u00a0abcdefg"],  # non-ASCII: the general path
        [" ", "", "   "],
    ],
)
def test_encode_texts_matches_split(texts):
    v = Vocabulary(["<unk>", "</s>"] + [t for t in TRICKY_TOKENS if t not in ("<unk>", "</s>")])
    for eos in (True, False):
        fast = v.encode_texts(texts, eos=eos)
        slow = v.encode([t.split() for t in texts], eos=eos)
        np.testing.assert_array_equal(fast.ids, slow.ids)
        np.testing.assert_array_equal(fast.offsets, slow.offsets)


def test_encode_texts_long_token_hash_collision():
    # A forced collision: the key of a long vocabulary word given to another
    # word must still be resolved by the word's bytes.
    from sklm._text_encoding import TextEncoder

    v = Vocabulary(["<unk>", "</s>", "abcdefghijk", "abcdefghijz"])
    encoder = TextEncoder(v._reader, 0)
    texts = ["abcdefghijk abcdefghijz abcdefghijq"]
    ids, lengths = encoder.encode(texts)
    np.testing.assert_array_equal(ids, [2, 3, 0])
    # Corrupt the stored words of the first long word: the match must fail
    # the byte check and fall back to the dictionary, with the same result.
    words, first, _ = encoder.packed.long_words
    words[first + 1] = 0
    ids, lengths = encoder.encode(texts)
    np.testing.assert_array_equal(ids, [2, 3, 0])
    np.testing.assert_array_equal(lengths, [3])


def test_encode_texts_pickles_without_cache():
    import pickle

    v = Vocabulary(["<unk>", "</s>", "a"])
    v.encode_texts(["a b"])
    clone = pickle.loads(pickle.dumps(v))
    assert "_text_encoder" not in clone.__dict__
    np.testing.assert_array_equal(clone.encode_texts(["a b"]).ids, [2, 0, 1])


def test_fixed_vocabulary_is_shared_and_maps_the_rest_to_unk(tmp_path):
    from sklm import NGramLM

    X = ["a b c d", "a b", "e f a"]
    words = ["b", "a", "zz"]
    word_file = tmp_path / "vocab.txt"
    word_file.write_text("b\na\n\nzz\n", encoding="utf-8")
    fitted = [NGramLM(order=2, vocabulary=v).fit(X) for v in (words, tuple(words), str(word_file))]
    for lm in fitted:
        assert list(lm.classes_) == ["<unk>", "</s>", "b", "a", "zz"]
    as_set = NGramLM(order=2, vocabulary={"zz", "b", "a"}).fit(X)
    assert list(as_set.classes_) == ["<unk>", "</s>", "a", "b", "zz"]
    # c, d, e, f are <unk>: the same model as one fitted on the data with them replaced.
    replaced = NGramLM(order=2, vocabulary=words).fit(["a b <unk> <unk>", "a b", "<unk> <unk> a"])
    assert np.allclose(fitted[0].score_samples(X), replaced.score_samples(X))
    # min_count and max_vocab do not apply to a fixed vocabulary.
    assert list(NGramLM(vocabulary=words, min_count=5, max_vocab=1).fit(X).classes_) == list(
        fitted[0].classes_
    )


@pytest.mark.parametrize(
    "bad, error",
    [
        (["a b"], ValueError),
        ([""], ValueError),
        ([3], ValueError),
        ("/no/such/file.txt", ValueError),
    ],
)
def test_fixed_vocabulary_errors(bad, error):
    from sklm import NGramLM

    with pytest.raises(error, match="vocabulary"):
        NGramLM(vocabulary=bad).fit(["a b"])


def test_texts_with_long_unknown_words_score_when_every_known_word_is_short():
    from sklm import NGramLM

    lm = NGramLM(order=2).fit(["a b c", "tokens order a"])
    texts = ["a vocabulary b", "extraordinarily long words only", "tokens"]
    assert np.array_equal(lm.score_samples(texts), lm.score_samples([t.split() for t in texts]))


@pytest.mark.parametrize(
    "words",
    [
        [],
        ["a", "bb", "ccc"],
        ["é", "a", "日本", "x\ud800y", "😀", "z"],  # non-ASCII, a lone surrogate
    ],
)
def test_stored_vocabulary_round_trip(words):
    tokens = ["<unk>", "</s>", *words]
    utf8, ends = StoredVocabulary.arrays(tokens)
    assert bytes(utf8) == "".join(tokens).encode("utf-8", "surrogatepass")
    stored = StoredVocabulary(utf8, ends)
    assert len(stored) == len(tokens)
    assert stored.tokens == tokens
    assert stored.index == {t: i for i, t in enumerate(tokens)}
