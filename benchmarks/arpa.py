"""ARPA read and write speed and memory of :class:`sklm.NGramLM`, next to KenLM.

Usage::

    python benchmarks/arpa.py --data PATH/TO/CORPORA [--rounds 3] [--keep DIR]
    python benchmarks/arpa.py --arpa MODEL.arpa [--rounds 3]

With ``--data`` the order-5 Kneser-Ney model of the "big" corpus of
``benchmarks/ngram.py`` (about 8.07M tokens, see ``benchmarks/_corpora.py``)
is fitted once and written with ``to_arpa`` into a temporary folder (or
``--keep DIR``); ``--arpa`` takes an existing file instead. Then, in
alternating rounds, each measurement runs in a fresh child process, so that
its peak resident memory (``VmHWM``) is its own:

read
    ``NGramLM.from_arpa(path)`` against KenLM's Python module
    ``kenlm.Model(path)`` (when it is installed) on the same file. Target:
    no slower than KenLM, peak at most 1.5 GB.
write
    ``to_arpa`` of the model just read (into the same folder). The peak is
    measured from the start of the write (``/proc/self/clear_refs``), and
    compared with the resident size of the loaded model. Target: at most
    10 s, peak at most 0.2 GB above the loaded model.

The medians, the ratios and a PASS/MISS line per target are printed, then a
one-line JSON summary.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

READ_PEAK_TARGET_GB = 1.5
WRITE_TARGET_S = 10.0
WRITE_EXTRA_TARGET_GB = 0.2
GB = 1e9

_CHILD = r"""
import gc, json, resource, sys, time

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

def status(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)

what, path = sys.argv[1], sys.argv[2]
result = {}
if what == "kenlm":
    import kenlm
    baseline = status("VmRSS")
    start, start_cpu = time.perf_counter(), cpu()
    model = kenlm.Model(path)
    result["seconds"] = time.perf_counter() - start
    result["cpu_seconds"] = cpu() - start_cpu
    result["order"] = model.order
else:
    import numpy as np
    from sklm import NGramLM
    baseline = status("VmRSS")
    start, start_cpu = time.perf_counter(), cpu()
    lm = NGramLM.from_arpa(path)
    result["seconds"] = time.perf_counter() - start
    result["cpu_seconds"] = cpu() - start_cpu
    result["order"] = int(lm.order)
    result["ngrams"] = lm.ngram_counts_.tolist()
    if what == "write":
        tables = lm.tables_
        result["table_bytes"] = sum(
            a.nbytes for a in [*tables.keys[1:], *tables.log_prob, *tables.log_backoff]
        )
        gc.collect()
        result["model_rss"] = status("VmRSS")
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # resets VmHWM to the current resident size
        start, start_cpu = time.perf_counter(), cpu()
        lm.to_arpa(sys.argv[3])
        result["seconds"] = time.perf_counter() - start
        result["cpu_seconds"] = cpu() - start_cpu
result["baseline_rss"] = baseline
result["peak_rss"] = status("VmHWM")
print(json.dumps(result))
"""


def _child(*args):
    """Run one measurement in a fresh interpreter; its JSON result."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _have_kenlm():
    try:
        import kenlm  # noqa: F401
    except ImportError:
        return False
    return True


def _build(data, folder):
    import _corpora

    from sklm import NGramLM

    start = time.perf_counter()
    lm = NGramLM(order=5).fit(_corpora.iter_big(data))
    fitted = time.perf_counter() - start
    path = Path(folder) / "big5.arpa"
    lm.to_arpa(path)
    print(f"fitted the order-5 model of big in {fitted:.1f} s; {lm.ngram_counts_.tolist()}")
    return path


def _median(runs, key):
    return statistics.median(run[key] for run in runs)


