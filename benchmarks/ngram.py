"""Speed and memory of :class:`sklm.NGramLM`, side by side with KenLM and NLTK.

Usage::

    python benchmarks/ngram.py --data PATH/TO/CORPORA [--only fit score proba nltk partial]
                               [--orders 3 5] [--memory-limit 1GB] [--profile]
    python benchmarks/ngram.py --data PATH/TO/CORPORA --only fit_large [--copies 100]
                               [--large-order 3] [--lmplz PATH/TO/lmplz] [--workdir DIR]
    python benchmarks/ngram.py --data PATH/TO/CORPORA --only fit_lean --lmplz PATH/TO/lmplz
                               [--orders 3 5] [--lean-limit 300MB] [--rounds 3] [--workdir DIR]

``PATH/TO/CORPORA`` holds ``ptb.valid.txt``, ``ptb.test.txt``,
``wikitext-2.valid.txt``, ``wikitext-2.test.txt`` and ``tinyshakespeare.txt``
(see ``benchmarks/_corpora.py`` for the protocols). Measurements:

fit
    Fit ``NGramLM(order=N)`` (Kneser-Ney) on the "big" corpus (about 8.07M
    tokens, 417k types) read from a generator of lines, in a child process,
    so that its peak resident memory is that of the fit alone. Compared with
    the figures of KenLM's ``lmplz -S 1G`` on this machine class (lmplz is a
    separate C++ program, not measured here). Target: no slower than lmplz,
    peak memory under 1 GB. Each order is fitted twice, side by side: in
    memory (``memory_limit=None``) and counted within a budget
    (``memory_limit``, ``--memory-limit``, default 1GB: the corpus encoded
    into a temporary file, counted in chunks whose sorted counts are spilled
    and merged); the two report the same n-gram counts and discounts.
fit_large
    The bounded fit (``--memory-limit``) at order 3 (``--large-order``) on "big" with
    ``--copies`` copies (100 copies: 80.7M tokens; it takes minutes), in a
    child process. With ``--lmplz``, then ``lmplz -o ORDER -S 1G`` on the
    same lines, written to a file in ``--workdir`` first (not timed; 663 MB
    for 100 copies), side by side. Targets: peak at most 1.5 GB, time at
    most lmplz's.
fit_lean
    The bounded fit on "big" at each of ``--orders`` with a small budget
    (``--lean-limit``, default 300MB) against ``lmplz -o N -S 1G`` on the
    same lines (``--lmplz`` required; the file is written to ``--workdir``
    first, not timed), in ``--rounds`` alternating rounds, each sklm fit in
    a child process (its ``VmHWM``). Targets: the largest sklm peak at most
    lmplz's, and the median sklm time at most 0.7x lmplz's median.
score
    ``score`` of P1's test set repeated 10 times (order-3 model fitted on P1's
    training set), against the ``kenlm`` Python module scoring the same
    sentences in a plain loop on the ARPA file written by ``to_arpa``; the two
    totals must agree. sklm runs with its default ``n_threads=None`` (the
    cores available) and with ``n_threads=1``, in alternating rounds with
    ``kenlm`` (which scores in one thread). Targets: at least 2.0x ``kenlm``'s
    tokens/s with the default threads and at least 1.5x in one thread. The
    best and the median round of each side are printed with the load
    average, and the CPU time of the one-thread calls, which a busy machine
    skews less than their wall time.
proba
    ``predict_proba`` of 1,000 contexts of P2's test set (order-3 model
    fitted on P2's training set). Target: under 0.2 s.
nltk
    ``nltk.lm.KneserNeyInterpolated`` (order 3) on P1: fit time, scoring
    speed on a bounded sample of the test set (NLTK scores a few dozen tokens
    per second, so the time of the whole test set is extrapolated and
    labelled so), and perplexity next to ours.
partial
    ``partial_fit`` of P2's training set cut into 10 and 100 chunks (order
    3), against one ``fit``: the time of the calls, of the estimate made on
    first use, and whether the model is the same (every table bit for bit).

Each figure is printed next to the peer's and their ratio; a PASS/MISS line
per target, and a one-line JSON summary at the end. ``--profile`` adds a
cProfile of every measured call that misses its target.
"""

import argparse
import cProfile
import gc
import io
import json
import math
import os
import pickle
import platform
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpora  # noqa: E402
from _memory import rss_bytes  # noqa: E402

