"""Loading a large n-gram model: sklm.load (read or mapped) against ARPA and pickle.

Fits ``NGramLM(order=N)`` (Kneser-Ney) once on the "big" corpus (see
``_corpora.py``), writes it as ARPA, with ``sklm.save`` and as a pickle into
``--workdir`` (reused when there), then loads it in a fresh process per way:

- ``arpa``: ``NGramLM.from_arpa`` (parsing the text);
- ``sklm``: ``sklm.load`` (arrays read into memory, every table checked);
- ``sklm-mmap``: ``sklm.load(mmap=True)`` (arrays mapped from the file, checked);
- ``pickle``: ``joblib.load`` (trusted files only);
- ``kenlm``: ``kenlm.Model`` on the file of ``--kenlm-binary`` (KenLM's
  ``build_binary``, probing), when the kenlm module is installed.

Each child reports the load time, the time of a first query (1,000 test
lines of P1 scored: for sklm this includes building the hash indexes) and
its peak resident memory above a baseline process that imported the same
modules. A mapped file's pages count once they are read, as they do for
every other way.

    python benchmarks/ngram_load.py --data ../shared/data --order 5
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

WAYS = ("arpa", "sklm", "sklm-mmap", "pickle", "kenlm")
N_QUERY_LINES = 1000


def _peak_rss():
    """Peak resident memory of this process (``VmHWM``), in bytes."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found in /proc/self/status")


def _files(workdir, order):
    stem = Path(workdir) / f"big{order}"
    return {
        "arpa": stem.with_suffix(".arpa"),
        "sklm": stem.with_suffix(".sklm"),
        "sklm-mmap": stem.with_suffix(".sklm"),
        "pickle": stem.with_suffix(".joblib"),
    }


def _prepare(data, order, workdir):
    """Fit once and write every file (in this process: run it as a child)."""
    import joblib

    import sklm
    from sklm import NGramLM

    files = _files(workdir, order)
    if all(path.exists() for path in files.values()):
        return {"fit_s": None}
    start = time.perf_counter()
    model = NGramLM(order=order).fit(_corpora.iter_big(data))
    fit_s = time.perf_counter() - start
    model.to_arpa(files["arpa"])
    sklm.save(model, files["sklm"])
    joblib.dump(model, files["pickle"])
    return {"fit_s": fit_s, "ngrams": model.ngram_counts_.tolist()}


def _load_child(way, data, order, workdir, kenlm_binary):
    """Load one way and query; print the measures as JSON."""
    queries = _corpora.load_p1(data)[1][:N_QUERY_LINES]
    if way == "kenlm":
        import kenlm

        baseline = _peak_rss()
        start = time.perf_counter()
        model = kenlm.Model(str(kenlm_binary))
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        total = sum(model.score(line, bos=True, eos=True) for line in queries)
        query_s = time.perf_counter() - start
        return {"load_s": load_s, "query_s": query_s, "peak_bytes": _peak_rss() - baseline,
                "log10_total": total}
    import joblib

    import sklm
    from sklm import NGramLM

    path = _files(workdir, order)[way]
    baseline = _peak_rss()
    start = time.perf_counter()
    if way == "arpa":
        model = NGramLM.from_arpa(path)
    elif way == "pickle":
        model = joblib.load(path)
    else:
        model = sklm.load(path, mmap=way == "sklm-mmap")
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    total = float(model.score_samples(queries).sum())
    query_s = time.perf_counter() - start
    return {"load_s": load_s, "query_s": query_s, "peak_bytes": _peak_rss() - baseline,
            "ln_total": total}


def _child(args, *extra):
    command = [sys.executable, __file__, "--data", str(args.data), "--order", str(args.order),
               "--workdir", str(args.workdir), *extra]
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
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/_load_files"),
                        help="where the model files are written (and reused)")
    parser.add_argument("--kenlm-binary", type=Path,
                        help="KenLM build_binary file of the same model (probing)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per way")
    parser.add_argument("--prepare-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load-child", choices=WAYS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.prepare_child:
        print(json.dumps(_prepare(args.data, args.order, args.workdir)))
        return 0
    if args.load_child:
        print(json.dumps(_load_child(args.load_child, args.data, args.order, args.workdir,
                                     args.kenlm_binary)))
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"sklm n-gram load benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}; machine: "
          f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    prepared = _child(args, "--prepare-child")
    print(f"order {args.order} on the big corpus: {prepared}")
    files = _files(args.workdir, args.order)
    ways = [w for w in WAYS if w != "kenlm" or args.kenlm_binary]
    results = {}
    print(f"\n{'way':<10} {'file MB':>9} {'load s':>8} {'query s':>8} {'peak MB':>8}")
    for way in ways:
        runs = [_child(args, "--load-child", way) for _ in range(args.repeats)]
        best = {k: min(r[k] for r in runs) for k in ("load_s", "query_s", "peak_bytes")}
        size = (args.kenlm_binary if way == "kenlm" else files[way]).stat().st_size
        results[way] = {**best, "file_bytes": size, "runs": runs}
        print(f"{way:<10} {size / 1e6:>9.1f} {best['load_s']:>8.3f} {best['query_s']:>8.3f} "
              f"{best['peak_bytes'] / 1e6:>8.1f}")
    if "arpa" in results:
        for way in ("sklm", "sklm-mmap"):
            ratio = results["arpa"]["load_s"] / results[way]["load_s"]
            print(f"{way}: loads {ratio:.1f}x faster than ARPA")
    print("\nsummary: " + json.dumps({"order": args.order, **prepared, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
