"""WordNumbering: the ids of a dict numbering words as they come, on either path."""

import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklm._numbering import (
    WordNumbering,
    _first_seen,
    _split_bytes,
    alphabetical_order,
    find_word,
    gathered,
    utf8_tokens,
)

FIRST = ["<unk>", None, "\x00sklm:end\x00"]


class DictNumbering:
    """The obviously-correct numbering: a dict of str, each sample closed by ``end``."""

    def __init__(self, first_words):
        self.ids = defaultdict(None, zip(first_words, range(len(first_words))))
        self.ids.default_factory = self.ids.__len__

    def encode(self, samples, end):
        out = []
        for sample in samples:
            tokens = sample.split() if isinstance(sample, str) else sample
            out.extend(self.ids[t] for t in tokens)
            out.append(end)
        return out

    def words(self):
        return [w or "" for w in self.ids]


def words_of(numbering):
    utf8, ends = numbering.words_utf8()
    starts = np.concatenate([[0], ends[:-1]])
    return [bytes(utf8[s:e]).decode("utf-8", "surrogatepass") for s, e in zip(starts, ends)]


PIECES = [" ", "\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1f", "\x85", "\xa0", "\u2003"]
PIECES += ["\u3000", "\x00", "\x07", "\x1b", "a", "b", "é", "\ud800", "\udfff", "\U0001f600"]
PIECES += ["the", "<unk>", "</s>", "<s>", FIRST[2], "x" * 17, "y" * 40, "\u20ac", "\x7f"]
texts = st.lists(st.lists(st.sampled_from(PIECES), max_size=40).map("".join), max_size=12)
ascii_texts = st.lists(
    st.lists(
        st.sampled_from(["a", "b", "ab", "x" * 17, "y" * 9, " ", "\n", "\x1c"]), max_size=30
    ).map("".join),
    max_size=12,
)


def check(chunks, force, large="table", hash_mask=2**64 - 1):
    """Encode ``chunks`` (lists of texts or of token lists) with both numberings."""
    oracle = DictNumbering(FIRST)
    numbering = WordNumbering(FIRST, large=large, hash_mask=hash_mask)
    for chunk, use in zip(chunks, force):
        expected = oracle.encode(chunk, 1)
        if chunk and isinstance(chunk[0], list):
            got = numbering.encode_token_lists(chunk, 1, force=use)
        else:
            got = numbering.encode_texts(chunk, 1, force=use)
        assert got.dtype == np.int64
        assert got.tolist() == expected
    assert len(numbering) == len(oracle.ids)
    assert words_of(numbering) == oracle.words()


# Each numbering: where large calls put the words, and the hash mask (3:
# nearly every long word shares its key with another).
NUMBERINGS = [("table", 2**64 - 1), ("arrays", 2**64 - 1), ("arrays", 3)]


@pytest.mark.parametrize(("large", "hash_mask"), NUMBERINGS)
@settings(max_examples=100, deadline=None)
@given(st.lists(texts, max_size=4), st.lists(st.sampled_from([None, True]), min_size=4))
def test_texts_are_numbered_as_by_a_dict(large, hash_mask, chunks, force):
    check(chunks, force, large, hash_mask)


@pytest.mark.parametrize(("large", "hash_mask"), NUMBERINGS)
@settings(max_examples=60, deadline=None)
@given(st.lists(ascii_texts, max_size=4), st.lists(st.sampled_from([None, True]), min_size=4))
def test_ascii_texts_are_numbered_as_by_a_dict(large, hash_mask, chunks, force):
    check(chunks, force, large, hash_mask)


@pytest.mark.parametrize(("large", "hash_mask"), NUMBERINGS)
@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(texts, st.lists(st.lists(st.text(max_size=10), max_size=5), max_size=5))),
    st.lists(st.sampled_from([None, True]), min_size=6),
)
def test_mixed_chunks_share_one_numbering(large, hash_mask, chunks, force):
    # Token lists hold any str: empty, with whitespace, "<unk>"...
    check(chunks, force, large, hash_mask)


