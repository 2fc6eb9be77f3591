import io
import math
import re

import numpy as np
import pytest

from sklm.cli import DEMO_NEURAL, DEMO_SECTIONS, DemoContext, build_parser
from sklm.metrics import perplexity
from sklm.ngram import SMOOTHINGS


def test_demo_quick(cli):
    code, out, err = cli.run("demo", "--quick", "--max-order", 2, "--seed", 1)
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
        assert re.search(
            rf"^  {name}\s+\d epochs?\s+fit\s+[\d.]+ s\s+test perplexity\s+[\d.]+",
            out,
            re.MULTILINE,
        )
        assert re.search(rf"^  {name}\s+[\d.]+", table, re.MULTILINE)
        assert re.search(rf"^  {name}:\n    \S.*\n    the default value", out, re.MULTILINE)
    assert re.search(r"^  kneser_ney order 2\s+[\d.]+", table, re.MULTILINE)
    assert "epoch 1/2" in err  # progress, on stderr


def test_demo_no_neural_quiet(cli):
    code, out, err = cli.run("demo", "--quick", "--max-order", 1, "--no-neural", "--quiet")
    assert code == 0, err
    assert "Scoring" in out and "Demo finished in" in out
    for name in ("neural", *DEMO_NEURAL):
        assert name not in out
    assert err == ""


def test_demo_sections_compute_what_they_print():
    args = build_parser().parse_args(["demo", "--quick", "--max-order", "2", "--quiet"])
    ctx = DemoContext(args=args, out=io.StringIO())
    for section in DEMO_SECTIONS:
        section(ctx)
    assert set(ctx.models) == {(s, o) for s in SMOOTHINGS for o in (1, 2)}
    ppl = ctx.perplexities
    # The test set holds bigrams never seen in training: mle gives them probability 0.
    assert math.isinf(ppl["mle", 2]) and math.isfinite(ppl["mle", 1])
    for smoothing in SMOOTHINGS:
        if smoothing == "mle":
            continue
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
        assert model.verbose == 0  # --quiet
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