def _verdict(ok):
    return "PASS" if ok else "MISS"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="folder of the corpora (builds the 'big' model)")
    source.add_argument("--arpa", help="an existing ARPA file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", help="folder for the built ARPA file (kept)")
    args = parser.parse_args(argv)

    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs; load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        path = Path(args.arpa) if args.arpa else _build(args.data, folder)
        size = path.stat().st_size
        print(f"ARPA file: {path} ({size / GB:.2f} GB)")
        kenlm = _have_kenlm()
        if not kenlm:
            print("kenlm is not installed: sklm is timed alone")
        reads, kenlm_reads, writes = [], [], []
        out = Path(tmp) / "written.arpa"
        for r in range(args.rounds):
            reads.append(_child("read", path))
            print(
                f"round {r + 1}: sklm read {reads[-1]['seconds']:.2f} s "
                f"(CPU {reads[-1]['cpu_seconds']:.2f} s), "
                f"peak {reads[-1]['peak_rss'] / GB:.2f} GB"
            )
            if kenlm:
                kenlm_reads.append(_child("kenlm", path))
                print(
                    f"round {r + 1}: kenlm read {kenlm_reads[-1]['seconds']:.2f} s "
                    f"(CPU {kenlm_reads[-1]['cpu_seconds']:.2f} s), "
                    f"peak {kenlm_reads[-1]['peak_rss'] / GB:.2f} GB"
                )
            writes.append(_child("write", path, out))
            print(
                f"round {r + 1}: sklm write {writes[-1]['seconds']:.2f} s "
                f"(CPU {writes[-1]['cpu_seconds']:.2f} s), "
                f"peak {writes[-1]['peak_rss'] / GB:.2f} GB "
                f"(loaded model {writes[-1]['model_rss'] / GB:.2f} GB resident)"
            )
        written = out.stat().st_size
        print(f"load at the end: {os.getloadavg()}")

    summary = {
        "file_gb": size / GB,
        "ngrams": reads[0]["ngrams"],
        "rounds": args.rounds,
        "read_s": _median(reads, "seconds"),
        "read_cpu_s": _median(reads, "cpu_seconds"),
        "read_peak_gb": _median(reads, "peak_rss") / GB,
        "write_s": _median(writes, "seconds"),
        "write_cpu_s": _median(writes, "cpu_seconds"),
        "write_peak_gb": _median(writes, "peak_rss") / GB,
        "model_rss_gb": _median(writes, "model_rss") / GB,
        "table_gb": writes[0]["table_bytes"] / GB,
        "written_gb": written / GB,
    }
    print("\n== read ==")
    print(
        f"sklm from_arpa: {summary['read_s']:.2f} s (CPU {summary['read_cpu_s']:.2f} s), "
        f"peak {summary['read_peak_gb']:.2f} GB"
    )
    if kenlm:
        summary["kenlm_read_s"] = _median(kenlm_reads, "seconds")
        summary["kenlm_read_cpu_s"] = _median(kenlm_reads, "cpu_seconds")
        summary["kenlm_peak_gb"] = _median(kenlm_reads, "peak_rss") / GB
        print(
            f"kenlm.Model:    {summary['kenlm_read_s']:.2f} s, "
            f"peak {summary['kenlm_peak_gb']:.2f} GB"
        )
        ratio = summary["read_s"] / summary["kenlm_read_s"]
        summary["read_ratio"] = ratio
        print(
            f"sklm / kenlm time: {ratio:.2f}x; memory "
            f"{summary['read_peak_gb'] / summary['kenlm_peak_gb']:.2f}x"
        )
        print(f"[{_verdict(ratio <= 1.0)}] read no slower than KenLM")
    print(
        f"[{_verdict(summary['read_peak_gb'] <= READ_PEAK_TARGET_GB)}] read peak "
        f"<= {READ_PEAK_TARGET_GB} GB"
    )
    print("\n== write ==")
    extra = summary["write_peak_gb"] - summary["model_rss_gb"]
    summary["write_extra_gb"] = extra
    # The resident size after reading includes what the allocator kept of the
    # reader's freed memory: the tables plus the interpreter is the stricter
    # measure of the model's own size.
    baseline = _median(writes, "baseline_rss") / GB
    summary["baseline_gb"] = baseline
    summary["write_extra_over_tables_gb"] = (
        summary["write_peak_gb"] - baseline - summary["table_gb"]
    )
    print(
        f"sklm to_arpa: {summary['write_s']:.2f} s ({summary['written_gb']:.2f} GB written), "
        f"peak {summary['write_peak_gb']:.2f} GB: {extra:.2f} GB above the loaded model "
        f"({summary['model_rss_gb']:.2f} GB resident, tables {summary['table_gb']:.2f} GB)"
    )
    print(
        f"peak above the interpreter ({baseline:.2f} GB after imports) and the tables: "
        f"{summary['write_extra_over_tables_gb']:.2f} GB"
    )
    print(f"[{_verdict(summary['write_s'] <= WRITE_TARGET_S)}] write <= {WRITE_TARGET_S} s")
    print(
        f"[{_verdict(extra <= WRITE_EXTRA_TARGET_GB)}] write peak <= model + "
        f"{WRITE_EXTRA_TARGET_GB} GB"
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
