"""The gallery's examples: each runs, and each page's claims hold.

Every example writes a small JSON of the numbers its page shows next to its
figure. The claim tests below read those numbers: by default the ones
recorded from the documentation-size run in ``tests/example_results/``
(a test checks that each was recorded from the example as it is now), or,
with ``SKLM_EXAMPLE_RESULTS=DIR``, the ones a documentation build just wrote
(CI runs them so after building the docs: ``docs/_build/example_figures``).

To record new results after changing an example, build the docs, then::

    python tests/test_examples.py --record docs/_build/example_figures
"""

import ast
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib  # noqa: F401  (the examples need it: it is part of the test extra)
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
LESSONS = [
    "plot_1_quickstart",
    "plot_2_ngram_order",
    "plot_3_vanishing_gradients",
    "plot_4_exploding_gradients",
    "plot_5_gru_vs_lstm",
    "plot_6_temperature",
    "plot_7_rescoring",
    "plot_8_learning_curves",
]
RECORDED = Path(__file__).resolve().parent / "example_results"
RESULTS = Path(os.environ.get("SKLM_EXAMPLE_RESULTS") or RECORDED)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def source_digest(stem):
    return hashlib.sha256((ROOT / "examples" / f"{stem}.py").read_bytes()).hexdigest()


def results(stem):
    path = RESULTS / f"{stem}.json"
    assert path.exists(), f"{path} is missing: run the example (or build the docs)"
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_lesson_has_an_example():
    assert [p.stem for p in EXAMPLES] == LESSONS


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_a_gallery_script(script):
    # sphinx-gallery takes the title from the module docstring: a title
    # underlined with "=" of the same length, then a description.
    text = script.read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(text), clean=False)
    assert doc is not None, f"{script.name} has no module docstring"
    lines = doc.strip("\n").splitlines()
    assert len(lines) > 3 and set(lines[1]) == {"="} and len(lines[1]) == len(lines[0])
    assert lines[3].strip(), "a description must follow the title"
    # A downloaded notebook must show its plots inline and write only in
    # its working folder: no backend forced, no path next to the script.
    assert "matplotlib.use(" not in text and "sys.argv" not in text
    assert "supxlabel(" in text, "each figure carries a one-line takeaway"


@pytest.mark.parametrize("stem", LESSONS)
def test_recorded_results_come_from_the_current_example(stem):
    sources = json.loads((RECORDED / "sources.json").read_text(encoding="utf-8"))
    assert sources.get(stem) == source_digest(stem), (
        f"{stem}.py changed since its results were recorded: build the docs and run "
        "python tests/test_examples.py --record docs/_build/example_figures"
    )


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_in_quick_mode(script, tmp_path):
    env = dict(os.environ)
    env.update(
        SKLM_EXAMPLE_QUICK="1",
        SKLM_EXAMPLE_OUTDIR="figures",
        # An empty data home: an example that would download falls back to
        # its local text instead, so the test never touches the network.
        SKLM_DATA=str(tmp_path / "data"),
        MPLBACKEND="Agg",
        # Tiny models train faster on one thread, and parallel test workers
        # must not oversubscribe the cores.
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p]),
    )
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    # Everything it writes lands in its output folder inside the working folder.
    assert {p.name for p in tmp_path.iterdir()} <= {"data", "work"}
    assert [p.name for p in work.iterdir()] == ["figures"]
    figures = sorted((work / "figures").glob("*.png"))
    assert figures and figures[0].stem == script.stem, f"{script.name} saved no figure"
    for figure in figures:
        data = figure.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, figure.name
    # The quick run writes the numbers the claims read, under the same keys.
    quick = json.loads((work / "figures" / f"{script.stem}.json").read_text(encoding="utf-8"))
    assert keys(quick) == keys(
        json.loads((RECORDED / f"{script.stem}.json").read_text(encoding="utf-8"))
    )


