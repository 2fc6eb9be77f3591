"""sklm's recurrent training and scoring against a hand-written loop, step for step.

Usage::

    python benchmarks/neural_equivalence.py --data PATH/TO/CORPORA [--protocol P2] [--cell lstm]
        [--lines 600] [--dropout 0.0] [--shuffle-seed N] [--test-lines 400] [--threads 2]
        [--plain-first] [--only-plain]
    python benchmarks/neural_equivalence.py --data PATH/TO/CORPORA
        --speed-against PATH/TO/plain_torch_lm.py
        [--protocol P2] [--cell lstm] [--lines 0] [--dropout 0.2] [--shuffle-seed 1] [--chunk 10]

Takes the first ``--lines`` lines of the protocol's training part (0: all of
them), builds one network of two layers of 200 units (``--cell``: LSTM by
default; dropout ``--dropout``) and trains two
copies of it for one epoch with SGD at learning rate 20 and gradient norm
clipped at 0.25, in length-sorted batches of 20 lines: one with sklm's
training loop, one with a plain truncated-BPTT loop written here. The
batches are taken in length order, or in one random order drawn from
``--shuffle-seed`` and given to both loops; torch is seeded alike before
each loop, so the two draw the same dropout masks. Prints the largest weight
difference (0.0 when both compute the same thing), each loop's tokens/s, the
test perplexity of both trained networks on the first ``--test-lines`` test
lines (0: all) by sklm's scoring, and that of the sklm-trained network by a
per-line evaluation written here.

With ``--speed-against``, nothing is compared but speed: the hand-written
loop (on sklm's network) and the plain script's own per-line step (its
``RecurrentLM`` network, imported from the script, and the body of its
``--per-line`` training loop, copied here as written there) each train one
epoch over the same padded batches in the same order, in one process,
taking turns every ``--chunk`` batches (who goes first alternates), so that
the machine's drifts fall on both alike; before the clock starts, both
run one window of every shape the epoch holds (oneDNN prepares its kernels
once per shape, for whichever network meets it first). Prints each one's
tokens/s and the ratio.
"""

import argparse
import copy
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _plain  # noqa: E402
from neural import LOADERS, WORD_CONFIG, sklm_model  # noqa: E402

from sklm.metrics import perplexity  # noqa: E402
from sklm.neural.callbacks import Callback  # noqa: E402

BATCH, BPTT, LR, CLIP = 20, 35, 20.0, 0.25


class FixedOrder:
    """The batch order both loops use: length order, or one drawn from ``seed``."""

    def __init__(self, seed):
        self.seed = seed

    def permutation(self, n):
        if self.seed is None:
            return np.arange(n)
        return np.random.default_rng(self.seed).permutation(n)


class SameStart(Callback):
    """Gives sklm's fit the plain loop's batch order and torch random state.

    ``state.rng`` draws the order of the batches of each epoch (sklm's
    public training state); torch's generator decides the dropout masks.
    """

    def __init__(self, order, torch_rng):
        self.order = order
        self.torch_rng = torch_rng

    def on_train_begin(self, model, state):
        state.rng = self.order
        torch.set_rng_state(self.torch_rng)


def plain_epoch(module, corpus, order):
    """One epoch of hand-written truncated BPTT.

    Returns the tokens trained on and the seconds of the training steps
    (batches are padded beforehand, as sklm does before its clock starts).
    """
    module.train()
    opt = torch.optim.SGD(module.parameters(), lr=LR)
    batches = list(_plain.padded_batches(module, corpus, BATCH))
    tokens = 0
    clock = time.perf_counter()
    for b in order.permutation(len(batches)):
        x, y = batches[b]
        tokens += int((y != -100).sum())
        _plain.train_batch(module, opt, x, y, BPTT, CLIP)
    return tokens, time.perf_counter() - clock