# lmplz -S 1G on the "big" corpus, on this machine class (seconds, GB).
LMPLZ_REFERENCE = {3: (14.2, 0.39), 5: (33.9, 0.55)}
# lmplz -o 3 -S 2G on "big" with 100 copies (80.7M tokens), this machine class.
LMPLZ_BIG100_ORDER3 = (161.7, 1.92)
FIT_MEMORY_TARGET_GB = 1.0
# Issue-level target of a bounded fit with a 1 GB budget (the 80.7M-token corpus).
LARGE_MEMORY_TARGET_GB = 1.5
# memory_limit of the fit that stays within lmplz's memory on "big" (fit_lean).
LEAN_MEMORY_LIMIT = "300MB"
PROBA_TARGET_S = 0.2
N_PROBA_CONTEXTS = 1000
SCORE_REPEATS = 10
SCORE_ROUNDS = 7
NLTK_SCORE_TOKENS = 300
GB = 1e9


def _best_time(func, repeats):
    """Smallest wall time of ``repeats`` calls, and the last result."""
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def _profile(func, label, limit=25):
    profiler = cProfile.Profile()
    profiler.enable()
    func()
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(limit)
    print(f"\n--- profile of {label} (cumulative) ---")
    print(text.getvalue())
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(limit)
    print(f"--- profile of {label} (own time) ---")
    print(text.getvalue())


def _verdict(ok):
    return "PASS" if ok else "MISS"


def _row(label, ours, peer, unit, *, higher_is_better=False, fmt="{:.3g}"):
    if peer is None:
        print(f"  {label:<34} sklm {fmt.format(ours):>10} {unit}")
        return None
    ratio = ours / peer
    better = ratio >= 1 if higher_is_better else ratio <= 1
    note = "sklm better" if better else "peer better"
    print(
        f"  {label:<34} sklm {fmt.format(ours):>10} {unit}   peer "
        f"{fmt.format(peer):>10} {unit}   ratio sklm/peer {ratio:.3g} ({note})"
    )
    return ratio


# fit on "big" ------------------------------------------------------------------


def _fit_child(data, order, profile, memory_limit=None, n_copies=_corpora.N_BIG_COPIES):
    """Run in a fresh process: fit on "big" and report time and memory as JSON."""
    import sklm
    from sklm import NGramLM

    baseline = rss_bytes("VmRSS")
    model = NGramLM(order=order, memory_limit=memory_limit)
    gc.collect()
    start, start_cpu = time.perf_counter(), time.process_time()
    model.fit(_corpora.iter_big(data, n_copies=n_copies))
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - start_cpu
    peak = rss_bytes("VmHWM")
    after_fit = rss_bytes("VmRSS")
    # The first score builds whatever lookup structures the model defers, so
    # the memory of a model ready to serve is measured after one.
    _, test = _corpora.load_p1(data)
    model.score(test[:100])
    ready = rss_bytes("VmRSS")
    report = {
        "order": order,
        "memory_limit": memory_limit,
        "n_copies": n_copies,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss": peak,
        "baseline_rss": baseline,
        "rss_after_fit": after_fit,
        "rss_after_first_score": ready,
        "n_classes": len(model.classes_),
        "sklm": sklm.__version__,
    }
    for name in ("discounts_", "ngram_counts_"):
        value = getattr(model, name, None)
        if value is not None:
            report[name] = _jsonable(value)
    ref_seconds = LMPLZ_REFERENCE.get(order, (math.inf, None))[0]
    if profile and seconds > ref_seconds and memory_limit is None:
        # A second fit under the profiler; its figures are not the ones reported.
        _profile(lambda: NGramLM(order=order).fit(_corpora.iter_big(data)), f"fit order {order}")
    print("@@" + json.dumps(report))


def _jsonable(value):
    try:
        return json.loads(json.dumps(value, default=lambda v: np.asarray(v).tolist()))
    except (TypeError, ValueError):
        return repr(value)[:200]


