"""
Vanishing gradients: how far back can a recurrent model remember?
=================================================================

A synthetic task where one token decides another far away. Each sample is

``k . . . . ? K``

a key ``k`` (one of ``a b c d``), a run of filler tokens ``.`` of varying
length, a query ``?``, and the answer ``K``: the key, in capitals. A language
model that predicts the answer after ``?`` must carry the key across the
fillers. Everything else in the sample is either random (the key, the length
of the run) or trivial (the fillers), so the answer is the one thing there
is to learn.

We train :class:`~sklm.RNNLM` (tanh and ReLU), :class:`~sklm.LSTMLM` and
:class:`~sklm.GRULM` with the same size and budget, measure the accuracy of
the predicted answer against the distance, and then look inside the trained
networks: the norm of the gradient of the loss with respect to the hidden
state :math:`k` steps back (see :ref:`vanishing_exploding`).
"""

# %%
# The task
# --------
# ``SKLM_EXAMPLE_QUICK=1`` in the environment shrinks every example to a
# few seconds (the test suite runs them so); the figures and results are
# written to ``SKLM_EXAMPLE_OUTDIR``, by default ``sklm_example_output``
# in the working folder.
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from sklm import GRULM, LSTMLM, RNNLM

QUICK = os.environ.get("SKLM_EXAMPLE_QUICK", "0") == "1"
OUT_DIR = Path(os.environ.get("SKLM_EXAMPLE_OUTDIR", "sklm_example_output"))
MAX_DISTANCE, N_SAMPLES, EPOCHS = (8, 300, 2) if QUICK else (30, 3000, 15)

KEYS = ["a", "b", "c", "d"]
rng = np.random.RandomState(0)


def make_samples(n, distances):
    """``n`` samples ``key . . . ? KEY``, distances drawn with probability ~ 1 / distance."""
    keys = rng.randint(len(KEYS), size=n)
    weights = 1.0 / np.asarray(distances, dtype=float)
    gaps = rng.choice(distances, size=n, p=weights / weights.sum())
    return [[KEYS[k]] + ["."] * int(g) + ["?", KEYS[k].upper()] for k, g in zip(keys, gaps)]


# Short distances are drawn more often, so that every model has easy
# examples to start learning from.
distances = np.arange(1, MAX_DISTANCE + 1)
train = make_samples(N_SAMPLES, distances)
print(train[0], train[1], sep="\n")

# %%
# Four recurrent models, one budget
# ---------------------------------
# Same embedding and hidden sizes, optimiser, learning rate and number of
# epochs. The learning rate is kept constant (``lr_schedule=None``) so that
# no model is slowed down by a schedule reacting to noise.
common = dict(
    embedding_dim=16,
    hidden_size=32,
    learning_rate=0.01,
    lr_schedule=None,
    batch_size=16,
    max_epochs=EPOCHS,
    random_state=0,
)
models = {
    "RNN (tanh)": RNNLM(nonlinearity="tanh", **common),
    "RNN (relu)": RNNLM(nonlinearity="relu", **common),
    "LSTM": LSTMLM(**common),
    "GRU": GRULM(**common),
}
for name, lm in models.items():
    lm.fit(train)
    seconds = sum(h["seconds"] for h in lm.history_)
    print(f"{name:11s} final training loss {lm.history_[-1]['train_loss']:.3f} ({seconds:.1f} s)")

# %%
# Accuracy against distance
# -------------------------
# For each distance, fresh samples cut just after the ``?``: the model's
# most likely next token (``predict``) should be the key in capitals. Chance
# is 1 in 4.
n_test = 50 if QUICK else 200
accuracy = {name: [] for name in models}
for d in distances:
    test = make_samples(n_test, [d])
    contexts = [s[:-1] for s in test]
    answers = np.array([s[-1] for s in test], dtype=object)
    for name, lm in models.items():
        accuracy[name].append(float(np.mean(lm.predict(contexts) == answers)))
for name, acc in accuracy.items():
    print(
        f"{name:11s} accuracy, distances 1-5: {np.mean(acc[:5]):.2f}, "
        f"last 5: {np.mean(acc[-5:]):.2f}, at {MAX_DISTANCE}: {acc[-1]:.2f}"
    )

# %%
# Gradients through time
# ----------------------
# The fitted ``module_`` is a plain :class:`torch.nn.Module`, so we can run
# it one step at a time, keep every hidden state :math:`s_t` and ask torch
# for :math:`\partial L / \partial s_{T-k}`, where :math:`L` is the loss of
# the answer at the last step :math:`T`. The norm tells how much the answer
# can still teach the state :math:`k` steps back.


