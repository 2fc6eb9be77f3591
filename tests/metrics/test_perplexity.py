import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from toy import AddOneBigramLM

from sklm import Tokenizer
from sklm.metrics import neg_perplexity_scorer, oov_flags, oov_report, perplexity

TRAIN = ["a b a c", "b a", "c c a b", "a"]


def test_perplexity_is_exp_of_minus_score():
    lm = AddOneBigramLM().fit(TRAIN)
    X = ["a b", "c a zz"]
    assert perplexity(lm, X) == pytest.approx(np.exp(-lm.score(X)))
    assert neg_perplexity_scorer(lm, X) == pytest.approx(-perplexity(lm, X))


def test_perplexity_from_per_token_log_probs():
    # per-token probabilities p_i -> ppl = exp(-mean log p_i).
    lm = AddOneBigramLM().fit(TRAIN)
    log_probs = lm.score_tokens(["a b"])[0]
    assert perplexity(lm, ["a b"]) == pytest.approx(np.exp(-log_probs.mean()))


def test_oov_report_counts_and_excludes_oovs():
    lm = AddOneBigramLM().fit(TRAIN)
    X = ["a zz b", "qq", "<unk>"]
    report = oov_report(lm, X)
    log_probs = np.concatenate(lm.score_tokens(X))
    assert report["n_samples"] == 3
    assert report["n_predictions"] == 3 + 1 + 1 + 3
    assert report["n_oov"] == 3  # zz, qq and a literal <unk>
    assert report["oov_rate"] == pytest.approx(3 / 5)
    keep = ~oov_flags(lm, X)
    assert keep.tolist() == [True, False, True, True, False, True, False, True]
    assert report["perplexity_excluding_oov"] == pytest.approx(np.exp(-log_probs[keep].mean()))
    assert report["perplexity"] == pytest.approx(perplexity(lm, X))


def test_metrics_accept_pipelines():
    pipe = make_pipeline(Tokenizer(), AddOneBigramLM()).fit(["A b.", "b a!"])
    texts = ["a B.", "c"]
    assert perplexity(pipe, texts) == pytest.approx(perplexity(pipe[-1], pipe[0].transform(texts)))
    assert oov_report(pipe, texts)["n_oov"] == 1