def load_script(path):
    """The plain script at ``path``, imported as a module (its ``main`` does not run)."""
    spec = importlib.util.spec_from_file_location("plain_torch_lm", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def speed_against_script(script, module, corpus, order, cell, dropout, chunk):
    """Tokens/s of this script's loop and of the plain script's step, taking turns."""
    theirs = script.RecurrentLM(module.n_classes + 1, cell, 200, 200, 2, dropout)
    theirs.train()
    module.train()
    opt_ours = torch.optim.SGD(module.parameters(), lr=LR)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=LR)

    def step_ours(x, y):
        _plain.train_batch(module, opt_ours, x, y, BPTT, CLIP)

    def step_theirs(x, y):
        # The body of the plain script's --per-line training loop, as written there.
        state = theirs.initial_state(x.size(1))
        for start in range(0, x.size(0), BPTT):
            xs, ys = x[start : start + BPTT], y[start : start + BPTT]
            n_real = int((ys != -100).sum())
            if n_real == 0:
                break
            state = script.detach_state(state)
            logits, state = theirs(xs, state)
            loss = nn.functional.cross_entropy(logits, ys.reshape(-1), ignore_index=-100)
            opt_theirs.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(theirs.parameters(), CLIP)
            opt_theirs.step()

    batches = list(_plain.padded_batches(module, corpus, BATCH))
    steps = order.permutation(len(batches))
    # oneDNN builds its kernels once per input shape, for whichever network
    # meets the shape first: one untimed window of every shape for both.
    shapes = {(min(BPTT, n), x.shape[1]) for x, _ in batches for n in range(x.shape[0], 0, -BPTT)}
    for length, width in sorted(shapes):
        x = torch.full((length, width), module.bos_id, dtype=torch.long)
        y = torch.zeros((length, width), dtype=torch.long)
        step_ours(x, y)
        step_theirs(x, y)
    seconds = {"this loop": 0.0, "plain script": 0.0}
    for k in range(0, len(steps), chunk):
        turns = [("this loop", step_ours), ("plain script", step_theirs)]
        if (k // chunk) % 2:
            turns.reverse()
        for name, step in turns:
            clock = time.perf_counter()
            for b in steps[k : k + chunk]:
                step(*batches[b])
            seconds[name] += time.perf_counter() - clock
    tokens = sum(int((batches[b][1] != -100).sum()) for b in steps)
    return tokens, seconds


@torch.no_grad()
def plain_perplexity(module, vocabulary, lines):
    total, count = 0.0, 0
    for line in lines:
        ids = np.array([vocabulary.get(w, 0) for w in line.split()] + [1])
        x = torch.as_tensor(np.concatenate([[module.bos_id], ids[:-1]]))[:, None]
        hidden, _ = module.rnn(module.embedding(x))
        logits = module.decoder(hidden[:, 0])
        total += nn.functional.cross_entropy(logits, torch.as_tensor(ids), reduction="sum").item()
        count += len(ids)
    return float(np.exp(total / count))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder of the public corpora")
    p.add_argument("--protocol", choices=["P1", "P2"], default="P2")
    p.add_argument("--lines", type=int, default=600, help="training lines (0: all)")
    p.add_argument("--cell", choices=["lstm", "gru", "rnn_tanh", "rnn_relu"], default="lstm")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--shuffle-seed", type=int, help="one random batch order for both loops")
    p.add_argument("--test-lines", type=int, default=400, help="test lines (0: all)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--plain-first", action="store_true", help="run the plain loop first")
    p.add_argument(
        "--only-plain",
        action="store_true",
        help="time the plain loop alone (no sklm training, no comparison)",
    )
    p.add_argument("--seed", type=int, default=0, help="torch seed (weights, dropout)")
    p.add_argument(
        "--speed-against",
        metavar="SCRIPT",
        help="time this loop against the plain script's step, taking turns",
    )
    p.add_argument("--chunk", type=int, default=10, help="batches per turn (--speed-against)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, test = LOADERS[args.protocol](args.data)
    if args.lines:
        train = train[: args.lines]
    if args.test_lines:
        test = test[: args.test_lines]
    lm = sklm_model(
        args.cell, WORD_CONFIG, args.seed, dropout=args.dropout, lr_schedule=None, max_epochs=1
    )
    # The network, samples and random state sklm's fit starts from.
    start, corpus, _ = _plain.initial_network(lm, train)
    plain = copy.deepcopy(start)
    torch.manual_seed(args.seed + 1)
    torch_rng = torch.get_rng_state()

    def run_sklm():
        lm.set_params(callbacks=[SameStart(FixedOrder(args.shuffle_seed), torch_rng)])
        lm.fit(train)
        return lm.history_

    def run_plain():
        torch.set_rng_state(torch_rng)
        return plain_epoch(plain, corpus, FixedOrder(args.shuffle_seed))

    if args.speed_against:
        tokens, seconds = speed_against_script(
            load_script(args.speed_against),
            plain,
            corpus,
            FixedOrder(args.shuffle_seed),
            args.cell,
            args.dropout,
            args.chunk,
        )
        rate = {name: tokens / s for name, s in seconds.items()}
        print(
            f"{args.protocol}, {args.cell}: one epoch each, {tokens:,} tokens, "
            f"turns of {args.chunk} batches: "
            + ", ".join(f"{name} {r:,.0f} tokens/s" for name, r in rate.items())
            + f"; this loop / plain script {rate['this loop'] / rate['plain script']:.3f}"
        )
        return
    if args.only_plain:
        # Speed of this loop alone, in a process of its own (nothing of sklm's
        # training has run: glibc's allocator keeps its default settings).
        tokens, plain_seconds = run_plain()
        print(
            f"{args.protocol}: plain loop alone, {tokens:,} tokens in {plain_seconds:.2f} s: "
            f"{tokens / plain_seconds:,.0f} tokens/s"
        )
        return
    if args.plain_first:
        tokens, plain_seconds = run_plain()
        history = run_sklm()
    else:
        history = run_sklm()
        tokens, plain_seconds = run_plain()
    ours = lm.module_
    diff = max(
        (a - b).abs().max().item()
        for a, b in zip(ours.state_dict().values(), plain.state_dict().values())
    )
    print(
        f"{args.protocol}, {args.cell}: {len(train):,} training lines, {tokens:,} tokens, "
        f"dropout {args.dropout}, "
        f"batch order {'in length order' if args.shuffle_seed is None else 'shuffled'}"
    )
    print(f"largest weight difference after one epoch: {diff}")
    print(
        f"tokens/s (training steps): sklm {history[0]['tokens_per_s']:,.0f}, "
        f"plain {tokens / plain_seconds:,.0f}"
    )
    ppl_ours = perplexity(lm, test)
    plain.eval()
    lm.module_ = plain  # the plain-trained weights, scored by sklm's public scoring
    ppl_plain = perplexity(lm, test)
    print(
        f"test perplexity ({len(test):,} lines), sklm's scoring: sklm-trained {ppl_ours:.4f}, "
        f"plain-trained {ppl_plain:.4f} ({100 * (ppl_ours / ppl_plain - 1):+.4f}%)"
    )
    print(
        f"sklm-trained network, per-line evaluation written here: "
        f"{plain_perplexity(ours, lm.vocabulary_, test):.4f}"
    )


if __name__ == "__main__":
    main()
