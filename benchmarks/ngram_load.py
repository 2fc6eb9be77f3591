"""Loading a large n-gram model: sklm.load (read or mapped) against ARPA and pickle.

Fits ``NGramLM(order=N)`` (Kneser-Ney) once on the "big" corpus (see
``_corpora.py``), writes it as ARPA, with ``sklm.save`` and as a pickle into
``--workdir`` (reused when there), then loads it in a fresh process per way:

- ``arpa``: ``NGramLM.from_arpa`` (parsing the text);
- ``sklm``: ``sklm.load`` (arrays read into memory, every table checked);
- ``sklm-mmap``: ``sklm.load(mmap=True)`` (arrays mapped from the file, checked);
- ``sklm-mmap-unverified``: ``sklm.load(mmap=True, verify=False)`` (mapped,
  only the file's structure checked, as KenLM checks its binary files);
- ``pickle``: ``joblib.load`` (trusted files only);
- ``kenlm``: ``kenlm.Model`` on the file of ``--kenlm-binary`` (KenLM's
  ``build_binary``, probing), when the kenlm module is installed.

Each child reports the load time, the time of a first query (one test
sentence of P1 scored: for sklm this includes building the structures made
lazily, such as the hash indexes), their sum (``ready``: open to first
answer), the time of 1,000 further test lines, and its peak resident memory
(``VmHWM``) above the same process's after its imports, both after the
load alone and at the end; the CPU time (user + system) of load and first
query is printed too, as the fairer figure on a shared machine. A mapped file's
pages count once they are read, as they do for every other way. The ways
alternate within each round, so that a change in the machine's load falls
on all of them; each figure is the best of the rounds, and the load average
is printed at the start and the end.

    python benchmarks/ngram_load.py --data ../shared/data --order 5 \
        --workdir /tmp/load5 --kenlm-binary /tmp/load5/big5.probing
    # the KenLM file: build_binary probing /tmp/load5/big5.arpa /tmp/load5/big5.probing
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpora  # noqa: E402
from _memory import rss_bytes  # noqa: E402

WAYS = ("arpa", "sklm", "sklm-mmap", "sklm-mmap-unverified", "pickle", "kenlm")
N_QUERY_LINES = 1000


def _files(workdir, order):
    stem = Path(workdir) / f"big{order}"
    return {
        "arpa": stem.with_suffix(".arpa"),
        "sklm": stem.with_suffix(".sklm"),
        "sklm-mmap": stem.with_suffix(".sklm"),
        "sklm-mmap-unverified": stem.with_suffix(".sklm"),
        "pickle": stem.with_suffix(".joblib"),
    }


def _prepare(data, order, workdir):
    """Fit once and write every file (in this process: run it as a child)."""
    import joblib

    import sklm
    from sklm import NGramLM

    files = _files(workdir, order)
    if all(path.exists() for path in set(files.values())):
        return {"fit_s": None}
    start = time.perf_counter()
    model = NGramLM(order=order).fit(_corpora.iter_big(data))
    fit_s = time.perf_counter() - start
    model.to_arpa(files["arpa"])
    sklm.save(model, files["sklm"])
    joblib.dump(model, files["pickle"])
    return {"fit_s": fit_s, "ngrams": model.ngram_counts_.tolist()}


def _load_child(way, data, order, workdir, kenlm_binary):
    """Load one way and query; print the measures as JSON.

    Each way gives a loader and a scorer of a list of lines (log10 for
    KenLM, natural logs for sklm); the timing around them is the same.
    """
    queries = _corpora.load_p1(data)[1][:N_QUERY_LINES]
    if way == "kenlm":
        import kenlm

        def load():
            return kenlm.Model(str(kenlm_binary))

        def log10_score(model, lines):
            return sum(model.score(line, bos=True, eos=True) for line in lines)
    else:
        import joblib

        import sklm
        from sklm import NGramLM

        path = _files(workdir, order)[way]

        def load():
            if way == "arpa":
                return NGramLM.from_arpa(path)
            if way == "pickle":
                return joblib.load(path)
            return sklm.load(path, mmap=way != "sklm", verify=way != "sklm-mmap-unverified")

        def log10_score(model, lines):
            return float(model.score_samples(lines).sum()) / math.log(10)

    baseline = rss_bytes()
    cpu = time.process_time()
    start = time.perf_counter()
    model = load()
    load_s = time.perf_counter() - start
    load_peak = rss_bytes() - baseline
    start = time.perf_counter()
    first = log10_score(model, queries[:1])
    first_s = time.perf_counter() - start
    ready_cpu_s = time.process_time() - cpu
    start = time.perf_counter()
    total = log10_score(model, queries[1:])
    query_s = time.perf_counter() - start
    return {
        "load_s": load_s,
        "first_s": first_s,
        "ready_s": load_s + first_s,
        "ready_cpu_s": ready_cpu_s,
        "query_s": query_s,
        "load_peak_bytes": load_peak,
        "peak_bytes": rss_bytes() - baseline,
        "log10_first": first,
        "log10_total": first + total,
    }


def _child(args, *extra):
    command = [
        sys.executable,
        __file__,
        "--data",
        str(args.data),
        "--order",
        str(args.order),
        "--workdir",
        str(args.workdir),
        *extra,
    ]
    if args.kenlm_binary:
        command += ["--kenlm-binary", str(args.kenlm_binary)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(extra)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="folder of the public corpora")
    parser.add_argument("--order", type=int, default=5)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("benchmarks/_load_files"),
        help="where the model files are written (and reused)",
    )
    parser.add_argument(
        "--kenlm-binary", type=Path, help="KenLM build_binary file of the same model (probing)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of fresh processes, one per way, in alternation",
    )
    parser.add_argument(
        "--ways",
        nargs="+",
        choices=WAYS,
        default=list(WAYS),
        help="the ways measured (kenlm only with --kenlm-binary)",
    )
    parser.add_argument("--prepare-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load-child", choices=WAYS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.prepare_child:
        print(json.dumps(_prepare(args.data, args.order, args.workdir)))
        return 0
    if args.load_child:
        print(
            json.dumps(
                _load_child(args.load_child, args.data, args.order, args.workdir, args.kenlm_binary)
            )
        )
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"sklm n-gram load benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}; machine: "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    prepared = _child(args, "--prepare-child")
    print(f"order {args.order} on the big corpus: {prepared}")
    files = _files(args.workdir, args.order)
    ways = [w for w in args.ways if w != "kenlm" or args.kenlm_binary]
    runs = {way: [] for way in ways}
    for round_ in range(args.rounds):
        for way in ways:
            runs[way].append(_child(args, "--load-child", way))
            print(
                f"round {round_ + 1} {way}: {runs[way][-1]} "
                f"(load average {os.getloadavg()[0]:.2f})",
                flush=True,
            )
    results = {}
    keys = (
        "load_s",
        "first_s",
        "ready_s",
        "ready_cpu_s",
        "query_s",
        "load_peak_bytes",
        "peak_bytes",
    )
    print(
        f"\n{'way':<10} {'file MB':>8} {'load s':>7} {'first s':>7} {'ready s':>7} "
        f"{'(median)':>8} {'CPU s':>6} {'1k lines':>8} {'MB loaded':>9} {'peak MB':>7}"
    )
    for way in ways:
        best = {k: min(r[k] for r in runs[way]) for k in keys}
        best["ready_median_s"] = statistics.median(r["ready_s"] for r in runs[way])
        size = (args.kenlm_binary if way == "kenlm" else files[way]).stat().st_size
        results[way] = {**best, "file_bytes": size, "runs": runs[way]}
        print(
            f"{way:<10} {size / 1e6:>8.1f} {best['load_s']:>7.3f} {best['first_s']:>7.3f} "
            f"{best['ready_s']:>7.3f} {best['ready_median_s']:>8.3f} "
            f"{best['ready_cpu_s']:>6.2f} {best['query_s']:>8.3f} "
            f"{best['load_peak_bytes'] / 1e6:>9.1f} {best['peak_bytes'] / 1e6:>7.1f}"
        )
    for way in ("sklm", "sklm-mmap", "sklm-mmap-unverified"):
        if way not in results:
            continue
        for peer in ("arpa", "kenlm"):
            if peer in results:
                ratio = results[peer]["ready_s"] / results[way]["ready_s"]
                cpu_ratio = results[peer]["ready_cpu_s"] / results[way]["ready_cpu_s"]
                print(
                    f"{way}: load + first query {ratio:.3g}x as fast as {peer} "
                    f"(CPU time: {cpu_ratio:.3g}x)"
                )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    print("\nsummary: " + json.dumps({"order": args.order, **prepared, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
