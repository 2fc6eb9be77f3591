"""``sklm score``: per-token lines, JSON, SRILM's figures, and non-finite perplexities."""

import json
import math
import warnings

import joblib
import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from sklm import NGramLM, Tokenizer
from sklm.metrics import oov_flags, oov_report

HEADER = ["sample", "position", "token", "log10_prob", "log_prob", "ngram_length", "oov"]


def _fit(cli, tmp_path, name="m.pkl", **params):
    path = tmp_path / name
    joblib.dump(cli.reference(cli.TRAIN, **params), path)
    return path


def _per_token(out):
    """The per-token table printed before the summary: header, rows."""
    block = out.split("\n\n")[0].splitlines()
    return block[0].split("\t"), [line.split("\t") for line in block[1:]]


def _json(out):
    def refuse(constant):
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(out, parse_constant=refuse)


@pytest.mark.parametrize("smoothing", ["kneser_ney", "witten_bell"])
def test_per_token_lines(cli, files, tmp_path, smoothing):
    _, test = files
    path = _fit(cli, tmp_path, order=3, smoothing=smoothing)
    lm = joblib.load(path)
    code, out, err = cli.run("score", path, test, "--per-token", "-q")
    assert code == 0, err
    header, rows = _per_token(out)
    assert header == HEADER
    expected_tokens = [[*s.split(), "</s>"] for s in cli.TEST]
    assert len(rows) == sum(map(len, expected_tokens))
    totals = np.zeros(len(cli.TEST))
    flags = oov_flags(lm, cli.TEST)
    lengths = np.concatenate(lm.matched_lengths(cli.TEST))
    for k, (sample, position, token, log10, ln, length, oov) in enumerate(rows):
        i, j = int(sample), int(position)
        assert token == expected_tokens[i][j]
        assert float(ln) == pytest.approx(float(log10) * math.log(10), rel=1e-12)
        assert int(length) == lengths[k] and 1 <= int(length) <= 3
        assert oov == str(int(flags[k]))
        totals[i] += float(ln)
    # The lines of each sample add up to its total.
    np.testing.assert_allclose(totals, lm.score_samples(cli.TEST), rtol=1e-12)
    assert [r[2] for r in rows if r[6] == "1"] == ["bird"]
    # The summary follows, as without --per-token.
    assert float(cli.field(out, "perplexity")) == pytest.approx(
        oov_report(lm, cli.TEST)["perplexity"], abs=6e-5
    )


