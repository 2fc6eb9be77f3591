import io
import sys
import warnings

import joblib
import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from sklm import NGramLM, Tokenizer, generate
from sklm.cli import load_model
from sklm.metrics import oov_report, perplexity

# fit / score / sample -----------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["model.sklm", "model.pkl", "model.joblib", "model.arpa", "model.arpa.gz"]
)
def test_fit_score_round_trip(cli, files, tmp_path, name):
    train, test = files
    path = tmp_path / name
    code, out, err = cli.run("fit", train, "-o", path, "--order", 2)
    assert code == 0, err
    assert path.is_file() and "6 lines" in out

    reference = cli.reference(cli.TRAIN, order=2)
    code, out, err = cli.run("score", path, test)
    assert code == 0, err
    expected = oov_report(reference, cli.TEST)
    # Printed with 4 decimals.
    assert float(cli.field(out, "perplexity")) == pytest.approx(expected["perplexity"], abs=6e-5)
    assert float(cli.field(out, "perplexity excluding OOVs")) == pytest.approx(
        expected["perplexity_excluding_oov"], abs=6e-5
    )
    assert int(cli.field(out, "OOVs")) == expected["n_oov"] == 1  # "bird"
    assert int(cli.field(out, "samples")) == 3


def test_fit_passes_the_model_options(cli, files, tmp_path):
    train, _ = files
    path = tmp_path / "m.pkl"
    code, _, err = cli.run(
        "fit", train, "-o", path, "--order", 4, "--smoothing", "add_k",
        "--alpha", 0.25, "--min-count", 2,
    )  # fmt: skip
    assert code == 0, err
    model = joblib.load(path)
    assert (model.order, model.smoothing, model.alpha, model.min_count) == (4, "add_k", 0.25, 2)
    assert "saw" in model.vocabulary_  # seen twice
    assert "log" not in model.vocabulary_ and "ran" not in model.vocabulary_  # seen once
    np.testing.assert_allclose(
        model.score_samples(cli.TEST),
        cli.reference(cli.TRAIN, order=4, smoothing="add_k", alpha=0.25, min_count=2)
        .score_samples(cli.TEST),
    )  # fmt: skip


def test_fit_reads_stdin(cli, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(cli.TRAIN) + "\n"))
    code, _, err = cli.run("fit", "-", "-o", tmp_path / "m.pkl", "--order", 2)
    assert code == 0, err
    np.testing.assert_allclose(
        joblib.load(tmp_path / "m.pkl").score_samples(cli.TEST),
        cli.reference(cli.TRAIN, order=2).score_samples(cli.TEST),
    )


def test_fit_checks_the_output_before_reading_the_data(cli, monkeypatch, tmp_path):
    stdin = io.StringIO("\n".join(cli.TRAIN) + "\n")
    monkeypatch.setattr(sys, "stdin", stdin)
    (tmp_path / "dir.sklm").mkdir()
    for output, needle in [
        (tmp_path / "no" / "such" / "dir" / "m.sklm", "does not exist"),
        (tmp_path / "dir.sklm", "folder"),
    ]:
        code, _, err = cli.run("fit", "-", "-o", output)
        cli.assert_error(code, err, "--output", needle, status=1)
    assert stdin.tell() == 0  # nothing read, nothing trained


def test_fit_replaces_the_output_only_once_written(cli, files, tmp_path, monkeypatch):
    train, _ = files
    path = tmp_path / "m.pkl"
    path.write_bytes(b"the previous model")

    def fail_midway(value, file, *args, **kwargs):
        file.write(b"half a pickle")
        raise OSError("No space left on device")

    monkeypatch.setattr(joblib, "dump", fail_midway)
    code, _, err = cli.run("fit", train, "-o", path, "--order", 2)
    cli.assert_error(code, err, "No space left on device", status=1)
    assert path.read_bytes() == b"the previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pkl", "test.txt", "train.txt"]