def keys(tree, depth=2):
    """The dictionary keys of ``tree`` down to ``depth`` levels (the JSON's shape)."""
    if not isinstance(tree, dict) or depth == 0:
        return None
    return {k: keys(v, depth - 1) for k, v in tree.items()}


# The claims of each page, on the numbers its documentation-size run computed.


def test_claim_quickstart_search_picks_the_best_cross_validated_size():
    r = results("plot_1_quickstart")
    best = min(zip(r["cv_perplexity"], r["hidden_sizes"]))[1]
    assert r["best_hidden_size"] == best
    # The page says the largest size wins on this budget.
    assert best == max(r["hidden_sizes"])
    assert 1 < r["test_perplexity"] < 200


def test_claim_ngram_table_grows_with_the_order_while_perplexity_flattens():
    r = results("plot_2_ngram_order")
    assert r["orders"] == list(range(1, len(r["orders"]) + 1)) and len(r["orders"]) >= 5
    n, size, ppl = r["n_ngrams"], r["n_bytes"], r["perplexity"]
    assert all(b > 1.2 * a for a, b in zip(n, n[1:])), n
    assert all(b > a for a, b in zip(size, size[1:])), size
    gains = [math.log(a / b) for a, b in zip(ppl, ppl[1:])]
    assert all(g >= 0 for g in gains) and gains[0] > 10 * gains[-1], gains
    # Kneser-Ney is the best smoothing at every order; mle is infinite.
    kn = r["smoothing_perplexity"]["kneser_ney"]
    assert kn == pytest.approx(ppl)
    for name, values in r["smoothing_perplexity"].items():
        if name != "kneser_ney":
            assert all(v is None or v >= k for v, k in zip(values, kn)), name
    assert r["smoothing_perplexity"]["mle"] == [None] * len(ppl)


def test_claim_gated_cells_remember_and_tanh_gradients_vanish():
    r = results("plot_3_vanishing_gradients")
    acc = r["accuracy"]
    assert r["max_distance"] >= 30
    assert len(acc["LSTM"]) == r["max_distance"]
    assert acc["LSTM"][-1] >= 0.9 and acc["GRU"][-1] >= 0.9
    assert acc["RNN (tanh)"][-1] <= 0.4
    # The ReLU RNN is in between: it falls off at long distances.
    assert sum(acc["RNN (relu)"][-5:]) / 5 < 0.95 <= sum(acc["RNN (relu)"][:5]) / 5
    tanh, lstm = r["gradient_norms"]["RNN (tanh)"], r["gradient_norms"]["LSTM"]
    # k steps back, the tanh gradient has lost far more than the LSTM's.
    for k in (5, 10):
        assert tanh[k] / tanh[0] < 1e-3 * (lstm[k] / lstm[0]), k
    assert tanh[-1] < 1e-20 and lstm[-1] > 1e-9


