"""Every example of the gallery runs, at a small size, and saves its figure."""

import ast
import os
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
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_every_lesson_has_an_example():
    assert [p.stem for p in EXAMPLES] == LESSONS


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_a_gallery_script(script):
    # sphinx-gallery takes the title from the module docstring: a title
    # underlined with "=" of the same length, then a description.
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")), clean=False)
    assert doc is not None, f"{script.name} has no module docstring"
    lines = doc.strip("\n").splitlines()
    assert len(lines) > 3 and set(lines[1]) == {"="} and len(lines[1]) == len(lines[0])
    assert lines[3].strip(), "a description must follow the title"


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_in_quick_mode(script, tmp_path):
    env = dict(os.environ)
    env.update(
        SKLM_EXAMPLE_QUICK="1",
        SKLM_EXAMPLE_OUTDIR=str(tmp_path / "figures"),
        # An empty data home: an example that would download falls back to
        # its local text instead, so the test never touches the network.
        SKLM_DATA=str(tmp_path / "data"),
        MPLBACKEND="Agg",
        # Tiny models train faster on one thread, and parallel test workers
        # must not oversubscribe the cores.
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p]),
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "saved in" in result.stdout
    figures = sorted((tmp_path / "figures").glob("*.png"))
    assert figures, f"{script.name} saved no figure"
    for figure in figures:
        data = figure.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, figure.name


def test_example_arguments_corpus_and_out_dir(tmp_path):
    # The command-line route: --quick, --corpus and --out-dir instead of the
    # environment, on a corpus of our own.
    words = "the cat sat on the mat while a dog ran past the old red door".split()
    lines = [" ".join(words[i:] + words[:i]) for i in range(len(words))] * 8
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("SKLM_EXAMPLE_QUICK", "SKLM_EXAMPLE_OUTDIR")}
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "plot_2_ngram_order.py"),
         "--quick", "--corpus", str(corpus), "--out-dir", str(out), "--max-order", "3"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"train: {int(0.9 * len(lines))} samples" in result.stdout
    assert "order 3:" in result.stdout and "order 4:" not in result.stdout
    assert sorted(p.name for p in out.glob("*.png")) == [
        "plot_2_ngram_order.png", "plot_2_ngram_smoothing.png"]
