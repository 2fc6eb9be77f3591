"""The byte-level text encoder: the same ids as splitting and a dict, for every token length."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklm._text_encoding import RUN_BYTES, TextEncoder
from sklm.base import Vocabulary

ALPHABET = np.array(
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<>/.,'-!~\x7f")
)


def _random_tokens(rng, n, max_length=40):
    lengths = rng.integers(1, max_length + 1, n)
    return ["".join(rng.choice(ALPHABET, length)) for length in lengths]


def _check(vocabulary, texts):
    # Both ways of the encoder, the compiled loop and the NumPy passes, give
    # the ids and counts of a split and a dict.
    slow = vocabulary.encode([t.split() for t in texts], eos=False)
    counts = np.diff(slow.offsets)
    fast = vocabulary.encode_texts(texts)
    np.testing.assert_array_equal(fast.ids, vocabulary.encode([t.split() for t in texts]).ids)
    for compiled in (True, False):
        encoded = vocabulary.text_encoder().encode(texts, compiled=compiled)
        if encoded is None:  # texts the general path takes
            assert vocabulary.text_encoder().encode(texts, compiled=not compiled) is None
            continue
        np.testing.assert_array_equal(encoded[0], slow.ids)
        np.testing.assert_array_equal(encoded[1], counts)


def test_every_token_length_and_near_misses():
    rng = np.random.default_rng(0)
    known = sorted(set(_random_tokens(rng, 3000)))
    vocabulary = Vocabulary(["<unk>", "</s>", *known])
    # Unknown tokens one byte away from known ones, at each length class
    # (up to 8 bytes: exact keys; 9 to 16: two words; longer: all words).
    near = [t[:-1] + ("a" if t[-1] != "a" else "b") for t in known]
    longer = [t + "x" for t in known] + [t[:-1] for t in known if len(t) > 1]
    pool = np.array(known + near + longer, dtype=object)
    texts = []
    for _ in range(800):
        tokens = rng.choice(pool, rng.integers(0, 30))
        spaces = rng.choice([" ", "  ", "\t", " \r\n "], len(tokens) + 1)
        texts.append("".join(s + t for s, t in zip(spaces, tokens)) + spaces[-1])
    _check(vocabulary, texts)


def test_many_runs_with_samples_across_their_ends():
    # More text than one run of the encoder: the runs meet between texts and
    # their ids and counts line up with a single split.
    rng = np.random.default_rng(1)
    known = sorted(set(_random_tokens(rng, 500, max_length=20)))
    vocabulary = Vocabulary(["<unk>", "</s>", *known])
    pool = np.array(known + ["unknown", "zzzzzzzzzzzzzzzzz"], dtype=object)
    texts = [" ".join(rng.choice(pool, rng.integers(0, 60))) for _ in range(12_000)]
    # One text larger than a run by itself, and empty texts between.
    texts[5000] = " ".join(rng.choice(pool, RUN_BYTES // 5))
    texts[5001:5003] = ["", "   "]
    assert sum(map(len, texts)) > 3 * RUN_BYTES
    _check(vocabulary, texts)


def test_a_late_non_ascii_text_sends_everything_to_the_general_path():
    vocabulary = Vocabulary(["<unk>", "</s>", "a", "caf\u00e9"])
    texts = ["a b " * 1000] * 200 + ["caf\u00e9 a"]
    assert vocabulary.text_encoder().encode(texts) is None
    _check(vocabulary, texts)


@pytest.mark.parametrize("word", ["abcdefghijk", "abcdefghijklmnop", "abcdefghijklmnopqrstuvwxyz"])
def test_a_hash_match_with_other_bytes_goes_to_the_dict(word):
    # Make the stored words of a vocabulary token disagree with its key, as a
    # hash collision would: the byte check must refuse the match and the dict
    # give the right id (here, the token's own).
    vocabulary = Vocabulary(["<unk>", "</s>", word, "other"])
    texts = [f"{word} other {word}x"]
    for compiled in (True, False):
        encoder = TextEncoder(vocabulary._reader, 0)
        ids, counts = encoder.encode(texts, compiled=compiled)
        np.testing.assert_array_equal(ids, [2, 3, 0])
        words, first, n_words = encoder.packed.long_words
        words[first[0] + n_words[0] - 1] ^= 1
        ids, counts = encoder.encode(texts, compiled=compiled)
        np.testing.assert_array_equal(ids, [2, 3, 0])
        np.testing.assert_array_equal(counts, [3])


@pytest.mark.parametrize("compiled", [True, False])
def test_a_hash_match_of_a_token_the_dict_lacks_is_unknown(compiled):
    # The key of "abcdefghijk" given to its row: "abcdefghijz", which the
    # vocabulary lacks, then finds that row, fails the byte check and is
    # not in the dict either: <unk>, as a dict lookup gives it.
    from sklm._hashing import HashIndex
    from sklm._text_encoding import _Tokens

    vocabulary = Vocabulary(["<unk>", "</s>", "abcdefghijk", "other"])
    encoder = TextEncoder(vocabulary._reader, 0)
    keys = encoder.index.keys.copy()
    keys[2] = _Tokens(b"abcdefghijz").keys.view(np.int64)[0]
    encoder.index = HashIndex(keys)
    ids, counts = encoder.encode(["abcdefghijz other"], compiled=compiled)
    np.testing.assert_array_equal(ids, [0, 3])
    np.testing.assert_array_equal(counts, [2])


def test_only_tokens_a_whitespace_split_can_give_are_keyed():
    # Empty of whitespace and control characters, ASCII: the others cannot
    # come out of a split of ASCII text, and are left to the dict.
    tokens = ["<unk>", "</s>", "a b", "x\ty", "\x01ctl", "caf\u00e9", "ok", "\x7fdel", "us\x1f"]
    vocabulary = Vocabulary(tokens)
    encoder = vocabulary.text_encoder()
    np.testing.assert_array_equal(
        np.flatnonzero(encoder.lengths), [tokens.index("ok"), tokens.index("\x7fdel")]
    )
    _check(vocabulary, ["ok \x7fdel a b x y ok", "\x7fdel", "ctl us"])


M64 = (1 << 64) - 1


def _mix_tail(h):
    h ^= h >> 29
    h = (h * 0xC4CEB9FE1A85EC53) & M64
    h ^= h >> 32
    return h | 0xFF


def _slow_key(token):
    """The key a token is stored under in model files, from its definition."""
    data = token.encode("ascii")
    words = [int.from_bytes(data[i : i + 8], "little") for i in range(0, len(data), 8)]
    if len(data) < 8:
        return words[0] | (0x80 << (8 * len(data)))
    if len(data) == 8:
        return words[0]
    if len(data) <= 16:
        h = (words[1] * 0xC4CEB9FE1A85EC53) & M64
        h ^= words[0]
        h = (h * 0xFF51AFD7ED558CCD) & M64
        return _mix_tail(h)
    total = 0
    for position, word in enumerate(words):
        h = word ^ ((position * 0xC4CEB9FE1A85EC53) & M64)
        h = (h * 0xFF51AFD7ED558CCD) & M64
        h ^= h >> 29
        h = (h * 0xC4CEB9FE1A85EC53) & M64
        total = (total + h) & M64
    return _mix_tail(total ^ len(data))


def test_token_keys_are_the_stored_format_at_every_length():
    # Keys are saved with a model's text encoder: the compiled keys must stay
    # the ones files hold, which this plain definition spells out.
    # (The compiled loop keys queries the same way: the tests above would find
    # no vocabulary token through it otherwise.)
    from sklm._text_encoding import _Tokens

    rng = np.random.default_rng(5)
    tokens = _random_tokens(rng, 400, max_length=70) + ["x" * n for n in range(1, 41)]
    packed = _Tokens("\n".join(tokens).encode("ascii"), all_words=True)
    expected = np.array([_slow_key(t) for t in tokens], dtype=np.uint64).view(np.int64)
    np.testing.assert_array_equal(packed.keys.view(np.int64), expected)


# Whitespace str.split() cuts at, and printable ASCII with DEL, in tokens of
# every length class (up to 8 bytes, 9 to 16, longer).
_SPACES = st.sampled_from([" ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f"])
_TOKENS = st.text(alphabet=st.sampled_from(list("abcxyz0189<>/.-'\x7f")), min_size=1, max_size=24)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    known=st.lists(_TOKENS, min_size=1, max_size=12, unique=True),
    texts=st.lists(
        st.lists(st.tuples(_TOKENS, _SPACES), max_size=8).map(
            lambda pairs: "".join(t + s for t, s in pairs)
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_both_ways_of_the_encoder_give_the_ids_of_a_split(known, texts):
    vocabulary = Vocabulary(["<unk>", "</s>", *known])
    # Some tokens of the texts known, others not (one byte away, longer).
    _check(vocabulary, texts + [" ".join(known), " ".join(t + "a" for t in known)])
