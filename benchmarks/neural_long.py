"""A character model trained on Tiny Shakespeare fed as ONE sample (protocol C3).

Usage::

    python benchmarks/neural_long.py --data PATH/TO/CORPORA [--cell lstm] [--seconds 480]
        [--epochs N] [--lr-schedule cosine] [--test-curve]
        [--threads 2] [--mixed-precision] [--sample-length 500] [--json results.json]

Protocol C3 (``benchmarks/_corpora.py``): ``tinyshakespeare.txt`` as one
stream of characters, newlines included as characters; the first 90% train,
the last 10% test. The training text is given to ``fit`` as a single sample
(one list of characters), which sklm trains as ``batch_size`` parallel
streams with the state carried across BPTT windows (the recipe of PyTorch's
``word_language_model``); the test text is scored as a single sample too,
its state carried across windows, so the figure is the model's nats per
character over the whole test text (its closing ``</s>`` included: one
prediction in 111,541).

With ``--early-stopping`` the last ``--validation-fraction`` (5%) of the
training text is held out of training (the training sample is then the
first 95%): after every epoch its perplexity is measured, an epoch that does
not improve it divides the learning rate by 4 (``lr_schedule="plateau"``),
``--patience`` such epochs end training and the best epoch's weights are
kept. The test text is never seen before the end.

Configuration (today's C3 settings): two recurrent layers of 256 units,
embeddings of 64, batch 32 streams, BPTT 100, Adam at 2e-3, gradient norm
clipped at 5, no dropout, seed 1111, ``max_time`` seconds of training
(default 480). Prints the test nats/char (target <= 1.50 for the LSTM), the
training tokens/s, and a sample of text written by the model from the prompt
``"ROMEO:"``.
"""

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpora  # noqa: E402

from sklm.base import Encoded  # noqa: E402
from sklm.neural import GRULM, LSTMLM, RNNLM  # noqa: E402
from sklm.neural.callbacks import Callback  # noqa: E402


class TestCurve(Callback):
    """Diagnostic: the test text's nats/char after every epoch.

    Scored through the model's own ``validate`` step on the network being
    trained; the time it takes is left out of ``max_time`` (the training
    clock, ``state.started``, moves forward by as much). Nothing is chosen
    by it: the model of every run is the one training ends with.
    """

    def __init__(self, text):
        self.text = text

    def on_train_begin(self, model, state):
        index = {token: i for i, token in enumerate(state.classes)}
        ids = np.array([index.get(c, 0) for c in self.text] + [1], dtype=np.int64)
        self.corpus = Encoded(ids, np.array([0, len(ids)], dtype=np.int64))
        self.nats = []

    def on_epoch_end(self, model, state):
        clock = time.perf_counter()
        view = SimpleNamespace(module=state.module, valid_corpus=self.corpus, device=state.device)
        self.nats.append(math.log(model.validate(view)))
        state.started += time.perf_counter() - clock


