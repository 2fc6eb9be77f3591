"""Training a recurrent model from files as a stream of shards, against the same samples in memory.

Usage::

    python benchmarks/neural_stream.py --data PATH/TO/CORPORA [--workdir DIR]
        [--seconds 60] [--files 8] [--threads 2] [--json results.json]

Writes the "big" corpus of ``benchmarks/ngram.py`` (about 8.07M tokens,
see ``_corpora.py``) into ``--files`` text files, then fits one small
``LSTMLM`` (embeddings 32, 64 units, 10,000 words, batch 64, BPTT 35,
``max_time`` seconds of training) two ways, each in a fresh child process:

stream
    ``fit(TextFiles(paths))``: a first pass learns the vocabulary, then
    the files are read again shard by shard (2**20 tokens each) as
    training goes.
memory
    ``fit(lines)`` on the same samples read into a list first (what a
    corpus given in memory costs: its strings, its ids, the batches of a
    whole epoch).

Each child prints its peak resident memory (``VmHWM``) above its own after
its imports, at the first optimizer step (what reading the data took: the
whole corpus, or the first pass and one shard) and at the end (training
included), the time before the first step, and the training speed. The
ways alternate over ``--rounds`` rounds; the load average is printed at the
start and the end.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpora  # noqa: E402
from _memory import rss_bytes  # noqa: E402

CONFIG = dict(
    embedding_dim=32,
    hidden_size=64,
    max_vocab=10_000,
    batch_size=64,
    bptt=35,
    max_epochs=1,
    random_state=0,
    device="cpu",
)


def _write_files(data, workdir, n_files):
    paths = [Path(workdir) / f"big-{i:03d}.txt" for i in range(n_files)]
    if all(p.exists() for p in paths):
        return paths
    lines = list(_corpora.iter_big(data))
    per = -(-len(lines) // n_files)
    for i, path in enumerate(paths):
        path.write_text("\n".join(lines[i * per : (i + 1) * per]) + "\n", encoding="utf-8")
    return paths


def _child(way, paths, seconds, threads):
    from sklm import LSTMLM
    from sklm.datasets import TextFiles
    from sklm.neural.callbacks import Callback

    class FirstStep(Callback):
        def on_train_begin(self, model, state):
            self.at = self.peak = None

        def on_batch_end(self, model, state):
            if self.at is None:
                self.at = time.perf_counter()
                self.peak = rss_bytes()

    probe = FirstStep()
    baseline = rss_bytes()
    start = time.perf_counter()
    corpus = TextFiles(paths)
    X = corpus if way == "stream" else list(corpus)
    lm = LSTMLM(**CONFIG, max_time=seconds, n_threads=threads, callbacks=[probe])
    lm.fit(X)
    record = lm.history_[-1]
    return {
        "way": way,
        "peak_bytes": rss_bytes() - baseline,
        "peak_at_first_step_bytes": probe.peak - baseline,
        "before_first_step_s": probe.at - start,
        "train_tokens": record["tokens"],
        "train_seconds": record["seconds"],
        "tokens_per_s": record["tokens_per_s"],
        "classes": len(lm.classes_),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder of the public corpora")
    p.add_argument("--workdir", default="benchmarks/_stream_files")
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--json", help="write the figures here too")
    p.add_argument("--child", choices=["stream", "memory"], help=argparse.SUPPRESS)
    args = p.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    paths = _write_files(args.data, args.workdir, args.files)
    if args.child:
        print(json.dumps(_child(args.child, paths, args.seconds, args.threads)))
        return
    load = os.getloadavg()
    print(
        f"neural stream benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}; {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; load average {load[0]:.2f}"
    )
    size = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} files, {size / 1e6:.1f} MB; LSTMLM {CONFIG}, max_time={args.seconds}")
    results = []
    for _ in range(args.rounds):
        for way in ("stream", "memory"):
            command = [sys.executable, __file__, *sys.argv[1:], "--child", way]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
            r = results[-1]
            print(
                f"{way:7s} peak above imports {r['peak_at_first_step_bytes'] / 1e9:.3f} GB at "
                f"the first step (after {r['before_first_step_s']:.1f} s), "
                f"{r['peak_bytes'] / 1e9:.3f} GB at the end; {r['tokens_per_s']:,.0f} tokens/s "
                f"({r['train_tokens']:,} tokens in {r['train_seconds']:.1f} s); load average "
                f"{os.getloadavg()[0]:.2f}",
                flush=True,
            )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
