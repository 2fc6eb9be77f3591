"""N-gram counting on a Dask cluster: one process against one and two workers, side by side.

Writes the "big" corpus (``benchmarks/_corpora.py``) to one file per copy in a
temporary folder, then fits ``NGramLM(order=...)`` under
``joblib.parallel_backend("dask")`` on a ``LocalCluster`` of one and of two
worker processes on 127.0.0.1: first on the files
(:class:`sklm.datasets.TextFiles`, read by the workers; the client never
reads the corpus), then on the lines as a list held by the client. Last, the
same fits in one process (a fresh one each), on the list and on the files.
Checks that every model is the single-process one bit for bit, and prints the
times, the peak resident memory of the workers and of the single processes,
and that of the client after the fits on files (before it ever held the
corpus).

    python benchmarks/dask_count.py --data ../shared/data --order 3 --copies 10
"""

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from pathlib import Path

import joblib
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _corpora import iter_big  # noqa: E402

from sklm import NGramLM  # noqa: E402
from sklm.datasets import TextFiles  # noqa: E402


def _peak_gb():
    """This process's peak resident memory, in GB."""
    try:
        # The high-water mark of this process's own memory: ru_maxrss also
        # counts the parent's pages at the fork that started a spawned child.
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1e6
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _same(a, b):
    return list(a.classes_) == list(b.classes_) and all(
        np.array_equal(x, y)
        for name in ("keys", "log_prob", "log_backoff")
        for x, y in zip(getattr(a.tables_, name), getattr(b.tables_, name))
    )


def _write_copies(data, n_copies, folder):
    """The big corpus as one file per copy; returns the paths and the token count."""
    per_copy = sum(1 for _ in iter_big(data, n_copies=1))
    lines = iter_big(data, n_copies=n_copies)
    paths, n_tokens = [], 0
    for k in range(n_copies):
        path = Path(folder) / f"copy{k}.txt"
        with open(path, "w", encoding="utf-8") as handle:
            for line in islice(lines, per_copy):
                handle.write(line + "\n")
                n_tokens += line.count(" ") + 1
        paths.append(path)
    return paths, n_tokens


def _on_cluster(n_workers, order, X):
    from dask.distributed import Client, LocalCluster

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
            model = NGramLM(order=order).fit(X)
            seconds = time.perf_counter() - start
        peaks = client.run(_peak_gb)
    return model, seconds, max(peaks.values())


def _alone(order, paths, as_list, data, copies):
    """One fit in this (fresh) process: the model, its time and the process's peak memory."""
    X = list(iter_big(data, n_copies=copies)) if as_list else TextFiles(paths)
    start = time.perf_counter()
    model = NGramLM(order=order).fit(X)
    return model, time.perf_counter() - start, _peak_gb()


def _in_fresh_process(*args):
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(_alone, *args).result()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--copies", type=int, default=10, help="copies in the big corpus")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths, n_tokens = _write_copies(args.data, args.copies, folder)
        files = TextFiles(paths)
        print(
            f"big corpus: {n_tokens:,} tokens in {len(paths)} files; order {args.order}; "
            f"load {os.getloadavg()[0]:.2f}"
        )
        results = []
        for n_workers in (1, 2):
            model, seconds, peak = _on_cluster(n_workers, args.order, files)
            results.append((f"Dask, {n_workers} worker(s), files", model, seconds, peak))
        client_peak = _peak_gb()
        corpus = list(iter_big(args.data, n_copies=args.copies))
        for n_workers in (1, 2):
            model, seconds, peak = _on_cluster(n_workers, args.order, corpus)
            results.append((f"Dask, {n_workers} worker(s), list", model, seconds, peak))
        del corpus
        alone = None
        for as_list in (True, False):
            model, seconds, peak = _in_fresh_process(
                args.order, paths, as_list, args.data, args.copies
            )
            alone = alone or model
            name = f"one process, {'list' if as_list else 'files'}"
            print(
                f"{name:>28}: {seconds:7.1f} s, peak RSS {peak:.2f} GB, "
                f"same model: {_same(alone, model)}"
            )
        for name, model, seconds, peak in results:
            print(
                f"{name:>28}: {seconds:7.1f} s, worker peak RSS {peak:.2f} GB, "
                f"same model: {_same(alone, model)}"
            )
        print(
            f"client peak RSS after the fits on files: {client_peak:.2f} GB; "
            f"load {os.getloadavg()[0]:.2f}"
        )


if __name__ == "__main__":
    main()
