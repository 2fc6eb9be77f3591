"""A Kneser-Ney n-gram model and an LSTM mixed by InterpolatedLM, on protocol P2.

Usage::

    python benchmarks/mixture.py --data PATH/TO/CORPORA [--order 5] [--epochs 4]
        [--validation-fraction 0.1] [--seed 0] [--threads 1] [--json results.json]

``PATH/TO/CORPORA`` holds the public corpora of ``benchmarks/_corpora.py``.
Protocol P2: the WikiText-2 validation part trains, its test part tests.
``InterpolatedLM`` holds out ``--validation-fraction`` of the training lines
(drawn by ``--seed``), fits both components on the rest, tunes their weights
by EM on the held-out lines, and is scored on the test part:

- ``NGramLM(order=5)``: interpolated modified Kneser-Ney (KenLM's lmplz);
- ``LSTMLM``: 2 layers of 200 units, embeddings of 200, dropout 0.2, Adam
  (learning rate 1e-3), batch 20, BPTT 35, ``--epochs`` epochs, on the CPU.

Both learn the same vocabulary (every word of the lines they are fitted on).
Prints each component's and the mixture's test perplexity, the ratio of the
mixture's to the better component's (target <= 0.90), the weights and the
held-out perplexities, then a JSON summary (also written to ``--json``).
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpora  # noqa: E402

from sklm import LSTMLM, InterpolatedLM, NGramLM  # noqa: E402
from sklm.metrics import perplexity  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="folder of the public corpora")
    p.add_argument("--order", type=int, default=5)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--validation-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads of the LSTM (1 suits a machine shared with other work)",
    )
    p.add_argument("--json", help="also write the summary here")
    args = p.parse_args()

    train, test = _corpora.load_p2(args.data)
    lm = InterpolatedLM(
        estimators=[
            ("kneser_ney", NGramLM(order=args.order)),
            (
                "lstm",
                LSTMLM(
                    embedding_dim=200,
                    hidden_size=200,
                    num_layers=2,
                    dropout=0.2,
                    optimizer="adam",
                    learning_rate=1e-3,
                    batch_size=20,
                    bptt=35,
                    max_epochs=args.epochs,
                    device="cpu",
                    n_threads=args.threads,
                    random_state=args.seed,
                    verbose=1,
                ),
            ),
        ],
        validation_fraction=args.validation_fraction,
        random_state=args.seed,
        verbose=1,
    )
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    lm.fit(train)
    fit_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    mixture_ppl = perplexity(lm, test)
    score_seconds = time.perf_counter() - t0
    names = list(lm.named_estimators_)
    component_ppl = {name: perplexity(lm.named_estimators_[name], test) for name in names}
    best = min(component_ppl.values())
    summary = {
        "protocol": "P2",
        "train_lines": len(train),
        "test_lines": len(test),
        "test_predictions": sum(len(line.split()) + 1 for line in test),
        "vocabulary": len(lm.classes_),
        "order": args.order,
        "epochs": args.epochs,
        "validation_fraction": args.validation_fraction,
        "seed": args.seed,
        "weights": dict(zip(names, lm.weights_.round(4).tolist())),
        "em_steps": lm.n_iter_,
        "held_out_perplexity": {
            **dict(zip(names, lm.validation_perplexities_.round(2).tolist())),
            "mixture": round(lm.validation_perplexity_, 2),
        },
        "test_perplexity": {
            **{name: round(v, 2) for name, v in component_ppl.items()},
            "mixture": round(mixture_ppl, 2),
        },
        "ratio_to_better_component": round(mixture_ppl / best, 4),
        "fit_seconds": round(fit_seconds, 1),
        "mixture_score_seconds": round(score_seconds, 1),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    for name in names:
        weight = summary["weights"][name]
        print(f"{name:>12}: test perplexity {component_ppl[name]:8.2f}  weight {weight:.4f}")
    ratio = summary["ratio_to_better_component"]
    print(
        f"{'mixture':>12}: test perplexity {mixture_ppl:8.2f}  "
        f"ratio to the better component {ratio:.4f} (target <= 0.90)"
    )
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
