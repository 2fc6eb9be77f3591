"""
Generating text: the temperature
================================

Two character-level LSTM models, one of English (Shakespeare's, from the
Tiny Shakespeare corpus of char-rnn fame, when it can be downloaded) and
one of Python source code (the standard library that ships with Python),
generate text at temperatures 0.5, 1.0 and 1.5. The temperature :math:`T`
reshapes the model's distribution before each draw,
:math:`p_T(w) \\propto p(w)^{1/T}` (see :ref:`generation`): below 1 it favours
the likely characters, above 1 it gives the unlikely ones a chance.
"""

# %%
# Data
# ----
# Tiny Shakespeare comes through :func:`sklm.datasets.fetch_tiny_shakespeare`
# (downloaded once, then cached); when it cannot be downloaded (this
# documentation is built offline), the English of the built-in corpus
# (:func:`sklm.datasets.load_pydoc`) stands in for it: a model of technical
# prose instead of verse, but one as large. ``SKLM_EXAMPLE_QUICK=1`` in the environment
# shrinks every example to a few seconds and never downloads (the test suite
# runs them so); figures and results go to ``SKLM_EXAMPLE_OUTDIR``, by
# default ``sklm_example_output`` in the working folder.
import json
import os
import sysconfig
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import make_pipeline

from sklm import LSTMLM, Tokenizer, generate
from sklm.datasets import fetch_tiny_shakespeare, load_pydoc

QUICK = os.environ.get("SKLM_EXAMPLE_QUICK", "0") == "1"
OUT_DIR = Path(os.environ.get("SKLM_EXAMPLE_OUTDIR", "sklm_example_output"))
# Characters of each corpus to train on, and the training budget of each
# model in seconds.
N_CHARS, MAX_TIME = (20_000, 2.0) if QUICK else (300_000, 45.0)


def english_text():
    """The corpus's name, its text and a prompt to start from."""
    try:
        # The download is cached in $SKLM_DATA, else in the working folder.
        bunch = fetch_tiny_shakespeare(
            subset="all",
            download_if_missing=not QUICK,
            data_home=os.environ.get("SKLM_DATA", "sklm_data"),
        )
        return "Shakespeare", Path(bunch.filename).read_text(encoding="utf-8"), "ROMEO:\n"
    except OSError:
        print("Tiny Shakespeare is unavailable: the built-in corpus's English stands in.")
        return "English prose", "\n".join(load_pydoc(subset="train").data), "The "


def python_text():
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    names = [
        "textwrap.py",
        "string.py",
        "bisect.py",
        "heapq.py",
        "fnmatch.py",
        "colorsys.py",
        "shlex.py",
        "queue.py",
        "calendar.py",
        "difflib.py",
    ]
    parts = [(stdlib / n).read_text(encoding="utf-8") for n in names if (stdlib / n).exists()]
    return "Python", "\n\n".join(parts), "def "


corpora, prompts = {}, {}
for label, text, prompt in (english_text(), python_text()):
    corpora[label], prompts[label] = text[:N_CHARS], prompt
    print(f"{label}: {len(corpora[label]):,} characters")

# %%
# Character-level models, each text one long sample
# -------------------------------------------------
# ``Tokenizer(analyzer="char", lowercase=False)`` keeps every character,
# spaces, newlines and case included. Each corpus is fed as *one* sample,
# the whole text: the model cuts it into ``batch_size`` parallel streams and
# carries its recurrent state from one window of ``bptt`` characters to the
# next, so a line is read with everything before it as context, as in
# char-rnn (see the user guide on long documents). Training stops after
# ``max_time`` seconds.
models = {}
for label, text in corpora.items():
    pipe = make_pipeline(
        Tokenizer(analyzer="char", lowercase=False),
        LSTMLM(
            embedding_dim=32,
            hidden_size=32 if QUICK else 256,
            learning_rate=3e-3,
            bptt=100,
            batch_size=16,
            max_epochs=100,
            max_time=MAX_TIME,
            random_state=0,
        ),
    )
    pipe.fit([text])
    history = pipe[-1].history_
    print(
        f"{label}: {len(history)} epochs, final training loss "
        f"{history[-1]['train_loss']:.3f} nats/char"
    )
    models[label] = pipe

# %%
# Samples at three temperatures
# -----------------------------
temperatures = (0.5, 1.0, 1.5)
max_length = 150 if QUICK else 400
for label, pipe in models.items():
    for temperature in temperatures:
        (text,) = generate(
            pipe, prompts[label], temperature=temperature, max_length=max_length, random_state=0
        )
        print(f"----- {label}, temperature {temperature} -----")
        print(text)

# %%
# What the temperature does to one distribution
# ---------------------------------------------
# The next-character distribution after each prompt, reshaped by each
# temperature: the 12 most likely characters (``\n`` is a newline, ``␣`` a
# space), and in the legend the entropy of the whole distribution, in bits:
# the lower, the more concentrated.
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
entropy = {}
for ax, (label, pipe) in zip(axes, models.items()):
    lm = pipe[-1]
    context = pipe[:-1].transform([prompts[label]])
    log_p = np.log(lm.predict_proba(context)[0])
    top = np.argsort(-log_p)[:12]
    names = [{"\n": "\\n", " ": "␣"}.get(c, c) for c in lm.classes_[top]]
    width = 0.27
    entropy[label] = {}
    for i, temperature in enumerate(temperatures):
        p_t = np.exp((log_p - log_p.max()) / temperature)
        p_t /= p_t.sum()
        bits = float(-np.sum(p_t[p_t > 0] * np.log2(p_t[p_t > 0])))
        entropy[label][str(temperature)] = bits
        ax.bar(
            np.arange(12) + (i - 1) * width,
            p_t[top],
            width,
            label=f"T = {temperature}: entropy {bits:.2f} bits",
        )
    ax.set_xticks(np.arange(12), names)
    ax.set_ylabel("probability of the next character")
    ax.set_title(f"{label}: after {prompts[label]!r}")
    ax.legend(fontsize="small")
    print(
        f"{label}: entropy of the next character "
        + ", ".join(f"{bits:.2f} bits at T = {t}" for t, bits in entropy[label].items())
    )
fig.supxlabel(
    "A lower temperature concentrates the distribution on the likeliest "
    "characters: the entropy falls with T."
)

# %%
# At 0.5 the samples are conservative and repetitive, at 1.0 they follow the
# model's own distribution, and at 1.5 rare characters win often enough to
# break words and syntax: the flattening that the bars show, applied at
# every step.

OUT_DIR.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT_DIR / "plot_6_temperature.png", dpi=100)
results = {
    "temperatures": list(temperatures),
    "entropy_bits": entropy,
    "final_train_loss": {
        label: pipe[-1].history_[-1]["train_loss"] for label, pipe in models.items()
    },
}
(OUT_DIR / "plot_6_temperature.json").write_text(json.dumps(results, indent=1))
print(f"figure and results saved in {OUT_DIR}")
