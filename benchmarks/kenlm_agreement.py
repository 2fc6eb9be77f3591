"""Check that NGramLM(smoothing="kneser_ney") reproduces KenLM's lmplz exactly.

Protocol P1U (``data/README.md`` of the shared corpora): train on
``ptb.valid.txt``, test on ``ptb.test.txt``, every literal ``<unk>`` replaced
by the ordinary word ``__unk__``. Checked against KenLM's output in ``ref/``:

1. order 3: every test token's log10 probability (``|diff| <= 1e-5 |ref| + 1e-6``);
2. the discounts lmplz printed for orders 3 and 5;
3. the test perplexities of orders 2, 3 and 5, to two decimals;
4. ``NGramLM.from_arpa`` on KenLM's ARPA scores the test set as the reference;
5. our ``to_arpa`` holds the same n-grams as KenLM's ARPA, with the same
   probabilities and backoffs (same tolerance);
6. count pruning, ``NGramLM(order=3, prune=(0, 1, 1))`` against ``lmplz -o 3
   --prune 0 1 1``: checks 1, 4 and 5 on ``ref/ptb3U_prune011.*``, and the
   test perplexity to two decimals.

Prints a summary and exits with status 1 on any disagreement.

Usage: ``python benchmarks/kenlm_agreement.py [--shared PATH]`` (default
``../shared``, the folder holding ``data/`` and ``ref/``).
"""

import argparse
import gzip
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

# Check the checkout this script belongs to, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sklm import NGramLM  # noqa: E402

LN10 = np.log(10.0)

# Printed by lmplz on P1U (ref/README.md).
REFERENCE_DISCOUNTS = {
    3: [
        [0.479348, 1.24412, 1.9582],
        [0.792484, 1.22263, 1.54662],
        [0.895893, 1.33781, 1.44681],
    ],
    5: {
        3: [0.915105, 1.37439, 1.26812],
        4: [0.968383, 1.38349, 1.77582],
        5: [0.974168, 1.57677, 1.3204],
    },
}
REFERENCE_PERPLEXITY = {2: 298.3240, 3: 271.9586, 5: 268.0503}
REFERENCE_PRUNED_PERPLEXITY = 309.2443  # lmplz -o 3 --prune 0 1 1


def load_p1u(path):
    lines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = " ".join(line.split())
            if line:
                lines.append(line.replace("<unk>", "__unk__"))
    return lines


def load_reference_tokens(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in f]
    columns = dict(zip(header, zip(*rows)))
    # The pruned reference names the sentence column "line".
    sentence = columns["sentence"] if "sentence" in columns else columns["line"]
    return {
        "sentence": np.array(sentence, dtype=np.int64),
        "token": np.array(columns["token"], dtype=object),
        "log10_prob": np.array(columns["log10_prob"], dtype=np.float64),
    }


def read_arpa_entries(path):
    """{order: {ngram text: (log10 prob, log10 backoff)}} of an ARPA file."""
    opener = gzip.open if str(path).endswith(".gz") else open
    entries, order = {}, None
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("\\"):
                order = int(line[1]) if line[1].isdigit() else None
                if order is not None:
                    entries[order] = {}
                continue
            if order is None:
                continue
            fields = line.split()
            backoff = float(fields[order + 1]) if len(fields) == order + 2 else 0.0
            entries[order][" ".join(fields[1 : order + 1])] = (float(fields[0]), backoff)
    return entries


def agree(ours, reference):
    ours, reference = np.asarray(ours), np.asarray(reference)
    return np.abs(ours - reference) <= 1e-5 * np.abs(reference) + 1e-6


class Report:
    def __init__(self):
        self.failures = 0

    def check(self, ok, what, detail=""):
        print(f"[{'ok' if ok else 'FAIL'}] {what}{': ' + detail if detail else ''}")
        self.failures += not ok


def token_log10(lm, test):
    """Per-token log10 probabilities of the whole test set, in order."""
    return np.concatenate(lm.score_tokens(test)) / LN10


def check_tokens(report, what, ours, reference):
    ok = agree(ours, reference)
    report.check(
        bool(ok.all()),
        what,
        f"{ok.sum()}/{len(ok)} agree, largest |diff| {np.max(np.abs(ours - reference)):.2e}",
    )