def test_per_token_of_a_pipeline_shows_its_tokens(cli, tmp_path):
    texts = ["The cat sat.", "The dog sat.", "A cat ran.", "The dog ran!"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_pipeline(Tokenizer(), NGramLM(order=2)).fit(texts)
    path = tmp_path / "pipe.joblib"
    joblib.dump(pipe, path)
    test = tmp_path / "t.txt"
    test.write_text("The cat ran.\n")
    code, out, err = cli.run("score", path, test, "--per-token", "-q")
    assert code == 0, err
    _, rows = _per_token(out)
    assert [r[2] for r in rows] == ["the", "cat", "ran", ".", "</s>"]
    assert sum(float(r[4]) for r in rows) == pytest.approx(pipe.score_samples(["The cat ran."])[0])


def test_per_token_of_a_neural_model_has_no_ngram_length(cli, files, tmp_path):
    from sklm import RNNLM

    _, test = files
    lm = RNNLM(embedding_dim=4, hidden_size=4, max_epochs=1, random_state=0, device="cpu")
    path = tmp_path / "rnn.pkl"
    joblib.dump(lm.fit(cli.TRAIN), path)
    code, out, err = cli.run("score", path, test, "--per-token", "-q")
    assert code == 0, err
    header, rows = _per_token(out)
    assert header == [c for c in HEADER if c != "ngram_length"]
    totals = np.zeros(len(cli.TEST))
    for row in rows:
        totals[int(row[0])] += float(row[4])
    np.testing.assert_allclose(totals, lm.score_samples(cli.TEST), rtol=1e-6)


def test_json_summary(cli, files, tmp_path):
    _, test = files
    path = _fit(cli, tmp_path, order=2)
    lm = joblib.load(path)
    code, out, err = cli.run("score", path, test, "--json", "-q")
    assert code == 0, err
    document = _json(out)
    report = oov_report(lm, cli.TEST)
    assert document["samples"] == report["n_samples"] == 3
    assert document["predictions"] == report["n_predictions"]
    assert document["tokens"] == report["n_predictions"] - 3
    assert document["oovs"] == report["n_oov"] == 1
    assert document["log_prob"] == pytest.approx(report["log_prob"], rel=1e-12)
    assert document["perplexity"] == pytest.approx(report["perplexity"], rel=1e-12)
    assert document["perplexity_excluding_oovs"] == pytest.approx(
        report["perplexity_excluding_oov"], rel=1e-12
    )
    assert set(document["srilm"]) == {
        "sentences", "words", "oovs", "zeroprobs", "logprob", "ppl", "ppl1"
    }  # fmt: skip
    assert "per_token" not in document and "per_line" not in document

    code, out, _ = cli.run("score", path, test, "--json", "--per-token", "--per-line", "-q")
    document = _json(out)
    tokens = document["per_token"]
    assert len(tokens) == document["predictions"]
    assert [t["token"] for t in tokens[:7]] == [*cli.TEST[0].split(), "</s>"]
    assert {t["ngram_length"] for t in tokens} <= {1, 2}
    by_sample = np.zeros(3)
    for t in tokens:
        by_sample[t["sample"]] += t["log_prob"]
    np.testing.assert_allclose(by_sample, [line["log_prob"] for line in document["per_line"]])
    np.testing.assert_allclose(by_sample, lm.score_samples(cli.TEST), rtol=1e-12)
    assert [line["text"] for line in document["per_line"]] == cli.TEST


def _srilm(per_token):
    """SRILM's ngram -ppl figures from per-token rows, by its definitions."""
    sentences = len({t["sample"] for t in per_token})
    words = len(per_token) - sentences
    oovs = sum(t["oov"] for t in per_token)
    zeroprobs = sum(1 for t in per_token if not t["oov"] and t["log10_prob"] is None)
    scored = [t["log10_prob"] for t in per_token if not t["oov"] and t["log10_prob"] is not None]
    logprob = sum(scored)
    return {
        "sentences": sentences,
        "words": words,
        "oovs": oovs,
        "zeroprobs": zeroprobs,
        "logprob": logprob,
        "ppl": 10 ** (-logprob / (words - oovs - zeroprobs + sentences)),
        "ppl1": 10 ** (-logprob / (words - oovs - zeroprobs)),
    }


@pytest.mark.parametrize("smoothing", ["kneser_ney", "mle"])
def test_srilm_figures(cli, files, tmp_path, smoothing):
    _, test = files
    path = _fit(cli, tmp_path, order=2, smoothing=smoothing)
    code, out, err = cli.run("score", path, test, "--json", "--per-token", "-q")
    document = _json(out)
    srilm = document["srilm"]
    expected = _srilm(document["per_token"])
    assert srilm == pytest.approx(expected, rel=1e-12)
    assert (srilm["sentences"], srilm["words"], srilm["oovs"]) == (3, 15, 1)
    if smoothing == "mle":
        # "log" after "a", "ran" after "dog", "on" after "ran", ... have probability 0.
        assert srilm["zeroprobs"] > 0 and math.isfinite(srilm["ppl"])
        assert code == 1 and "infinite" in err
        assert document["perplexity"] is None  # JSON has no infinity
    else:
        assert code == 0, err
        assert srilm["zeroprobs"] == 0
        # With no zero probability, SRILM's ppl is KenLM's perplexity excluding OOVs.
        assert srilm["ppl"] == pytest.approx(document["perplexity_excluding_oovs"], rel=1e-12)
    # The text summary prints the same figures, in SRILM's layout.
    code, out, _ = cli.run("score", path, test, "-q")
    assert f"file {test}: 3 sentences, 15 words, 1 OOVs" in out
    assert f"{srilm['zeroprobs']} zeroprobs, logprob= {srilm['logprob']:.4f} " in out
    assert f"ppl= {srilm['ppl']:.4f} ppl1= {srilm['ppl1']:.4f}" in out


def test_infinite_perplexity_fails_after_the_report(cli, files, tmp_path):
    _, test = files
    path = _fit(cli, tmp_path, order=2, smoothing="mle")
    code, out, err = cli.run("score", path, test, "-q")
    cli.assert_error(code, err, "perplexity is infinite", "probability 0", "mle", status=1)
    assert cli.field(out, "perplexity") == "inf"
    assert "zeroprobs" in out


def test_nan_log_probabilities_fail_before_printing(cli, files, tmp_path):
    _, test = files
    lm = cli.reference(cli.TRAIN, order=2, smoothing="witten_bell")
    # A damaged model: NaN where "sat" is scored by its unigram (after "bird").
    lm.tables_.log_prob[0][lm.vocabulary_["sat"]] = np.nan
    path = tmp_path / "nan.pkl"
    joblib.dump(lm, path)
    for extra in ((), ("--json",), ("--per-token",)):
        code, out, err = cli.run("score", path, test, "-q", *extra)
        cli.assert_error(code, err, "nan.pkl", "NaN", "1 of 18", "sample 1, position 2", status=1)
        assert out == ""


def test_per_token_of_a_mixture(cli, files, tmp_path):
    import sklm
    from sklm import InterpolatedLM

    _, test = files
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixture = InterpolatedLM(
            estimators=[("bigram", NGramLM(order=2)), ("unigram", NGramLM(order=1))],
            weights=[0.7, 0.3],
        ).fit(cli.TRAIN)
    path = tmp_path / "mix.sklm"
    sklm.save(mixture, path)
    code, out, err = cli.run("score", path, test, "--per-token")
    assert code == 0, err
    assert "InterpolatedLM(bigram=NGramLM, unigram=NGramLM)" in out
    header, rows = _per_token(out)
    assert header == [c for c in HEADER if c != "ngram_length"]
    totals = np.zeros(len(cli.TEST))
    for row in rows:
        totals[int(row[0])] += float(row[4])
    np.testing.assert_allclose(totals, mixture.score_samples(cli.TEST), rtol=1e-12)
