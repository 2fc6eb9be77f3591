"""
Exploding gradients and gradient-norm clipping
==============================================

The same plain RNN, the same data, the same seed and the same learning
rate, trained twice: once with gradient-norm clipping (sklm's default,
``clip_grad_norm=0.25``) and once without (``clip_grad_norm=None``). The
gradient norm before clipping, recorded at every step, shows what
clipping is up against; without it, one bad step throws the weights so far
that the loss becomes NaN and training stops with an error.

Plain SGD with a large learning rate and a ReLU RNN make the effect quick
to see: the ReLU's state is not bounded, so products of recurrent Jacobians
can grow without limit (see :ref:`vanishing_exploding`).
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

import matplotlib.pyplot as plt
import numpy as np

from sklm import RNNLM, Tokenizer
from sklm.datasets import load_pydoc
from sklm.neural.callbacks import Callback

QUICK = os.environ.get("SKLM_EXAMPLE_QUICK", "0") == "1"
OUT_DIR = Path(os.environ.get("SKLM_EXAMPLE_OUTDIR", "sklm_example_output"))
EPOCHS, LEARNING_RATE, BATCH_SIZE = 3, 0.5, 20

texts = load_pydoc(subset="train").data
if QUICK:
    texts, EPOCHS = texts[:400], 1
train = Tokenizer().transform(texts)

# %%
# Every step, recorded by a callback
# ----------------------------------
# ``history_`` keeps one record per epoch, whose mean gradient norm hides
# the spikes. A :class:`~sklm.neural.callbacks.Callback` sees every
# optimizer step: its ``on_batch_end`` hook reads the step's loss and its
# gradient norm before clipping, and it runs before the model checks the
# step for NaN, so the step that breaks a run is recorded too.


class StepRecorder(Callback):
    """The loss and the gradient norm (before clipping) of every step."""

    def on_train_begin(self, model, state):
        self.loss, self.grad_norm = [], []

    def on_batch_end(self, model, state):
        self.loss.append(float(state.batch["loss"]))
        self.grad_norm.append(float(state.batch["grad_norm"]))


runs = {}
for label, clip in (("clipped at 0.25", 0.25), ("no clipping", None)):
    recorder = StepRecorder()
    lm = RNNLM(
        nonlinearity="relu",
        embedding_dim=64,
        hidden_size=128,
        dropout=0.0,
        optimizer="sgd",
        learning_rate=LEARNING_RATE,
        lr_schedule=None,
        clip_grad_norm=clip,
        min_count=2,
        batch_size=BATCH_SIZE,
        max_epochs=EPOCHS,
        callbacks=[recorder],
        random_state=0,
    )
    try:
        lm.fit(train)
        broke = None
    except ValueError as error:  # the loss or the gradient became NaN or infinite
        print(f"{label}: {error}")
        # The first step whose loss or gradient norm is not a finite number.
        finite = np.isfinite(recorder.loss) & np.isfinite(recorder.grad_norm)
        broke = int(np.argmin(finite)) + 1 if not finite.all() else len(finite) + 1
    n_trained = len(recorder.loss) if broke is None else broke - 1
    norms, losses = recorder.grad_norm[:n_trained], recorder.loss[:n_trained]
    runs[label] = {"grad_norm": norms, "train_loss": losses, "broke_at_step": broke}
    print(
        f"{label}: {len(norms)} steps trained; gradient norm median "
        f"{np.median(norms):.2f}, max {max(norms):.1f}; last training loss {losses[-1]:.2f}"
        + (f"; step {broke}: NaN or infinite" if broke else "")
    )
steps_per_epoch = len(runs["clipped at 0.25"]["grad_norm"]) // EPOCHS

# %%
# The gradient norm of every step
# -------------------------------
# Both on a logarithmic scale: the norms span five orders of magnitude. A
# cross at the top marks the step whose loss or gradient was no longer a
# number.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
for (label, run), style in zip(runs.items(), ("-", "o-")):
    step = np.arange(1, len(run["grad_norm"]) + 1)
    (line,) = ax1.plot(step, run["grad_norm"], style, markersize=2, linewidth=1, label=label)
    ax2.plot(
        step,
        run["train_loss"],
        style,
        markersize=2,
        linewidth=1,
        color=line.get_color(),
        label=label,
    )
    if run["broke_at_step"] is not None:
        # A NaN has no place on the axis: the cross sits at the top of the panel.
        for ax in (ax1, ax2):
            ax.axvline(run["broke_at_step"], color=line.get_color(), linestyle=":")
            ax.plot(
                [run["broke_at_step"]],
                [0.95],
                "x",
                transform=ax.get_xaxis_transform(),
                color=line.get_color(),
                markersize=12,
                mew=3,
                label=f"{label}: NaN at step {run['broke_at_step']}",
            )
for ax in (ax1, ax2):
    ax.set_yscale("log")
ax1.set_ylabel("gradient norm before clipping")
ax1.set_title("Gradient norm, step by step")
ax2.set_ylabel("training loss of the step (nats/token)")
ax2.set_title("Training loss, step by step")
for ax in (ax1, ax2):
    ax.set_xlabel(f"optimizer step (about {steps_per_epoch} per epoch)")
    ax.legend(fontsize="small")
fig.suptitle(f"RNN (ReLU), SGD, learning rate {LEARNING_RATE}, batches of {BATCH_SIZE}")
fig.supxlabel(
    "Unclipped, the gradient explodes and the run ends in NaN; clipped, spikes "
    "as large are survived."
)

# %%
# Clipping does not make the gradient small: with it, the norms before
# clipping still spike a thousand times above their usual level (left). It
# bounds the size of each *step*, keeping its direction, so a rare huge
# gradient cannot throw the weights away. Without it, every spike is applied
# in full: the run survives the first ones, with weights thrown further each
# time (its usual gradient is now ten times smaller than the clipped
# run's), until, in a few steps, the norm grows by four orders of
# magnitude, the loss jumps (right), and the next step is no longer a
# number. Averaged per epoch, as ``history_`` records them, these
# spikes would be hidden: the unclipped run's mean norm is *lower* than the
# clipped run's, since most of its steps see small gradients until the few
# that break it.

OUT_DIR.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT_DIR / "plot_4_exploding_gradients.png", dpi=100)
results = {"learning_rate": LEARNING_RATE, "epochs": EPOCHS, "runs": runs}
(OUT_DIR / "plot_4_exploding_gradients.json").write_text(json.dumps(results, indent=1))
print(f"figure and results saved in {OUT_DIR}")
