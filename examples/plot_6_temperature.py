"""
Generating text: the temperature
================================

Two character-level LSTM models, one of Shakespeare (the Tiny Shakespeare
corpus of char-rnn fame) and one of Python source code (the standard
library that ships with Python), generate text at temperatures 0.5, 1.0 and
1.5. The temperature :math:`T` reshapes the model's distribution before each
draw, :math:`p_T(w) \\propto p(w)^{1/T}` (see :ref:`generation`): below 1 it
favours the likely characters, above 1 it gives the unlikely ones a chance.
"""

# %%
# Data
# ----
# Tiny Shakespeare comes through :func:`sklm.datasets.fetch_tiny_shakespeare`
# (downloaded once, then cached); when it cannot be downloaded, a few
# public-domain passages kept in this script stand in for it. ``--corpus
# PATH`` reads a local copy instead. ``--quick`` never downloads and trains
# tiny models for a few seconds.
import argparse
import os
import sys
import sysconfig
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import make_pipeline

from sklm import LSTMLM, Tokenizer, generate
from sklm.datasets import fetch_tiny_shakespeare

parser = argparse.ArgumentParser(description="Character-level generation at three temperatures.")
parser.add_argument("--corpus", type=Path, help="local copy of Tiny Shakespeare (input.txt)")
parser.add_argument("--n-chars", type=int, default=300_000,
                    help="characters of each corpus to train on")
parser.add_argument("--max-time", type=float, default=120.0,
                    help="training budget per model, in seconds")
parser.add_argument("--quick", action="store_true",
                    default=os.environ.get("SKLM_EXAMPLE_QUICK", "0") not in ("", "0"))
parser.add_argument("--out-dir", type=Path, default=os.environ.get("SKLM_EXAMPLE_OUTDIR")
                    or Path(sys.argv[0]).resolve().parent / "output")
args, _ = parser.parse_known_args()
if args.quick:
    args.n_chars, args.max_time = 20_000, 2.0

FALLBACK = """\
Shall I compare thee to a summer's day?
Thou art more lovely and more temperate:
Rough winds do shake the darling buds of May,
And summer's lease hath all too short a date;
Sometime too hot the eye of heaven shines,
And often is his gold complexion dimm'd;
And every fair from fair sometime declines,
By chance or nature's changing course untrimm'd;
But thy eternal summer shall not fade,
Nor lose possession of that fair thou ow'st;
Nor shall death brag thou wander'st in his shade,
When in eternal lines to time thou grow'st:
So long as men can breathe or eyes can see,
So long lives this, and this gives life to thee.

Let me not to the marriage of true minds
Admit impediments. Love is not love
Which alters when it alteration finds,
Or bends with the remover to remove:
O no! it is an ever-fixed mark
That looks on tempests and is never shaken;
It is the star to every wandering bark,
Whose worth's unknown, although his height be taken.

HAMLET:
To be, or not to be: that is the question:
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune,
Or to take arms against a sea of troubles,
And by opposing end them? To die: to sleep;
No more; and by a sleep to say we end
The heart-ache and the thousand natural shocks
That flesh is heir to, 'tis a consummation
Devoutly to be wish'd.
"""


def shakespeare_text():
    if args.corpus is not None:
        return args.corpus.read_text(encoding="utf-8"), str(args.corpus)
    try:
        bunch = fetch_tiny_shakespeare(subset="all", download_if_missing=not args.quick)
        return Path(bunch.filename).read_text(encoding="utf-8"), "Tiny Shakespeare"
    except OSError as error:
        print(f"Tiny Shakespeare unavailable ({error}); using the passages kept in this script.")
        return FALLBACK, "fallback passages"


def python_text():
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    names = ["textwrap.py", "string.py", "bisect.py", "heapq.py", "fnmatch.py",
             "colorsys.py", "shlex.py", "queue.py", "calendar.py", "difflib.py"]
    parts = [(stdlib / n).read_text(encoding="utf-8") for n in names if (stdlib / n).exists()]
    return "\n\n".join(parts), "Python standard library"


def blocks(text, n_chars):
    """Paragraphs (speeches, or code between blank lines) of the first ``n_chars``."""
    out = []
    for block in text[:n_chars].split("\n\n"):
        block = block.strip("\n")
        if block.strip():
            out.append(block + "\n")
    return out


corpora = {}
for label, (text, source) in {"Shakespeare": shakespeare_text(),
                              "Python": python_text()}.items():
    corpora[label] = blocks(text, args.n_chars)
    n = sum(map(len, corpora[label]))
    print(f"{label}: {len(corpora[label])} blocks, {n:,} characters from {source}")

# %%
# Character-level models
# ----------------------
# ``Tokenizer(analyzer="char", lowercase=False)`` keeps every character,
# spaces, newlines and case included. Each block is one sample, so a model
# learns where a speech or a block of code ends (``</s>``). Training stops
# after ``max_time`` seconds.
models = {}
for label, samples in corpora.items():
    pipe = make_pipeline(
        Tokenizer(analyzer="char", lowercase=False),
        LSTMLM(embedding_dim=32, hidden_size=32 if args.quick else 256, learning_rate=3e-3,
               bptt=100, batch_size=16, max_epochs=100, max_time=args.max_time,
               random_state=0),
    )
    pipe.fit(samples)
    history = pipe[-1].history_
    print(f"{label}: {len(history)} epochs, final training loss "
          f"{history[-1]['train_loss']:.3f} nats/char")
    models[label] = pipe

# %%
# Samples at three temperatures
# -----------------------------
prompts = {"Shakespeare": "ROMEO:\n", "Python": "def "}
temperatures = (0.5, 1.0, 1.5)
max_length = 150 if args.quick else 400
for label, pipe in models.items():
    for temperature in temperatures:
        (text,) = generate(pipe, prompts[label], temperature=temperature,
                           max_length=max_length, random_state=0)
        print(f"----- {label}, temperature {temperature} -----")
        print(text)

# %%
# What the temperature does to one distribution
# ---------------------------------------------
# The next-character distribution after each prompt, reshaped by each
# temperature: the 12 most likely characters (``\n`` is a newline, ``␣`` a
# space).
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
for ax, (label, pipe) in zip(axes, models.items()):
    lm = pipe[-1]
    context = pipe[:-1].transform([prompts[label]])
    log_p = np.log(lm.predict_proba(context)[0])
    top = np.argsort(-log_p)[:12]
    names = [{"\n": "\\n", " ": "␣"}.get(c, c) for c in lm.classes_[top]]
    width = 0.27
    for i, temperature in enumerate(temperatures):
        p_t = np.exp((log_p - log_p.max()) / temperature)
        p_t /= p_t.sum()
        ax.bar(np.arange(12) + (i - 1) * width, p_t[top], width, label=f"T = {temperature}")
    ax.set_xticks(np.arange(12), names)
    ax.set_ylabel("probability of the next character")
    ax.set_title(f"{label}: after {prompts[label]!r}")
    ax.legend()

# %%
# At 0.5 the samples are conservative and repetitive, at 1.0 they follow the
# model's own distribution, and at 1.5 rare characters win often enough to
# break words and syntax: the flattening that the bars show, applied at
# every step.

args.out_dir = Path(args.out_dir)
args.out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(args.out_dir / "plot_6_temperature.png", dpi=100)
print(f"figure saved in {args.out_dir}")
