"""
Exploding gradients and gradient-norm clipping
==============================================

The same plain RNN, the same data, the same seed and the same learning
rate, trained twice: once with gradient-norm clipping (sklm's default,
``clip_grad_norm=0.25``) and once without (``clip_grad_norm=None``). The
gradient norms before clipping, recorded in ``history_``, show what
clipping is up against; without it, one bad step throws the weights so far
that the loss becomes NaN and training stops with an error.

Plain SGD with a large learning rate and a ReLU RNN make the effect quick
to see: the ReLU's state is not bounded, so products of recurrent Jacobians
can grow without limit (see :ref:`vanishing_exploding`).
"""

# %%
# Settings
# --------
# The built-in corpus, word level, or ``--corpus PATH``. Training runs one
# epoch per ``fit`` call with ``warm_start=True``, so that the history of
# the epochs before a divergence is kept (a failed ``fit`` leaves the model
# as it was). Plain SGD has no optimiser state, so this is the same
# training as one long ``fit``.
import argparse
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sklm import RNNLM, Tokenizer
from sklm.datasets import load_pydoc
from sklm.plotting import plot_history

parser = argparse.ArgumentParser(description="RNN training with and without gradient clipping.")
parser.add_argument("--corpus", type=Path, help="text file, one sample per line")
parser.add_argument("--epochs", type=int, default=6)
parser.add_argument("--learning-rate", type=float, default=0.5)
parser.add_argument("--quick", action="store_true",
                    default=os.environ.get("SKLM_EXAMPLE_QUICK", "0") not in ("", "0"))
parser.add_argument("--out-dir", type=Path, default=os.environ.get("SKLM_EXAMPLE_OUTDIR")
                    or Path(sys.argv[0]).resolve().parent / "output")
args, _ = parser.parse_known_args()

if args.corpus is not None:
    texts = [line for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
else:
    texts = load_pydoc(subset="train").data
if args.quick:
    texts, args.epochs = texts[:400], 3
train = Tokenizer().transform(texts)

# %%
# Two runs
# --------
runs = {}
for label, clip in (("clipped at 0.25", 0.25), ("no clipping", None)):
    lm = RNNLM(nonlinearity="relu", embedding_dim=64, hidden_size=128, optimizer="sgd",
               learning_rate=args.learning_rate, lr_schedule=None, clip_grad_norm=clip,
               min_count=2, max_epochs=1, warm_start=True, random_state=0)
    diverged = None
    for epoch in range(1, args.epochs + 1):
        try:
            lm.fit(train)
        except ValueError as error:  # a NaN or infinite loss
            diverged = epoch
            print(f"{label}: epoch {epoch} diverged: {error}")
            break
    runs[label] = (lm, diverged)
    for record in getattr(lm, "history_", []):
        print(f"{label}: epoch {record['epoch']}: loss {record['train_loss']:.3f}, "
              f"gradient norm mean {record['grad_norm']:.2f}, max {record['grad_norm_max']:.1f}")

# %%
# Loss and gradient norms
# -----------------------
# :func:`sklm.plotting.plot_history` draws each run's history on the same
# panels; a cross marks the epoch where a run diverged.
metrics = ["train_loss", "grad_norm", "grad_norm_max"]
axes = None
for label, (lm, diverged) in runs.items():
    if not hasattr(lm, "history_"):
        continue  # diverged in its very first epoch: nothing to draw
    axes = plot_history(lm, metrics=metrics, axes=axes, label=label)
    if diverged is not None:
        for ax in axes:
            line = ax.lines[-1]  # this run's curve
            ax.axvline(diverged, color=line.get_color(), linestyle=":")
            # The cross sits at the last finite value, in the epoch that diverged.
            ax.plot([diverged], [line.get_ydata()[-1]], "x", color=line.get_color(),
                    markersize=12, mew=3)
if axes is None:
    _, axes = plt.subplots(1, len(metrics), figsize=(12, 3.6), layout="constrained")
fig = axes[0].figure
fig.suptitle(f"RNN (ReLU), SGD, learning rate {args.learning_rate}: "
             + ", ".join(f"{label}: {'diverged in epoch %d' % d if d else 'trained'}"
                         for label, (_, d) in runs.items()))

# %%
# Clipping does not make the gradient small: with it, the norms before
# clipping still reach thousands in the first epoch. It bounds the size of
# each *step*, keeping its direction, so a rare huge gradient cannot throw
# the weights away; without it, one such gradient ends the run (in the
# full-size run, in the third epoch; in the quick run that builds this page,
# in the first, so only the clipped run has a curve).

args.out_dir = Path(args.out_dir)
args.out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(args.out_dir / "plot_4_exploding_gradients.png", dpi=100)
print(f"figure saved in {args.out_dir}")
