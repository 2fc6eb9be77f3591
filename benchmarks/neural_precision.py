"""Mixed precision: LSTMLM trained in float32 and with ``mixed_precision=True``.

Usage::

    python benchmarks/neural_precision.py --data PATH/TO/CORPORA
        [--protocols P1 P2] [--seeds 1 2 3] [--epochs 1] [--threads 2] [--json results.json]

For each protocol and seed, fits the word configuration of
``benchmarks/neural.py`` (with its ``sklm_model`` and ``run_sklm``: LSTM
2x200, embeddings of 200, dropout 0.2, BPTT 35, batch 20, SGD at learning
rate 20 held constant, clipping at 0.25) twice on the CPU with the same
``random_state``: in float32 and with ``mixed_precision=True`` (bfloat16
autocast), in alternating order from seed to seed. Prints each fit's
training tokens/s (from ``history_``) and test perplexity
(``sklm.metrics.perplexity``, always computed in float32), then the medians
over the seeds and their ratios.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from neural import LOADERS, WORD_CONFIG, run_sklm, sklm_model  # noqa: E402


def one_fit(train, test, seed, epochs, mixed):
    lm = sklm_model(
        "lstm", WORD_CONFIG, seed, max_epochs=epochs, lr_schedule=None, mixed_precision=mixed
    )
    run = run_sklm(lm, train, test)
    return {"tokens_per_s": run["tokens_per_s"], "test_perplexity": run["test_perplexity"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder of the public corpora")
    p.add_argument("--protocols", nargs="+", default=["P1", "P2"], choices=sorted(LOADERS))
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, torch "
        f"{torch.__version__}, {args.threads} threads",
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(sys.argv),
        "results": [],
    }
    for protocol in args.protocols:
        train, test = LOADERS[protocol](args.data)
        rows = []
        for i, seed in enumerate(args.seeds):
            order = [False, True] if i % 2 == 0 else [True, False]
            fits = {mixed: one_fit(train, test, seed, args.epochs, mixed) for mixed in order}
            row = {
                "protocol": protocol,
                "seed": seed,
                "float32": fits[False],
                "bfloat16": fits[True],
            }
            rows.append(row)
            print(
                f"{protocol} seed {seed}: float32 {fits[False]['tokens_per_s']:,.0f} tokens/s, "
                f"test perplexity {fits[False]['test_perplexity']:.2f}; mixed precision "
                f"{fits[True]['tokens_per_s']:,.0f} tokens/s, test perplexity "
                f"{fits[True]['test_perplexity']:.2f}",
                flush=True,
            )
        summary = {
            kind: {
                key: statistics.median(r[kind][key] for r in rows)
                for key in ("tokens_per_s", "test_perplexity")
            }
            for kind in ("float32", "bfloat16")
        }
        speed = statistics.median(
            r["bfloat16"]["tokens_per_s"] / r["float32"]["tokens_per_s"] for r in rows
        )
        cost = summary["bfloat16"]["test_perplexity"] / summary["float32"]["test_perplexity"] - 1
        print(
            f"{protocol} medians over {len(rows)} seeds: float32 "
            f"{summary['float32']['tokens_per_s']:,.0f} tokens/s, test perplexity "
            f"{summary['float32']['test_perplexity']:.2f}; mixed precision "
            f"{summary['bfloat16']['tokens_per_s']:,.0f} tokens/s, test perplexity "
            f"{summary['bfloat16']['test_perplexity']:.2f}; speed-up (median of the "
            f"per-seed ratios) {speed:.2f}x, perplexity {100 * cost:+.1f}%",
            flush=True,
        )
        out["results"].append(
            {
                "protocol": protocol,
                "runs": rows,
                "medians": summary,
                "speedup": speed,
                "perplexity_change": cost,
            }
        )
    print(json.dumps(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
