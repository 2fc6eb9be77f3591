"""sklm's recurrent training and scoring against a hand-written loop, step for step.

Usage::

    python benchmarks/neural_equivalence.py --data PATH/TO/CORPORA [--lines 600]

Takes the first ``--lines`` lines of protocol P2's training part, builds one
LSTM 2x200 network (no dropout) and trains two copies of it for one epoch with
SGD at learning rate 20 and gradient norm clipped at 0.25, in length-sorted
batches of 20 lines kept in order: one with sklm's training loop, one with a
plain truncated-BPTT loop written here. Prints the largest weight difference
(0.0 when both compute the same thing) and the perplexity of the sklm-trained
network on the first 400 test lines, once by sklm's scoring and once by a
per-line evaluation written here.
"""

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpora  # noqa: E402
import _plain  # noqa: E402

from sklm import LSTMLM  # noqa: E402
from sklm.neural import _training  # noqa: E402
from sklm.neural._modules import build_module  # noqa: E402

BATCH, BPTT, LR, CLIP = 20, 35, 20.0, 0.25


class InOrder:
    """Keeps the batches in length order (no shuffling), for both loops."""

    def permutation(self, n):
        return np.arange(n)


def plain_epoch(module, corpus):
    opt = torch.optim.SGD(module.parameters(), lr=LR)
    for x, y in _plain.padded_batches(module, corpus, BATCH, _training.length_batches):
        steps = x.shape[0]
        state = None
        for start in range(0, steps, BPTT):
            if state is not None:
                state = tuple(s.detach() for s in state)
            hidden, state = module.rnn(module.embedding(x[start : start + BPTT]), state)
            logits = module.decoder(hidden).reshape(-1, module.n_classes)
            loss = nn.functional.cross_entropy(
                logits, y[start : start + BPTT].reshape(-1), ignore_index=-100
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(module.parameters(), CLIP)
            opt.step()


@torch.no_grad()
def plain_perplexity(module, vocabulary, lines):
    total, count = 0.0, 0
    for line in lines:
        ids = vocabulary.encode([line.split()], eos=True).ids
        x = torch.as_tensor(np.concatenate([[module.bos_id], ids[:-1]]))[:, None]
        hidden, _ = module.rnn(module.embedding(x))
        logits = module.decoder(hidden[:, 0])
        total += nn.functional.cross_entropy(
            logits, torch.as_tensor(ids), reduction="sum"
        ).item()
        count += len(ids)
    return float(np.exp(total / count))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder of the public corpora")
    p.add_argument("--lines", type=int, default=600)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train, test = _corpora.load_p2(args.data)
    lm = LSTMLM(embedding_dim=200, hidden_size=200, num_layers=2, dropout=0.0)
    vocabulary, corpus = lm._learn_vocabulary(train[: args.lines])
    ours = build_module(lm._module_config(len(vocabulary)))
    plain = copy.deepcopy(ours)
    _training.train(
        ours, corpus, None, optimizer="sgd", learning_rate=LR, lr_schedule=None,
        batch_size=BATCH, bptt=BPTT, max_epochs=1, clip_grad_norm=CLIP,
        early_stopping=False, n_iter_no_change=2, max_time=None, rng=InOrder(),
        device=torch.device("cpu"), verbose=0,
    )
    plain_epoch(plain, corpus)
    diff = max(
        (a - b).abs().max().item()
        for a, b in zip(ours.state_dict().values(), plain.state_dict().values())
    )
    print(f"largest weight difference after one epoch: {diff}")
    test = test[:400]
    encoded = vocabulary.encode([line.split() for line in test], eos=True)
    log_prob = _training.log_prob_tokens(ours, encoded, torch.device("cpu"))
    print(f"test perplexity, sklm's scoring: {np.exp(-log_prob.mean()):.4f}; "
          f"per-line evaluation: {plain_perplexity(ours, vocabulary, test):.4f}")


if __name__ == "__main__":
    main()