@pytest.mark.parametrize("large", ["table", "arrays"])
def test_small_calls_then_a_large_one_keep_the_ids(large):
    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}" for i in range(5000)] + ["é", "x" * 30, "</s>", "<unk>"]
    chunks = [[" ".join(rng.choice(vocabulary, 8)) for _ in range(20)] for _ in range(3)]
    chunks.append([" ".join(rng.choice(vocabulary, 10)) for _ in range(30_000)])  # large
    chunks.append(chunks[0])
    oracle, numbering = DictNumbering(FIRST), WordNumbering(FIRST, large=large)
    for chunk in chunks:
        assert numbering.encode_texts(chunk, 1).tolist() == oracle.encode(chunk, 1)
    assert numbering._lookup is None  # the large call moved the words
    assert (numbering._table is not None) == (large == "table")
    assert words_of(numbering) == oracle.words()


@pytest.mark.parametrize("large", ["table", "arrays"])
def test_hash_collisions_still_give_distinct_ids(large):
    # Every long word hashes to 0: only the byte comparisons tell them apart.
    words = ["a", "b", "ab", "x" * 20, "x" * 21, "y" * 20, "é", "", "z" * 7, "z" * 8, "é" * 4]
    chunk = [words[: i + 1] for i in range(len(words))]
    oracle = DictNumbering(FIRST)
    numbering = WordNumbering(FIRST, large=large, hash_mask=0)
    got = numbering.encode_token_lists(chunk, 1, force=True)
    assert got.tolist() == oracle.encode(chunk, 1)
    # Grown past the first table, still all colliding; then the same words again.
    many = [[f"word{i:05d}" for i in range(2000)], words]
    assert numbering.encode_token_lists(many, 1).tolist() == oracle.encode(many, 1)
    assert numbering.encode_token_lists(many[::-1], 1).tolist() == oracle.encode(many[::-1], 1)
    assert words_of(numbering) == oracle.words()
    if large == "arrays":
        assert len(numbering._collided) > 1000  # every long word but the first


def test_a_key_met_again_after_a_collision_keeps_both_words():
    # Keys of 1 bit: the first two long words settle the two keys, every
    # later long word collides; calls after that take the exact loop.
    oracle = DictNumbering(FIRST)
    numbering = WordNumbering(FIRST, large="arrays", hash_mask=1)
    calls = [[["abcdefgh", "short"]], [["abcdefghi", "abcdefgh"]], [["ijklmnopq"] * 3, ["ab"]]]
    calls += [[["abcdefgh"]], [["ijklmnopq", "abcdefghi"]], [["s", "short"]]]
    for chunk in calls:
        assert numbering.encode_token_lists(chunk, 1, force=True).tolist() == oracle.encode(
            chunk, 1
        )
    assert words_of(numbering) == oracle.words()
    # Three long words, two keys: at least one shares its key.
    assert numbering._collided and set(numbering._collided) <= {
        b"abcdefgh",
        b"abcdefghi",
        b"ijklmnopq",
    }