def test_score_per_line(cli, files, tmp_path):
    train, test = files
    path = tmp_path / "m.sklm"
    code, _, err = cli.run("fit", train, "-o", path)
    # Library warnings read as one line each, without a source excerpt.
    assert code == 0 and "sklm fit: warning: kneser_ney: cannot estimate" in err
    assert "UserWarning" not in err
    code, out, err = cli.run("score", path, test, "--per-line")
    assert code == 0, err
    lines = out.splitlines()[: len(cli.TEST)]
    expected = cli.reference(cli.TRAIN).score_samples(cli.TEST)
    for line, text, value in zip(lines, cli.TEST, expected):
        logp, shown = line.split("\t")
        assert shown == text
        assert float(logp) == pytest.approx(value, abs=1e-4)


def test_quiet_silences_warnings_not_errors(cli, files, tmp_path):
    train, test = files
    path = tmp_path / "m.pkl"
    code, _, err = cli.run("fit", train, "-o", path, "--quiet")
    assert code == 0 and err == ""
    for command in (("score", path, test), ("sample", path, "--n", 1)):
        code, _, err = cli.run(*command, "-q")
        assert code == 0 and err == ""
    code, _, err = cli.run("score", tmp_path / "nope.pkl", test, "-q")
    cli.assert_error(code, err, "no such file")


def test_opening_a_pickle_warns(cli, files, tmp_path):
    train, test = files
    for name in ("m.pkl", "m.arpa", "m.sklm"):
        assert cli.run("fit", train, "-o", tmp_path / name, "-q")[0] == 0
    for command in ("score", "sample"):
        args = (test,) if command == "score" else ()
        code, _, err = cli.run(command, tmp_path / "m.pkl", *args)
        assert code == 0
        assert f"sklm {command}: warning:" in err and "runs code" in err and "trust" in err
        for safe in ("m.arpa", "m.sklm"):
            code, _, err = cli.run(command, tmp_path / safe, *args)
            assert code == 0 and "pickle" not in err


def test_sample(cli, files, tmp_path):
    train, _ = files
    path = tmp_path / "m.sklm"
    assert cli.run("fit", train, "-o", path, "--order", 2)[0] == 0
    args = ("sample", path, "--n", 4, "--seed", 3, "--prompt", "the cat", "--max-length", 5)
    code, first, err = cli.run(*args)
    assert code == 0, err
    assert cli.run(*args)[1] == first  # same seed, same samples
    samples = first.splitlines()
    assert len(samples) == 4
    vocabulary = {w for s in cli.TRAIN for w in s.split()} | {"<unk>"}
    for sample in samples:
        words = sample.split()
        assert words[:2] == ["the", "cat"]
        assert 2 <= len(words) <= 7 and set(words) <= vocabulary
    # Greedy decoding follows the most likely next word.
    model = load_model(path)
    code, out, _ = cli.run("sample", path, "--n", 1, "--temperature", 0, "--prompt", "a")
    expected = model.sample(1, prompt="a", temperature=0)[0]
    assert out.split() == ["a"] + expected


