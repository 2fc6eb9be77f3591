"""``sklm score --per-token`` against KenLM's ``query`` on protocol P1U.

Scores the P1U test set with KenLM's own order-3 model (``ptb3U.arpa.gz``)
through the ``sklm`` command and compares every row with KenLM's per-token
output (``ptb3U.test.tokens.tsv.gz``): the token, its log10 probability
(KenLM computes in float32: ``|difference| <= 1e-5 |reference| + 1e-6``),
the length of the n-gram that matched, and the OOV flag. Also times the
command.

Usage::

    python benchmarks/cli_query.py --data PATH/TO/CORPORA --ref PATH/TO/REF
"""

import argparse
import contextlib
import gzip
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpora  # noqa: E402

from sklm.cli import main as sklm_main  # noqa: E402


def _reference_rows(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in f]
    return header, rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder of the public corpora")
    p.add_argument("--ref", required=True, help="folder of KenLM's reference output")
    args = p.parse_args()

    _, test = _corpora.load_p1u(args.data)
    header, reference = _reference_rows(Path(args.ref) / "ptb3U.test.tokens.tsv.gz")
    with tempfile.TemporaryDirectory() as tmp:
        test_path = Path(tmp) / "p1u.test.txt"
        test_path.write_text("\n".join(test) + "\n", encoding="utf-8")
        out_path = Path(tmp) / "tokens.tsv"
        start = time.perf_counter()
        with open(out_path, "w", encoding="utf-8") as out, contextlib.redirect_stdout(out):
            status = sklm_main(
                ["score", str(Path(args.ref) / "ptb3U.arpa.gz"), str(test_path), "--per-token"]
            )
        elapsed = time.perf_counter() - start
        text = out_path.read_text(encoding="utf-8")
    if status != 0:
        raise SystemExit(f"sklm score exited with status {status}")
    table, summary = text.split("\n\n", 1)
    lines = table.splitlines()
    columns = lines[0].split("\t")
    rows = [line.split("\t") for line in lines[1:]]
    ours = {name: [r[i] for r in rows] for i, name in enumerate(columns)}
    theirs = {name: [r[i] for r in reference] for i, name in enumerate(header)}
    assert len(rows) == len(reference), (len(rows), len(reference))

    same_token = np.array(ours["token"]) == np.array(theirs["token"])
    got = np.array(ours["log10_prob"], dtype=float)
    want = np.array(theirs["log10_prob"], dtype=float)
    close = np.abs(got - want) <= 1e-5 * np.abs(want) + 1e-6
    same_length = np.array(ours["ngram_length"], dtype=int) == np.array(
        theirs["ngram_length"], dtype=int
    )
    same_oov = np.array(ours["oov"], dtype=int) == np.array(theirs["oov"], dtype=int)
    perplexity = float(summary.split("perplexity ", 1)[1].split()[0])
    print(f"rows: {len(rows):,} (KenLM: {len(reference):,})")
    print(f"tokens equal: {same_token.sum():,}")
    print(f"log10 within KenLM's float32 tolerance: {close.sum():,} "
          f"(largest difference {np.abs(got - want).max():.2e})")  # fmt: skip
    print(f"n-gram length equal: {same_length.sum():,}")
    print(f"OOV flag equal: {same_oov.sum():,}")
    print(f"perplexity: {perplexity:.4f} (KenLM 271.9586)")
    print(f"sklm score --per-token: {elapsed:.2f} s (load, score, print)")
    ok = same_token.all() and close.all() and same_length.all() and same_oov.all()
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