def test_the_arrays_do_not_load_numba():
    script = (
        "import sys\n"
        "from sklm._numbering import WordNumbering\n"
        "n = WordNumbering(['<unk>', None], large='arrays')\n"
        "ids = n.encode_texts(['a b c'] * 100_000, 1)\n"
        "assert n._lookup is None and n._table is None and len(n) == 5\n"
        "assert ids[:5].tolist() == [2, 3, 4, 1, 2] and 'numba' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_the_large_structure_is_checked():
    with pytest.raises(ValueError, match="large must be one of"):
        WordNumbering(FIRST, large="tree")


def test_small_calls_do_not_load_numba():
    # In a fresh interpreter: a small call keeps to the dict.
    script = (
        "import sys\n"
        "from sklm._numbering import WordNumbering\n"
        "n = WordNumbering(['<unk>', None])\n"
        "assert n.encode_texts(['a b', 'c'], 1).tolist() == [2, 3, 1, 4, 1]\n"
        "assert n._table is None and 'numba' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(PIECES + ["\x00\x00", "a\x00"])).map("".join), unique=True)
)
def test_alphabetical_order_is_pythons_order_of_str(words):
    # Lone surrogates too: UTF-8 with surrogatepass keeps the code point order.
    data = "".join(words).encode("utf-8", "surrogatepass")
    lengths = [len(w.encode("utf-8", "surrogatepass")) for w in words]
    utf8, ends = np.frombuffer(data, dtype=np.uint8), np.cumsum(lengths, dtype=np.int64)
    order = alphabetical_order(utf8, ends, np.arange(len(words)))
    assert [words[i] for i in order] == sorted(words)
    for word in [*words, "zz", ""]:
        expected = words.index(word) if word in words else None
        assert find_word(utf8, ends, order, word) == expected
    kept = order[::2]
    out, out_ends = gathered(utf8, ends, kept, head=("<unk>", "</s>"))
    starts = np.concatenate([[0], out_ends[:-1]])
    back = [bytes(out[s:e]).decode("utf-8", "surrogatepass") for s, e in zip(starts, out_ends)]
    assert back == ["<unk>", "</s>", *[words[i] for i in kept]]


def test_alphabetical_order_of_long_shared_prefixes():
    stem = "p" * 100
    words = [stem + s for s in ["b", "a", "", "\x00", "ab", "a\x00"]] + ["p" * 50, "q"]
    data = "".join(words).encode()
    utf8 = np.frombuffer(data, dtype=np.uint8)
    ends = np.cumsum([len(w.encode()) for w in words])
    order = alphabetical_order(utf8, ends, np.arange(len(words)))
    assert [words[i] for i in order] == sorted(words)


def test_the_words_by_id_have_empty_reserved_entries():
    numbering = WordNumbering(FIRST)
    numbering.encode_token_lists([["b", "a"]], 1)
    assert words_of(numbering) == ["<unk>", "", FIRST[2], "b", "a"]
    assert numbering.words_utf8()[1].tolist() == [5, 5, 15, 16, 17]


def test_every_separator_of_str_split_is_caught():
    # The byte split is used only where it splits as str.split does: every
    # code point that str.split separates on is a byte up to 32 (whitespace
    # for the byte split too) or sends the text to str.split.
    separators = [cp for cp in range(0x110000) if len(f"a{chr(cp)}b".split()) != 1]
    assert separators  # the property is checked against Python's own rule
    for cp in separators:
        if cp > 32:
            assert _split_bytes([f"a{chr(cp)}b"]) is None, hex(cp)
        else:
            assert _split_bytes([f"a{chr(cp)}b"]) is not None, hex(cp)


@pytest.mark.parametrize("sep", ["", "\n", "é"])
def test_utf8_tokens_slices_are_each_tokens_bytes(sep):
    tokens = ["a", "", "é日", "x\ud800", "😀b", "plain"]
    data, starts, lengths = utf8_tokens(tokens, sep)
    assert data == sep.join(tokens).encode("utf-8", "surrogatepass")
    for token, start, length in zip(tokens, starts, lengths):
        assert data[start : start + length] == token.encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("spread", [True, False])
@pytest.mark.parametrize("n", [0, 1, 2, 3000])
def test_first_seen_is_numpys_unique(n, spread):
    # Keys without spread top bits all meet there: the check sends the call
    # to np.unique, with the same results.
    rng = np.random.default_rng(n)
    distinct = rng.integers(0, 2**63, 300, dtype=np.uint64)
    if not spread:
        distinct &= np.uint64(0xFFFFFFFF)
    keys = distinct[rng.integers(0, 300, n)]
    got, first, inverse = _first_seen(keys)
    expected, expected_first, _ = np.unique(keys, return_index=True, return_inverse=True)
    np.testing.assert_array_equal(got, expected)  # sorted, as np.unique's
    np.testing.assert_array_equal(first, expected_first)
    np.testing.assert_array_equal(got[inverse], keys)
