import numpy as np
import pytest

from sklm._validation import check_corpus, iter_corpus
from sklm.preprocessing import Vocabulary


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