CONFIG = dict(
    embedding_dim=64,
    hidden_size=256,
    num_layers=2,
    dropout=0.0,
    batch_size=32,
    bptt=100,
    optimizer="adam",
    learning_rate=2e-3,
    clip_grad_norm=5.0,
)
CLASSES = {"lstm": LSTMLM, "gru": GRULM, "rnn": RNNLM}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder of the public corpora")
    p.add_argument("--cell", choices=sorted(CLASSES), default="lstm")
    p.add_argument("--seconds", type=float, default=480.0, help="training time (max_time)")
    p.add_argument(
        "--epochs",
        type=int,
        default=10_000,
        help="max_epochs (default: never reached, --seconds ends training); with "
        "--lr-schedule cosine the rate reaches zero at whichever of the two ends first",
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1111)
    p.add_argument("--mixed-precision", action="store_true", help="train in bfloat16")
    p.add_argument(
        "--early-stopping",
        action="store_true",
        help="hold out the end of the training text (--validation-fraction of "
        "it): the learning rate is divided by 4 after an epoch that does not "
        "improve its perplexity, training stops after --patience such epochs, "
        "and the best epoch's weights are kept",
    )
    p.add_argument(
        "--lr-schedule",
        choices=["plateau", "cosine", "none"],
        default="plateau",
        help="the model's lr_schedule: 'cosine' lowers the learning rate along "
        "a half cosine to zero at the end of --seconds",
    )
    p.add_argument("--validation-fraction", type=float, default=0.05)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument(
        "--test-curve",
        action="store_true",
        help="also print the test nats/char after every epoch (a diagnostic, "
        "its time left out of --seconds)",
    )
    p.add_argument("--sample-length", type=int, default=500)
    p.add_argument("--verbose", type=int, default=0)
    p.add_argument("--json", help="write the figures here too")
    args = p.parse_args()
    load = os.getloadavg()
    train_text, test_text = _corpora.load_c3(args.data)
    lm = CLASSES[args.cell](
        **CONFIG,
        max_epochs=args.epochs,
        max_time=args.seconds,
        random_state=args.seed,
        device="cpu",
        n_threads=args.threads,
        mixed_precision=args.mixed_precision,
        verbose=args.verbose,
        early_stopping=args.early_stopping,
        lr_schedule=None if args.lr_schedule == "none" else args.lr_schedule,
        validation_fraction=args.validation_fraction,
        n_iter_no_change=args.patience,
    )
    curve = TestCurve(test_text) if args.test_curve else None
    if curve is not None:
        lm.set_params(callbacks=[curve])
    t0 = time.perf_counter()
    lm.fit([list(train_text)])
    fit_s = time.perf_counter() - t0
    tokens = sum(h["tokens"] for h in lm.history_)
    seconds = sum(h["seconds"] for h in lm.history_)
    t0 = time.perf_counter()
    nats = -lm.score([list(test_text)])
    score_s = time.perf_counter() - t0
    sample = "".join(
        lm.sample(
            1,
            prompt=list("ROMEO:"),
            max_length=args.sample_length,
            temperature=0.8,
            random_state=args.seed,
        )[0]
    )
    result = {
        "protocol": "C3, training text as one sample",
        "cell": args.cell,
        "mixed_precision": args.mixed_precision,
        "early_stopping": args.early_stopping,
        "lr_schedule": args.lr_schedule,
        "validation_fraction": args.validation_fraction if args.early_stopping else None,
        "threads": args.threads,
        "seconds": args.seconds,
        "max_epochs": args.epochs,
        "train_chars": len(train_text),
        "test_chars": len(test_text),
        "epochs": round(tokens / (len(train_text) + 1), 3),
        "train_tokens": tokens,
        "train_seconds": round(seconds, 1),
        "fit_seconds": round(fit_s, 1),
        "tokens_per_s": round(tokens / seconds),
        "test_nats_per_char": nats,
        "test_bits_per_char": nats / math.log(2),
        "score_seconds": round(score_s, 1),
        "load_average_at_start": [round(x, 2) for x in load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "torch": torch.__version__,
        "python": platform.python_version(),
        "history": lm.history_,
        "test_curve": curve.nats if curve is not None else None,
        "sample": sample,
    }
    print(
        f"C3 as one sample, {args.cell} 2x256, {args.seconds:g} s of training "
        f"({args.lr_schedule} schedule, {result['epochs']} epochs, {tokens:,} chars, {result['tokens_per_s']:,} chars/s"
        f"{', bfloat16' if args.mixed_precision else ''}): test {nats:.4f} nats/char "
        f"({result['test_bits_per_char']:.4f} bits/char; scored in {score_s:.1f} s)"
    )
    print(
        f"load average at start {result['load_average_at_start']}, "
        f"at end {result['load_average_at_end']}"
    )
    if curve is not None:
        print("test nats/char after each epoch: " + ", ".join(f"{x:.4f}" for x in curve.nats))
    print("sample from 'ROMEO:' (temperature 0.8):")
    print("ROMEO:" + sample)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
