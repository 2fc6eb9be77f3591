"""LSTMLM on a GPU: training speed next to a plain loop on the same GPU, then a CPU reload.

Usage::

    python benchmarks/neural_gpu.py --data PATH/TO/CORPORA [--device cuda] [--seconds 60]
                                    [--bf16] [--json results.json]

One prepared run for a machine with a CUDA GPU (``--device cpu`` runs the
same steps on a CPU, to check the script itself):

1. sklm: ``LSTMLM`` two layers of 200 units, embeddings of 200, dropout 0.2,
   BPTT 35, batch 20, SGD at learning rate 20, gradient norm clipped at 0.25
   (the word configuration of ``benchmarks/neural.py``), ``device=--device``,
   trained on protocol P2 for ``--seconds`` (``max_time``); tokens/s from
   ``history_``.
2. A plain PyTorch loop on the same device, the same network, data, batches
   (every line a sample from ``<s>``, padded, masked) and seed, for the same
   seconds; with ``--bf16`` once more under ``torch.autocast`` in bfloat16
   (where the device offers it), next to sklm with ``mixed_precision=True``
   for the same seconds. The clock is read after
   ``torch.cuda.synchronize()``.
3. sklm's model is pickled, and a child process that sees no GPU
   (``CUDA_VISIBLE_DEVICES=""``) unpickles it (with the warning sklm gives)
   and scores P2's test set on its CPU: the perplexity must equal the one
   computed on the device (relative difference under 1e-4).

Prints each figure and one JSON line (also written to ``--json``).
"""

import argparse
import copy
import json
import math
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpora  # noqa: E402
import _plain  # noqa: E402

from sklm import LSTMLM  # noqa: E402
from sklm.metrics import perplexity  # noqa: E402

CONFIG = dict(
    embedding_dim=200,
    hidden_size=200,
    num_layers=2,
    dropout=0.2,
    bptt=35,
    batch_size=20,
    optimizer="sgd",
    learning_rate=20.0,
    clip_grad_norm=0.25,
)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sklm_fit(args, train, test, mixed_precision=False):
    """LSTMLM trained on ``args.device`` for ``args.seconds``.

    Returns the model, its training tokens/s and its test perplexity.
    """
    lm = LSTMLM(
        **CONFIG,
        device=args.device,
        max_epochs=10_000,
        max_time=args.seconds,
        random_state=args.seed,
        mixed_precision=mixed_precision,
    )
    lm.fit(train)
    tokens_per_s = sum(h["tokens"] for h in lm.history_) / sum(h["seconds"] for h in lm.history_)
    return lm, tokens_per_s, perplexity(lm, test)


def plain_loop(module, corpus, device, seconds, seed, bf16=False):
    """Hand-written truncated BPTT over per-line batches, for ``seconds``; tokens/s."""
    module.to(device).train()
    opt = torch.optim.SGD(module.parameters(), lr=CONFIG["learning_rate"])
    bptt = CONFIG["bptt"]
    batches = [
        (x.to(device), y.to(device), int((y != -100).sum()))
        for x, y in _plain.padded_batches(module, corpus, CONFIG["batch_size"])
    ]
    order = np.random.default_rng(seed).permutation(len(batches))
    tokens, elapsed = 0, 0.0
    synchronize(device)
    start = time.perf_counter()
    while elapsed < seconds:
        for b in order:
            x, y, n_real = batches[b]
            _plain.train_batch(module, opt, x, y, bptt, CONFIG["clip_grad_norm"], bf16=bf16)
            tokens += n_real
            synchronize(device)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
    return tokens / elapsed


def score_on_cpu_child(path, data):
    """Unpickle ``path`` in a process that sees no GPU and score P2's test set there."""
    code = (
        "import pickle, sys, warnings, json\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "import _corpora\n"
        "from sklm.metrics import perplexity\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    with open({str(path)!r}, 'rb') as handle:\n"
        "        lm = pickle.load(handle)\n"
        f"_, test = _corpora.load_p2({str(data)!r})\n"
        "print(json.dumps({'device': lm.device_, 'perplexity': perplexity(lm, test),\n"
        "                  'warnings': [str(w.message) for w in caught]}))\n"
    )
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder of the public corpora")
    p.add_argument("--device", default="cuda")
    p.add_argument("--seconds", type=float, default=60.0, help="training time of each run")
    p.add_argument(
        "--bf16",
        action="store_true",
        help="also time both in bfloat16 (sklm: mixed_precision=True)",
    )
    p.add_argument("--seed", type=int, default=1111)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    device = torch.device(args.device)
    train, test = _corpora.load_p2(args.data)
    result = {
        "machine": f"{platform.machine()}, torch {torch.__version__}, device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(sys.argv),
    }

    lm, result["sklm_tokens_per_s"], result["sklm_device_perplexity"] = sklm_fit(args, train, test)
    print(
        f"sklm on {lm.device_}: {result['sklm_tokens_per_s']:,.0f} tokens/s, "
        f"test perplexity {result['sklm_device_perplexity']:.4f}",
        flush=True,
    )

    # The network sklm's fit starts from (a fit of no epoch), for the plain loop.
    start, corpus, _ = _plain.initial_network(lm, train)
    module = copy.deepcopy(start)
    result["plain_tokens_per_s"] = plain_loop(module, corpus, device, args.seconds, args.seed)
    result["speed_ratio"] = result["sklm_tokens_per_s"] / result["plain_tokens_per_s"]
    print(
        f"plain loop on {device}: {result['plain_tokens_per_s']:,.0f} tokens/s; "
        f"sklm / plain {result['speed_ratio']:.3f}",
        flush=True,
    )
    if args.bf16:
        module = copy.deepcopy(start)
        result["plain_bf16_tokens_per_s"] = plain_loop(
            module, corpus, device, args.seconds, args.seed, bf16=True
        )
        print(
            f"plain loop, bfloat16 autocast: {result['plain_bf16_tokens_per_s']:,.0f} tokens/s",
            flush=True,
        )
        _, result["sklm_bf16_tokens_per_s"], result["sklm_bf16_device_perplexity"] = sklm_fit(
            args, train, test, mixed_precision=True
        )
        result["speed_ratio_bf16"] = (
            result["sklm_bf16_tokens_per_s"] / result["plain_bf16_tokens_per_s"]
        )
        print(
            f"sklm, mixed_precision=True: {result['sklm_bf16_tokens_per_s']:,.0f} tokens/s "
            f"({result['sklm_bf16_tokens_per_s'] / result['sklm_tokens_per_s']:.2f}x float32; "
            f"sklm / plain in bfloat16 {result['speed_ratio_bf16']:.3f}), test perplexity "
            f"{result['sklm_bf16_device_perplexity']:.4f}",
            flush=True,
        )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lstm.pkl"
        path.write_bytes(pickle.dumps(lm))
        cpu = score_on_cpu_child(path, args.data)
    result["cpu_reload"] = cpu
    relative = abs(cpu["perplexity"] / result["sklm_device_perplexity"] - 1)
    result["cpu_reload_agrees"] = relative < 1e-4
    print(
        f"unpickled without a GPU: device {cpu['device']}, test perplexity "
        f"{cpu['perplexity']:.4f} (relative difference {relative:.2e}); warnings: "
        f"{cpu['warnings'] or 'none'}",
        flush=True,
    )
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0 if result["cpu_reload_agrees"] and math.isfinite(result["speed_ratio"]) else 1


if __name__ == "__main__":
    sys.exit(main())
