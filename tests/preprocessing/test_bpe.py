import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

from sklm import NGramLM, Tokenizer
from sklm.preprocessing._bpe import decode_bpe

TEXTS = [
    "The cat sat on the mat.",
    "The dog sat on the log.",
    "  Leading spaces, double  spaces\tand a tab.",
    "Naïve café, 你好世界, ☃ and emoji 🙂.",
    "line one\nline two\r\n",
]


def test_bpe_round_trips_any_text_exactly():
    tok = Tokenizer(analyzer="bpe", vocab_size=300, lowercase=False, normalize=None).fit(TEXTS)
    tokens = tok.transform(TEXTS)
    assert tok.inverse_transform(tokens) == TEXTS
    # Tokens never hold whitespace, so they are valid tokens for every model and for ARPA.
    assert all(t and t.split() == [t] for sample in tokens for t in sample)
    unseen = ["Zebras & quokkas: 12345 — ü"]
    assert tok.inverse_transform(tok.transform(unseen)) == unseen


def test_bpe_merges_frequent_pairs_and_respects_vocab_size():
    small = Tokenizer(analyzer="bpe", vocab_size=260, lowercase=False).fit(TEXTS * 5)
    large = Tokenizer(analyzer="bpe", vocab_size=400, lowercase=False).fit(TEXTS * 5)
    n_small = sum(map(len, small.transform(TEXTS)))
    n_large = sum(map(len, large.transform(TEXTS)))
    assert n_large < n_small
    assert len(small.bpe_vocabulary_) <= 260
    assert "Ġsat" in large.bpe_vocabulary_


def test_bpe_is_learnt_in_fit_and_cloned_unfitted():
    tok = Tokenizer(analyzer="bpe", vocab_size=280)
    with pytest.raises(NotFittedError):
        tok.transform(TEXTS)
    tok.fit(TEXTS)
    assert not hasattr(clone(tok), "bpe_model_")
    again = pickle.loads(pickle.dumps(tok))
    assert again.transform(TEXTS) == tok.transform(TEXTS)


def test_bpe_pipeline_scores_and_generates_text():
    pipe = make_pipeline(
        Tokenizer(analyzer="bpe", vocab_size=300, lowercase=False), NGramLM(order=3)
    ).fit(TEXTS * 3)
    assert np.all(np.isfinite(pipe.score_samples(TEXTS)))
    tokens = pipe[-1].sample(2, max_length=10, random_state=0)
    assert all(isinstance(text, str) for text in pipe[0].inverse_transform(tokens))


def test_decoding_keeps_unknown_tokens_and_replaces_cut_characters():
    assert decode_bpe(["The", "<unk>", "Ġcat"]) == "The<unk> cat"
    # "ä½" is the first two bytes of a three-byte character: decoded as U+FFFD.
    assert decode_bpe(["ä½"]) == "\ufffd"


def test_vocab_size_is_validated():
    with pytest.raises(ValueError, match="vocab_size"):
        Tokenizer(analyzer="bpe", vocab_size=0).fit(TEXTS)
