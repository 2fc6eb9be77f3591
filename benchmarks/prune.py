"""Model size against test perplexity for the two kinds of n-gram pruning.

Protocol P1U (``data/README.md`` of the shared corpora): train on
``ptb.valid.txt``, test on ``ptb.test.txt``. For each order, one
Kneser-Ney model per setting of

- count pruning, ``NGramLM(prune=(0, t2, t3, ...))`` (KenLM's ``lmplz
  --prune``: the n-grams seen at most ``t`` times are dropped), and
- entropy pruning, ``NGramLM(prune_entropy=theta)`` (Stolcke 1998, SRILM's
  ``ngram -prune``: the n-grams whose removal raises the perplexity by a
  relative amount below ``theta`` are dropped),

prints the number of stored n-grams above the unigrams, the test perplexity
and the fit time as a Markdown table, and draws size against perplexity in a
PNG.

Usage: ``python benchmarks/prune.py [--data PATH] [--orders 3 5] [--png PATH]``
(default ``../shared/data``; no PNG unless ``--png`` is given).
"""

import argparse
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _corpora  # noqa: E402

from sklm import NGramLM  # noqa: E402

COUNT_THRESHOLDS = [0, 1, 2, 3, 5, 10]
ENTROPY_THRESHOLDS = [1e-9, 1e-8, 1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4]


def measure(train, test, order, **params):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # P1U gives every discount
        lm = NGramLM(order=order, **params).fit(train)
    fit_time = time.perf_counter() - start
    return {
        "ngrams": int(lm.ngram_counts_[1:].sum()),
        "perplexity": float(np.exp(-lm.score(test))),
        "fit_s": fit_time,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data", help="folder of the corpora")
    parser.add_argument("--orders", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--png", help="write the figure there")
    args = parser.parse_args(argv)
    train, test = _corpora.load_p1u(args.data)
    print(f"P1U, Kneser-Ney; {platform.machine()}, {time.strftime('%Y-%m-%d')}")
    print("| order | pruning | setting | n-grams (orders >= 2) | test perplexity | fit (s) |")
    print("|---|---|---|---|---|---|")
    results = {}
    for order in args.orders:
        for t in COUNT_THRESHOLDS:
            prune = (0,) + (t,) * (order - 1)
            row = measure(train, test, order, prune=prune)
            results.setdefault((order, "count"), []).append(row)
            setting = f"prune={prune}" if t else "none"
            print(
                f"| {order} | count | {setting} | {row['ngrams']:,} | "
                f"{row['perplexity']:.2f} | {row['fit_s']:.2f} |"
            )
        for theta in ENTROPY_THRESHOLDS:
            row = measure(train, test, order, prune_entropy=theta)
            results.setdefault((order, "entropy"), []).append(row)
            print(
                f"| {order} | entropy | prune_entropy={theta:g} | {row['ngrams']:,} | "
                f"{row['perplexity']:.2f} | {row['fit_s']:.2f} |"
            )
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for (order, kind), rows in results.items():
            ax.plot(
                [r["ngrams"] for r in rows],
                [r["perplexity"] for r in rows],
                marker="o" if kind == "count" else "s",
                linestyle="-" if kind == "count" else "--",
                label=f"order {order}, {kind} pruning",
            )
        ax.set_xscale("log")
        ax.set_xlabel("stored n-grams of orders 2 and up (log scale)")
        ax.set_ylabel("test perplexity (P1U)")
        ax.set_title("Kneser-Ney on P1U: model size against perplexity")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.png)
        print(f"figure written to {args.png}")


if __name__ == "__main__":
    main()