def median(values):
    return sorted(values)[len(values) // 2]


def test_claim_unclipped_gradient_explodes_and_is_drawn_per_step():
    r = results("plot_4_exploding_gradients")
    clipped, free = r["runs"]["clipped at 0.25"], r["runs"]["no clipping"]
    # The clipped run completes its epochs; the unclipped one breaks (a
    # non-finite loss or gradient) and is drawn step by step up to the step
    # before, every value finite.
    assert clipped["broke_at_step"] is None
    assert free["broke_at_step"] is not None
    assert len(free["grad_norm"]) == len(free["train_loss"]) == free["broke_at_step"] - 1
    assert 10 < len(free["grad_norm"]) < len(clipped["grad_norm"])
    assert all(math.isfinite(v) for v in free["grad_norm"] + free["train_loss"])
    # Before it breaks, its gradient explodes: a hundred times the clipped
    # run's usual norm, in the last steps it has.
    assert max(free["grad_norm"][-5:]) > 100 * median(clipped["grad_norm"])
    # Clipping does not make the gradient small: the norms before clipping
    # spike far above their median, and the run survives them and learns.
    assert max(clipped["grad_norm"]) > 300 * median(clipped["grad_norm"])
    assert clipped["train_loss"][-1] < clipped["train_loss"][0] - 1
    # Per epoch these spikes hide: the unclipped run's usual norm is lower.
    assert median(free["grad_norm"]) < median(clipped["grad_norm"])


def test_claim_gru_has_three_quarters_of_the_weights_and_the_same_perplexity():
    m = results("plot_5_gru_vs_lstm")["models"]
    assert m["GRU"]["recurrent_parameters"] * 4 == m["LSTM"]["recurrent_parameters"] * 3
    # "Within 5 %", as the page states.
    ratio = m["GRU"]["test_perplexity"] / m["LSTM"]["test_perplexity"]
    assert 0.95 <= ratio <= 1.05, ratio
    for cell in ("GRU", "LSTM"):
        assert m[cell]["test_perplexity"] < 0.95 * m["RNN (tanh)"]["test_perplexity"]


def test_claim_lower_temperature_concentrates_the_next_character():
    r = results("plot_6_temperature")
    temperatures = r["temperatures"]
    assert temperatures == sorted(temperatures) and len(temperatures) == 3
    for corpus, entropy in r["entropy_bits"].items():
        bits = [entropy[str(t)] for t in temperatures]
        assert bits[0] < bits[1] < bits[2], (corpus, bits)
    # Shakespeare's English when it could be downloaded, else the built-in corpus's.
    assert sorted(r["entropy_bits"]) in (["Python", "Shakespeare"], ["English prose", "Python"])


def test_claim_rescoring_ranks_the_original_sentence_first():
    r = results("plot_7_rescoring")
    chance = 1 / r["n_candidates"]
    assert r["n_lists"] >= 100
    assert set(r["top1"]) == {
        "trigram (Kneser-Ney)",
        "LSTM",
        "InterpolatedLM",
        "log-linear, 0.5 each",
    }
    # Every scorer puts the original first in most lists ("four times as
    # often as chance") and ranks it high in the others.
    for name, top1 in r["top1"].items():
        assert top1 >= 0.55 and top1 >= 3.3 * chance, name
        assert r["mrr"][name] >= 0.75, name
    # The mixture is the better model of held-out text than either component.
    assert r["validation_perplexity"] < min(r["validation_perplexities"])
    assert 0 < r["weights"][0] < 1 and sum(r["weights"]) == pytest.approx(1)


def test_claim_dropout_curves_are_told_apart():
    r = results("plot_8_learning_curves")
    plain, dropout = r["dropout 0"]["history"], r["dropout 0.5"]["history"]
    assert len(plain) >= 5 and len(dropout) >= 5
    # Without dropout the network fits its training data much faster ...
    last = min(len(plain), len(dropout)) - 1
    assert plain[last]["train_loss"] < dropout[last]["train_loss"] - 0.3
    # ... and overfits: its validation perplexity rises after its best epoch,
    best = min(range(len(plain)), key=lambda i: plain[i]["valid_perplexity"])
    assert plain[-1]["valid_perplexity"] > 1.05 * plain[best]["valid_perplexity"]
    # while dropout holds the generalisation gap smaller.
    gap = [math.log(h["valid_perplexity"]) - h["train_loss"] for h in (plain[last], dropout[last])]
    assert gap[0] > gap[1] + 0.2, gap
    # and ends the better model of new text: the corpus's own test split.
    assert r["dropout 0.5"]["test_perplexity"] < 0.95 * r["dropout 0"]["test_perplexity"]


def record(source):
    """Copy the JSON results a documentation build wrote into ``tests/example_results``."""
    sources = {}
    for stem in LESSONS:
        shutil.copyfile(Path(source) / f"{stem}.json", RECORDED / f"{stem}.json")
        sources[stem] = source_digest(stem)
    (RECORDED / "sources.json").write_text(json.dumps(sources, indent=1) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--record":
        sys.exit("usage: python tests/test_examples.py --record DIR")
    record(sys.argv[2])
