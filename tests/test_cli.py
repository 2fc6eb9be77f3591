import io
import math
import re
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from sklm import NGramLM, Tokenizer, generate
from sklm.cli import (
    DEMO_NEURAL,
    DEMO_SECTIONS,
    SMOOTHINGS,
    DemoContext,
    build_parser,
    load_model,
    main,
)
from sklm.metrics import oov_report, perplexity

TRAIN = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat saw a dog",
    "the dog saw the cat",
    "a dog sat on a mat",
    "the cat ran",
]
TEST = ["the cat sat on a log", "a bird sat", "the dog ran on the mat"]


@pytest.fixture
def files(tmp_path):
    train = tmp_path / "train.txt"
    # Blank and padded lines: skipped and normalised, as documented.
    padded = "\n".join("  " + s for s in TRAIN[3:])
    train.write_text("\n".join(TRAIN[:3]) + "\n\n   \n" + padded + "\n")
    test = tmp_path / "test.txt"
    test.write_text("\n".join(TEST) + "\n")
    return train, test


def _reference(X, **params):
    # The toy corpora are too small to estimate Kneser-Ney discounts.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NGramLM(**params).fit(X)


def _field(output, name):
    match = re.search(rf"^{re.escape(name)}\s+(\S+)", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --help ---------------------------------------------------------------------


def test_help(capsys):
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    for command in ("demo", "fit", "score", "sample"):
        assert command in out
    assert "examples:" in out
    for command in ("demo", "fit", "score", "sample"):
        code, out, _ = _run(capsys, command, "--help")
        assert code == 0
        assert f"usage: sklm {command}" in out and "examples:" in out


def test_usage_errors_exit_2(capsys):
    code, _, err = _run(capsys)
    assert code == 2 and "required" in err
    code, _, err = _run(capsys, "fit", "x.txt", "-o", "m.pkl", "--smoothing", "magic")
    assert code == 2 and "invalid choice" in err
    code, _, err = _run(capsys, "fit", "x.txt", "-o", "m.pkl", "--order", "0")
    assert code == 2 and "positive integer" in err


def test_python_dash_m():
    result = subprocess.run(
        [sys.executable, "-m", "sklm", "--version"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert result.stdout.startswith("sklm ")


# fit / score / sample -----------------------------------------------------------


@pytest.mark.parametrize("name", ["model.pkl", "model.joblib", "model.arpa", "model.arpa.gz"])
def test_fit_score_round_trip(capsys, files, tmp_path, name):
    train, test = files
    path = tmp_path / name
    code, out, err = _run(capsys, "fit", train, "-o", path, "--order", 2)
    assert code == 0, err
    assert path.is_file() and "6 lines" in out

    reference = _reference(TRAIN, order=2)
    code, out, err = _run(capsys, "score", path, test)
    assert code == 0, err
    expected = oov_report(reference, TEST)
    # Printed with 4 decimals.
    assert float(_field(out, "perplexity")) == pytest.approx(expected["perplexity"], abs=6e-5)
    assert float(_field(out, "perplexity excluding OOVs")) == pytest.approx(
        expected["perplexity_excluding_oov"], abs=6e-5
    )
    assert int(_field(out, "OOVs")) == expected["n_oov"] == 1  # "bird"
    assert int(_field(out, "samples")) == 3


def test_fit_passes_the_model_options(capsys, files, tmp_path):
    train, _ = files
    path = tmp_path / "m.pkl"
    code, _, err = _run(
        capsys, "fit", train, "-o", path, "--order", 4, "--smoothing", "add_k",
        "--alpha", 0.25, "--min-count", 2,
    )
    assert code == 0, err
    model = joblib.load(path)
    assert (model.order, model.smoothing, model.alpha, model.min_count) == (4, "add_k", 0.25, 2)
    assert "saw" in model.vocabulary_  # seen twice
    assert "log" not in model.vocabulary_ and "ran" not in model.vocabulary_  # seen once
    np.testing.assert_allclose(
        model.score_samples(TEST),
        _reference(TRAIN, order=4, smoothing="add_k", alpha=0.25, min_count=2).score_samples(TEST),
    )


def test_fit_reads_stdin(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(TRAIN) + "\n"))
    code, _, err = _run(capsys, "fit", "-", "-o", tmp_path / "m.pkl", "--order", 2)
    assert code == 0, err
    np.testing.assert_allclose(
        joblib.load(tmp_path / "m.pkl").score_samples(TEST),
        _reference(TRAIN, order=2).score_samples(TEST),
    )


def test_score_per_line(capsys, files, tmp_path):
    train, test = files
    path = tmp_path / "m.pkl"
    code, _, err = _run(capsys, "fit", train, "-o", path)
    # Library warnings read as one line each, without a source excerpt.
    assert code == 0 and "sklm fit: warning: kneser_ney: cannot estimate" in err
    assert "UserWarning" not in err
    code, out, err = _run(capsys, "score", path, test, "--per-line")
    assert code == 0, err
    lines = out.splitlines()[: len(TEST)]
    expected = _reference(TRAIN).score_samples(TEST)
    for line, text, value in zip(lines, TEST, expected):
        logp, shown = line.split("\t")
        assert shown == text
        assert float(logp) == pytest.approx(value, abs=1e-4)


def test_sample(capsys, files, tmp_path):
    train, _ = files
    path = tmp_path / "m.pkl"
    assert _run(capsys, "fit", train, "-o", path, "--order", 2)[0] == 0
    args = ("sample", path, "--n", 4, "--seed", 3, "--prompt", "the cat", "--max-length", 5)
    code, first, err = _run(capsys, *args)
    assert code == 0, err
    assert _run(capsys, *args)[1] == first  # same seed, same samples
    samples = first.splitlines()
    assert len(samples) == 4
    vocabulary = {w for s in TRAIN for w in s.split()} | {"<unk>"}
    for sample in samples:
        words = sample.split()
        assert words[:2] == ["the", "cat"]
        assert 2 <= len(words) <= 7 and set(words) <= vocabulary
    # Greedy decoding follows the most likely next word.
    model = joblib.load(path)
    code, out, _ = _run(capsys, "sample", path, "--n", 1, "--temperature", 0, "--prompt", "a")
    expected = model.sample(1, prompt="a", temperature=0)[0]
    assert out.split() == ["a"] + expected


def test_pipeline_models(capsys, tmp_path):
    texts = ["The cat sat.", "The dog sat.", "A cat ran.", "The dog ran!"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_pipeline(Tokenizer(), NGramLM(order=2)).fit(texts)
    path = tmp_path / "pipe.joblib"
    joblib.dump(pipe, path)
    test = tmp_path / "t.txt"
    test.write_text("The cat ran.\nA dog sat!\n")
    code, out, err = _run(capsys, "score", path, test)
    assert code == 0, err
    assert float(_field(out, "perplexity")) == pytest.approx(
        perplexity(pipe, ["The cat ran.", "A dog sat!"]), abs=6e-5
    )
    code, out, err = _run(
        capsys, "sample", path, "--prompt", "The cat", "--temperature", 0, "--n", 1
    )
    assert code == 0, err
    assert out.startswith("the cat ")  # decoded by the Tokenizer


TINY_NEURAL = (
    "--embedding-dim", 8, "--hidden-size", 12, "--max-epochs", 2, "--batch-size", 3,
    "--seed", 0, "--device", "cpu", "--threads", 1,
)


@pytest.mark.parametrize(
    "model, name, cls",
    [("lstm", "lstm.npz", "LSTMLM"), ("gru", "gru.pkl", "GRULM"), ("rnn", "rnn.joblib", "RNNLM")],
)
def test_neural_fit_score_sample_round_trip(capsys, files, tmp_path, model, name, cls):
    from sklm import neural

    train, test = files
    path = tmp_path / name
    code, out, err = _run(capsys, "fit", train, "-o", path, "--model", model, *TINY_NEURAL)
    assert code == 0, err
    assert path.is_file()
    assert f"fitted {cls}(embedding_dim=8, hidden_size=12, num_layers=1)" in out
    assert "6 lines" in out and "(2 epochs)" in out
    assert "epoch 2/2" in err  # progress on stderr
    saved = load_model(path)
    assert type(saved).__name__ == cls and saved.n_threads == 1
    reference = getattr(neural, cls)(
        embedding_dim=8, hidden_size=12, max_epochs=2, batch_size=3, random_state=0,
        device="cpu", n_threads=1,
    ).fit(TRAIN)
    np.testing.assert_allclose(saved.score_samples(TEST), reference.score_samples(TEST), rtol=1e-5)

    code, out, err = _run(capsys, "score", path, test)
    assert code == 0, err
    expected = oov_report(saved, TEST)
    assert float(_field(out, "perplexity")) == pytest.approx(expected["perplexity"], abs=6e-5)
    assert int(_field(out, "OOVs")) == expected["n_oov"] == 1  # "bird"

    args = ("sample", path, "--n", 3, "--seed", 3, "--prompt", "the cat", "--max-length", 5)
    code, first, err = _run(capsys, *args)
    assert code == 0, err
    assert _run(capsys, *args)[1] == first  # same seed, same samples
    assert first.splitlines() == generate(
        saved, "the cat", n_samples=3, max_length=5, random_state=3
    )
    assert all(line.startswith("the cat") for line in first.splitlines())


def test_neural_fit_quiet(capsys, files, tmp_path):
    train, _ = files
    code, _, err = _run(
        capsys, "fit", train, "-o", tmp_path / "m.npz", "--model", "gru", *TINY_NEURAL, "--quiet"
    )
    assert code == 0, err
    assert "epoch" not in err


def test_fit_options_belong_to_one_kind_of_model(capsys, files, tmp_path):
    train, _ = files
    code, _, err = _run(capsys, "fit", train, "-o", tmp_path / "m.pkl", "--model", "lstm",
                        "--order", 3, "--alpha", 0.5)
    _assert_clean_error(code, err, "--order, --alpha apply to --model ngram only")
    code, _, err = _run(capsys, "fit", train, "-o", tmp_path / "m.pkl", "--hidden-size", 8)
    _assert_clean_error(code, err, "--hidden-size applies to the neural models")
    # The format is checked before any training.
    code, _, err = _run(capsys, "fit", train, "-o", tmp_path / "m.arpa", "--model", "lstm")
    _assert_clean_error(code, err, "ARPA files hold n-gram models only", ".npz")
    code, _, err = _run(capsys, "fit", train, "-o", tmp_path / "m.npz")
    _assert_clean_error(code, err, ".npz files hold neural models", ".arpa")
    assert not list(tmp_path.glob("m.*"))
    code, _, err = _run(capsys, "fit", train, "-o", tmp_path / "m.npz", "--model", "gru",
                        "--max-time", 0)
    assert code == 2 and "positive number" in err


def test_unreadable_npz_files(capsys, files, tmp_path):
    _, test = files
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    np.savez(tmp_path / "arrays.npz", a=np.arange(3))
    for name in ("junk.npz", "arrays.npz"):
        code, _, err = _run(capsys, "score", tmp_path / name, test)
        _assert_clean_error(code, err, name, "not a neural model written by sklm")


# errors -------------------------------------------------------------------------


def _assert_clean_error(code, err, *needles):
    assert code == 2
    assert "Traceback" not in err
    assert err.startswith("sklm ")
    for needle in needles:
        assert needle in err, err


def test_errors_are_one_line_messages(capsys, files, tmp_path):
    train, test = files
    missing = tmp_path / "missing.txt"
    code, _, err = _run(capsys, "fit", missing, "-o", tmp_path / "m.pkl")
    _assert_clean_error(code, err, str(missing), "no such file")

    code, _, err = _run(capsys, "fit", train, "-o", tmp_path / "m.bin")
    _assert_clean_error(code, err, "m.bin", ".arpa")
    assert not (tmp_path / "m.bin").exists()

    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    code, _, err = _run(capsys, "fit", empty, "-o", tmp_path / "m.pkl")
    _assert_clean_error(code, err, "no non-empty line")

    code, _, err = _run(capsys, "fit", tmp_path, "-o", tmp_path / "m.pkl")
    _assert_clean_error(code, err, "directory")

    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00abc\n")
    code, _, err = _run(capsys, "fit", binary, "-o", tmp_path / "m.pkl")
    _assert_clean_error(code, err, "UTF-8")

    code, _, err = _run(capsys, "score", tmp_path / "nope.pkl", test)
    _assert_clean_error(code, err, "nope.pkl", "no such file")

    joblib.dump({"not": "a model"}, tmp_path / "dict.pkl")
    code, _, err = _run(capsys, "score", tmp_path / "dict.pkl", test)
    _assert_clean_error(code, err, "dict", "not an sklm language model")

    (tmp_path / "junk.pkl").write_bytes(b"definitely not a pickle")
    code, _, err = _run(capsys, "sample", tmp_path / "junk.pkl")
    _assert_clean_error(code, err, "junk.pkl", "not a readable model file")

    (tmp_path / "bad.arpa").write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0\tthe\n")
    code, _, err = _run(capsys, "score", tmp_path / "bad.arpa", test)
    _assert_clean_error(code, err)

    assert _run(capsys, "fit", train, "-o", tmp_path / "m.pkl")[0] == 0
    code, _, err = _run(capsys, "sample", tmp_path / "m.pkl", "--temperature", -1)
    _assert_clean_error(code, err, "temperature")
    code, _, err = _run(capsys, "sample", tmp_path / "m.pkl", "--top-p", 1.5)
    _assert_clean_error(code, err, "top_p")


def test_traceback_flag_reraises(files, tmp_path):
    _, test = files
    with pytest.raises(Exception, match="no such file"):
        main(["--traceback", "score", str(tmp_path / "nope.pkl"), str(test)])


# demo ---------------------------------------------------------------------------


def test_demo_quick(capsys):
    code, out, err = _run(capsys, "demo", "--quick", "--max-order", 2, "--seed", 1)
    assert code == 0, err
    for smoothing in SMOOTHINGS:
        assert re.search(rf"^  {smoothing}\s+order 1  fit", out, re.MULTILINE)
        assert re.search(rf"^  {smoothing}\s+[\d.inf]+\s+[\d.inf]+", out, re.MULTILINE)
    for title in ("The corpus", "Perplexity", "Out-of-vocabulary", "Generation", "Scoring"):
        assert title in out
    assert "Demo finished in" in out
    # The neural section: a line per model, the table next to the n-grams, samples.
    assert "Recurrent neural models" in out
    table = out.split("Test perplexity, neural and n-gram")[1].split("\n\n")[0]
    for name in DEMO_NEURAL:
        assert re.search(rf"^  {name}\s+\d epochs?\s+fit\s+[\d.]+ s\s+test perplexity\s+[\d.]+",
                         out, re.MULTILINE)
        assert re.search(rf"^  {name}\s+[\d.]+", table, re.MULTILINE)
        assert re.search(rf"^  {name}:\n    \S.*\n    the default value", out, re.MULTILINE)
    assert re.search(r"^  kneser_ney order 2\s+[\d.]+", table, re.MULTILINE)
    assert "epoch 1/2" in err  # progress, on stderr


def test_demo_no_neural(capsys):
    code, out, err = _run(capsys, "demo", "--quick", "--max-order", 1, "--no-neural")
    assert code == 0, err
    assert "Scoring" in out and "Demo finished in" in out
    for name in ("neural", *DEMO_NEURAL):
        assert name not in out
    assert "epoch" not in err


def test_demo_sections_compute_what_they_print(capsys):
    args = build_parser().parse_args(["demo", "--quick", "--max-order", "2"])
    ctx = DemoContext(args=args, out=io.StringIO())
    for section in DEMO_SECTIONS:
        section(ctx)
    assert set(ctx.models) == {(s, o) for s in SMOOTHINGS for o in (1, 2)}
    ppl = ctx.perplexities
    # The test set holds bigrams never seen in training: mle gives them probability 0.
    assert math.isinf(ppl["mle", 2]) and math.isfinite(ppl["mle", 1])
    for smoothing in SMOOTHINGS[:-1]:  # all but mle
        for order in (1, 2):
            assert math.isfinite(ppl[smoothing, order]) and ppl[smoothing, order] > 1
            assert ppl[smoothing, order] == pytest.approx(
                perplexity(ctx.models[smoothing, order], ctx.test)
            )
    assert ppl["kneser_ney", 2] < ppl["kneser_ney", 1]
    text = ctx.out.getvalue()
    assert f"{ppl['kneser_ney', 2]:.2f}" in text
    assert set(ctx.neural) == set(ctx.neural_perplexities) == set(DEMO_NEURAL)
    for name, model in ctx.neural.items():
        assert type(model).__name__ == name and model.n_threads_ == 1
        assert model.get_params()["hidden_size"] == 32  # --quick's tiny networks
        assert 1 < ctx.neural_perplexities[name] == pytest.approx(perplexity(model, ctx.test))
        assert f"{ctx.neural_perplexities[name]:.2f}" in text
    # The word-order ranking: sorted by the first column, and the unigram
    # column identical for every shuffle (a unigram model cannot see order).
    block = text.split("Word order")[1].split("\n\n")[0]
    rows = [line.split() for line in block.splitlines()[2:] if line.strip()[:1].isdigit()]
    assert len(rows) == 5
    first = [float(r[1]) for r in rows]
    assert first == sorted(first, reverse=True)
    np.testing.assert_allclose([float(r[2]) for r in rows], float(rows[0][2]), atol=0.01)
