"""
Learning curves: reading ``history_``
=====================================

Every recurrent model records one entry per epoch in ``history_``: the
training loss, the validation perplexity (with ``early_stopping=True``), the
gradient norm before clipping, the learning rate, the time and the speed.
:func:`sklm.plotting.plot_history` draws it. Here two LSTMs, without and
with dropout, are trained with early stopping, and their curves compared.
"""

# %%
# Settings
# --------
# The built-in corpus, word level. ``SKLM_EXAMPLE_QUICK=1`` in the
# environment shrinks every example to a few seconds (the test suite runs
# them so); figures and results go to ``SKLM_EXAMPLE_OUTDIR``, by default
# ``sklm_example_output`` in the working folder.
import json
import os
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from sklm import LSTMLM, Tokenizer
from sklm.datasets import load_pydoc
from sklm.metrics import perplexity
from sklm.plotting import plot_history

QUICK = os.environ.get("SKLM_EXAMPLE_QUICK", "0") == "1"
OUT_DIR = Path(os.environ.get("SKLM_EXAMPLE_OUTDIR", "sklm_example_output"))
EPOCHS, HIDDEN_SIZE, LEARNING_RATE = 12, 256, 1e-2

# The built-in corpus repeats sentences (about a fifth of its training
# sentences occur more than once). Early stopping draws its validation
# samples at random from the training samples, so a repeated sentence could
# sit on both sides and reward memorising it: each sentence is kept once.
texts = list(dict.fromkeys(load_pydoc(subset="train").data))
test_texts = load_pydoc(subset="test").data
if QUICK:
    texts, EPOCHS, HIDDEN_SIZE = texts[:400], 3, 16
tokenizer = Tokenizer()
train, test = tokenizer.transform(texts), tokenizer.transform(test_texts)

# %%
# Two models, early stopping
# --------------------------
# ``early_stopping=True`` holds out 10 % of the samples, measures their
# perplexity after every epoch, stops after ``n_iter_no_change`` epochs
# without improvement and keeps the weights of the best epoch. A large
# network (256 hidden units) on a small corpus (2,227 sentences) with a
# large learning rate overfits within a few epochs; dropout slows that down.
models = {
    "dropout 0": LSTMLM(dropout=0.0),
    "dropout 0.5": LSTMLM(dropout=0.5),
}
for name, lm in models.items():
    lm.set_params(
        embedding_dim=64,
        hidden_size=HIDDEN_SIZE,
        learning_rate=LEARNING_RATE,
        max_epochs=EPOCHS,
        early_stopping=True,
        n_iter_no_change=3,
        random_state=0,
    )
    lm.fit(train)
    history = lm.history_
    best = min(history, key=lambda h: h["valid_perplexity"])
    print(
        f"{name}: {len(history)} epochs, best validation perplexity "
        f"{best['valid_perplexity']:.2f} at epoch {best['epoch']} "
        f"(training loss then {best['train_loss']:.3f}); test perplexity "
        f"{perplexity(lm, test):.2f}"
    )

# %%
# The curves
# ----------
# Passing the axes of the first call to the second draws both models on
# the same panels.
axes = None
for name, lm in models.items():
    axes = plot_history(
        lm, metrics=["train_loss", "valid_perplexity", "grad_norm"], axes=axes, label=name
    )
fig = axes[0].figure
for ax in axes:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
fig.suptitle("LSTM language models with early stopping")
fig.supxlabel(
    "Without dropout the training loss plunges while the validation "
    "perplexity turns up; with dropout 0.5 both keep falling, to a better model."
)

# %%
# The model without dropout drives its training loss down fastest, but its
# validation perplexity is best after a few epochs and then rises: it is
# learning its training sentences, not the language. Early stopping ends
# its training three epochs later and keeps the weights of the best epoch.
# With dropout 0.5 the training loss falls more slowly, the validation
# perplexity keeps improving for longer and ends lower, and so does the
# perplexity on the corpus's own test split (printed above): dropout trades
# speed of learning for a smaller gap between training and new text. The
# gradient norms (right), averaged per epoch, stay within a factor of two
# and give no warning of the overfitting: only held-out data shows it.

OUT_DIR.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT_DIR / "plot_8_learning_curves.png", dpi=100)
results = {
    name: {
        "history": [
            {key: h[key] for key in ("epoch", "train_loss", "valid_perplexity", "grad_norm")}
            for h in lm.history_
        ],
        "test_perplexity": perplexity(lm, test),
    }
    for name, lm in models.items()
}
(OUT_DIR / "plot_8_learning_curves.json").write_text(json.dumps(results, indent=1))
print(f"figure and results saved in {OUT_DIR}")
