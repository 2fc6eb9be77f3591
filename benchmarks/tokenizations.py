"""One LSTMLM on P2 with word, character and BPE tokens, compared in bits per character.

Perplexities of different tokenizations do not compare (a word model predicts
fewer, harder tokens than a character model), but the total log-probability of
the same test text does: divided by the number of characters of that text it
gives bits per character, the unit of the comparison. Each line of the test
part counts its characters plus one for the end of the line (what ``</s>``
predicts).

The word model scores a word it never saw as ``<unk>``, which costs it far
less than spelling that word out: its figure is a lower bound (the script prints
the share of OOV words). The character and BPE models cover every character.

    python benchmarks/tokenizations.py --data ../shared/data --budget 120
"""

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _corpora import load_p2  # noqa: E402

from sklm import LSTMLM, Tokenizer  # noqa: E402
from sklm.metrics import oov_report  # noqa: E402

TOKENIZERS = {
    "word": Tokenizer(analyzer="word", lowercase=False, token_pattern=r"\S+", normalize=None),
    "char": Tokenizer(analyzer="char", lowercase=False, normalize=None),
    "bpe": Tokenizer(analyzer="bpe", vocab_size=2000, lowercase=False, normalize=None),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data", help="folder of the public corpora")
    parser.add_argument("--budget", type=float, default=120.0, help="training seconds per model")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train, test = load_p2(args.data)
    n_chars = sum(len(line) + 1 for line in test)
    print(f"P2: {len(train)} training lines, {len(test)} test lines, {n_chars:,} test characters")
    print(f"budget {args.budget:.0f} s of training per model; load: {os.getloadavg()[0]:.2f}")
    print(f"{'tokens':>6} {'classes':>8} {'test tokens':>12} {'ppl/token':>10} {'bits/char':>10}")
    for name, tokenizer in TOKENIZERS.items():
        tokenizer.fit(train)
        train_tokens, test_tokens = tokenizer.transform(train), tokenizer.transform(test)
        lm = LSTMLM(
            embedding_dim=128,
            hidden_size=256,
            num_layers=1,
            batch_size=32,
            bptt=70,
            learning_rate=2e-3,
            clip_grad_norm=1.0,
            max_epochs=1000,
            max_time=args.budget,
            random_state=args.seed,
        )
        start = time.perf_counter()
        lm.fit(train_tokens)
        seconds = time.perf_counter() - start
        total = lm.score_samples(test_tokens).sum()
        n_predictions = sum(map(len, test_tokens)) + len(test_tokens)
        bpc = -total / math.log(2) / n_chars
        extra = ""
        if name == "word":
            extra = f"  (OOV rate {oov_report(lm, test_tokens)['oov_rate']:.1%}: a lower bound)"
        print(
            f"{name:>6} {len(lm.classes_):>8,} {n_predictions:>12,} "
            f"{math.exp(-total / n_predictions):>10.2f} {bpc:>10.3f}  "
            f"{len(lm.history_)} epochs in {seconds:.0f} s{extra}"
        )


if __name__ == "__main__":
    main()