def state_gradient_norms(lm, samples):
    module = lm.module_
    module.eval()
    ids = np.array([[module.bos_id] + [lm.vocabulary_[t] for t in s[:-1]] for s in samples]).T
    target = torch.tensor([lm.vocabulary_[s[-1]] for s in samples])
    inputs = module.embedding(torch.from_numpy(ids))
    state, states = None, []
    for t in range(inputs.shape[0]):
        _, state = module.rnn(inputs[t : t + 1], state)
        hidden = state[0] if isinstance(state, tuple) else state  # (layers, batch, hidden)
        hidden.retain_grad()
        states.append(hidden)
    # The last layer's state after the last input is the output the answer is read from.
    loss = -module.target_log_prob(states[-1][-1], target).mean()
    loss.backward()
    norms = [s.grad[-1].norm(dim=1).mean().item() for s in reversed(states)]
    return np.array(norms)  # norms[k]: k steps before the last input


probe = make_samples(64, [MAX_DISTANCE])
gradient_norms = {}
for name in ("RNN (tanh)", "LSTM"):
    norms = state_gradient_norms(models[name], probe)
    gradient_norms[name] = norms
    far = f"{norms[-1]:.2e}" if norms[-1] > 0 else "0 (below float32's smallest number)"
    print(
        f"{name:11s} gradient norm: 1 step back {norms[1]:.2e}, {len(norms) - 1} steps back {far}"
    )

# %%
# The figure
# ----------
# Left, what each model learnt; right, why. The curves are drawn with
# distinct markers and line styles: several of them lie on top of each
# other at accuracy 1.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
styles = {"RNN (tanh)": ("o-", 4), "RNN (relu)": ("s--", 5), "LSTM": ("^-", 9), "GRU": ("v:", 6)}
for name, acc in accuracy.items():
    style, size = styles[name]
    ax1.plot(distances, acc, style, markersize=size, fillstyle="none", label=name)
ax1.axhline(1 / len(KEYS), color="gray", linestyle=":", label="chance")
ax1.set_xlabel("distance (filler tokens between key and query)")
ax1.set_ylabel("accuracy of the predicted answer")
ax1.set_ylim(0, 1.05)
ax1.legend(loc="center right")
ax1.set_title("Remembering the key")
for name, norms in gradient_norms.items():
    steps = np.arange(len(norms))
    # Zeros (float32 underflow) cannot be drawn on a log axis: they end the curve.
    alive = norms > 0
    ax2.semilogy(steps[alive], norms[alive], marker="o", markersize=3, label=name)
    if not alive.all():
        k = int(np.argmin(alive))
        ax2.plot(
            [k - 1],
            [norms[k - 1]],
            "x",
            color=ax2.lines[-1].get_color(),
            markersize=10,
            mew=2,
            label=f"{name}: exactly 0 from k = {k}",
        )
ax2.set_xlabel("k (steps back from the query)")
ax2.set_ylabel(r"$\|\partial L / \partial s_{T-k}\|$")
ax2.set_title("Gradient reaching the state k steps back")
ax2.legend()
fig.supxlabel(
    "LSTM and GRU remember the key at every distance; the tanh RNN's gradient "
    "vanishes, and it stays at chance."
)

# %%
# What this run shows (distances up to 30, 3,000 samples, 15 epochs, as
# built on this page): the LSTM and the GRU answer correctly at every
# distance, and so does the ReLU RNN at the short ones (its derivative is 1
# on its active units) before it falls off. The tanh RNN stays near chance
# at *every* distance, short ones included: the task mixes distances, and
# the gradient that reaches its state shrinks by orders of magnitude per
# step back (right panel; it underflows to zero within a few steps), so the
# key, always at the start, is never learnt. The LSTM's gradient, carried
# by its additive cell state, is still alive after 30 steps.

OUT_DIR.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT_DIR / "plot_3_vanishing_gradients.png", dpi=100)
results = {
    "max_distance": MAX_DISTANCE,
    "accuracy": accuracy,
    "gradient_norms": {name: norms.tolist() for name, norms in gradient_norms.items()},
}
(OUT_DIR / "plot_3_vanishing_gradients.json").write_text(json.dumps(results, indent=1))
print(f"figure and results saved in {OUT_DIR}")
