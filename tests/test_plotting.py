import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from sklm.plotting import plot_history

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _history(valid=None, n=3):
    return [
        {
            "epoch": e,
            "train_loss": 3.0 / e,
            "valid_perplexity": None if valid is None else valid[e - 1],
            "grad_norm": 10.0**e,
            "grad_norm_max": 2 * 10.0**e,
            "seconds": 0.5 * e,
        }
        for e in range(1, n + 1)
    ]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_default_panels_skip_unrecorded_validation():
    axes = plot_history(_history())
    assert [ax.get_ylabel() for ax in axes] == [
        "training loss (nats/token)",
        "gradient norm before clipping (mean)",
    ]
    np.testing.assert_allclose(axes[0].lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(axes[0].lines[0].get_ydata(), [3.0, 1.5, 1.0])
    assert axes[0].get_yscale() == "linear"
    assert axes[1].get_yscale() == "log"


def test_validation_panel_when_recorded():
    axes = plot_history(_history(valid=[50.0, 40.0, 45.0]))
    assert len(axes) == 3
    np.testing.assert_allclose(axes[1].lines[0].get_ydata(), [50.0, 40.0, 45.0])


def test_time_axis_is_cumulative_seconds():
    axes = plot_history(_history(), metrics=["train_loss"], x="time")
    np.testing.assert_allclose(axes[0].lines[0].get_xdata(), [0.5, 1.5, 3.0])
    assert axes[0].get_xlabel() == "training time (s)"


def test_overlay_on_given_axes_with_labels():
    axes = plot_history(_history(), metrics=["train_loss", "grad_norm_max"], label="a")
    plot_history(
        _history(n=2), metrics=["train_loss", "grad_norm_max"], axes=axes, label="b", color="red"
    )
    assert [len(ax.lines) for ax in axes] == [2, 2]
    assert [t.get_text() for t in axes[1].get_legend().get_texts()] == ["a", "b"]
    np.testing.assert_allclose(axes[1].lines[1].get_ydata(), [20.0, 200.0])


def test_fitted_model_and_pipeline():
    from sklm import GRULM, Tokenizer

    texts = ["the cat sat", "the dog sat", "a cat ran", "a dog ran"]
    pipe = make_pipeline(
        Tokenizer(), GRULM(hidden_size=8, embedding_dim=8, max_epochs=3, random_state=0)
    ).fit(texts)
    lm = pipe[-1]
    for source in (pipe, lm, lm.history_):
        axes = plot_history(source, metrics=["train_loss"])
        np.testing.assert_allclose(
            axes[0].lines[0].get_ydata(), [r["train_loss"] for r in lm.history_]
        )


def test_bad_input():
    from sklm import LSTMLM, NGramLM

    with pytest.raises(ValueError, match="not in the history"):
        plot_history(_history(), metrics=["bogus"])
    with pytest.raises(ValueError, match="metrics is empty"):
        plot_history(_history(), metrics=[])
    with pytest.raises(ValueError, match="x must be"):
        plot_history(_history(), x="step")
    with pytest.raises(ValueError, match="empty"):
        plot_history([])
    with pytest.raises(TypeError, match="list of dicts"):
        plot_history({"train_loss": [1.0]})
    with pytest.raises(TypeError, match=r"history\[1\]"):
        plot_history([_history()[0], 3])
    with pytest.raises(ValueError, match="fit it first"):
        plot_history(LSTMLM())
    with pytest.raises(ValueError, match="fit it first"):
        plot_history(NGramLM())
    with pytest.raises(ValueError, match="records no training history"):
        plot_history(NGramLM(order=1, smoothing="witten_bell").fit(["a b", "b a"]))
    with pytest.raises(ValueError, match="panels"):
        _, axes = plt.subplots(1, 2)
        plot_history(_history(), metrics=["train_loss"], axes=axes)
    history = _history()
    del history[1]["seconds"]
    with pytest.raises(ValueError, match="seconds"):
        plot_history(history, x="time")


def test_import_does_not_import_matplotlib():
    code = "import sys, sklm.plotting; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
