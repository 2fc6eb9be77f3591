"""N-gram counting on a Dask cluster: one process against one and two workers, side by side.

Fits ``NGramLM(order=...)`` on the "big" corpus (``benchmarks/_corpora.py``) in
this process, then under ``joblib.parallel_backend("dask")`` on a
``LocalCluster`` of one and of two worker processes on 127.0.0.1, checks that
the three models are the same bit for bit, and prints the times and the peak
resident memory of the client and of the workers.

    python benchmarks/dask_count.py --data ../shared/data --order 3 --copies 10
"""

import argparse
import os
import resource
import sys
import time

import joblib
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _corpora import iter_big  # noqa: E402

from sklm import NGramLM  # noqa: E402


def _peak_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _same(a, b):
    return list(a.classes_) == list(b.classes_) and all(
        np.array_equal(x, y)
        for name in ("keys", "log_prob", "log_backoff")
        for x, y in zip(getattr(a.tables_, name), getattr(b.tables_, name))
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--copies", type=int, default=10, help="copies in the big corpus")
    args = parser.parse_args()
    from dask.distributed import Client, LocalCluster

    corpus = list(iter_big(args.data, n_copies=args.copies))
    n_tokens = sum(line.count(" ") + 1 for line in corpus)
    print(
        f"big corpus: {len(corpus):,} lines, {n_tokens:,} tokens; order {args.order}; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    start = time.perf_counter()
    alone = NGramLM(order=args.order).fit(corpus)
    seconds = time.perf_counter() - start
    print(f"{'one process':>14}: {seconds:7.1f} s, peak RSS {_peak_gb():.2f} GB")
    for n_workers in (1, 2):
        with (
            LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            with joblib.parallel_backend("dask"):
                start = time.perf_counter()
                sharded = NGramLM(order=args.order).fit(corpus)
                seconds = time.perf_counter() - start
            peaks = client.run(_peak_gb)
        print(
            f"{n_workers:>2} worker(s)   : {seconds:7.1f} s, worker peak RSS "
            f"{max(peaks.values()):.2f} GB, same model: {_same(alone, sharded)}"
        )


if __name__ == "__main__":
    main()