def _run_child(args):
    """Run ``args`` as a child process and return its standard output.

    The peak memory is measured by the child itself (``VmHWM``): the
    ``ru_maxrss`` that ``wait4`` reports may count the pages of this parent
    process that the child shared between fork and exec.
    """
    proc = subprocess.run(args, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed with exit code {proc.returncode}")
    return proc.stdout


def bench_fit(data, orders, profile, results, bounded="1GB"):
    print('\n== fit on the "big" corpus (Kneser-Ney, from a generator of lines) ==')
    n_lines, n_tokens, n_types = _corpora.big_stats(data)
    print(f"  corpus: {n_lines:,} lines, {n_tokens:,} tokens, {n_types:,} types")
    start = time.perf_counter()
    for _ in _corpora.iter_big(data):
        pass
    loader = time.perf_counter() - start
    print(f"  the generator alone (read + copy marks, no model): {loader:.2f} s")
    results["big"] = {"lines": n_lines, "tokens": n_tokens, "types": n_types, "loader_s": loader}

    # The memory of an interpreter that has imported what the fit needs.
    base_peak = int(_run_child([sys.executable, __file__, "--data", str(data), "--baseline-child"]))
    print(f"  baseline: Python + numpy + scipy + sklm imported, peak RSS {base_peak / GB:.3f} GB")
    results["baseline_rss_gb"] = base_peak / GB

    for order in orders:
        for memory_limit in (None, bounded):
            report = _fit_in_child(data, order, profile, memory_limit)
            _print_fit(report, loader, results)


def _fit_in_child(data, order, profile, memory_limit, n_copies=None):
    command = [sys.executable, __file__, "--data", str(data), "--fit-child", str(order)]
    if profile:
        command.append("--profile")
    if memory_limit is not None:
        command += ["--memory-limit", str(memory_limit)]
    if n_copies is not None:
        command += ["--copies", str(n_copies)]
    out = _run_child(command)
    lines = out.splitlines()
    for line in lines:
        if not line.startswith("@@"):
            print(line)
    return json.loads(next(line[2:] for line in lines if line.startswith("@@")))


def _print_fit(report, loader, results, reference=None, memory_target=None):
    order, memory_limit = report["order"], report["memory_limit"]
    seconds = report["seconds"]
    # Read right after the timed fit, before any profiled second fit.
    peak = report["peak_rss"]
    ref_seconds, ref_gb = reference or LMPLZ_REFERENCE.get(order, (None, None))
    label = "in memory" if memory_limit is None else f"memory_limit={memory_limit!r}"
    print(f"\n  order {order}, {label}, {report['n_copies']} copies:")
    _row("fit wall time (incl. generator)", seconds, ref_seconds, "s", fmt="{:.2f}")
    if loader is not None:
        _row("fit minus generator alone", seconds - loader, ref_seconds, "s", fmt="{:.2f}")
    print(
        f"  {'CPU time of the fit (user + sys)':<34} {report['cpu_seconds']:.2f} s "
        "(wall time above this means the machine was shared)"
    )
    _row("peak RSS of the fitting process", peak / GB, ref_gb, "GB", fmt="{:.3f}")
    print(f"  {'RSS before the fit (after imports)':<34} {report['baseline_rss'] / GB:.3f} GB")
    print(
        f"  {'RSS after the fit':<34} {report['rss_after_fit'] / GB:.3f} GB; after a first "
        f"score of 100 lines {report['rss_after_first_score'] / GB:.3f} GB (not a target)"
    )
    extra = {k: report[k] for k in ("discounts_", "ngram_counts_") if k in report}
    if extra:
        print(f"  fitted: {json.dumps(extra)[:300]}")
    speed_ok = ref_seconds is None or seconds <= ref_seconds
    memory_target = memory_target or FIT_MEMORY_TARGET_GB
    memory_ok = peak / GB <= memory_target
    if ref_seconds is not None:
        print(
            f"  {_verdict(speed_ok)}  fit order {order} no slower than lmplz "
            f"({seconds:.2f} s vs {ref_seconds} s)"
        )
    print(
        f"  {_verdict(memory_ok)}  fit order {order} peak memory at most {memory_target} GB "
        f"({peak / GB:.3f} GB)"
    )
    if ref_gb is not None:
        print(f"  {'lmplz peak / sklm peak':<34} {ref_gb / (peak / GB):.2f}")
    suffix = "" if memory_limit is None else f"_limit{memory_limit}"
    results[f"fit_order{order}_copies{report['n_copies']}{suffix}"] = {
        "seconds": seconds,
        "cpu_seconds": report["cpu_seconds"],
        "peak_rss_gb": peak / GB,
        "rss_before_fit_gb": report["baseline_rss"] / GB,
        "rss_after_first_score_gb": report["rss_after_first_score"] / GB,
        "lmplz_seconds": ref_seconds,
        "lmplz_peak_gb": ref_gb,
        "speed": _verdict(speed_ok),
        "memory": _verdict(memory_ok),
        "ngram_counts_": report.get("ngram_counts_"),
    }


def bench_fit_large(data, n_copies, memory_limit, results, order=3, lmplz=None, workdir=None):
    print(
        f'\n== bounded fit on "big" x{n_copies} copies, order {order}, '
        f"memory_limit={memory_limit!r} (from a generator of lines) =="
    )
    report = _fit_in_child(data, order, False, memory_limit, n_copies)
    reference = (None, None)
    if lmplz is not None:
        reference = _run_lmplz(lmplz, data, n_copies, order, workdir)
    elif (n_copies, order) == (100, 3):
        reference = LMPLZ_BIG100_ORDER3
        print(f"  (no --lmplz: lmplz's figure is the recorded -o 3 -S 2G run, {reference})")
    else:
        print("  (no --lmplz given: no side-by-side figure)")
    _print_fit(report, None, results, reference, memory_target=LARGE_MEMORY_TARGET_GB)


def _run_lmplz(lmplz, data, n_copies, order, workdir):
    """Time ``lmplz -o ORDER -S 1G`` on the same corpus, written to a file first.

    The file is written before the clock starts, so lmplz reads a file where
    sklm reads the generator.
    """
    text = _write_big(data, n_copies, workdir)
    try:
        seconds, peak_gb = _time_lmplz(lmplz, text, order, workdir)
    finally:
        text.unlink()
    print(
        f"  lmplz -o {order} -S 1G --text (same corpus, side by side): {seconds:.2f} s, "
        f"peak {peak_gb:.3f} GB"
    )
    return seconds, peak_gb


def _write_big(data, n_copies, workdir):
    """The lines of "big" with ``n_copies`` copies, in a file of ``workdir``."""
    text = Path(workdir or tempfile.gettempdir()) / f"big{n_copies}.txt"
    with open(text, "w", encoding="utf-8") as out:
        for line in _corpora.iter_big(data, n_copies=n_copies):
            out.write(line + "\n")
    return text


def _time_lmplz(lmplz, text, order, workdir):
    """``(seconds, peak GB)`` of ``lmplz -o ORDER -S 1G`` on the file ``text``.

    The peak is the ``ru_maxrss`` of the lmplz process (``wait4``).
    """
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        command = [str(lmplz), "-o", str(order), "-S", "1G", "-T", scratch, "--skip_symbols"]
        command += ["--text", str(text), "--arpa", os.devnull]
        start = time.perf_counter()
        proc = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{command} failed with status {status}")
    return seconds, usage.ru_maxrss * 1024 / GB


def bench_fit_lean(data, orders, memory_limit, rounds, results, lmplz, workdir):
    """The bounded fit on "big" against lmplz, side by side, in alternating rounds."""
    print(
        f'\n== fit on "big" within lmplz\'s memory: memory_limit={memory_limit!r} against '
        f"lmplz -S 1G, {rounds} alternating rounds =="
    )
    text = _write_big(data, _corpora.N_BIG_COPIES, workdir)
    try:
        for order in orders:
            ours, theirs = [], []
            for r in range(rounds):
                report = _fit_in_child(data, order, False, memory_limit)
                ours.append((report["seconds"], report["peak_rss"] / GB))
                theirs.append(_time_lmplz(lmplz, text, order, workdir))
                print(
                    f"  order {order}, round {r + 1}: sklm {ours[-1][0]:.2f} s, "
                    f"peak {ours[-1][1]:.3f} GB; lmplz {theirs[-1][0]:.2f} s, "
                    f"peak {theirs[-1][1]:.3f} GB; time ratio {ours[-1][0] / theirs[-1][0]:.2f}",
                    flush=True,
                )
            our_time = float(np.median([t for t, _ in ours]))
            their_time = float(np.median([t for t, _ in theirs]))
            our_peak = max(p for _, p in ours)
            their_peak = min(p for _, p in theirs)
            time_ok = our_time <= 0.7 * their_time
            memory_ok = our_peak <= their_peak
            print(
                f"  {_verdict(time_ok)}  order {order}: median time {our_time:.2f} s at most "
                f"0.7x lmplz's {their_time:.2f} s (ratio {our_time / their_time:.2f})"
            )
            print(
                f"  {_verdict(memory_ok)}  order {order}: largest peak {our_peak:.3f} GB at most "
                f"lmplz's {their_peak:.3f} GB"
            )
            results[f"fit_lean_order{order}"] = {
                "memory_limit": memory_limit,
                "sklm_seconds": [t for t, _ in ours],
                "sklm_peak_gb": [p for _, p in ours],
                "lmplz_seconds": [t for t, _ in theirs],
                "lmplz_peak_gb": [p for _, p in theirs],
                "ngram_counts_": report.get("ngram_counts_"),
                "time": _verdict(time_ok),
                "memory": _verdict(memory_ok),
            }
    finally:
        text.unlink()


# score on P1 ------------------------------------------------------------------


def bench_score(data, profile, results):
    import kenlm

    from sklm import NGramLM

    print(f"\n== score: P1 test set x{SCORE_REPEATS}, order 3 Kneser-Ney fitted on P1 train ==")
    train, test = _corpora.load_p1(data)
    sentences = test * SCORE_REPEATS
    n_tokens = sum(len(s.split()) + 1 for s in sentences)
    start = time.perf_counter()
    model = NGramLM(order=3).fit(train)
    fit_seconds = time.perf_counter() - start
    threads = len(os.sched_getaffinity(0))
    print(
        f"  sklm fit on P1 train: {fit_seconds:.3f} s; {n_tokens:,} predicted tokens to score; "
        f"n_threads=None uses {threads} thread(s) here"
    )

    with tempfile.TemporaryDirectory() as tmp:
        arpa = os.path.join(tmp, "p1.arpa")
        model.to_arpa(arpa)
        peer = kenlm.Model(arpa)

    one = clone_with(model, n_threads=1)
    calls = {
        "sklm": lambda: model.score(sentences),
        "sklm_1_thread": lambda: one.score(sentences),
        "kenlm": lambda: sum(peer.score(s, bos=True, eos=True) for s in sentences),
    }
    # Rounds of one call each, in turn, so that a change of load on a shared
    # machine reaches every side; the best call of each side is kept.
    load_start = os.getloadavg()[0]
    rounds, cpu, value = {name: [] for name in calls}, {name: [] for name in calls}, {}
    for _ in range(SCORE_ROUNDS):
        for name, call in calls.items():
            gc.collect()
            start, cpu_start = time.perf_counter(), time.process_time()
            value[name] = call()
            cpu[name].append(time.process_time() - cpu_start)
            rounds[name].append(time.perf_counter() - start)
    best = {name: min(times) for name, times in rounds.items()}
    median = {name: float(np.median(times)) for name, times in rounds.items()}
    load = (load_start + os.getloadavg()[0]) / 2
    ours_mean, peer_total = value["sklm"], value["kenlm"] * math.log(10)
    ours_total = ours_mean * n_tokens
    if value["sklm_1_thread"] != ours_mean:
        raise AssertionError("the threaded score differs from the one-thread score")

    speed = {name: n_tokens / seconds for name, seconds in best.items()}
    print(
        f"  score wall time (best / median of {SCORE_ROUNDS} alternating rounds, load average "
        f"{load:.2f}): sklm {best['sklm']:.4f} / {median['sklm']:.4f} s ({threads} threads), "
        f"sklm {best['sklm_1_thread']:.4f} / {median['sklm_1_thread']:.4f} s (1 thread), "
        f"kenlm {best['kenlm']:.4f} / {median['kenlm']:.4f} s"
    )
    cpu_best = {name: min(times) for name, times in cpu.items()}
    print(
        f"  CPU time (best): sklm {cpu_best['sklm_1_thread']:.4f} s (1 thread), "
        f"kenlm {cpu_best['kenlm']:.4f} s: "
        f"{cpu_best['kenlm'] / cpu_best['sklm_1_thread']:.2f}x; medians of the wall-time "
        f"ratios: {median['kenlm'] / median['sklm']:.2f}x ({threads} threads), "
        f"{median['kenlm'] / median['sklm_1_thread']:.2f}x (1 thread)"
    )
    _row(
        f"scoring speed, {threads} threads",
        speed["sklm"],
        speed["kenlm"],
        "tokens/s",
        higher_is_better=True,
    )
    _row(
        "scoring speed, 1 thread",
        speed["sklm_1_thread"],
        speed["kenlm"],
        "tokens/s",
        higher_is_better=True,
    )
    difference = abs(ours_total - peer_total)
    agree = difference <= 1e-5 * abs(peer_total) + 1e-6 * n_tokens
    print(
        f"  total log-prob (nats): sklm {ours_total:.4f}, kenlm on sklm's ARPA "
        f"{peer_total:.4f}, |difference| {difference:.3g} -> "
        f"{'agree' if agree else 'DISAGREE'}"
    )
    print(
        f"  perplexity: sklm {math.exp(-ours_mean):.4f}, kenlm {math.exp(-peer_total / n_tokens):.4f}"
    )
    ratio = speed["sklm"] / speed["kenlm"]
    ratio_one = speed["sklm_1_thread"] / speed["kenlm"]
    ok = ratio >= 2.0 and ratio_one >= 1.5
    print(
        f"  {_verdict(ratio >= 2.0)}  score at least 2.0x kenlm with the default threads "
        f"({speed['sklm']:,.0f} vs {speed['kenlm']:,.0f} tokens/s: {ratio:.2f}x)"
    )
    print(
        f"  {_verdict(ratio_one >= 1.5)}  score at least 1.5x kenlm in one thread "
        f"({speed['sklm_1_thread']:,.0f} tokens/s: {ratio_one:.2f}x)"
    )
    if profile and not ok:
        _profile(lambda: model.score(sentences), "score of P1 test x10")
    results["score"] = {
        "tokens": n_tokens,
        "threads": threads,
        "sklm_tokens_per_s": speed["sklm"],
        "sklm_1_thread_tokens_per_s": speed["sklm_1_thread"],
        "kenlm_tokens_per_s": speed["kenlm"],
        "ratio": ratio,
        "ratio_1_thread": ratio_one,
        "ratio_cpu_1_thread": cpu_best["kenlm"] / cpu_best["sklm_1_thread"],
        "load_average": load,
        "totals_agree": bool(agree),
        "sklm_total_nats": ours_total,
        "kenlm_total_nats": peer_total,
        "target": _verdict(ok),
        "sklm_fit_p1_s": fit_seconds,
    }


def clone_with(model, **params):
    """A copy of the fitted ``model`` with other (scoring) parameters."""
    copy = pickle.loads(pickle.dumps(model))
    return copy.set_params(**params)


# predict_proba on P2 ----------------------------------------------------------


def bench_proba(data, profile, results):
    from sklm import NGramLM

    print(f"\n== predict_proba: {N_PROBA_CONTEXTS:,} contexts of P2's test set, order 3 ==")
    train, test = _corpora.load_p2(data)
    model = NGramLM(order=3).fit(train)
    # Contexts are prefixes of test lines (some empty: the distribution after
    # <s>), drawn with a fixed seed so every run asks the same questions.
    rng = np.random.default_rng(0)
    lines = [test[i].split() for i in rng.integers(0, len(test), N_PROBA_CONTEXTS)]
    contexts = [words[: rng.integers(0, len(words) + 1)] for words in lines]
    seconds, proba = _best_time(lambda: model.predict_proba(contexts), 5)
    n_classes = len(model.classes_)
    row_sums = proba.sum(axis=1)
    print(
        f"  classes: {n_classes:,}; output {proba.shape} {proba.dtype}; "
        f"rows sum to 1 within {np.abs(row_sums - 1).max():.1e}"
    )
    _row("predict_proba wall time (best of 5)", seconds, PROBA_TARGET_S, "s", fmt="{:.4f}")
    ok = seconds < PROBA_TARGET_S
    print(
        f"  {_verdict(ok)}  predict_proba of 1,000 contexts under {PROBA_TARGET_S} s "
        f"({seconds:.4f} s)"
    )
    if profile and not ok:
        _profile(lambda: model.predict_proba(contexts), "predict_proba of 1,000 contexts")
    results["proba"] = {"seconds": seconds, "n_classes": n_classes, "target": _verdict(ok)}


# partial_fit on P2 ------------------------------------------------------------


def _same_tables(a, b):
    ta, tb = a.tables_, b.tables_
    return list(a.classes_) == list(b.classes_) and all(
        np.array_equal(x, y)
        for k in range(ta.order)
        for x, y in (
            (ta.log_prob[k], tb.log_prob[k]),
            (ta.log_backoff[k], tb.log_backoff[k]),
            *([(ta.keys[k], tb.keys[k])] if k else []),
        )
    )


def bench_partial(data, results):
    from sklm import NGramLM

    print("\n== partial_fit: P2's training set in chunks, order 3, against one fit ==")
    train, test = _corpora.load_p2(data)
    start = time.perf_counter()
    whole = NGramLM(order=3).fit(train)
    fit_s = time.perf_counter() - start
    print(f"  fit: {fit_s:.2f} s; {whole.ngram_counts_[1:].sum():,} n-grams above the unigrams")
    results["partial"] = {"fit_s": fit_s}
    for n_chunks in (10, 100):
        bounds = np.linspace(0, len(train), n_chunks + 1).astype(int)
        lm = NGramLM(order=3)
        start = time.perf_counter()
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            lm.partial_fit(train[lo:hi])
        calls_s = time.perf_counter() - start
        start = time.perf_counter()
        sizes = lm.ngram_counts_  # the estimate, made on first use
        estimate_s = time.perf_counter() - start
        same = _same_tables(lm, whole) and lm.score(test) == whole.score(test)
        print(
            f"  {n_chunks} chunks: partial_fit calls {calls_s:.2f} s, estimate on first use "
            f"{estimate_s:.2f} s ({sizes[1:].sum():,} n-grams); same model as fit: {same}"
        )
        results["partial"][n_chunks] = {
            "calls_s": calls_s,
            "estimate_s": estimate_s,
            "same_model": same,
        }


# NLTK on P1 -------------------------------------------------------------------


def bench_nltk(data, results):
    import nltk
    from nltk.lm import KneserNeyInterpolated
    from nltk.lm.preprocessing import pad_both_ends, padded_everygram_pipeline
    from nltk.util import ngrams

    from sklm import NGramLM

    order = 3
    print(
        f"\n== NLTK nltk.lm.KneserNeyInterpolated (order {order}) on P1, nltk {nltk.__version__} =="
    )
    train, test = _corpora.load_p1(data)
    train_tokens = [line.split() for line in train]
    n_test_tokens = sum(len(s.split()) + 1 for s in test)

    start = time.perf_counter()
    peer = KneserNeyInterpolated(order)
    peer.fit(*padded_everygram_pipeline(order, train_tokens))
    peer_fit = time.perf_counter() - start
    start = time.perf_counter()
    ours = NGramLM(order=order).fit(train)
    ours_fit = time.perf_counter() - start

    # NLTK pads with order-1 <s> and order-1 </s>; its last n-gram predicts a
    # second </s> that sklm (like KenLM) does not, so it is dropped: both
    # models predict exactly the tokens of each line and one </s>.
    sample, events = [], []
    for line in test:
        words = line.split()
        grams = list(ngrams(pad_both_ends(words, n=order), order))[:-1]
        sample.append(line)
        events.extend(grams)
        if len(events) >= NLTK_SCORE_TOKENS:
            break
    n_sample = len(events)
    start = time.perf_counter()
    log2 = [peer.logscore(gram[-1], gram[:-1]) for gram in events]
    peer_seconds = time.perf_counter() - start
    peer_speed = n_sample / peer_seconds
    mean_log2 = sum(log2) / n_sample
    peer_ppl = math.inf if math.isinf(mean_log2) else 2.0 ** (-mean_log2)
    n_inf = sum(math.isinf(v) for v in log2)
    finite_log2 = [v for v in log2 if math.isfinite(v)]
    peer_ppl_finite = 2.0 ** (-sum(finite_log2) / len(finite_log2))

    ours_seconds, ours_mean_sample = _best_time(lambda: ours.score(sample), 3)
    ours_speed_sample = n_sample / ours_seconds
    full_seconds, ours_mean_full = _best_time(lambda: ours.score(test), 3)
    ours_speed = n_test_tokens / full_seconds
    peer_full_estimate = n_test_tokens / peer_speed

    print(
        f"  fit on P1 train: sklm {ours_fit:.3f} s, nltk {peer_fit:.3f} s, "
        f"ratio nltk/sklm {peer_fit / ours_fit:.3g}"
    )
    print(
        f"  sample scored by nltk: the first {len(sample)} test lines, {n_sample} predicted tokens "
        f"({n_inf} with probability 0)"
    )
    print(f"  nltk scoring: {peer_seconds:.2f} s for {n_sample} tokens = {peer_speed:.1f} tokens/s")
    print(
        f"  sklm scoring: same sample {ours_speed_sample:,.0f} tokens/s; "
        f"whole test set ({n_test_tokens:,} tokens) {full_seconds:.4f} s = {ours_speed:,.0f} tokens/s"
    )
    print(f"  scoring speed ratio sklm/nltk: {ours_speed / peer_speed:,.0f}")
    print(
        f"  nltk on the whole test set: EXTRAPOLATED from the sample, {peer_full_estimate:,.0f} s "
        f"({peer_full_estimate / 3600:.2f} h)"
    )
    ours_total = ours_fit + full_seconds
    peer_total = peer_fit + peer_full_estimate
    print(
        f"  fit + score of the whole test set: sklm {ours_total:.3f} s, nltk {peer_total:,.0f} s "
        f"(extrapolated), ratio nltk/sklm {peer_total / ours_total:,.0f}"
    )
    print(
        f"  perplexity of the sample: sklm {math.exp(-ours_mean_sample):.2f}, nltk {peer_ppl} "
        f"(nltk without its {n_inf} zero-probability tokens: {peer_ppl_finite:.2f}; not comparable: "
        "another token set, and nltk's Kneser-Ney has one fixed discount of 0.1)"
    )
    print(f"  perplexity of the whole test set: sklm {math.exp(-ours_mean_full):.2f}")
    finite = math.isfinite(ours_mean_full)
    faster = ours_speed / peer_speed >= 100
    print(
        f"  {_verdict(finite and faster)}  finite perplexity and at least 100x NLTK's scoring speed"
    )
    results["nltk"] = {
        "nltk_fit_s": peer_fit,
        "sklm_fit_s": ours_fit,
        "nltk_tokens_per_s": peer_speed,
        "nltk_sample_tokens": n_sample,
        "sklm_tokens_per_s": ours_speed,
        "speed_ratio": ours_speed / peer_speed,
        "fit_plus_score_ratio_extrapolated": peer_total / ours_total,
        "nltk_sample_ppl": peer_ppl if math.isfinite(peer_ppl) else "inf",
        "nltk_sample_ppl_without_zeros": peer_ppl_finite,
        "sklm_sample_ppl": math.exp(-ours_mean_sample),
        "sklm_test_ppl": math.exp(-ours_mean_full),
        "target": _verdict(finite and faster),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="folder of the public corpora")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["fit", "fit_large", "fit_lean", "score", "proba", "nltk", "partial"],
        help="run only these measurements (default: all)",
    )
    parser.add_argument(
        "--orders",
        nargs="+",
        type=int,
        default=[3, 5],
        help="orders of the fit on the big corpus (default: 3 5)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print a cProfile of each measured call that misses its target "
        "(for fit: of a second, profiled fit in the child)",
    )
    parser.add_argument("--memory-limit", help="memory_limit of the bounded fits (default: 1GB)")
    parser.add_argument(
        "--large-order", type=int, default=3, help="order of the fit_large model (default: 3)"
    )
    parser.add_argument(
        "--copies", type=int, help="copies of the corpus for fit_large (default: 100, 80.7M tokens)"
    )
    parser.add_argument(
        "--lmplz",
        type=Path,
        help="lmplz binary: fit_large and fit_lean run it side by side (-S 1G)",
    )
    parser.add_argument(
        "--lean-limit",
        default=LEAN_MEMORY_LIMIT,
        help=f"memory_limit of fit_lean (default: {LEAN_MEMORY_LIMIT})",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds of fit_lean (default: 3)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="folder for lmplz's copy of the corpus and its temporary files"
    )
    parser.add_argument("--fit-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--baseline-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.baseline_child:
        import scipy  # noqa: F401

        import sklm  # noqa: F401

        print(rss_bytes("VmHWM"))
        return 0
    if args.fit_child is not None:
        n_copies = args.copies or _corpora.N_BIG_COPIES
        _fit_child(args.data, args.fit_child, args.profile, args.memory_limit, n_copies)
        return 0

    only = set(args.only or ["fit", "score", "proba", "nltk", "partial"])
    print(f"sklm n-gram benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}"
    )
    import sklm

    print(f"sklm {sklm.__version__} from {Path(sklm.__file__).parent}")
    print(
        "load average at start (other work on the machine skews timings): "
        + " ".join(f"{v:.2f}" for v in os.getloadavg())
    )
    results = {}
    if "fit" in only:
        bench_fit(args.data, args.orders, args.profile, results, args.memory_limit or "1GB")
    if "fit_large" in only:
        bench_fit_large(
            args.data,
            args.copies or 100,
            args.memory_limit or "1GB",
            results,
            args.large_order,
            args.lmplz,
            args.workdir,
        )
    if "fit_lean" in only:
        if args.lmplz is None:
            parser.error("fit_lean runs lmplz side by side: give --lmplz")
        bench_fit_lean(
            args.data,
            args.orders,
            args.lean_limit,
            args.rounds,
            results,
            args.lmplz,
            args.workdir,
        )
    if "score" in only:
        bench_score(args.data, args.profile, results)
    if "proba" in only:
        bench_proba(args.data, args.profile, results)
    if "nltk" in only:
        bench_nltk(args.data, results)
    if "partial" in only:
        bench_partial(args.data, results)
    print("load average at end: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    results["loadavg_end"] = os.getloadavg()[0]
    print("\nsummary: " + json.dumps(results, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