@pytest.mark.parametrize("name", ["pipe.joblib", "pipe.sklm"])
def test_pipeline_models(cli, tmp_path, name):
    import sklm

    texts = ["The cat sat.", "The dog sat.", "A cat ran.", "The dog ran!"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_pipeline(Tokenizer(), NGramLM(order=2)).fit(texts)
    path = tmp_path / name
    if name.endswith(".sklm"):
        sklm.save(pipe, path)
    else:
        joblib.dump(pipe, path)
    test = tmp_path / "t.txt"
    test.write_text("The cat ran.\nA dog sat!\n")
    code, out, err = cli.run("score", path, test)
    assert code == 0, err
    assert float(cli.field(out, "perplexity")) == pytest.approx(
        perplexity(pipe, ["The cat ran.", "A dog sat!"]), abs=6e-5
    )
    code, out, err = cli.run("sample", path, "--prompt", "The cat", "--temperature", 0, "--n", 1)
    assert code == 0, err
    assert out.startswith("the cat ")  # decoded by the Tokenizer


TINY_NEURAL = (
    "--embedding-dim", 8, "--hidden-size", 12, "--max-epochs", 2, "--batch-size", 3,
    "--seed", 0, "--device", "cpu", "--threads", 1,
)  # fmt: skip


@pytest.mark.parametrize(
    "model, name, cls",
    [("lstm", "lstm.npz", "LSTMLM"), ("gru", "gru.sklm", "GRULM"), ("rnn", "rnn.joblib", "RNNLM")],
)
def test_neural_fit_score_sample_round_trip(cli, files, tmp_path, model, name, cls):
    from sklm import neural

    train, test = files
    path = tmp_path / name
    code, out, err = cli.run("fit", train, "-o", path, "--model", model, *TINY_NEURAL)
    assert code == 0, err
    assert path.is_file()
    assert f"fitted {cls}(embedding_dim=8, hidden_size=12, num_layers=1)" in out
    assert "6 lines" in out and "(2 epochs)" in out
    assert "epoch 2/2" in err  # progress on stderr
    saved = load_model(path, quiet=True)
    assert type(saved).__name__ == cls and saved.n_threads == 1
    reference = getattr(neural, cls)(
        embedding_dim=8, hidden_size=12, max_epochs=2, batch_size=3, random_state=0,
        device="cpu", n_threads=1,
    ).fit(cli.TRAIN)  # fmt: skip
    np.testing.assert_allclose(
        saved.score_samples(cli.TEST), reference.score_samples(cli.TEST), rtol=1e-5
    )

    code, out, err = cli.run("score", path, test)
    assert code == 0, err
    expected = oov_report(saved, cli.TEST)
    assert float(cli.field(out, "perplexity")) == pytest.approx(expected["perplexity"], abs=6e-5)
    assert int(cli.field(out, "OOVs")) == expected["n_oov"] == 1  # "bird"

    args = ("sample", path, "--n", 3, "--seed", 3, "--prompt", "the cat", "--max-length", 5)
    code, first, err = cli.run(*args)
    assert code == 0, err
    assert cli.run(*args)[1] == first  # same seed, same samples
    assert first.splitlines() == generate(
        saved, "the cat", n_samples=3, max_length=5, random_state=3
    )
    assert all(line.startswith("the cat") for line in first.splitlines())


def test_neural_fit_quiet(cli, files, tmp_path):
    train, _ = files
    code, _, err = cli.run(
        "fit", train, "-o", tmp_path / "m.npz", "--model", "gru", *TINY_NEURAL, "--quiet"
    )
    assert code == 0, err
    assert err == ""


def test_fit_options_belong_to_one_kind_of_model(cli, files, tmp_path):
    train, _ = files
    code, _, err = cli.run("fit", train, "-o", tmp_path / "m.pkl", "--hidden-size", 8)
    cli.assert_error(code, err, "--hidden-size applies to the neural models", status=2)
    # The format is checked before any training.
    code, _, err = cli.run("fit", train, "-o", tmp_path / "m.arpa", "--model", "lstm")
    cli.assert_error(code, err, "ARPA files hold n-gram models only", ".sklm", status=2)
    code, _, err = cli.run("fit", train, "-o", tmp_path / "m.npz")
    cli.assert_error(code, err, ".npz files hold neural models", ".sklm", status=2)
    assert not list(tmp_path.glob("m.*"))
    code, _, err = cli.run(
        "fit", train, "-o", tmp_path / "m.npz", "--model", "gru", "--max-time", 0
    )
    assert code == 2 and "positive number" in err


def test_unreadable_npz_files(cli, files, tmp_path):
    _, test = files
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    np.savez(tmp_path / "arrays.npz", a=np.arange(3))
    for name in ("junk.npz", "arrays.npz"):
        code, _, err = cli.run("score", tmp_path / name, test)
        cli.assert_error(code, err, name, "not a neural model written by sklm")


# errors -------------------------------------------------------------------------


def test_errors_are_one_line_messages(cli, files, tmp_path):
    train, test = files
    missing = tmp_path / "missing.txt"
    code, _, err = cli.run("fit", missing, "-o", tmp_path / "m.pkl")
    cli.assert_error(code, err, str(missing), "no such file")

    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    code, _, err = cli.run("fit", empty, "-o", tmp_path / "m.pkl")
    cli.assert_error(code, err, "empty.txt", "no non-empty line")

    code, _, err = cli.run("fit", tmp_path, "-o", tmp_path / "m.pkl")
    cli.assert_error(code, err, "folder")

    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00abc\n")
    code, _, err = cli.run("fit", binary, "-o", tmp_path / "m.pkl")
    cli.assert_error(code, err, "bin.txt", "line 1", "utf-8")

    code, _, err = cli.run("score", tmp_path / "nope.pkl", test)
    cli.assert_error(code, err, "nope.pkl", "no such file")

    joblib.dump({"not": "a model"}, tmp_path / "dict.pkl")
    code, _, err = cli.run("score", tmp_path / "dict.pkl", test)
    cli.assert_error(code, err, "dict", "not an sklm language model")

    (tmp_path / "junk.pkl").write_bytes(b"definitely not a pickle")
    code, _, err = cli.run("sample", tmp_path / "junk.pkl")
    cli.assert_error(code, err, "junk.pkl", "not a readable model file")

    (tmp_path / "junk.sklm").write_bytes(b"definitely not a model")
    code, _, err = cli.run("score", tmp_path / "junk.sklm", test)
    cli.assert_error(code, err, "junk.sklm")

    (tmp_path / "bad.arpa").write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0\tthe\n")
    code, _, err = cli.run("score", tmp_path / "bad.arpa", test)
    cli.assert_error(code, err)

    assert cli.run("fit", train, "-o", tmp_path / "m.pkl")[0] == 0
    code, _, err = cli.run("sample", tmp_path / "m.pkl", "--temperature", -1)
    cli.assert_error(code, err, "temperature")
    code, _, err = cli.run("sample", tmp_path / "m.pkl", "--top-p", 1.5)
    cli.assert_error(code, err, "top_p")


def test_fit_vocabulary_and_pruning_options(cli, files, tmp_path):
    train, test = files
    words = tmp_path / "words.txt"
    words.write_text("the\ncat\ndog\nsat\n", encoding="utf-8")
    path = tmp_path / "v.pkl"
    code, _, err = cli.run("fit", train, "-o", path, "--vocabulary", words, "--order", 2, "-q")
    assert code == 0, err
    model = joblib.load(path)
    assert list(model.classes_) == ["<unk>", "</s>", "the", "cat", "dog", "sat"]
    reference = cli.reference(cli.TRAIN, order=2, vocabulary=str(words))
    np.testing.assert_allclose(model.score_samples(cli.TEST), reference.score_samples(cli.TEST))

    path = tmp_path / "p.pkl"
    code, _, err = cli.run("fit", train, "-o", path, "--prune", 0, 1, "--order", 3, "-q")
    assert code == 0, err
    model = joblib.load(path)
    reference = cli.reference(cli.TRAIN, order=3, prune=(0, 1))
    assert list(model.prune) == [0, 1]
    np.testing.assert_array_equal(model.ngram_counts_, reference.ngram_counts_)
    assert model.ngram_counts_[1] < cli.reference(cli.TRAIN, order=3).ngram_counts_[1]

    code, _, err = cli.run("fit", train, "-o", path, "--prune-entropy", 1e-3, "-q")
    assert code == 0, err
    assert joblib.load(path).prune_entropy == 1e-3

    # A value the estimator refuses fails the run, with its message.
    code, _, err = cli.run("fit", train, "-o", path, "--prune", 1, 1, "-q")
    cli.assert_error(code, err, "'prune' parameter of NGramLM", status=1)
    code, _, err = cli.run("fit", train, "-o", path, "--model", "gru", "--prune", 0, 1)
    cli.assert_error(code, err, "--prune applies to --model ngram only", status=2)
