"""
N-gram order: perplexity flattens while the model keeps growing
===============================================================

A longer context should predict better, but every extra word of context
multiplies the number of distinct n-grams to store, and most long n-grams of
new text were never seen in training. This example fits
:class:`~sklm.NGramLM` models of orders 1 to 6 on one corpus and plots
their test perplexity against their size (stored n-grams and bytes), then
compares the smoothing methods side by side.

The corpus is the built-in one (:func:`sklm.datasets.load_pydoc`), with its
own test split.
"""

# %%
# Settings
# --------
# ``SKLM_EXAMPLE_QUICK=1`` in the environment shrinks every example to a
# few seconds (the test suite runs them so); figures and results go to
# ``SKLM_EXAMPLE_OUTDIR``, by default ``sklm_example_output`` in the working
# folder.
import json
import os
import pickle
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklm import NGramLM, Tokenizer
from sklm.datasets import load_pydoc
from sklm.metrics import perplexity

QUICK = os.environ.get("SKLM_EXAMPLE_QUICK", "0") == "1"
OUT_DIR = Path(os.environ.get("SKLM_EXAMPLE_OUTDIR", "sklm_example_output"))
max_order = 6

train_texts, test_texts = load_pydoc(subset="train").data, load_pydoc(subset="test").data
if QUICK:
    train_texts, test_texts, max_order = train_texts[:800], test_texts[:100], 4

tokenizer = Tokenizer()
train = tokenizer.transform(train_texts)
test = tokenizer.transform(test_texts)
print(
    f"train: {len(train)} samples, {sum(map(len, train))} tokens; "
    f"test: {len(test)} samples, {sum(map(len, test))} tokens"
)

# %%
# Perplexity and size against the order
# -------------------------------------
# Interpolated modified Kneser-Ney, the default. ``ngram_counts_`` holds the
# number of stored n-grams of each order; the bytes are those of the pickled
# model.
orders = np.arange(1, max_order + 1)
ppl, n_ngrams, n_bytes, seconds = [], [], [], []
for order in orders:
    start = time.perf_counter()
    with warnings.catch_warnings():
        # Tiny corpora cannot always estimate three discounts per order;
        # the fallback discounts are fine for this comparison.
        warnings.simplefilter("ignore", UserWarning)
        lm = NGramLM(order=int(order)).fit(train)
    seconds.append(time.perf_counter() - start)
    ppl.append(perplexity(lm, test))
    n_ngrams.append(int(np.sum(lm.ngram_counts_)))
    n_bytes.append(len(pickle.dumps(lm)))
    print(
        f"order {order}: perplexity {ppl[-1]:8.2f}, {n_ngrams[-1]:>9,} n-grams, "
        f"{n_bytes[-1] / 1e6:7.2f} MB, fit {seconds[-1]:.2f} s"
    )

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
ax1.plot(orders, ppl, "o-")
ax1.set_xlabel("order")
ax1.set_ylabel("test perplexity")
ax1.set_title("Perplexity flattens")
ax2.semilogy(orders, n_ngrams, "o-", label="stored n-grams")
ax2.semilogy(orders, n_bytes, "s--", label="bytes (pickled)")
ax2.set_xlabel("order")
ax2.set_title("The model keeps growing")
ax2.legend()
for ax in (ax1, ax2):
    ax.set_xticks(orders)
fig.supxlabel("Each extra word of context gains less perplexity, and the table keeps growing.")

# %%
# The gain of each extra word of context shrinks fast: long n-grams of new
# text are mostly unseen, and the model backs off to shorter ones. The table
# grows by a large factor per order at first; on a corpus this small the
# growth slows later only because an order cannot hold more n-grams than the
# corpus has tokens. On a larger corpus (``--corpus``), the growth stays
# steep for longer.
gains = -np.diff(np.log(ppl))
growth = np.array(n_ngrams[1:]) / np.array(n_ngrams[:-1])
for order, gain, factor in zip(orders[1:], gains, growth):
    print(f"order {order - 1} -> {order}: log-perplexity -{gain:.3f}, n-grams x{factor:.2f}")

# %%
# Smoothing methods side by side
# ------------------------------
# ``"mle"`` gives every unseen event probability zero, so its perplexity is
# infinite as soon as the test set holds one unseen n-gram. ``"stupid_backoff"``
# gives scores, not probabilities, and ends its back-off at the relative
# frequency of the word, which is zero for a word never seen in training: its
# pseudo-perplexity is infinite on any test set with an unknown word. Both
# are printed, neither can be plotted.
smoothings = {
    "kneser_ney": {},
    "witten_bell": {},
    "absolute_discounting": {},
    "add_k (alpha=0.01)": {"smoothing": "add_k", "alpha": 0.01},
    "add_k (alpha=1, Laplace)": {"smoothing": "add_k", "alpha": 1.0},
    "stupid_backoff": {},
    "mle": {},
}
fig2, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
smoothing_ppl = {}
for name, params in smoothings.items():
    params = params or {"smoothing": name}
    values = []
    for order in orders:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            lm = NGramLM(order=int(order), **params).fit(train)
        values.append(perplexity(lm, test))
    print(f"{name:26s}" + " ".join(f"{v:9.1f}" for v in values))
    # JSON has no infinity: an infinite perplexity is written as null.
    smoothing_ppl[name] = [float(v) if np.isfinite(v) else None for v in values]
    if np.all(np.isinf(values)):
        continue
    ax.plot(orders, values, marker="o", label=name)
ax.set_yscale("log")
ax.set_xlabel("order")
ax.set_ylabel("test perplexity")
ax.set_xticks(orders)
ax.set_title("Smoothing methods (mle, stupid_backoff: infinite)")
ax.legend(fontsize="small")
fig2.supxlabel("Kneser-Ney is the best smoothing at every order.")

# %%
# Kneser-Ney is the best at every order, and the only one that keeps
# improving with the order here: Witten-Bell and absolute discounting lose
# ground beyond order 3, where their lower-order distributions (plain
# frequencies, not continuation counts) are consulted more and more. Add-k
# gives far too much mass to unseen events and gets *worse* with the order:
# longer contexts are seen fewer times, so the pseudo-counts dominate.

OUT_DIR.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT_DIR / "plot_2_ngram_order.png", dpi=100)
fig2.savefig(OUT_DIR / "plot_2_ngram_smoothing.png", dpi=100)
results = {
    "orders": orders.tolist(),
    "perplexity": [float(v) for v in ppl],
    "n_ngrams": n_ngrams,
    "n_bytes": n_bytes,
    "smoothing_perplexity": smoothing_ppl,
}
(OUT_DIR / "plot_2_ngram_order.json").write_text(json.dumps(results, indent=1))
print(f"figures and results saved in {OUT_DIR}")