def check_arpa(report, lm, reference_path, label=""):
    """Our ``to_arpa`` of ``lm`` holds KenLM's n-grams, probabilities and backoffs."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ours.arpa.gz"
        lm.to_arpa(path)
        mine = read_arpa_entries(path)
    theirs = read_arpa_entries(reference_path)
    for k in sorted(theirs):
        same_keys = mine.get(k, {}).keys() == theirs[k].keys()
        detail = f"{len(mine.get(k, {}))} vs KenLM {len(theirs[k])}"
        if same_keys:
            names = [n for n in theirs[k] if n != "<s>"]  # <s>: a placeholder probability
            a = np.array([mine[k][n] for n in names])
            b = np.array([theirs[k][n] for n in names])
            close = agree(a, b).all(axis=1)
            detail += f"; {close.sum()}/{len(close)} prob+backoff agree"
            if not close.all():
                bad = names[int(np.flatnonzero(~close)[0])]
                detail += f" (first mismatch {bad!r}: {mine[k][bad]} vs {theirs[k][bad]})"
            same_keys = bool(close.all())
        report.check(same_keys, f"{label}to_arpa {k}-grams equal KenLM's", detail)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default="../shared", help="folder with data/ and ref/")
    args = parser.parse_args(argv)
    shared = Path(args.shared)
    train = load_p1u(shared / "data" / "ptb.valid.txt")
    test = load_p1u(shared / "data" / "ptb.test.txt")
    reference = load_reference_tokens(shared / "ref" / "ptb3U.test.tokens.tsv.gz")
    report = Report()
    n_predictions = sum(len(s.split()) + 1 for s in test)
    report.check(
        n_predictions == len(reference["log10_prob"]),
        "test set size",
        f"{n_predictions} predictions, reference {len(reference['log10_prob'])}",
    )

    models = {}
    for order in (2, 3, 5):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # lmplz estimates every discount on P1U
            models[order] = NGramLM(order=order).fit(train)
        fit_time = time.perf_counter() - start
        ppl = float(np.exp(-models[order].score(test)))
        report.check(
            round(ppl, 2) == round(REFERENCE_PERPLEXITY[order], 2),
            f"order {order} test perplexity",
            f"{ppl:.4f} (KenLM {REFERENCE_PERPLEXITY[order]:.4f}); fit {fit_time:.2f} s",
        )

    lm = models[3]
    ours = token_log10(lm, test)
    check_tokens(report, "order 3 per-token log10 probabilities", ours, reference["log10_prob"])
    # A call this small runs the NumPy passes; one on three copies of the test
    # set (past 200,000 tokens) loads the compiled loops, which must give the
    # same values, bit for bit.
    compiled = token_log10(lm, test * 3)[: len(ours)]
    report.check(
        "sklm._compiled" in sys.modules
        and np.array_equal(compiled.view(np.int64), ours.view(np.int64)),
        "order 3 per-token log10 probabilities through the compiled loops",
        "equal to the NumPy passes' bit for bit" if np.array_equal(compiled, ours) else "differ",
    )
    discounts3 = np.array(REFERENCE_DISCOUNTS[3])
    report.check(
        np.allclose(lm.discounts_, discounts3, rtol=1e-5, atol=0),
        "order 3 discounts",
        "; ".join(" ".join(f"{d:.6g}" for d in row) for row in lm.discounts_),
    )
    for k, row in REFERENCE_DISCOUNTS[5].items():
        got = models[5].discounts_[k - 1]
        report.check(
            np.allclose(got, row, rtol=1e-5, atol=0),
            f"order 5 discounts of order {k}",
            " ".join(f"{d:.6g}" for d in got),
        )

    kenlm = NGramLM.from_arpa(shared / "ref" / "ptb3U.arpa.gz")
    check_tokens(
        report,
        "from_arpa(ptb3U.arpa.gz) per-token log10 probabilities",
        token_log10(kenlm, test),
        reference["log10_prob"],
    )
    check_arpa(report, lm, shared / "ref" / "ptb3U.arpa.gz")

    # Count pruning: lmplz -o 3 --prune 0 1 1.
    pruned_reference = load_reference_tokens(shared / "ref" / "ptb3U_prune011.test.tokens.tsv.gz")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pruned = NGramLM(order=3, prune=(0, 1, 1)).fit(train)
    fit_time = time.perf_counter() - start
    ppl = float(np.exp(-pruned.score(test)))
    report.check(
        round(ppl, 2) == round(REFERENCE_PRUNED_PERPLEXITY, 2),
        "pruned (0, 1, 1) order 3 test perplexity",
        f"{ppl:.4f} (KenLM {REFERENCE_PRUNED_PERPLEXITY:.4f}); "
        f"n-grams {' '.join(map(str, pruned.ngram_counts_))}; fit {fit_time:.2f} s",
    )
    check_tokens(
        report,
        "pruned (0, 1, 1) order 3 per-token log10 probabilities",
        token_log10(pruned, test),
        pruned_reference["log10_prob"],
    )
    check_tokens(
        report,
        "from_arpa(ptb3U_prune011.arpa.gz) per-token log10 probabilities",
        token_log10(NGramLM.from_arpa(shared / "ref" / "ptb3U_prune011.arpa.gz"), test),
        pruned_reference["log10_prob"],
    )
    check_arpa(report, pruned, shared / "ref" / "ptb3U_prune011.arpa.gz", "pruned (0, 1, 1) ")

    print(
        "all checks agree with KenLM"
        if report.failures == 0
        else f"{report.failures} check(s) disagree with KenLM"
    )
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
